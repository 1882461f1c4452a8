//! Scenario `sip`: N calls through the SIP plugin to a SIP callee that echoes RTP (SIPp with
//! `-rtp_echo`), G.711 µ-law media flowing both ways, measured over a window after a warm-up.
//!
//! Every peer offers PCMU only (payload type 0) and sends 160-byte payloads (20 ms) ending with
//! the probe; the callee sends each RTP packet back unchanged, so every echoed probe crossed
//! the server twice: browser → SIP (SRTP decrypted, sent as RTP) and SIP → browser (RTP
//! received, SRTP encrypted).
//!
//! Phases, each bounded: set-up (calls started at `setup_rate` per second, at most
//! `setup_concurrency` at once, all within `setup_timeout`) → warm-up → measuring window
//! (server and client `/proc` sampled at both ends) → drain → every call hung up (`hangup` →
//! `hangup` event) and its session destroyed → report.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::echotest::{Keeper, LoadError, Window, DRAIN, MAX_ERRORS};
use crate::janus::JanusApi;
use crate::media::{Command, MediaThread};
use crate::peer::{AudioCodec, MediaPlan, Peer, PeerKit, AUDIO_PPS};
use crate::probe::{WindowTally, PROBE_LEN};
use crate::procfs::{cpu_ticks_per_cpu, udp_socket_drops, Process};
use crate::report::{percentile, round3, us_to_ms};
use crate::setup::{Deadlines, SetupFailure};
use crate::sip_call::{establish, hang_up, CallUp, Dial, HangupOutcome};

/// Bound on one call's hang-up (request → `hangup` event).
const HANGUP_WITHIN: Duration = Duration::from_secs(10);
/// Bound on each `destroy` at teardown.
const DESTROY_WITHIN: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Janus HTTP API root, `http://127.0.0.1:8088/janus`.
    pub server: String,
    /// Calls (one Janus session, SIP dialog and PeerConnection each).
    pub sessions: u32,
    /// The callee every call goes to, `sip:echo@127.0.0.1:5070`.
    pub sip_target: String,
    /// Host of the guest usernames `sip:load<N>@<host>`; the target's host if unset.
    pub user_host: Option<String>,
    pub duration: Duration,
    pub warmup: Duration,
    /// PCMU payload size, bytes (160 = 20 ms).
    pub audio_size: usize,
    /// Calls started per second; 0: as fast as `setup_concurrency` allows.
    pub setup_rate: f64,
    /// Calls being set up at the same time, at most.
    pub setup_concurrency: u32,
    /// Bound on bringing every call up; unset: `sessions / setup_rate + 30 s` (60 s unpaced).
    pub setup_timeout: Option<Duration>,
    /// The server's process, to read its CPU time, memory and threads.
    pub server_pid: Option<u32>,
    /// Local address of the peers' sockets.
    pub bind: IpAddr,
}

impl SipConfig {
    fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        if self.sessions == 0 {
            return bad("at least one call".into());
        }
        if self.duration.is_zero() {
            return bad("the duration must be positive".into());
        }
        if self.audio_size < PROBE_LEN || self.audio_size > 1200 {
            return bad(format!("audio size must be {PROBE_LEN}..=1200 bytes"));
        }
        if !self.setup_rate.is_finite() || self.setup_rate < 0.0 {
            return bad("the setup rate must be 0 (unpaced) or positive".into());
        }
        if self.user_host().is_none() {
            return bad(format!(
                "no host in --sip-target {:?}: give sip:user@host[:port]",
                self.sip_target
            ));
        }
        Ok(())
    }

    fn user_host(&self) -> Option<String> {
        if let Some(h) = &self.user_host {
            return Some(h.clone());
        }
        let rest = self.sip_target.strip_prefix("sip:")?;
        let host_port = rest.rsplit('@').next()?;
        let host = host_port.split([':', ';', '>']).next()?;
        (!host.is_empty()).then(|| host.to_owned())
    }

    fn setup_timeout(&self) -> Duration {
        self.setup_timeout.unwrap_or_else(|| {
            if self.setup_rate > 0.0 {
                Duration::from_secs_f64(f64::from(self.sessions) / self.setup_rate + 30.0)
            } else {
                Duration::from_secs(60)
            }
        })
    }

    /// When call `index` is due to start, after the first.
    fn start_offset(&self, index: u32) -> Duration {
        if self.setup_rate > 0.0 {
            Duration::from_secs_f64(f64::from(index) / self.setup_rate)
        } else {
            Duration::ZERO
        }
    }
}

/// The result of one run; units are in the field names, `null` means not measured.
#[derive(Debug, Clone, Serialize)]
pub struct SipReport {
    pub scenario: &'static str,
    pub server: String,
    pub sip_target: String,
    pub calls: u32,
    /// Calls up (dialog answered and `webrtcup`), and calls that never came up.
    pub calls_connected: u32,
    pub calls_failed: u32,
    /// Connected calls that ended before our hang-up, or got no echo at all in the window.
    pub calls_dropped: u32,
    /// Connected calls that lost at least one probe in the window.
    pub calls_with_loss: u32,
    /// Set-up pacing asked for (0: unpaced) and the concurrency bound.
    pub setup_rate: f64,
    pub setup_concurrency: u32,
    /// First `create` sent → last `webrtcup`, and connected calls divided by it.
    pub setup_span_s: Option<f64>,
    pub setup_calls_per_s: Option<f64>,
    /// `create` → `webrtcup` per call (guest register, call, media up).
    pub setup_ms_p50: Option<f64>,
    pub setup_ms_p99: Option<f64>,
    pub setup_ms_max: Option<f64>,
    /// `call` → `accepted` per call (SIP INVITE answered by the callee).
    pub call_ms_p50: Option<f64>,
    pub call_ms_p99: Option<f64>,
    pub audio_pps: u32,
    pub audio_size: usize,
    pub warmup_s: f64,
    pub window_s: f64,
    /// Probes sent in the window and what became of them.
    pub sent_packets: u64,
    pub lost_packets: u64,
    pub duplicate_packets: u64,
    pub foreign_packets: u64,
    pub loss_pct: f64,
    /// Probes sent per second, and echoes received per second, over the window.
    pub offered_pps: f64,
    pub echoed_pps: f64,
    /// Packets the server forwarded per second: two per echo (browser → SIP, SIP → browser).
    pub server_forwarded_pps: f64,
    /// Round trip peer → server → callee → server → peer.
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub latency_ms_max: Option<f64>,
    pub server_pid: Option<u32>,
    /// Server CPU (user + system, all threads) over the window per echoed probe: the cost of
    /// two forwarded packets, one each way.
    pub server_cpu_us_per_echo: Option<f64>,
    /// Half of that: per packet forwarded one way (SRTP→RTP or RTP→SRTP).
    pub server_cpu_us_per_packet: Option<f64>,
    /// Server CPU over the window, percent of one core, and per connected call.
    pub server_cpu_pct: Option<f64>,
    pub server_cpu_pct_per_call: Option<f64>,
    /// Connected calls divided by the share of one core they used: how many such calls one
    /// core would hold if the cost stayed linear (an extrapolation, not a measurement).
    pub calls_per_core_linear: Option<f64>,
    /// Server resident memory before the first `create` and at the end of the window, and
    /// the growth per connected call.
    pub server_rss_kib_before: Option<u64>,
    pub server_rss_kib: Option<u64>,
    pub server_rss_kib_per_call: Option<f64>,
    /// Server threads before the first `create` and at the end of the window, and the growth
    /// per connected call.
    pub server_threads_before: Option<u32>,
    pub server_threads: Option<u32>,
    pub server_threads_per_call: Option<f64>,
    /// This tool's CPU over the window, percent of one core.
    pub client_cpu_pct: f64,
    /// How busy each CPU of the host was over the window, percent (everything on it: the
    /// server, this tool, the SIP callee, anything else running).
    pub cpu_busy_pct: Vec<f64>,
    pub client_send_errors: u64,
    pub client_skipped_packets: u64,
    /// Host-wide (this network namespace) UDP receive-buffer drops over the window, and the
    /// drops on this tool's sockets.
    pub udp_rcvbuf_errors: Option<u64>,
    pub client_socket_drops: Option<u64>,
    /// Calls whose `hangup` was answered by the plugin's `hangup` event, and how long it took.
    pub hangups_ok: u32,
    /// Of those, calls whose `hangup` event came before the `hangingup` acknowledging our
    /// request (the server pushed them out of order; the call was not lost).
    pub hangups_out_of_order: u32,
    pub hangup_ms_p50: Option<f64>,
    pub hangup_ms_p99: Option<f64>,
    /// `"<code> <reason>"` of the final `hangup` events, counted.
    pub hangup_reasons: BTreeMap<String, u32>,
    /// Events received between `webrtcup` and our `hangup`, counted by name.
    pub events_during_calls: BTreeMap<String, u32>,
    /// The first few problems met.
    pub errors: Vec<String>,
}

/// Runs the scenario and reports. Returns within about `setup_timeout + warmup + duration`
/// plus the teardown bounds.
pub fn run(config: &SipConfig) -> Result<SipReport, LoadError> {
    config.validate()?;
    let dial = Dial {
        target: config.sip_target.clone(),
        user_host: config.user_host().unwrap_or_default(),
    };
    let start = Instant::now();
    let server = config.server_pid.map(Process::Pid);
    let before = server.map(Process::sample).transpose()?;

    let kit = PeerKit::new(
        config.bind,
        MediaPlan {
            audio_codec: AudioCodec::Pcmu,
            audio_size: config.audio_size,
            video: None,
        },
    )
    .ok_or(LoadError::Certificate)?;
    let concurrency = config.setup_concurrency.clamp(1, config.sessions);
    let calls_start = Instant::now();
    let Deadlines {
        setup: setup_deadline,
        results: results_deadline,
        hard_stop,
    } = Deadlines::new(
        calls_start,
        config.setup_timeout(),
        config.warmup,
        config.duration,
    );
    let media = MediaThread::spawn(hard_stop)?;

    // Set-up: workers take call indices in turn, each starting no earlier than its slot.
    // Their HTTP client is dropped with them, so no idle connection (a Janus HTTP thread
    // each) stays open while the threads are counted.
    let (results_tx, results_rx) = mpsc::channel();
    let next = Arc::new(AtomicU32::new(0));
    {
        let janus = JanusApi::with_pool(&config.server, concurrency as usize);
        for _ in 0..concurrency {
            let (janus, kit, door, next, tx, dial, config) = (
                janus.clone(),
                kit.clone(),
                media.door(),
                Arc::clone(&next),
                results_tx.clone(),
                dial.clone(),
                config.clone(),
            );
            thread::spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= config.sessions {
                    return;
                }
                let slot = calls_start + config.start_offset(index);
                let result = if slot >= setup_deadline {
                    Err(SetupFailure {
                        session: None,
                        reason: format!("call {index}: not started before the setup deadline"),
                    })
                } else {
                    thread::sleep(slot.saturating_duration_since(Instant::now()));
                    establish(&janus, &kit, &door, &dial, index, start, setup_deadline)
                };
                if tx.send(result).is_err() {
                    return;
                }
            });
        }
    }
    drop(results_tx);

    let (calls, failures, mut errors) = crate::setup::gather(
        &results_rx,
        config.sessions as usize,
        results_deadline,
        "calls",
    );

    let keeper = Keeper::spawn(
        JanusApi::with_pool(&config.server, 1),
        calls.iter().map(|c| c.session),
    );
    let mut window = Window::default();
    let mut cpu_busy_pct = Vec::new();
    if !calls.is_empty() {
        thread::sleep(config.warmup);
        window.open(start, server, &mut errors);
        let cpus_before = cpu_ticks_per_cpu();
        thread::sleep(config.duration);
        let cpus_after = cpu_ticks_per_cpu();
        window.close(start, server, &mut errors);
        if let (Some(a), Some(b)) = (cpus_before, cpus_after) {
            cpu_busy_pct = a
                .iter()
                .zip(&b)
                .map(|((busy0, all0), (busy1, all1))| {
                    let all = all1.saturating_sub(*all0);
                    if all == 0 {
                        0.0
                    } else {
                        round3(busy1.saturating_sub(*busy0) as f64 * 100.0 / all as f64)
                    }
                })
                .collect();
        }
    }
    media.door().send(Command::StopSending);
    thread::sleep(DRAIN);
    let peers = media.finish()?;
    let ports: Vec<u16> = peers.iter().map(Peer::local_port).collect();
    let client_socket_drops = udp_socket_drops(&ports);
    keeper.stop();

    let outcomes = hang_up_all(config, concurrency, &calls);
    let janus = JanusApi::with_pool(&config.server, 1);
    for session in failures.iter().filter_map(|f| f.session) {
        let _ = janus.destroy(session, DESTROY_WITHIN);
    }

    // Media figures, in total and per call.
    let mut tally = WindowTally::default();
    let (mut send_errors, mut skipped, mut foreign) = (0, 0, 0);
    let mut dropped: Vec<u32> = Vec::new();
    let mut with_loss = 0u32;
    for peer in &peers {
        let mut own = WindowTally::default();
        peer.ledger.tally(window.from_us, window.to_us, &mut own);
        if own.sent > 0 && own.lost == own.sent {
            dropped.push(peer.index);
            errors.push(format!(
                "call {}: no echo in the window ({} sent)",
                peer.index, own.sent
            ));
        }
        if own.lost > 0 {
            with_loss += 1;
        }
        peer.ledger.tally(window.from_us, window.to_us, &mut tally);
        send_errors += peer.send_errors;
        skipped += peer.skipped;
        foreign += peer.ledger.foreign;
        if let Some(why) = &peer.failure {
            dropped.push(peer.index);
            errors.push(format!("call {}: {why}", peer.index));
        }
    }
    let mut hangup_us: Vec<u32> = Vec::new();
    let mut hangup_reasons: BTreeMap<String, u32> = BTreeMap::new();
    let mut events_during_calls: BTreeMap<String, u32> = BTreeMap::new();
    for (call, outcome) in calls.iter().zip(&outcomes) {
        for name in &outcome.during_call {
            *events_during_calls.entry(name.clone()).or_default() += 1;
        }
        if let Some(event) = &outcome.ended_early {
            dropped.push(call.index);
            errors.push(format!(
                "call {} had ended before our hangup (the request was refused or not \
                 acknowledged): {event}",
                call.index
            ));
        }
        if let Some(e) = &outcome.error {
            errors.push(e.clone());
        }
        if let Some(reason) = &outcome.reason {
            *hangup_reasons.entry(reason.clone()).or_default() += 1;
        }
        if let Some(t) = outcome.took {
            hangup_us.push(t.as_micros() as u32);
        }
    }
    dropped.sort_unstable();
    dropped.dedup();
    tally.rtt_us.sort_unstable();
    hangup_us.sort_unstable();
    let mut setups: Vec<u32> = calls.iter().map(|c| c.setup.as_micros() as u32).collect();
    setups.sort_unstable();
    let mut invites: Vec<u32> = calls.iter().map(|c| c.call.as_micros() as u32).collect();
    invites.sort_unstable();

    let connected = calls.len() as u32;
    let setup_span_s = match (
        calls.iter().map(|c| c.began_us).min(),
        calls.iter().map(|c| c.up_us).max(),
    ) {
        (Some(first), Some(last)) if last > first => Some((last - first) as f64 / 1e6),
        _ => None,
    };
    let window_s = f64::from(window.to_us.saturating_sub(window.from_us)) / 1e6;
    let per_second = |n: u64| {
        if window_s > 0.0 {
            round3(n as f64 / window_s)
        } else {
            0.0
        }
    };
    let server_cpu_us = window.server_cpu_us().filter(|_| tally.relayed > 0);
    let cpu_pct = window
        .server_cpu_us()
        .filter(|_| window_s > 0.0)
        .map(|us| us / 1e4 / window_s);
    let ms = |p: f64, v: &[u32]| percentile(v, p).map(us_to_ms);
    let per_call = |x: f64| (connected > 0).then(|| round3(x / f64::from(connected)));
    errors.truncate(MAX_ERRORS);
    Ok(SipReport {
        scenario: "sip",
        server: config.server.clone(),
        sip_target: config.sip_target.clone(),
        calls: config.sessions,
        calls_connected: connected,
        calls_failed: config.sessions - connected,
        calls_dropped: dropped.len() as u32,
        calls_with_loss: with_loss,
        setup_rate: config.setup_rate,
        setup_concurrency: concurrency,
        setup_span_s: setup_span_s.map(round3),
        setup_calls_per_s: setup_span_s.map(|s| round3(f64::from(connected) / s)),
        setup_ms_p50: ms(50.0, &setups),
        setup_ms_p99: ms(99.0, &setups),
        setup_ms_max: ms(100.0, &setups),
        call_ms_p50: ms(50.0, &invites),
        call_ms_p99: ms(99.0, &invites),
        audio_pps: AUDIO_PPS,
        audio_size: config.audio_size,
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
        echoed_pps: per_second(tally.relayed),
        server_forwarded_pps: per_second(tally.relayed * 2),
        latency_ms_p50: ms(50.0, &tally.rtt_us),
        latency_ms_p99: ms(99.0, &tally.rtt_us),
        latency_ms_max: ms(100.0, &tally.rtt_us),
        server_pid: config.server_pid,
        server_cpu_us_per_echo: server_cpu_us.map(|us| round3(us / tally.relayed as f64)),
        server_cpu_us_per_packet: server_cpu_us.map(|us| round3(us / (2 * tally.relayed) as f64)),
        server_cpu_pct: cpu_pct.map(round3),
        server_cpu_pct_per_call: cpu_pct.and_then(per_call),
        calls_per_core_linear: cpu_pct
            .filter(|p| *p > 0.0 && connected > 0)
            .map(|p| round3(f64::from(connected) * 100.0 / p)),
        server_rss_kib_before: before.map(|s| s.rss_kib),
        server_rss_kib: window.server_end.map(|s| s.rss_kib),
        server_rss_kib_per_call: match (window.server_end, before) {
            (Some(end), Some(b)) => per_call(end.rss_kib as f64 - b.rss_kib as f64),
            _ => None,
        },
        server_threads_before: before.map(|s| s.threads),
        server_threads: window.server_end.map(|s| s.threads),
        server_threads_per_call: match (window.server_end, before) {
            (Some(end), Some(b)) => per_call(f64::from(end.threads) - f64::from(b.threads)),
            _ => None,
        },
        client_cpu_pct: match (window.client_start, window.client_end) {
            (Some(a), Some(b)) if window_s > 0.0 => {
                round3((b.cpu - a.cpu).as_secs_f64() * 100.0 / window_s)
            }
            _ => 0.0,
        },
        cpu_busy_pct,
        client_send_errors: send_errors,
        client_skipped_packets: skipped,
        udp_rcvbuf_errors: match (window.rcvbuf_errors_start, window.rcvbuf_errors_end) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        },
        client_socket_drops,
        hangups_ok: outcomes.iter().filter(|o| o.took.is_some()).count() as u32,
        hangups_out_of_order: outcomes.iter().filter(|o| o.out_of_order).count() as u32,
        hangup_ms_p50: ms(50.0, &hangup_us),
        hangup_ms_p99: ms(99.0, &hangup_us),
        hangup_reasons,
        events_during_calls,
        errors,
    })
}

/// Hangs every call up (a few at a time, each bounded) and destroys its session; the
/// outcomes come back in the order of `calls`.
fn hang_up_all(config: &SipConfig, concurrency: u32, calls: &[CallUp]) -> Vec<HangupOutcome> {
    let janus = JanusApi::with_pool(&config.server, concurrency as usize);
    let slots: Arc<Mutex<Vec<Option<HangupOutcome>>>> =
        Arc::new(Mutex::new(vec![None; calls.len()]));
    let next = Arc::new(AtomicU32::new(0));
    let calls: Arc<Vec<CallUp>> = Arc::new(calls.to_vec());
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (janus, slots, next, calls) = (
                janus.clone(),
                Arc::clone(&slots),
                Arc::clone(&next),
                Arc::clone(&calls),
            );
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(call) = calls.get(i) else { return };
                let outcome = hang_up(&janus, call, Instant::now() + HANGUP_WITHIN);
                let _ = janus.destroy(call.session, DESTROY_WITHIN);
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(outcome);
                }
            })
        })
        .collect();
    // Bounded: each call takes at most HANGUP_WITHIN + DESTROY_WITHIN + one request bound.
    for w in workers {
        let _ = w.join();
    }
    let slots = match Arc::try_unwrap(slots) {
        Ok(m) => m.into_inner().unwrap_or_default(),
        Err(shared) => shared.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    slots
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| HangupOutcome {
                error: Some("hang-up worker died".into()),
                ..HangupOutcome::default()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: &str) -> SipConfig {
        SipConfig {
            server: "http://127.0.0.1:8088/janus".into(),
            sessions: 10,
            sip_target: target.into(),
            user_host: None,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            audio_size: 160,
            setup_rate: 20.0,
            setup_concurrency: 8,
            setup_timeout: None,
            server_pid: None,
            bind: "127.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn the_guest_host_is_the_targets_host() {
        assert_eq!(
            config("sip:echo@10.0.0.2:5070").user_host().as_deref(),
            Some("10.0.0.2")
        );
        assert_eq!(
            config("sip:echo@example.com;transport=udp")
                .user_host()
                .as_deref(),
            Some("example.com")
        );
        assert_eq!(config("echo@x").user_host(), None);
    }

    #[test]
    fn calls_are_paced_and_the_setup_bound_follows_the_rate() {
        let c = config("sip:echo@127.0.0.1:5070");
        assert_eq!(c.start_offset(10), Duration::from_millis(500));
        assert_eq!(c.setup_timeout(), Duration::from_secs_f64(30.5));
        let unpaced = SipConfig {
            setup_rate: 0.0,
            ..c
        };
        assert_eq!(unpaced.start_offset(10), Duration::ZERO);
    }
}
