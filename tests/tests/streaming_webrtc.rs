//! Streaming (`janus.plugin.streaming`) against WebRTC viewers that share no code with the
//! server: webrtc-rs (the `webrtc` crate) stands in for the browsers watching a mountpoint,
//! negotiating over the Janus HTTP API as janus.js does (Cardea offers, the viewer answers with
//! `start`, non-trickle), while the test itself is the mountpoint's source: a UDP socket
//! sending plain RTP, opus-like 20 ms packets (payload type 111) and VP8 (payload type 100)
//! at 30 frames a second with a key frame every so often.
//!
//! Every payload ends with [`TRAILER`] bytes: the source's tag (which mountpoint it came
//! from) and the packet's index in its stream, so a viewer can tell sources and packets apart
//! although the server rewrites SSRCs, sequence numbers and timestamps; the rest of the
//! payload must arrive unchanged.
//!
//! What is expected is /tmp/streaming-protocol.md (Cardea's Streaming plugin contract), which
//! follows Janus 1.x's Streaming API. Every Cardea here is configured with
//! `mountpoints: []`, so the sample mountpoint's fixed ports are never bound; the tests create
//! their mountpoints with `port: 0`.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardea_tests::{cardea_bin, Cardea, EventStream};
use common::janus::Handle;
use common::peer::{
    local_answer, peer_connection, vp8_frame, wait_connected, Got, PeerOptions, PeerState,
    OPUS_FRAME, TRAILER,
};
use common::sdp::m_lines;
use common::STEP;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

const PLUGIN: &str = "janus.plugin.streaming";
/// No sample mountpoint: its fixed ports (5002, 5004) are never bound by these tests.
const NO_SAMPLE: &str = "plugins:\n  streaming:\n    mountpoints: []\n";
/// The payload types the source sends (the mountpoint's `pt`s).
const SOURCE_AUDIO_PT: u8 = 111;
const SOURCE_VIDEO_PT: u8 = 100;
/// Every payload ends with: the source's tag, then the packet's index (big endian u16).
/// The tag of datagrams that must never reach a viewer (wrong payload type, malformed RTP).
const BAD: u8 = b'X';
/// The largest forward jump of sequence numbers a viewer may see between two packets in a row
/// (loss on loopback is rare; a rebasing mistake jumps by thousands).
const MAX_SEQ_STEP: i32 = 5;
/// What may still land after media is stopped (packets already on their way).
const GRACE: Duration = Duration::from_millis(300);
/// How long nothing more may arrive after the grace.
const QUIET: Duration = Duration::from_secs(1);
/// The audio source's packet duration in RTP clock units (20 ms at 48 kHz).
const AUDIO_TS_STEP: u32 = 960;
/// The video source's frame duration in RTP clock units (1/30 s at 90 kHz).
const VIDEO_TS_STEP: u32 = 3000;

// ---- the tests -------------------------------------------------------------------------

/// (a) Three viewers of one mountpoint each answer Cardea's offer and receive the source's
/// opus and VP8: as many packets as the source sent while they watched, payloads unchanged,
/// on the payload types Cardea offered, with continuous sequence numbers and timestamps that
/// keep the source's spacing. Then one hangs up and one detaches: `info` counts one viewer,
/// theirs stops, the third's goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_three_viewers_receive_audio_and_video() {
    timeout(Duration::from_secs(20), three_viewers())
        .await
        .expect("the three-viewer exchange did not finish within 20 s");
}

/// (b) A viewer who comes 2 s after the source's only key frame starts on that key frame
/// (Cardea replays it), not mid-stream and not 10 s later at the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_late_viewer_starts_on_the_replayed_key_frame() {
    timeout(Duration::from_secs(20), late_viewer())
        .await
        .expect("the late-viewer exchange did not finish within 20 s");
}

/// (c) `pause` stops both streams and `start` resumes them; `configure` with `send: false`
/// stops only the stream of that mid, `send: true` brings it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_pause_start_and_configure_send() {
    timeout(Duration::from_secs(20), pause_start_configure())
        .await
        .expect("the pause/configure exchange did not finish within 20 s");
}

/// (d) `switch` moves a viewer to another mountpoint of the same shape without renegotiating:
/// the second source's packets arrive on the same PeerConnection and m-lines, the first
/// source's stop, sequence numbers and timestamps go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_switch_moves_a_viewer_to_another_mountpoint() {
    timeout(Duration::from_secs(20), switch_mountpoints())
        .await
        .expect("the switch exchange did not finish within 20 s");
}

/// (e) `destroy` (with the mountpoint's secret; a wrong one is refused with 457) tells the
/// viewer `stopped`, hangs its PeerConnection up and stops the media; the mountpoint is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_destroy_stops_and_hangs_up_viewers() {
    timeout(Duration::from_secs(20), destroy_with_viewer())
        .await
        .expect("the destroy exchange did not finish within 20 s");
}

/// (f) Garbage datagrams (short, not RTP version 2, malformed headers, truncated VP8) and
/// packets of the wrong payload type on the mountpoint's ports crash nothing and reach no
/// viewer; the real source's packets go on being forwarded around them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_garbage_and_wrong_payload_types_are_dropped() {
    timeout(Duration::from_secs(20), garbage_is_dropped())
        .await
        .expect("the garbage exchange did not finish within 20 s");
}

/// (g) Management and viewer errors: `create` answers the ports it bound, refuses a taken id
/// (456), a missing type (453) and an unknown codec (456); `list` and `info` describe the
/// mountpoint, `info` with `age_ms` once packets came; `watch` of an unknown id is 455,
/// watching twice 460, `start` without a mountpoint 455.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_management_and_errors() {
    timeout(Duration::from_secs(20), management_and_errors())
        .await
        .expect("the management exchange did not finish within 20 s");
}

/// Janus names the offer's m-lines after the mountpoint's streams (JANUS_SDP_OA_MID with the
/// stream's mid), so that `media: [mid]`, `configure` and janus.js's `onremotetrack` speak of
/// the same mids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known difference: str0m 0.25 chooses the mids of Cardea's offer"]
async fn streaming_offer_uses_the_mountpoint_mids() {
    timeout(Duration::from_secs(20), async {
        let (cardea, admin) = start_cardea().await;
        let mp = create_mountpoint(&admin, 81, None).await;
        let mut viewer = Handle::attach(&cardea, PLUGIN).await;
        let preparing = viewer
            .request(json!({"request": "watch", "id": mp.id}), None)
            .await;
        let sdp = preparing["jsep"]["sdp"].as_str().unwrap_or_default();
        let mids: Vec<String> = m_lines(sdp).into_iter().map(|l| l.mid).collect();
        assert_eq!(mids, vec!["a", "v"], "the offer's mids:\n{sdp}");
        assert_alive(cardea);
    })
    .await
    .expect("the mids check did not finish within 20 s");
}

/// (h) The source restarts (a new SSRC, sequence numbers and timestamps far below the old
/// ones, as a restarted ffmpeg): the viewer's streams go on, forward in sequence numbers and
/// timestamps, and video resumes on the new source's key frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_source_restart_keeps_the_viewer_stream_going() {
    timeout(Duration::from_secs(20), source_restart())
        .await
        .expect("the source-restart exchange did not finish within 20 s");
}

/// (i) `watch` with `media: ["v"]` offers (and forwards) video only; `disable` stops the
/// forwarding and `enable` resumes it (both with the secret); `stop` ends the viewer's
/// PeerConnection (`stopping`, then `stopped`) and the same handle can `watch` again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_media_subset_enable_disable_and_rewatch() {
    timeout(Duration::from_secs(20), subset_enable_rewatch())
        .await
        .expect("the subset/enable/re-watch exchange did not finish within 20 s");
}

async fn three_viewers() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 11, None).await;
    let source = Source::start(b'A', &mp, Duration::from_secs(1)).await;
    sleep(Duration::from_millis(500)).await;

    let mut viewers = Vec::new();
    for n in 0..3 {
        viewers.push(Viewer::watch(&cardea, mp.id, &format!("viewer {n}")).await);
    }
    for viewer in &viewers {
        viewer.wait_media(Duration::from_secs(3)).await;
        viewer.assert_starts_on_key_frame();
    }

    // The media over a 2.5 s window, against what the source sent in it.
    sleep(Duration::from_millis(300)).await;
    let sent_before = source.counts();
    let got_before: Vec<(usize, usize)> = viewers.iter().map(Viewer::counts).collect();
    let window = Instant::now();
    sleep(Duration::from_millis(2500)).await;
    let sent_after = source.counts();
    let got_after: Vec<(usize, usize)> = viewers.iter().map(Viewer::counts).collect();
    let elapsed = window.elapsed();
    let sent = (sent_after.0 - sent_before.0, sent_after.1 - sent_before.1);
    for (n, viewer) in viewers.iter().enumerate() {
        let got = (
            got_after[n].0 - got_before[n].0,
            got_after[n].1 - got_before[n].1,
        );
        eprintln!(
            "viewer {n}: {} opus and {} VP8 packets in {elapsed:?}; the source sent {} and {}",
            got.0, got.1, sent.0, sent.1
        );
        assert_close(
            got.0,
            sent.0,
            &format!("viewer {n}, opus packets in the window"),
        );
        assert_close(
            got.1,
            sent.1,
            &format!("viewer {n}, VP8 packets in the window"),
        );
        viewer.assert_forwarded_unchanged(&[&source]);
        viewer.assert_offered_payload_types();
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            let window_packets: Vec<Got> = viewer
                .peer
                .received(kind)
                .into_iter()
                .filter(|g| g.at >= window)
                .collect();
            let what = format!("viewer {n}, {kind}");
            assert_seq_continuous(&window_packets, &what);
            assert_ts_follow_source(&window_packets, &source, kind, &what);
        }
    }
    for viewer in &mut viewers {
        assert_no_errors(&mut viewer.handle.events, &viewer.what);
    }
    let viewer_count = |info: &Value| sync_data(info, "info")["info"]["viewers"].clone();
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    assert_eq!(viewer_count(&info), 3, "{info}");

    // Viewer 0 hangs up (Janus `hangup`), viewer 1 detaches: viewer 2 goes on alone.
    let v0 = &viewers[0].handle;
    let reply = v0
        .janus
        .handle_request(v0.session, v0.handle, "hangup")
        .await;
    assert_eq!(reply["janus"], "success", "hangup: {reply}");
    let v1 = &viewers[1].handle;
    let reply = v1
        .janus
        .handle_request(v1.session, v1.handle, "detach")
        .await;
    assert_eq!(reply["janus"], "success", "detach: {reply}");
    let left_at = Instant::now();
    let mut left = false;
    let mut last = Value::Null;
    while left_at.elapsed() < Duration::from_secs(3) && !left {
        last = admin
            .sync_request(json!({"request": "info", "id": mp.id}))
            .await;
        left = viewer_count(&last) == 1;
        sleep(Duration::from_millis(100)).await;
    }
    assert!(left, "one viewer left after a hangup and a detach: {last}");
    for n in [0, 1] {
        let (then, now) = viewers[n].counts_over_quiet(left_at).await;
        assert_eq!(
            now, then,
            "viewer {n} still receives after its hangup/detach"
        );
    }
    let still = viewers[2].counts();
    viewers[2]
        .wait_more(
            still,
            (25, 15),
            Duration::from_secs(2),
            "after the others left",
        )
        .await;
    for viewer in viewers {
        viewer.close().await;
    }
    source.stop().await;
    assert_alive(cardea);
}

async fn late_viewer() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 21, None).await;
    // A key frame at frame 0 only (the next would come after 10 s, past this test).
    let source = Source::start(b'L', &mp, Duration::from_secs(10)).await;
    sleep(Duration::from_secs(2)).await;
    let keyframes = source.log.keyframes();
    assert_eq!(
        keyframes,
        vec![0],
        "the source sent one key frame, at packet index 0"
    );
    let sent_before = source.counts();
    eprintln!(
        "before the late viewer: {} VP8 packets sent, key frames at {keyframes:?}",
        sent_before.1
    );

    let viewer = Viewer::watch(&cardea, mp.id, "the late viewer").await;
    let connected_at = viewer.connected_at;
    assert!(
        wait_until(Duration::from_secs(2), || viewer
            .peer
            .count(RtpCodecKind::Video)
            >= 3)
        .await,
        "the late viewer got {} VP8 packets within 2 s of connecting: Cardea replays the last \
         key frame to a new viewer (the source's next one is 8 s away)",
        viewer.peer.count(RtpCodecKind::Video)
    );
    let video = viewer.peer.received(RtpCodecKind::Video);
    let first = &video[0];
    eprintln!(
        "first VP8 packet {:?} after connecting: index {:?}, descriptor {:02x?}",
        first.at.saturating_duration_since(connected_at),
        first.index(),
        &first.payload[..first.payload.len().min(8)]
    );
    assert!(
        first.keyframe_start(),
        "the late viewer's first VP8 packet begins a key frame; it is index {:?}, payload \
         starts {:02x?}",
        first.index(),
        &first.payload[..first.payload.len().min(8)]
    );
    let indices: Vec<Option<u16>> = video.iter().take(3).map(Got::index).collect();
    assert_eq!(
        indices,
        vec![Some(0), Some(1), Some(2)],
        "the replayed key frame is the source's last one (packets 0, 1, 2), whole and in order"
    );
    viewer.assert_forwarded_unchanged(&[&source]);
    // After the replay come live packets: forward in sequence numbers, nothing replayed twice.
    let after_replay: Vec<&Got> = video.iter().skip(3).collect();
    assert!(
        !after_replay.is_empty(),
        "live VP8 packets follow the replayed key frame"
    );
    eprintln!(
        "sequence numbers: replayed {:?}, then live from {} (index {:?})",
        video.iter().take(3).map(|g| g.seq).collect::<Vec<_>>(),
        after_replay[0].seq,
        after_replay[0].index()
    );
    assert!(
        after_replay
            .iter()
            .all(|g| g.index().is_some_and(|i| usize::from(i) >= sent_before.1)),
        "after the replay, only live packets (index >= {}): {:?}",
        sent_before.1,
        after_replay
            .iter()
            .take(10)
            .map(|g| g.index())
            .collect::<Vec<_>>()
    );
    assert_seq_continuous(&video, "the late viewer, VP8");
    // Audio too, from wherever the source is.
    assert!(
        wait_until(Duration::from_secs(2), || viewer
            .peer
            .count(RtpCodecKind::Audio)
            >= 20)
        .await,
        "the late viewer hears audio"
    );
    viewer.close().await;
    source.stop().await;
    assert_alive(cardea);
}

async fn pause_start_configure() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 31, None).await;
    let source = Source::start(b'P', &mp, Duration::from_secs(1)).await;
    let mut viewer = Viewer::watch(&cardea, mp.id, "the viewer").await;
    let other = Viewer::watch(&cardea, mp.id, "the other viewer").await;
    viewer.wait_media(Duration::from_secs(3)).await;
    other.wait_media(Duration::from_secs(3)).await;

    // pause: nothing at all (and the other viewer goes on).
    let paused = viewer.request(json!({"request": "pause"})).await;
    assert_eq!(paused["streaming"], "event", "{paused}");
    assert_eq!(paused["result"]["status"], "pausing", "{paused}");
    let (then, now) = viewer.counts_over_quiet(Instant::now()).await;
    assert_eq!(
        now, then,
        "(opus, VP8) packets still arriving {QUIET:?} after pause + {GRACE:?}"
    );
    let others = other.counts();
    other
        .wait_more(
            others,
            (25, 15),
            Duration::from_secs(2),
            "while the first paused",
        )
        .await;

    // start without JSEP: both again.
    let resumed = viewer.request(json!({"request": "start"})).await;
    assert_eq!(resumed["streaming"], "event", "{resumed}");
    assert_eq!(resumed["result"]["status"], "started", "{resumed}");
    viewer
        .wait_more(now, (25, 15), Duration::from_secs(3), "after start")
        .await;

    // configure streams[] send:false on video: audio only.
    let configured = viewer
        .request(json!({"request": "configure", "streams": [{"mid": "v", "send": false}]}))
        .await;
    assert_configured(&configured);
    let (then, now) = viewer.counts_over_quiet(Instant::now()).await;
    assert_eq!(
        now.1, then.1,
        "VP8 still arriving after send:false on mid v"
    );
    assert!(
        now.0 >= then.0 + 40,
        "opus stopped too after send:false on mid v: {then:?} -> {now:?}"
    );

    // configure {mid, send:true}: video back.
    let configured = viewer
        .request(json!({"request": "configure", "mid": "v", "send": true}))
        .await;
    assert_configured(&configured);
    viewer
        .wait_more(
            now,
            (25, 15),
            Duration::from_secs(3),
            "after send:true on mid v",
        )
        .await;

    // And the other way round: audio off, video on.
    let configured = viewer
        .request(json!({"request": "configure", "streams": [{"mid": "a", "send": false}]}))
        .await;
    assert_configured(&configured);
    let (then, now) = viewer.counts_over_quiet(Instant::now()).await;
    assert_eq!(
        now.0, then.0,
        "opus still arriving after send:false on mid a"
    );
    assert!(
        now.1 >= then.1 + 25,
        "VP8 stopped too after send:false on mid a: {then:?} -> {now:?}"
    );
    viewer.assert_forwarded_unchanged(&[&source]);
    // The other viewer heard everything the source sent since it connected.
    let (a, v) = other.counts();
    let (sent_a, sent_v) = source.counts();
    eprintln!("the other viewer: {a} opus, {v} VP8; the source sent {sent_a}, {sent_v} in all");
    other.assert_forwarded_unchanged(&[&source]);
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        assert_seq_continuous(
            &other.peer.received(kind),
            &format!("the other viewer, {kind}"),
        );
    }
    assert_no_errors(&mut viewer.handle.events, "the viewer");
    viewer.close().await;
    other.close().await;
    source.stop().await;
    assert_alive(cardea);
}

async fn switch_mountpoints() {
    let (cardea, admin) = start_cardea().await;
    let first = create_mountpoint(&admin, 41, None).await;
    let second = create_mountpoint(&admin, 42, None).await;
    let a = Source::start(b'A', &first, Duration::from_secs(1)).await;
    let b = Source::start(b'B', &second, Duration::from_secs(1)).await;
    let mut viewer = Viewer::watch(&cardea, first.id, "the viewer").await;
    viewer.wait_media(Duration::from_secs(3)).await;
    sleep(Duration::from_millis(500)).await;
    assert!(
        viewer.tags().iter().all(|t| *t == b'A'),
        "before the switch, only mountpoint {}'s packets: tags {:?}",
        first.id,
        viewer.tags()
    );

    // A mountpoint of another shape (audio only) cannot be switched to; nor a missing one.
    let reply = admin
        .sync_request(json!({"request": "create", "type": "rtp", "id": 43,
            "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}]}))
        .await;
    sync_data(&reply, "create an audio-only mountpoint");
    let refused = viewer
        .handle
        .request(json!({"request": "switch", "id": 43}), None)
        .await;
    assert_eq!(
        refused["error_code"], 458,
        "switch to another shape: {refused}"
    );
    let refused = viewer
        .handle
        .request(json!({"request": "switch", "id": 99}), None)
        .await;
    assert_eq!(
        refused["error_code"], 455,
        "switch to no mountpoint: {refused}"
    );
    let before = viewer.counts();
    viewer
        .wait_more(
            before,
            (10, 5),
            Duration::from_secs(2),
            "after the refused switches",
        )
        .await;
    assert!(
        viewer.tags().iter().all(|t| *t == b'A'),
        "the refused switches changed nothing: tags {:?}",
        viewer.tags()
    );

    let switched_at = Instant::now();
    let event = viewer
        .handle
        .event(json!({"request": "switch", "id": second.id}), None)
        .await;
    let switched = &event["plugindata"]["data"];
    assert_eq!(switched["streaming"], "event", "{event}");
    assert_eq!(switched["result"]["switched"], "ok", "{event}");
    assert_eq!(switched["result"]["id"], second.id, "{event}");
    assert!(
        event.get("jsep").is_none(),
        "switch renegotiates nothing: {event}"
    );

    let has_b = |kind| {
        viewer
            .peer
            .received(kind)
            .iter()
            .any(|g| g.tag() == Some(b'B'))
    };
    assert!(
        wait_until(Duration::from_secs(3), || has_b(RtpCodecKind::Audio)
            && has_b(RtpCodecKind::Video))
        .await,
        "after the switch, mountpoint {}'s audio and video arrive; tags so far {:?}",
        second.id,
        viewer.tags()
    );
    sleep(Duration::from_millis(1500)).await;
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let got = viewer.peer.received(kind);
        let first_b = got
            .iter()
            .position(|g| g.tag() == Some(b'B'))
            .expect("B's packets arrived");
        let what = format!("{kind} across the switch");
        assert!(
            got[first_b..].iter().all(|g| g.tag() == Some(b'B')),
            "{what}: mountpoint {}'s packets after mountpoint {}'s: {:?}",
            first.id,
            second.id,
            got[first_b..]
                .iter()
                .filter(|g| g.tag() != Some(b'B'))
                .map(|g| (g.tag().map(char::from), g.index()))
                .take(10)
                .collect::<Vec<_>>()
        );
        let b_count = got.len() - first_b;
        let per_s = if kind == RtpCodecKind::Audio { 50 } else { 30 };
        assert!(
            b_count >= per_s,
            "{what}: only {b_count} of mountpoint {}'s packets in the 1.5 s since they began",
            second.id
        );
        let ssrcs: BTreeSet<u32> = got.iter().map(|g| g.ssrc).collect();
        eprintln!(
            "{what}: {} packets from A then {b_count} from B, first B {:?} after the switch; \
             SSRCs {ssrcs:x?}; first B begins a key frame: {}",
            first_b,
            got[first_b].at.saturating_duration_since(switched_at),
            got[first_b].keyframe_start()
        );
        // The viewer's stream goes on: sequence numbers step forward (B's own are far below
        // A's) and timestamps move forward by a plausible amount (B's own are far below A's).
        assert_seq_continuous(&got, &what);
        let last_a = &got[first_b - 1];
        let first_b_packet = &got[first_b];
        let ts_step = first_b_packet.ts.wrapping_sub(last_a.ts) as i32;
        let clock = if kind == RtpCodecKind::Audio {
            48_000
        } else {
            90_000
        };
        assert!(
            (0..=5 * clock).contains(&ts_step),
            "{what}: the RTP timestamp jumps by {ts_step} from the last of A ({}) to the first \
             of B ({}): the viewer's stream must go on, not jump to B's own timestamps",
            last_a.ts,
            first_b_packet.ts
        );
        let b_part: Vec<Got> = got[first_b..].to_vec();
        assert_ts_follow_source(&b_part, &b, kind, &format!("{what}, B's part"));
    }
    viewer.assert_forwarded_unchanged(&[&a, &b]);
    let history = viewer.peer.history.lock().unwrap().clone();
    assert_eq!(
        history.last(),
        Some(&RTCPeerConnectionState::Connected),
        "the PeerConnection stays up across the switch: {history:?}"
    );
    viewer.close().await;
    a.stop().await;
    b.stop().await;
    assert_alive(cardea);
}

async fn destroy_with_viewer() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 51, Some("s3cret")).await;
    let source = Source::start(b'D', &mp, Duration::from_secs(1)).await;
    let mut viewer = Viewer::watch(&cardea, mp.id, "the viewer").await;
    viewer.wait_media(Duration::from_secs(3)).await;

    let refused = admin
        .sync_request(json!({"request": "destroy", "id": mp.id, "secret": "wrong"}))
        .await;
    assert_error(&refused, 457, "destroy with a wrong secret");
    let refused = admin
        .sync_request(json!({"request": "destroy", "id": mp.id}))
        .await;
    // As Janus's JANUS_CHECK_SECRET: a missing secret is 453, a wrong one 457.
    assert_error(&refused, 453, "destroy without the secret");
    let before = viewer.counts();
    viewer
        .wait_more(
            before,
            (10, 5),
            Duration::from_secs(2),
            "after the refused destroys",
        )
        .await;

    let reply = admin
        .sync_request(json!({"request": "destroy", "id": mp.id, "secret": "s3cret"}))
        .await;
    let destroyed = sync_data(&reply, "destroy");
    assert_eq!(destroyed["streaming"], "destroyed", "{reply}");
    assert_eq!(destroyed["destroyed"], mp.id, "{reply}");
    let destroyed_at = Instant::now();

    let handle = viewer.handle.handle;
    let stopped = viewer
        .handle
        .events
        .wait_for("the stopped event after destroy", STEP, |e| {
            e["plugindata"]["data"]["result"]["status"] == "stopped"
        })
        .await;
    assert_eq!(stopped["janus"], "event", "{stopped}");
    assert_eq!(stopped["sender"], handle, "{stopped}");
    assert_eq!(stopped["plugindata"]["plugin"], PLUGIN, "{stopped}");
    assert_eq!(
        stopped["plugindata"]["data"]["streaming"], "event",
        "{stopped}"
    );
    let hangup = viewer
        .handle
        .events
        .wait_for("the hangup after destroy", STEP, |e| e["janus"] == "hangup")
        .await;
    assert_eq!(hangup["sender"], handle, "{hangup}");
    let (then, now) = viewer.counts_over_quiet(destroyed_at).await;
    assert_eq!(
        now, then,
        "(opus, VP8) packets still arriving {QUIET:?} after destroy + {GRACE:?}"
    );

    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    assert_error(&info, 455, "info on the destroyed mountpoint");
    let list = admin.sync_request(json!({"request": "list"})).await;
    let list = sync_data(&list, "list");
    assert!(
        list["list"]
            .as_array()
            .is_some_and(|l| l.iter().all(|m| m["id"] != mp.id)),
        "the destroyed mountpoint is not listed: {list}"
    );
    viewer.close().await;
    source.stop().await;
    assert_alive(cardea);
}

async fn garbage_is_dropped() {
    let (mut cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 61, None).await;
    let junk = UdpSocket::bind("127.0.0.1:0").await.expect("bind");

    // Before any source or viewer: everything odd, including payload-type-valid packets
    // whose VP8 descriptor is truncated (the key frame detection must not trip on them).
    for round in 0..3u16 {
        for datagram in garbage(round) {
            for to in [mp.audio, mp.video] {
                let _ = junk.send_to(&datagram, to).await;
            }
        }
        for payload in truncated_vp8() {
            let d = rtp_datagram(
                SOURCE_VIDEO_PT,
                7000 + round,
                0,
                0xdead_beef,
                true,
                &payload,
            );
            let _ = junk.send_to(&d, mp.video).await;
        }
        let empty_opus = rtp_datagram(SOURCE_AUDIO_PT, 7000 + round, 0, 0xdead_beef, false, &[]);
        let _ = junk.send_to(&empty_opus, mp.audio).await;
    }
    sleep(Duration::from_millis(200)).await;
    assert!(
        cardea.exited().is_none(),
        "cardea died of garbage before any source"
    );
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    sync_data(&info, "info after the first garbage");

    let source = Source::start(b'G', &mp, Duration::from_secs(1)).await;
    let mut viewer = Viewer::watch(&cardea, mp.id, "the viewer").await;
    viewer.wait_media(Duration::from_secs(3)).await;
    viewer.assert_starts_on_key_frame();

    // While watched: wrong payload types (tagged BAD) and malformed RTP, for 2 s, between
    // the source's packets.
    let sent_before = source.counts();
    let got_before = viewer.counts();
    let storm = Instant::now();
    let mut round = 3u16;
    while storm.elapsed() < Duration::from_secs(2) {
        for datagram in garbage(round) {
            for to in [mp.audio, mp.video] {
                let _ = junk.send_to(&datagram, to).await;
            }
        }
        for (pt, to) in [
            (SOURCE_VIDEO_PT, mp.audio),
            (SOURCE_AUDIO_PT, mp.video),
            (96, mp.video),
            (0, mp.audio),
            (101, mp.video),
        ] {
            let mut payload = vec![0x90, 0x80, 0x80, 0x01, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a];
            payload.extend_from_slice(&trailer(BAD, round));
            let d = rtp_datagram(
                pt,
                round,
                u32::from(round) * 960,
                0x0bad_0bad,
                false,
                &payload,
            );
            let _ = junk.send_to(&d, to).await;
        }
        round = round.wrapping_add(1);
        sleep(Duration::from_millis(10)).await;
    }
    sleep(Duration::from_millis(300)).await;
    let sent = (
        source.counts().0 - sent_before.0,
        source.counts().1 - sent_before.1,
    );
    let got = (
        viewer.counts().0 - got_before.0,
        viewer.counts().1 - got_before.1,
    );
    eprintln!(
        "during {} rounds of garbage: the source sent {sent:?} (opus, VP8), the viewer got {got:?}",
        round - 3
    );
    assert!(cardea.exited().is_none(), "cardea died of garbage");
    assert!(
        got.0 + 20 >= sent.0 && got.1 + 10 >= sent.1,
        "the source's packets stopped being forwarded among the garbage: sent {sent:?}, got {got:?}"
    );
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let got = viewer.peer.received(kind);
        let bad: Vec<(Option<u16>, u8, usize)> = got
            .iter()
            .filter(|g| g.tag() != Some(b'G'))
            .map(|g| (g.index(), g.pt, g.payload.len()))
            .take(10)
            .collect();
        assert!(
            bad.is_empty(),
            "{kind}: the viewer got packets the source did not send (index, pt, length): {bad:?}"
        );
    }
    viewer.assert_forwarded_unchanged(&[&source]);
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    sync_data(&info, "info after the garbage");
    assert_no_errors(&mut viewer.handle.events, "the viewer");
    viewer.close().await;
    source.stop().await;
    assert_alive(cardea);
}

async fn management_and_errors() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 71, None).await;
    assert_ne!(mp.audio.port(), mp.video.port(), "two streams, two ports");

    let again = admin.sync_request(create_body(71, None)).await;
    assert_error(&again, 456, "create with a taken id");
    let mut untyped = create_body(72, None);
    untyped.as_object_mut().unwrap().remove("type");
    let reply = admin.sync_request(untyped).await;
    assert_error(&reply, 453, "create without type");
    let mut bad_codec = create_body(73, None);
    bad_codec["media"][1]["codec"] = json!("mpeg2");
    let reply = admin.sync_request(bad_codec).await;
    assert_error(&reply, 456, "create with an unknown codec");

    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    let data = sync_data(&info, "info");
    assert_eq!(data["streaming"], "info", "{info}");
    let described = &data["info"];
    assert_eq!(described["id"], mp.id, "{info}");
    assert_eq!(described["type"], "live", "{info}");
    let media = described["media"].as_array().expect("info.media");
    assert_eq!(media.len(), 2, "{info}");
    for (m, (kind, mid, pt, codec, port)) in media.iter().zip([
        ("audio", "a", SOURCE_AUDIO_PT, "opus", mp.audio.port()),
        ("video", "v", SOURCE_VIDEO_PT, "vp8", mp.video.port()),
    ]) {
        assert_eq!(m["type"], kind, "{m}");
        assert_eq!(m["mid"], mid, "{m}");
        assert_eq!(m["pt"], pt, "{m}");
        assert_eq!(m["codec"], codec, "{m}");
        assert_eq!(m["port"], port, "{m}");
        assert!(
            m.get("age_ms").is_none(),
            "no age_ms before any packet: {m}"
        );
    }

    let source = Source::start(b'M', &mp, Duration::from_secs(1)).await;
    sleep(Duration::from_millis(500)).await;
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id}))
        .await;
    let data = sync_data(&info, "info while fed");
    for m in data["info"]["media"].as_array().expect("info.media") {
        assert!(
            m["age_ms"].as_u64().is_some_and(|age| age < 1000),
            "age_ms of a stream fed every 20-33 ms: {m}"
        );
    }
    let list = admin.sync_request(json!({"request": "list"})).await;
    let data = sync_data(&list, "list");
    assert_eq!(data["streaming"], "list", "{list}");
    let entry = data["list"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["id"] == mp.id))
        .unwrap_or_else(|| panic!("mountpoint {} listed: {list}", mp.id));
    assert_eq!(entry["type"], "live", "{entry}");
    assert_eq!(entry["enabled"], true, "{entry}");
    let mids: Vec<&Value> = entry["media"]
        .as_array()
        .map(|m| m.iter().map(|s| &s["mid"]).collect())
        .unwrap_or_default();
    assert_eq!(mids, vec!["a", "v"], "{entry}");

    // `iface`: a stream's port bound on that address only (Janus binds it there too).
    let created = sync_data(
        &admin
            .sync_request(json!({"request": "create", "type": "rtp", "id": 74,
                "media": [{"type": "data", "mid": "d", "port": 0, "iface": "127.0.0.2"}]}))
            .await,
        "create on iface 127.0.0.2",
    );
    let port = created["stream"]["ports"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no port: {created}")) as u16;
    let sender = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sender
        .send_to(b"elsewhere", ("127.0.0.1", port))
        .await
        .unwrap();
    sleep(Duration::from_millis(200)).await;
    assert!(
        first_age(&admin, 74).await.is_null(),
        "nothing heard on 127.0.0.1"
    );
    sender.send_to(b"here", ("127.0.0.2", port)).await.unwrap();
    sleep(Duration::from_millis(200)).await;
    assert!(
        first_age(&admin, 74).await.is_u64(),
        "the datagram to 127.0.0.2 was heard"
    );
    let reply = admin
        .sync_request(json!({"request": "create", "type": "rtp", "id": 75,
            "media": [{"type": "data", "mid": "d", "port": 0, "iface": "no-such-if0"}]}))
        .await;
    assert_error(&reply, 456, "create on an interface that does not exist");

    // Viewer errors, as events.
    let mut viewer = Handle::attach(&cardea, PLUGIN).await;
    let reply = viewer.request(json!({"request": "start"}), None).await;
    assert_eq!(
        reply["error_code"], 455,
        "start without a mountpoint: {reply}"
    );
    let reply = viewer
        .request(json!({"request": "watch", "id": 99}), None)
        .await;
    assert_eq!(reply["error_code"], 455, "watch of an unknown id: {reply}");
    let reply = viewer
        .request(json!({"request": "watch", "id": mp.id}), None)
        .await;
    assert_eq!(reply["result"]["status"], "preparing", "{reply}");
    let reply = viewer
        .request(json!({"request": "watch", "id": mp.id}), None)
        .await;
    assert_eq!(reply["error_code"], 460, "watching twice: {reply}");
    // Janus refuses an unknown verb at once (synchronously); an event would do too.
    let reply = any_reply(&mut viewer, json!({"request": "nonsense"})).await;
    assert_eq!(reply["error_code"], 452, "an unknown request: {reply}");
    assert_eq!(
        reply["error"], "Unknown request 'nonsense'",
        "an unknown request: {reply}"
    );
    source.stop().await;
    assert_alive(cardea);
}

async fn source_restart() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 91, None).await;
    let old = Source::start(b'Q', &mp, Duration::from_secs(1)).await;
    let viewer = Viewer::watch(&cardea, mp.id, "the viewer").await;
    viewer.wait_media(Duration::from_secs(3)).await;
    sleep(Duration::from_millis(700)).await;
    old.halt().await;
    sleep(Duration::from_millis(300)).await;
    let new = Source::start(b'R', &mp, Duration::from_secs(1)).await;
    let has_new = |kind| {
        viewer
            .peer
            .received(kind)
            .iter()
            .any(|g| g.tag() == Some(b'R'))
    };
    assert!(
        wait_until(Duration::from_secs(3), || has_new(RtpCodecKind::Audio)
            && has_new(RtpCodecKind::Video))
        .await,
        "the restarted source reaches the viewer; tags so far {:?}",
        viewer.tags()
    );
    sleep(Duration::from_millis(1000)).await;
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let got = viewer.peer.received(kind);
        let first_new = got
            .iter()
            .position(|g| g.tag() == Some(b'R'))
            .expect("the new source's packets");
        let what = format!("{kind} across the source restart");
        assert!(
            got[first_new..].iter().all(|g| g.tag() == Some(b'R')),
            "{what}: the old source's packets after the new one's"
        );
        let (last_old, first) = (&got[first_new - 1], &got[first_new]);
        let ssrcs: BTreeSet<u32> = got.iter().map(|g| g.ssrc).collect();
        eprintln!(
            "{what}: last old (seq {}, ts {}), first new (seq {}, ts {}, index {:?}, key frame \
             start {}); SSRCs {ssrcs:x?}",
            last_old.seq,
            last_old.ts,
            first.seq,
            first.ts,
            first.index(),
            first.keyframe_start()
        );
        assert_seq_continuous(&got, &what);
        let ts_step = first.ts.wrapping_sub(last_old.ts) as i32;
        let clock = if kind == RtpCodecKind::Audio {
            48_000
        } else {
            90_000
        };
        assert!(
            (0..=5 * clock).contains(&ts_step),
            "{what}: the RTP timestamp jumps by {ts_step} from the old source's last ({}) to \
             the new one's first ({}): the viewer's stream must go on",
            last_old.ts,
            first.ts
        );
        assert_ts_follow_source(&got[first_new..], &new, kind, &what);
        if kind == RtpCodecKind::Video {
            assert!(
                first.keyframe_start(),
                "{what}: video resumes on the new source's key frame (it starts with one)"
            );
        }
    }
    viewer.assert_forwarded_unchanged(&[&old, &new]);
    viewer.close().await;
    new.stop().await;
    assert_alive(cardea);
}

async fn subset_enable_rewatch() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 101, Some("pw")).await;
    let source = Source::start(b'S', &mp, Duration::from_secs(1)).await;

    // Video only.
    let mut handle = Handle::attach(&cardea, PLUGIN).await;
    let preparing = handle
        .request(
            json!({"request": "watch", "id": mp.id, "media": ["v"]}),
            None,
        )
        .await;
    assert_eq!(preparing["result"]["status"], "preparing", "{preparing}");
    let offer_sdp = preparing["jsep"]["sdp"]
        .as_str()
        .expect("an offer")
        .to_owned();
    let kinds: Vec<String> = m_lines(&offer_sdp).into_iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec!["video"],
        "media: [v] offers video only:\n{offer_sdp}"
    );
    let mut viewer = Viewer::start(&cardea, handle, offer_sdp, "the video-only viewer").await;
    assert!(
        wait_until(Duration::from_secs(3), || viewer
            .peer
            .count(RtpCodecKind::Video)
            >= 30)
        .await,
        "the video-only viewer gets video: {:?}",
        viewer.counts()
    );
    assert_eq!(viewer.counts().0, 0, "and no audio");
    viewer.assert_starts_on_key_frame();

    // disable / enable.
    let refused = admin
        .sync_request(json!({"request": "disable", "id": mp.id, "secret": "nope"}))
        .await;
    assert_error(&refused, 457, "disable with a wrong secret");
    let reply = admin
        .sync_request(json!({"request": "disable", "id": mp.id, "secret": "pw"}))
        .await;
    assert_eq!(sync_data(&reply, "disable")["streaming"], "ok", "{reply}");
    let (then, now) = viewer.counts_over_quiet(Instant::now()).await;
    assert_eq!(now, then, "VP8 still forwarded by a disabled mountpoint");
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id, "secret": "pw"}))
        .await;
    assert_eq!(sync_data(&info, "info")["info"]["enabled"], false, "{info}");
    let reply = admin
        .sync_request(json!({"request": "enable", "id": mp.id, "secret": "pw"}))
        .await;
    assert_eq!(sync_data(&reply, "enable")["streaming"], "ok", "{reply}");
    viewer
        .wait_more(now, (0, 20), Duration::from_secs(3), "after enable")
        .await;
    viewer.assert_forwarded_unchanged(&[&source]);

    // stop: stopping, then stopped once the PeerConnection is gone.
    let from = viewer.handle.events.drain().len();
    let stopping = viewer.request(json!({"request": "stop"})).await;
    assert_eq!(stopping["result"]["status"], "stopping", "{stopping}");
    viewer
        .handle
        .events
        .wait_for("stopped after stop", STEP, |e| {
            e["plugindata"]["data"]["result"]["status"] == "stopped"
        })
        .await;
    let after_stop = viewer.handle.events.drain()[from..].to_vec();
    eprintln!(
        "after stop: {}",
        after_stop
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (then, now) = viewer.counts_over_quiet(Instant::now()).await;
    assert_eq!(now, then, "media still arriving after stop");
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id, "secret": "pw"}))
        .await;
    assert_eq!(sync_data(&info, "info")["info"]["viewers"], 0, "{info}");

    // The same handle watches again (both streams this time), with a new PeerConnection.
    let Viewer { handle, pc, .. } = viewer;
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    let again = Viewer::watch_on(&cardea, handle, mp.id, "the viewer, watching again").await;
    again.wait_media(Duration::from_secs(3)).await;
    again.assert_starts_on_key_frame();
    again.assert_forwarded_unchanged(&[&source]);
    let info = admin
        .sync_request(json!({"request": "info", "id": mp.id, "secret": "pw"}))
        .await;
    assert_eq!(sync_data(&info, "info")["info"]["viewers"], 1, "{info}");
    again.close().await;
    source.stop().await;
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_file_mountpoints_play_live_and_on_demand() {
    timeout(Duration::from_secs(25), file_mountpoints())
        .await
        .expect("the file mountpoint test ran over 25 s");
}

/// An Ogg/Opus file of `packets` 20 ms packets, each ending with its index (the peer does
/// not decode: any Opus-shaped bytes do).
fn ogg_opus_file(packets: u16) -> Vec<u8> {
    fn page(out: &mut Vec<u8>, packets: &[Vec<u8>]) {
        out.extend_from_slice(b"OggS");
        out.extend_from_slice(&[0; 22]);
        out.push(packets.len() as u8);
        out.extend(packets.iter().map(|p| p.len() as u8));
        for p in packets {
            out.extend_from_slice(p);
        }
    }
    let mut file = Vec::new();
    page(
        &mut file,
        &[b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0".to_vec()],
    );
    page(&mut file, &[b"OpusTags".to_vec()]);
    let audio: Vec<Vec<u8>> = (0..packets)
        .map(|i| {
            // TOC: configuration 1 (SILK, 20 ms), one frame.
            let mut p = vec![0x08, 0xfc, 0xff];
            p.extend_from_slice(&i.to_be_bytes());
            p
        })
        .collect();
    for chunk in audio.chunks(100) {
        page(&mut file, chunk);
    }
    file
}

/// A `live` file mountpoint plays to every viewer at the same point, an `ondemand` one from
/// its start for each viewer; both loop, and a missing file is refused at `create`.
async fn file_mountpoints() {
    let (cardea, mut admin) = start_cardea().await;
    let dir = std::env::temp_dir().join(format!("cardea-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("count.opus");
    std::fs::write(&path, ogg_opus_file(500)).expect("write the Ogg file");
    let file = path.to_string_lossy().into_owned();
    for (id, kind) in [(60, "live"), (61, "ondemand")] {
        let created = any_reply(
            &mut admin,
            json!({"request": "create", "type": kind, "id": id, "filename": &file}),
        )
        .await;
        assert_eq!(created["streaming"], "created", "{kind}: {created}");
    }
    let missing = any_reply(
        &mut admin,
        json!({"request": "create", "type": "live", "filename": dir.join("none.opus")}),
    )
    .await;
    assert_eq!(missing["error_code"], 456, "a missing file: {missing}");
    assert!(
        missing["error"]
            .as_str()
            .is_some_and(|e| e.contains("none.opus")),
        "the error names the file: {missing}"
    );

    let first_index = |v: &Viewer| {
        v.peer
            .received(RtpCodecKind::Audio)
            .first()
            .and_then(Got::index)
    };
    let latest_index = |v: &Viewer| {
        v.peer
            .received(RtpCodecKind::Audio)
            .last()
            .and_then(Got::index)
    };

    // On demand: a viewer arriving 2 s after another starts near the file's beginning.
    let a = watch_audio(&cardea, 61, "on-demand viewer A").await;
    sleep(Duration::from_secs(2)).await;
    let b = watch_audio(&cardea, 61, "on-demand viewer B").await;
    assert!(
        wait_until(STEP, || b.peer.count(RtpCodecKind::Audio) >= 10).await,
        "on-demand viewer B got no audio"
    );
    let (a_now, b_first) = (
        latest_index(&a).unwrap_or(0),
        first_index(&b).unwrap_or(u16::MAX),
    );
    assert!(
        a_now >= 80 && b_first < 30,
        "each on-demand viewer hears the file from its start: A is at packet {a_now}, B began \
         at {b_first}"
    );
    assert_seq_continuous(&b.peer.received(RtpCodecKind::Audio), "on-demand viewer B");

    // Live: two viewers hear the same packets at the same time.
    let c = watch_audio(&cardea, 60, "live viewer C").await;
    let d = watch_audio(&cardea, 60, "live viewer D").await;
    sleep(Duration::from_millis(800)).await;
    let (c_now, d_now) = (
        latest_index(&c).unwrap_or(0),
        latest_index(&d).unwrap_or(9999),
    );
    assert!(
        c_now.abs_diff(d_now) <= 3,
        "live viewers hear the same point: C at {c_now}, D at {d_now}"
    );
    let c_first = first_index(&c).unwrap_or(0);
    assert!(
        c_first >= 100,
        "the live file was playing before C came (5 s in, about packet 250): C began at {c_first}"
    );
    // Past the first packets (those queued while the PeerConnection came up arrive at once).
    let got: Vec<Got> = c
        .peer
        .received(RtpCodecKind::Audio)
        .into_iter()
        .skip(10)
        .collect();
    assert!(
        got.len() >= 10,
        "live viewer C got {} packets",
        got.len() + 10
    );
    let span = got.last().unwrap().at.saturating_duration_since(got[0].at);
    let rate = (got.len() - 1) as f64 / span.as_secs_f64().max(0.001);
    assert!(
        (40.0..=60.0).contains(&rate),
        "a file is paced in real time (50 packets/s): C got {} packets in {span:?}",
        got.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_alive(cardea);
}

/// `watch` an audio-only mountpoint: Cardea's offer has one audio m-line.
async fn watch_audio(cardea: &Cardea, id: u64, what: &str) -> Viewer {
    let mut handle = Handle::attach(cardea, PLUGIN).await;
    let preparing = handle
        .request(json!({"request": "watch", "id": id}), None)
        .await;
    let offer = preparing["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no offer in {preparing}"))
        .to_owned();
    let shape: Vec<String> = m_lines(&offer).iter().map(|l| l.kind.clone()).collect();
    assert_eq!(shape, ["audio"], "{what}: one audio m-line:\n{offer}");
    Viewer::start(cardea, handle, offer, what).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_srtp_source_from_ffmpeg() {
    timeout(Duration::from_secs(25), srtp_source())
        .await
        .expect("the SRTP source test ran over 25 s");
}

/// ffmpeg sends SRTP (AES_CM_128_HMAC_SHA1_80) to a mountpoint created with `srtpsuite` and
/// `srtpcrypto`: the viewer hears it; a mountpoint with another key drops every packet.
async fn srtp_source() {
    let (cardea, mut admin) = start_cardea().await;
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
    let other = "HRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA";
    let mut ports = Vec::new();
    for (id, crypto) in [(70, key), (71, other)] {
        let created = any_reply(
            &mut admin,
            json!({"request": "create", "type": "rtp", "id": id, "srtpsuite": 80,
                   "srtpcrypto": crypto,
                   "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}]}),
        )
        .await;
        assert_eq!(created["streaming"], "created", "{created}");
        ports.push(
            created["stream"]["ports"][0]["port"]
                .as_u64()
                .expect("a port"),
        );
    }
    let bad = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtp", "srtpsuite": 80, "srtpcrypto": "c2hvcnQ=",
               "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"}]}),
    )
    .await;
    assert_eq!(bad["error_code"], 456, "a key of the wrong length: {bad}");
    let ffmpeg = |port: u64| {
        std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error", "-re", "-t", "8", "-f", "lavfi"])
            .args(["-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-c:a", "libopus", "-payload_type", "111", "-f", "rtp"])
            .args([
                "-srtp_out_suite",
                "AES_CM_128_HMAC_SHA1_80",
                "-srtp_out_params",
                key,
            ])
            .arg(format!("srtp://127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("ffmpeg (Debian package ffmpeg) runs")
    };
    let mut senders = [ffmpeg(ports[0]), ffmpeg(ports[1])];
    let good = watch_audio(&cardea, 70, "the viewer of the SRTP source").await;
    let wrong = watch_audio(&cardea, 71, "the viewer of the mountpoint with another key").await;
    assert!(
        wait_until(Duration::from_secs(3), || good
            .peer
            .count(RtpCodecKind::Audio)
            >= 50)
        .await,
        "the viewer got {} opus packets from ffmpeg's SRTP in 3 s",
        good.peer.count(RtpCodecKind::Audio)
    );
    let payload = &good.peer.received(RtpCodecKind::Audio)[5].payload;
    assert!(payload.len() > 3, "decrypted opus payloads: {payload:02x?}");
    assert_eq!(
        wrong.peer.count(RtpCodecKind::Audio),
        0,
        "packets that fail SRTP authentication are dropped"
    );
    let info = any_reply(&mut admin, json!({"request": "info", "id": 71})).await;
    assert!(info["info"]["media"][0]["age_ms"].is_null(), "{info}");
    assert_eq!(info["info"]["srtp"], true, "{info}");
    for s in &mut senders {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_multicast_source_from_ffmpeg() {
    timeout(Duration::from_secs(25), multicast_source())
        .await
        .expect("the multicast source test ran over 25 s");
}

/// ffmpeg sends opus to multicast group 239.255.42.1 out of the loopback interface; a
/// mountpoint with `mcast` and `iface` joins the group and its viewer hears it, while a
/// mountpoint of another group on the same port hears nothing. A group that is not one is
/// refused with 456.
async fn multicast_source() {
    let (cardea, mut admin) = start_cardea().await;
    let port = cardea_tests::sipp::free_port(None);
    for (id, group) in [(75, "239.255.42.1"), (76, "239.255.42.2")] {
        let created = any_reply(
            &mut admin,
            json!({"request": "create", "type": "rtp", "id": id,
                   "media": [{"type": "audio", "mid": "a", "port": port, "pt": 111,
                              "codec": "opus", "mcast": group, "iface": "127.0.0.1"}]}),
        )
        .await;
        assert_eq!(created["streaming"], "created", "{created}");
        assert_eq!(created["stream"]["ports"][0]["host"], group, "{created}");
    }
    let bad = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtp",
               "media": [{"type": "audio", "mid": "a", "port": port, "pt": 111,
                          "codec": "opus", "mcast": "10.1.2.3"}]}),
    )
    .await;
    assert_eq!(bad["error_code"], 456, "not a multicast group: {bad}");
    let mut sender = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-re", "-t", "10", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-c:a", "libopus", "-payload_type", "111", "-f", "rtp"])
        .arg(format!(
            "rtp://239.255.42.1:{port}?localaddr=127.0.0.1&ttl=1"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg (Debian package ffmpeg) runs");
    let member = watch_audio(&cardea, 75, "the viewer of the group ffmpeg sends to").await;
    let other = watch_audio(&cardea, 76, "the viewer of another group").await;
    assert!(
        wait_until(Duration::from_secs(4), || member
            .peer
            .count(RtpCodecKind::Audio)
            >= 50)
        .await,
        "the viewer got {} opus packets from the multicast group in 4 s",
        member.peer.count(RtpCodecKind::Audio)
    );
    assert_eq!(
        other.peer.count(RtpCodecKind::Audio),
        0,
        "another group's mountpoint hears nothing"
    );
    let _ = sender.kill();
    let _ = sender.wait();
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_simulcast_source_viewer_picks_a_substream() {
    timeout(Duration::from_secs(30), simulcast_source())
        .await
        .expect("the simulcast source test ran over 30 s");
}

/// A simulcast video mountpoint (`simulcast`, `port2`, `port3`) fed with three VP8 layers
/// (tags L, M, H, a key frame every half second on each): a viewer gets only the highest
/// layer at first, as in Janus; `configure` with `substream: 0` moves it to the lowest at a
/// key frame, with the `substream` event, and nothing of the others after.
async fn simulcast_source() {
    let (cardea, mut admin) = start_cardea().await;
    let created = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtp", "id": 95, "media": [
            {"type": "audio", "mid": "a", "port": 0, "pt": SOURCE_AUDIO_PT, "codec": "opus"},
            {"type": "video", "mid": "v", "port": 0, "pt": SOURCE_VIDEO_PT, "codec": "vp8",
             "simulcast": true, "port2": 0, "port3": 0}]}),
    )
    .await;
    assert_eq!(created["streaming"], "created", "{created}");
    let ports = &created["stream"]["ports"];
    let addr = |v: &Value| -> SocketAddr {
        format!("127.0.0.1:{}", v.as_u64().expect("a port"))
            .parse()
            .unwrap()
    };
    let audio = addr(&ports[0]["port"]);
    let layers = [
        addr(&ports[1]["port"]),
        addr(&ports[1]["port2"]),
        addr(&ports[1]["port3"]),
    ];
    let info = any_reply(&mut admin, json!({"request": "info", "id": 95})).await;
    assert_eq!(info["info"]["media"][1]["simulcast"], true, "{info}");
    // Only the first layer's source sends audio; the others send theirs nowhere.
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nowhere = sink.local_addr().unwrap();
    let mut sources = Vec::new();
    for (i, (tag, video)) in [(b'L', layers[0]), (b'M', layers[1]), (b'H', layers[2])]
        .into_iter()
        .enumerate()
    {
        let mp = Mountpoint {
            id: 95,
            audio: if i == 0 { audio } else { nowhere },
            video,
        };
        sources.push(Source::start(tag, &mp, Duration::from_millis(500)).await);
    }
    let mut viewer = Viewer::watch(&cardea, 95, "the simulcast viewer").await;
    let tag_of = |g: &common::peer::Got| g.payload[g.payload.len() - TRAILER];
    assert!(
        wait_until(Duration::from_secs(4), || viewer
            .peer
            .count(RtpCodecKind::Video)
            >= 60)
        .await,
        "the viewer got {} VP8 packets",
        viewer.peer.count(RtpCodecKind::Video)
    );
    let tags: BTreeSet<u8> = viewer
        .peer
        .received(RtpCodecKind::Video)
        .iter()
        .map(tag_of)
        .collect();
    assert_eq!(
        tags,
        BTreeSet::from([b'H']),
        "only the highest layer at first"
    );
    let configured = viewer
        .handle
        .request(json!({"request": "configure", "substream": 0}), None)
        .await;
    assert_eq!(configured["result"]["event"], "configured", "{configured}");
    let switched = viewer
        .handle
        .events
        .wait_for("the substream event", Duration::from_secs(3), |e| {
            e["plugindata"]["data"]["result"]["substream"] == 0
        })
        .await;
    assert_eq!(
        switched["plugindata"]["data"]["result"]["mid"], "v",
        "{switched}"
    );
    let from = viewer.peer.count(RtpCodecKind::Video);
    sleep(Duration::from_secs(1)).await;
    let after = viewer.peer.received(RtpCodecKind::Video);
    let later: Vec<&common::peer::Got> = after[from..].iter().collect();
    assert!(
        later.len() >= 20,
        "{} VP8 packets after the switch",
        later.len()
    );
    assert!(
        later.iter().all(|g| tag_of(g) == b'L'),
        "only the lowest layer after the switch: {:?}",
        later.iter().map(|g| tag_of(g) as char).collect::<String>()
    );
    let bad = viewer
        .handle
        .request(json!({"request": "configure", "substream": 7}), None)
        .await;
    assert_eq!(bad["error_code"], 454, "{bad}");
    for s in sources {
        s.stop().await;
    }
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_svc_source_viewer_picks_spatial_and_temporal_layers() {
    timeout(Duration::from_secs(30), svc_source())
        .await
        .expect("the SVC source test ran over 30 s");
}

/// A VP9 SVC mountpoint (`svc: true`) fed with three spatial and three temporal layers
/// (L3T3: 30 pictures a second, each one packet per spatial layer, TIDs 0 2 1 2, a key
/// picture every 16): a viewer gets every layer at first, as in Janus; `configure` with
/// `spatial_layer: 0` leaves only spatial layer 0 (Janus's event tells it), then
/// `temporal_layer: 0` only its base frames; the numbering has no gap throughout.
async fn svc_source() {
    let (cardea, mut admin) = start_cardea().await;
    let created = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtp", "id": 96, "media": [
            {"type": "video", "mid": "v", "port": 0, "pt": 98, "codec": "vp9", "svc": true}]}),
    )
    .await;
    assert_eq!(created["streaming"], "created", "{created}");
    let port = created["stream"]["ports"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no port in {created}")) as u16;
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_svc(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Arc::clone(&stop),
    ));
    let mut handle = Handle::attach(&cardea, PLUGIN).await;
    let preparing = handle
        .request(json!({"request": "watch", "id": 96}), None)
        .await;
    let offer = preparing["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no offer in {preparing}"))
        .to_owned();
    let peer = PeerState::new();
    let options = PeerOptions {
        vp9: true,
        ..PeerOptions::default()
    };
    let pc = peer_connection(&cardea, Arc::clone(&peer), options).await;
    let answer = local_answer(&*pc, &peer, &offer, "the SVC viewer").await;
    let starting = handle
        .request(
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
        )
        .await;
    assert_eq!(starting["result"]["status"], "starting", "{starting}");
    wait_connected(&peer, STEP, "the SVC viewer").await;
    let video = || peer.received(RtpCodecKind::Video);
    assert!(
        wait_until(Duration::from_secs(4), || peer.count(RtpCodecKind::Video)
            >= 60)
        .await,
        "the viewer got {} VP9 packets",
        peer.count(RtpCodecKind::Video)
    );
    let spatial: BTreeSet<u8> = video()
        .iter()
        .filter_map(|g| svc_layers(g).map(|l| l.0))
        .collect();
    assert_eq!(
        spatial,
        BTreeSet::from([0, 1, 2]),
        "every spatial layer at first"
    );

    for (ask, key, pick) in [
        ("spatial_layer", "spatial_layer", 0usize),
        ("temporal_layer", "temporal_layer", 1usize),
    ] {
        let configured = handle
            .request(
                json!({"request": "configure", "streams": [{"mid": "v", ask: 0}]}),
                None,
            )
            .await;
        assert_eq!(configured["result"]["event"], "configured", "{configured}");
        let event = handle
            .events
            .wait_for(&format!("the {key} event"), Duration::from_secs(3), |e| {
                e["plugindata"]["data"]["result"][key] == 0
            })
            .await;
        assert_eq!(event["plugindata"]["data"]["result"]["mid"], "v", "{event}");
        let from = peer.count(RtpCodecKind::Video);
        sleep(Duration::from_secs(1)).await;
        let got = video();
        let later: Vec<(u8, u8)> = got[from..].iter().filter_map(svc_layers).collect();
        assert!(later.len() >= 8, "{} packets after {ask} 0", later.len());
        let picked: Vec<u8> = later
            .iter()
            .map(|l| if pick == 0 { l.0 } else { l.1 })
            .collect();
        assert!(
            picked.iter().all(|&l| l == 0),
            "only layer 0 after {ask} 0: (spatial, temporal) {later:?}"
        );
    }
    assert_seq_continuous(&video(), "the SVC viewer");
    let bad = handle
        .request(json!({"request": "configure", "spatial_layer": 5}), None)
        .await;
    assert_eq!(bad["error_code"], 454, "{bad}");
    stop.store(true, Ordering::Relaxed);
    let _ = timeout(Duration::from_secs(1), sender).await;
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    assert_alive(cardea);
}

/// (spatial, temporal) layer of a VP9 packet, from its descriptor (RFC 9628 §4.2: I, L).
fn svc_layers(g: &Got) -> Option<(u8, u8)> {
    let p = &g.payload;
    let b0 = *p.first()?;
    if b0 & 0x20 == 0 {
        return None;
    }
    let at = 1 + if b0 & 0x80 != 0 {
        if *p.get(1)? & 0x80 != 0 {
            2
        } else {
            1
        }
    } else {
        0
    };
    let l = *p.get(at)?;
    Some(((l >> 1) & 0x07, l >> 5))
}

/// Sends VP9 SVC to `to`: 30 pictures a second of three spatial layers (one packet each,
/// the marker on the top one), temporal layers 0 2 1 2, a key picture every 16.
async fn send_svc(to: SocketAddr, stop: Arc<AtomicBool>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / 30));
    let mut seq: u16 = 7_000;
    for picture in 0u32.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tick.tick().await;
        let key = picture % 16 == 0;
        let temporal = [0u8, 2, 1, 2][picture as usize % 4];
        for spatial in 0..3u8 {
            // I (7-bit picture id), P unless a key picture, L, B and E: one packet a layer.
            let b0 = 0x80 | 0x20 | if key { 0 } else { 0x40 } | 0x08 | 0x04;
            let layer = temporal << 5 | u8::from(temporal > 0) << 4 | spatial << 1;
            let mut payload = vec![b0, (picture & 0x7f) as u8, layer, (picture / 4) as u8];
            payload.extend_from_slice(&[0x5a; 40]);
            payload.extend_from_slice(&trailer(b'S', seq));
            let datagram =
                rtp_datagram(98, seq, picture * 3000, 0x5c0_0001, spatial == 2, &payload);
            let _ = socket.send_to(&datagram, to).await;
            seq = seq.wrapping_add(1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_rtcp_port_asks_the_sender_for_key_frames() {
    timeout(Duration::from_secs(25), rtcp_port())
        .await
        .expect("the RTCP port test ran over 25 s");
}

/// A video stream with `rtcpport`: once the sender has sent RTCP there, a new viewer makes
/// Cardea send it a PLI (RFC 4585) from that port.
async fn rtcp_port() {
    let (cardea, mut admin) = start_cardea().await;
    let created = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtp", "id": 97, "media": [
            {"type": "audio", "mid": "a", "port": 0, "pt": SOURCE_AUDIO_PT, "codec": "opus"},
            {"type": "video", "mid": "v", "port": 0, "pt": SOURCE_VIDEO_PT, "codec": "vp8",
             "rtcpport": 0}]}),
    )
    .await;
    assert_eq!(created["streaming"], "created", "{created}");
    let port = |v: &Value| -> SocketAddr {
        format!("127.0.0.1:{}", v.as_u64().expect("a port"))
            .parse()
            .unwrap()
    };
    let ports = &created["stream"]["ports"];
    let rtcp_port = port(&ports[1]["rtcp_port"]);
    let mp = Mountpoint {
        id: 97,
        audio: port(&ports[0]["port"]),
        video: port(&ports[1]["port"]),
    };
    let source = Source::start(b'P', &mp, Duration::from_secs(30)).await;
    // The sender's RTCP socket: a receiver report (empty) tells Cardea where it is.
    let rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let report = [0x80u8, 201, 0, 1, 0, 0, 0, 7];
    rtcp.send_to(&report, rtcp_port).await.unwrap();
    sleep(Duration::from_millis(200)).await;
    let _first = Viewer::watch(&cardea, 97, "the first viewer").await;
    let mut buf = [0u8; 64];
    let (n, from) = timeout(Duration::from_secs(3), rtcp.recv_from(&mut buf))
        .await
        .expect("a PLI within 3 s of the viewer's start")
        .unwrap();
    assert_eq!(from, rtcp_port, "sent from the RTCP port");
    assert_eq!(n, 12, "a PLI is 12 bytes: {:02x?}", &buf[..n]);
    assert_eq!(
        (buf[0], buf[1]),
        (0x81, 206),
        "PSFB, FMT 1: {:02x?}",
        &buf[..n]
    );
    source.stop().await;
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_a_silent_source_gives_viewers_media_events() {
    timeout(Duration::from_secs(20), silent_source())
        .await
        .expect("the silent source test ran over 20 s");
}

/// When the source stops sending, each viewer's session gets Janus's `media` event with
/// `receiving: false` for every stream (after a second of silence), and `receiving: true`
/// when packets come back.
async fn silent_source() {
    let (cardea, admin) = start_cardea().await;
    let mp = create_mountpoint(&admin, 80, None).await;
    let source = Source::start(b'S', &mp, Duration::from_secs(1)).await;
    let mut viewer = Viewer::watch(&cardea, mp.id, "the viewer").await;
    source.stop().await;
    for kind in ["audio", "video"] {
        let e = viewer
            .handle
            .events
            .wait_for(
                &format!("media {kind} receiving false"),
                Duration::from_secs(4),
                |e| e["janus"] == "media" && e["type"] == kind && e["receiving"] == false,
            )
            .await;
        assert_eq!(e["sender"], viewer.handle.handle, "{e}");
        assert!(
            e["mid"].is_string(),
            "the event names the viewer's mid: {e}"
        );
    }
    let again = Source::start(b'T', &mp, Duration::from_secs(1)).await;
    viewer
        .handle
        .events
        .wait_for("media receiving true", Duration::from_secs(4), |e| {
            e["janus"] == "media" && e["receiving"] == true
        })
        .await;
    again.stop().await;
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_rtsp_mountpoint_pulls_from_an_rtsp_server() {
    timeout(Duration::from_secs(60), rtsp_mountpoint())
        .await
        .expect("the RTSP test ran over 60 s");
}

/// GStreamer's RTSP server (tests/rtsp/rtsp-server.py) serves VP8 and opus behind basic
/// authentication. An `rtsp` mountpoint with the right credentials is answered once the
/// server has described it (an `ack`, then `created`); a viewer receives both streams,
/// starting on a key frame. Wrong credentials and a server that is not there fail `create`
/// with 456, as Janus's `rtsp_failcheck` does; without the check the mountpoint exists but
/// cannot be watched (460) until the server describes it. When the server goes away the
/// viewer gets `media` `receiving: false`; when it comes back Cardea connects again by
/// itself and the packets flow again.
async fn rtsp_mountpoint() {
    let (cardea, mut admin) = start_cardea().await;
    let port = cardea_tests::sipp::free_port(None);
    let url = format!("rtsp://127.0.0.1:{port}/test");
    let mut server = RtspServer::start(port);
    let body = |id: u64, password: &str| {
        json!({"request": "create", "type": "rtsp", "id": id, "url": url,
               "rtsp_user": "cam", "rtsp_pwd": password, "audio": true, "video": true,
               "rtsp_reconnect_delay": 1, "rtsp_conn_timeout": 3})
    };
    let created = any_reply(&mut admin, body(90, "secret")).await;
    assert_eq!(created["streaming"], "created", "{created}");
    assert_eq!(created["stream"]["id"], 90, "{created}");
    let info = any_reply(&mut admin, json!({"request": "info", "id": 90})).await;
    let codecs: Vec<&str> = info["info"]["media"]
        .as_array()
        .expect("media in info")
        .iter()
        .filter_map(|m| m["codec"].as_str())
        .collect();
    assert_eq!(codecs, ["opus", "vp8"], "the server's codecs: {info}");

    let wrong = any_reply(&mut admin, body(91, "wrong")).await;
    assert_eq!(wrong["error_code"], 456, "wrong credentials: {wrong}");
    let gone = format!(
        "rtsp://127.0.0.1:{}/test",
        cardea_tests::sipp::free_port(None)
    );
    let absent = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtsp", "id": 92, "url": gone, "video": true}),
    )
    .await;
    assert_eq!(absent["error_code"], 456, "no server: {absent}");
    let unchecked = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtsp", "id": 93, "url": gone, "video": true,
               "rtsp_failcheck": false}),
    )
    .await;
    assert_eq!(unchecked["streaming"], "created", "{unchecked}");
    let mut early = Handle::attach(&cardea, PLUGIN).await;
    let refused = early
        .request(json!({"request": "watch", "id": 93}), None)
        .await;
    assert_eq!(refused["error_code"], 460, "not described yet: {refused}");
    let bad = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtsp", "url": "http://x", "video": true}),
    )
    .await;
    assert_eq!(bad["error_code"], 454, "{bad}");
    let list = any_reply(&mut admin, json!({"request": "list"})).await;
    let ids: BTreeSet<u64> = list["list"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([90, 93]),
        "failed creates leave nothing: {list}"
    );

    let mut viewer = Viewer::watch(&cardea, 90, "the RTSP viewer").await;
    assert_rtsp_media(&viewer).await;

    server.stop();
    viewer
        .handle
        .events
        .wait_for("media receiving false", Duration::from_secs(5), |e| {
            e["janus"] == "media" && e["receiving"] == false
        })
        .await;
    let before = viewer.peer.count(RtpCodecKind::Audio);
    let _server = RtspServer::start(port);
    viewer
        .handle
        .events
        .wait_for("media receiving true", Duration::from_secs(15), |e| {
            e["janus"] == "media" && e["receiving"] == true
        })
        .await;
    assert!(
        wait_until(Duration::from_secs(5), || viewer
            .peer
            .count(RtpCodecKind::Audio)
            >= before + 50)
        .await,
        "after the server came back the viewer got {} more opus packets",
        viewer.peer.count(RtpCodecKind::Audio) - before
    );
    let destroyed = any_reply(&mut admin, json!({"request": "destroy", "id": 90})).await;
    assert_eq!(destroyed["streaming"], "destroyed", "{destroyed}");
    assert_alive(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_rtsp_falls_back_to_udp_when_the_server_refuses_interleaved() {
    timeout(Duration::from_secs(40), rtsp_over_udp())
        .await
        .expect("the RTSP-over-UDP test ran over 40 s");
}

/// A server that takes RTP over UDP only (GStreamer's, told so: a TCP-interleaved SETUP
/// gets 461 Unsupported Transport, as from some cameras) still feeds the mountpoint: Cardea
/// sets the tracks up over UDP client ports, as Janus always does, and a viewer gets both
/// streams.
async fn rtsp_over_udp() {
    let (cardea, mut admin) = start_cardea().await;
    let port = cardea_tests::sipp::free_port(None);
    let _server = RtspServer::start_udp_only(port);
    let created = any_reply(
        &mut admin,
        json!({"request": "create", "type": "rtsp", "id": 95,
               "url": format!("rtsp://127.0.0.1:{port}/test"),
               "rtsp_user": "cam", "rtsp_pwd": "secret", "audio": true, "video": true}),
    )
    .await;
    assert_eq!(created["streaming"], "created", "{created}");
    let viewer = Viewer::watch(&cardea, 95, "the viewer of an RTSP-over-UDP source").await;
    assert_rtsp_media(&viewer).await;
    assert!(
        cardea.logs().iter().any(|l| l.contains("trying UDP")),
        "Cardea logs the fallback"
    );
    let _ = viewer.pc.close().await;
    assert_alive(cardea);
}

/// The viewer of the RTSP test server's presentation gets both streams within 5 s (at
/// least 50 opus and 20 VP8 packets), its video starting on a key frame.
async fn assert_rtsp_media(viewer: &Viewer) {
    let counts = || {
        (
            viewer.peer.count(RtpCodecKind::Audio),
            viewer.peer.count(RtpCodecKind::Video),
        )
    };
    let enough = wait_until(Duration::from_secs(5), || {
        let (audio, video) = counts();
        audio >= 50 && video >= 20
    })
    .await;
    let (audio, video) = counts();
    assert!(
        enough,
        "the viewer got {audio} opus and {video} VP8 packets from the RTSP server in 5 s"
    );
    assert!(
        viewer.peer.received(RtpCodecKind::Video)[0].keyframe_start(),
        "the viewer's first VP8 packet starts a key frame"
    );
}

/// tests/rtsp/rtsp-server.py on `port`, user `cam`, password `secret`; stopped on drop.
struct RtspServer(std::process::Child);

impl RtspServer {
    fn start(port: u16) -> Self {
        Self::spawn(&[&port.to_string(), "cam", "secret"])
    }

    /// The same, refusing RTP interleaved in the RTSP connection.
    fn start_udp_only(port: u16) -> Self {
        Self::spawn(&["--udp-only", &port.to_string(), "cam", "secret"])
    }

    fn spawn(args: &[&str]) -> Self {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/rtsp/rtsp-server.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/rtsp/rtsp-server.py");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        assert_eq!(
            line.trim(),
            "ready",
            "the RTSP server (Debian gir1.2-gst-rtsp-server-1.0) did not start"
        );
        Self(child)
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- Cardea and the Janus API ----------------------------------------------------------

/// A Cardea without the sample mountpoint, checked to have the Streaming plugin, and a
/// handle for management requests.
async fn start_cardea() -> (Cardea, Handle) {
    let cardea = Cardea::start(NO_SAMPLE);
    let janus = cardea.janus();
    let session = janus.create().await;
    let reply = janus
        .post(
            &format!("/{session}"),
            json!({"janus": "attach", "plugin": PLUGIN}),
        )
        .await;
    assert_eq!(
        reply["janus"],
        "success",
        "{} has no {PLUGIN}: attach answered {reply}",
        cardea_bin().display()
    );
    let admin = Handle::attach(&cardea, PLUGIN).await;
    (cardea, admin)
}

/// The plugin data answering `body`, whether it comes at once (`success`) or as an event
/// after an `ack`.
async fn any_reply(handle: &mut Handle, body: Value) -> Value {
    let tx = cardea_tests::transaction();
    let reply = handle
        .janus
        .message(handle.session, handle.handle, &tx, body, None)
        .await;
    if reply["janus"] == "ack" {
        let event = handle
            .events
            .wait_for("the event answering the request", STEP, |e| {
                e["janus"] == "event" && e["transaction"] == tx.as_str()
            })
            .await;
        return event["plugindata"]["data"].clone();
    }
    assert_eq!(reply["janus"], "success", "{reply}");
    reply["plugindata"]["data"].clone()
}

fn assert_alive(mut cardea: Cardea) {
    assert!(
        cardea.exited().is_none(),
        "cardea exited during the test: {:?}",
        cardea.exited()
    );
    drop(cardea);
}

/// The `plugindata.data` of a synchronous reply, which must be a `success` from the plugin.
/// `age_ms` of the first stream of mountpoint `id` (null before any packet).
async fn first_age(admin: &Handle, id: u64) -> Value {
    let info = admin
        .sync_request(json!({"request": "info", "id": id}))
        .await;
    sync_data(&info, "info")["info"]["media"][0]["age_ms"].clone()
}

fn sync_data(reply: &Value, what: &str) -> Value {
    assert_eq!(reply["janus"], "success", "{what}: {reply}");
    assert_eq!(reply["plugindata"]["plugin"], PLUGIN, "{what}: {reply}");
    let data = reply["plugindata"]["data"].clone();
    assert!(data["error_code"].is_null(), "{what} failed: {reply}");
    data
}

/// A synchronous reply carrying the plugin error `code`.
fn assert_error(reply: &Value, code: u64, what: &str) {
    assert_eq!(reply["janus"], "success", "{what}: {reply}");
    let data = &reply["plugindata"]["data"];
    assert_eq!(data["streaming"], "event", "{what}: {reply}");
    assert_eq!(data["error_code"], code, "{what}: {reply}");
    assert!(
        data["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: an error says why: {reply}"
    );
}

fn assert_configured(data: &Value) {
    assert_eq!(data["streaming"], "event", "{data}");
    assert_eq!(data["result"]["event"], "configured", "{data}");
}

fn assert_no_errors(events: &mut EventStream, who: &str) {
    let seen = events.drain();
    let errors: Vec<&Value> = seen
        .iter()
        .filter(|e| e["janus"] == "error" || e["plugindata"]["data"]["error_code"].is_u64())
        .collect();
    assert!(errors.is_empty(), "{who}: errors reported: {errors:?}");
}

/// A mountpoint the test created, and where its source sends.
struct Mountpoint {
    id: u64,
    audio: SocketAddr,
    video: SocketAddr,
}

fn create_body(id: u64, secret: Option<&str>) -> Value {
    let mut body = json!({
        "request": "create",
        "type": "rtp",
        "id": id,
        "description": format!("test mountpoint {id}"),
        "media": [
            {"type": "audio", "mid": "a", "port": 0, "pt": SOURCE_AUDIO_PT, "codec": "opus"},
            {"type": "video", "mid": "v", "port": 0, "pt": SOURCE_VIDEO_PT, "codec": "vp8"},
        ],
    });
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    body
}

/// Creates mountpoint `id` (opus mid a, VP8 mid v, both on free ports).
async fn create_mountpoint(admin: &Handle, id: u64, secret: Option<&str>) -> Mountpoint {
    let reply = admin.sync_request(create_body(id, secret)).await;
    let data = sync_data(&reply, "create");
    assert_eq!(data["streaming"], "created", "{reply}");
    assert_eq!(data["permanent"], false, "{reply}");
    let stream = &data["stream"];
    assert_eq!(stream["id"], id, "{reply}");
    assert_eq!(stream["type"], "live", "{reply}");
    let ports = stream["ports"]
        .as_array()
        .unwrap_or_else(|| panic!("created.stream.ports: {reply}"));
    let addr = |mid: &str, kind: &str| -> SocketAddr {
        let entry = ports
            .iter()
            .find(|p| p["mid"] == mid)
            .unwrap_or_else(|| panic!("no port for mid {mid}: {reply}"));
        assert_eq!(entry["type"], kind, "{reply}");
        let port = entry["port"]
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .unwrap_or_else(|| panic!("port of mid {mid}: {reply}"));
        let host = entry["host"]
            .as_str()
            .filter(|h| !h.is_empty() && *h != "0.0.0.0" && *h != "::")
            .unwrap_or("127.0.0.1");
        format!("{host}:{port}")
            .parse()
            .unwrap_or_else(|e| panic!("{host}:{port}: {e}"))
    };
    Mountpoint {
        id,
        audio: addr("a", "audio"),
        video: addr("v", "video"),
    }
}

// ---- viewers ---------------------------------------------------------------------------

struct Viewer {
    what: String,
    handle: Handle,
    offer_sdp: String,
    peer: Arc<PeerState>,
    pc: Arc<dyn PeerConnection>,
    connected_at: Instant,
}

impl Viewer {
    /// `watch` mountpoint `id`: Cardea offers one sendonly m-line per stream (audio mid a,
    /// video mid v); the viewer answers with `start` and waits for the connection and the
    /// `started` event.
    async fn watch(cardea: &Cardea, id: u64, what: &str) -> Viewer {
        let handle = Handle::attach(cardea, PLUGIN).await;
        Viewer::watch_on(cardea, handle, id, what).await
    }

    /// [`Viewer::watch`] on a handle of the caller's.
    async fn watch_on(cardea: &Cardea, mut handle: Handle, id: u64, what: &str) -> Viewer {
        let preparing = handle
            .request(json!({"request": "watch", "id": id}), None)
            .await;
        assert_eq!(preparing["streaming"], "event", "{what}: {preparing}");
        assert_eq!(
            preparing["result"]["status"], "preparing",
            "{what}: {preparing}"
        );
        assert_eq!(
            preparing["jsep"]["type"], "offer",
            "{what}: Cardea offers: {preparing}"
        );
        let offer_sdp = preparing["jsep"]["sdp"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no jsep.sdp in {preparing}"))
            .to_owned();
        // One sendonly m-line per stream, in the mountpoint's order (the mids are checked on
        // their own: streaming_offer_uses_the_mountpoint_mids).
        let lines = m_lines(&offer_sdp);
        let shape: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| (l.kind.as_str(), l.direction.as_str()))
            .collect();
        assert_eq!(
            shape,
            vec![("audio", "sendonly"), ("video", "sendonly")],
            "{what}: one sendonly m-line per stream:\n{offer_sdp}"
        );
        Viewer::start(cardea, handle, offer_sdp, what).await
    }

    /// Answers Cardea's offer `offer_sdp` on `handle` (which sent `watch`) with `start`, and
    /// waits for the connection and the `started` event.
    async fn start(cardea: &Cardea, mut handle: Handle, offer_sdp: String, what: &str) -> Viewer {
        let peer = PeerState::new();
        let pc = peer_connection(cardea, Arc::clone(&peer), PeerOptions::default()).await;
        let answer_sdp = local_answer(&*pc, &peer, &offer_sdp, what).await;
        for line in m_lines(&answer_sdp) {
            assert_eq!(
                line.direction, "recvonly",
                "{what}: webrtc-rs answers a sendonly m-line recvonly:\n{answer_sdp}"
            );
        }
        let starting = handle
            .request(
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": &answer_sdp, "trickle": false})),
            )
            .await;
        assert_eq!(starting["streaming"], "event", "{what}: {starting}");
        assert_eq!(
            starting["result"]["status"], "starting",
            "{what}: {starting}"
        );
        wait_connected(
            &peer,
            STEP,
            &format!("{what}\noffer:\n{offer_sdp}\nanswer:\n{answer_sdp}"),
        )
        .await;
        let connected_at = Instant::now();
        let started = handle
            .events
            .wait_for(&format!("{what}: the started event"), STEP, |e| {
                e["plugindata"]["data"]["result"]["status"] == "started"
            })
            .await;
        assert_eq!(started["sender"], handle.handle, "{started}");
        assert_eq!(
            started["plugindata"]["data"]["streaming"], "event",
            "{started}"
        );
        Viewer {
            what: what.to_owned(),
            handle,
            offer_sdp,
            peer,
            pc,
            connected_at,
        }
    }

    /// An asynchronous request on the viewer's handle; its event's plugin data.
    async fn request(&mut self, body: Value) -> Value {
        let data = self.handle.request(body, None).await;
        assert!(
            data["error_code"].is_null(),
            "{}: the request failed: {data}",
            self.what
        );
        data
    }

    /// (opus, VP8) packets received so far.
    fn counts(&self) -> (usize, usize) {
        (
            self.peer.count(RtpCodecKind::Audio),
            self.peer.count(RtpCodecKind::Video),
        )
    }

    /// The tags of every packet received, audio then video.
    fn tags(&self) -> BTreeSet<u8> {
        [RtpCodecKind::Audio, RtpCodecKind::Video]
            .into_iter()
            .flat_map(|k| self.peer.received(k))
            .filter_map(|g| g.tag())
            .collect()
    }

    /// Waits for both audio and video to arrive.
    async fn wait_media(&self, within: Duration) {
        assert!(
            wait_until(within, || {
                let (a, v) = self.counts();
                a >= 10 && v >= 5
            })
            .await,
            "{}: (opus, VP8) packets {:?} within {within:?} of connecting",
            self.what,
            self.counts()
        );
    }

    /// Waits until at least `more` (opus, VP8) packets came since `from`.
    async fn wait_more(
        &self,
        from: (usize, usize),
        more: (usize, usize),
        within: Duration,
        when: &str,
    ) {
        assert!(
            wait_until(within, || {
                let (a, v) = self.counts();
                a >= from.0 + more.0 && v >= from.1 + more.1
            })
            .await,
            "{}: {when}, (opus, VP8) packets went from {from:?} to only {:?} in {within:?}",
            self.what,
            self.counts()
        );
    }

    /// The counts [`GRACE`] after `from`, and [`QUIET`] later.
    async fn counts_over_quiet(&self, from: Instant) -> ((usize, usize), (usize, usize)) {
        tokio::time::sleep_until(from + GRACE).await;
        let then = self.counts();
        sleep(QUIET).await;
        (then, self.counts())
    }

    /// The first VP8 packet received begins a key frame.
    fn assert_starts_on_key_frame(&self) {
        let video = self.peer.received(RtpCodecKind::Video);
        let first = video.first().expect("VP8 received");
        assert!(
            first.keyframe_start(),
            "{}: the first VP8 packet begins a key frame; it is {:?} (index {:?}), payload \
             starts {:02x?}",
            self.what,
            first.tag().map(char::from),
            first.index(),
            &first.payload[..first.payload.len().min(8)]
        );
    }

    /// Every packet received is one a source sent, with its payload unchanged.
    fn assert_forwarded_unchanged(&self, sources: &[&Source]) {
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            for g in self.peer.received(kind) {
                let source = sources
                    .iter()
                    .find(|s| Some(s.tag) == g.tag())
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: {kind} packet (pt {}, {} bytes, tag {:?}) from no source",
                            self.what,
                            g.pt,
                            g.payload.len(),
                            g.tag().map(char::from)
                        )
                    });
                let index = g.index().expect("a trailer");
                let sent = source.log.payload(kind, index).unwrap_or_else(|| {
                    panic!(
                        "{}: {kind} packet index {index} of {} was never sent",
                        self.what, source.tag as char
                    )
                });
                assert_eq!(
                    &g.payload[..],
                    &sent[..],
                    "{}: {kind} packet index {index} of {} arrived changed",
                    self.what,
                    source.tag as char
                );
            }
        }
    }

    /// The packets of each kind come on the payload types Cardea offered for that m-line.
    fn assert_offered_payload_types(&self) {
        let lines = m_lines(&self.offer_sdp);
        for (kind, name) in [
            (RtpCodecKind::Audio, "audio"),
            (RtpCodecKind::Video, "video"),
        ] {
            let offered: BTreeSet<u8> = lines
                .iter()
                .filter(|l| l.kind == name)
                .flat_map(|l| l.pts.iter().copied())
                .collect();
            let got: BTreeSet<u8> = self.peer.received(kind).iter().map(|g| g.pt).collect();
            assert!(
                !got.is_empty() && got.is_subset(&offered),
                "{}: {name} payload types {got:?}, offered {offered:?}:\n{}",
                self.what,
                self.offer_sdp
            );
        }
    }

    async fn close(self) {
        let _ = timeout(Duration::from_secs(3), self.pc.close()).await;
    }
}

/// `got` is within 10 % (less) or a few packets (more) of `sent`.
fn assert_close(got: usize, sent: usize, what: &str) {
    assert!(
        got * 10 >= sent * 9 && got <= sent + 5,
        "{what}: got {got}, the source sent {sent}"
    );
}

/// Consecutive packets (in arrival order) step their sequence numbers forward by 1 to
/// [`MAX_SEQ_STEP`] (loss on loopback is rare): no gap between a replayed key frame and the
/// live stream (Cardea numbers the replayed packets as those just before the next live one,
/// so the receiver has nothing to NACK), and no jump backwards across a switch or a restart.
fn assert_seq_continuous(got: &[Got], what: &str) {
    let steps: Vec<(usize, i32)> = got
        .windows(2)
        .enumerate()
        .filter_map(|(i, w)| {
            let step = i32::from(w[1].seq.wrapping_sub(w[0].seq) as i16);
            (!(1..=MAX_SEQ_STEP).contains(&step)).then_some((i, step))
        })
        .collect();
    assert!(
        steps.is_empty(),
        "{what}: sequence numbers out of step at (packet, step) {:?} of {} packets; around the \
         first (seq, tag, index): {:?}",
        steps.iter().take(10).collect::<Vec<_>>(),
        got.len(),
        steps.first().map(|(i, _)| {
            got[i.saturating_sub(2)..(*i + 3).min(got.len())]
                .iter()
                .map(|g| (g.seq, g.tag().map(char::from), g.index()))
                .collect::<Vec<_>>()
        })
    );
}

/// Between consecutive packets of one source (by index), the RTP timestamps step as the
/// source's did: the server may move them by a constant, not respace them.
fn assert_ts_follow_source(got: &[Got], source: &Source, kind: RtpCodecKind, what: &str) {
    let mine: Vec<&Got> = got.iter().filter(|g| g.tag() == Some(source.tag)).collect();
    for w in mine.windows(2) {
        let (Some(i), Some(j)) = (w[0].index(), w[1].index()) else {
            continue;
        };
        let (Some(ts_i), Some(ts_j)) = (source.log.ts(kind, i), source.log.ts(kind, j)) else {
            continue;
        };
        assert_eq!(
            w[1].ts.wrapping_sub(w[0].ts),
            ts_j.wrapping_sub(ts_i),
            "{what}: the timestamps of packets {i} and {j} are {} and {}; the source's were \
             {ts_i} and {ts_j}",
            w[0].ts,
            w[1].ts
        );
    }
}

/// Polls `done` every 20 ms for up to `within`; returns whether it became true.
async fn wait_until(within: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

// ---- the source ------------------------------------------------------------------------

/// What a source sent, by packet index.
#[derive(Default)]
struct SourceLog {
    audio: Mutex<Vec<(u32, Vec<u8>)>>,
    video: Mutex<Vec<(u32, Vec<u8>)>>,
    /// The index of the first packet of each key frame.
    keyframes: Mutex<Vec<u16>>,
    audio_sent: AtomicUsize,
    video_sent: AtomicUsize,
}

impl SourceLog {
    fn list(&self, kind: RtpCodecKind) -> &Mutex<Vec<(u32, Vec<u8>)>> {
        if kind == RtpCodecKind::Audio {
            &self.audio
        } else {
            &self.video
        }
    }

    fn payload(&self, kind: RtpCodecKind, index: u16) -> Option<Vec<u8>> {
        let list = self.list(kind).lock().unwrap();
        list.get(usize::from(index)).map(|(_, p)| p.clone())
    }

    fn ts(&self, kind: RtpCodecKind, index: u16) -> Option<u32> {
        let list = self.list(kind).lock().unwrap();
        list.get(usize::from(index)).map(|(ts, _)| *ts)
    }

    fn keyframes(&self) -> Vec<u16> {
        self.keyframes.lock().unwrap().clone()
    }
}

/// The test as a mountpoint's RTP source: opus-like audio every 20 ms and VP8 at 30 frames
/// a second from one UDP socket, every payload tagged.
struct Source {
    tag: u8,
    log: Arc<SourceLog>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

fn seq_base(tag: u8) -> u16 {
    // B's below A's: a viewer switched from A to B without rewriting would see old numbers.
    match tag {
        b'A' => 50_000,
        b'B' => 2_000,
        b'Q' => 30_000,
        b'R' => 10_000,
        _ => 20_000 + u16::from(tag) * 50,
    }
}

fn ts_base(tag: u8) -> u32 {
    match tag {
        b'A' => 0x9000_0000,
        b'B' => 0x1000_0000,
        b'Q' => 0x7000_0000,
        b'R' => 0x2000_0000,
        _ => 0x5000_0000 + u32::from(tag) * 0x10_0000,
    }
}

impl Source {
    /// Starts sending to `mp`'s ports; a key frame at frame 0 and every `keyframe_every`.
    async fn start(tag: u8, mp: &Mountpoint, keyframe_every: Duration) -> Source {
        let socket = Arc::new(
            UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind a UDP socket"),
        );
        let log = Arc::new(SourceLog::default());
        let stop = Arc::new(AtomicBool::new(false));
        let audio = tokio::spawn(send_audio(
            Arc::clone(&socket),
            mp.audio,
            tag,
            Arc::clone(&log),
            Arc::clone(&stop),
        ));
        let video = tokio::spawn(send_video(
            socket,
            mp.video,
            tag,
            keyframe_every,
            Arc::clone(&log),
            Arc::clone(&stop),
        ));
        Source {
            tag,
            log,
            stop,
            tasks: vec![audio, video],
        }
    }

    /// (opus, VP8) packets sent so far.
    fn counts(&self) -> (usize, usize) {
        (
            self.log.audio_sent.load(Ordering::Relaxed),
            self.log.video_sent.load(Ordering::Relaxed),
        )
    }

    /// Stops sending, keeping the log (the send tasks end at their next tick).
    async fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        sleep(Duration::from_millis(60)).await;
    }

    async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            let _ = timeout(Duration::from_secs(1), task).await;
        }
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn send_audio(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    tag: u8,
    log: Arc<SourceLog>,
    stop: Arc<AtomicBool>,
) {
    let ssrc = 0x1100_0000 | u32::from(tag);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut index: u16 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let ts = ts_base(tag).wrapping_add(AUDIO_TS_STEP * u32::from(index));
        let mut payload = OPUS_FRAME.to_vec();
        payload.extend_from_slice(&trailer(tag, index));
        let datagram = rtp_datagram(
            SOURCE_AUDIO_PT,
            seq_base(tag).wrapping_add(index),
            ts,
            ssrc,
            false,
            &payload,
        );
        log.audio.lock().unwrap().push((ts, payload));
        let _ = socket.send_to(&datagram, to).await;
        index += 1;
        log.audio_sent.store(usize::from(index), Ordering::Relaxed);
    }
}

async fn send_video(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    tag: u8,
    keyframe_every: Duration,
    log: Arc<SourceLog>,
    stop: Arc<AtomicBool>,
) {
    let ssrc = 0x2200_0000 | u32::from(tag);
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / 30));
    let mut index: u16 = 0;
    let mut frame: u32 = 0;
    let mut last_key = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let key = frame == 0 || last_key.elapsed() >= keyframe_every;
        if key {
            last_key = Instant::now();
            log.keyframes.lock().unwrap().push(index);
        }
        let ts = ts_base(tag).wrapping_add(VIDEO_TS_STEP * frame);
        let packets = vp8_frame(key, frame);
        let count = packets.len();
        for (i, mut payload) in packets.into_iter().enumerate() {
            payload.extend_from_slice(&trailer(tag, index));
            let datagram = rtp_datagram(
                SOURCE_VIDEO_PT,
                seq_base(tag).wrapping_add(index),
                ts,
                ssrc,
                i + 1 == count,
                &payload,
            );
            log.video.lock().unwrap().push((ts, payload));
            let _ = socket.send_to(&datagram, to).await;
            index += 1;
            log.video_sent.store(usize::from(index), Ordering::Relaxed);
        }
        frame += 1;
    }
}

/// A plain RTP datagram: version 2, no padding, extension or CSRC.
fn rtp_datagram(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(12 + payload.len());
    d.push(0x80);
    d.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    d.extend_from_slice(&seq.to_be_bytes());
    d.extend_from_slice(&ts.to_be_bytes());
    d.extend_from_slice(&ssrc.to_be_bytes());
    d.extend_from_slice(payload);
    d
}

fn trailer(tag: u8, index: u16) -> [u8; TRAILER] {
    let [hi, lo] = index.to_be_bytes();
    [tag, hi, lo]
}

/// Datagrams that are not valid RTP, or RTP nobody should forward (all tagged [`BAD`] where a
/// payload could be read): short ones, versions other than 2, a CSRC count or extension or
/// padding longer than the datagram, RTCP.
fn garbage(round: u16) -> Vec<Vec<u8>> {
    let tagged = {
        let mut p = vec![0xf8, 0xff, 0xfe];
        p.extend_from_slice(&trailer(BAD, round));
        p
    };
    let valid = |pt: u8| rtp_datagram(pt, round, 0, 0x0bad_0bad, false, &tagged);
    let with_first = |b0: u8, pt: u8| {
        let mut d = valid(pt);
        d[0] = b0;
        d
    };
    let mut out = vec![
        Vec::new(),
        vec![0x80],
        vec![0x80, SOURCE_AUDIO_PT, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        // Version 0, 1 and 3 with the right payload types.
        with_first(0x00, SOURCE_AUDIO_PT),
        with_first(0x40, SOURCE_VIDEO_PT),
        with_first(0xc0, SOURCE_AUDIO_PT),
        // CC = 15: 60 bytes of CSRC that are not there.
        with_first(0x8f, SOURCE_AUDIO_PT),
        with_first(0x8f, SOURCE_VIDEO_PT),
        // X = 1: an extension header whose length runs past the end.
        {
            let mut d = vec![0x90, SOURCE_AUDIO_PT];
            d.extend_from_slice(&round.to_be_bytes());
            d.extend_from_slice(&[0; 8]);
            d.extend_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
            d.extend_from_slice(&tagged);
            d
        },
        {
            let mut d = vec![0x90, SOURCE_VIDEO_PT];
            d.extend_from_slice(&round.to_be_bytes());
            d.extend_from_slice(&[0; 8]);
            d.extend_from_slice(&[0xbe, 0xde]);
            d
        },
        // P = 1 with a padding count larger than the payload.
        {
            let mut d = with_first(0xa0, SOURCE_AUDIO_PT);
            d.push(200);
            d
        },
        {
            let mut d = with_first(0xa0, SOURCE_VIDEO_PT);
            d.push(255);
            d
        },
        // RTCP: a receiver report and a BYE.
        vec![0x80, 201, 0, 1, 0x0b, 0xad, 0x0b, 0xad],
        vec![0x81, 203, 0, 1, 0x0b, 0xad, 0x0b, 0xad],
        // Text.
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    // A large datagram of the wrong payload type.
    let mut big = vec![0x5a; 1400];
    big.extend_from_slice(&tagged);
    out.push(rtp_datagram(33, round, 0, 0x0bad_0bad, false, &big));
    out
}

/// VP8 payloads whose descriptor is cut short or empty.
fn truncated_vp8() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x10],
        vec![0x90],
        vec![0x90, 0x80],
        vec![0x90, 0x80, 0x80],
        vec![0x90, 0xe0, 0x80, 0x01, 0x00],
    ]
}
