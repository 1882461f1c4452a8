//! The SIP endpoint's sockets: one UDP socket and one TCP listener on the configured
//! address, feeding one task that owns the `SipService` (so it needs no locks).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_plugins::{SipIn, SipOut};
use cardea_sip::transaction::Destination;
use cardea_sip::typed::Transport;
use cardea_sip::{Frame, Framer, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::service::SipService;
use crate::config::Sip;

/// Idle time after which a SIP TCP connection is closed (RFC 5626 keepalives come every
/// 30–120 s, so a live client stays).
const TCP_IDLE: Duration = Duration::from_secs(180);

/// Messages waiting for the endpoint task.
const INPUT_QUEUE: usize = 16_384;
/// Receive and send buffer of the SIP UDP socket.
const SIP_SOCKET_BUFFER: usize = 4 << 20;

/// Where the endpoint listens.
pub struct SipListeners {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub ws: Option<SocketAddr>,
    /// The SIP plugin's way in.
    pub link: SipLink,
}

/// SIP from plugin handles into the endpoint (the core holds it).
#[derive(Clone)]
pub struct SipLink {
    tx: mpsc::UnboundedSender<(u64, SipOut)>,
}

impl SipLink {
    pub fn send(&self, handle: u64, out: SipOut) {
        let _ = self.tx.send((handle, out));
    }
}

/// SIP for plugin handles, from the endpoint to the core.
pub type PluginEvents = mpsc::UnboundedSender<(u64, SipIn)>;

pub(super) enum Input {
    Bytes(Bytes, Destination),
    Connected(SocketAddr, mpsc::UnboundedSender<Bytes>),
    Closed(SocketAddr),
}

/// Binds the SIP sockets and starts the endpoint.
pub async fn spawn_sip(config: &Sip, events: PluginEvents) -> std::io::Result<SipListeners> {
    // A large receive buffer rides out short stalls of the endpoint task under REGISTER
    // floods (measured: the kernel dropped datagrams at the default 208 KiB).
    let std_udp = std::net::UdpSocket::bind(SocketAddr::new(config.bind, config.udp_port))?;
    crate::net::set_buffers(&std_udp, SIP_SOCKET_BUFFER);
    std_udp.set_nonblocking(true)?;
    let udp = UdpSocket::from_std(std_udp)?;
    let udp_addr = udp.local_addr()?;
    // Same port for TCP as UDP unless configured otherwise (0 follows the UDP port).
    let tcp_port = if config.tcp_port == 0 && config.udp_port == 0 {
        udp_addr.port()
    } else {
        config.tcp_port
    };
    let tcp = match TcpListener::bind(SocketAddr::new(config.bind, tcp_port)).await {
        Ok(l) => l,
        // The UDP port's twin may be taken when the port was picked for us.
        Err(_) if config.tcp_port == 0 => {
            TcpListener::bind(SocketAddr::new(config.bind, 0)).await?
        }
        Err(e) => return Err(e),
    };
    let tcp_addr = tcp.local_addr()?;
    // Bounded: streams wait (backpressure), UDP datagrams beyond it are dropped, so a
    // flood cannot grow memory without limit.
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let ws = match config.ws_port {
        Some(port) => {
            let listener = TcpListener::bind(SocketAddr::new(config.bind, port)).await?;
            let addr = listener.local_addr()?;
            let router = super::ws::router(tx.clone());
            tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                if let Err(e) = axum::serve(listener, service).await {
                    tracing::error!("SIP WebSocket listener stopped: {e}");
                }
            });
            Some(addr)
        }
        None => None,
    };
    // Our URI per transport, as peers on that side reach us (Via, Record-Route: RFC 5658).
    let mut listeners = vec![
        (Transport::Udp, format!("sip:{udp_addr}")),
        (Transport::Tcp, format!("sip:{tcp_addr};transport=tcp")),
    ];
    if let Some(ws_addr) = ws {
        listeners.push((Transport::Ws, format!("sip:{ws_addr};transport=ws")));
    }
    let service =
        SipService::new(config, &listeners, Instant::now()).map_err(std::io::Error::other)?;
    let udp = std::sync::Arc::new(udp);
    tokio::spawn(read_udp(udp.clone(), tx.clone()));
    tokio::spawn(accept_tcp(tcp, tx));
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(service, udp, rx, link_rx, events));
    Ok(SipListeners {
        udp: udp_addr,
        tcp: tcp_addr,
        ws,
        link: SipLink { tx: link_tx },
    })
}

async fn read_udp(socket: std::sync::Arc<UdpSocket>, tx: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                // RFC 5626 §3.5.1: a bare CRLF keepalive on UDP needs no answer.
                if bytes.iter().all(|b| *b == b'\r' || *b == b'\n') {
                    continue;
                }
                match tx.try_send(Input::Bytes(bytes, Destination::udp(from))) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // Overload: shed load like a full socket buffer would.
                        tracing::debug!(%from, "SIP input queue full: datagram dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => tracing::trace!("SIP UDP: {e}"),
        }
    }
}

async fn accept_tcp(listener: TcpListener, tx: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                tokio::spawn(serve_tcp(stream, from, tx.clone()));
            }
            Err(e) => {
                tracing::warn!("SIP TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One TCP connection: frames messages by Content-Length; answers CRLFCRLF pings.
async fn serve_tcp(stream: TcpStream, from: SocketAddr, tx: mpsc::Sender<Input>) {
    let (mut read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    if tx
        .send(Input::Connected(from, out_tx.clone()))
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if write.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut framer = Framer::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        // A connection that sends nothing (not even a CRLF keepalive) for this long is
        // closed, so half-sent messages cannot hold connections open forever.
        let n = match tokio::time::timeout(TCP_IDLE, read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%from, "SIP TCP connection idle: closed");
                break;
            }
        };
        framer.handle_input(&buf[..n]);
        loop {
            match framer.poll_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Message(m))) => {
                    let dest = Destination::new(from, Transport::Tcp);
                    let bytes = Bytes::from(m.to_bytes());
                    if tx.send(Input::Bytes(bytes, dest)).await.is_err() {
                        break 'conn;
                    }
                }
                Ok(Some(Frame::Ping)) => {
                    let _ = out_tx.send(Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Frame::Pong)) => {}
                Err(e) => {
                    // A stream that cannot be framed cannot be resynchronised: close it.
                    tracing::debug!(%from, "SIP TCP stream closed: {e}");
                    break 'conn;
                }
            }
        }
    }
    let _ = tx.send(Input::Closed(from)).await;
    drop(out_tx);
    let _ = writer.await;
}

async fn run(
    mut service: SipService,
    udp: std::sync::Arc<UdpSocket>,
    mut rx: mpsc::Receiver<Input>,
    mut plugin_rx: mpsc::UnboundedReceiver<(u64, SipOut)>,
    plugin_events: PluginEvents,
) {
    let mut connections: HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>> = HashMap::new();
    loop {
        let deadline = service
            .next_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Bytes(bytes, source)) => service.handle_bytes(Instant::now(), bytes, source),
                Some(Input::Connected(addr, tx)) => { connections.insert(addr, tx); }
                Some(Input::Closed(addr)) => { connections.remove(&addr); }
                None => return,
            },
            Some((handle, out)) = plugin_rx.recv() => service.plugin_command(Instant::now(), handle, out),
            _ = tokio::time::sleep_until(deadline) => service.handle_timeout(Instant::now()),
        }
        for event in service.plugins.events.drain(..) {
            let _ = plugin_events.send(event);
        }
        while let Some(t) = service.poll_transmit() {
            let bytes = t.message.to_bytes();
            match t.destination.transport {
                Transport::Udp => {
                    if let Err(e) = udp.send_to(&bytes, t.destination.addr).await {
                        tracing::debug!(to = %t.destination.addr, "SIP UDP send: {e}");
                    }
                }
                _ => match connections.get(&t.destination.addr) {
                    Some(c) => {
                        let _ = c.send(Bytes::from(bytes));
                    }
                    None => {
                        tracing::debug!(to = %t.destination.addr, "no SIP connection to send on")
                    }
                },
            }
        }
    }
}
