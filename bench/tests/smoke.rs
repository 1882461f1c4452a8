//! Smoke test of the load tool (not a performance test): a few seconds of the `echotest`
//! scenario against the real `cardea` binary, expecting every packet back and a complete
//! JSON report.
//!
//! The binary comes from `CARDEA_BIN`, else from the directory this test was built into
//! (`target/<profile>/deps/smoke-<hash>` → `target/<profile>/cardea`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cardea_load::{run_echotest, EchotestConfig};
use serde_json::Value;

const CONFIG: &str = "general:\n  debug_level: 4\n  session_timeout: 60\n\
    http:\n  bind: 127.0.0.1\n  port: 0\n\
    websocket:\n  bind: 127.0.0.1\n  port: 0\n\
    admin:\n  bind: 127.0.0.1\n  http_port: 0\n  ws_port: 0\n\
    media:\n  bind: 127.0.0.1\n  port: 0\n";

/// A running `cardea`, killed when dropped.
struct Cardea {
    child: Child,
    dir: PathBuf,
    http: String,
}

impl Cardea {
    fn start() -> Cardea {
        let bin = cardea_bin();
        let dir = std::env::temp_dir().join(format!("cardea-load-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let config = dir.join("cardea.yaml");
        std::fs::write(&config, CONFIG).expect("writing the config");
        let mut child = Command::new(&bin)
            // Tests run side by side: the SIP endpoint takes free ports, not 5060.
            .env("CARDEA_SIP_UDP_PORT", "0")
            .env("CARDEA_SIP_TCP_PORT", "0")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        // Through eprintln!, so libtest shows the server's log only when the test fails.
        let stderr = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[cardea] {line}");
            }
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("CARDEA_READY ") {
                    let _ = tx.send(json.to_owned());
                }
            }
        });
        let Ok(ready) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("{} did not print CARDEA_READY within 20 s", bin.display());
        };
        let ready: Value = serde_json::from_str(&ready).expect("CARDEA_READY carries JSON");
        let http = ready["http"].as_str().expect("an http listener").to_owned();
        Cardea { child, dir, http }
    }
}

impl Drop for Cardea {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cardea_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CARDEA_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test lives in target/<profile>/deps");
    let bin = profile_dir.join("cardea");
    assert!(
        bin.exists(),
        "{} does not exist: build cardea-bridge or set CARDEA_BIN",
        bin.display()
    );
    bin
}

#[test]
fn four_audio_video_sessions_echo_every_packet_and_report_every_field() {
    let cardea = Cardea::start();
    let config = EchotestConfig {
        server: format!("http://{}/janus", cardea.http),
        sessions: 4,
        duration: Duration::from_secs(3),
        warmup: Duration::from_secs(1),
        audio_size: 120,
        video_pps: 100,
        video_size: 1000,
        keyframe_interval: Duration::from_secs(1),
        server_pid: Some(cardea.child.id()),
        bind: "127.0.0.1".parse().expect("an address"),
        setup_timeout: Duration::from_secs(20),
        setup_concurrency: 4,
    };
    let report = run_echotest(&config).expect("the run takes place");
    let json = serde_json::to_value(&report).expect("the report serializes");
    eprintln!("{json}");

    assert_eq!(report.sessions_connected, 4, "{json}");
    assert!(report.errors.is_empty(), "{json}");
    // 4 × (50 + 100) packets/s for 3 s, give or take the window's edges.
    assert!(report.sent_packets > 1500, "{json}");
    assert_eq!(report.lost_packets, 0, "{json}");
    assert_eq!(report.loss_pct, 0.0, "{json}");
    assert_eq!(report.duplicate_packets, 0, "{json}");
    assert_eq!(report.foreign_packets, 0, "{json}");

    let object = json.as_object().expect("one JSON object");
    for field in [
        "relayed_pps",
        "offered_pps",
        "latency_ms_p50",
        "latency_ms_p99",
        "setup_ms_p50",
        "setup_ms_p99",
        "server_cpu_us_per_packet",
        "server_cpu_pct",
        "server_rss_kib_per_session",
        "client_cpu_pct",
    ] {
        assert!(
            object.get(field).is_some_and(Value::is_number),
            "{field} missing or not a number in {json}"
        );
    }
    let line = serde_json::to_string(&report).expect("the report serializes");
    assert!(!line.contains('\n'), "the report is one line");
}
