//! Helpers shared by the integration tests: start the real `cardea` binary on ephemeral
//! loopback ports, and speak the Janus HTTP API to it (create, attach, message, long poll).
//!
//! The binary comes from `CARDEA_BIN`, or else from the directory the test executable was
//! built into (`target/<profile>/deps/<test>-<hash>` → `target/<profile>/cardea`).
//!
//! Everything the server writes on stderr is echoed through `eprintln!`, so libtest shows the
//! server's log next to a failing test and hides it for a passing one.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub mod baresip;
pub mod kamailio;
pub mod mjr;
pub mod sipp;

/// How long the binary may take to print `CARDEA_READY`.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Bound on one plain request/response exchange with the Janus HTTP API.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);
/// Bound on one long poll; Janus holds an idle long poll for about 30 s.
const LONG_POLL_WITHIN: Duration = Duration::from_secs(45);

/// The listeners announced on the `CARDEA_READY` line.
#[derive(Debug, Clone)]
pub struct Listeners {
    /// Janus HTTP transport, `ip:port` (the API is under `/janus`).
    pub http: String,
    /// Janus WebSocket transport, `ip:port`.
    pub ws: String,
    /// Admin HTTP, `ip:port` (under `/admin`).
    pub admin_http: String,
    /// Admin WebSocket, `ip:port`.
    pub admin_ws: String,
    /// The media sockets, `ip:port` each.
    pub media: Vec<String>,
    /// The SIP UDP socket, `ip:port`, when a `sip` section enabled it.
    pub sip_udp: Option<String>,
    /// The SIP TCP listener, `ip:port`, when a `sip` section enabled it.
    pub sip_tcp: Option<String>,
}

/// A running `cardea` process on ephemeral loopback ports; killed when dropped.
pub struct Cardea {
    child: Child,
    dir: PathBuf,
    /// Where it listens.
    pub listeners: Listeners,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Cardea {
    /// The server's process id (for /proc measurements).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts the binary with the base test configuration (every listener on 127.0.0.1, port 0,
    /// `debug_level: 4`) followed by `extra_yaml`, appended verbatim: it may add top-level
    /// sections (plugins, events, …) but must not repeat `general`, `http`, `websocket`,
    /// `admin` or `media`; use [`Cardea::start_with`] to change `general` keys and
    /// [`Cardea::start_with_media`] to change `media` keys.
    ///
    /// Blocks until the `CARDEA_READY` line (at most 20 s) and panics, with the server's log,
    /// if it never comes.
    pub fn start(extra_yaml: &str) -> Cardea {
        Cardea::start_with(&[], extra_yaml)
    }

    /// Like [`Cardea::start`], with `general` entries (`("session_timeout", "5")`) replacing or
    /// adding keys of the `general` section; values are written as YAML scalars, unquoted.
    pub fn start_with(general: &[(&str, &str)], extra_yaml: &str) -> Cardea {
        Cardea::start_configured(general, &[], extra_yaml)
    }

    /// Like [`Cardea::start`], with `media` entries (`("slowlink_threshold", "2")`) replacing
    /// or adding keys of the `media` section; values are written as YAML scalars, unquoted.
    pub fn start_with_media(media: &[(&str, &str)], extra_yaml: &str) -> Cardea {
        Cardea::start_configured(&[], media, extra_yaml)
    }

    /// [`Cardea::start`] with both `general` and `media` overrides.
    pub fn start_configured(
        general: &[(&str, &str)],
        media: &[(&str, &str)],
        extra_yaml: &str,
    ) -> Cardea {
        let bin = cardea_bin();
        let dir = unique_temp_dir();
        let config = dir.join("cardea.yaml");
        std::fs::write(&config, config_yaml(general, media, extra_yaml))
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));

        let mut child = Command::new(&bin)
            // Tests run side by side: the SIP endpoint takes free ports, not 5060.
            .env("CARDEA_SIP_UDP_PORT", "0")
            .env("CARDEA_SIP_TCP_PORT", "0")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));

        let logs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("stdout was configured as piped");
        let stderr = child.stderr.take().expect("stderr was configured as piped");
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(json) = line.strip_prefix("CARDEA_READY ") {
                        let _ = ready_tx.send(json.to_owned());
                    }
                    eprintln!("[cardea stdout] {line}");
                    logs.lock().unwrap().push(line);
                }
                // Dropping ready_tx here tells start() that stdout closed.
            });
        }
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("[cardea] {line}");
                    logs.lock().unwrap().push(line);
                }
            });
        }

        let ready = match ready_rx.recv_timeout(READY_WITHIN) {
            Ok(json) => json,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().ok();
                // Let the reader threads drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "cardea ({}) did not print CARDEA_READY ({e:?}, exit status {status:?}); log:\n{}",
                    bin.display(),
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        let listeners =
            parse_ready(&ready).unwrap_or_else(|e| panic!("bad CARDEA_READY line {ready:?}: {e}"));
        Cardea {
            child,
            dir,
            listeners,
            logs,
        }
    }

    /// The Janus HTTP API root, `http://127.0.0.1:P/janus`.
    pub fn janus_url(&self) -> String {
        format!("http://{}/janus", self.listeners.http)
    }

    /// A Janus HTTP API client for this server.
    pub fn janus(&self) -> JanusHttp {
        JanusHttp::new(self.janus_url())
    }

    /// Every line the server printed so far (stdout and stderr, in arrival order per stream).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The exit status if the process has ended (crashed or quit), `None` while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Cardea {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `CARDEA_BIN`, else `<dir of the test executable>/../cardea`.
pub fn cardea_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CARDEA_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/cardea
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("cardea{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: build it (cargo build --release -p cardea-bridge) or set CARDEA_BIN",
        bin.display()
    );
    bin
}

fn unique_temp_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "cardea-test-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

fn config_yaml(general: &[(&str, &str)], media: &[(&str, &str)], extra_yaml: &str) -> String {
    let mut yaml = String::new();
    section(
        &mut yaml,
        "general",
        &[("debug_level", "4"), ("session_timeout", "60")],
        general,
    );
    yaml.push_str(
        "http:\n  bind: 127.0.0.1\n  port: 0\n\
         websocket:\n  bind: 127.0.0.1\n  port: 0\n\
         admin:\n  bind: 127.0.0.1\n  http_port: 0\n  ws_port: 0\n",
    );
    section(
        &mut yaml,
        "media",
        &[("bind", "127.0.0.1"), ("port", "0")],
        media,
    );
    yaml.push_str(extra_yaml);
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    yaml
}

/// Appends `name:` with the `base` keys, each replaced by an override of the same name, then
/// the overrides for keys `base` does not have, in order.
fn section(yaml: &mut String, name: &str, base: &[(&str, &str)], overrides: &[(&str, &str)]) {
    let mut keys: Vec<(&str, &str)> = base.to_vec();
    for (key, value) in overrides {
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => keys.push((key, value)),
        }
    }
    yaml.push_str(name);
    yaml.push_str(":\n");
    for (key, value) in keys {
        yaml.push_str(&format!("  {key}: {value}\n"));
    }
}

fn parse_ready(json: &str) -> Result<Listeners, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        v[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no string field {name:?}"))
    };
    let media = v["media"]
        .as_array()
        .ok_or("no array field \"media\"")?
        .iter()
        .map(|m| {
            m.as_str()
                .map(str::to_owned)
                .ok_or("a media entry is not a string")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let optional = |name: &str| v[name].as_str().map(str::to_owned);
    Ok(Listeners {
        http: field("http")?,
        ws: field("ws")?,
        admin_http: field("admin_http")?,
        admin_ws: field("admin_ws")?,
        media,
        sip_udp: optional("sip_udp"),
        sip_tcp: optional("sip_tcp"),
    })
}

/// A small client of the Janus HTTP API (`/janus`). Requests run on tokio's blocking pool;
/// each one is bounded in time. Protocol-level failures (`"janus":"error"`, missing ids) panic
/// with the reply, which is what a test wants.
#[derive(Clone)]
pub struct JanusHttp {
    agent: ureq::Agent,
    base: String,
}

impl JanusHttp {
    /// A client for the API rooted at `base` (`http://127.0.0.1:P/janus`).
    pub fn new(base: impl Into<String>) -> Self {
        let config = ureq::Agent::config_builder()
            // Janus answers API errors with 200 and a JSON body; keep any body we get.
            .http_status_as_error(false)
            .timeout_global(Some(LONG_POLL_WITHIN))
            .build();
        JanusHttp {
            agent: ureq::Agent::new_with_config(config),
            base: base.into(),
        }
    }

    /// POSTs `body` to `<base><path>` (path `""`, `"/<session>"` or `"/<session>/<handle>"`),
    /// adding a fresh `transaction` when the body has none, and returns the JSON reply.
    pub async fn post(&self, path: &str, mut body: Value) -> Value {
        if body.get("transaction").is_none() {
            body["transaction"] = Value::String(transaction());
        }
        let url = format!("{}{path}", self.base);
        let this = self.clone();
        let what = format!("POST {url} {body}");
        blocking(REQUEST_WITHIN, &what, move || {
            this.exchange_blocking(&url, Some(&body), REQUEST_WITHIN)
        })
        .await
    }

    /// GETs `<base><path>` and returns the JSON reply.
    pub async fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.base);
        let this = self.clone();
        let what = format!("GET {url}");
        blocking(REQUEST_WITHIN, &what, move || {
            this.exchange_blocking(&url, None, REQUEST_WITHIN)
        })
        .await
    }

    /// `create`: returns the new session id.
    pub async fn create(&self) -> u64 {
        let reply = self.post("", json!({"janus": "create"})).await;
        expect_success_id(&reply, "create")
    }

    /// `attach` to `plugin`: returns the new handle id.
    pub async fn attach(&self, session: u64, plugin: &str) -> u64 {
        let reply = self
            .post(
                &format!("/{session}"),
                json!({"janus": "attach", "plugin": plugin}),
            )
            .await;
        expect_success_id(&reply, "attach")
    }

    /// `message` with `body` and optional `jsep`, under the given transaction; returns the
    /// immediate reply (`ack` for an asynchronous plugin, `success` + `plugindata` otherwise).
    pub async fn message(
        &self,
        session: u64,
        handle: u64,
        transaction: &str,
        body: Value,
        jsep: Option<Value>,
    ) -> Value {
        let mut request = json!({"janus": "message", "transaction": transaction, "body": body});
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        self.post(&format!("/{session}/{handle}"), request).await
    }

    /// A handle-level request without parameters (`hangup`, `detach`); returns the reply.
    pub async fn handle_request(&self, session: u64, handle: u64, verb: &str) -> Value {
        self.post(&format!("/{session}/{handle}"), json!({"janus": verb}))
            .await
    }

    /// Starts long-polling `GET /janus/<session>?maxev=10` on a thread of its own; events
    /// arrive in the returned [`EventStream`] in the order the server sent them.
    pub fn events(&self, session: u64) -> EventStream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let this = self.clone();
        let url = format!("{}/{session}?maxev=10", self.base);
        let stop_poller = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut failures = 0;
            while !stop_poller.load(Ordering::Relaxed) {
                match this.exchange_blocking(&url, None, LONG_POLL_WITHIN) {
                    Ok(reply) => {
                        failures = 0;
                        let events = match reply {
                            Value::Array(events) => events,
                            other => vec![other],
                        };
                        for event in events {
                            if event["janus"] == "keepalive" {
                                continue;
                            }
                            let gone = event["janus"] == "error";
                            if tx.send(Ok(event)).is_err() || gone {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        if stop_poller.load(Ordering::Relaxed) {
                            return;
                        }
                        if failures >= 3 {
                            let _ = tx.send(Err(e));
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        });
        EventStream {
            rx,
            seen: Vec::new(),
            stop,
            session,
            poller_error: None,
        }
    }

    fn exchange_blocking(
        &self,
        url: &str,
        body: Option<&Value>,
        within: Duration,
    ) -> Result<Value, String> {
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
        let mut reply = reply.map_err(|e| format!("{url}: {e}"))?;
        let status = reply.status().as_u16();
        let text = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{url}: reading the body: {e}"))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{url}: HTTP {status}, not JSON ({e}): {text:?}"))
    }
}

async fn blocking<F>(within: Duration, what: &str, f: F) -> Value
where
    F: FnOnce() -> Result<Value, String> + Send + 'static,
{
    // The blocking call carries its own timeout; this one only adds margin.
    match tokio::time::timeout(
        within + Duration::from_secs(2),
        tokio::task::spawn_blocking(f),
    )
    .await
    {
        Ok(Ok(Ok(reply))) => reply,
        Ok(Ok(Err(e))) => panic!("{what}: {e}"),
        Ok(Err(join)) => panic!("{what}: {join}"),
        Err(_) => panic!("{what}: no reply within {within:?}"),
    }
}

fn expect_success_id(reply: &Value, what: &str) -> u64 {
    assert_eq!(reply["janus"], "success", "{what} did not succeed: {reply}");
    reply["data"]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what} reply has no integer data.id: {reply}"))
}

/// A fresh transaction id.
pub fn transaction() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("cardea-tests-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The events of one session, as delivered by the long poll. Every event received is kept,
/// so a test can wait for one event and later check which others arrived meanwhile.
pub struct EventStream {
    rx: tokio::sync::mpsc::UnboundedReceiver<Result<Value, String>>,
    seen: Vec<Value>,
    stop: Arc<AtomicBool>,
    session: u64,
    poller_error: Option<String>,
}

impl EventStream {
    /// The first event received (earlier or within `within`) for which `matches` holds.
    /// Panics after `within`, listing every event received, naming the wait `what`.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(event) = self.seen.iter().find(|e| matches(e)) {
            return event.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(Ok(event))) => {
                    let hit = matches(&event);
                    self.seen.push(event.clone());
                    if hit {
                        return event;
                    }
                }
                Ok(Some(Err(e))) => self.poller_error = Some(e),
                Ok(None) | Err(_) => panic!(
                    "session {}: no {what} within {within:?}; long poll {}; events so far:\n{}",
                    self.session,
                    self.poller_error.as_deref().unwrap_or("still running"),
                    self.describe()
                ),
            }
        }
    }

    /// Takes in whatever arrived by now without waiting; returns every event received.
    pub fn drain(&mut self) -> &[Value] {
        while let Ok(next) = self.rx.try_recv() {
            match next {
                Ok(event) => self.seen.push(event),
                Err(e) => self.poller_error = Some(e),
            }
        }
        &self.seen
    }

    /// Every event received so far, one JSON per line.
    pub fn describe(&self) -> String {
        self.seen
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // The poller stops after its current long poll (or at once, when the server is gone).
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_overrides_replace_base_keys_and_extra_yaml_is_appended() {
        let yaml = config_yaml(
            &[("session_timeout", "5"), ("server_name", "x")],
            &[],
            "plugins:\n  a: 1",
        );
        assert!(yaml.starts_with(
            "general:\n  debug_level: 4\n  session_timeout: 5\n  server_name: x\nhttp:\n"
        ));
        assert!(yaml.ends_with("port: 0\nplugins:\n  a: 1\n"));
    }

    #[test]
    fn media_overrides_replace_or_extend_the_one_media_section() {
        let yaml = config_yaml(&[], &[("slowlink_threshold", "2"), ("port", "5")], "");
        assert!(yaml.ends_with("media:\n  bind: 127.0.0.1\n  port: 5\n  slowlink_threshold: 2\n"));
        assert_eq!(yaml.matches("media:").count(), 1, "{yaml}");
    }

    #[test]
    fn ready_line_is_parsed() {
        let l = parse_ready(
            r#"{"http":"127.0.0.1:1","ws":"127.0.0.1:2","admin_http":"127.0.0.1:3","admin_ws":"127.0.0.1:4","media":["127.0.0.1:5"]}"#,
        )
        .unwrap();
        assert_eq!(
            (l.http.as_str(), l.admin_ws.as_str()),
            ("127.0.0.1:1", "127.0.0.1:4")
        );
        assert_eq!(l.media, vec!["127.0.0.1:5".to_owned()]);
        assert_eq!((l.sip_udp, l.sip_tcp), (None, None));
    }

    #[test]
    fn ready_line_with_sip_listeners_is_parsed() {
        let l = parse_ready(
            r#"{"http":"127.0.0.1:1","ws":"127.0.0.1:2","admin_http":"127.0.0.1:3","admin_ws":"127.0.0.1:4","media":[],"sip_udp":"127.0.0.1:6","sip_tcp":"127.0.0.1:7"}"#,
        )
        .unwrap();
        assert_eq!(l.sip_udp.as_deref(), Some("127.0.0.1:6"));
        assert_eq!(l.sip_tcp.as_deref(), Some("127.0.0.1:7"));
    }
}
