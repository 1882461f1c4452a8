//! Starting everything: media shards, the core, the listeners; then the ready line.

use std::net::SocketAddr;

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::{Core, LogLevelSetter};
use crate::net::spawn_shard;
use crate::transport;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what} could not bind {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("DTLS certificate: {0}")]
    Certificate(String),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("recording writer thread: {0}")]
    Writer(std::io::Error),
}

async fn listen(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

fn serve(listener: TcpListener, router: axum::Router) {
    use axum::serve::ListenerExt;
    // Small answers and events go out at once: with Nagle's algorithm an event written
    // right after an `ack` waits for the client's delayed ACK (40 ms on Linux).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("listener stopped: {e}");
        }
    });
}

/// Starts Cardea and returns once every listener is bound (after printing `CARDEA_READY`).
pub async fn start(config: Config, set_log_level: LogLevelSetter) -> Result<(), StartError> {
    let cert = match (&config.media.dtls_cert, &config.media.dtls_key) {
        (Some(c), Some(k)) => {
            crate::net::load_certificate(c, k).map_err(StartError::Certificate)?
        }
        _ => cardea_media::generate_dtls_cert()
            .map_err(|e| StartError::Certificate(e.to_string()))?,
    };
    let (media_tx, media_rx) = mpsc::unbounded_channel();
    let advertise = config.advertised();
    let mut shards = Vec::new();
    crate::net::set_protected(&config.general.protected_folders);
    let recordings = crate::net::MjrFiles::spawn().map_err(StartError::Writer)?;
    for i in 0..config.media.shards {
        let port = if config.media.port == 0 {
            0
        } else {
            config.media.port + i as u16
        };
        let addr = SocketAddr::new(config.media.bind, port);
        let shard = spawn_shard(
            i,
            addr,
            &advertise,
            config.media.ice_lite,
            cert.clone(),
            config.media.socket_buffer,
            crate::net::ShardOut {
                events: media_tx.clone(),
                recordings: recordings.clone(),
            },
        )
        .map_err(|source| StartError::Bind {
            what: "media shard",
            addr,
            source,
        })?;
        shards.push(shard);
    }
    let media_addrs: Vec<String> = shards.iter().map(|s| s.local.to_string()).collect();
    let g = &config;
    let mut ready = serde_json::Map::new();
    // The SIP endpoint starts first: the SIP plugin needs its listener and link.
    let [videoroom_permanent, audiobridge_permanent, streaming_permanent] =
        crate::permanent::load_all(g)?;
    let mut env = cardea_plugins::PluginEnv {
        videoroom_rooms: g.plugins.videoroom.rooms.clone(),
        videoroom_permanent,
        audiobridge_permanent,
        streaming_permanent,
        streaming: g.plugins.streaming.clone(),
        audiobridge: g.plugins.audiobridge.clone(),
        media_ports: shards.iter().map(|s| s.local.port()).collect(),
        dial_out: if g.sip.enabled {
            g.sip.trunks.iter().map(|t| t.uri.clone()).collect()
        } else {
            Vec::new()
        },
        ..Default::default()
    };
    let mut sip_link = None;
    let mut sip_events = None;
    if g.sip.enabled {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let sip = crate::sip::spawn_sip(
            &g.sip,
            g.source.as_deref().and_then(std::path::Path::parent),
            crate::sip::EchoMedia {
                bind: g.media.bind,
                advertise: g.advertised()[0],
                ports: crate::net::rtp_port_range(&g.media),
            },
            events_tx,
        )
        .await
        .map_err(|source| StartError::Bind {
            what: "SIP",
            addr: SocketAddr::new(g.sip.bind, g.sip.udp_port),
            source,
        })?;
        ready.insert("sip_udp".into(), json!(sip.udp.to_string()));
        ready.insert("sip_tcp".into(), json!(sip.tcp.to_string()));
        if let Some(ws) = sip.ws {
            ready.insert("sip_ws".into(), json!(ws.to_string()));
        }
        ready.extend(sip.secure_ready_fields());
        if g.sip.users.is_empty() {
            tracing::info!("no sip.users configured: the registrar accepts nobody");
        }
        env.sip = Some(cardea_plugins::sip::SipEnv {
            udp: sip.udp,
            user_agent: g.sip.user_agent.clone(),
            keepalive: (g.sip.keepalive_interval > 0)
                .then(|| std::time::Duration::from_secs(g.sip.keepalive_interval)),
        });
        spawn_reload_on_hangup(sip.link.clone(), config.source.clone());
        sip_link = Some(sip.link);
        sip_events = Some(events_rx);
    }
    let core = Core::new(
        config.clone(),
        shards,
        recordings,
        set_log_level,
        sip_link,
        &env,
    )
    .spawn(media_rx, sip_events);
    if g.http.enabled {
        let l = listen("HTTP", SocketAddr::new(g.http.bind, g.http.port)).await?;
        ready.insert(
            "http".into(),
            json!(l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        );
        serve(
            l,
            transport::http::router(
                core.clone(),
                &g.http.base_path,
                false,
                g.http.max_body,
                &g.http.allow_origin,
                g.http.demos,
            ),
        );
    }
    if g.websocket.enabled {
        let l = listen(
            "WebSocket",
            SocketAddr::new(g.websocket.bind, g.websocket.port),
        )
        .await?;
        ready.insert(
            "ws".into(),
            json!(l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        );
        serve(l, transport::ws::router(core.clone(), false));
    }
    if g.admin.enabled {
        let l = listen(
            "Admin HTTP",
            SocketAddr::new(g.admin.bind, g.admin.http_port),
        )
        .await?;
        ready.insert(
            "admin_http".into(),
            json!(l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        );
        serve(
            l,
            transport::http::router(
                core.clone(),
                &g.admin.base_path,
                true,
                g.http.max_body,
                &g.http.allow_origin,
                false,
            ),
        );
        let l = listen(
            "Admin WebSocket",
            SocketAddr::new(g.admin.bind, g.admin.ws_port),
        )
        .await?;
        ready.insert(
            "admin_ws".into(),
            json!(l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        );
        serve(l, transport::ws::router(core.clone(), true));
        if g.general.admin_secret.is_none() {
            tracing::warn!("no admin_secret configured: the Admin API answers only info and ping");
        }
    }
    ready.insert("media".into(), json!(media_addrs));
    tracing::info!(listeners = %serde_json::Value::Object(ready.clone()), "Cardea is ready");
    if let Some(http) = ready.get("http").and_then(|v| v.as_str()) {
        tracing::info!("demo page: http://{http}/demos/echotest.html");
    }
    println!("CARDEA_READY {}", serde_json::Value::Object(ready));
    Ok(())
}

/// SIGHUP reloads the SIP users, trunks and dialplan (as Kamailio's and Asterisk's reload
/// commands do); a broken file is refused and the routing in force stays.
fn spawn_reload_on_hangup(link: crate::sip::SipLink, source: Option<std::path::PathBuf>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: reload through the Admin API (reload_routing)");
        return;
    };
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match link.reload_from(source.as_deref()) {
                Ok(()) => tracing::info!("SIGHUP: SIP routing reloaded"),
                Err(e) => {
                    tracing::error!("SIGHUP: reload refused, the routing in force stays: {e}")
                }
            }
        }
    });
}
