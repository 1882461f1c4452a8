//! A media shard thread: its main UDP socket (ICE, DTLS and SRTP of every WebRTC leg), the
//! RTP sockets of its legs toward SIP peers, a `cardea_media::Shard`, and a loop that waits
//! for a socket, a command or the next timer, feeds the shard, and sends what it produced.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardea_media::{DtlsCert, LegConfig, MediaCommand, MediaEvent, Shard};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;

use super::batch::{RecvBatch, SendBatch, BATCH, RECV_BATCH};
use super::rtp_ports::RtpSockets;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// RTP sockets get tokens from here up.
const FIRST_RTP_TOKEN: usize = 2;
/// How late a timer may fire so that neighbours share a wake-up.
const TIMER_SLACK: Duration = Duration::from_millis(1);
/// Datagrams read before the loop sends what they produced.
const READ_BURST: usize = 64;
/// Errors in a row (ICMP reports come one per read) after which a read stops.
const MAX_READ_ERRORS: usize = 64;
/// Readiness events taken per wake-up (the rest wait for the next one).
const EVENTS: usize = 256;

/// What travels to the shard thread. Commands and socket changes share one channel, so a
/// socket is polled before the leg that was added after it. (Sized like `MediaCommand`, as
/// that enum is; commands are few.)
#[allow(clippy::large_enum_variant)]
enum Control {
    Media(MediaCommand),
    AddSockets(Vec<std::net::UdpSocket>),
    RemoveSockets(Vec<SocketAddr>),
}

/// The control plane's end of a shard: commands in, plus what a leg on it needs to know.
///
/// For a SIP call's plain RTP leg: bind a pair with
/// [`bind_rtp_pair`](super::bind_rtp_pair)`(handle.local.ip(), rtp_port_range(&config.media))`,
/// hand the sockets over with [`add_sockets`](Self::add_sockets), then send
/// `MediaCommand::AddRtpLeg` with streams whose local addresses are the sockets'
/// `local_addr()`; after `RemoveLeg`, [`remove_sockets`](Self::remove_sockets) closes them.
pub struct ShardHandle {
    tx: crossbeam_channel::Sender<Control>,
    waker: Arc<Waker>,
    /// The main socket's address (its IP is the media bind address).
    pub local: SocketAddr,
    pub leg_config: LegConfig,
}

impl ShardHandle {
    pub fn send(&self, command: MediaCommand) {
        self.control(Control::Media(command));
    }

    /// Gives RTP sockets to the shard thread, which polls them from now on and sends the
    /// datagrams of legs whose local address they are bound to.
    pub fn add_sockets(&self, sockets: Vec<std::net::UdpSocket>) {
        self.control(Control::AddSockets(sockets));
    }

    /// Stops polling the RTP sockets bound to `locals` and closes them (their ports are free
    /// again).
    pub fn remove_sockets(&self, locals: Vec<SocketAddr>) {
        self.control(Control::RemoveSockets(locals));
    }

    fn control(&self, control: Control) {
        if self.tx.send(control).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// Where a shard's output goes besides its sockets: leg events to the core, recorded
/// bytes to the recordings' writer thread.
pub struct ShardOut {
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub recordings: super::MjrFiles,
}

/// Binds the shard's socket and starts its thread.
pub fn spawn_shard(
    index: usize,
    bind: SocketAddr,
    advertise: &[IpAddr],
    ice_lite: bool,
    cert: DtlsCert,
    socket_buffer: usize,
    out: ShardOut,
) -> io::Result<ShardHandle> {
    let std_socket = std::net::UdpSocket::bind(bind)?;
    std_socket.set_nonblocking(true)?;
    set_buffers(&std_socket, socket_buffer);
    let local = std_socket.local_addr()?;
    let mut socket = UdpSocket::from_std(std_socket);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = crossbeam_channel::unbounded();
    let leg_config = LegConfig {
        ice_lite,
        candidates: advertise
            .iter()
            .map(|ip| SocketAddr::new(*ip, local.port()))
            .collect(),
        cert,
        slowlink_threshold: 0,
    };
    std::thread::Builder::new()
        .name(format!("media-shard-{index}"))
        .spawn(move || run(poll, socket, local, rx, out))?;
    Ok(ShardHandle {
        tx,
        waker,
        local,
        leg_config,
    })
}

/// Where the shard's datagrams leave: the main socket in `sendmmsg` batches, RTP legs'
/// from the socket bound to each datagram's source address.
struct Out<'a> {
    batch: &'a mut SendBatch,
    fd: RawFd,
    rtp: &'a RtpSockets,
}

fn run(
    mut poll: Poll,
    socket: UdpSocket,
    local: SocketAddr,
    commands: crossbeam_channel::Receiver<Control>,
    ShardOut { events, recordings }: ShardOut,
) {
    let mut shard = Shard::new();
    let mut ready = Events::with_capacity(EVENTS);
    let mut ready_rtp: Vec<Token> = Vec::with_capacity(EVENTS);
    let mut received = RecvBatch::new();
    let mut batch = SendBatch::new();
    let mut rtp = RtpSockets::new(FIRST_RTP_TOKEN);
    let fd = socket.as_raw_fd();
    loop {
        let now = Instant::now();
        // Timers are coalesced onto a grid so legs due close together share one wake-up.
        let wait = shard
            .next_deadline()
            .map(|d| d.saturating_duration_since(now) + TIMER_SLACK)
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        if let Err(e) = poll.poll(&mut ready, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::error!("media shard poll failed: {e}");
                return;
            }
        }
        ready_rtp.clear();
        ready_rtp.extend(
            ready
                .iter()
                .map(|e| e.token())
                .filter(|t| t.0 >= FIRST_RTP_TOKEN),
        );
        loop {
            match commands.try_recv() {
                Ok(Control::Media(c)) => shard.handle_command(Instant::now(), c),
                Ok(Control::AddSockets(sockets)) => {
                    for s in sockets {
                        if let Err(e) = rtp.add(poll.registry(), s) {
                            tracing::warn!("RTP socket not polled: {e}");
                        }
                    }
                }
                Ok(Control::RemoveSockets(locals)) => {
                    for l in locals {
                        rtp.remove(poll.registry(), l);
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        }
        let mut out = Out {
            batch: &mut batch,
            fd,
            rtp: &rtp,
        };
        read_all(&mut shard, &socket, local, &mut received, &mut out);
        for token in &ready_rtp {
            // A socket removed by a command above has no entry any more.
            if let Some((local, socket)) = rtp.by_token(*token) {
                read_all(&mut shard, socket, local, &mut received, &mut out);
            }
        }
        shard.handle_timeout(Instant::now());
        flush(&mut shard, &mut out);
        for e in shard.drain_events() {
            let _ = events.send(e);
        }
        for chunk in shard.drain_recorded() {
            recordings.write(chunk);
        }
    }
}

/// Reads a socket until it is empty (it is edge-triggered), a batch of datagrams per
/// system call, sending every burst.
fn read_all(
    shard: &mut Shard,
    socket: &UdpSocket,
    local: SocketAddr,
    batch: &mut RecvBatch,
    out: &mut Out<'_>,
) {
    let mut burst = 0;
    let mut errors = 0;
    loop {
        match batch.recv(socket.as_raw_fd()) {
            Ok(n) => {
                errors = 0;
                let now = Instant::now();
                for i in 0..n {
                    if let Some((source, datagram)) = batch.get(i) {
                        shard.handle_datagram(now, source, local, datagram);
                    }
                }
                burst += n;
                if burst >= READ_BURST {
                    burst = 0;
                    flush(shard, out);
                }
                // A short batch emptied the socket; the next arrival is a new edge.
                if n < RECV_BATCH {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // ICMP errors surface here (ECONNREFUSED), one per call: go on reading,
                // but not forever if the socket itself is broken.
                tracing::trace!("media socket {local}: {e}");
                errors += 1;
                if errors == MAX_READ_ERRORS {
                    tracing::warn!(
                        "media socket {local}: {e}; reading stops until the next wake-up"
                    );
                    break;
                }
            }
        }
    }
}

fn flush(shard: &mut Shard, out: &mut Out<'_>) {
    let transmits = shard.pending_transmits();
    if !transmits.is_empty() {
        let mut items: [(SocketAddr, &[u8]); BATCH] =
            [(SocketAddr::from(([0, 0, 0, 0], 0)), &[]); BATCH];
        for chunk in transmits.chunks(BATCH) {
            for (slot, t) in items.iter_mut().zip(chunk) {
                *slot = (t.destination, &t.contents);
            }
            send_batch(out, &items[..chunk.len()]);
        }
        transmits.clear();
    }
    let forwarded = shard.forwarded_datagrams();
    if !forwarded.is_empty() {
        let mut items: [(SocketAddr, &[u8]); BATCH] =
            [(SocketAddr::from(([0, 0, 0, 0], 0)), &[]); BATCH];
        let mut n = 0;
        for datagram in forwarded.iter() {
            items[n] = datagram;
            n += 1;
            if n == BATCH {
                send_batch(out, &items[..n]);
                n = 0;
            }
        }
        if n > 0 {
            send_batch(out, &items[..n]);
        }
        forwarded.clear();
    }
    let rtp = out.rtp;
    shard.drain_rtp_transmits(|source, destination, bytes| {
        let Some(socket) = rtp.by_local(source) else {
            tracing::trace!("no RTP socket on {source}: datagram to {destination} dropped");
            return;
        };
        // A full buffer drops the datagram, as UDP would.
        if let Err(e) = socket.send_to(bytes, destination) {
            tracing::trace!("RTP send from {source} to {destination}: {e}");
        }
    });
}

fn send_batch(out: &mut Out<'_>, items: &[(SocketAddr, &[u8])]) {
    if let Err(e) = out.batch.send(out.fd, items) {
        tracing::debug!("media send failed: {e}");
    }
}

/// Large socket buffers absorb a scheduling stall of the shard thread without the kernel
/// dropping datagrams (the default 208 KiB holds ~6 ms at 14,000 packets/s).
pub(crate) fn set_buffers(socket: &std::net::UdpSocket, bytes: usize) {
    let size = bytes.min(i32::MAX as usize) as libc::c_int;
    for (name, force, normal) in [
        ("SO_RCVBUF", libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        ("SO_SNDBUF", libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // The FORCE variants pass net.core.*mem_max when privileged; else the plain ones,
        // which the kernel caps.
        let ok = setsockopt_int(socket, force, size) || setsockopt_int(socket, normal, size);
        if !ok {
            tracing::warn!("could not set {name} to {bytes} bytes on the media socket");
        }
    }
}

fn setsockopt_int(socket: &std::net::UdpSocket, option: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: the fd is a valid open socket owned by `socket` for the whole call, and the
    // option value points at a c_int whose size is passed along.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    r == 0
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use cardea_media::rtp_leg::{
        write_header, PtMap, RtpHeader, RtpLeg, RtpLegConfig, RtpLegEvent, RtpStreamConfig,
    };
    use cardea_media::{LegEvent, LegId, MediaKind};

    use super::*;
    use crate::net::bind_rtp_pair;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LEG: LegId = LegId(3 | (1 << 62));

    fn next_event(rx: &mut mpsc::UnboundedReceiver<MediaEvent>) -> Option<MediaEvent> {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            match rx.try_recv() {
                Ok(e) => return Some(e),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        None
    }

    /// The whole path of a SIP call's media through a shard thread: the RTP socket handed
    /// over is polled, its datagrams reach the leg, the leg's datagrams leave from it.
    #[test]
    fn an_rtp_leg_speaks_through_the_sockets_handed_to_the_shard() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cert = cardea_media::generate_dtls_cert().unwrap();
        let out = ShardOut {
            events: tx,
            recordings: crate::net::MjrFiles::spawn().unwrap(),
        };
        let shard = spawn_shard(0, (LOCALHOST, 0).into(), &[], true, cert, 1 << 16, out).unwrap();
        let (rtp, rtcp) = bind_rtp_pair(LOCALHOST, (0, 0)).unwrap();
        let (local_rtp, local_rtcp) = (rtp.local_addr().unwrap(), rtcp.local_addr().unwrap());
        let peer = std::net::UdpSocket::bind((LOCALHOST, 0)).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut stream = RtpStreamConfig::new(
            MediaKind::Audio,
            local_rtp,
            PtMap::new(&[(0, 0)]).unwrap(),
            8000,
        );
        stream.local_rtcp = Some(local_rtcp);
        let leg = RtpLeg::new(LEG, RtpLegConfig::default(), vec![stream], Instant::now());
        shard.add_sockets(vec![rtp, rtcp]);
        shard.send(MediaCommand::AddRtpLeg(Box::new(leg)));
        shard.send(MediaCommand::ConfigureRtp {
            leg: LEG,
            kind: MediaKind::Audio,
            remote_rtp: Some(peer.local_addr().unwrap()),
            remote_rtcp: None,
            pt_map: PtMap::new(&[(0, 0), (126, 101)]).unwrap(),
            telephone_event: Some(101),
            clock_rate: 8000,
            srtp: None,
        });

        let mut packet = Vec::new();
        write_header(&mut packet, false, 0, 1, 160, 0xabcd);
        packet.extend_from_slice(&[0xff; 160]);
        peer.send_to(&packet, local_rtp).unwrap();
        let e = next_event(&mut rx).expect("an event from the RTP leg");
        assert_eq!(e.leg, LEG);
        assert!(
            matches!(
                e.event,
                LegEvent::Rtp(RtpLegEvent::Receiving {
                    receiving: true,
                    ..
                }) | LegEvent::Rtp(RtpLegEvent::Latched { .. })
            ),
            "{e:?}"
        );

        shard.send(MediaCommand::SendDtmf {
            leg: LEG,
            digit: '#',
            duration: Duration::from_millis(60),
        });
        let mut buf = [0u8; 1500];
        let (n, from) = peer.recv_from(&mut buf).expect("a telephone-event packet");
        assert_eq!(from, local_rtp, "sent from the leg's RTP socket");
        assert_eq!(RtpHeader::parse(&buf[..n], true).unwrap().pt, 101);

        shard.send(MediaCommand::RemoveLeg {
            leg: LEG,
            close: false,
        });
        shard.remove_sockets(vec![local_rtp, local_rtcp]);
        // The thread handles the removal, then the ports are free again.
        let until = Instant::now() + Duration::from_secs(5);
        while std::net::UdpSocket::bind(local_rtp).is_err() {
            assert!(Instant::now() < until, "{local_rtp} still bound");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
