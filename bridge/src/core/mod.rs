//! The core loop: it owns sessions, handles and plugin state. Janus API requests (from every
//! transport), media events (from the shards) and the clock tick are serialized through one
//! task, so plugins need no locks.

mod admin;
mod info;
mod janus;
mod mixers;
mod pc;
mod recordings;
mod session;
mod sip;
mod sources;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardea_media::{LegConfig, MediaCommand, MediaEvent};
use cardea_plugins::Plugin;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::api::{self, ApiError, Path};
use crate::config::Config;
use crate::net::ShardHandle;
pub use session::ConnId;
use session::{Handle, Session, Sink};

/// Who sent a request, and so where its reply (and a new session's events) go.
pub enum Origin {
    Http,
    Ws {
        conn: ConnId,
        tx: mpsc::UnboundedSender<Value>,
    },
}

/// Input to the core loop.
pub enum CoreInput {
    Request {
        body: Result<Value, ApiError>,
        path: Path,
        origin: Origin,
        admin: bool,
        reply: Option<oneshot::Sender<Value>>,
        /// Held until the request is handled: a WebSocket reads its next request only when
        /// it has a permit, so a flood waits instead of queueing without limit.
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// HTTP long poll: `None` when the session does not exist (the transport answers 404).
    LongPoll {
        session: u64,
        maxev: usize,
        auth: Auth,
        /// The events, as JSON text.
        reply: oneshot::Sender<Result<Vec<String>, LongPollError>>,
    },
    TransportGone {
        conn: ConnId,
    },
    /// A shard answered a renegotiation offer.
    Renegotiated {
        handle: u64,
        transaction: Option<String>,
        event: serde_json::Map<String, Value>,
        offer: String,
        result: Result<String, String>,
    },
    /// A shard made a new offer on a live leg (a plugin's `Reoffer`).
    Reoffered {
        handle: u64,
        transaction: Option<String>,
        event: serde_json::Map<String, Value>,
        data: Value,
        result: Result<String, String>,
    },
    /// A shard applied (or refused) the browser's answer to our offer.
    AnswerApplied {
        handle: u64,
        answer: String,
        result: Result<(), String>,
    },
    Media(MediaEvent),
    /// SIP for a plugin handle from the shared endpoint.
    Sip {
        handle: u64,
        event: cardea_plugins::SipIn,
    },
    /// An RTSP source connected (its tracks) or failed.
    Rtsp {
        source: u64,
        report: crate::net::RtspReport,
    },
    Tick,
}

/// Credentials a long poll brings in its query string.
#[derive(Default)]
pub struct Auth {
    pub apisecret: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug)]
pub enum LongPollError {
    NoSession,
    Unauthorized,
}

/// The transports' way into the core.
#[derive(Clone)]
pub struct CoreHandle {
    tx: mpsc::UnboundedSender<CoreInput>,
}

impl CoreHandle {
    pub fn send(&self, input: CoreInput) {
        let _ = self.tx.send(input);
    }

    /// Sends a request and waits for its reply.
    pub async fn request(
        &self,
        body: Result<Value, ApiError>,
        path: Path,
        origin: Origin,
        admin: bool,
    ) -> Value {
        let (tx, rx) = oneshot::channel();
        self.send(CoreInput::Request {
            body,
            path,
            origin,
            admin,
            reply: Some(tx),
            permit: None,
        });
        rx.await.unwrap_or_else(|_| {
            api::error_reply(
                None,
                None,
                &ApiError::new(
                    ApiError::UNKNOWN,
                    "internal error: the request failed inside Cardea",
                ),
            )
        })
    }
}

/// Changes the log level at run time (Admin `set_log_level`).
pub type LogLevelSetter = Arc<dyn Fn(u8) + Send + Sync>;

pub struct Core {
    config: Config,
    started: Instant,
    sessions: HashMap<u64, Session>,
    handles: HashMap<u64, Handle>,
    plugins: Vec<Box<dyn Plugin>>,
    shards: Vec<ShardHandle>,
    tokens: HashMap<String, HashSet<String>>,
    accepting: bool,
    session_timeout: u64,
    log_level: u8,
    /// For new PeerConnections (Admin set_slowlink_threshold changes it).
    slowlink_threshold: u32,
    set_log_level: LogLevelSetter,
    /// Plugin commands waiting to run once the current input is answered.
    pending: std::collections::VecDeque<cardea_plugins::Command>,
    outbox: Vec<(u64, Value)>,
    /// The core's own input, for answers that come back later (renegotiation).
    self_tx: Option<mpsc::UnboundedSender<CoreInput>>,
    /// The shared SIP endpoint, for plugin SIP.
    sip: Option<crate::sip::SipLink>,
    /// Plain RTP legs of SIP calls, by handle.
    rtp_legs: HashMap<u64, sip::RtpLegState>,
    rtp_port_range: (u16, u16),
    /// Ports of plain RTP sources, bound for plugins and parked until their source starts.
    ports: std::sync::Arc<crate::net::PortBank>,
    /// Plain RTP sources (Streaming mountpoints), by the plugin's source id.
    sources: HashMap<u64, sources::SourceState>,
    /// RTSP clients of sources, by the plugin's source id.
    rtsp: HashMap<u64, tokio::task::AbortHandle>,
    /// AudioBridge mixers, by room: the shard each runs on.
    mixers: HashMap<u64, mixers::MixerState>,
    /// Janus recordings under way, by the stream they record.
    recordings: HashMap<(cardea_plugins::RecordTarget, String), recordings::RecordingState>,
    next_recording: u64,
    /// The writer thread of recordings.
    recordings_out: crate::net::MjrFiles,
}

impl Core {
    pub fn new(
        config: Config,
        shards: Vec<ShardHandle>,
        recordings_out: crate::net::MjrFiles,
        set_log_level: LogLevelSetter,
        sip: Option<crate::sip::SipLink>,
        env: &cardea_plugins::PluginEnv,
    ) -> Self {
        let rtp_port_range =
            crate::net::parse_port_range(&config.media.rtp_port_range).unwrap_or((20_000, 40_000));
        let ports =
            std::sync::Arc::new(crate::net::PortBank::new(config.media.bind, rtp_port_range));
        let env = cardea_plugins::PluginEnv {
            ports: Some(cardea_plugins::Ports(ports.clone())),
            ..env.clone()
        };
        let plugins: Vec<Box<dyn Plugin>> = cardea_plugins::all(&env)
            .into_iter()
            .filter(|p| !config.plugins.disable.iter().any(|d| d == p.info().package))
            .collect();
        let every_plugin: HashSet<String> = plugins
            .iter()
            .map(|p| p.info().package.to_owned())
            .collect();
        let tokens = config
            .general
            .tokens
            .iter()
            .map(|t| (t.clone(), every_plugin.clone()))
            .collect();
        Self {
            started: Instant::now(),
            sessions: HashMap::new(),
            handles: HashMap::new(),
            plugins,
            shards,
            tokens,
            accepting: config.general.accept_new_sessions,
            session_timeout: config.general.session_timeout,
            log_level: config.general.debug_level,
            slowlink_threshold: config.media.slowlink_threshold,
            set_log_level,
            pending: Default::default(),
            outbox: Vec::new(),
            self_tx: None,
            sip,
            rtp_legs: HashMap::new(),
            rtp_port_range,
            ports,
            sources: HashMap::new(),
            rtsp: HashMap::new(),
            mixers: HashMap::new(),
            recordings: HashMap::new(),
            next_recording: 0,
            recordings_out,
            config,
        }
    }

    /// Starts the core loop and its clock; returns the handle transports use.
    pub fn spawn(
        mut self,
        media_events: mpsc::UnboundedReceiver<MediaEvent>,
        sip_events: Option<mpsc::UnboundedReceiver<(u64, cardea_plugins::SipIn)>>,
    ) -> CoreHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        self.self_tx = Some(tx.clone());
        let handle = CoreHandle { tx: tx.clone() };
        let tick = tx.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(500));
            loop {
                interval.tick().await;
                if tick.send(CoreInput::Tick).is_err() {
                    break;
                }
            }
        });
        if let Some(mut sip_events) = sip_events {
            let core = tx.clone();
            tokio::spawn(async move {
                while let Some((handle, event)) = sip_events.recv().await {
                    if core.send(CoreInput::Sip { handle, event }).is_err() {
                        break;
                    }
                }
            });
        }
        let media = tx;
        tokio::spawn(async move {
            let mut events = media_events;
            while let Some(e) = events.recv().await {
                if media.send(CoreInput::Media(e)).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(self.run(rx));
        handle
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<CoreInput>) {
        while let Some(input) = rx.recv().await {
            // A bug in one request or plugin must not take every session down: the core
            // keeps serving (the failed request's reply channel is dropped, so its
            // transport answers with an error).
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle_input(input)));
            if outcome.is_err() {
                tracing::error!("BUG: the core caught a panic while handling an input; it goes on");
                self.pending.clear();
                self.outbox.clear();
            }
        }
    }

    fn handle_input(&mut self, input: CoreInput) {
        {
            match input {
                CoreInput::Request {
                    body,
                    path,
                    origin,
                    admin,
                    reply,
                    permit,
                } => {
                    self.on_request(body, path, origin, admin, reply);
                    drop(permit);
                }
                CoreInput::LongPoll {
                    session,
                    maxev,
                    auth,
                    reply,
                } => self.on_long_poll(session, maxev, auth, reply),
                CoreInput::TransportGone { conn } => self.on_transport_gone(conn),
                CoreInput::Renegotiated {
                    handle,
                    transaction,
                    event,
                    offer,
                    result,
                } => self.on_renegotiated(handle, transaction, event, offer, result),
                CoreInput::Reoffered {
                    handle,
                    transaction,
                    event,
                    data,
                    result,
                } => self.on_reoffered(handle, transaction, event, data, result),
                CoreInput::Media(e) => {
                    let span = tracing::debug_span!("media", handle = e.leg.0);
                    let _entered = span.enter();
                    self.on_media_event(e)
                }
                CoreInput::AnswerApplied {
                    handle,
                    answer,
                    result,
                } => self.on_answer_applied(handle, answer, result),
                CoreInput::Sip { handle, event } => {
                    let span = tracing::debug_span!("sip", handle);
                    let _entered = span.enter();
                    self.on_sip(handle, event)
                }
                CoreInput::Rtsp { source, report } => {
                    self.on_rtsp(source, report);
                    self.run_deferred();
                }
                CoreInput::Tick => self.on_tick(),
            }
        }
    }

    fn on_request(
        &mut self,
        body: Result<Value, ApiError>,
        path: Path,
        origin: Origin,
        admin: bool,
        reply: Option<oneshot::Sender<Value>>,
    ) {
        let ws_tx = match &origin {
            Origin::Ws { tx, .. } => Some(tx.clone()),
            Origin::Http => None,
        };
        let answer = match body.map(|v| api::decode(v, path)) {
            Err(e) => api::error_reply(None, None, &e),
            Ok(Err(failed)) => {
                api::error_reply(failed.transaction.as_deref(), failed.session, &failed.error)
            }
            Ok(Ok(env)) => {
                let transaction = env.transaction.clone();
                let session = env.scope.session();
                let handle = match env.scope {
                    api::Scope::Handle { handle, .. } => Some(handle),
                    _ => None,
                };
                let span = tracing::info_span!("request", verb = %env.verb, session, handle, admin);
                let _entered = span.enter();
                let result = if admin {
                    self.admin_request(env)
                } else {
                    self.janus_request(env, origin)
                };
                match result {
                    Ok(v) => v,
                    Err(e) => api::error_reply(Some(&transaction), session, &e),
                }
            }
        };
        // A recording the request starts or stops takes effect before the client hears of it.
        self.run_leading_recording_commands();
        // The reply goes out before anything else the request caused, on the same path.
        match (reply, ws_tx) {
            (Some(tx), _) => {
                let _ = tx.send(answer);
            }
            (None, Some(ws)) => {
                let _ = ws.send(answer);
            }
            (None, None) => {}
        }
        // Plugin commands queued while handling the request run after the reply.
        self.run_deferred();
    }

    fn on_long_poll(
        &mut self,
        id: u64,
        maxev: usize,
        auth: Auth,
        reply: oneshot::Sender<Result<Vec<String>, LongPollError>>,
    ) {
        if !self.authorized(auth.apisecret.as_deref(), auth.token.as_deref()) {
            let _ = reply.send(Err(LongPollError::Unauthorized));
            return;
        }
        let Some(session) = self.sessions.get_mut(&id) else {
            let _ = reply.send(Err(LongPollError::NoSession));
            return;
        };
        session.last_activity = Instant::now();
        if let Sink::Orphaned { .. } = session.sink {
            session.sink = Sink::long_poll();
        }
        let (tx, rx) = oneshot::channel::<Vec<String>>();
        match &mut session.sink {
            Sink::LongPoll { waiter, .. } => {
                // A newer poll replaces an older one; the older answers keepalive.
                if let Some((_, old)) = waiter.take() {
                    let _ = old.send(Vec::new());
                }
                *waiter = Some((maxev.max(1), tx));
            }
            _ => {
                // Events of WebSocket sessions go to the socket; the poll just idles.
                drop(tx);
            }
        }
        session.sink.flush();
        tokio::spawn(async move {
            let events = rx.await.unwrap_or_default();
            let _ = reply.send(Ok(events));
        });
    }

    fn on_transport_gone(&mut self, conn: ConnId) {
        let owned: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| matches!(s.sink, Sink::Ws { conn: c, .. } if c == conn))
            .map(|s| s.id)
            .collect();
        let now = Instant::now();
        for id in owned {
            if self.config.general.reclaim_session_timeout > 0 {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.sink = Sink::Orphaned { since: now };
                }
            } else {
                tracing::info!(session = id, "WebSocket closed: destroying its session");
                self.destroy_session(id);
            }
        }
        self.run_deferred();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let timeout = self.session_timeout;
        let reclaim = self.config.general.reclaim_session_timeout;
        let mut expired = Vec::new();
        let mut orphans = Vec::new();
        for s in self.sessions.values() {
            let timeout = s.timeout.unwrap_or(timeout);
            if timeout > 0 && now.duration_since(s.last_activity) >= Duration::from_secs(timeout) {
                expired.push(s.id);
            } else if let Sink::Orphaned { since } = s.sink {
                if now.duration_since(since) >= Duration::from_secs(reclaim) {
                    orphans.push(s.id);
                }
            }
        }
        for id in expired {
            tracing::info!(session = id, "session timed out");
            if let Some(s) = self.sessions.get_mut(&id) {
                s.sink
                    .push(serde_json::json!({ "janus": "timeout", "session_id": id }));
            }
            self.destroy_session(id);
        }
        for id in orphans {
            tracing::info!(session = id, "session not reclaimed in time");
            self.destroy_session(id);
        }
        for plugin in &mut self.plugins {
            let mut ctx = cardea_plugins::Ctx::default();
            plugin.handle_timeout(&mut ctx);
            self.pending.extend(ctx.commands);
        }
        self.run_deferred();
    }

    /// api_secret or a stored token, when either is required (Janus accepts either).
    fn authorized(&self, apisecret: Option<&str>, token: Option<&str>) -> bool {
        let secret = self.config.general.api_secret.as_deref();
        let token_auth = self.config.general.token_auth;
        if secret.is_none() && !token_auth {
            return true;
        }
        if let (Some(want), Some(got)) = (secret, apisecret) {
            if crate::auth::constant_time_eq(want.as_bytes(), got.as_bytes()) {
                return true;
            }
        }
        if token_auth {
            if let Some(t) = token {
                return self.tokens.contains_key(t);
            }
        }
        false
    }

    fn new_id(&self) -> u64 {
        loop {
            let id = rand::random::<u64>() & ((1u64 << 53) - 1);
            if id != 0 && !self.sessions.contains_key(&id) && !self.handles.contains_key(&id) {
                return id;
            }
        }
    }

    fn shard_for(&self, handle: u64) -> usize {
        if let Some(shard) = self.handles.get(&handle).and_then(|h| h.shard) {
            return shard;
        }
        (handle % self.shards.len() as u64) as usize
    }

    fn media(&self, shard: usize, command: MediaCommand) {
        if let Some(s) = self.shards.get(shard) {
            s.send(command);
        }
    }

    fn leg_config(&self, shard: usize) -> Option<&LegConfig> {
        self.shards.get(shard).map(|s| &s.leg_config)
    }

    /// Pushes an event to the session's transport.
    /// Queues an event for the session's transport; it leaves after the reply to the
    /// request being handled (Janus clients expect `success` before `detached`).
    fn push(&mut self, session: u64, event: Value) {
        self.outbox.push((session, event));
    }

    fn flush_outbox(&mut self) {
        for (session, event) in std::mem::take(&mut self.outbox) {
            if let Some(s) = self.sessions.get_mut(&session) {
                s.sink.push(event);
            }
        }
    }
}
