//! A small blocking client of the Janus HTTP API (janus-api.md §1.4): create, attach,
//! message, long poll, keepalive, destroy. Every exchange is bounded in time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// A client for one API root, `http://host:port/janus`. Cheap to clone: clones share the
/// connection pool.
#[derive(Clone)]
pub struct JanusHttp {
    agent: ureq::Agent,
    base: String,
}

impl JanusHttp {
    pub fn new(base: &str) -> JanusHttp {
        let config = ureq::Agent::config_builder()
            // Janus answers API errors with 200 and a JSON body; non-200 bodies are kept too.
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_WITHIN))
            .max_idle_connections_per_host(64)
            .build();
        JanusHttp::with_agent(base, config)
    }

    /// A client keeping at most `idle` idle connections open. Janus's HTTP transport may
    /// hold a thread per open connection, so a run that counts the server's threads keeps
    /// few open while it measures.
    pub fn with_pool(base: &str, idle: usize) -> JanusHttp {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_WITHIN))
            .max_idle_connections_per_host(idle)
            .max_idle_connections(idle)
            .build();
        JanusHttp::with_agent(base, config)
    }

    fn with_agent(base: &str, config: ureq::config::Config) -> JanusHttp {
        JanusHttp {
            agent: ureq::Agent::new_with_config(config),
            base: base.trim_end_matches('/').to_owned(),
        }
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
        let url = format!("{}/{session}", self.base);
        let body = with_transaction(json!({"janus": "destroy"}));
        let reply = self.exchange(&url, Some(&body), within)?;
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
        let url = format!("{}{path}", self.base);
        self.exchange(&url, Some(&with_transaction(body)), REQUEST_WITHIN)
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
