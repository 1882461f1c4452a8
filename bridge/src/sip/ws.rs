//! SIP over WebSocket (RFC 7118): one SIP message per frame, subprotocol `sip`.

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use cardea_sip::transaction::Destination;
use cardea_sip::typed::Transport;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::net::Input;

/// Largest SIP message accepted in one frame.
const MAX_FRAME: usize = 64 * 1024;

pub(super) fn router(tx: mpsc::Sender<Input>) -> Router {
    Router::new()
        .route("/", any(upgrade))
        .route("/{*rest}", any(upgrade))
        .with_state(tx)
}

async fn upgrade(
    State(tx): State<mpsc::Sender<Input>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"));
    if !offered {
        // RFC 7118 §4.1: the client must ask for the "sip" subprotocol.
        return (
            StatusCode::BAD_REQUEST,
            "WebSocket subprotocol sip required",
        )
            .into_response();
    }
    ws.protocols(["sip"])
        .max_message_size(MAX_FRAME)
        .on_upgrade(move |socket| serve(socket, from, tx))
}

async fn serve(socket: WebSocket, from: SocketAddr, tx: mpsc::Sender<Input>) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    if tx.send(Input::Connected(from, out_tx)).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            // SIP is text; a frame that is not UTF-8 goes out as binary (RFC 7118 §5).
            let frame = match String::from_utf8(b.to_vec()) {
                Ok(text) => Message::Text(text.into()),
                Err(e) => Message::Binary(e.into_bytes().into()),
            };
            if sink.send(frame).await.is_err() {
                break;
            }
        }
    });
    let destination = Destination::new(from, Transport::Ws);
    while let Some(Ok(msg)) = stream.next().await {
        let bytes = match msg {
            Message::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        if tx
            .send(Input::Bytes(bytes, destination.clone()))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = tx.send(Input::Closed(from)).await;
    writer.abort();
}
