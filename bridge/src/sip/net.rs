//! The SIP endpoint's sockets: one UDP socket and one TCP listener on the configured
//! address, optionally TLS, WebSocket and secure WebSocket listeners, all feeding one task
//! that owns the `SipService` (so it needs no locks). Responses and requests to a peer go
//! back on the connection it opened (RFC 3261 §18.2.2, RFC 5626 §5: connection reuse).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_plugins::{SipIn, SipOut};
use cardea_sip::transaction::{Destination, TransactionKey};
use cardea_sip::typed::Transport;
use cardea_sip::{Frame, Framer, Limits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::service::SipService;
use super::ws::Peer;
use crate::config::Sip;

/// Idle time after which a SIP TCP or TLS connection is closed (RFC 5626 keepalives come
/// every 30–120 s, so a live client stays).
const STREAM_IDLE: Duration = Duration::from_secs(180);
/// How long a closing connection may take to write what is queued for it.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Messages waiting for the endpoint task.
const INPUT_QUEUE: usize = 16_384;
/// Receive and send buffer of the SIP UDP socket.
const SIP_SOCKET_BUFFER: usize = 4 << 20;

/// Where the endpoint listens.
pub struct SipListeners {
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub ws: Option<SocketAddr>,
    /// SIP over TLS (`sip.tls_port`).
    pub tls: Option<SocketAddr>,
    /// SIP over secure WebSocket (`sip.wss_port`).
    pub wss: Option<SocketAddr>,
    /// The SIP plugin's way in.
    pub link: SipLink,
}

impl SipListeners {
    /// The `CARDEA_READY` fields of the TLS listeners: `sip_tls` and `sip_wss`, when on.
    pub fn secure_ready_fields(&self) -> Vec<(String, serde_json::Value)> {
        [("sip_tls", self.tls), ("sip_wss", self.wss)]
            .into_iter()
            .filter_map(|(name, addr)| Some((name.to_owned(), addr?.to_string().into())))
            .collect()
    }
}

/// SIP from plugin handles into the endpoint (the core holds it).
#[derive(Clone)]
pub struct SipLink {
    tx: mpsc::UnboundedSender<(u64, SipOut)>,
    control: mpsc::UnboundedSender<super::routing::Routing>,
    /// Finished call records.
    pub records: super::records::RecordLog,
    /// The trunks' probe and registration state.
    pub trunks: super::trunk_reg::TrunkStatus,
}

impl SipLink {
    pub fn send(&self, handle: u64, out: SipOut) {
        let _ = self.tx.send((handle, out));
    }

    /// Puts new users, trunks and dialplan in force (already loaded and checked).
    pub fn reload(&self, routing: super::routing::Routing) {
        let _ = self.control.send(routing);
    }

    /// Reads the configuration file again and puts its SIP routing in force; on an error
    /// (which names the file and line) the routing in force stays.
    pub fn reload_from(&self, source: Option<&std::path::Path>) -> Result<(), String> {
        let routing = super::routing::Routing::reload(source)?;
        self.reload(routing);
        Ok(())
    }
}

/// SIP for plugin handles, from the endpoint to the core.
pub type PluginEvents = mpsc::UnboundedSender<(u64, SipIn)>;

/// The connection-oriented transports. A connection is known by its transport and the
/// peer's address: one peer may hold a TCP and a TLS connection from the same port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Stream {
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl Stream {
    pub(super) fn transport(self) -> Transport {
        match self {
            Stream::Tcp => Transport::Tcp,
            Stream::Tls => Transport::Tls,
            Stream::Ws => Transport::Ws,
            Stream::Wss => Transport::Wss,
        }
    }

    fn of(transport: &Transport) -> Option<Stream> {
        match transport {
            Transport::Tcp => Some(Stream::Tcp),
            Transport::Tls => Some(Stream::Tls),
            Transport::Ws => Some(Stream::Ws),
            Transport::Wss => Some(Stream::Wss),
            _ => None,
        }
    }
}

pub(super) enum Input {
    Bytes(Bytes, Destination),
    /// A connection opened: what is sent to the peer goes through this sender.
    Connected(Stream, SocketAddr, mpsc::UnboundedSender<Bytes>),
    /// That connection closed (the sender tells it from a newer one of the same peer).
    Closed(Stream, SocketAddr, mpsc::UnboundedSender<Bytes>),
    /// A connection we tried to open failed.
    ConnectFailed(Stream, SocketAddr),
}

/// Binds the SIP sockets and starts the endpoint.
/// Where the dialplan's echo binds its RTP ports and which address its answers name.
#[derive(Debug, Clone, Copy)]
pub struct EchoMedia {
    pub bind: std::net::IpAddr,
    pub advertise: std::net::IpAddr,
    pub ports: (u16, u16),
}

/// `base`: the configuration file's directory (a relative `sip.dialplan` is read there).
pub async fn spawn_sip(
    config: &Sip,
    base: Option<&std::path::Path>,
    echo_media: EchoMedia,
    events: PluginEvents,
) -> std::io::Result<SipListeners> {
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
            let listener = bind_stream(config, port, "sip.ws_port").await?;
            let addr = listener.local_addr()?;
            let router = super::ws::router(tx.clone(), Stream::Ws);
            tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<Peer>();
                if let Err(e) = axum::serve(listener, service).await {
                    tracing::error!("SIP WebSocket listener stopped: {e}");
                }
            });
            Some(addr)
        }
        None => None,
    };
    let (tls, wss) = spawn_secure(config, &tx).await?;
    // Our URI per transport, as peers on that side reach us (Via, Record-Route: RFC 5658).
    let mut listeners = vec![
        (Transport::Udp, format!("sip:{udp_addr}")),
        (Transport::Tcp, format!("sip:{tcp_addr};transport=tcp")),
    ];
    for (transport, addr) in [
        (Transport::Ws, ws),
        (Transport::Tls, tls),
        (Transport::Wss, wss),
    ] {
        if let Some(addr) = addr {
            let name = transport.as_str().to_ascii_lowercase();
            listeners.push((transport, format!("sip:{addr};transport={name}")));
        }
    }
    let service =
        SipService::new(config, base, &listeners, Instant::now()).map_err(std::io::Error::other)?;
    let udp = std::sync::Arc::new(udp);
    tokio::spawn(read_udp(udp.clone(), tx.clone()));
    let input = tx.clone();
    tokio::spawn(accept_tcp(tcp, tx));
    let hosts = super::dns::Hosts::parse(&config.hosts).map_err(std::io::Error::other)?;
    let servers = config
        .dns_servers
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| SocketAddr::new(ip, 53))
                })
                .map_err(|_| {
                    std::io::Error::other(format!(
                        "sip.dns_servers: {s} is neither an IP nor IP:port"
                    ))
                })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let locator = super::dns::Locator::new(hosts, &servers);
    let tls_out = super::tls::connector(config.tls_ca.as_deref()).map_err(std::io::Error::other)?;
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let records = service.records.log.clone();
    let trunks = service.trunk_regs.status.clone();
    let resolved = Resolved {
        locator,
        link: link_tx.clone(),
        events: events.clone(),
    };
    tokio::spawn(run(
        service,
        udp,
        rx,
        input,
        link_rx,
        control_rx,
        events,
        (resolved, echo_media, tls_out),
    ));
    Ok(SipListeners {
        udp: udp_addr,
        tcp: tcp_addr,
        ws,
        tls,
        wss,
        link: SipLink {
            tx: link_tx,
            control: control_tx,
            records,
            trunks,
        },
    })
}

/// A TCP listener on `port` of the SIP address; a failure names the key that asked for it.
async fn bind_stream(config: &Sip, port: u16, key: &str) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::new(config.bind, port);
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{key} {addr}: {e}")))
}

/// The TLS listeners (`sip.tls_port`, `sip.wss_port`), when configured: SIP over TLS framed
/// like TCP, and the WebSocket router behind TLS.
async fn spawn_secure(
    config: &Sip,
    tx: &mpsc::Sender<Input>,
) -> std::io::Result<(Option<SocketAddr>, Option<SocketAddr>)> {
    if config.tls_port.is_none() && config.wss_port.is_none() {
        return Ok((None, None));
    }
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Err(std::io::Error::other(
            "sip.tls_cert and sip.tls_key are required for sip.tls_port and sip.wss_port",
        ));
    };
    let (sip_acceptor, wss_acceptor) = super::tls::acceptors(cert, key)?;
    let tls = match config.tls_port {
        Some(port) => {
            let listener = bind_stream(config, port, "sip.tls_port").await?;
            let addr = listener.local_addr()?;
            let tx = tx.clone();
            tokio::spawn(super::tls::accept(
                listener,
                sip_acceptor,
                "SIP TLS",
                move |stream, from| serve_stream(stream, from, Stream::Tls, tx.clone()),
            ));
            Some(addr)
        }
        None => None,
    };
    let wss = match config.wss_port {
        Some(port) => {
            let listener = bind_stream(config, port, "sip.wss_port").await?;
            let listener = super::tls::TlsListener::spawn(listener, wss_acceptor)?;
            let addr = axum::serve::Listener::local_addr(&listener)?;
            let router = super::ws::router(tx.clone(), Stream::Wss);
            tokio::spawn(async move {
                let service = router.into_make_service_with_connect_info::<Peer>();
                if let Err(e) = axum::serve(listener, service).await {
                    tracing::error!("SIP secure WebSocket listener stopped: {e}");
                }
            });
            Some(addr)
        }
        None => None,
    };
    Ok((tls, wss))
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
                tokio::spawn(serve_stream(stream, from, Stream::Tcp, tx.clone()));
            }
            Err(e) => {
                tracing::warn!("SIP TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One TCP or TLS connection (RFC 3261 §18.3): frames messages by Content-Length; answers
/// CRLFCRLF pings with a CRLF pong (RFC 5626 §4.4.1).
async fn serve_stream<S>(stream: S, from: SocketAddr, kind: Stream, tx: mpsc::Sender<Input>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    if tx
        .send(Input::Connected(kind, from, out_tx.clone()))
        .await
        .is_err()
    {
        return;
    }
    let mut writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if write.write_all(&b).await.is_err() {
                return;
            }
        }
        // TLS: close_notify, then FIN.
        let _ = write.shutdown().await;
    });
    let mut framer = Framer::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        // A connection that sends nothing (not even a CRLF keepalive) for this long is
        // closed, so half-sent messages cannot hold connections open forever.
        let n = match tokio::time::timeout(STREAM_IDLE, read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%from, ?kind, "SIP connection idle: closed");
                break;
            }
        };
        framer.handle_input(&buf[..n]);
        loop {
            match framer.poll_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Message(m))) => {
                    let dest = Destination::new(from, kind.transport());
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
                    tracing::debug!(%from, ?kind, "SIP stream closed: {e}");
                    break 'conn;
                }
            }
        }
    }
    let _ = tx.send(Input::Closed(kind, from, out_tx)).await;
    // The endpoint drops its sender on Closed; the writer then flushes and shuts down.
    if tokio::time::timeout(CLOSE_WITHIN, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// A message waiting for its connection, and the transaction to fail if it never opens.
type Queued = (Bytes, Option<TransactionKey>);

#[allow(clippy::too_many_arguments)]
async fn run(
    mut service: SipService,
    udp: std::sync::Arc<UdpSocket>,
    mut rx: mpsc::Receiver<Input>,
    input: mpsc::Sender<Input>,
    mut plugin_rx: mpsc::UnboundedReceiver<(u64, SipOut)>,
    mut control_rx: mpsc::UnboundedReceiver<super::routing::Routing>,
    plugin_events: PluginEvents,
    (resolved, echo_media, tls_out): (Resolved, EchoMedia, tokio_rustls::TlsConnector),
) {
    // The echo calls' reflecting tasks, stopped when their call ends.
    let mut echoes: HashMap<String, tokio::sync::oneshot::Sender<()>> = HashMap::new();
    let mut connections: HashMap<(Stream, SocketAddr), mpsc::UnboundedSender<Bytes>> =
        HashMap::new();
    // Messages waiting for a connection we are opening, with the transaction each belongs
    // to (told of a failure).
    let mut connecting: HashMap<(Stream, SocketAddr), Vec<Queued>> = HashMap::new();
    loop {
        let deadline = service
            .next_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            input = rx.recv() => match input {
                Some(Input::Bytes(bytes, source)) => service.handle_bytes(Instant::now(), bytes, source),
                Some(Input::Connected(kind, addr, tx)) => {
                    for (bytes, _) in connecting.remove(&(kind, addr)).unwrap_or_default() {
                        let _ = tx.send(bytes);
                    }
                    connections.insert((kind, addr), tx);
                }
                Some(Input::ConnectFailed(kind, addr)) => {
                    let now = Instant::now();
                    for (_, key) in connecting.remove(&(kind, addr)).unwrap_or_default() {
                        if let Some(key) = key {
                            service.transport_error(now, key);
                        }
                    }
                }
                Some(Input::Closed(kind, addr, tx)) => {
                    if connections.get(&(kind, addr)).is_some_and(|c| c.same_channel(&tx)) {
                        connections.remove(&(kind, addr));
                    }
                }
                None => return,
            },
            Some((handle, out)) = plugin_rx.recv() => service.plugin_command(Instant::now(), handle, out),
            Some(routing) = control_rx.recv() => service.reload(routing),
            _ = tokio::time::sleep_until(deadline) => service.handle_timeout(Instant::now()),
        }
        for event in service.plugins.events.drain(..) {
            let _ = plugin_events.send(event);
        }
        for (handle, request, lookup) in service.plugins.unresolved.drain(..) {
            tokio::spawn(resolved.clone().resolve(handle, request, lookup));
        }
        let wanted: Vec<_> = service.echo.wanted.drain(..).collect();
        for (call_id, counters) in wanted {
            let at = start_echo(echo_media, counters).map(|(at, stop)| {
                echoes.insert(call_id.clone(), stop);
                at
            });
            if let Err(e) = &at {
                tracing::warn!(%call_id, "no RTP port for the echo: {e}");
            }
            service.echo_bound(Instant::now(), &call_id, at.ok());
        }
        for call_id in service.echo.done.drain(..) {
            if let Some(stop) = echoes.remove(&call_id) {
                let _ = stop.send(());
            }
        }
        while let Some(t) = service.poll_transmit() {
            let bytes = t.message.to_bytes();
            let to = t.destination.addr;
            match Stream::of(&t.destination.transport) {
                None if t.destination.transport == Transport::Udp => {
                    if let Err(e) = udp.send_to(&bytes, to).await {
                        tracing::debug!(%to, "SIP UDP send: {e}");
                    }
                }
                None => {
                    let transport = &t.destination.transport;
                    tracing::debug!(%to, %transport, "no SIP socket for this transport");
                }
                Some(kind) => match connections.get(&(kind, to)) {
                    Some(c) => {
                        let _ = c.send(Bytes::from(bytes));
                    }
                    // RFC 3261 §18.1.1: no connection to the peer yet: open one (TCP or
                    // TLS; WebSocket connections toward peers are not opened by us).
                    None if matches!(kind, Stream::Tcp | Stream::Tls) => {
                        let waiting = connecting.entry((kind, to)).or_default();
                        if waiting.is_empty() {
                            if kind == Stream::Tcp {
                                tokio::spawn(connect_tcp(to, input.clone()));
                            } else {
                                let name = service.tls_name(to);
                                tokio::spawn(connect_tls(tls_out.clone(), to, name, input.clone()));
                            }
                        }
                        waiting.push((Bytes::from(bytes), t.key));
                    }
                    None => {
                        tracing::debug!(%to, ?kind, "no SIP connection to send on");
                        if let Some(key) = t.key {
                            service.transport_error(Instant::now(), key);
                        }
                    }
                },
            }
        }
    }
}

/// Where resolved plugin requests go back: the plugin command queue (sent again, now with
/// their destination), or the handle as a failure.
#[derive(Clone)]
struct Resolved {
    locator: super::dns::Locator,
    link: mpsc::UnboundedSender<(u64, SipOut)>,
    events: PluginEvents,
}

impl Resolved {
    async fn resolve(
        self,
        handle: u64,
        request: cardea_sip::Request,
        lookup: cardea_sip::locate::Lookup,
    ) {
        match self.locator.resolve(&lookup).await {
            Some(destination) => {
                let _ = self.link.send((
                    handle,
                    SipOut::Request {
                        request,
                        destination: Some(destination),
                    },
                ));
            }
            None => {
                tracing::info!(handle, host = %lookup.host, "SIP destination does not resolve");
                let _ = self
                    .events
                    .send((handle, super::plugin_link::unresolvable(&request)));
            }
        }
    }
}

/// How long opening a TCP connection to a SIP peer may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);

/// Opens a TCP connection to a SIP peer and serves it like an accepted one (connection
/// reuse, RFC 5923 style: the peer's requests come back on it).
async fn connect_tcp(to: SocketAddr, tx: mpsc::Sender<Input>) {
    match tokio::time::timeout(CONNECT_WITHIN, tokio::net::TcpStream::connect(to)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            serve_stream(stream, to, Stream::Tcp, tx).await;
        }
        Ok(Err(e)) => {
            tracing::debug!(%to, "SIP TCP connect failed: {e}");
            let _ = tx.send(Input::ConnectFailed(Stream::Tcp, to)).await;
        }
        Err(_) => {
            tracing::debug!(%to, "SIP TCP connect timed out");
            let _ = tx.send(Input::ConnectFailed(Stream::Tcp, to)).await;
        }
    }
}

/// Opens a TLS connection to a peer and serves it; a failed connect or handshake (a
/// certificate that does not verify) fails the messages waiting for it.
async fn connect_tls(
    connector: tokio_rustls::TlsConnector,
    to: SocketAddr,
    name: Option<String>,
    tx: mpsc::Sender<Input>,
) {
    match super::tls::connect(&connector, to, name.as_deref()).await {
        Ok(stream) => serve_stream(stream, to, Stream::Tls, tx).await,
        Err(e) => {
            tracing::warn!(%to, name = name.as_deref().unwrap_or(""), "SIP TLS connection failed: {e}");
            let _ = tx.send(Input::ConnectFailed(Stream::Tls, to)).await;
        }
    }
}

/// Binds an RTP port pair for an echo call and starts reflecting on it; returns the address
/// its answer names and the switch that stops it.
fn start_echo(
    media: EchoMedia,
    counters: std::sync::Arc<super::echo::Counters>,
) -> std::io::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let (rtp, rtcp) = crate::net::bind_rtp_pair(media.bind, media.ports)?;
    let port = rtp.local_addr()?.port();
    let rtp = UdpSocket::from_std(rtp)?;
    let rtcp = UdpSocket::from_std(rtcp)?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(super::echo::reflect(rtp, rtcp, counters, stopped));
    Ok((SocketAddr::new(media.advertise, port), stop))
}
