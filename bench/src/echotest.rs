//! Scenario `echotest`: N EchoTest sessions, each echoing opus (and optionally VP8) back to
//! its peer; measured over a window that follows a warm-up.
//!
//! Phases, each bounded: set-up (at most `setup_timeout`) → warm-up → measuring window
//! (server and client `/proc` sampled at both ends) → drain (echoes of the last packets) →
//! teardown (`destroy` every session) → report.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::janus::JanusApi;
use crate::media::{Command, MediaThread};
use crate::payload::{MIN_AUDIO_SIZE, MIN_VIDEO_SIZE};
use crate::peer::{MediaPlan, Peer, PeerKit, AUDIO_PPS};
use crate::probe::WindowTally;
use crate::procfs::{udp_rcvbuf_errors, udp_socket_drops, ProcSample, Process};
use crate::report::{percentile, round3, us_to_ms, Report};
use crate::setup::{establish, Deadlines};

/// Time given to the echoes of the last packets after sending stops.
pub(crate) const DRAIN: Duration = Duration::from_millis(500);
/// Janus sessions time out after 60 s without a request (janus-api.md §5).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(20);
/// Bound on each `destroy` at teardown.
const DESTROY_WITHIN: Duration = Duration::from_secs(2);
/// How many problems the report lists.
pub(crate) const MAX_ERRORS: usize = 10;

/// What to run.
#[derive(Debug, Clone)]
pub struct EchotestConfig {
    /// Janus HTTP API root, `http://127.0.0.1:8088/janus`.
    pub server: String,
    pub sessions: u32,
    pub duration: Duration,
    pub warmup: Duration,
    pub audio_size: usize,
    /// VP8 packets per second per session; 0 for audio only.
    pub video_pps: u32,
    pub video_size: usize,
    pub keyframe_interval: Duration,
    /// The server's process, to read its CPU time and memory.
    pub server_pid: Option<u32>,
    /// Local address of the peers' sockets.
    pub bind: IpAddr,
    /// Bound on bringing all sessions up.
    pub setup_timeout: Duration,
    /// Sessions set up at the same time.
    pub setup_concurrency: u32,
}

/// Why a run could not take place at all (per-session trouble goes in the report).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("no DTLS certificate could be generated")]
    Certificate,
    #[error("the media thread: {0}")]
    Media(#[from] std::io::Error),
    #[error("the server process: {0}")]
    Server(#[from] crate::procfs::ProcError),
}

impl EchotestConfig {
    fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        if self.sessions == 0 {
            return bad("at least one session".into());
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
            return bad("at most 10000 video packets per second per session".into());
        }
        Ok(())
    }
}

/// Runs the scenario and reports. Always returns within about
/// `setup_timeout + warmup + duration + 15 s`.
pub fn run(config: &EchotestConfig) -> Result<Report, LoadError> {
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

    // Set-up: a few workers take session indices in turn.
    let (results_tx, results_rx) = mpsc::channel();
    let next = Arc::new(AtomicU32::new(0));
    for _ in 0..config.setup_concurrency.clamp(1, config.sessions) {
        let (janus, kit, door, next, tx) = (
            janus.clone(),
            kit.clone(),
            media.door(),
            Arc::clone(&next),
            results_tx.clone(),
        );
        let sessions = config.sessions;
        thread::spawn(move || loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= sessions {
                return;
            }
            let result = establish(&janus, &kit, &door, index, start, setup_deadline);
            if tx.send(result).is_err() {
                return;
            }
        });
    }
    drop(results_tx);

    let (established, failures, mut errors) = crate::setup::gather(
        &results_rx,
        config.sessions as usize,
        results_deadline,
        "sessions",
    );

    let keeper = Keeper::spawn(janus.clone(), established.iter().map(|e| e.session));

    // Warm-up, then the measuring window.
    let mut window = Window::default();
    if !established.is_empty() {
        thread::sleep(config.warmup);
        window.open(start, server, &mut errors);
        thread::sleep(config.duration);
        window.close(start, server, &mut errors);
    }
    media.door().send(Command::StopSending);
    thread::sleep(DRAIN);
    let peers = media.finish()?;
    let ports: Vec<u16> = peers.iter().map(Peer::local_port).collect();
    let client_socket_drops = udp_socket_drops(&ports);
    keeper.stop();

    // Teardown: every session we know of, each request bounded.
    let sessions = established
        .iter()
        .map(|e| e.session)
        .chain(failures.iter().filter_map(|f| f.session));
    for session in sessions {
        let _ = janus.destroy(session, DESTROY_WITHIN);
    }

    let mut tally = WindowTally::default();
    let (mut send_errors, mut skipped, mut foreign) = (0, 0, 0);
    for peer in &peers {
        peer.ledger.tally(window.from_us, window.to_us, &mut tally);
        send_errors += peer.send_errors;
        skipped += peer.skipped;
        foreign += peer.ledger.foreign;
        if let Some(why) = &peer.failure {
            errors.push(format!("peer {}: {why}", peer.index));
        }
    }
    tally.rtt_us.sort_unstable();
    let mut setups: Vec<u32> = established
        .iter()
        .map(|e| e.setup.as_micros() as u32)
        .collect();
    setups.sort_unstable();

    let window_s = f64::from(window.to_us.saturating_sub(window.from_us)) / 1e6;
    let per_second = |n: u64| {
        if window_s > 0.0 {
            round3(n as f64 / window_s)
        } else {
            0.0
        }
    };
    let connected = established.len() as u32;
    let server_cpu_us = window.server_cpu_us();
    let ms = |p: f64, v: &[u32]| percentile(v, p).map(us_to_ms);
    errors.truncate(MAX_ERRORS);
    Ok(Report {
        scenario: "echotest",
        server: config.server.clone(),
        sessions: config.sessions,
        sessions_connected: connected,
        sessions_failed: config.sessions - connected,
        audio_pps: AUDIO_PPS,
        audio_size: config.audio_size,
        video_pps: config.video_pps,
        video_size: if config.video_pps > 0 {
            config.video_size
        } else {
            0
        },
        warmup_s: config.warmup.as_secs_f64(),
        window_s: round3(window_s),
        sent_packets: tally.sent,
        lost_packets: tally.lost,
        duplicate_packets: tally.duplicates,
        foreign_packets: foreign,
        loss_pct: if tally.sent > 0 {
            round3(tally.lost as f64 * 100.0 / tally.sent as f64)
        } else {
            0.0
        },
        offered_pps: per_second(tally.sent),
        relayed_pps: per_second(tally.relayed),
        latency_ms_p50: ms(50.0, &tally.rtt_us),
        latency_ms_p99: ms(99.0, &tally.rtt_us),
        latency_ms_max: ms(100.0, &tally.rtt_us),
        setup_ms_p50: ms(50.0, &setups),
        setup_ms_p99: ms(99.0, &setups),
        server_pid: config.server_pid,
        server_cpu_us_per_packet: server_cpu_us
            .filter(|_| tally.relayed > 0)
            .map(|us| round3(us / tally.relayed as f64)),
        server_cpu_pct: server_cpu_us
            .filter(|_| window_s > 0.0)
            .map(|us| round3(us / 1e4 / window_s)),
        server_rss_kib: window.server_end.map(|s| s.rss_kib),
        server_rss_kib_per_session: match (window.server_end, rss_before) {
            (Some(end), Some(before)) if connected > 0 => Some(round3(
                (end.rss_kib as f64 - before as f64) / f64::from(connected),
            )),
            _ => None,
        },
        client_cpu_pct: match (window.client_start, window.client_end) {
            (Some(a), Some(b)) if window_s > 0.0 => {
                round3((b.cpu - a.cpu).as_secs_f64() * 100.0 / window_s)
            }
            _ => 0.0,
        },
        client_send_errors: send_errors,
        client_skipped_packets: skipped,
        udp_rcvbuf_errors: match (window.rcvbuf_errors_start, window.rcvbuf_errors_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        client_socket_drops,
        errors,
    })
}

/// The measuring window: its bounds (µs since start) and the `/proc` readings at both ends.
#[derive(Default)]
pub(crate) struct Window {
    pub(crate) from_us: u32,
    pub(crate) to_us: u32,
    pub(crate) server_start: Option<ProcSample>,
    pub(crate) server_end: Option<ProcSample>,
    pub(crate) client_start: Option<ProcSample>,
    pub(crate) client_end: Option<ProcSample>,
    pub(crate) rcvbuf_errors_start: Option<u64>,
    pub(crate) rcvbuf_errors_end: Option<u64>,
}

impl Window {
    pub(crate) fn open(
        &mut self,
        start: Instant,
        server: Option<Process>,
        errors: &mut Vec<String>,
    ) {
        self.server_start = sample(server, errors);
        self.client_start = Process::Myself.sample().ok();
        self.rcvbuf_errors_start = udp_rcvbuf_errors();
        self.from_us = start.elapsed().as_micros() as u32;
    }

    pub(crate) fn close(
        &mut self,
        start: Instant,
        server: Option<Process>,
        errors: &mut Vec<String>,
    ) {
        self.to_us = start.elapsed().as_micros() as u32;
        self.server_end = sample(server, errors);
        self.client_end = Process::Myself.sample().ok();
        self.rcvbuf_errors_end = udp_rcvbuf_errors();
    }

    pub(crate) fn server_cpu_us(&self) -> Option<f64> {
        let (a, b) = (self.server_start?, self.server_end?);
        Some(b.cpu.saturating_sub(a.cpu).as_secs_f64() * 1e6)
    }
}

pub(crate) fn sample(process: Option<Process>, errors: &mut Vec<String>) -> Option<ProcSample> {
    match process?.sample() {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(format!("server process gone? {e}"));
            None
        }
    }
}

/// Sends `keepalive` for every established session every 20 s until stopped.
pub(crate) struct Keeper {
    stop: Arc<AtomicBool>,
    join: thread::JoinHandle<()>,
}

impl Keeper {
    pub(crate) fn spawn(janus: JanusApi, sessions: impl Iterator<Item = u64>) -> Keeper {
        let sessions: Vec<u64> = sessions.collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let join = thread::spawn(move || {
            let mut last = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(100));
                if last.elapsed() < KEEPALIVE_EVERY {
                    continue;
                }
                last = Instant::now();
                for &session in &sessions {
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    let _ = janus.keepalive(session);
                }
            }
        });
        Keeper { stop, join }
    }

    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        // Bounded: at most one keepalive request (REQUEST_WITHIN) is in flight.
        let _ = self.join.join();
    }
}
