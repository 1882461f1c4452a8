//! WebSocket transport (janus-api.md §1.5): subprotocol `janus-protocol` (Admin:
//! `janus-admin-protocol`); a session's events go to the socket that created or claimed it,
//! and the socket's close ends its sessions.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::{self, ApiError, Path};
use crate::core::{CoreHandle, CoreInput, Origin};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Requests of one WebSocket that may wait in the core at once.
const MAX_IN_FLIGHT: usize = 64;
/// Largest request answered; a larger frame gets error 450 and the socket stays open.
const MAX_REQUEST: usize = 1 << 20;
/// Largest frame read at all; beyond it the socket is closed with 1009 (RFC 6455 §7.4.1).
const MAX_FRAME: usize = 8 << 20;

#[derive(Clone)]
struct Ws {
    core: CoreHandle,
    admin: bool,
}

pub fn router(core: CoreHandle, admin: bool) -> Router {
    Router::new()
        .route("/", any(upgrade))
        .route("/{*rest}", any(upgrade))
        .with_state(Ws { core, admin })
}

async fn upgrade(State(s): State<Ws>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let wanted = if s.admin {
        "janus-admin-protocol"
    } else {
        "janus-protocol"
    };
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == wanted);
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            format!("WebSocket subprotocol {wanted} required"),
        )
            .into_response();
    }
    ws.protocols([wanted])
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| serve(s, socket))
}

async fn serve(s: Ws, socket: WebSocket) {
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let (close_tx, mut close_rx) = tokio::sync::oneshot::channel::<u16>();
    let mut close = Some(close_tx);
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                // A close code wins over queued events.
                biased;
                code = &mut close_rx => {
                    if let Ok(code) = code {
                        let frame = CloseFrame { code, reason: "".into() };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        return;
                    }
                    // No close code will come: keep forwarding until the channel ends.
                    while let Some(v) = rx.recv().await {
                        if sink.send(Message::Text(v.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                    break;
                }
                v = rx.recv() => match v {
                    Some(v) => {
                        if sink.send(Message::Text(v.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
            }
        }
        let _ = sink.close().await;
    });
    while let Some(msg) = stream.next().await {
        let bytes = match msg {
            Ok(Message::Text(t)) => t.as_bytes().to_vec(),
            Ok(Message::Binary(b)) => b.to_vec(),
            Ok(Message::Close(_)) => break,
            // Pings are answered by the WebSocket layer itself (RFC 6455 §5.5.2).
            Ok(_) => continue,
            Err(e) => {
                let text = e.to_string();
                // RFC 6455 §7.4.1: 1007 bad payload data, 1009 too big, 1002 protocol error.
                let code = if text.contains("UTF-8") || text.contains("utf-8") {
                    1007
                } else if text.contains("too long") || text.contains("size") {
                    1009
                } else {
                    1002
                };
                tracing::debug!(conn, "WebSocket closed on a bad frame: {text}");
                if let Some(c) = close.take() {
                    let _ = c.send(code);
                }
                break;
            }
        };
        if bytes.len() > MAX_REQUEST {
            let _ = tx.send(api::error_reply(
                None,
                None,
                &ApiError::new(
                    ApiError::TRANSPORT_SPECIFIC,
                    format!("Request too large (limit {MAX_REQUEST} bytes)"),
                ),
            ));
            continue;
        }
        let parsed = api::parse_body(&bytes);
        if let Err(e) = &parsed {
            if e.code == ApiError::INVALID_JSON {
                let _ = tx.send(api::error_reply(None, None, e));
                continue;
            }
        }
        // At most MAX_IN_FLIGHT requests of one socket wait in the core; past that this
        // loop stops reading and TCP pushes back on the client.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        s.core.send(CoreInput::Request {
            body: parsed,
            path: Path::default(),
            origin: Origin::Ws {
                conn,
                tx: tx.clone(),
            },
            admin: s.admin,
            reply: None,
            permit: Some(permit),
        });
    }
    s.core.send(CoreInput::TransportGone { conn });
    drop(tx);
    drop(close);
    let _ = writer.await;
}
