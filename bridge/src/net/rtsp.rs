//! The RTSP client of Streaming `rtsp` mountpoints (the `retina` crate): it describes the
//! presentation, sets up its first audio and first video track (RTP interleaved in the
//! RTSP connection, which crosses NATs and firewalls; over UDP client ports, as Janus always
//! asks, when the server refuses that), plays it, and writes each RTP packet
//! to the port of the mountpoint's source, whose shard takes it from there as from any RTP
//! sender. A failure, or a presentation silent for the reconnect delay, ends the
//! connection; a new one follows after that delay, until the task is aborted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use cardea_plugins::{MediaKind, RtspSpec, RtspTrack};
use futures_util::{FutureExt, StreamExt};
use retina::client::{
    Credentials, PacketItem, PlayOptions, Session, SessionOptions, SetupOptions,
    TcpTransportOptions, Transport, UdpTransportOptions,
};

/// What the task tells the core: the tracks at each connection, or why one failed.
pub type RtspReport = Result<Vec<RtspTrack>, String>;

/// Starts pulling `spec`; `report` hears each connection's outcome.
pub fn spawn_rtsp(
    spec: RtspSpec,
    report: impl Fn(RtspReport) + Send + Sync + 'static,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let socket = match tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await {
            Ok(s) => s,
            Err(e) => {
                report(Err(format!("no socket for the relay: {e}")));
                return;
            }
        };
        loop {
            // A bug in the RTSP client must not end the mountpoint's reconnecting.
            let outcome = std::panic::AssertUnwindSafe(pull(&spec, &socket, &report))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("BUG: the RTSP client panicked".into()));
            match outcome {
                Ok(()) => tracing::info!(url = %redacted(&spec.url), "RTSP presentation ended"),
                Err(e) => {
                    tracing::warn!(url = %redacted(&spec.url), "RTSP: {e}");
                    report(Err(e));
                }
            }
            tokio::time::sleep(spec.reconnect_delay).await;
        }
    })
    .abort_handle()
}

/// The URL without its credentials, for logs.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Where packets for a source listening on `local` are sent: a source bound to any
/// address is reached on loopback.
fn target(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, local.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, local.port()).into(),
        _ => local,
    }
}

async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no answer within {} s",
            limit.as_secs_f32()
        )),
    }
}

/// One connection: describe, set up, play, relay until it fails or falls silent.
async fn pull(
    spec: &RtspSpec,
    socket: &tokio::net::UdpSocket,
    report: &(impl Fn(RtspReport) + Sync),
) -> Result<(), String> {
    let url = url::Url::parse(&spec.url).map_err(|e| format!("bad RTSP URL: {e}"))?;
    let creds = spec
        .credentials
        .as_ref()
        .map(|(username, password)| Credentials {
            username: username.clone(),
            password: password.clone(),
        });
    let options = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("Cardea/{}", env!("CARGO_PKG_VERSION")));
    let mut session = within(spec.timeout, "DESCRIBE", Session::describe(url, options)).await?;
    // The first audio and the first video track, where they are wanted.
    let mut chosen: Vec<(usize, MediaKind, SocketAddr)> = Vec::new();
    for (kind, local) in [
        (MediaKind::Audio, spec.audio),
        (MediaKind::Video, spec.video),
    ] {
        let Some(local) = local else { continue };
        // Tracks of a codec no browser takes (AAC, H.265...) are not set up.
        if let Some(i) = session.streams().iter().position(|s| {
            s.media().eq_ignore_ascii_case(kind.as_str())
                && cardea_plugins::streaming::rtsp_codec(s.encoding_name()).is_some()
        }) {
            chosen.push((i, kind, target(local)));
        }
    }
    if chosen.is_empty() {
        return Err(
            "the presentation has no track of the kinds asked for in a codec a browser takes"
                .into(),
        );
    }
    let mut tracks = Vec::new();
    let sdp = session.sdp().to_vec();
    for (i, kind, _) in &chosen {
        let s = &session.streams()[*i];
        let pt = s.rtp_payload_type();
        tracks.push(RtspTrack {
            kind: *kind,
            codec: s.encoding_name().to_ascii_lowercase(),
            pt,
            clock_rate: s.clock_rate_hz(),
            fmtp: cardea_plugins::streaming::rtsp_fmtp(&sdp, *i, pt),
        });
    }
    // Interleaved first; a server that refuses it for the first track (461 Unsupported
    // Transport: some cameras take only UDP) gets every track over UDP.
    let mut refused_tcp: Option<String> = None;
    for (n, (i, _, _)) in chosen.iter().enumerate() {
        if refused_tcp.is_none() {
            let tcp = Transport::Tcp(TcpTransportOptions::default());
            match within(
                spec.timeout,
                "SETUP",
                session.setup(*i, SetupOptions::default().transport(tcp)),
            )
            .await
            {
                Ok(()) => continue,
                Err(e) if n == 0 => {
                    tracing::info!(url = %redacted(&spec.url), "RTSP: {e}; trying UDP");
                    refused_tcp = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let udp = Transport::Udp(UdpTransportOptions::default());
        within(
            spec.timeout,
            "SETUP over UDP",
            session.setup(*i, SetupOptions::default().transport(udp)),
        )
        .await
        .map_err(|e| match &refused_tcp {
            Some(tcp) => format!("{tcp}; then {e}"),
            None => e,
        })?;
    }
    let mut playing = within(spec.timeout, "PLAY", session.play(PlayOptions::default())).await?;
    report(Ok(tracks));
    let mut targets = [None; 8];
    for (i, _, to) in &chosen {
        if let Some(slot) = targets.get_mut(*i) {
            *slot = Some(*to);
        }
    }
    loop {
        let item = match tokio::time::timeout(spec.reconnect_delay, playing.next()).await {
            Err(_) => {
                return Err(format!(
                    "no media for {} s",
                    spec.reconnect_delay.as_secs_f32()
                ))
            }
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(item))) => item,
        };
        if let PacketItem::Rtp(packet) = item {
            let to = targets.get(packet.stream_id()).copied().flatten();
            if let Some(to) = to {
                // A full socket buffer drops the packet, as the network would.
                let _ = socket.try_send_to(packet.raw(), to);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_out_of_logs() {
        assert_eq!(
            redacted("rtsp://user:secret@127.0.0.1:8554/cam"),
            "rtsp://127.0.0.1:8554/cam"
        );
        assert_eq!(redacted("not a url"), "(not a URL)");
    }

    #[test]
    fn any_address_is_reached_on_loopback() {
        assert_eq!(
            target("0.0.0.0:5000".parse().unwrap()),
            "127.0.0.1:5000".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            target("10.0.0.1:5000".parse().unwrap()),
            "10.0.0.1:5000".parse::<SocketAddr>().unwrap()
        );
    }
}
