//! A media shard thread: one UDP socket, a `cardea_media::Shard`, and a loop that waits for
//! the socket, a command or the next timer, feeds the shard, and sends what it produced in
//! batches.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardea_media::{DtlsCert, LegConfig, MediaCommand, MediaEvent, Shard};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc;

use super::batch::{SendBatch, BATCH};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// How late a timer may fire so that neighbours share a wake-up.
const TIMER_SLACK: Duration = Duration::from_millis(1);
/// Datagrams read before the loop sends what they produced.
const READ_BURST: usize = 64;

/// The control plane's end of a shard: commands in, plus what a leg on it needs to know.
pub struct ShardHandle {
    tx: crossbeam_channel::Sender<MediaCommand>,
    waker: Arc<Waker>,
    pub local: SocketAddr,
    pub leg_config: LegConfig,
}

impl ShardHandle {
    pub fn send(&self, command: MediaCommand) {
        if self.tx.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// Binds the shard's socket and starts its thread.
pub fn spawn_shard(
    index: usize,
    bind: SocketAddr,
    advertise: &[IpAddr],
    ice_lite: bool,
    cert: DtlsCert,
    socket_buffer: usize,
    events: mpsc::UnboundedSender<MediaEvent>,
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
        .spawn(move || run(poll, socket, local, rx, events))?;
    Ok(ShardHandle {
        tx,
        waker,
        local,
        leg_config,
    })
}

fn run(
    mut poll: Poll,
    socket: UdpSocket,
    local: SocketAddr,
    commands: crossbeam_channel::Receiver<MediaCommand>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let mut shard = Shard::new();
    let mut ready = Events::with_capacity(16);
    let mut buf = vec![0u8; 2048];
    let mut batch = SendBatch::new();
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
        loop {
            match commands.try_recv() {
                Ok(c) => shard.handle_command(Instant::now(), c),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        }
        // The socket is edge-triggered: read until it would block, sending every burst.
        let mut burst = 0;
        loop {
            match socket.recv_from(&mut buf) {
                Ok((n, source)) => {
                    shard.handle_datagram(Instant::now(), source, local, &buf[..n]);
                    burst += 1;
                    if burst == READ_BURST {
                        burst = 0;
                        flush(&mut shard, &mut batch, fd);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here (ECONNREFUSED): nothing to do but go on.
                    tracing::trace!("media socket: {e}");
                    continue;
                }
            }
        }
        shard.handle_timeout(Instant::now());
        flush(&mut shard, &mut batch, fd);
        for e in shard.drain_events() {
            let _ = events.send(e);
        }
    }
}

fn flush(shard: &mut Shard, batch: &mut SendBatch, fd: std::os::fd::RawFd) {
    let transmits = shard.pending_transmits();
    if transmits.is_empty() {
        return;
    }
    let mut items: [(SocketAddr, &[u8]); BATCH] =
        [(SocketAddr::from(([0, 0, 0, 0], 0)), &[]); BATCH];
    for chunk in transmits.chunks(BATCH) {
        for (slot, t) in items.iter_mut().zip(chunk) {
            *slot = (t.destination, &t.contents);
        }
        if let Err(e) = batch.send(fd, &items[..chunk.len()]) {
            tracing::debug!("media send failed: {e}");
        }
    }
    transmits.clear();
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
