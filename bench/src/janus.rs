//! A small blocking client of the Janus API (janus-api.md §1.4) over HTTP with long polls,
//! or over one WebSocket (`ws://…`, [`crate::janus_ws`]): create, attach, message, events,
//! keepalive, destroy. Every exchange is bounded in time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::janus_ws::WsLink;

use serde_json::{json, Value};

/// Bound on a plain request/response exchange.
pub const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// Why an exchange with the server failed.
#[derive(Debug, thiserror::Error)]
pub enum JanusError {
    #[error("{what}: {reason}")]
    Transport { what: String, reason: String },
    #[error("{what}: HTTP {status}, not JSON: {body:?}")]
    NotJson {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what}: server answered {reply}")]
    Refused { what: String, reply: Value },
}

/// A client for one API root, `http://host:port/janus` or `ws://host:port`. Cheap to clone:
/// clones share the connection pool, or the WebSocket.
#[derive(Clone)]
pub struct JanusApi {
    agent: ureq::Agent,
    base: String,
    /// Over a WebSocket (`ws://` roots); connected at the first request.
    ws: Option<Arc<WsOnce>>,
}

/// A WebSocket connected at first use, or why it could not be.
type WsOnce = std::sync::OnceLock<Result<Arc<WsLink>, String>>;

impl JanusApi {
    pub fn new(base: &str) -> JanusApi {
        let config = ureq::Agent::config_builder()
            // Janus answers API errors with 200 and a JSON body; non-200 bodies are kept too.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_WITHIN))
            .max_idle_connections_per_host(64)
            .build();
        JanusApi::with_agent(base, config)
    }

    /// A client keeping at most `idle` idle connections open. Janus's HTTP transport may
    /// hold a thread per open connection, so a run that counts the server's threads keeps
    /// few open while it measures.
    pub fn with_pool(base: &str, idle: usize) -> JanusApi {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_WITHIN))
            .max_idle_connections_per_host(idle)
            .max_idle_connections(idle)
            .build();
        JanusApi::with_agent(base, config)
    }

    fn with_agent(base: &str, config: ureq::config::Config) -> JanusApi {
        let ws = (base.starts_with("ws://")).then(|| Arc::new(std::sync::OnceLock::new()));
        JanusApi {
            agent: ureq::Agent::new_with_config(config),
            base: base.trim_end_matches('/').to_owned(),
            ws,
        }
    }

    /// The WebSocket of a `ws://` root, connected once (`None`: HTTP).
    fn ws(&self) -> Option<Result<Arc<WsLink>, JanusError>> {
        let cell = self.ws.as_ref()?;
        let link = cell
            .get_or_init(|| WsLink::connect(&self.base, REQUEST_WITHIN).map_err(|e| e.to_string()));
        Some(link.clone().map_err(|reason| JanusError::Transport {
            what: format!("WebSocket {}", self.base),
            reason,
        }))
    }

    /// A request that HTTP sends to `path` under the root; a WebSocket names the session
    /// and handle in the body instead.
    fn request(&self, path: &str, body: Value, within: Duration) -> Result<Value, JanusError> {
        let Some(ws) = self.ws() else {
            let url = format!("{}{path}", self.base);
            return self.exchange(&url, Some(&with_transaction(body)), within);
        };
        let mut body = with_transaction(body);
        let mut ids = path.trim_start_matches('/').split('/');
        if let Some(session) = ids.next().and_then(|s| s.parse::<u64>().ok()) {
            body["session_id"] = session.into();
        }
        if let Some(handle) = ids.next().and_then(|s| s.parse::<u64>().ok()) {
            body["handle_id"] = handle.into();
        }
        ws?.exchange(&body, within)
    }

    /// `create`: a new session id.
    pub fn create(&self) -> Result<u64, JanusError> {
        let reply = self.post("", json!({"janus": "create"}))?;
        success_id(reply, "create")
    }

    /// `attach` to `plugin`: a new handle id.
    pub fn attach(&self, session: u64, plugin: &str) -> Result<u64, JanusError> {
        let reply = self.post(
            &format!("/{session}"),
            json!({"janus": "attach", "plugin": plugin}),
        )?;
        success_id(reply, "attach")
    }

    /// `message` with `body` and, if any, a JSEP; returns the immediate reply (`ack` or
    /// `success`). Without a JSEP the field is left out: Janus refuses `"jsep": null`.
    pub fn message(
        &self,
        session: u64,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, JanusError> {
        let mut request = json!({"janus": "message", "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let reply = self.post(&format!("/{session}/{handle}"), request)?;
        match reply["janus"].as_str() {
            Some("ack") | Some("success") => Ok(reply),
            _ => Err(JanusError::Refused {
                what: "message".into(),
                reply,
            }),
        }
    }

    /// `keepalive` for a session.
    pub fn keepalive(&self, session: u64) -> Result<(), JanusError> {
        let reply = self.post(&format!("/{session}"), json!({"janus": "keepalive"}))?;
        match reply["janus"].as_str() {
            Some("ack") | Some("success") => Ok(()),
            _ => Err(JanusError::Refused {
                what: "keepalive".into(),
                reply,
            }),
        }
    }

    /// `destroy` a session, within `within`.
    pub fn destroy(&self, session: u64, within: Duration) -> Result<(), JanusError> {
        let reply = self.request(&format!("/{session}"), json!({"janus": "destroy"}), within)?;
        if let Some(Ok(ws)) = self.ws() {
            ws.forget(session);
        }
        match reply["janus"].as_str() {
            Some("success") => Ok(()),
            _ => Err(JanusError::Refused {
                what: "destroy".into(),
                reply,
            }),
        }
    }

    /// One long poll, `GET /janus/<session>?maxev=10`, held by the server at most `within`.
    /// Returns the events (an idle `keepalive` answer gives none).
    pub fn poll(&self, session: u64, within: Duration) -> Result<Vec<Value>, JanusError> {
        if let Some(ws) = self.ws() {
            return ws?.poll(session, within);
        }
        let url = format!("{}/{session}?maxev=10", self.base);
        let reply = self.exchange(&url, None, within)?;
        let events = match reply {
            Value::Array(events) => events,
            single => vec![single],
        };
        Ok(events
            .into_iter()
            .filter(|e| e["janus"] != "keepalive")
            .collect())
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, JanusError> {
        self.request(path, body, REQUEST_WITHIN)
    }

    fn exchange(
        &self,
        url: &str,
        body: Option<&Value>,
        within: Duration,
    ) -> Result<Value, JanusError> {
        let what = || match body {
            Some(b) => format!("POST {url} {}", b["janus"]),
            None => format!("GET {url}"),
        };
        let transport = |e: ureq::Error| JanusError::Transport {
            what: what(),
            reason: e.to_string(),
        };
        let reply = match body {
            Some(body) => self
                .agent
                .post(url)
                .config()
                .timeout_global(Some(within))
                .build()
                .header("content-type", "application/json")
                .send(body.to_string()),
            None => self
                .agent
                .get(url)
                .config()
                .timeout_global(Some(within))
                .build()
                .call(),
        };
        let mut reply = reply.map_err(transport)?;
        let status = reply.status().as_u16();
        let text = reply.body_mut().read_to_string().map_err(transport)?;
        serde_json::from_str(&text).map_err(|_| JanusError::NotJson {
            what: what(),
            status,
            body: text,
        })
    }
}

fn with_transaction(mut body: Value) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    body["transaction"] = Value::String(format!("load-{}-{n}", std::process::id()));
    body
}

fn success_id(reply: Value, what: &str) -> Result<u64, JanusError> {
    match (reply["janus"].as_str(), reply["data"]["id"].as_u64()) {
        (Some("success"), Some(id)) => Ok(id),
        _ => Err(JanusError::Refused {
            what: what.into(),
            reply,
        }),
    }
}
