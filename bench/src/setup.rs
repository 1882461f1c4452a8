//! Bringing one EchoTest session up over the Janus HTTP API (janus-api.md §1.2, §4.1):
//! create → attach → message with the offer → answer event → media loop adopts the peer →
//! `webrtcup`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::janus::JanusApi;
use crate::media::{Command, MediaDoor};
use crate::peer::{Offerer, PeerKit};

/// The time bounds of a run: set-up ends at `setup`; the results of set-up workers stuck
/// in a request come at most one request bound later (`results`); past `hard_stop` the
/// media thread ends whatever happens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub setup: Instant,
    pub results: Instant,
    pub hard_stop: Instant,
}

impl Deadlines {
    pub fn new(
        start: Instant,
        setup_timeout: Duration,
        warmup: Duration,
        duration: Duration,
    ) -> Self {
        let setup = start + setup_timeout;
        let results = setup + crate::janus::REQUEST_WITHIN + Duration::from_secs(1);
        let hard_stop = results + warmup + duration + crate::echotest::DRAIN * 4;
        Self {
            setup,
            results,
            hard_stop,
        }
    }
}

const PLUGIN: &str = "janus.plugin.echotest";
/// A long poll is held by the server about 30 s; ask for no more than this at once.
const LONG_POLL: Duration = Duration::from_secs(30);

/// A session whose PeerConnection is up.
#[derive(Debug, Clone, Copy)]
pub struct Established {
    pub session: u64,
    /// `create` sent → `webrtcup` received.
    pub setup: Duration,
}

/// A session that did not come up; `session` is set when there is one to destroy.
#[derive(Debug, Clone)]
pub struct SetupFailure {
    pub session: Option<u64>,
    pub reason: String,
}

/// Takes the set-up results of `expected` sessions (or calls: `what`) from `results` until
/// `deadline`; returns those up, those that failed, and the failures' reasons (with a line
/// for the ones still setting up at the deadline).
pub fn gather<T>(
    results: &std::sync::mpsc::Receiver<Result<T, SetupFailure>>,
    expected: usize,
    deadline: Instant,
    what: &str,
) -> (Vec<T>, Vec<SetupFailure>, Vec<String>) {
    let mut up: Vec<T> = Vec::new();
    let mut failures: Vec<SetupFailure> = Vec::new();
    while up.len() + failures.len() < expected {
        let left = deadline.saturating_duration_since(Instant::now());
        match results.recv_timeout(left) {
            Ok(Ok(u)) => up.push(u),
            Ok(Err(f)) => failures.push(f),
            Err(_) => break,
        }
    }
    let unanswered = expected - up.len() - failures.len();
    let mut errors: Vec<String> = failures.iter().map(|f| f.reason.clone()).collect();
    if unanswered > 0 {
        errors.push(format!(
            "{unanswered} {what} still setting up at the deadline"
        ));
    }
    (up, failures, errors)
}

/// Brings session `index` up, or says why not, by `deadline`.
pub fn establish(
    janus: &JanusApi,
    kit: &PeerKit,
    media: &MediaDoor,
    index: u32,
    start: Instant,
    deadline: Instant,
) -> Result<Established, SetupFailure> {
    let began = Instant::now();
    let session = janus.create().map_err(|e| SetupFailure {
        session: None,
        reason: e.to_string(),
    })?;
    let fail = |reason: String| SetupFailure {
        session: Some(session),
        reason: format!("session {index}: {reason}"),
    };
    let handle = janus
        .attach(session, PLUGIN)
        .map_err(|e| fail(e.to_string()))?;
    let (offerer, offer) =
        Offerer::new(kit, index, Instant::now()).map_err(|e| fail(e.to_string()))?;
    let body = json!({"audio": true, "video": kit.plan.video.is_some()});
    let jsep = json!({"type": "offer", "sdp": offer, "trickle": false});
    janus
        .message(session, handle, body, Some(jsep))
        .map_err(|e| fail(e.to_string()))?;

    let mut events = EventWaiter::new(janus, session);
    let answer = events
        .wait_for("the answer", deadline, |e| e["jsep"]["type"] == "answer")
        .map_err(fail)?;
    let sdp = answer["jsep"]["sdp"]
        .as_str()
        .ok_or_else(|| fail(format!("answer without sdp: {answer}")))?;
    let peer = offerer
        .accept(sdp, start)
        .map_err(|e| fail(e.to_string()))?;
    if !media.send(Command::Adopt(Box::new(peer))) {
        return Err(fail("the media thread is gone".into()));
    }
    events
        .wait_for("webrtcup", deadline, |e| e["janus"] == "webrtcup")
        .map_err(fail)?;
    Ok(Established {
        session,
        setup: began.elapsed(),
    })
}

/// Long polls one session and hands out its events in order, keeping the ones not asked
/// for yet (one poll may return several).
pub(crate) struct EventWaiter<'a> {
    janus: &'a JanusApi,
    session: u64,
    backlog: VecDeque<Value>,
}

impl<'a> EventWaiter<'a> {
    pub(crate) fn new(janus: &'a JanusApi, session: u64) -> Self {
        EventWaiter {
            janus,
            session,
            backlog: VecDeque::new(),
        }
    }

    /// Events fetched but not handed out yet.
    pub(crate) fn into_backlog(self) -> Vec<Value> {
        self.backlog.into()
    }

    /// The first event matching `wanted`; a plugin error, a `hangup` or `detached` (of the
    /// PeerConnection, or a SIP plugin `hangup` / `registration_failed`) before it is a
    /// failure, and so is `deadline`.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        deadline: Instant,
        wanted: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        loop {
            while let Some(event) = self.backlog.pop_front() {
                if wanted(&event) {
                    return Ok(event);
                }
                let verb = event["janus"].as_str().unwrap_or_default();
                let data = &event["plugindata"]["data"];
                let plugin_event = data["result"]["event"].as_str().unwrap_or_default();
                if matches!(verb, "hangup" | "detached" | "error" | "timeout")
                    || !data["error"].is_null()
                    || matches!(plugin_event, "hangup" | "registration_failed")
                {
                    return Err(format!("waiting for {what}: {event}"));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no {what} before the setup deadline"));
            }
            let events = self
                .janus
                .poll(self.session, left.min(LONG_POLL))
                .map_err(|e| format!("waiting for {what}: {e}"))?;
            self.backlog.extend(events);
        }
    }
}
