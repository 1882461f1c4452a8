//! One call through the SIP plugin over the Janus HTTP API (janus-api.md §4.2), as a Janus
//! client makes it: create → attach `janus.plugin.sip` → `register` as a guest (no REGISTER
//! is sent; event `registered`) → `call` with a PCMU-only offer → `calling`, `ringing` /
//! `proceeding` → `accepted` carrying the answer → the media loop adopts the peer →
//! `webrtcup`. At the end, [`hang_up`]: `hangup` → `hangingup` → `hangup`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::janus::JanusApi;
use crate::media::{Command, MediaDoor};
use crate::peer::{Offerer, PeerKit};
use crate::setup::{EventWaiter, SetupFailure};

pub const PLUGIN: &str = "janus.plugin.sip";

/// A call whose SIP dialog and PeerConnection are both up.
#[derive(Debug, Clone)]
pub struct CallUp {
    pub index: u32,
    pub session: u64,
    pub handle: u64,
    /// `create` sent → `webrtcup` received: the whole set-up as a client sees it.
    pub setup: Duration,
    /// `call` sent → `accepted` received: the SIP leg (INVITE → 200 → ACK) and the plugin.
    pub call: Duration,
    /// When `create` was sent and `webrtcup` came, µs since the run started.
    pub began_us: u64,
    pub up_us: u64,
    /// Events fetched after `webrtcup` (looked at again at hang-up).
    pub leftover: Vec<Value>,
}

/// What one call target looks like: the URI called and the guest username's host.
#[derive(Debug, Clone)]
pub struct Dial {
    pub target: String,
    pub user_host: String,
}

/// The name of an event: the SIP plugin's `result.event`, `error` for a plugin error, else
/// the Janus verb (`webrtcup`, `media`, `hangup`, `slowlink`, …).
pub fn event_name(event: &Value) -> String {
    let data = &event["plugindata"]["data"];
    if let Some(name) = data["result"]["event"].as_str() {
        return name.to_owned();
    }
    if !data["error"].is_null() {
        return "error".to_owned();
    }
    event["janus"].as_str().unwrap_or("?").to_owned()
}

fn plugin_event(event: &Value) -> &str {
    event["plugindata"]["data"]["result"]["event"]
        .as_str()
        .unwrap_or_default()
}

/// Brings call `index` up, or says why not, by `deadline`.
#[allow(clippy::too_many_arguments)]
pub fn establish(
    janus: &JanusApi,
    kit: &PeerKit,
    media: &MediaDoor,
    dial: &Dial,
    index: u32,
    start: Instant,
    deadline: Instant,
) -> Result<CallUp, SetupFailure> {
    let began = Instant::now();
    let session = janus.create().map_err(|e| SetupFailure {
        session: None,
        reason: format!("call {index}: {e}"),
    })?;
    let fail = |reason: String| SetupFailure {
        session: Some(session),
        reason: format!("call {index}: {reason}"),
    };
    let handle = janus
        .attach(session, PLUGIN)
        .map_err(|e| fail(e.to_string()))?;
    let mut events = EventWaiter::new(janus, session);

    let username = format!("sip:load{index}@{}", dial.user_host);
    janus
        .message(
            session,
            handle,
            json!({"request": "register", "type": "guest", "username": username}),
            None,
        )
        .map_err(|e| fail(e.to_string()))?;
    events
        .wait_for("registered", deadline, |e| plugin_event(e) == "registered")
        .map_err(fail)?;

    let (offerer, offer) =
        Offerer::new(kit, index, Instant::now()).map_err(|e| fail(e.to_string()))?;
    let calling = Instant::now();
    janus
        .message(
            session,
            handle,
            json!({"request": "call", "uri": dial.target}),
            Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
        )
        .map_err(|e| fail(e.to_string()))?;
    // The answer comes with `accepted`, or earlier with `progress` (183 with SDP).
    let answer = events
        .wait_for("the answer", deadline, |e| e["jsep"]["type"] == "answer")
        .map_err(fail)?;
    if plugin_event(&answer) != "accepted" {
        events
            .wait_for("accepted", deadline, |e| plugin_event(e) == "accepted")
            .map_err(fail)?;
    }
    let call = calling.elapsed();
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
    let micros = |t: Instant| t.saturating_duration_since(start).as_micros() as u64;
    Ok(CallUp {
        index,
        session,
        handle,
        setup: began.elapsed(),
        call,
        began_us: micros(began),
        up_us: micros(Instant::now()),
        leftover: events.into_backlog(),
    })
}

/// How a call ended.
#[derive(Debug, Clone, Default)]
pub struct HangupOutcome {
    /// `hangup` sent → the plugin's `hangup` event, when it came.
    pub took: Option<Duration>,
    /// `"<code> <reason>"` of that event.
    pub reason: Option<String>,
    /// The call had ended before we asked: a `hangup` (of the SIP call or the
    /// PeerConnection) came before our `hangingup`, and our request was refused instead of
    /// acknowledged with `hangingup` (or nothing came). The events, as received.
    pub ended_early: Option<String>,
    /// The plugin's `hangup` came before its `hangingup` for our request, and `hangingup`
    /// did follow: the two events were pushed out of order (a race between the thread that
    /// handles our request and the one that gets the 200 to the BYE), not a lost call.
    pub out_of_order: bool,
    /// Names of the events seen between `webrtcup` and our `hangingup` (or the `hangup`
    /// that came first).
    pub during_call: Vec<String>,
    /// Why hanging up went wrong (request refused, no event in time).
    pub error: Option<String>,
}

/// Hangs the call up and waits for the plugin's `hangup` event, by `deadline`. Events queued
/// during the call come first, so a call that had already ended shows as `ended_early`.
pub fn hang_up(janus: &JanusApi, call: &CallUp, deadline: Instant) -> HangupOutcome {
    let mut out = HangupOutcome::default();
    let asked = Instant::now();
    if let Err(e) = janus.message(
        call.session,
        call.handle,
        json!({"request": "hangup"}),
        None,
    ) {
        out.error = Some(format!("call {}: hangup: {e}", call.index));
    }
    let mut hanging_up = false;
    // Ending events seen before our `hangingup`, as received.
    let mut early: Vec<String> = Vec::new();
    let mut pending: Vec<Value> = call.leftover.clone();
    loop {
        for event in pending.drain(..) {
            let name = event_name(&event);
            if plugin_event(&event) == "hangup" && out.took.is_none() {
                let result = &event["plugindata"]["data"]["result"];
                out.took = Some(asked.elapsed());
                out.reason = Some(format!(
                    "{} {}",
                    result["code"],
                    result["reason"].as_str().unwrap_or_default()
                ));
            }
            if hanging_up {
                continue;
            }
            match name.as_str() {
                "hangingup" => hanging_up = true,
                "hangup" | "detached" | "timeout" => early.push(event.to_string()),
                "error" => {
                    // Our request refused: the call was gone (or never was).
                    early.push(event.to_string());
                    out.ended_early = Some(early.join(" then "));
                    out.took = None;
                    return out;
                }
                _ if early.is_empty() => out.during_call.push(name),
                _ => {}
            }
        }
        let sip_hangup_seen = out.took.is_some();
        if hanging_up && sip_hangup_seen {
            out.out_of_order = !early.is_empty();
            return out;
        }
        if out.error.is_some() {
            return out;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if !hanging_up && !early.is_empty() {
                out.ended_early = Some(early.join(" then "));
                out.took = None;
            } else {
                out.error = Some(format!(
                    "call {}: no hangup event in time (hangingup seen: {hanging_up})",
                    call.index
                ));
            }
            return out;
        }
        match janus.poll(call.session, left.min(Duration::from_secs(30))) {
            Ok(events) => pending = events,
            Err(e) => {
                out.error = Some(format!("call {}: waiting for hangup: {e}", call.index));
                return out;
            }
        }
    }
}
