//! Smoke tests of the load tool (not performance tests): a few seconds of the `echotest` and
//! `videoroom` scenarios against the real `cardea` binary, over the Janus API's HTTP and
//! WebSocket transports, expecting every packet back (or fanned out) and a complete JSON
//! report.
//! The server is started by the shared test harness (`cardea-tests`).

use std::time::Duration;

use cardea_load::{run_echotest, run_videoroom, EchotestConfig, VideoroomConfig};
use cardea_tests::Cardea;
use serde_json::Value;

#[test]
fn four_audio_video_sessions_echo_every_packet_and_report_every_field() {
    let cardea = Cardea::start("");
    let config = EchotestConfig {
        server: format!("http://{}/janus", cardea.listeners.http),
        sessions: 4,
        duration: Duration::from_secs(3),
        warmup: Duration::from_secs(1),
        audio_size: 120,
        video_pps: 100,
        video_size: 1000,
        keyframe_interval: Duration::from_secs(1),
        server_pid: Some(cardea.pid()),
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

#[test]
fn videoroom_publisher_fans_out_to_three_subscribers_without_loss() {
    let cardea = Cardea::start("");
    let server = format!("http://{}/janus", cardea.listeners.http);
    videoroom_fans_out_without_loss(&cardea, server);
}

/// The same over the Janus API's WebSocket: every session on one connection, events pushed.
#[test]
fn videoroom_over_a_websocket_fans_out_without_loss() {
    let cardea = Cardea::start("");
    let server = format!("ws://{}", cardea.listeners.ws);
    videoroom_fans_out_without_loss(&cardea, server);
}

fn videoroom_fans_out_without_loss(cardea: &Cardea, server: String) {
    let config = VideoroomConfig {
        server,
        subscribers: 3,
        room: None,
        duration: Duration::from_secs(2),
        warmup: Duration::from_secs(1),
        audio_size: 120,
        video_pps: 100,
        video_size: 1000,
        keyframe_interval: Duration::from_secs(1),
        server_pid: Some(cardea.pid()),
        bind: "127.0.0.1".parse().expect("an address"),
        setup_timeout: Duration::from_secs(20),
        setup_concurrency: 3,
    };
    let report = run_videoroom(&config).expect("the run takes place");
    let json = serde_json::to_value(&report).expect("the report serializes");
    eprintln!("{json}");

    assert!(report.publisher_connected, "{json}");
    assert!(report.room_created, "{json}");
    assert_eq!(report.subscribers_connected, 3, "{json}");
    assert_eq!(report.subscribers_receiving, 3, "{json}");
    assert!(report.errors.is_empty(), "{json}");
    // (50 + 100) packets/s for 2 s to each of 3 subscribers, give or take the window's edges.
    assert!(report.published_packets > 250, "{json}");
    assert_eq!(
        report.expected_packets,
        3 * report.published_packets,
        "{json}"
    );
    assert_eq!(report.lost_packets, 0, "{json}");
    assert_eq!(report.duplicate_packets, 0, "{json}");
    assert_eq!(report.foreign_packets, 0, "{json}");
    assert!(report.keyframes_sent > 0, "{json}");

    let object = json.as_object().expect("one JSON object");
    for field in [
        "relayed_pps",
        "latency_ms_p50",
        "latency_ms_p99",
        "setup_ms_p50",
        "setup_ms_p99",
        "first_media_ms_p50",
        "server_cpu_us_per_packet",
        "server_rss_kib_per_session",
        "client_cpu_pct",
    ] {
        assert!(
            object.get(field).is_some_and(Value::is_number),
            "{field} missing or not a number in {json}"
        );
    }
}
