//! SIP over WebSocket (RFC 7118): one SIP message per frame, subprotocol `sip`; the same
//! router serves `ws` over plain TCP and `wss` over TLS (§5).

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::IncomingStream;
use axum::Router;
use bytes::Bytes;
use cardea_sip::transaction::Destination;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::net::{Input, Stream};
use super::tls::TlsListener;

/// Largest SIP message accepted in one frame.
const MAX_FRAME: usize = 64 * 1024;

/// The peer of a WebSocket connection, over TCP (`ws`) or TLS (`wss`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Peer(*stream.remote_addr())
    }
}

#[derive(Clone)]
struct WsState {
    tx: mpsc::Sender<Input>,
    /// [`Stream::Ws`] or [`Stream::Wss`].
    stream: Stream,
}

/// Serve it with `into_make_service_with_connect_info::<Peer>()`.
pub(super) fn router(tx: mpsc::Sender<Input>, stream: Stream) -> Router {
    Router::new()
        .route("/", any(upgrade))
        .route("/{*rest}", any(upgrade))
        .with_state(WsState { tx, stream })
}

async fn upgrade(
    State(WsState { tx, stream }): State<WsState>,
    ConnectInfo(Peer(from)): ConnectInfo<Peer>,
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
        .on_upgrade(move |socket| serve(socket, from, stream, tx))
}

async fn serve(socket: WebSocket, from: SocketAddr, kind: Stream, tx: mpsc::Sender<Input>) {
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    if tx
        .send(Input::Connected(kind, from, out_tx.clone()))
        .await
        .is_err()
    {
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
    let destination = Destination::new(from, kind.transport());
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
    let _ = tx.send(Input::Closed(kind, from, out_tx)).await;
    writer.abort();
}
