//! Scenario `audiobridge`: N participants in `janus.plugin.audiobridge` rooms, every one of
//! them sending opus at 50 packets/s and receiving the server's mix of the others.
//!
//! Phases, each bounded: rooms (`create` R rooms with random ids, the given `sampling_rate`,
//! `audiolevel_event: false`) → participants, a few at a time (`join` → `joined` →
//! `configure {muted: false}` with an audio-only opus offer → the answer → `webrtcup`), all
//! within `setup_timeout` → warm-up → measuring window (server and client `/proc` sampled at
//! both ends) → drain → teardown (`destroy` every room, then every session) → report.
//!
//! The audio is real opus, so the mixer has something to decode: before set-up, each speaker's
//! tone (a warbling sine of its own pitch) and one stretch of silence are encoded with libopus
//! into a cycle of [`CYCLE_FRAMES`] packets, and each participant sends its cycle over and
//! over. Only `speakers` participants per room send a tone; the others send encoded silence at
//! the same rate, as a browser without DTX does: a webinar.
//!
//! The server's mix carries no probe of ours, so the mix packets are counted by their RTP
//! sequence numbers: per participant, the packets that arrived inside the window, and the gaps
//! between the first and the last of them (loss). At the end the last mix packets each
//! participant got before the window closed are decoded, to tell whether it heard anything.
//!
//! Participants are peers of their own kind (not [`crate::peer::Peer`], whose packets carry
//! probes), driven by a media loop of the same shape as [`crate::media`]: one thread, one
//! mio poll over one UDP socket per participant.

use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::echotest::{Keeper, LoadError, Window, DRAIN, MAX_ERRORS};
use crate::fanout::{in_parallel, Sessions};
use crate::janus::JanusApi;
use crate::media::{Command, LoopPeer, MediaDoor, MediaThread};
use crate::peer::{AudioCodec, MediaPlan, PeerKit, AUDIO_PPS};
use crate::procfs::{udp_socket_drops, Process};
use crate::report::{percentile, round3, us_to_ms};
use crate::setup::{Deadlines, EventWaiter, SetupFailure};

const PLUGIN: &str = "janus.plugin.audiobridge";
/// One opus frame: 20 ms, 960 samples at 48 kHz (the RTP clock of opus).
const FRAME: Duration = Duration::from_millis(20);
const OPUS_RATE: u32 = 48_000;
const FRAME_SAMPLES: usize = 960;
/// Packets in a pre-encoded cycle: half a second, so a tone of an even pitch in Hz and a
/// 2 Hz warble both loop without a seam.
pub const CYCLE_FRAMES: usize = 25;
/// Peak amplitude of a speaker's tone (about -12 dBFS).
const TONE_PEAK: f64 = 8000.0;
/// Mix packets each participant keeps (with their arrival) to decode at the end.
const KEEP_TAIL: usize = 64;
/// Of those, the last this many before the window closed are decoded, and the first
/// [`DECODE_SKIP`] of them only prime the decoder.
const DECODE_LAST: usize = 10;
const DECODE_SKIP: usize = 4;
/// RMS (16-bit PCM) above which a decoded mix counts as audible; the tones are near 4000.
const AUDIBLE_RMS: f64 = 200.0;
/// A participant behind its schedule by more than this (a saturated client) skips packets.
const MAX_LAG: Duration = Duration::from_millis(200);
/// Janus: `create` refused because the room exists.
const ROOM_EXISTS: i64 = 486;

/// What to run.
#[derive(Debug, Clone)]
pub struct AudiobridgeConfig {
    /// Janus HTTP API root, `http://127.0.0.1:8088/janus`.
    pub server: String,
    /// Participants in all (one session, handle and PeerConnection each).
    pub participants: u32,
    /// Rooms the participants are spread over (participant i goes to room (i - 1) mod R).
    pub rooms: u32,
    /// Participants per room sending a tone; the others send opus-encoded silence.
    pub speakers: u32,
    /// The rooms' `sampling_rate`, Hz.
    pub sampling_rate: u32,
    /// Opus bitrate of the tones and the silence, bits/s.
    pub bitrate: u32,
    /// Send each packet's audio level (RFC 6464) as browsers do.
    pub audio_level: bool,
    pub duration: Duration,
    pub warmup: Duration,
    /// The server's process, to read its CPU time and memory.
    pub server_pid: Option<u32>,
    /// Local address of the participants' sockets.
    pub bind: IpAddr,
    /// Bound on bringing the rooms and every participant up.
    pub setup_timeout: Duration,
    /// Participants set up at the same time.
    pub setup_concurrency: u32,
}

impl AudiobridgeConfig {
    fn validate(&self) -> Result<(), LoadError> {
        let problems = [
            (
                self.participants == 0,
                "at least one participant".to_owned(),
            ),
            (self.rooms == 0, "at least one room".into()),
            (
                self.rooms > self.participants,
                "no more rooms than participants".into(),
            ),
            (
                ![8000, 12000, 16000, 24000, 48000].contains(&self.sampling_rate),
                "the sampling rate must be 8000, 12000, 16000, 24000 or 48000".into(),
            ),
            (
                !(6000..=510_000).contains(&self.bitrate),
                "the opus bitrate must be 6000..=510000 bits/s".into(),
            ),
            (
                self.duration.is_zero(),
                "the duration must be positive".into(),
            ),
        ];
        match problems.into_iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err(LoadError::Config(why)),
            None => Ok(()),
        }
    }

    /// The room (index into the rooms) of participant `index` (1-based) and whether it speaks.
    fn place(&self, index: u32) -> (usize, bool) {
        let slot = index - 1;
        let room = slot % self.rooms;
        let position = slot / self.rooms;
        (room as usize, position < self.speakers)
    }

    /// Participants that should hear a tone in their mix: everyone in a room with a speaker
    /// other than themselves.
    fn expected_hearing(&self) -> u32 {
        (0..self.rooms)
            .map(|room| {
                let members = (self.participants - room).div_ceil(self.rooms);
                let speakers = members.min(self.speakers);
                match speakers {
                    0 => 0,
                    1 => members - 1,
                    _ => members,
                }
            })
            .sum()
    }
}

/// The result of one run: one JSON line. Units are in the field names; `null` means "not
/// measured".
#[derive(Debug, Clone, Serialize)]
pub struct AudiobridgeReport {
    pub scenario: &'static str,
    pub server: String,
    /// The rooms made (and destroyed at the end), and how many were asked for.
    pub rooms: Vec<u64>,
    pub rooms_asked: u32,
    pub sampling_rate: u32,
    pub participants: u32,
    /// Participants whose PeerConnection came up (`webrtcup`).
    pub participants_connected: u32,
    pub participants_failed: u32,
    /// Connected participants that received mix packets inside the window.
    pub participants_receiving: u32,
    /// Speakers per room, and speakers in all among the connected participants.
    pub speakers_per_room: u32,
    pub speakers_connected: u32,
    /// What every participant sends: packets/s, and the mean opus payload of a speaker's tone
    /// and of the silence, bytes.
    pub audio_pps: u32,
    pub tone_payload_bytes: f64,
    pub silence_payload_bytes: f64,
    pub warmup_s: f64,
    pub window_s: f64,
    /// Packets the connected participants sent inside the window.
    pub sent_packets: u64,
    /// Mix packets the connected participants received inside the window, and per participant
    /// per second (the mixer's 50 when it keeps up): the mean, the lowest participant's, and
    /// how many participants got fewer than 49/s.
    pub mix_packets: u64,
    pub mix_pps_per_participant: f64,
    pub mix_pps_min: Option<f64>,
    pub participants_below_49pps: u32,
    /// Gaps in each participant's mix sequence inside the window, summed; over the expected
    /// (gaps plus received); the worst participant's; duplicates.
    pub mix_lost_packets: u64,
    pub mix_loss_pct: f64,
    pub worst_participant_loss_pct: f64,
    pub mix_duplicate_packets: u64,
    /// Mean opus payload of the mix packets received in the window, bytes.
    pub mix_payload_bytes: f64,
    /// Participants whose last mix packets before the window closed decode to sound (RMS over
    /// [`AUDIBLE_RMS`]), and how many should (everyone with another speaker in the room).
    pub participants_hearing_audio: u32,
    pub participants_expected_hearing: u32,
    /// `join` sent → `joined`; `join` sent → `webrtcup`; `join` sent → first mix packet.
    pub join_ms_p50: Option<f64>,
    pub setup_ms_p50: Option<f64>,
    pub setup_ms_p99: Option<f64>,
    pub first_mix_ms_p50: Option<f64>,
    pub first_mix_ms_p99: Option<f64>,
    pub server_pid: Option<u32>,
    /// Server CPU time over the window per mixed frame-participant: CPU / (connected
    /// participants × 50/s × window).
    pub server_cpu_us_per_frame_participant: Option<f64>,
    /// Server CPU over the window, percent of one core.
    pub server_cpu_pct: Option<f64>,
    /// Server resident memory at the end of the window, and its growth since before the first
    /// room was made divided by the connected participants.
    pub server_rss_kib: Option<u64>,
    pub server_rss_kib_per_participant: Option<f64>,
    pub server_threads: Option<u32>,
    /// This tool's CPU over the window, percent of one core.
    pub client_cpu_pct: f64,
    pub client_send_errors: u64,
    pub client_skipped_packets: u64,
    /// Kernel drops for full receive buffers during the window (host- or namespace-wide),
    /// and drops on this tool's own sockets over the run.
    pub udp_rcvbuf_errors: Option<u64>,
    pub client_socket_drops: Option<u64>,
    pub errors: Vec<String>,
}

/// A participant whose PeerConnection is up.
#[derive(Debug, Clone, Copy)]
struct Joined {
    index: u32,
    speaker: bool,
    asked_at: Instant,
    /// `join` sent → `joined`.
    joined: Duration,
    /// `join` sent → `webrtcup`.
    setup: Duration,
}

/// Runs the scenario and reports. Always returns within about
/// `setup_timeout + warmup + duration + 30 s` (plus the teardown's bounded requests).
pub fn run(config: &AudiobridgeConfig) -> Result<AudiobridgeReport, LoadError> {
    config.validate()?;
    let start = Instant::now();
    let server = config.server_pid.map(Process::Pid);
    let rss_before = server.map(Process::sample).transpose()?.map(|s| s.rss_kib);
    let plan = MediaPlan {
        audio_codec: AudioCodec::Opus,
        audio_size: 0,
        video: None,
    };
    let kit = PeerKit::new(config.bind, plan).ok_or(LoadError::Certificate)?;
    let audio = Arc::new(Audio::encode(config).map_err(LoadError::Config)?);
    let sizes = AudioSizes::of(&audio);
    let deadlines = Deadlines::new(start, config.setup_timeout, config.warmup, config.duration);
    let media = MediaThread::<Participant>::spawn(deadlines.hard_stop)?;
    let janus = JanusApi::new(&config.server);
    let sessions = Sessions::default();
    let mut errors: Vec<String> = Vec::new();

    // The rooms.
    let control = sessions.open(&janus, PLUGIN);
    let mut rooms: Vec<u64> = Vec::new();
    match &control {
        Err(e) => errors.push(format!("control session: {e}")),
        Ok((session, handle)) => {
            for n in 0..config.rooms {
                match create_room(&janus, *session, *handle, config.sampling_rate, n) {
                    Ok(room) => rooms.push(room),
                    Err(e) => {
                        errors.push(format!("creating room {}: {e}", n + 1));
                        break;
                    }
                }
            }
        }
    }

    // The participants.
    let mut joined: Vec<Joined> = Vec::new();
    if rooms.len() == config.rooms as usize {
        let (janus, kit, door, sessions, rooms, audio, cfg) = (
            janus.clone(),
            kit.clone(),
            media.door(),
            sessions.clone(),
            rooms.clone(),
            Arc::clone(&audio),
            config.clone(),
        );
        let setup_deadline = deadlines.setup;
        let (up, setup_errors) = in_parallel(
            config.participants,
            config.setup_concurrency,
            deadlines.results,
            "participants",
            move |index| {
                let (room, speaker) = cfg.place(index);
                let cycle = audio.cycle(index, speaker);
                let joining = Joining {
                    index,
                    room: rooms[room],
                    speaker,
                    cycle,
                };
                join(
                    &janus,
                    &kit,
                    &door,
                    &sessions,
                    joining,
                    start,
                    setup_deadline,
                )
            },
        );
        joined = up;
        errors.extend(setup_errors);
    }

    let keeper = Keeper::spawn(janus.clone(), sessions.all().into_iter());

    // Warm-up, then the measuring window.
    let mut window = Window::default();
    if !joined.is_empty() {
        thread::sleep(config.warmup);
        window.open(start, server, &mut errors);
        thread::sleep(config.duration);
        window.close(start, server, &mut errors);
    }
    media.door().send(Command::StopSending);
    thread::sleep(DRAIN);
    let peers = media.finish()?;
    let ports: Vec<u16> = peers.iter().map(|p| p.local.port()).collect();
    let client_socket_drops = udp_socket_drops(&ports);
    keeper.stop();

    // Teardown: the rooms, then every session, each request bounded.
    if let Ok((session, handle)) = &control {
        for &room in &rooms {
            let body = json!({"request": "destroy", "room": room});
            match janus.message(*session, *handle, body, None) {
                Ok(reply) if reply["plugindata"]["data"]["audiobridge"] == "destroyed" => {}
                Ok(reply) => errors.push(format!("destroying room {room}: {reply}")),
                Err(e) => errors.push(format!("destroying room {room}: {e}")),
            }
        }
    }
    sessions.destroy_all(&janus);

    Ok(report(
        config,
        rooms,
        &joined,
        &peers,
        &window,
        rss_before,
        client_socket_drops,
        &sizes,
        errors,
    ))
}

/// Mean opus payloads of the pre-encoded cycles, bytes.
struct AudioSizes {
    tone: f64,
    silence: f64,
}

impl AudioSizes {
    fn of(audio: &Audio) -> AudioSizes {
        let mean = |c: &[Arc<[u8]>]| {
            round3(c.iter().map(|p| p.len()).sum::<usize>() as f64 / c.len().max(1) as f64)
        };
        AudioSizes {
            tone: audio.tones.first().map_or(0.0, |c| mean(&c.packets)),
            silence: mean(&audio.silence.packets),
        }
    }
}

/// `create` a room with a random id: the given sampling rate, no talking events, no
/// recording, not permanent.
fn create_room(
    janus: &JanusApi,
    session: u64,
    handle: u64,
    sampling_rate: u32,
    n: u32,
) -> Result<u64, String> {
    let mut last = String::new();
    for attempt in 0..3u64 {
        let room = random_room_id(u64::from(n) * 7 + attempt);
        let body = json!({
            "request": "create",
            "room": room,
            "description": format!("cardea-load {room}"),
            "sampling_rate": sampling_rate,
            "audiolevel_event": false,
            "record": false,
            "permanent": false,
        });
        let reply = janus
            .message(session, handle, body, None)
            .map_err(|e| e.to_string())?;
        let data = &reply["plugindata"]["data"];
        if data["audiobridge"] == "created" {
            return Ok(data["room"].as_u64().unwrap_or(room));
        }
        last = data.to_string();
        if data["error_code"] != ROOM_EXISTS {
            break;
        }
    }
    Err(format!("server answered {last}"))
}

/// A room id unlikely to be taken: from the clock and our pid, below 2^53 (JSON numbers).
fn random_room_id(salt: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ salt.wrapping_mul(0x9e37_79b9);
    100_000_000 + mixed % 1_000_000_000_000
}

/// Who joins where, sending what.
struct Joining {
    index: u32,
    room: u64,
    speaker: bool,
    cycle: Cycle,
}

/// One participant with its own session and handle: `join` → `joined` → `configure` with our
/// offer → the answer → `webrtcup`, by `deadline`.
fn join(
    janus: &JanusApi,
    kit: &PeerKit,
    media: &MediaDoor<Participant>,
    sessions: &Sessions,
    joining: Joining,
    start: Instant,
    deadline: Instant,
) -> Result<Joined, SetupFailure> {
    let index = joining.index;
    let fail = |reason: String| SetupFailure {
        session: None,
        reason: format!("participant {index}: {reason}"),
    };
    let (session, handle) = sessions.open(janus, PLUGIN).map_err(fail)?;
    let asked_at = Instant::now();
    let body = json!({
        "request": "join",
        "room": joining.room,
        "display": format!("cardea-load {index}"),
    });
    janus
        .message(session, handle, body, None)
        .map_err(|e| fail(e.to_string()))?;
    let mut events = EventWaiter::new(janus, session);
    // Our own `joined` carries our id; the ones about others joining do not.
    events
        .wait_for("joined", deadline, |e| {
            let data = &e["plugindata"]["data"];
            data["audiobridge"] == "joined" && !data["id"].is_null()
        })
        .map_err(fail)?;
    let joined = asked_at.elapsed();

    let (offer, sdp) = Offer::new(kit, Instant::now()).map_err(fail)?;
    let body = json!({"request": "configure", "muted": false});
    let jsep = json!({"type": "offer", "sdp": sdp, "trickle": false});
    janus
        .message(session, handle, body, Some(jsep))
        .map_err(|e| fail(e.to_string()))?;
    let answer = events
        .wait_for("the answer", deadline, |e| e["jsep"]["type"] == "answer")
        .map_err(fail)?;
    let sdp = answer["jsep"]["sdp"]
        .as_str()
        .ok_or_else(|| fail(format!("answer without sdp: {answer}")))?;
    let peer = offer
        .accept(sdp, index, joining.cycle, start)
        .map_err(fail)?;
    if !media.send(Command::Adopt(Box::new(peer))) {
        return Err(fail("the media thread is gone".into()));
    }
    events
        .wait_for("webrtcup", deadline, |e: &Value| e["janus"] == "webrtcup")
        .map_err(fail)?;
    Ok(Joined {
        index,
        speaker: joining.speaker,
        asked_at,
        joined,
        setup: asked_at.elapsed(),
    })
}

/// The pre-encoded audio of a run: one cycle per speaker, one of silence for the others.
struct Audio {
    tones: Vec<Cycle>,
    silence: Cycle,
}

impl Audio {
    fn encode(config: &AudiobridgeConfig) -> Result<Audio, String> {
        let speakers = (1..=config.participants)
            .filter(|&i| config.place(i).1)
            .count();
        let tones = (0..speakers)
            .map(|s| encode_cycle(Some(tone_pitch(s)), config.bitrate))
            .collect::<Result<Vec<_>, _>>()?;
        let silence = encode_cycle(None, config.bitrate)?;
        let mut audio = Audio { tones, silence };
        if !config.audio_level {
            for c in audio.tones.iter_mut().chain([&mut audio.silence]) {
                c.levels = Arc::from([]);
            }
        }
        Ok(audio)
    }

    /// The cycle participant `index` sends.
    fn cycle(&self, index: u32, speaker: bool) -> Cycle {
        if !speaker {
            return self.silence.clone();
        }
        // The speakers are participants 1..=speakers × rooms: tone `index - 1`.
        self.tones
            .get((index - 1) as usize)
            .map_or_else(|| self.silence.clone(), Cycle::clone)
    }
}

/// Speaker `s`'s pitch: even Hz (seamless over the half-second cycle), 300 Hz up in 40 Hz
/// steps, wrapping below 3 kHz.
fn tone_pitch(s: usize) -> f64 {
    300.0 + 40.0 * (s % 60) as f64
}

/// [`CYCLE_FRAMES`] opus packets of a tone at `pitch` Hz warbling at 2 Hz, or of silence. The
/// encoder runs over the cycle twice and keeps the second pass, so that the kept packets do
/// not start from a fresh encoder.
fn encode_cycle(pitch: Option<f64>, bitrate: u32) -> Result<Cycle, String> {
    let oops = |e: opus::Error| format!("libopus: {e}");
    let mut encoder = opus::Encoder::new(OPUS_RATE, opus::Channels::Mono, opus::Application::Voip)
        .map_err(oops)?;
    encoder
        .set_bitrate(opus::Bitrate::Bits(bitrate as i32))
        .map_err(oops)?;
    let total = FRAME_SAMPLES * CYCLE_FRAMES;
    let pcm: Vec<i16> = (0..total)
        .map(|n| match pitch {
            None => 0,
            Some(f) => {
                let t = n as f64 / f64::from(OPUS_RATE);
                let warble = 0.65 + 0.35 * (TAU * 2.0 * t).sin();
                (TONE_PEAK * warble * (TAU * f * t).sin()) as i16
            }
        })
        .collect();
    let mut out = vec![0u8; 1500];
    let mut packets = Vec::with_capacity(CYCLE_FRAMES);
    for pass in 0..2 {
        for frame in pcm.chunks(FRAME_SAMPLES) {
            let n = encoder.encode(frame, &mut out).map_err(oops)?;
            if pass == 1 {
                packets.push(Arc::from(&out[..n]));
            }
        }
    }
    Ok(Cycle {
        packets: packets.into(),
        levels: pcm.chunks(FRAME_SAMPLES).map(audio_level).collect(),
    })
}

/// A frame's audio level as a browser puts it in the RFC 6464 header extension: its RMS in
/// dB below a full-scale square wave (dBov), from 0 down to -127 (digital silence).
fn audio_level(frame: &[i16]) -> i8 {
    let power =
        frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len().max(1) as f64;
    if power <= 0.0 {
        return -127;
    }
    let dbov = 10.0 * (power / 32768f64.powi(2)).log10();
    dbov.round().clamp(-127.0, 0.0) as i8
}

/// A pre-encoded cycle: opus packets, and the audio level of the frame each one encodes.
#[derive(Clone)]
struct Cycle {
    packets: Arc<[Arc<[u8]>]>,
    levels: Arc<[i8]>,
}

/// A participant that has made its offer and waits for the answer.
struct Offer {
    rtc: Rtc,
    pending: SdpPendingOffer,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    mid: Mid,
}

impl Offer {
    /// Binds the socket and makes an audio-only opus offer, sendrecv, host candidate inside.
    fn new(kit: &PeerKit, now: Instant) -> Result<(Offer, String), String> {
        let bind = |e: std::io::Error| format!("binding a UDP socket on {}: {e}", kit.bind);
        let socket = mio::net::UdpSocket::bind(SocketAddr::new(kit.bind, 0)).map_err(bind)?;
        let local = socket.local_addr().map_err(bind)?;
        let mut rtc = Rtc::builder()
            .set_crypto_provider(Arc::clone(&kit.crypto))
            .set_dtls_cert(kit.cert.clone())
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .set_stats_interval(None)
            .build(now);
        let candidate = Candidate::host(local, "udp").map_err(|e| format!("candidate: {e}"))?;
        rtc.add_local_candidate(candidate);
        let mut sdp = rtc.sdp_api();
        let mid = sdp.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = sdp
            .apply()
            .expect("adding media is a change, so apply() yields an offer");
        let offer = offer.to_sdp_string();
        Ok((
            Offer {
                rtc,
                pending,
                socket,
                local,
                mid,
            },
            offer,
        ))
    }

    /// Applies the server's answer: the participant is ready for the media loop.
    fn accept(
        mut self,
        answer_sdp: &str,
        index: u32,
        cycle: Cycle,
        start: Instant,
    ) -> Result<Participant, String> {
        let answer =
            SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| format!("bad SDP answer: {e}"))?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, answer)
            .map_err(|e| format!("str0m: {e}"))?;
        let pt = opus_pt(&self.rtc, self.mid).ok_or("the answer has no opus payload type")?;
        Ok(Participant {
            index,
            rtc: self.rtc,
            socket: self.socket,
            local: self.local,
            start,
            next_timeout: Instant::now(),
            mid: self.mid,
            pt,
            cycle,
            cursor: 0,
            rtp_seq: 0,
            rtp_time: 0,
            next_send: None,
            sending: true,
            connected_at: None,
            first_mix_at: None,
            failure: None,
            sent_us: Vec::new(),
            mix: Vec::new(),
            tail: VecDeque::with_capacity(KEEP_TAIL),
            send_errors: 0,
            skipped: 0,
        })
    }
}

/// The opus payload type the answer kept on `mid`.
fn opus_pt(rtc: &Rtc, mid: Mid) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let config = rtc.codec_config();
    media.remote_pts().iter().copied().find(|pt| {
        config
            .find(|p| p.pt() == *pt)
            .is_some_and(|p| p.spec().codec == Codec::Opus)
    })
}

/// One mix packet received: arrival (µs since start), extended sequence, payload size.
#[derive(Debug, Clone, Copy)]
struct MixPacket {
    at_us: u32,
    seq: u64,
    bytes: u16,
}

/// A negotiated participant, owned by the media loop.
struct Participant {
    index: u32,
    rtc: Rtc,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    start: Instant,
    next_timeout: Instant,
    mid: Mid,
    pt: Pt,
    cycle: Cycle,
    cursor: usize,
    rtp_seq: u64,
    rtp_time: u32,
    next_send: Option<Instant>,
    sending: bool,
    connected_at: Option<Instant>,
    first_mix_at: Option<Instant>,
    failure: Option<String>,
    /// Send times of our packets, µs since start.
    sent_us: Vec<u32>,
    /// Every mix packet received.
    mix: Vec<MixPacket>,
    /// The last [`KEEP_TAIL`] mix payloads, with their arrival.
    tail: VecDeque<(u32, Arc<[u8]>)>,
    send_errors: u64,
    skipped: u64,
}

impl LoopPeer for Participant {
    fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }
    fn is_alive(&self) -> bool {
        Participant::is_alive(self)
    }
    fn deadline(&self) -> Instant {
        Participant::deadline(self)
    }
    fn tick(&mut self, now: Instant) {
        Participant::tick(self, now);
    }
    fn receive(&mut self, buf: &mut [u8]) {
        Participant::receive(self, buf);
    }
    fn stop_sending(&mut self) {
        self.sending = false;
    }
}

impl Participant {
    fn is_alive(&self) -> bool {
        self.failure.is_none() && self.rtc.is_alive()
    }

    fn deadline(&self) -> Instant {
        match self.next_send.filter(|_| self.sending) {
            Some(at) => self.next_timeout.min(at),
            None => self.next_timeout,
        }
    }

    fn micros(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.start).as_micros() as u32
    }

    /// Reads every datagram waiting on the socket (the poll is edge-triggered).
    fn receive(&mut self, buf: &mut [u8]) {
        loop {
            let (n, source) = match self.socket.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if !self.is_alive() {
                continue;
            }
            let now = Instant::now();
            let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) else {
                continue;
            };
            if let Err(e) = self.rtc.handle_input(Input::Receive(now, receive)) {
                self.fail(format!("handle_input: {e}"));
                return;
            }
            self.drain(now);
        }
    }

    fn tick(&mut self, now: Instant) {
        if !self.is_alive() {
            return;
        }
        if self.sending && self.connected_at.is_some() {
            self.send(now);
        }
        if now >= self.next_timeout {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                self.fail(format!("timeout: {e}"));
                return;
            }
        }
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    if self.socket.send_to(&t.contents, t.destination).is_err() {
                        self.send_errors += 1;
                    }
                }
                Ok(Output::Event(event)) => self.on_event(event, now),
                Err(e) => {
                    self.fail(format!("poll_output: {e}"));
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Connected => {
                self.connected_at = Some(now);
                // Spread the participants over one frame.
                self.next_send = Some(now + FRAME * (self.index % 20) / 20);
            }
            Event::RtpPacket(packet) => {
                let at_us = self.micros(packet.timestamp);
                self.first_mix_at.get_or_insert(packet.timestamp);
                self.mix.push(MixPacket {
                    at_us,
                    seq: *packet.seq_no,
                    bytes: packet.payload.len().min(usize::from(u16::MAX)) as u16,
                });
                if self.tail.len() == KEEP_TAIL {
                    self.tail.pop_front();
                }
                self.tail.push_back((at_us, packet.payload));
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail("ICE disconnected".into());
            }
            Event::Closed => self.fail("DTLS closed by the server".into()),
            _ => {}
        }
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
        self.rtc.disconnect();
    }

    fn send(&mut self, now: Instant) {
        while let Some(at) = self.next_send.filter(|at| *at <= now) {
            self.next_send = Some(at + FRAME);
            let rtp_time = self.rtp_time;
            self.rtp_time = self.rtp_time.wrapping_add(FRAME_SAMPLES as u32);
            let k = self.cursor % self.cycle.packets.len();
            let payload = Arc::clone(&self.cycle.packets[k]);
            let level = self.cycle.levels.get(k).copied();
            self.cursor += 1;
            if now - at > MAX_LAG {
                self.skipped += 1;
                continue;
            }
            self.rtp_seq += 1;
            self.sent_us.push(self.micros(now));
            let mut write = RtpWrite::new(self.pt, self.rtp_seq.into(), rtp_time, now, payload);
            if level.is_some() {
                write = write.ext_vals(ExtensionValues {
                    audio_level: level,
                    voice_activity: level.map(|l| l > -50),
                    ..ExtensionValues::default()
                });
            }
            let mut api = self.rtc.direct_api();
            match api.stream_tx_by_mid(self.mid, None) {
                Some(tx) => tx.write_rtp(write),
                None => {
                    let mid = self.mid;
                    self.fail(format!("no send stream for mid {mid}"));
                    return;
                }
            }
        }
    }
}

/// One participant's mix inside the window.
#[derive(Debug, Default, Clone, Copy)]
struct MixTally {
    received: u64,
    lost: u64,
    duplicates: u64,
    bytes: u64,
}

/// Counts the mix packets that arrived in `[from_us, to_us)`: received, gaps between the
/// lowest and highest sequence among them, duplicates.
fn tally_mix(mix: &[MixPacket], from_us: u32, to_us: u32) -> MixTally {
    let mut seqs: Vec<u64> = Vec::new();
    let mut bytes = 0u64;
    for p in mix.iter().filter(|p| p.at_us >= from_us && p.at_us < to_us) {
        seqs.push(p.seq);
        bytes += u64::from(p.bytes);
    }
    let received = seqs.len() as u64;
    seqs.sort_unstable();
    seqs.dedup();
    let unique = seqs.len() as u64;
    let span = match (seqs.first(), seqs.last()) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    };
    MixTally {
        received,
        lost: span - unique,
        duplicates: received - unique,
        bytes,
    }
}

/// Decodes the last mix packets that arrived before `to_us` and says whether they carry sound.
fn hears_audio(tail: &VecDeque<(u32, Arc<[u8]>)>, to_us: u32) -> bool {
    let before: Vec<&Arc<[u8]>> = tail
        .iter()
        .filter(|(at, _)| *at < to_us)
        .map(|(_, p)| p)
        .collect();
    let last = &before[before.len().saturating_sub(DECODE_LAST)..];
    let Ok(mut decoder) = opus::Decoder::new(OPUS_RATE, opus::Channels::Mono) else {
        return false;
    };
    let mut pcm = vec![0i16; FRAME_SAMPLES * 6];
    let (mut energy, mut samples) = (0f64, 0usize);
    for (i, payload) in last.iter().enumerate() {
        let Ok(n) = decoder.decode(payload, &mut pcm, false) else {
            continue;
        };
        if i >= DECODE_SKIP {
            energy += pcm[..n].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            samples += n;
        }
    }
    samples > 0 && (energy / samples as f64).sqrt() > AUDIBLE_RMS
}

#[allow(clippy::too_many_arguments)]
fn report(
    config: &AudiobridgeConfig,
    rooms: Vec<u64>,
    joined: &[Joined],
    peers: &[Participant],
    window: &Window,
    rss_before: Option<u64>,
    client_socket_drops: Option<u64>,
    sizes: &AudioSizes,
    mut errors: Vec<String>,
) -> AudiobridgeReport {
    for peer in peers {
        if let Some(why) = &peer.failure {
            errors.push(format!("participant {}: {why}", peer.index));
        }
    }
    let (from, to) = (window.from_us, window.to_us);
    let seconds = window.seconds();
    let by_index = |index: u32| peers.iter().find(|p| p.index == index);
    let mut total = MixTally::default();
    let (mut sent, mut receiving, mut below, mut hearing) = (0u64, 0u32, 0u32, 0u32);
    let mut worst_loss = 0f64;
    let mut min_pps: Option<f64> = None;
    let mut first_mix: Vec<u32> = Vec::new();
    for j in joined {
        let Some(peer) = by_index(j.index) else {
            continue;
        };
        sent += peer
            .sent_us
            .iter()
            .filter(|&&t| t >= from && t < to)
            .count() as u64;
        let t = tally_mix(&peer.mix, from, to);
        total.received += t.received;
        total.lost += t.lost;
        total.duplicates += t.duplicates;
        total.bytes += t.bytes;
        receiving += u32::from(t.received > 0);
        if seconds > 0.0 {
            let pps = (t.received - t.duplicates) as f64 / seconds;
            min_pps = Some(min_pps.map_or(pps, |m: f64| m.min(pps)));
            below += u32::from(pps < 49.0);
        }
        let expected = t.received - t.duplicates + t.lost;
        if expected > 0 {
            worst_loss = worst_loss.max(t.lost as f64 * 100.0 / expected as f64);
        }
        hearing += u32::from(hears_audio(&peer.tail, to));
        if let Some(at) = peer.first_mix_at {
            first_mix.push(at.saturating_duration_since(j.asked_at).as_micros() as u32);
        }
    }
    let micros = |f: fn(&Joined) -> Duration| {
        let mut v: Vec<u32> = joined.iter().map(|j| f(j).as_micros() as u32).collect();
        v.sort_unstable();
        v
    };
    let setups = micros(|j| j.setup);
    let joins = micros(|j| j.joined);
    first_mix.sort_unstable();
    let ms = |p: f64, v: &[u32]| percentile(v, p).map(us_to_ms);
    let connected = joined.len() as u32;
    let unique = total.received - total.duplicates;
    let frames = f64::from(connected) * f64::from(AUDIO_PPS) * seconds;
    let (peer_send_errors, peer_skipped) = peers
        .iter()
        .fold((0, 0), |(e, s), p| (e + p.send_errors, s + p.skipped));
    errors.truncate(MAX_ERRORS);
    AudiobridgeReport {
        scenario: "audiobridge",
        server: config.server.clone(),
        rooms,
        rooms_asked: config.rooms,
        sampling_rate: config.sampling_rate,
        participants: config.participants,
        participants_connected: connected,
        participants_failed: config.participants.saturating_sub(connected),
        participants_receiving: receiving,
        speakers_per_room: config.speakers,
        speakers_connected: joined.iter().filter(|j| j.speaker).count() as u32,
        audio_pps: AUDIO_PPS,
        tone_payload_bytes: sizes.tone,
        silence_payload_bytes: sizes.silence,
        warmup_s: config.warmup.as_secs_f64(),
        window_s: round3(seconds),
        sent_packets: sent,
        mix_packets: total.received,
        mix_pps_per_participant: if connected > 0 {
            round3(window.per_second(unique) / f64::from(connected))
        } else {
            0.0
        },
        mix_pps_min: min_pps.map(round3),
        participants_below_49pps: below,
        mix_lost_packets: total.lost,
        mix_loss_pct: round3(total.lost as f64 * 100.0 / (unique + total.lost).max(1) as f64),
        worst_participant_loss_pct: round3(worst_loss),
        mix_duplicate_packets: total.duplicates,
        mix_payload_bytes: round3(total.bytes as f64 / total.received.max(1) as f64),
        participants_hearing_audio: hearing,
        participants_expected_hearing: config.expected_hearing(),
        join_ms_p50: ms(50.0, &joins),
        setup_ms_p50: ms(50.0, &setups),
        setup_ms_p99: ms(99.0, &setups),
        first_mix_ms_p50: ms(50.0, &first_mix),
        first_mix_ms_p99: ms(99.0, &first_mix),
        server_pid: config.server_pid,
        server_cpu_us_per_frame_participant: window
            .server_cpu_us()
            .filter(|_| frames > 0.0)
            .map(|us| round3(us / frames)),
        server_cpu_pct: window.server_cpu_pct(),
        server_rss_kib: window.server_end.map(|s| s.rss_kib),
        server_rss_kib_per_participant: window
            .server_end
            .zip(rss_before)
            .filter(|_| connected > 0)
            .map(|(end, before)| {
                round3((end.rss_kib as f64 - before as f64) / f64::from(connected))
            }),
        server_threads: window.server_end.map(|s| s.threads),
        client_cpu_pct: window.client_cpu_pct(),
        client_send_errors: peer_send_errors,
        client_skipped_packets: peer_skipped,
        udp_rcvbuf_errors: window.rcvbuf_errors(),
        client_socket_drops,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(participants: u32, rooms: u32, speakers: u32) -> AudiobridgeConfig {
        AudiobridgeConfig {
            server: String::new(),
            participants,
            rooms,
            speakers,
            sampling_rate: 48_000,
            bitrate: 32_000,
            audio_level: true,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            server_pid: None,
            bind: IpAddr::from([127, 0, 0, 1]),
            setup_timeout: Duration::from_secs(1),
            setup_concurrency: 1,
        }
    }

    #[test]
    fn participants_are_spread_over_rooms_and_the_first_ones_speak() {
        let c = config(10, 2, 2);
        assert_eq!(c.place(1), (0, true));
        assert_eq!(c.place(2), (1, true));
        assert_eq!(c.place(4), (1, true));
        assert_eq!(c.place(5), (0, false));
        assert_eq!(c.expected_hearing(), 10);
        assert_eq!(config(10, 1, 1).expected_hearing(), 9);
        assert_eq!(config(10, 1, 0).expected_hearing(), 0);
        assert_eq!(config(3, 2, 1).expected_hearing(), 1);
    }

    #[test]
    fn mix_gaps_and_duplicates_are_counted_inside_the_window() {
        let p = |at_us, seq| MixPacket {
            at_us,
            seq,
            bytes: 10,
        };
        let mix = [
            p(5, 1),
            p(10, 2),
            p(20, 3),
            p(30, 5),
            p(31, 5),
            p(40, 8),
            p(99, 9),
        ];
        let t = tally_mix(&mix, 10, 50);
        assert_eq!((t.received, t.lost, t.duplicates), (5, 3, 1));
    }

    #[test]
    fn the_tone_decodes_to_sound_and_the_silence_does_not() {
        let tone = encode_cycle(Some(440.0), 32_000).expect("libopus encodes");
        let silence = encode_cycle(None, 32_000).expect("libopus encodes");
        assert_eq!(tone.packets.len(), CYCLE_FRAMES);
        let tail = |c: &Cycle| c.packets.iter().map(|p| (1u32, Arc::clone(p))).collect();
        assert!(hears_audio(&tail(&tone), 2));
        assert!(!hears_audio(&tail(&silence), 2));
        assert!(!hears_audio(&tail(&tone), 1));
        assert!(silence.levels.iter().all(|&l| l == -127));
        // The tone peaks at TONE_PEAK with a warble: loud, well above -75 dBov.
        assert!(
            tone.levels.iter().all(|&l| (-30..=-3).contains(&l)),
            "{:?}",
            tone.levels
        );
    }
}
