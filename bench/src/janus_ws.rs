//! The Janus API over one WebSocket (janus-api.md §1.4, subprotocol `janus-protocol`): the
//! same requests as over HTTP, with events pushed by the server instead of long-polled.
//!
//! One connection carries every session of a run (a session's events come on the
//! connection that created it). Its TCP stream is used by two WebSocket ends: requests are
//! written under a lock by whoever asks, and one reader thread takes every frame, hands a
//! request's answer (`success`, `error`, `ack`) to the thread waiting for that transaction
//! and queues everything else by `session_id` for [`WsLink::poll`].

use std::collections::{HashMap, VecDeque};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use crate::janus::JanusError;

/// The shared state of one connection.
pub struct WsLink {
    url: String,
    writer: Mutex<WebSocket<TcpStream>>,
    /// Transactions awaiting their answer.
    waiting: Mutex<HashMap<String, mpsc::Sender<Value>>>,
    /// Events by session, and the reader's fate (`Some`: the connection is gone).
    events: Mutex<Events>,
    arrived: Condvar,
}

#[derive(Default)]
struct Events {
    by_session: HashMap<u64, VecDeque<Value>>,
    closed: Option<String>,
}

impl WsLink {
    /// Connects to `url` (`ws://host:port[/path]`) with Janus's subprotocol.
    pub fn connect(url: &str, within: Duration) -> Result<Arc<WsLink>, JanusError> {
        let fail = |reason: String| JanusError::Transport {
            what: format!("WebSocket {url}"),
            reason,
        };
        let mut request = url.into_client_request().map_err(|e| fail(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "janus-protocol".parse().expect("a valid header value"),
        );
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| fail("no host in the URL".into()))?;
        let tcp = connect_tcp(&host, within).map_err(fail)?;
        let read_half = tcp.try_clone().map_err(|e| fail(e.to_string()))?;
        tcp.set_write_timeout(Some(within))
            .map_err(|e| fail(e.to_string()))?;
        let (writer, _) = tungstenite::client(request, tcp).map_err(|e| fail(e.to_string()))?;
        // The server says nothing before our first request, so the handshake left no bytes
        // of a frame behind: the other end of the stream can start reading frames now.
        let reader = WebSocket::from_raw_socket(read_half, Role::Client, None);
        let link = Arc::new(WsLink {
            url: url.to_owned(),
            writer: Mutex::new(writer),
            waiting: Mutex::new(HashMap::new()),
            events: Mutex::new(Events::default()),
            arrived: Condvar::new(),
        });
        let for_reader = Arc::clone(&link);
        std::thread::Builder::new()
            .name("janus-ws".into())
            .spawn(move || for_reader.read_all(reader))
            .map_err(|e| fail(e.to_string()))?;
        Ok(link)
    }

    /// Sends `body` (with its `transaction`) and waits up to `within` for its answer.
    pub fn exchange(&self, body: &Value, within: Duration) -> Result<Value, JanusError> {
        let what = || format!("WebSocket {} {}", self.url, body["janus"]);
        let transport = |reason: String| JanusError::Transport {
            what: what(),
            reason,
        };
        let tx = body["transaction"].as_str().unwrap_or_default().to_owned();
        let (answer_tx, answer_rx) = mpsc::channel();
        self.lock_waiting().insert(tx.clone(), answer_tx);
        let sent = self
            .writer
            .lock()
            .map_err(|_| transport("the writer panicked".into()))?
            .send(Message::text(body.to_string()));
        if let Err(e) = sent {
            self.lock_waiting().remove(&tx);
            return Err(transport(e.to_string()));
        }
        let answer = answer_rx.recv_timeout(within);
        self.lock_waiting().remove(&tx);
        answer.map_err(|e| {
            let closed = self.lock_events().closed.clone();
            transport(closed.unwrap_or_else(|| format!("no answer: {e}")))
        })
    }

    /// Up to 10 events of `session`, waiting at most `within` for the first.
    pub fn poll(&self, session: u64, within: Duration) -> Result<Vec<Value>, JanusError> {
        let deadline = Instant::now() + within;
        let mut events = self.lock_events();
        loop {
            if let Some(queue) = events.by_session.get_mut(&session) {
                if !queue.is_empty() {
                    let n = queue.len().min(10);
                    return Ok(queue.drain(..n).collect());
                }
            }
            if let Some(reason) = &events.closed {
                return Err(JanusError::Transport {
                    what: format!("WebSocket {} events of {session}", self.url),
                    reason: reason.clone(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            events = match self.arrived.wait_timeout(events, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Forgets the events of a destroyed session.
    pub fn forget(&self, session: u64) {
        self.lock_events().by_session.remove(&session);
    }

    fn read_all(&self, mut reader: WebSocket<TcpStream>) {
        let reason = loop {
            let text = match reader.read() {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) => break "closed by the server".to_owned(),
                Ok(_) => continue,
                Err(e) => break e.to_string(),
            };
            let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            self.dispatch(message);
        };
        self.lock_events().closed = Some(reason);
        // Dropping the senders wakes every waiter with an error.
        self.lock_waiting().clear();
        self.arrived.notify_all();
    }

    /// A request's answer to its waiter; anything else to its session's events.
    fn dispatch(&self, message: Value) {
        let answer = matches!(
            message["janus"].as_str(),
            Some("success" | "error" | "ack" | "server_info")
        );
        if answer {
            if let Some(tx) = message["transaction"].as_str() {
                if let Some(waiter) = self.lock_waiting().remove(tx) {
                    let _ = waiter.send(message);
                    return;
                }
            }
        }
        let Some(session) = message["session_id"].as_u64() else {
            return;
        };
        self.lock_events()
            .by_session
            .entry(session)
            .or_default()
            .push_back(message);
        self.arrived.notify_all();
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Value>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_events(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn connect_tcp(host: &str, within: Duration) -> Result<TcpStream, String> {
    use std::net::ToSocketAddrs;
    let addrs = host.to_socket_addrs().map_err(|e| format!("{host}: {e}"))?;
    let mut last = format!("{host}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, within) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}
