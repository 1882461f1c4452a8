//! `cardea-load echotest …`: runs the scenario and prints one JSON line on stdout.
//!
//! Exit status: 0 when every session came up, 2 when some did not (the JSON line is printed
//! either way), 1 when the run could not take place.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use cardea_load::{run_echotest, EchotestConfig};

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
}

#[derive(Args)]
struct EchotestArgs {
    /// Janus HTTP API root.
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

fn main() -> ExitCode {
    let Scenario::Echotest(args) = Cli::parse().scenario;
    let config = match config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cardea-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run_echotest(&config) {
        Ok(report) => {
            match serde_json::to_string(&report) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("cardea-load: serializing the report: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if report.sessions_connected == report.sessions {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("cardea-load: {e}");
            ExitCode::FAILURE
        }
    }
}
