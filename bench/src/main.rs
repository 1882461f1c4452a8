//! `cardea-load echotest …` / `cardea-load sip …` / `cardea-load videoroom …` /
//! `cardea-load streaming …` / `cardea-load audiobridge …`: runs the scenario and prints one
//! JSON line on stdout.
//!
//! Exit status: 0 when every session came up (and, for `sip`, no call was dropped; for
//! `videoroom`, the publisher and every subscriber; for `streaming`, the mountpoint, its
//! source and every viewer; for `audiobridge`, every room and every participant), 2 when
//! some did not (the JSON line is printed either way), 1 when the run could not take place.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use cardea_load::{
    run_audiobridge, run_echotest, run_sip, run_streaming, run_videoroom, AudiobridgeConfig,
    EchotestConfig, SipConfig, VideoroomConfig,
};

#[derive(Parser)]
#[command(
    name = "cardea-load",
    version,
    about = "Load generator for Janus-API WebRTC servers"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N EchoTest sessions: opus at 50 packets/s, optionally VP8, each echoed back.
    Echotest(EchotestArgs),
    /// N calls through janus.plugin.sip to a SIP callee that echoes RTP (SIPp -rtp_echo):
    /// PCMU at 50 packets/s each way.
    Sip(SipArgs),
    /// One publisher (opus at 50 packets/s and VP8) and N subscribers in one
    /// janus.plugin.videoroom room: the server's fan-out.
    Videoroom(VideoroomArgs),
    /// One janus.plugin.streaming RTP mountpoint fed by this tool (plain RTP: opus at 50
    /// packets/s and VP8) and N viewers: the server's fan-out.
    Streaming(StreamingArgs),
    /// N participants in janus.plugin.audiobridge rooms (created by the tool), each sending
    /// real opus at 50 packets/s (a tone for the speakers, silence for the others) and
    /// receiving the server's mix: the server's mixing.
    Audiobridge(AudiobridgeArgs),
}

#[derive(Args)]
struct AudiobridgeArgs {
    /// Janus API root: HTTP (`http://…/janus`, events by long poll) or WebSocket
    /// (`ws://host:port`, every session on one connection).
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    server: String,
    /// Participants in all (one session, handle and PeerConnection each).
    #[arg(long, default_value_t = 10)]
    participants: u32,
    /// Rooms to spread the participants over (participant i joins room (i - 1) mod R); each
    /// is created with a random id and destroyed at the end.
    #[arg(long, default_value_t = 1)]
    rooms: u32,
    /// Participants per room that send a tone; the others send opus-encoded silence.
    #[arg(long, default_value_t = 2)]
    speakers: u32,
    /// The rooms' sampling_rate, Hz.
    #[arg(long, default_value_t = 48000)]
    rate: u32,
    /// Opus bitrate of what the participants send, bits/s.
    #[arg(long, default_value_t = 32000)]
    bitrate: u32,
    /// Leave out the audio level header extension (RFC 6464) that browsers put on every
    /// audio packet.
    #[arg(long)]
    no_audio_level: bool,
    /// Measuring window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media flows this long before the window opens, seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// The server's PID: its CPU time, RSS and threads are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local address of the participants' UDP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Bound on bringing the rooms and every participant up, seconds.
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
    /// Participants set up at the same time.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: u32,
}

#[derive(Args)]
struct VideoroomArgs {
    #[command(flatten)]
    fanout: FanoutArgs,
    /// Use this existing room; default: create one with a random id (publishers 1,
    /// bitrate 0, fir_freq 0) and destroy it at the end.
    #[arg(long)]
    room: Option<u64>,
}

#[derive(Args)]
struct StreamingArgs {
    #[command(flatten)]
    fanout: FanoutArgs,
    /// Create the mountpoint with this id; default: the server picks one. Its opus (pt 111)
    /// and VP8 (pt 100) ports are the server's pick too; it is destroyed at the end.
    #[arg(long)]
    id: Option<u64>,
}

/// What the fan-out scenarios share: one sender, N receivers.
#[derive(Args)]
struct FanoutArgs {
    /// Janus API root: HTTP (`http://…/janus`, events by long poll) or WebSocket
    /// (`ws://host:port`, every session on one connection).
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    server: String,
    /// Number of subscribers, or streaming viewers (one session, handle and PeerConnection
    /// each).
    #[arg(long, visible_alias = "viewers", default_value_t = 10)]
    subscribers: u32,
    /// Measuring window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media flows this long before the window opens, seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Opus payload size, bytes.
    #[arg(long, default_value_t = 120)]
    audio_size: usize,
    /// VP8 packets per second the publisher (or RTP source) sends; 0 for audio only.
    #[arg(long, default_value_t = 300)]
    video_pps: u32,
    /// VP8 payload size, bytes.
    #[arg(long, default_value_t = 1100)]
    video_size: usize,
    /// A VP8 key frame at least this often, seconds (and, from a publisher, on every PLI/FIR).
    #[arg(long, default_value_t = 2.0)]
    keyframe_interval: f64,
    /// The server's PID: its CPU time, RSS and threads are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local address of the peers' (and the RTP source's) UDP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Bound on bringing the sender and every receiver up, seconds.
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
    /// Subscribers (viewers) set up at the same time.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: u32,
}

#[derive(Args)]
struct SipArgs {
    /// Janus API root: HTTP (`http://…/janus`, events by long poll) or WebSocket
    /// (`ws://host:port`, every session on one connection).
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    server: String,
    /// Number of calls (one session, SIP dialog and PeerConnection each).
    #[arg(long, default_value_t = 10)]
    sessions: u32,
    /// The URI every call goes to, e.g. sip:echo@127.0.0.1:5070.
    #[arg(long)]
    sip_target: String,
    /// Host of the guest usernames sip:load<N>@<host>; default: the target's host.
    #[arg(long)]
    sip_user_host: Option<String>,
    /// Measuring window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media flows this long before the window opens, seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// PCMU payload size, bytes (160 = 20 ms at 8 kHz).
    #[arg(long, default_value_t = 160)]
    audio_size: usize,
    /// Calls started per second; 0 starts them as fast as --setup-concurrency allows.
    #[arg(long, default_value_t = 10.0)]
    setup_rate: f64,
    /// Calls being set up at the same time, at most.
    #[arg(long, default_value_t = 32)]
    setup_concurrency: u32,
    /// Bound on bringing every call up, seconds; default: calls / rate + 30 (60 unpaced).
    #[arg(long)]
    setup_timeout: Option<f64>,
    /// The server's PID: its CPU time, RSS and threads are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local address of the peers' UDP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

#[derive(Args)]
struct EchotestArgs {
    /// Janus API root: HTTP (`http://…/janus`, events by long poll) or WebSocket
    /// (`ws://host:port`, every session on one connection).
    #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
    server: String,
    /// Number of sessions (one PeerConnection each).
    #[arg(long, default_value_t = 10)]
    sessions: u32,
    /// Measuring window, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Media flows this long before the window opens, seconds.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Opus payload size, bytes.
    #[arg(long, default_value_t = 120)]
    audio_size: usize,
    /// VP8 packets per second per session; 0 for audio only.
    #[arg(long, default_value_t = 0)]
    video_pps: u32,
    /// VP8 payload size, bytes.
    #[arg(long, default_value_t = 1100)]
    video_size: usize,
    /// A VP8 key frame at least this often, seconds.
    #[arg(long, default_value_t = 2.0)]
    keyframe_interval: f64,
    /// The server's PID: its CPU time and RSS are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local address of the peers' UDP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Bound on bringing every session up, seconds.
    #[arg(long, default_value_t = 30.0)]
    setup_timeout: f64,
    /// Sessions set up at the same time.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: u32,
}

fn seconds(what: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{what} must be a non-negative number"))
}

fn config(a: EchotestArgs) -> Result<EchotestConfig, String> {
    Ok(EchotestConfig {
        server: a.server,
        sessions: a.sessions,
        duration: seconds("duration", a.duration)?,
        warmup: seconds("warmup", a.warmup)?,
        audio_size: a.audio_size,
        video_pps: a.video_pps,
        video_size: a.video_size,
        keyframe_interval: seconds("keyframe-interval", a.keyframe_interval)?,
        server_pid: a.server_pid,
        bind: a.bind,
        setup_timeout: seconds("setup-timeout", a.setup_timeout)?,
        setup_concurrency: a.setup_concurrency,
    })
}

fn sip_config(a: SipArgs) -> Result<SipConfig, String> {
    Ok(SipConfig {
        server: a.server,
        sessions: a.sessions,
        sip_target: a.sip_target,
        user_host: a.sip_user_host,
        duration: seconds("duration", a.duration)?,
        warmup: seconds("warmup", a.warmup)?,
        audio_size: a.audio_size,
        setup_rate: a.setup_rate,
        setup_concurrency: a.setup_concurrency,
        setup_timeout: a
            .setup_timeout
            .map(|s| seconds("setup-timeout", s))
            .transpose()?,
        server_pid: a.server_pid,
        bind: a.bind,
    })
}

/// The settings of a fan-out run; `room` is the room to use (videoroom) or the id to create
/// the mountpoint with (streaming).
fn fanout_config(a: FanoutArgs, room: Option<u64>) -> Result<VideoroomConfig, String> {
    Ok(VideoroomConfig {
        server: a.server,
        subscribers: a.subscribers,
        room,
        duration: seconds("duration", a.duration)?,
        warmup: seconds("warmup", a.warmup)?,
        audio_size: a.audio_size,
        video_pps: a.video_pps,
        video_size: a.video_size,
        keyframe_interval: seconds("keyframe-interval", a.keyframe_interval)?,
        server_pid: a.server_pid,
        bind: a.bind,
        setup_timeout: seconds("setup-timeout", a.setup_timeout)?,
        setup_concurrency: a.setup_concurrency,
    })
}

fn audiobridge_config(a: AudiobridgeArgs) -> Result<AudiobridgeConfig, String> {
    Ok(AudiobridgeConfig {
        server: a.server,
        participants: a.participants,
        rooms: a.rooms,
        speakers: a.speakers,
        sampling_rate: a.rate,
        bitrate: a.bitrate,
        audio_level: !a.no_audio_level,
        duration: seconds("duration", a.duration)?,
        warmup: seconds("warmup", a.warmup)?,
        server_pid: a.server_pid,
        bind: a.bind,
        setup_timeout: seconds("setup-timeout", a.setup_timeout)?,
        setup_concurrency: a.setup_concurrency,
    })
}

fn main() -> ExitCode {
    match Cli::parse().scenario {
        Scenario::Echotest(args) => scenario(config(args), |c| {
            let r = run_echotest(c).map_err(|e| e.to_string())?;
            let ok = r.sessions_connected == r.sessions;
            Ok((serde_json::to_string(&r), ok))
        }),
        Scenario::Sip(args) => scenario(sip_config(args), |c| {
            let r = run_sip(c).map_err(|e| e.to_string())?;
            let ok = r.calls_connected == r.calls && r.calls_dropped == 0;
            Ok((serde_json::to_string(&r), ok))
        }),
        Scenario::Videoroom(a) => scenario(fanout_config(a.fanout, a.room), |c| {
            let r = run_videoroom(c).map_err(|e| e.to_string())?;
            let ok = r.publisher_connected && r.subscribers_connected == r.subscribers;
            Ok((serde_json::to_string(&r), ok))
        }),
        Scenario::Streaming(a) => scenario(fanout_config(a.fanout, a.id), |c| {
            let r = run_streaming(c).map_err(|e| e.to_string())?;
            let ok = r.publisher_connected && r.subscribers_connected == r.subscribers;
            Ok((serde_json::to_string(&r), ok))
        }),
        Scenario::Audiobridge(a) => scenario(audiobridge_config(a), |c| {
            let r = run_audiobridge(c).map_err(|e| e.to_string())?;
            let ok =
                r.rooms.len() as u32 == r.rooms_asked && r.participants_connected == r.participants;
            Ok((serde_json::to_string(&r), ok))
        }),
    }
}

/// Runs one scenario and prints its report as one JSON line. Exit status: 0 when
/// everything came up, 2 when something did not, 1 when the run could not take place.
fn scenario<C>(
    config: Result<C, String>,
    run: impl FnOnce(&C) -> Result<(serde_json::Result<String>, bool), String>,
) -> ExitCode {
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cardea-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&config) {
        Ok((Ok(report), ok)) => {
            println!("{report}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Ok((Err(e), _)) => {
            eprintln!("cardea-load: serializing the report: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cardea-load: {e}");
            ExitCode::FAILURE
        }
    }
}
