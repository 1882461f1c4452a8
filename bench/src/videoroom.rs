//! Scenario `videoroom`: one publisher and N subscribers in one `janus.plugin.videoroom`
//! room; the server fans the publisher's opus and VP8 out to every subscriber.
//!
//! Phases, each bounded: room (`create` with a random id, unless `--room` names one) →
//! publisher (`joinandconfigure` with our offer → answer → `webrtcup`) → subscribers, a few
//! at a time (`join` ptype subscriber → the server's offer → `start` with our answer →
//! `webrtcup`), all within `setup_timeout` → warm-up → measuring window (server and client
//! `/proc` sampled at both ends) → drain → teardown (`destroy` the room if we made it, then
//! every session) → report.
//!
//! Every packet the publisher sends carries a probe with its send time, and every
//! subscriber books what it received against the publisher's ledger: loss, duplicates and
//! one-way latency publisher → server → subscriber on one clock.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use crate::echotest::{Keeper, LoadError, Window};
use crate::fanout::{
    drain, in_parallel, measure, receive, Ask, Fanout, Receiver, Sender, Sessions,
};
use crate::janus::JanusApi;
use crate::media::{Command, MediaDoor, MediaThread};
use crate::payload::{MIN_AUDIO_SIZE, MIN_VIDEO_SIZE};
use crate::peer::{MediaPlan, Offerer, PeerKit};
use crate::procfs::Process;
use crate::setup::{Deadlines, EventWaiter, SetupFailure};

const PLUGIN: &str = "janus.plugin.videoroom";
/// The publisher's peer index (the probes' `peer` field); subscribers are 1..=N.
const PUBLISHER: u32 = 0;

/// What to run.
#[derive(Debug, Clone)]
pub struct VideoroomConfig {
    /// Janus HTTP API root, `http://127.0.0.1:8088/janus`.
    pub server: String,
    /// Subscribers (one session, handle and PeerConnection each).
    pub subscribers: u32,
    /// An existing room to use; `None` creates one (and destroys it at the end).
    pub room: Option<u64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub audio_size: usize,
    /// VP8 packets per second the publisher sends; 0 for audio only.
    pub video_pps: u32,
    pub video_size: usize,
    pub keyframe_interval: Duration,
    /// The server's process, to read its CPU time and memory.
    pub server_pid: Option<u32>,
    /// Local address of the peers' sockets.
    pub bind: IpAddr,
    /// Bound on bringing the publisher and every subscriber up.
    pub setup_timeout: Duration,
    /// Subscribers set up at the same time.
    pub setup_concurrency: u32,
}

impl VideoroomConfig {
    fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        if self.subscribers == 0 {
            return bad("at least one subscriber".into());
        }
        if self.duration.is_zero() {
            return bad("the duration must be positive".into());
        }
        if self.audio_size < MIN_AUDIO_SIZE || self.audio_size > 1200 {
            return bad(format!("audio size must be {MIN_AUDIO_SIZE}..=1200 bytes"));
        }
        if self.video_pps > 0 && (self.video_size < MIN_VIDEO_SIZE || self.video_size > 1200) {
            return bad(format!("video size must be {MIN_VIDEO_SIZE}..=1200 bytes"));
        }
        if self.video_pps > 10_000 {
            return bad("at most 10000 video packets per second".into());
        }
        Ok(())
    }
}

/// The result of one run: one JSON line. Units are in the field names; `null` means "not
/// measured".
#[derive(Debug, Clone, Serialize)]
pub struct VideoroomReport {
    pub scenario: &'static str,
    pub server: String,
    pub room: Option<u64>,
    /// Whether we created the room (and destroyed it at the end).
    pub room_created: bool,
    pub publisher_connected: bool,
    pub subscribers: u32,
    /// Subscribers whose PeerConnection came up (`webrtcup`).
    pub subscribers_connected: u32,
    pub subscribers_failed: u32,
    /// Subscribers that received at least one packet sent inside the window.
    pub subscribers_receiving: u32,
    /// What the publisher sends: opus packets/s and size, VP8 packets/s and size.
    pub audio_pps: u32,
    pub audio_size: usize,
    pub video_pps: u32,
    pub video_size: usize,
    pub warmup_s: f64,
    pub window_s: f64,
    /// Probes the publisher sent inside the window.
    pub published_packets: u64,
    /// Those times the connected subscribers: what they should have received.
    pub expected_packets: u64,
    pub lost_packets: u64,
    /// Lost over expected, all subscriber streams together; the video streams alone; the
    /// worst single subscriber; how many subscribers lost anything.
    pub loss_pct: f64,
    pub video_loss_pct: f64,
    pub worst_subscriber_loss_pct: f64,
    pub subscribers_with_loss: u32,
    pub duplicate_packets: u64,
    /// Packets carrying another peer's probe or a sequence never sent: misrouting.
    pub foreign_packets: u64,
    /// Packets/s the publisher sent, and packets/s all subscribers received in the window.
    pub offered_pps: f64,
    pub relayed_pps: f64,
    /// One way, publisher → server → subscriber, of probes sent in the window.
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
    /// Publisher: `create` → `webrtcup`.
    pub publisher_setup_ms: Option<f64>,
    /// Subscribers: `join` sent → `webrtcup` received.
    pub setup_ms_p50: Option<f64>,
    pub setup_ms_p99: Option<f64>,
    /// Subscribers: `join` sent → first media packet received.
    pub first_media_ms_p50: Option<f64>,
    pub first_media_ms_p99: Option<f64>,
    /// Key frame requests (PLI/FIR) the publisher got from the server, and key frames it sent.
    pub keyframe_requests: u64,
    pub keyframes_sent: u64,
    pub server_pid: Option<u32>,
    /// Server CPU time (user + system) over the window per packet the subscribers received
    /// in the window.
    pub server_cpu_us_per_packet: Option<f64>,
    /// Server CPU over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server resident memory at the end of the window, and its growth since before the room
    /// was made divided by the connected sessions (publisher and subscribers).
    pub server_rss_kib: Option<u64>,
    pub server_rss_kib_per_session: Option<f64>,
    /// Server threads at the end of the window.
    pub server_threads: Option<u32>,
    /// This tool's CPU over the window, percent of one core (the media thread is the busy
    /// one: near 100 the client is saturated).
    pub client_cpu_pct: f64,
    pub client_send_errors: u64,
    pub client_skipped_packets: u64,
    /// Kernel drops for full receive buffers during the window (host- or namespace-wide),
    /// and drops on this tool's own sockets over the run.
    pub udp_rcvbuf_errors: Option<u64>,
    pub client_socket_drops: Option<u64>,
    pub errors: Vec<String>,
}

/// The publisher, up.
struct Published {
    feed: u64,
    setup: Duration,
}

/// Runs the scenario and reports. Always returns within about
/// `setup_timeout + warmup + duration + 30 s` (plus the teardown's bounded requests).
pub fn run(config: &VideoroomConfig) -> Result<VideoroomReport, LoadError> {
    config.validate()?;
    let start = Instant::now();
    let server = config.server_pid.map(Process::Pid);
    let rss_before = server.map(Process::sample).transpose()?.map(|s| s.rss_kib);

    let kit = PeerKit::new(
        config.bind,
        MediaPlan::opus_vp8(
            config.audio_size,
            config.video_pps,
            config.video_size,
            config.keyframe_interval,
        ),
    )
    .ok_or(LoadError::Certificate)?;
    let Deadlines {
        setup: setup_deadline,
        results: results_deadline,
        hard_stop,
    } = Deadlines::new(start, config.setup_timeout, config.warmup, config.duration);
    let media = MediaThread::spawn(hard_stop)?;
    let janus = JanusApi::new(&config.server);
    let mut errors: Vec<String> = Vec::new();
    // Every session we made, to keep alive and to destroy.
    let sessions = Sessions::default();

    // The room.
    let control = sessions.open(&janus, PLUGIN);
    let (room, room_created) = match (&control, config.room) {
        (Err(e), _) => {
            errors.push(format!("control session: {e}"));
            (config.room, false)
        }
        (Ok(_), Some(room)) => (Some(room), false),
        (Ok((session, handle)), None) => match create_room(&janus, *session, *handle) {
            Ok(room) => (Some(room), true),
            Err(e) => {
                errors.push(format!("creating the room: {e}"));
                (None, false)
            }
        },
    };

    // The publisher, then the subscribers.
    let publisher = match room {
        Some(room) => {
            match publish(
                &janus,
                &kit,
                &media.door(),
                room,
                start,
                setup_deadline,
                &sessions,
            ) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(format!("publisher: {}", e.reason));
                    None
                }
            }
        }
        None => None,
    };
    let mut subscribed: Vec<Receiver> = Vec::new();
    if let (Some(room), Some(p)) = (room, &publisher) {
        let (janus, kit, door, sessions) =
            (janus.clone(), kit.clone(), media.door(), sessions.clone());
        let join = json!({
            "request": "join",
            "ptype": "subscriber",
            "room": room,
            "streams": [{"feed": p.feed}],
        });
        let (up, setup_errors) = in_parallel(
            config.subscribers,
            config.setup_concurrency,
            results_deadline,
            "subscribers",
            move |index| {
                let ask = Ask {
                    who: "subscriber",
                    plugin: PLUGIN,
                    index,
                    source: PUBLISHER,
                    request: join.clone(),
                    start: json!({"request": "start", "room": room}),
                };
                receive(&janus, &kit, &door, &sessions, ask, start, setup_deadline)
            },
        );
        subscribed = up;
        errors.extend(setup_errors);
    }

    let keeper = Keeper::spawn(janus.clone(), sessions.all().into_iter());

    // Warm-up, then the measuring window.
    let window = if publisher.is_some() && !subscribed.is_empty() {
        measure(config, start, server, &mut errors)
    } else {
        Window::default()
    };
    let (peers, client_socket_drops) = drain(media)?;
    keeper.stop();

    // Teardown: the room if we made it, then every session, each request bounded.
    if let (Ok((session, handle)), Some(room), true) = (&control, room, room_created) {
        let body = json!({"request": "destroy", "room": room});
        if let Err(e) = janus.message(*session, *handle, body, None) {
            errors.push(format!("destroying room {room}: {e}"));
        }
    }
    sessions.destroy_all(&janus);

    let publisher_peer = peers.iter().find(|p| p.index == PUBLISHER);
    let sender = publisher.zip(publisher_peer).map(|(p, peer)| Sender {
        ledger: &peer.ledger,
        setup: p.setup,
        keyframe_requests: peer.keyframe_requests,
        keyframes_sent: peer.keyframes_sent,
        // Counted with the other peers'.
        send_errors: 0,
        skipped: 0,
    });
    Ok(Fanout {
        scenario: "videoroom",
        config,
        room,
        room_created,
        sender,
        sender_sessions: 1,
        peers: &peers,
        receivers: &subscribed,
        window: &window,
        rss_before,
        client_socket_drops,
        errors,
    }
    .report())
}

/// `create` a room with a random id: one publisher, no bitrate cap, no periodic PLI.
fn create_room(janus: &JanusApi, session: u64, handle: u64) -> Result<u64, String> {
    let mut last = String::new();
    for attempt in 0..3u64 {
        let room = random_room_id(attempt);
        let body = json!({
            "request": "create",
            "room": room,
            "description": format!("cardea-load {room}"),
            "publishers": 1,
            "bitrate": 0,
            "fir_freq": 0,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": false,
        });
        let reply = janus
            .message(session, handle, body, None)
            .map_err(|e| e.to_string())?;
        let data = &reply["plugindata"]["data"];
        if data["videoroom"] == "created" {
            return Ok(data["room"].as_u64().unwrap_or(room));
        }
        last = data.to_string();
        // 427: the room exists; try another id.
        if data["error_code"] != 427 {
            break;
        }
    }
    Err(format!("server answered {last}"))
}

/// A room id unlikely to be taken: from the clock and our pid, below 2^53 (JSON numbers).
fn random_room_id(attempt: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ attempt.wrapping_mul(0x9e37_79b9);
    100_000_000 + mixed % 1_000_000_000_000
}

/// The publisher: `joinandconfigure` with our offer, the answer, `webrtcup`.
fn publish(
    janus: &JanusApi,
    kit: &PeerKit,
    media: &MediaDoor,
    room: u64,
    start: Instant,
    deadline: Instant,
    sessions: &Sessions,
) -> Result<Published, SetupFailure> {
    let began = Instant::now();
    let fail = |reason: String| SetupFailure {
        session: None,
        reason,
    };
    let (session, handle) = sessions.open(janus, PLUGIN).map_err(fail)?;
    let (offerer, offer) =
        Offerer::new(kit, PUBLISHER, Instant::now()).map_err(|e| fail(e.to_string()))?;
    let body = json!({
        "request": "joinandconfigure",
        "ptype": "publisher",
        "room": room,
        "display": "cardea-load publisher",
        "audio": true,
        "video": kit.plan.video.is_some(),
    });
    let jsep = json!({"type": "offer", "sdp": offer, "trickle": false});
    janus
        .message(session, handle, body, Some(jsep))
        .map_err(|e| fail(e.to_string()))?;
    let mut events = EventWaiter::new(janus, session);
    let answer = events
        .wait_for("the publisher's answer", deadline, |e| {
            e["jsep"]["type"] == "answer"
        })
        .map_err(fail)?;
    let feed = answer["plugindata"]["data"]["id"]
        .as_u64()
        .ok_or_else(|| fail(format!("joined without a feed id: {answer}")))?;
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
        .wait_for("the publisher's webrtcup", deadline, |e| {
            e["janus"] == "webrtcup"
        })
        .map_err(fail)?;
    Ok(Published {
        feed,
        setup: began.elapsed(),
    })
}
