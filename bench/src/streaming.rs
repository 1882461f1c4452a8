//! Scenario `streaming`: one RTP mountpoint of `janus.plugin.streaming`, fed by a plain UDP
//! source in this tool, and N viewers; the server fans the source's opus and VP8 out to every
//! viewer.
//!
//! Phases, each bounded: mountpoint (`create` type `rtp`, opus pt 111 and VP8 pt 100 on ports
//! the server picks, `port: 0`, read back from `created`) → source (a plain UDP socket sending
//! RTP to those ports from then on) → viewers, a few at a time (`watch` → the server's offer →
//! `start` with our answer → `webrtcup`), all within `setup_timeout` → warm-up → measuring
//! window (server and client `/proc` sampled at both ends) → drain → teardown (`destroy` the
//! mountpoint, then every session) → report.
//!
//! Every packet the source sends carries a probe with its send time, and every viewer books
//! what it received against the source's ledger: loss, duplicates and one-way latency source →
//! server → viewer on one clock.
//!
//! The run is described and reported in the VideoRoom scenario's terms, so that both fan-outs
//! give the same JSON fields: the configuration is a [`VideoroomConfig`] whose `subscribers`
//! are the viewers and whose `room`, if set, is the id to create the mountpoint with; the
//! report is a [`VideoroomReport`] with `scenario: "streaming"`, `room` the mountpoint's id,
//! the RTP source in the publisher's place (`publisher_setup_ms`: `create` sent → `created`;
//! no key frame request reaches a plain RTP source) and the viewers as subscribers.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::echotest::{Keeper, LoadError, Window};
use crate::fanout::{
    drain, in_parallel, measure, receive, Ask, Fanout, Receiver, Sender, Sessions,
};
use crate::janus::JanusApi;
use crate::media::MediaThread;
use crate::payload::{self, Vp8Packet, MIN_AUDIO_SIZE, MIN_VIDEO_SIZE};
use crate::peer::{MediaPlan, PeerKit, VideoPlan, AUDIO_PPS};
use crate::probe::{Ledger, Probe};
use crate::procfs::Process;
use crate::setup::Deadlines;
use crate::videoroom::{VideoroomConfig, VideoroomReport};

/// What to run: the VideoRoom scenario's settings (see the module documentation).
pub type StreamingConfig = VideoroomConfig;
/// The result of one run, in the VideoRoom scenario's fields (see the module documentation).
pub type StreamingReport = VideoroomReport;

const PLUGIN: &str = "janus.plugin.streaming";
/// The source's peer index (the probes' `peer` field); viewers are 1..=N.
const SOURCE: u32 = 0;
/// The mountpoint's payload types, as in Janus's sample configuration.
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 100;
/// A source this far behind its schedule (a saturated client) skips packets rather than
/// bursting the backlog into the server.
const MAX_LAG: Duration = Duration::from_millis(200);
/// Longest sleep of the source between two looks at its stop flag.
const SOURCE_IDLE: Duration = Duration::from_millis(50);
/// Video frames per second, at most; each frame spans `pps / fps` packets.
const VIDEO_MAX_FPS: u64 = 30;
/// RTP clock rates: opus 48 kHz, VP8 90 kHz.
const OPUS_CLOCK: u64 = 48_000;
const VP8_CLOCK: u64 = 90_000;

fn validate(config: &StreamingConfig) -> Result<(), LoadError> {
    let video = config.video_pps > 0;
    let problems = [
        (config.subscribers == 0, "at least one viewer".to_owned()),
        (
            config.duration.is_zero(),
            "the duration must be positive".into(),
        ),
        (
            !(MIN_AUDIO_SIZE..=1200).contains(&config.audio_size),
            format!("audio size must be {MIN_AUDIO_SIZE}..=1200 bytes"),
        ),
        (
            video && !(MIN_VIDEO_SIZE..=1200).contains(&config.video_size),
            format!("video size must be {MIN_VIDEO_SIZE}..=1200 bytes"),
        ),
        (
            config.video_pps > 10_000,
            "at most 10000 video packets per second".into(),
        ),
    ];
    match problems.into_iter().find(|(bad, _)| *bad) {
        Some((_, why)) => Err(LoadError::Config(why)),
        None => Ok(()),
    }
}

/// Runs the scenario and reports. Always returns within about
/// `setup_timeout + warmup + duration + 30 s` (plus the teardown's bounded requests).
pub fn run(config: &StreamingConfig) -> Result<StreamingReport, LoadError> {
    validate(config)?;
    let start = Instant::now();
    let server = config.server_pid.map(Process::Pid);
    let rss_before = server.map(Process::sample).transpose()?.map(|s| s.rss_kib);
    let plan = MediaPlan::opus_vp8(
        config.audio_size,
        config.video_pps,
        config.video_size,
        config.keyframe_interval,
    );
    let kit = PeerKit::new(config.bind, plan).ok_or(LoadError::Certificate)?;
    let deadlines = Deadlines::new(start, config.setup_timeout, config.warmup, config.duration);
    let media = MediaThread::spawn(deadlines.hard_stop)?;
    let janus = JanusApi::new(&config.server);
    let sessions = Sessions::default();
    let mut errors: Vec<String> = Vec::new();

    // The mountpoint, and the source feeding it.
    let mountpoint = sessions.open(&janus, PLUGIN).and_then(|control| {
        let host = url_host(&config.server)
            .ok_or_else(|| format!("no host to send RTP to in {}", config.server))?;
        create_mountpoint(&janus, control, config.room, host, &kit.plan)
    });
    let source = match &mountpoint {
        Ok(m) => Source::spawn(config.bind, m, &kit.plan, start, deadlines.hard_stop)
            .map_err(|e| errors.push(format!("the RTP source: {e}")))
            .ok(),
        Err(e) => {
            errors.push(format!("creating the mountpoint: {e}"));
            None
        }
    };

    // The viewers.
    let mut viewers: Vec<Receiver> = Vec::new();
    if let (Ok(m), Some(_)) = (&mountpoint, &source) {
        let (janus, kit, door, sessions) =
            (janus.clone(), kit.clone(), media.door(), sessions.clone());
        let watch = json!({"request": "watch", "id": m.id});
        let (up, setup_errors) = in_parallel(
            config.subscribers,
            config.setup_concurrency,
            deadlines.results,
            "viewers",
            move |index| {
                let ask = Ask {
                    who: "viewer",
                    plugin: PLUGIN,
                    index,
                    source: SOURCE,
                    request: watch.clone(),
                    start: json!({"request": "start"}),
                };
                receive(&janus, &kit, &door, &sessions, ask, start, deadlines.setup)
            },
        );
        viewers = up;
        errors.extend(setup_errors);
    }
    let keeper = Keeper::spawn(janus.clone(), sessions.all().into_iter());

    let window = match &source {
        Some(_) if !viewers.is_empty() => measure(config, start, server, &mut errors),
        _ => Window::default(),
    };
    let sent = source.map(Source::finish);
    let (peers, client_socket_drops) = drain(media)?;
    keeper.stop();

    // Teardown: the mountpoint, then every session, each request bounded.
    if let Ok(m) = &mountpoint {
        if let Err(e) = m.destroy(&janus) {
            errors.push(format!("destroying mountpoint {}: {e}", m.id));
        }
    }
    sessions.destroy_all(&janus);

    if let Some(why) = sent.as_ref().and_then(|s| s.failure.as_ref()) {
        errors.push(format!("the RTP source: {why}"));
    }
    let sender = sent
        .as_ref()
        .zip(mountpoint.as_ref().ok())
        .map(|(s, m)| Sender {
            ledger: &s.ledger,
            setup: m.setup,
            keyframe_requests: 0,
            keyframes_sent: s.keyframes,
            send_errors: s.send_errors,
            skipped: s.skipped,
        });
    let report = Fanout {
        scenario: "streaming",
        config,
        room: mountpoint.as_ref().ok().map(|m| m.id),
        room_created: mountpoint.is_ok(),
        sender,
        sender_sessions: 0,
        peers: &peers,
        receivers: &viewers,
        window: &window,
        rss_before,
        client_socket_drops,
        errors,
    }
    .report();
    Ok(report)
}

/// A mountpoint we created, and where its streams take RTP.
struct Mountpoint {
    id: u64,
    secret: String,
    /// The session and handle that created it (and destroy it).
    control: (u64, u64),
    audio: SocketAddr,
    video: Option<SocketAddr>,
    /// `create` sent → `created`.
    setup: Duration,
}

/// `create` an RTP mountpoint (opus, and VP8 if the plan has video) on ports the server picks,
/// with `id` or one the server picks. A stream whose `created` entry names no host (Janus
/// binds every address) takes RTP at `server_host`.
fn create_mountpoint(
    janus: &JanusApi,
    control: (u64, u64),
    id: Option<u64>,
    server_host: IpAddr,
    plan: &MediaPlan,
) -> Result<Mountpoint, String> {
    let began = Instant::now();
    let secret = format!("cardea-load-{}", std::process::id());
    let mut media = vec![json!({
        "type": "audio", "mid": "a", "port": 0, "pt": OPUS_PT, "codec": "opus",
    })];
    if plan.video.is_some() {
        media.push(json!({
            "type": "video", "mid": "v", "port": 0, "pt": VP8_PT, "codec": "vp8",
        }));
    }
    let mut body = json!({
        "request": "create",
        "type": "rtp",
        "description": "cardea-load",
        "secret": secret,
        "media": media,
    });
    if let Some(id) = id {
        body["id"] = id.into();
    }
    let (session, handle) = control;
    let reply = janus
        .message(session, handle, body, None)
        .map_err(|e| e.to_string())?;
    let data = &reply["plugindata"]["data"];
    let stream = &data["stream"];
    let (Some("created"), Some(id)) = (data["streaming"].as_str(), stream["id"].as_u64()) else {
        return Err(format!("server answered {data}"));
    };
    let address = |mid: &str| -> Result<SocketAddr, String> {
        let entry = stream["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["mid"] == mid))
            .ok_or_else(|| format!("no port for mid {mid} in {stream}"))?;
        let port = entry["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        let host = entry["host"].as_str().and_then(|h| h.parse().ok());
        let host = host
            .filter(|h: &IpAddr| !h.is_unspecified())
            .unwrap_or(server_host);
        Ok(SocketAddr::new(
            host,
            port.ok_or_else(|| format!("bad port in {entry}"))?,
        ))
    };
    Ok(Mountpoint {
        id,
        secret,
        control,
        audio: address("a")?,
        video: plan.video.as_ref().map(|_| address("v")).transpose()?,
        setup: began.elapsed(),
    })
}

impl Mountpoint {
    /// `destroy` it (its viewers are hung up).
    fn destroy(&self, janus: &JanusApi) -> Result<(), String> {
        let (session, handle) = self.control;
        let body = json!({"request": "destroy", "id": self.id, "secret": self.secret});
        let reply = janus
            .message(session, handle, body, None)
            .map_err(|e| e.to_string())?;
        match &reply["plugindata"]["data"] {
            data if data["streaming"] == "destroyed" => Ok(()),
            data => Err(format!("server answered {data}")),
        }
    }
}

/// The host of an `http://host:port/path` URL, resolved.
fn url_host(url: &str) -> Option<IpAddr> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    // `host:port`, `[v6]:port`; without a port, the default one (only the host matters).
    let has_port = authority.rsplit_once(':').is_some_and(|(host, _)| {
        !host.ends_with(':') && (!host.contains(':') || host.ends_with(']'))
    });
    let with_port = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    with_port.to_socket_addrs().ok()?.next().map(|a| a.ip())
}

/// What the source did: the probes it sent (send times, audio or video) and its troubles.
#[derive(Default)]
struct Sent {
    ledger: Ledger,
    keyframes: u64,
    send_errors: u64,
    skipped: u64,
    failure: Option<String>,
}

/// The RTP source: a thread sending plain RTP from one UDP socket to the mountpoint's ports,
/// opus every 20 ms and VP8 at the plan's rate, until told to stop (or `hard_stop`).
struct Source {
    stop: Arc<AtomicBool>,
    join: thread::JoinHandle<Sent>,
}

impl Source {
    /// Binds the socket on `bind` and starts sending; probe times count from `start`.
    fn spawn(
        bind: IpAddr,
        mountpoint: &Mountpoint,
        plan: &MediaPlan,
        start: Instant,
        hard_stop: Instant,
    ) -> io::Result<Source> {
        let feed = Feed {
            socket: UdpSocket::bind((bind, 0))?,
            audio: Stream::new(mountpoint.audio, OPUS_PT, 0x0a0d_10a0),
            audio_size: plan.audio_size,
            video: mountpoint.video.zip(plan.video.as_ref()).map(|(to, v)| {
                let stream = Stream::new(to, VP8_PT, 0x0a0d_10b0);
                (stream, Vp8Schedule::new(v), v.size)
            }),
            start,
            sent: Sent::default(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let join = thread::Builder::new()
            .name("rtp-source".into())
            .spawn(move || feed.run(&flag, hard_stop))?;
        Ok(Source { stop, join })
    }

    /// Stops sending and returns what was sent.
    fn finish(self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        self.join.join().unwrap_or_else(|_| Sent {
            failure: Some("the source thread panicked".into()),
            ..Sent::default()
        })
    }
}

/// One RTP stream of the source: where it goes, its payload type, SSRC and next sequence.
struct Stream {
    to: SocketAddr,
    pt: u8,
    ssrc: u32,
    seq: u16,
}

impl Stream {
    fn new(to: SocketAddr, pt: u8, ssrc: u32) -> Stream {
        Stream {
            to,
            pt,
            ssrc,
            seq: 0,
        }
    }

    /// The RTP packet (RFC 3550 §5.1: version 2, no padding, extension or CSRC) of the next
    /// sequence number, into `out`.
    fn packet(&mut self, marker: bool, time: u32, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&[0x80, self.pt | if marker { 0x80 } else { 0 }]);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&time.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
    }
}

/// Where VP8 packet `n` of the source's stream falls: frames of `per_frame` packets sent
/// evenly at the plan's rate, a key frame every `key_every` frames.
#[derive(Debug, Clone, Copy)]
struct Vp8Schedule {
    pps: u64,
    per_frame: u64,
    key_every: u64,
}

/// One VP8 packet of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vp8Slot {
    packet: Vp8Packet,
    /// Last packet of its frame: the RTP marker bit.
    marker: bool,
    /// RTP time of its frame, 90 kHz from the stream's start.
    time: u32,
}

impl Vp8Schedule {
    fn new(plan: &VideoPlan) -> Vp8Schedule {
        let pps = u64::from(plan.pps.max(1));
        let per_frame = pps.div_ceil(VIDEO_MAX_FPS);
        let frames_per_s = pps as f64 / per_frame as f64;
        let key_every = (plan.keyframe_interval.as_secs_f64() * frames_per_s).round() as u64;
        Vp8Schedule {
            pps,
            per_frame,
            key_every: key_every.max(1),
        }
    }

    /// When packet `n` is due, from the stream's start.
    fn due(&self, n: u64) -> Duration {
        Duration::from_nanos(n * 1_000_000_000 / self.pps)
    }

    fn slot(&self, n: u64) -> Vp8Slot {
        let (frame, in_frame) = (n / self.per_frame, n % self.per_frame);
        Vp8Slot {
            packet: Vp8Packet {
                frame_start: in_frame == 0,
                keyframe: frame % self.key_every == 0,
                picture_id: (frame & 0x7fff) as u16,
            },
            marker: in_frame + 1 == self.per_frame,
            time: (frame * self.per_frame * VP8_CLOCK / self.pps) as u32,
        }
    }
}

/// The source's sending loop, on its own thread.
struct Feed {
    socket: UdpSocket,
    audio: Stream,
    audio_size: usize,
    /// The VP8 stream, its schedule and payload size.
    video: Option<(Stream, Vp8Schedule, usize)>,
    /// The run's start: probe times count from it, as the viewers' arrival times do.
    start: Instant,
    sent: Sent,
}

impl Feed {
    fn run(mut self, stop: &AtomicBool, hard_stop: Instant) -> Sent {
        let audio_every = Duration::from_secs(1) / AUDIO_PPS;
        let began = Instant::now();
        let (mut audio_n, mut video_n) = (0u32, 0u64);
        let mut datagram = Vec::with_capacity(1500);
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= hard_stop {
                break;
            }
            let audio_at = began + audio_every * audio_n;
            let video_at = self.video.as_ref().map(|(_, s, _)| began + s.due(video_n));
            let (due, is_video) = match video_at {
                Some(v) if v < audio_at => (v, true),
                _ => (audio_at, false),
            };
            if due > now {
                thread::sleep((due - now).min(SOURCE_IDLE));
                continue;
            }
            if now - due > MAX_LAG {
                self.sent.skipped += 1;
            } else if is_video {
                self.send_video(video_n, now, &mut datagram);
            } else {
                self.send_audio(audio_n, now, &mut datagram);
            }
            if is_video {
                video_n += 1;
            } else {
                audio_n += 1;
            }
        }
        self.sent
    }

    /// The probe of the next packet, booked in the ledger as sent now.
    fn probe(&mut self, now: Instant, video: bool) -> Probe {
        let sent_us = now.saturating_duration_since(self.start).as_micros() as u32;
        let ledger = &mut self.sent.ledger;
        let seq = if video {
            ledger.next_sent_video(sent_us)
        } else {
            ledger.next_sent(sent_us)
        };
        Probe {
            peer: SOURCE,
            seq,
            sent_us,
        }
    }

    fn send_audio(&mut self, n: u32, now: Instant, datagram: &mut Vec<u8>) {
        let time = (u64::from(n) * OPUS_CLOCK / u64::from(AUDIO_PPS)) as u32;
        let payload = payload::opus(self.audio_size, self.probe(now, false));
        self.audio.packet(false, time, &payload, datagram);
        let to = self.audio.to;
        self.transmit(datagram, to);
    }

    fn send_video(&mut self, n: u64, now: Instant, datagram: &mut Vec<u8>) {
        let Some((_, schedule, size)) = self.video else {
            return;
        };
        let slot = schedule.slot(n);
        let payload = payload::vp8(size, slot.packet, self.probe(now, true));
        let Some((stream, ..)) = &mut self.video else {
            return;
        };
        stream.packet(slot.marker, slot.time, &payload, datagram);
        let to = stream.to;
        if slot.packet.frame_start && slot.packet.keyframe {
            self.sent.keyframes += 1;
        }
        self.transmit(datagram, to);
    }

    fn transmit(&mut self, datagram: &[u8], to: SocketAddr) {
        if let Err(e) = self.socket.send_to(datagram, to) {
            self.sent.send_errors += 1;
            if self.sent.failure.is_none() && e.kind() != io::ErrorKind::WouldBlock {
                self.sent.failure = Some(format!("sending to {to}: {e}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(pps: u32, keyframe_s: u64) -> Vp8Schedule {
        Vp8Schedule::new(&VideoPlan {
            pps,
            size: 1100,
            keyframe_interval: Duration::from_secs(keyframe_s),
        })
    }

    #[test]
    fn vp8_frames_of_ten_packets_at_300_pps_with_a_key_frame_every_two_seconds() {
        let s = schedule(300, 2);
        assert_eq!((s.per_frame, s.key_every), (10, 60));
        let first = s.slot(0);
        assert!(first.packet.frame_start && first.packet.keyframe && !first.marker);
        assert!(s.slot(9).marker && !s.slot(9).packet.frame_start);
        let second = s.slot(10);
        assert!(second.packet.frame_start && !second.packet.keyframe);
        assert_eq!((second.packet.picture_id, second.time), (1, 3000));
        assert!(s.slot(600).packet.keyframe && s.slot(600).packet.frame_start);
        assert_eq!(s.due(300), Duration::from_secs(1));
    }

    #[test]
    fn rtp_header_carries_marker_payload_type_sequence_time_and_ssrc() {
        let to = SocketAddr::from(([127, 0, 0, 1], 5004));
        let mut stream = Stream::new(to, VP8_PT, 0x0102_0304);
        let mut out = Vec::new();
        stream.packet(false, 7, b"x", &mut out);
        stream.packet(true, 9, b"yz", &mut out);
        assert_eq!(
            out,
            [0x80, 0x80 | 100, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, b'y', b'z']
        );
    }

    #[test]
    fn url_host_is_the_servers_address() {
        let v4 = |a, b, c, d| Some(IpAddr::from([a, b, c, d]));
        assert_eq!(url_host("http://10.231.0.2:8088/janus"), v4(10, 231, 0, 2));
        assert_eq!(url_host("http://127.0.0.1/janus"), v4(127, 0, 0, 1));
        assert_eq!(
            url_host("http://[::1]:8088/janus"),
            Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST))
        );
    }
}
