//! What a fan-out scenario needs whatever the plugin (`videoroom`, `streaming`): the sessions
//! of a run, receive-only peers set up in parallel, the measuring window, and the report of
//! one sender's probes fanned out to N receivers.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::echotest::{Window, DRAIN, MAX_ERRORS};
use crate::janus::JanusApi;
use crate::media::{Command, MediaDoor, MediaThread};
use crate::peer::{answerer, Peer, PeerKit, AUDIO_PPS};
use crate::probe::{FanoutTally, Ledger};
use crate::procfs::{udp_socket_drops, Process};
use crate::report::{percentile, round3, us_to_ms};
use crate::setup::{EventWaiter, SetupFailure};
use crate::videoroom::{VideoroomConfig, VideoroomReport};

/// Bound on each `destroy` at teardown.
const DESTROY_WITHIN: Duration = Duration::from_secs(2);
/// Sessions destroyed at the same time at teardown.
const DESTROYERS: usize = 8;

/// Every session a run made, to keep alive and to destroy at the end. Clones share the list.
#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<Vec<u64>>>);

impl Sessions {
    fn list(&self) -> MutexGuard<'_, Vec<u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn all(&self) -> Vec<u64> {
        self.list().clone()
    }

    /// A new session (noted here) and a handle on `plugin` in it.
    pub(crate) fn open(&self, janus: &JanusApi, plugin: &str) -> Result<(u64, u64), String> {
        let session = janus.create().map_err(|e| e.to_string())?;
        self.list().push(session);
        let handle = janus.attach(session, plugin).map_err(|e| e.to_string())?;
        Ok((session, handle))
    }

    /// `destroy` every session, [`DESTROYERS`] at a time, each request bounded.
    pub(crate) fn destroy_all(&self, janus: &JanusApi) {
        let sessions = self.all();
        let share = sessions.len().div_ceil(DESTROYERS).max(1);
        thread::scope(|scope| {
            for part in sessions.chunks(share) {
                scope.spawn(move || {
                    for &session in part {
                        let _ = janus.destroy(session, DESTROY_WITHIN);
                    }
                });
            }
        });
    }
}

/// How a receive-only peer asks for the media of peer `source`: `request` brings the
/// server's offer, `start` carries our answer; `who` names the peer in errors.
pub(crate) struct Ask {
    pub who: &'static str,
    pub plugin: &'static str,
    pub index: u32,
    pub source: u32,
    pub request: Value,
    pub start: Value,
}

/// A receive-only peer whose PeerConnection is up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receiver {
    pub index: u32,
    /// When it sent its request.
    pub asked_at: Instant,
    /// Request sent → `webrtcup`.
    pub setup: Duration,
}

/// One receive-only peer with its own session and handle: `ask.request` → the server's offer
/// → our answer in `ask.start` → `webrtcup`, by `deadline`.
pub(crate) fn receive(
    janus: &JanusApi,
    kit: &PeerKit,
    media: &MediaDoor,
    sessions: &Sessions,
    ask: Ask,
    start: Instant,
    deadline: Instant,
) -> Result<Receiver, SetupFailure> {
    let Ask { who, index, .. } = ask;
    let fail = |reason: String| SetupFailure {
        session: None,
        reason: format!("{who} {index}: {reason}"),
    };
    let (session, handle) = sessions.open(janus, ask.plugin).map_err(fail)?;
    let asked_at = Instant::now();
    janus
        .message(session, handle, ask.request, None)
        .map_err(|e| fail(e.to_string()))?;
    let mut events = EventWaiter::new(janus, session);
    let offered = events
        .wait_for(&format!("the {who}'s offer"), deadline, |e| {
            e["jsep"]["type"] == "offer"
        })
        .map_err(fail)?;
    let offer = offered["jsep"]["sdp"]
        .as_str()
        .ok_or_else(|| fail(format!("offer without sdp: {offered}")))?;
    let (peer, answer) =
        answerer(kit, index, ask.source, offer, start).map_err(|e| fail(e.to_string()))?;
    let jsep = json!({"type": "answer", "sdp": answer, "trickle": false});
    janus
        .message(session, handle, ask.start, Some(jsep))
        .map_err(|e| fail(e.to_string()))?;
    if !media.send(Command::Adopt(Box::new(peer))) {
        return Err(fail("the media thread is gone".into()));
    }
    let up = |e: &Value| e["janus"] == "webrtcup";
    events
        .wait_for(&format!("the {who}'s webrtcup"), deadline, up)
        .map_err(fail)?;
    Ok(Receiver {
        index,
        asked_at,
        setup: asked_at.elapsed(),
    })
}

/// Runs `one(1..=count)`, `workers` at a time, each on a thread of its own; takes the results
/// until `deadline` (see [`crate::setup::gather`]): those up, and the reasons of the others.
pub(crate) fn in_parallel<T: Send + 'static>(
    count: u32,
    workers: u32,
    deadline: Instant,
    what: &str,
    one: impl Fn(u32) -> Result<T, SetupFailure> + Send + Sync + 'static,
) -> (Vec<T>, Vec<String>) {
    let one = Arc::new(one);
    let (results_tx, results_rx) = mpsc::channel();
    let next = Arc::new(AtomicU32::new(1));
    for _ in 0..workers.clamp(1, count.max(1)) {
        let (one, next, tx) = (Arc::clone(&one), Arc::clone(&next), results_tx.clone());
        thread::spawn(move || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index > count || tx.send(one(index)).is_err() {
                return;
            }
        });
    }
    drop(results_tx);
    let (up, _, errors) = crate::setup::gather(&results_rx, count as usize, deadline, what);
    (up, errors)
}

/// The warm-up, then the measuring window, the server and this tool sampled at both ends.
pub(crate) fn measure(
    config: &VideoroomConfig,
    start: Instant,
    server: Option<Process>,
    errors: &mut Vec<String>,
) -> Window {
    let mut window = Window::default();
    thread::sleep(config.warmup);
    window.open(start, server, errors);
    thread::sleep(config.duration);
    window.close(start, server, errors);
    window
}

/// Stops the peers' sending, lets the last packets arrive and takes the peers back, with the
/// drops counted on their sockets.
pub(crate) fn drain(media: MediaThread) -> io::Result<(Vec<Peer>, Option<u64>)> {
    media.door().send(Command::StopSending);
    thread::sleep(DRAIN);
    let peers = media.finish()?;
    let ports: Vec<u16> = peers.iter().map(Peer::local_port).collect();
    Ok((peers, udp_socket_drops(&ports)))
}

/// What sent the probes of a fan-out, and how it went.
pub(crate) struct Sender<'a> {
    pub ledger: &'a Ledger,
    /// Bringing it up (for the RTP source: `create` → `created`).
    pub setup: Duration,
    /// Key frame requests (PLI/FIR) it got, and key frames it sent.
    pub keyframe_requests: u64,
    pub keyframes_sent: u64,
    /// Its own send errors and skipped packets, when it is not one of the peers.
    pub send_errors: u64,
    pub skipped: u64,
}

/// One sender's probes fanned out to receivers, measured over a window: what the report is
/// made of.
pub(crate) struct Fanout<'a> {
    pub scenario: &'static str,
    pub config: &'a VideoroomConfig,
    pub room: Option<u64>,
    pub room_created: bool,
    /// `None` when it never came up.
    pub sender: Option<Sender<'a>>,
    /// Sessions the sender holds, counted in the memory per session.
    pub sender_sessions: u32,
    /// Every peer of the media thread; receivers are found among them by index.
    pub peers: &'a [Peer],
    pub receivers: &'a [Receiver],
    pub window: &'a Window,
    /// Server RSS before the run made anything, KiB.
    pub rss_before: Option<u64>,
    pub client_socket_drops: Option<u64>,
    pub errors: Vec<String>,
}

impl Fanout<'_> {
    pub(crate) fn report(self) -> VideoroomReport {
        let Fanout { config, window, .. } = self;
        let mut errors = self.errors;
        for peer in self.peers {
            if let Some(why) = &peer.failure {
                errors.push(format!("peer {}: {why}", peer.index));
            }
        }
        let mut tally = FanoutTally::default();
        let mut receiving = 0;
        let mut first_media: Vec<u32> = Vec::new();
        let by_index = |index: u32| self.peers.iter().find(|p| p.index == index);
        if let Some(sender) = self.sender.as_ref().map(|s| s.ledger) {
            let (from, to) = (window.from_us, window.to_us);
            for receiver in self.receivers {
                let Some(peer) = by_index(receiver.index) else {
                    continue;
                };
                let got_before = tally.expected - tally.lost;
                peer.ledger.tally_received(sender, from, to, &mut tally);
                receiving += u32::from(tally.expected - tally.lost > got_before);
                if let Some(at) = peer.first_rtp_at {
                    let waited = at.saturating_duration_since(receiver.asked_at);
                    first_media.push(waited.as_micros() as u32);
                }
            }
        }
        tally.latency_us.sort_unstable();
        first_media.sort_unstable();
        let mut setups: Vec<u32> = self
            .receivers
            .iter()
            .map(|r| r.setup.as_micros() as u32)
            .collect();
        setups.sort_unstable();

        let share = |part: u64, whole: u64| round3(part as f64 * 100.0 / whole.max(1) as f64);
        let ms = |p: f64, v: &[u32]| percentile(v, p).map(us_to_ms);
        let connected = self.receivers.len() as u32;
        let published = tally.expected / u64::from(connected.max(1));
        let sender = self.sender.as_ref();
        let sessions_up = connected + sender.map_or(0, |_| self.sender_sessions);
        let (peer_send_errors, peer_skipped) = self
            .peers
            .iter()
            .fold((0, 0), |(e, s), p| (e + p.send_errors, s + p.skipped));
        errors.truncate(MAX_ERRORS);
        VideoroomReport {
            scenario: self.scenario,
            server: config.server.clone(),
            room: self.room,
            room_created: self.room_created,
            publisher_connected: sender.is_some(),
            subscribers: config.subscribers,
            subscribers_connected: connected,
            subscribers_failed: config.subscribers.saturating_sub(connected),
            subscribers_receiving: receiving,
            audio_pps: AUDIO_PPS,
            audio_size: config.audio_size,
            video_pps: config.video_pps,
            video_size: config.video_size * usize::from(config.video_pps > 0),
            warmup_s: config.warmup.as_secs_f64(),
            window_s: round3(window.seconds()),
            published_packets: published,
            expected_packets: tally.expected,
            lost_packets: tally.lost,
            loss_pct: share(tally.lost, tally.expected),
            video_loss_pct: share(tally.lost_video, tally.expected_video),
            worst_subscriber_loss_pct: round3(tally.worst_loss_pct),
            subscribers_with_loss: tally.receivers_with_loss,
            duplicate_packets: tally.duplicates,
            foreign_packets: tally.foreign,
            offered_pps: window.per_second(published),
            relayed_pps: window.per_second(tally.relayed),
            latency_ms_p50: ms(50.0, &tally.latency_us),
            latency_ms_p99: ms(99.0, &tally.latency_us),
            latency_ms_max: ms(100.0, &tally.latency_us),
            publisher_setup_ms: sender.map(|s| round3(s.setup.as_secs_f64() * 1e3)),
            setup_ms_p50: ms(50.0, &setups),
            setup_ms_p99: ms(99.0, &setups),
            first_media_ms_p50: ms(50.0, &first_media),
            first_media_ms_p99: ms(99.0, &first_media),
            keyframe_requests: sender.map_or(0, |s| s.keyframe_requests),
            keyframes_sent: sender.map_or(0, |s| s.keyframes_sent),
            server_pid: config.server_pid,
            server_cpu_us_per_packet: window.server_cpu_us_per(tally.relayed),
            server_cpu_pct: window.server_cpu_pct(),
            server_rss_kib: window.server_end.map(|s| s.rss_kib),
            server_rss_kib_per_session: window
                .server_end
                .zip(self.rss_before)
                .filter(|_| sessions_up > 0)
                .map(|(end, before)| {
                    round3((end.rss_kib as f64 - before as f64) / f64::from(sessions_up))
                }),
            server_threads: window.server_end.map(|s| s.threads),
            client_cpu_pct: window.client_cpu_pct(),
            client_send_errors: peer_send_errors + sender.map_or(0, |s| s.send_errors),
            client_skipped_packets: peer_skipped + sender.map_or(0, |s| s.skipped),
            udp_rcvbuf_errors: window.rcvbuf_errors(),
            client_socket_drops: self.client_socket_drops,
            errors,
        }
    }
}

/// The figures every report takes from its measuring window.
impl Window {
    /// The window's length, seconds.
    pub(crate) fn seconds(&self) -> f64 {
        f64::from(self.to_us.saturating_sub(self.from_us)) / 1e6
    }

    /// `n` things in the window, per second (0 for an empty window).
    pub(crate) fn per_second(&self, n: u64) -> f64 {
        let s = self.seconds();
        if s > 0.0 {
            round3(n as f64 / s)
        } else {
            0.0
        }
    }

    /// The server's CPU time in the window per thing (packet) of `n`, µs.
    pub(crate) fn server_cpu_us_per(&self, n: u64) -> Option<f64> {
        let us = self.server_cpu_us().filter(|_| n > 0)?;
        Some(round3(us / n as f64))
    }

    /// The server's CPU over the window, percent of one core.
    pub(crate) fn server_cpu_pct(&self) -> Option<f64> {
        let s = self.seconds();
        let us = self.server_cpu_us().filter(|_| s > 0.0)?;
        Some(round3(us / 1e4 / s))
    }

    /// This tool's CPU over the window, percent of one core (0 when not measured).
    pub(crate) fn client_cpu_pct(&self) -> f64 {
        match (self.client_start, self.client_end, self.seconds()) {
            (Some(a), Some(b), s) if s > 0.0 => {
                round3(b.cpu.saturating_sub(a.cpu).as_secs_f64() * 100.0 / s)
            }
            _ => 0.0,
        }
    }

    /// Datagrams the kernel dropped for full receive buffers during the window.
    pub(crate) fn rcvbuf_errors(&self) -> Option<u64> {
        let (a, b) = (self.rcvbuf_errors_start?, self.rcvbuf_errors_end?);
        Some(b.saturating_sub(a))
    }
}
