//! VideoRoom (`janus.plugin.videoroom`) against WebRTC peers that share no code with the
//! server: webrtc-rs (the `webrtc` crate) stands in for the browsers of publishers and
//! subscribers, negotiating over the Janus HTTP API as janus.js does (non-trickle), sending
//! synthetic opus and VP8 RTP and counting what each subscriber receives.
//!
//! The publishers answer keyframe requests as a browser's encoder does: an interceptor hands
//! inbound PLI and FIR to the test, and the next VP8 frame is a key frame. Every payload ends
//! with [`TRAILER`] bytes: the publisher's tag (which feed it came from) and the packet's
//! index in its stream (which packet it is), so a subscriber can tell feeds and packets apart
//! although the server rewrites SSRCs and sequence numbers.
//!
//! What is expected is /tmp/vr-protocol.md (Cardea's VideoRoom as implemented), which follows
//! Janus 1.x's VideoRoom API.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cardea_tests::{Cardea, EventStream};
use common::janus::{async_request, Handle as Participant};
use common::peer::{
    apply_answer, encoding, is_keyframe_request, local_answer, local_offer, local_track,
    local_track_with, opus, peer_connection, rtp, vp8, vp8_frame, vp8_frame_in_layer,
    wait_connected, Got, KeyframeRequest, PeerOptions, PeerState, AUDIO_LEVEL_URI, OPUS_FRAME,
    OPUS_PT, TRAILER, VP8_PT,
};
use common::sdp::{extmap_id, m_lines, media_mid};
use common::STEP;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::PeerConnection;

const PLUGIN: &str = "janus.plugin.videoroom";
/// The sample room every Cardea starts with (as in Janus's sample configuration).
const ROOM: u64 = 1234;
/// Every payload ends with: the publisher's tag, then the packet's index (big endian u16).
/// The largest forward jump of sequence numbers a subscriber may see between two packets in a
/// row (loss on loopback is rare; a rebasing mistake jumps by thousands).
const MAX_SEQ_STEP: i32 = 5;
const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

// ---- the tests -------------------------------------------------------------------------

/// Scenarios 1 and 3: one publisher (joinandconfigure), three subscribers that each get both
/// streams, then `unpublish`: the subscribers hear `updated` (streams inactive) and the media
/// stops; another joined publisher hears `unpublished`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_publisher_fans_out_to_three_subscribers_then_unpublishes() {
    timeout(Duration::from_secs(55), fan_out_then_unpublish())
        .await
        .expect("fan-out and unpublish did not finish within 55 s");
}

/// Scenario 2: a subscriber that joins a publisher who has been sending for a while starts on
/// a key frame, which the publisher (who sends key frames only when asked) was asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_late_subscriber_starts_on_a_requested_key_frame() {
    timeout(Duration::from_secs(45), late_join_starts_on_key_frame())
        .await
        .expect("the late-join exchange did not finish within 45 s");
}

/// Scenario 4: errors of asynchronous requests come back as events with Janus's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_errors_over_http() {
    timeout(Duration::from_secs(30), errors_over_http())
        .await
        .expect("the error exchanges did not finish within 30 s");
}

/// Scenario 5: a subscriber switches its video m-line from publisher A to publisher B without
/// renegotiating: B's packets arrive on the same stream, sequence numbers and timestamps go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_switch_moves_a_subscriber_stream_to_another_feed() {
    timeout(Duration::from_secs(45), switch_feeds())
        .await
        .expect("the switch exchange did not finish within 45 s");
}

/// Scenario 6: a simulcast publisher (one VP8 m-line, rids h, m and l): a subscriber gets the
/// layer it asks for, changes layer at a key frame of the new one without a break in its
/// sequence numbers, and falls back to the best remaining layer when its layer stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_simulcast_subscriber_chooses_and_falls_back_between_layers() {
    timeout(Duration::from_secs(50), simulcast_layers())
        .await
        .expect("the simulcast exchange did not finish within 50 s");
}

/// Scenario 6b: the same publisher codes three temporal layers (L1T3): a subscriber asking
/// for `temporal: 0` gets the base-layer frames only, numbered without a gap, and is told
/// so; back at `temporal: 2` it gets every frame again, from a base-layer frame on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_simulcast_subscriber_caps_the_temporal_layer() {
    timeout(Duration::from_secs(40), temporal_layers())
        .await
        .expect("the temporal-layer exchange did not finish within 40 s");
}

/// Scenario 6c: `rtp_forward` of the simulcast stream with `port`, `port_2` and `port_3`
/// (Janus's layer-by-layer forwarding, what a simulcast Streaming mountpoint takes): each
/// port gets one layer, under its own SSRC, in the publisher's numbering. A fourth forwarder
/// with `simulcast: true` acts as a subscriber: the top layer, then the middle one when the
/// top stops, in one stream numbered without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_simulcast_layers_are_forwarded_each_to_its_port() {
    timeout(Duration::from_secs(40), forwarded_layers())
        .await
        .expect("the layer forwarding did not finish within 40 s");
}

/// Scenario 7: a room with `audiolevel_event`: a publisher whose RFC 6464 audio levels go
/// loud then silent is announced `talking` then `stopped-talking`, to itself and to the
/// other publisher in the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_talking_events_follow_audio_levels() {
    timeout(Duration::from_secs(40), talking_events())
        .await
        .expect("the talking exchange did not finish within 40 s");
}

/// Scenario 8: `rtp_forward` copies a publisher's audio and video as plain RTP to two UDP
/// sockets, with the forwarders' SSRCs and payload types; `listforwarders` lists them;
/// `stop_rtp_forward` ends the audio copy while video goes on, and `unpublish` ends the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_rtp_forward_copies_streams_until_stopped_or_unpublished() {
    timeout(Duration::from_secs(40), rtp_forward())
        .await
        .expect("the rtp_forward exchange did not finish within 40 s");
}

async fn fan_out_then_unpublish() {
    let cardea = Cardea::start("");
    let started = Instant::now();

    // Another publisher-side participant (joined, not publishing): hears about the feed.
    let mut watcher = Participant::attach(&cardea, PLUGIN).await;
    let joined = watcher
        .request(
            json!({"request": "join", "room": ROOM, "ptype": "publisher", "display": "watcher"}),
            None,
        )
        .await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    assert!(joined["id"].is_u64(), "{joined}");

    // Scenario 1: the publisher, key frames every second (and when asked).
    let mut publisher = Publisher::join_and_publish(
        &cardea,
        b'A',
        "alice",
        KeyframePolicy::EverySecondAndOnRequest,
    )
    .await;
    let data = &publisher.joined;
    assert_eq!(data["room"], ROOM, "{data}");
    assert_eq!(data["audio_codec"], "opus", "{data}");
    assert_eq!(data["video_codec"], "vp8", "{data}");
    let streams = data["streams"].as_array().expect("joined carries streams");
    let offer_lines = m_lines(&publisher.offer_sdp);
    assert_eq!(
        streams.len(),
        offer_lines.len(),
        "one stream per m-line of the offer: {data}\n{}",
        publisher.offer_sdp
    );
    for (i, stream) in streams.iter().enumerate() {
        let line = &offer_lines[i];
        assert_eq!(stream["mindex"], i, "{stream}");
        assert_eq!(stream["mid"], line.mid.as_str(), "{stream}");
        assert_eq!(stream["type"], line.kind.as_str(), "{stream}");
        let codec = if line.kind == "audio" { "opus" } else { "vp8" };
        assert_eq!(stream["codec"], codec, "{stream}");
    }
    // The answer keeps exactly one codec per m-line.
    for line in m_lines(&publisher.answer_sdp) {
        let pt = if line.kind == "audio" {
            OPUS_PT
        } else {
            VP8_PT
        };
        assert_eq!(
            line.pts,
            vec![pt],
            "one codec per m-line in the answer:\n{}",
            publisher.answer_sdp
        );
    }
    let news = watcher
        .events
        .wait_for("the publishers event about alice", STEP, |e| {
            e["plugindata"]["data"]["publishers"]
                .as_array()
                .is_some_and(|l| l.iter().any(|p| p["id"] == publisher.id))
        })
        .await;
    eprintln!("watcher heard: {news}");

    // Three subscribers, each its own session, handle and PeerConnection.
    let mut subscribers = Vec::new();
    for n in 0..3 {
        let sub = Subscriber::join(
            &cardea,
            json!([{ "feed": publisher.id }]),
            &format!("subscriber {n}"),
        )
        .await;
        let streams = sub.attached["streams"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let lines = m_lines(&sub.offer_sdp);
        assert_eq!(streams.len(), 2, "audio and video: {}", sub.attached);
        assert_eq!(
            lines.len(),
            streams.len(),
            "one m-line per stream:\n{}\n{}",
            sub.attached,
            sub.offer_sdp
        );
        for (i, stream) in streams.iter().enumerate() {
            let line = &lines[i];
            let kind = line.kind.as_str();
            assert_eq!(stream["mindex"], i, "{stream}");
            assert_eq!(
                stream["mid"],
                line.mid.as_str(),
                "the event's mids are the offer's:\n{}\n{}",
                sub.attached,
                sub.offer_sdp
            );
            assert_eq!(stream["type"], kind, "{stream}");
            assert_eq!(stream["feed_id"], publisher.id, "{stream}");
            assert_eq!(stream["active"], true, "{stream}");
            let (codec, pt, feed_mid) = if kind == "audio" {
                ("opus", OPUS_PT, &publisher.audio_mid)
            } else {
                ("vp8", VP8_PT, &publisher.video_mid)
            };
            assert_eq!(stream["codec"], codec, "{stream}");
            assert_eq!(stream["feed_mid"], feed_mid.as_str(), "{stream}");
            assert_eq!(
                line.media_pts(),
                vec![pt],
                "the subscriber is offered the publisher's payload type (and at most its \
                 retransmission type):\n{}",
                sub.offer_sdp
            );
            assert!(
                line.direction == "sendonly",
                "a subscriber's m-lines are sendonly, not {:?}:\n{}",
                line.direction,
                sub.offer_sdp
            );
        }
        subscribers.push(sub);
    }

    // Media over ~3 s to every subscriber.
    let before: Vec<(usize, usize)> = subscribers.iter().map(Subscriber::counts).collect();
    let window = Instant::now();
    sleep(Duration::from_secs(3)).await;
    let elapsed = window.elapsed();
    for (n, sub) in subscribers.iter().enumerate() {
        let (audio, video) = sub.counts();
        let (audio, video) = (audio - before[n].0, video - before[n].1);
        let offered = m_lines(&sub.offer_sdp);
        let offered_pts = |kind: &str| -> BTreeSet<u8> {
            offered
                .iter()
                .filter(|l| l.kind == kind)
                .flat_map(|l| l.pts.iter().copied())
                .collect()
        };
        let got_audio = sub.peer.received(RtpCodecKind::Audio);
        let got_video = sub.peer.received(RtpCodecKind::Video);
        let pts = |got: &[Got]| got.iter().map(|g| g.pt).collect::<BTreeSet<u8>>();
        eprintln!(
            "subscriber {n}: {audio} opus and {video} VP8 packets in {elapsed:?}; \
             payload types audio {:?}, video {:?}",
            pts(&got_audio),
            pts(&got_video)
        );
        assert!(
            audio >= 100,
            "subscriber {n}: only {audio} opus packets in {elapsed:?} (the publisher sends 50/s)"
        );
        assert!(
            video >= 60,
            "subscriber {n}: only {video} VP8 packets in {elapsed:?} (the publisher sends 30+/s)"
        );
        // Media on the publisher's payload types; retransmissions, were any needed, on the
        // offered RTX type.
        assert!(
            pts(&got_audio).contains(&OPUS_PT) && pts(&got_audio).is_subset(&offered_pts("audio")),
            "subscriber {n}: audio payload types {:?}, offered {:?}",
            pts(&got_audio),
            offered_pts("audio")
        );
        assert!(
            pts(&got_video).contains(&VP8_PT) && pts(&got_video).is_subset(&offered_pts("video")),
            "subscriber {n}: video payload types {:?}, offered {:?}",
            pts(&got_video),
            offered_pts("video")
        );
        assert!(
            got_audio
                .iter()
                .chain(&got_video)
                .all(|g| g.tag() == Some(b'A')),
            "subscriber {n} got packets that alice never sent"
        );
        assert_seq_continuous(&got_video, &format!("subscriber {n}, video"));
        assert_seq_continuous(&got_audio, &format!("subscriber {n}, audio"));
    }

    // Scenario 3: unpublish.
    let unpublished = publisher
        .participant
        .request(json!({"request": "unpublish"}), None)
        .await;
    assert_eq!(unpublished["videoroom"], "event", "{unpublished}");
    assert_eq!(unpublished["unpublished"], "ok", "{unpublished}");
    let unpublished_at = Instant::now();
    for (n, sub) in subscribers.iter_mut().enumerate() {
        let updated = sub
            .participant
            .events
            .wait_for("the updated event after unpublish", STEP, |e| {
                e["plugindata"]["data"]["videoroom"] == "updated"
            })
            .await;
        let data = &updated["plugindata"]["data"];
        eprintln!("subscriber {n} heard: {data}");
        assert_eq!(data["room"], ROOM, "{data}");
        let streams = data["streams"].as_array().expect("updated lists streams");
        assert!(!streams.is_empty(), "{data}");
        for stream in streams {
            assert_eq!(stream["feed_id"], publisher.id, "{data}");
            assert_eq!(
                stream["active"], false,
                "the unpublished feed's streams are inactive: {data}"
            );
        }
    }
    let gone = watcher
        .events
        .wait_for("the unpublished event", STEP, |e| {
            e["plugindata"]["data"]["unpublished"].is_u64()
        })
        .await;
    assert_eq!(
        gone["plugindata"]["data"]["unpublished"], publisher.id,
        "{gone}"
    );
    assert_eq!(gone["plugindata"]["data"]["room"], ROOM, "{gone}");
    assert_eq!(gone["sender"], watcher.handle, "{gone}");
    // Nothing flows after the unpublish (what was in flight may still land at once).
    sleep_until(unpublished_at + Duration::from_millis(300)).await;
    let after: Vec<(usize, usize)> = subscribers.iter().map(Subscriber::counts).collect();
    sleep(Duration::from_secs(1)).await;
    for (n, sub) in subscribers.iter().enumerate() {
        assert_eq!(
            sub.counts(),
            after[n],
            "subscriber {n} still receives media 0.3 s after the unpublish"
        );
    }
    assert!(
        watcher
            .events
            .drain()
            .iter()
            .all(|e| e["plugindata"]["data"]["leaving"].is_null()),
        "unpublish is not leaving:\n{}",
        watcher.events.describe()
    );
    assert_no_errors(&mut watcher.events, "watcher");
    for sub in &mut subscribers {
        assert_no_errors(&mut sub.participant.events, "subscriber");
    }
    eprintln!("fan-out and unpublish took {:?}", started.elapsed());
    for sub in subscribers {
        sub.close().await;
    }
    publisher.close().await;
    drop(cardea);
}

async fn late_join_starts_on_key_frame() {
    let cardea = Cardea::start("");
    let publisher =
        Publisher::join_and_publish(&cardea, b'L', "late", KeyframePolicy::OnRequestOnly).await;
    // Let the publisher send for a while: the subscriber must not start mid-stream.
    sleep(Duration::from_millis(2500)).await;
    let requests_before = publisher.log.keyframe_requests();
    let keyframes_before = publisher.log.keyframes_sent();
    let sent_before = publisher.log.video_sent.load(Ordering::Relaxed);
    eprintln!(
        "before the late join: {sent_before} VP8 packets sent, {} key frame requests, \
         key frames sent at indices {keyframes_before:?}",
        requests_before.len()
    );

    let sub = Subscriber::join(
        &cardea,
        json!([{ "feed": publisher.id, "mid": publisher.video_mid }]),
        "the late subscriber",
    )
    .await;
    let lines = m_lines(&sub.offer_sdp);
    assert_eq!(
        lines.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>(),
        vec!["video"],
        "a subscription to one mid gets one m-line:\n{}",
        sub.offer_sdp
    );
    let connected_at = sub.connected_at;
    let waited = wait_until(Duration::from_secs(3), || {
        sub.peer
            .received(RtpCodecKind::Video)
            .iter()
            .any(|g| g.keyframe_start())
    })
    .await;
    sleep(Duration::from_millis(300)).await;
    let got = sub.peer.received(RtpCodecKind::Video);
    let requests = publisher.log.keyframe_requests();
    let keyframes = publisher.log.keyframes_sent();
    let describe = |g: &Got| {
        format!(
            "seq {} ts {} index {:?} keyframe_start {} (+{:?})",
            g.seq,
            g.ts,
            g.index(),
            g.keyframe_start(),
            g.at - connected_at
        )
    };
    eprintln!(
        "late subscriber: {} VP8 packets; first ones:\n  {}\nkey frame requests the publisher \
         got: {} (before the join {}); key frames sent at indices {keyframes:?}",
        got.len(),
        got.iter()
            .take(8)
            .map(describe)
            .collect::<Vec<_>>()
            .join("\n  "),
        requests.len(),
        requests_before.len()
    );
    let context = format!(
        "publisher log: key frame requests at {:?} after its start; key frames at packet \
         indices {keyframes:?}; {sent_before} packets sent before the join",
        requests
            .iter()
            .map(|t| *t - publisher.log.started)
            .collect::<Vec<_>>()
    );
    assert!(
        requests.len() > requests_before.len(),
        "Cardea did not ask the publisher for a key frame for the new subscriber\n{context}"
    );
    assert!(
        waited,
        "the late subscriber got no key frame within 3 s of connecting\n{context}"
    );
    let first = got.first().expect("some video was received");
    let index = first.index().expect("every payload has a trailer");
    if let Some((pub_seq, sent_at)) = publisher.log.video_packet(index) {
        let since = |reference: Instant| {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let signed = ms(sent_at.saturating_duration_since(reference))
                - ms(reference.saturating_duration_since(sent_at));
            format!("{signed:+.1} ms")
        };
        eprintln!(
            "the late subscriber's first VP8 packet: index {index}, publisher seq {pub_seq}, \
             subscriber seq {}; sent {} from the started event, {} from connected",
            first.seq,
            since(sub.started_at),
            since(sub.connected_at)
        );
    }
    assert!(
        first.keyframe_start(),
        "the late subscriber's first VP8 packet ({}) does not begin a key frame (S=1, PID=0, \
         P=0): it cannot decode from there\nfirst packets:\n  {}\n{context}",
        describe(first),
        got.iter()
            .take(8)
            .map(describe)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert_seq_continuous(&got, "late subscriber, video");
    sub.close().await;
    publisher.close().await;
    drop(cardea);
}

async fn errors_over_http() {
    let cardea = Cardea::start("");
    let janus = cardea.janus();
    let session = janus.create().await;
    let mut events = janus.events(session);

    let missing_feed = janus.attach(session, PLUGIN).await;
    let missing_room = janus.attach(session, PLUGIN).await;
    let no_jsep = janus.attach(session, PLUGIN).await;
    let not_joined = janus.attach(session, PLUGIN).await;

    let expect_error = |event: &Value, handle: u64, code: u64, what: &str| {
        assert_eq!(event["janus"], "event", "{what}: {event}");
        assert_eq!(event["sender"], handle, "{what}: {event}");
        assert_eq!(event["session_id"], session, "{what}: {event}");
        assert_eq!(event["plugindata"]["plugin"], PLUGIN, "{what}: {event}");
        let data = &event["plugindata"]["data"];
        assert_eq!(data["videoroom"], "event", "{what}: {event}");
        assert_eq!(data["error_code"], code, "{what}: {event}");
        assert!(
            data["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: errors say why: {event}"
        );
        assert!(event.get("jsep").is_none(), "{what}: {event}");
    };

    let event = async_request(
        &janus,
        &mut events,
        session,
        missing_feed,
        PLUGIN,
        json!({"request": "join", "room": ROOM, "ptype": "subscriber",
               "streams": [{"feed": 4242424242u64}]}),
        None,
    )
    .await;
    expect_error(&event, missing_feed, 428, "subscribing to a missing feed");

    let event = async_request(
        &janus,
        &mut events,
        session,
        missing_room,
        PLUGIN,
        json!({"request": "join", "room": 999999, "ptype": "publisher"}),
        None,
    )
    .await;
    expect_error(&event, missing_room, 426, "joining room 999999");
    assert_eq!(
        event["plugindata"]["data"]["error"], "No such room (999999)",
        "{event}"
    );

    let event = async_request(
        &janus,
        &mut events,
        session,
        no_jsep,
        PLUGIN,
        json!({"request": "join", "room": ROOM, "ptype": "publisher"}),
        None,
    )
    .await;
    assert_eq!(
        event["plugindata"]["data"]["videoroom"], "joined",
        "{event}"
    );
    let event = async_request(
        &janus,
        &mut events,
        session,
        no_jsep,
        PLUGIN,
        json!({"request": "publish"}),
        None,
    )
    .await;
    expect_error(&event, no_jsep, 429, "publish without jsep");
    assert_eq!(
        event["plugindata"]["data"]["error"], "Missing element (jsep)",
        "{event}"
    );

    let event = async_request(
        &janus,
        &mut events,
        session,
        not_joined,
        PLUGIN,
        json!({"request": "start"}),
        None,
    )
    .await;
    expect_error(&event, not_joined, 424, "start before join");

    // A failed join leaves the handle free to join.
    let event = async_request(
        &janus,
        &mut events,
        session,
        missing_room,
        PLUGIN,
        json!({"request": "join", "room": ROOM, "ptype": "publisher"}),
        None,
    )
    .await;
    assert_eq!(
        event["plugindata"]["data"]["videoroom"], "joined",
        "{event}"
    );
    let failures: Vec<&Value> = events
        .drain()
        .iter()
        .filter(|e| e["janus"] == "error")
        .collect();
    assert!(failures.is_empty(), "Janus-level errors: {failures:?}");
    eprintln!("events of session {session}:\n{}", events.describe());
    drop(events);
    drop(cardea);
}

async fn switch_feeds() {
    let cardea = Cardea::start("");
    let a = Publisher::join_and_publish(
        &cardea,
        b'A',
        "alice",
        KeyframePolicy::EverySecondAndOnRequest,
    )
    .await;
    let b = Publisher::join_and_publish(
        &cardea,
        b'B',
        "bob",
        KeyframePolicy::EverySecondAndOnRequest,
    )
    .await;
    let mut sub = Subscriber::join(
        &cardea,
        json!([{ "feed": a.id, "mid": a.video_mid }]),
        "the switching subscriber",
    )
    .await;
    let sub_mid = sub.attached["streams"][0]["mid"]
        .as_str()
        .expect("the attached stream has a mid")
        .to_owned();
    assert_eq!(
        sub.attached["streams"][0]["feed_id"], a.id,
        "{}",
        sub.attached
    );
    sleep(Duration::from_millis(1500)).await;
    let before = sub.peer.received(RtpCodecKind::Video);
    eprintln!("before the switch: {} VP8 packets", before.len());
    assert!(
        before.len() >= 30,
        "only {} VP8 packets from alice in 1.5 s",
        before.len()
    );
    assert!(
        before.iter().all(|g| g.tag() == Some(b'A')),
        "before the switch every packet is alice's"
    );

    let bob_requests_before = b.log.keyframe_requests().len();
    let switched = sub
        .participant
        .request(
            json!({"request": "switch", "streams": [
                {"feed": b.id, "mid": b.video_mid, "sub_mid": sub_mid}
            ]}),
            None,
        )
        .await;
    let switched_at = Instant::now();
    eprintln!("switched: {switched}");
    assert_eq!(switched["videoroom"], "event", "{switched}");
    assert_eq!(switched["switched"], "ok", "{switched}");
    assert_eq!(switched["room"], ROOM, "{switched}");
    assert_eq!(switched["changes"], 1, "{switched}");
    let stream = &switched["streams"][0];
    assert_eq!(stream["mid"], sub_mid.as_str(), "{switched}");
    assert_eq!(stream["feed_id"], b.id, "{switched}");
    assert_eq!(stream["feed_mid"], b.video_mid.as_str(), "{switched}");
    assert_eq!(stream["active"], true, "{switched}");

    sleep(Duration::from_millis(1500)).await;
    let got = sub.peer.received(RtpCodecKind::Video);
    let first_b = got
        .iter()
        .position(|g| g.tag() == Some(b'B'))
        .unwrap_or_else(|| {
            panic!(
                "no packet of bob's within 1.5 s of the switch ({} packets, all alice's)",
                got.len()
            )
        });
    let (last_a, first_bp) = (&got[first_b - 1], &got[first_b]);
    let bob_requests = b.log.keyframe_requests();
    eprintln!(
        "bob's key frame requests: {bob_requests_before} before the switch, at {:?} after his \
         start (the switch was at {:?}); his key frames at packet indices {:?}",
        bob_requests
            .iter()
            .map(|t| *t - b.log.started)
            .collect::<Vec<_>>(),
        switched_at - b.log.started,
        b.log.keyframes_sent()
    );
    let b_count = got[first_b..].len();
    let a_after = got[first_b..]
        .iter()
        .filter(|g| g.tag() != Some(b'B'))
        .count();
    eprintln!(
        "switch: last of alice seq {} ts {}, first of bob seq {} ts {} keyframe_start {} \
         (+{:?} after the switched event); {b_count} packets from there, {a_after} of them \
         alice's",
        last_a.seq,
        last_a.ts,
        first_bp.seq,
        first_bp.ts,
        first_bp.keyframe_start(),
        first_bp.at.saturating_duration_since(switched_at)
    );
    assert!(
        b_count >= 30,
        "only {b_count} packets of bob's in the 1.5 s after the switch"
    );
    assert_eq!(
        a_after, 0,
        "alice's packets still arrive after bob's started"
    );
    let seq_step = i32::from(first_bp.seq.wrapping_sub(last_a.seq) as i16);
    assert!(
        (1..=MAX_SEQ_STEP).contains(&seq_step),
        "the sequence numbers jump by {seq_step} at the switch (alice's last {}, bob's first {}): \
         they should go on (alice sends from {}, bob from {})",
        last_a.seq,
        first_bp.seq,
        seq_base(b'A'),
        seq_base(b'B')
    );
    let ts_step = first_bp.ts.wrapping_sub(last_a.ts) as i32;
    assert!(
        (0..=90_000).contains(&ts_step),
        "the timestamps jump by {ts_step} at the switch (alice's last {}, bob's first {}): \
         they should go on",
        last_a.ts,
        first_bp.ts
    );
    assert_seq_continuous(&got, "switching subscriber, video");
    assert_no_errors(&mut sub.participant.events, "switching subscriber");
    sub.close().await;
    a.close().await;
    b.close().await;
    drop(cardea);
}

async fn simulcast_layers() {
    let cardea = Cardea::start("");
    // Independent checks fail at the end, all together, so that one finding does not hide
    // the scenarios after it.
    let mut failures: Vec<String> = Vec::new();
    macro_rules! check {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                let failure = format!($($msg)+);
                eprintln!("FAILED CHECK: {failure}");
                failures.push(failure);
            }
        };
    }
    let publisher = SimulcastPublisher::join_and_publish(&cardea).await;
    let data = &publisher.joined;
    // The answer accepts the three layers.
    let answer_lines: Vec<&str> = publisher
        .answer_sdp
        .lines()
        .filter(|l| l.starts_with("a=simulcast") || l.starts_with("a=rid"))
        .collect();
    eprintln!("simulcast lines of the answer: {answer_lines:?}");
    let recv = answer_lines
        .iter()
        .find_map(|l| l.strip_prefix("a=simulcast:recv "))
        .unwrap_or_else(|| {
            panic!(
                "the answer to a simulcast offer has no a=simulcast:recv:\n{}",
                publisher.answer_sdp
            )
        });
    let accepted: BTreeSet<&str> = recv
        .split(';')
        .flat_map(|alt| alt.split(','))
        .map(|rid| rid.trim().trim_start_matches('~'))
        .collect();
    assert_eq!(
        accepted,
        BTreeSet::from(["h", "m", "l"]),
        "the answer receives every offered layer:\n{}",
        publisher.answer_sdp
    );
    for rid in SIMULCAST_RIDS {
        assert!(
            answer_lines.contains(&format!("a=rid:{rid} recv").as_str()),
            "no a=rid:{rid} recv in the answer:\n{}",
            publisher.answer_sdp
        );
    }
    let streams = data["streams"].as_array().expect("joined carries streams");
    let video = streams
        .iter()
        .find(|s| s["type"] == "video")
        .unwrap_or_else(|| panic!("no video stream in {data}"));
    assert_eq!(video["mid"], publisher.video_mid.as_str(), "{data}");
    assert_eq!(video["codec"], "vp8", "{data}");
    assert_eq!(video["simulcast"], true, "the stream is simulcast: {data}");

    // Let Cardea see every layer for a while before anyone subscribes.
    sleep(Duration::from_millis(500)).await;
    let mut sub = Subscriber::join(
        &cardea,
        json!([{ "feed": publisher.id, "mid": publisher.video_mid, "substream": 2 }]),
        "the simulcast subscriber",
    )
    .await;
    eprintln!("attached: {}", sub.attached);
    let sub_mid = sub.attached["streams"][0]["mid"]
        .as_str()
        .expect("the attached stream has a mid")
        .to_owned();
    let video_got = |sub: &Subscriber| sub.peer.received(RtpCodecKind::Video);
    let layer_log = |publisher: &SimulcastPublisher| {
        publisher
            .layers
            .iter()
            .map(|l| {
                format!(
                    "{}: ssrc {:#x}, {} packets, key frame requests at {:?}, key frames at \
                     indices {:?}",
                    l.rid,
                    l.ssrc,
                    l.sent.load(Ordering::Relaxed),
                    l.requests
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|t| *t - publisher.started)
                        .collect::<Vec<_>>(),
                    l.keyframes.lock().unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    let describe = |got: &[Got]| {
        got.iter()
            .map(|g| {
                format!(
                    "({} {} #{:?}{})",
                    g.seq,
                    g.tag().map(char::from).unwrap_or('?'),
                    g.index(),
                    if g.keyframe_start() { " key" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };

    // Substream 2: layer h only.
    let h_key = wait_until(Duration::from_secs(3), || {
        video_got(&sub)
            .iter()
            .any(|g| g.tag() == Some(b'h') && g.keyframe_start())
    })
    .await;
    sleep(Duration::from_millis(700)).await;
    let got = video_got(&sub);
    eprintln!(
        "substream 2: {} packets, tags {:?}; publisher:\n  {}",
        got.len(),
        got.iter()
            .filter_map(Got::tag)
            .map(char::from)
            .collect::<BTreeSet<_>>(),
        layer_log(&publisher)
    );
    assert!(
        h_key,
        "no key frame of layer h within 3 s of connecting; got {}\n  {}",
        describe(&got[..got.len().min(30)]),
        layer_log(&publisher)
    );
    check!(
        got.iter().all(|g| g.tag() == Some(b'h')),
        "substream 2 must bring layer h only: {}",
        describe(&got[..got.len().min(60)])
    );
    check!(
        got[0].keyframe_start(),
        "the first packet of layer h does not begin a key frame: {}",
        describe(&got[..got.len().min(10)])
    );
    eprintln!(
        "the subscriber's started event came {:?} after the publisher began sending, \
         connected at {:?}",
        sub.started_at.saturating_duration_since(publisher.started),
        sub.connected_at
            .saturating_duration_since(publisher.started)
    );
    eprintln!(
        "substream 2, first packets (arrival after the started event): {}",
        got.iter()
            .take(12)
            .map(|g| format!(
                "{}#{:?}{} +{:?}",
                g.tag().map(char::from).unwrap_or('?'),
                g.index(),
                if g.keyframe_start() { " key" } else { "" },
                g.at.saturating_duration_since(sub.started_at)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let ssrc = got[0].ssrc;
    assert!(got.len() >= 15, "only {} packets of layer h", got.len());

    // Substream 0: after a key frame of l, l only.
    let before_configure = got.len();
    let configured = sub
        .participant
        .request(
            json!({"request": "configure", "streams": [{"mid": sub_mid, "substream": 0}]}),
            None,
        )
        .await;
    let configured_at = Instant::now();
    eprintln!("configure substream 0: {configured}");
    assert_eq!(configured["configured"], "ok", "{configured}");
    let switched = wait_until(Duration::from_secs(3), || {
        video_got(&sub)[before_configure..]
            .iter()
            .any(|g| g.tag() == Some(b'l'))
    })
    .await;
    sleep(Duration::from_millis(700)).await;
    let got = video_got(&sub);
    assert!(
        switched,
        "no packet of layer l within 3 s of configure substream 0; publisher:\n  {}",
        layer_log(&publisher)
    );
    let first_l = before_configure
        + got[before_configure..]
            .iter()
            .position(|g| g.tag() == Some(b'l'))
            .expect("a packet of l");
    eprintln!(
        "to substream 0: first packet of l after {:?}; around it: {}; publisher:\n  {}",
        got[first_l].at.saturating_duration_since(configured_at),
        describe(&got[first_l.saturating_sub(3)..(first_l + 5).min(got.len())]),
        layer_log(&publisher)
    );
    check!(
        got[before_configure..first_l]
            .iter()
            .all(|g| g.tag() == Some(b'h')),
        "until l's key frame, h goes on: {}",
        describe(&got[before_configure..first_l])
    );
    check!(
        got[first_l].keyframe_start(),
        "the first packet of layer l is not the start of a key frame: {}",
        describe(&got[first_l..(first_l + 5).min(got.len())])
    );
    let after: Vec<&Got> = got[first_l..].iter().collect();
    check!(
        after.iter().all(|g| g.tag() == Some(b'l')),
        "after the first packet of l, only l: {}",
        describe(&got[first_l..])
    );
    assert!(after.len() >= 15, "only {} packets of l", after.len());
    check!(
        got[first_l].seq == got[first_l - 1].seq.wrapping_add(1),
        "the sequence numbers go on by one at the change of layer: {}",
        describe(&got[first_l - 1..=first_l])
    );
    check!(
        got.iter().all(|g| g.ssrc == ssrc),
        "one SSRC for the subscriber across the change: {:?}",
        got.iter().map(|g| g.ssrc).collect::<BTreeSet<_>>()
    );

    // Back to substream 2, then h stops: m takes over, from a key frame of m.
    let before_back = got.len();
    let configured = sub
        .participant
        .request(
            json!({"request": "configure", "streams": [{"mid": sub_mid, "substream": 2}]}),
            None,
        )
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    let back = wait_until(Duration::from_secs(3), || {
        video_got(&sub)[before_back..]
            .iter()
            .any(|g| g.tag() == Some(b'h'))
    })
    .await;
    sleep(Duration::from_millis(500)).await;
    let got = video_got(&sub);
    assert!(
        back,
        "no packet of h within 3 s of configure substream 2; publisher:\n  {}",
        layer_log(&publisher)
    );
    let first_h = before_back
        + got[before_back..]
            .iter()
            .position(|g| g.tag() == Some(b'h'))
            .expect("a packet of h");
    check!(
        got[first_h].keyframe_start(),
        "back on h: the first packet is not a key frame start: {}",
        describe(&got[first_h..(first_h + 5).min(got.len())])
    );
    check!(
        got[first_h..].iter().all(|g| g.tag() == Some(b'h')),
        "back on h: only h: {}",
        describe(&got[first_h..])
    );

    let before_stop = got.len();
    publisher.layers[2].sending.store(false, Ordering::Relaxed);
    let stopped_at = Instant::now();
    let fell_back = wait_until(Duration::from_secs(3), || {
        video_got(&sub)[before_stop..]
            .iter()
            .any(|g| g.tag() == Some(b'm'))
    })
    .await;
    sleep(Duration::from_millis(500)).await;
    let got = video_got(&sub);
    assert!(
        fell_back,
        "layer h stopped, substream 2 wanted: no packet of m within 3 s; after the stop: {}\n\
         publisher:\n  {}",
        describe(&got[before_stop..]),
        layer_log(&publisher)
    );
    let first_m = before_stop
        + got[before_stop..]
            .iter()
            .position(|g| g.tag() == Some(b'm'))
            .expect("a packet of m");
    let delay = got[first_m].at.saturating_duration_since(stopped_at);
    eprintln!(
        "fallback: first packet of m {delay:?} after h stopped; around it: {}; publisher:\n  {}",
        describe(&got[first_m.saturating_sub(3)..(first_m + 5).min(got.len())]),
        layer_log(&publisher)
    );
    check!(
        delay <= Duration::from_millis(1000),
        "the fallback to m took {delay:?} (more than 1 s)"
    );
    check!(
        got[first_m].keyframe_start(),
        "the fallback starts on a delta frame of m: {}",
        describe(&got[first_m..(first_m + 5).min(got.len())])
    );
    check!(
        got[first_m..].iter().all(|g| g.tag() == Some(b'm')),
        "after the fallback only m (l is not better, h stopped): {}",
        describe(&got[first_m..])
    );
    check!(
        got[before_stop..first_m]
            .iter()
            .all(|g| g.tag() == Some(b'h')),
        "nothing but the last of h before m: {}",
        describe(&got[before_stop..first_m])
    );
    check!(
        got[first_m].seq == got[first_m - 1].seq.wrapping_add(1),
        "the sequence numbers go on by one at the fallback: {}",
        describe(&got[first_m - 1..=first_m])
    );
    check!(
        got.iter().all(|g| g.ssrc == ssrc),
        "one SSRC for the subscriber throughout: {:?}",
        got.iter().map(|g| g.ssrc).collect::<BTreeSet<_>>()
    );
    assert_no_errors(&mut sub.participant.events, "simulcast subscriber");
    sub.close().await;
    publisher.close().await;
    drop(cardea);
    assert!(
        failures.is_empty(),
        "{} simulcast check(s) failed:\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
    assert_seq_continuous(&got, "simulcast subscriber, video");
}

async fn forwarded_layers() {
    let cardea = Cardea::start("");
    let publisher = SimulcastPublisher::join_and_publish(&cardea).await;
    let admin = Participant::attach(&cardea, PLUGIN).await;
    let sinks = [
        UdpSink::bind().await,
        UdpSink::bind().await,
        UdpSink::bind().await,
    ];
    let switching = UdpSink::bind().await;
    let reply = admin
        .sync_request(
            json!({"request": "rtp_forward", "room": ROOM, "secret": "adminpwd",
            "publisher_id": publisher.id, "host": "127.0.0.1", "streams": [{
                "mid": publisher.video_mid, "port": sinks[0].port, "ssrc": 5000,
                "port_2": sinks[1].port, "ssrc_2": 5001,
                "port_3": sinks[2].port, "ssrc_3": 5002, "pt_3": 101}, {
                "mid": publisher.video_mid, "port": switching.port, "ssrc": 6000,
                "simulcast": true}]}),
        )
        .await;
    let data = &reply["plugindata"]["data"];
    eprintln!("rtp_forward of three layers -> {data}");
    let forwarders = data["forwarders"]
        .as_array()
        .unwrap_or_else(|| panic!("no forwarders in {reply}"));
    let summary: Vec<(Value, Value, Value)> = forwarders
        .iter()
        .map(|f| (f["port"].clone(), f["substream"].clone(), f["ssrc"].clone()))
        .collect();
    assert_eq!(
        summary[..3],
        (0..3)
            .map(|i| (json!(sinks[i].port), json!(i), json!(5000 + i)))
            .collect::<Vec<_>>(),
        "one forwarder per layer, in order: {data}"
    );
    assert_eq!(forwarders[3]["simulcast"], true, "{data}");
    sleep(Duration::from_millis(1500)).await;
    for (i, sink) in sinks.iter().enumerate() {
        let got = sink.packets(&cardea);
        let rid = SIMULCAST_RIDS[i].as_bytes()[0];
        let pt = if i == 2 { 101 } else { VP8_PT };
        assert!(got.len() >= 20, "layer {i}: only {} packets", got.len());
        assert!(
            got.iter()
                .all(|g| g.tag() == Some(rid) && g.ssrc == 5000 + i as u32 && g.pt == pt),
            "port {i} gets layer {} only, as SSRC {} and PT {pt}: {:?}",
            SIMULCAST_RIDS[i],
            5000 + i,
            got.iter().take(3).collect::<Vec<_>>()
        );
        assert_seq_continuous(&got, "a forwarded layer");
    }
    // The switching forwarder: the top layer, starting on its key frame.
    let got = switching.packets(&cardea);
    assert!(got.len() >= 20, "switching: only {} packets", got.len());
    assert!(
        got[0].keyframe_start() && got.iter().all(|g| g.tag() == Some(b'h') && g.ssrc == 6000),
        "the switching forwarder sends layer h from a key frame: {:?}",
        got.iter().take(3).collect::<Vec<_>>()
    );
    // The top layer stops: after the fallback the middle one follows, from its key frame.
    publisher.layers[2].sending.store(false, Ordering::Relaxed);
    let before = got.len();
    sleep(Duration::from_millis(2000)).await;
    let got = switching.packets(&cardea);
    let after = &got[before..];
    let first_m = after
        .iter()
        .position(|g| g.tag() == Some(b'm'))
        .unwrap_or_else(|| panic!("no layer m after h stopped: {} packets", after.len()));
    assert!(
        after[first_m].keyframe_start(),
        "the switch to m happens at its key frame"
    );
    assert!(
        after[first_m..].iter().all(|g| g.tag() == Some(b'm')),
        "only m after the switch"
    );
    assert_seq_continuous(&got, "the switching forwarder across the switch");
    // A layer the stream does not have is refused with Janus's 430.
    let reply = admin
        .sync_request(
            json!({"request": "rtp_forward", "room": ROOM, "secret": "adminpwd",
            "publisher_id": publisher.id, "host": "127.0.0.1", "streams": [{
                "mid": publisher.video_mid, "port": sinks[0].port, "substream": 3}]}),
        )
        .await;
    assert_eq!(reply["plugindata"]["data"]["error_code"], 430, "{reply}");
    publisher.close().await;
    drop(cardea);
}

async fn temporal_layers() {
    let cardea = Cardea::start("");
    let publisher = SimulcastPublisher::join_and_publish(&cardea).await;
    sleep(Duration::from_millis(500)).await;
    let mut sub = Subscriber::join(
        &cardea,
        json!([{ "feed": publisher.id, "mid": publisher.video_mid, "substream": 0,
                 "temporal": 0 }]),
        "the temporal-layer subscriber",
    )
    .await;
    eprintln!("attached: {}", sub.attached);
    assert_eq!(
        sub.attached["streams"][0]["simulcast"]["temporal-layer-target"], 0,
        "{}",
        sub.attached
    );
    let sub_mid = sub.attached["streams"][0]["mid"]
        .as_str()
        .expect("the attached stream has a mid")
        .to_owned();
    let event = sub
        .participant
        .events
        .wait_for("the temporal event", STEP, |e| {
            e["plugindata"]["data"]["temporal"] == 0
        })
        .await;
    assert_eq!(
        event["plugindata"]["data"]["mid"],
        sub_mid.as_str(),
        "{event}"
    );
    sleep(Duration::from_millis(1500)).await;
    let got = sub.peer.received(RtpCodecKind::Video);
    let tids = |got: &[Got]| got.iter().map(|g| g.vp8_tid()).collect::<Vec<_>>();
    assert!(got.len() >= 10, "only {} packets at temporal 0", got.len());
    assert!(
        got.iter()
            .all(|g| g.tag() == Some(b'l') && g.vp8_tid() == Some(0)),
        "temporal 0 of substream 0: layer l, TID 0 only; got TIDs {:?}",
        tids(&got)
    );
    assert_seq_continuous(&got, "temporal 0: the left-out frames leave no gap");
    // About a quarter of l's frames are base-layer ones (30 fps, key frames aside).
    let at_zero = got.len();

    let configured = sub
        .participant
        .request(
            json!({"request": "configure", "streams": [{"mid": sub_mid, "temporal": 2}]}),
            None,
        )
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    sub.participant
        .events
        .wait_for("the temporal event for 2", STEP, |e| {
            e["plugindata"]["data"]["temporal"] == 2
        })
        .await;
    sleep(Duration::from_millis(1500)).await;
    let got = sub.peer.received(RtpCodecKind::Video);
    let after = &got[at_zero..];
    let first_up = after
        .iter()
        .position(|g| g.vp8_tid() != Some(0))
        .unwrap_or_else(|| panic!("no TID 1 or 2 after temporal 2: {:?}", tids(after)));
    let top = after.iter().filter(|g| g.vp8_tid() == Some(2)).count();
    assert!(
        top * 3 >= after.len(),
        "at temporal 2 about half the frames are TID 2: {top} of {} ({:?})",
        after.len(),
        tids(after)
    );
    assert!(
        first_up > 0 && after[first_up - 1].vp8_tid() == Some(0),
        "the higher layers come back after a base-layer frame: {:?}",
        tids(after)
    );
    assert_seq_continuous(&got, "temporal 0 then 2");
    assert_no_errors(&mut sub.participant.events, "temporal-layer subscriber");
    sub.close().await;
    publisher.close().await;
    drop(cardea);
}

async fn talking_events() {
    let cardea = Cardea::start("");
    const TALK_ROOM: u64 = 4321;
    // Publisher B creates the room and joins it (without publishing).
    let mut b = Participant::attach(&cardea, PLUGIN).await;
    let create = json!({"request": "create", "room": TALK_ROOM, "audiolevel_event": true,
                        "audio_active_packets": 10, "audio_level_average": 40});
    let reply = b.sync_request(create.clone()).await;
    assert_eq!(reply["janus"], "success", "{create}: {reply}");
    let created = &reply["plugindata"]["data"];
    assert_eq!(created["videoroom"], "created", "{reply}");
    assert_eq!(created["room"], TALK_ROOM, "{reply}");
    let joined = b
        .request(
            json!({"request": "join", "room": TALK_ROOM, "ptype": "publisher", "display": "bob"}),
            None,
        )
        .await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");

    // Publisher A: loud (10 -dBov) from its first packet.
    let level = Arc::new(AtomicU8::new(10));
    let mut a = Publisher::join_and_publish_in(
        &cardea,
        TALK_ROOM,
        b'A',
        "alice",
        KeyframePolicy::EverySecondAndOnRequest,
        Some(Arc::clone(&level)),
    )
    .await;
    let loud_from = a.log.started;
    eprintln!(
        "alice's audio level extension: {:?}",
        a.answer_sdp.lines().find(|l| l.contains(AUDIO_LEVEL_URI))
    );
    let is = |name: &'static str| {
        move |e: &Value| {
            let d = &e["plugindata"]["data"];
            d["videoroom"] == name
        }
    };
    let check = |event: &Value, name: &str, who: &str| {
        let d = &event["plugindata"]["data"];
        assert_eq!(d["videoroom"], name, "{who}: {event}");
        assert_eq!(d["room"], TALK_ROOM, "{who}: {event}");
        assert_eq!(d["id"], a.id, "{who}: {event}");
        assert_eq!(d["mid"], a.audio_mid.as_str(), "{who}: {event}");
        d["audio-level-dBov-avg"]
            .as_f64()
            .unwrap_or_else(|| panic!("{who}: no audio-level-dBov-avg number in {event}"))
    };
    let heard_a = a
        .participant
        .events
        .wait_for(
            "alice's own talking event",
            Duration::from_secs(3),
            is("talking"),
        )
        .await;
    let heard_b = b
        .events
        .wait_for(
            "the talking event about alice",
            Duration::from_secs(3),
            is("talking"),
        )
        .await;
    let talking_after = loud_from.elapsed();
    eprintln!(
        "talking ({talking_after:?} after the first packet):\n  alice: {heard_a}\n  bob: {heard_b}"
    );
    for (event, who) in [(&heard_a, "alice"), (&heard_b, "bob")] {
        let avg = check(event, "talking", who);
        assert!(
            (9.0..=11.0).contains(&avg),
            "{who}: the average of packets at 10 -dBov is {avg}: {event}"
        );
    }
    // Loud for about a second, then silence.
    sleep_until(loud_from + Duration::from_secs(1)).await;
    level.store(127, Ordering::Relaxed);
    let silent_from = Instant::now();
    let stopped_a = a
        .participant
        .events
        .wait_for(
            "alice's own stopped-talking event",
            Duration::from_secs(3),
            is("stopped-talking"),
        )
        .await;
    let stopped_b = b
        .events
        .wait_for(
            "the stopped-talking event about alice",
            Duration::from_secs(3),
            is("stopped-talking"),
        )
        .await;
    eprintln!(
        "stopped talking ({:?} after the silence began):\n  alice: {stopped_a}\n  bob: {stopped_b}",
        silent_from.elapsed()
    );
    for (event, who) in [(&stopped_a, "alice"), (&stopped_b, "bob")] {
        let avg = check(event, "stopped-talking", who);
        assert!(
            avg >= 40.0,
            "{who}: stopped talking with an average of {avg} -dBov (the threshold is 40): {event}"
        );
    }
    // A second of silence: no more talking events, and each was heard once, in order.
    sleep_until(silent_from + Duration::from_secs(1)).await;
    for (events, who) in [(&mut a.participant.events, "alice"), (&mut b.events, "bob")] {
        let names: Vec<String> = events
            .drain()
            .iter()
            .filter_map(|e| e["plugindata"]["data"]["videoroom"].as_str())
            .filter(|n| n.contains("talking"))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            names,
            vec!["talking", "stopped-talking"],
            "{who}: the talking events heard:\n{}",
            events.describe()
        );
    }
    assert_no_errors(&mut b.events, "bob");
    assert_no_errors(&mut a.participant.events, "alice");
    a.close().await;
    drop(cardea);
}

async fn rtp_forward() {
    const SECRET: &str = "adminpwd";
    const AUDIO_PT: u8 = 100;
    const AUDIO_SSRC: u32 = 1111;
    const VIDEO_SSRC: u32 = 2222;
    let cardea = Cardea::start("");
    let mut publisher = Publisher::join_and_publish(
        &cardea,
        b'F',
        "forwarded",
        KeyframePolicy::EverySecondAndOnRequest,
    )
    .await;
    let admin = Participant::attach(&cardea, PLUGIN).await;
    let audio_sink = UdpSink::bind().await;
    let video_sink = UdpSink::bind().await;
    // The video receiver's RTCP port (`rtcp_port`): the forwarder latches there, and a PLI
    // sent back from it must reach the publisher.
    let video_rtcp = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind the RTCP socket");
    let rtcp_port = video_rtcp.local_addr().expect("local address").port();
    let sync = |reply: Value, what: &str| -> Value {
        assert_eq!(reply["janus"], "success", "{what}: {reply}");
        assert_eq!(reply["plugindata"]["plugin"], PLUGIN, "{what}: {reply}");
        reply["plugindata"]["data"].clone()
    };
    let list_forwarders = || async {
        let reply = admin
            .sync_request(json!({"request": "listforwarders", "room": ROOM, "secret": SECRET}))
            .await;
        let data = sync(reply, "listforwarders");
        assert_eq!(data["videoroom"], "forwarders", "{data}");
        assert_eq!(data["room"], ROOM, "{data}");
        data
    };

    let request = json!({"request": "rtp_forward", "room": ROOM, "secret": SECRET,
    "publisher_id": publisher.id, "host": "127.0.0.1", "streams": [
        {"mid": publisher.audio_mid, "port": audio_sink.port, "pt": AUDIO_PT,
         "ssrc": AUDIO_SSRC},
        {"mid": publisher.video_mid, "port": video_sink.port, "ssrc": VIDEO_SSRC,
         "rtcp_port": rtcp_port},
    ]});
    let forwarding_from = Instant::now();
    let data = sync(admin.sync_request(request.clone()).await, "rtp_forward");
    eprintln!("rtp_forward {request}\n  -> {data}");
    assert_eq!(data["videoroom"], "rtp_forward", "{data}");
    assert_eq!(data["room"], ROOM, "{data}");
    assert_eq!(data["publisher_id"], publisher.id, "{data}");
    let forwarders = data["forwarders"]
        .as_array()
        .unwrap_or_else(|| panic!("no forwarders list in {data}"));
    assert_eq!(forwarders.len(), 2, "one forwarder per stream: {data}");
    let forwarder = |kind: &str| {
        forwarders
            .iter()
            .find(|f| f["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} forwarder in {data}"))
            .clone()
    };
    let (audio_fw, video_fw) = (forwarder("audio"), forwarder("video"));
    for (fw, mid, port, ssrc) in [
        (&audio_fw, &publisher.audio_mid, audio_sink.port, AUDIO_SSRC),
        (&video_fw, &publisher.video_mid, video_sink.port, VIDEO_SSRC),
    ] {
        assert!(fw["stream_id"].is_u64(), "{fw}");
        assert_eq!(fw["mid"], mid.as_str(), "{fw}");
        assert_eq!(fw["host"], "127.0.0.1", "{fw}");
        assert_eq!(fw["port"], port, "{fw}");
        assert_eq!(fw["ssrc"], ssrc, "{fw}");
        assert_eq!(fw["srtp"], false, "{fw}");
    }
    assert_eq!(audio_fw["pt"], AUDIO_PT, "{audio_fw}");
    assert_eq!(video_fw["remote_rtcp_port"], rtcp_port, "{video_fw}");
    assert!(audio_fw.get("remote_rtcp_port").is_none(), "{audio_fw}");
    assert_ne!(
        audio_fw["stream_id"], video_fw["stream_id"],
        "each forwarder has its own stream_id: {data}"
    );
    // A third copy of the audio as SRTP (32-bit tags): encrypted payloads, each with its
    // tag. (That such a copy decrypts is shown with ffmpeg in the AudioBridge's tests.)
    let srtp_sink = UdpSink::bind().await;
    let srtp = sync(
        admin
            .sync_request(
                json!({"request": "rtp_forward", "room": ROOM, "secret": SECRET,
                "publisher_id": publisher.id, "host": "127.0.0.1", "srtp_suite": 32,
                "srtp_crypto": "S2V5U2FsdEZvclRoZUZvcndhcmRlck9mVGhlTWl4",
                "streams": [{"mid": publisher.audio_mid, "port": srtp_sink.port}]}),
            )
            .await,
        "rtp_forward with SRTP",
    );
    assert_eq!(srtp["forwarders"][0]["srtp"], true, "{srtp}");

    // Both copies flow, as the publisher sent them.
    sleep(Duration::from_millis(1500)).await;
    let elapsed = forwarding_from.elapsed();
    let audio = audio_sink.packets(&cardea);
    let video = video_sink.packets(&cardea);
    eprintln!(
        "forwarded in {elapsed:?}: {} opus packets (first seq {:?}), {} VP8 packets (first seq \
         {:?})",
        audio.len(),
        audio.first().map(|g| g.seq),
        video.len(),
        video.first().map(|g| g.seq)
    );
    assert!(
        audio.len() >= 50,
        "only {} forwarded opus packets in {elapsed:?} (the publisher sends 50/s)",
        audio.len()
    );
    assert!(
        video.len() >= 30,
        "only {} forwarded VP8 packets in {elapsed:?} (the publisher sends 30+/s)",
        video.len()
    );
    let protected = srtp_sink.packets(&cardea);
    assert!(protected.len() >= 50, "{} SRTP packets", protected.len());
    let plain_len = OPUS_FRAME.len() + TRAILER;
    assert!(
        protected
            .iter()
            .all(|g| g.payload.len() == plain_len + 4 && g.payload[..3] != OPUS_FRAME),
        "SRTP payloads are the plain length and a 4-byte tag, and unreadable: {:?}",
        protected.iter().take(3).collect::<Vec<_>>()
    );
    sync(
        admin
            .sync_request(json!({"request": "stop_rtp_forward", "room": ROOM,
                "secret": SECRET, "publisher_id": publisher.id,
                "stream_id": srtp["forwarders"][0]["stream_id"]}))
            .await,
        "stop_rtp_forward of the SRTP copy",
    );
    let (seq0, ts0) = (seq_base(b'F'), ts_base(b'F'));
    for g in &audio {
        let index = g.index().expect("every payload has a trailer");
        assert_eq!(
            (g.ssrc, g.pt, g.tag()),
            (AUDIO_SSRC, AUDIO_PT, Some(b'F')),
            "a forwarded opus packet has the forwarder's SSRC and PT and the publisher's \
             payload: {g:?}"
        );
        let mut sent = OPUS_FRAME.to_vec();
        sent.extend_from_slice(&trailer(b'F', index));
        assert_eq!(g.payload, sent, "opus packet {index}'s payload: {g:?}");
        assert_eq!(
            (g.seq, g.ts),
            (
                seq0.wrapping_add(index),
                ts0.wrapping_add(960 * u32::from(index))
            ),
            "opus packet {index} keeps the publisher's sequence number and timestamp: {g:?}"
        );
    }
    for g in &video {
        let index = g.index().expect("every payload has a trailer");
        assert_eq!(
            (g.ssrc, g.pt, g.tag()),
            (VIDEO_SSRC, VP8_PT, Some(b'F')),
            "a forwarded VP8 packet has the forwarder's SSRC, the publisher's VP8 payload type \
             and the publisher's payload: {g:?}"
        );
        let sent = publisher
            .log
            .sent_video(index)
            .unwrap_or_else(|| panic!("VP8 packet {index} was never sent: {g:?}"));
        assert_eq!(g.payload, sent.payload, "VP8 packet {index}'s payload");
        assert_eq!(
            (g.seq, g.ts),
            (sent.seq, sent.ts),
            "VP8 packet {index} keeps the publisher's sequence number and timestamp"
        );
    }
    assert_seq_continuous(&audio, "forwarded opus");
    assert_seq_continuous(&video, "forwarded VP8");

    // The forwarder latched to the RTCP port with a receiver report from its SSRC...
    let mut buf = [0u8; 1500];
    let (n, latched_from) = timeout(Duration::from_secs(2), video_rtcp.recv_from(&mut buf))
        .await
        .expect("no RTCP reached the forwarder's rtcp_port within 2 s")
        .expect("recv on the RTCP socket");
    let mut rr = vec![0x80, 201, 0, 1];
    rr.extend_from_slice(&VIDEO_SSRC.to_be_bytes());
    assert_eq!(&buf[..n], &rr[..], "an empty RR from the forwarder's SSRC");
    // ...and a PLI sent back there (RFC 4585 §6.3.1: V=2 FMT=1, PT 206, length 2, sender
    // SSRC, media SSRC) makes the publisher's browser asked for a key frame.
    let requests_before = publisher.log.keyframe_requests().len();
    let mut pli = vec![0x81, 206, 0, 2, 0, 0, 0x30, 0x39];
    pli.extend_from_slice(&VIDEO_SSRC.to_be_bytes());
    let mut relayed = false;
    for _ in 0..20 {
        video_rtcp
            .send_to(&pli, latched_from)
            .await
            .expect("send the PLI");
        sleep(Duration::from_millis(200)).await;
        if publisher.log.keyframe_requests().len() > requests_before {
            relayed = true;
            break;
        }
    }
    assert!(
        relayed,
        "a PLI from the forwarder's receiver ({latched_from} got it back) reached the          publisher within 4 s"
    );
    // Foreign RTCP is no request: from another port, nothing is relayed.
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    sleep(Duration::from_millis(1200)).await;
    let requests_before = publisher.log.keyframe_requests().len();
    for _ in 0..5 {
        stranger.send_to(&pli, latched_from).await.expect("send");
        sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        publisher.log.keyframe_requests().len(),
        requests_before,
        "a PLI from an address no forwarder latched to is ignored"
    );

    let listed = list_forwarders().await;
    eprintln!("listforwarders: {listed}");
    let publishers = listed["publishers"].as_array().expect("a publishers list");
    assert_eq!(publishers.len(), 1, "{listed}");
    assert_eq!(publishers[0]["publisher_id"], publisher.id, "{listed}");
    let stream_ids = |entry: &Value| -> BTreeSet<u64> {
        entry["forwarders"]
            .as_array()
            .unwrap_or_else(|| panic!("no forwarders in {entry}"))
            .iter()
            .filter_map(|f| f["stream_id"].as_u64())
            .collect()
    };
    let audio_id = audio_fw["stream_id"].as_u64().expect("a stream_id");
    let video_id = video_fw["stream_id"].as_u64().expect("a stream_id");
    assert_eq!(
        stream_ids(&publishers[0]),
        BTreeSet::from([audio_id, video_id]),
        "listforwarders lists both forwarders: {listed}"
    );

    // Stop the audio copy: video goes on.
    let data = sync(
        admin
            .sync_request(
                json!({"request": "stop_rtp_forward", "room": ROOM, "secret": SECRET,
                "publisher_id": publisher.id, "stream_id": audio_id}),
            )
            .await,
        "stop_rtp_forward",
    );
    let stopped_at = Instant::now();
    eprintln!("stop_rtp_forward: {data}");
    assert_eq!(data["videoroom"], "stop_rtp_forward", "{data}");
    assert_eq!(data["room"], ROOM, "{data}");
    assert_eq!(data["publisher_id"], publisher.id, "{data}");
    assert_eq!(data["stream_id"], audio_id, "{data}");
    let [(audio_then, audio_now), (video_then, video_now)] =
        counts_over_quiet(stopped_at, [&audio_sink, &video_sink]).await;
    eprintln!(
        "after stop_rtp_forward: opus {audio_then} -> {audio_now}, VP8 {video_then} -> \
         {video_now} over {QUIET:?}"
    );
    assert_eq!(
        audio_now, audio_then,
        "forwarded opus still arrives {GRACE:?} after stop_rtp_forward"
    );
    assert!(
        video_now >= video_then + 5,
        "the VP8 copy stopped with the opus one: {video_then} -> {video_now} in {QUIET:?}"
    );
    let listed = list_forwarders().await;
    let publishers = listed["publishers"].as_array().expect("a publishers list");
    assert_eq!(publishers.len(), 1, "{listed}");
    assert_eq!(
        stream_ids(&publishers[0]),
        BTreeSet::from([video_id]),
        "after stop_rtp_forward only the video forwarder is listed: {listed}"
    );
    let video = video_sink.packets(&cardea);
    assert_seq_continuous(&video, "forwarded VP8 until the stop");

    // Unpublish: the video copy ends too.
    let unpublished = publisher
        .participant
        .request(json!({"request": "unpublish"}), None)
        .await;
    assert_eq!(unpublished["unpublished"], "ok", "{unpublished}");
    let unpublished_at = Instant::now();
    let [(audio_then, audio_now), (video_then, video_now)] =
        counts_over_quiet(unpublished_at, [&audio_sink, &video_sink]).await;
    eprintln!(
        "after unpublish: opus {audio_then} -> {audio_now}, VP8 {video_then} -> {video_now} \
         over {QUIET:?}"
    );
    assert_eq!(
        (audio_now, video_now),
        (audio_then, video_then),
        "forwarded RTP still arrives {GRACE:?} after unpublish"
    );
    let listed = list_forwarders().await;
    assert_eq!(
        listed["publishers"],
        json!([]),
        "no forwarders left after unpublish: {listed}"
    );
    assert_no_errors(&mut publisher.participant.events, "the forwarded publisher");
    publisher.close().await;
    drop(cardea);
}

/// What may still land after an `rtp_forward` ends (packets already on their way).
const GRACE: Duration = Duration::from_millis(150);
/// How long nothing more may come after the grace.
const QUIET: Duration = Duration::from_millis(300);

/// For each sink, the datagrams it had [`GRACE`] after `from`, and [`QUIET`] later.
async fn counts_over_quiet<const N: usize>(
    from: Instant,
    sinks: [&UdpSink; N],
) -> [(usize, usize); N] {
    sleep_until(from + GRACE).await;
    let then = sinks.map(UdpSink::count);
    sleep(QUIET).await;
    let now = sinks.map(UdpSink::count);
    std::array::from_fn(|i| (then[i], now[i]))
}

/// A UDP socket on 127.0.0.1 that keeps every datagram it receives (an `rtp_forward` target).
struct UdpSink {
    port: u16,
    got: Arc<Mutex<Vec<Datagram>>>,
    task: JoinHandle<()>,
}

/// A datagram a [`UdpSink`] received: from where, when, what.
struct Datagram {
    from: std::net::SocketAddr,
    at: Instant,
    bytes: Vec<u8>,
}

impl UdpSink {
    async fn bind() -> UdpSink {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP socket on 127.0.0.1");
        let port = socket.local_addr().expect("local address").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let got = Arc::clone(&got);
            async move {
                let mut buf = vec![0u8; 4096];
                while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                    got.lock().unwrap().push(Datagram {
                        from,
                        at: Instant::now(),
                        bytes: buf[..n].to_vec(),
                    });
                }
            }
        });
        UdpSink { port, got, task }
    }

    /// Datagrams received so far.
    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Every datagram received so far as an RTP packet: each must come from one of Cardea's
    /// media sockets and be plain RTP (version 2, a 12-byte header: no CSRC, no extension,
    /// no padding).
    fn packets(&self, cardea: &Cardea) -> Vec<Got> {
        let got = self.got.lock().unwrap();
        got.iter()
            .map(|Datagram { from, at, bytes: d }| {
                assert!(
                    cardea.listeners.media.contains(&from.to_string()),
                    "a datagram to port {} from {from}, not from a media socket of Cardea \
                     {:?}",
                    self.port,
                    cardea.listeners.media
                );
                assert!(
                    d.len() >= 12 && d[0] == 0x80,
                    "not plain RTP with a 12-byte header (first byte {:#04x}, V=2 P=0 X=0 \
                     CC=0 expected), {} bytes from {from}: {d:02x?}",
                    d.first().copied().unwrap_or_default(),
                    d.len()
                );
                Got {
                    seq: u16::from_be_bytes([d[2], d[3]]),
                    ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                    ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
                    pt: d[1] & 0x7f,
                    payload: Bytes::copy_from_slice(&d[12..]),
                    at: *at,
                }
            })
            .collect()
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- Janus API helpers -----------------------------------------------------------------

fn assert_no_errors(events: &mut EventStream, who: &str) {
    let seen = events.drain();
    let errors: Vec<&Value> = seen
        .iter()
        .filter(|e| e["janus"] == "error" || e["plugindata"]["data"]["error_code"].is_u64())
        .collect();
    assert!(errors.is_empty(), "{who}: errors reported: {errors:?}");
}

// ---- publishers ------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyframePolicy {
    /// The first frame, then only when asked (PLI or FIR).
    OnRequestOnly,
    /// Also one every second, as a browser's encoder does on its own.
    EverySecondAndOnRequest,
}

fn seq_base(tag: u8) -> u16 {
    match tag {
        b'A' => 1_000,
        b'B' => 40_000,
        _ => 20_000,
    }
}

fn ts_base(tag: u8) -> u32 {
    match tag {
        b'A' => 0x1000_0000,
        b'B' => 0x9000_0000,
        _ => 0x5000_0000,
    }
}

/// What a publisher sent and was asked for.
struct SendLog {
    started: Instant,
    /// Set by a PLI or FIR; the next frame is a key frame.
    keyframe_wanted: AtomicBool,
    requests: Mutex<Vec<Instant>>,
    /// Packet index of each key frame's first packet.
    keyframes: Mutex<Vec<u16>>,
    video_sent: AtomicUsize,
    audio_sent: AtomicUsize,
    /// Packet index → what was sent with that index.
    video_packets: Mutex<HashMap<u16, SentPacket>>,
}

/// One VP8 packet a publisher sent.
#[derive(Clone)]
struct SentPacket {
    seq: u16,
    ts: u32,
    /// The payload, trailer included.
    payload: Bytes,
    at: Instant,
}

impl SendLog {
    fn keyframe_requests(&self) -> Vec<Instant> {
        self.requests.lock().unwrap().clone()
    }

    fn keyframes_sent(&self) -> Vec<u16> {
        self.keyframes.lock().unwrap().clone()
    }

    /// (sequence number, when) of the VP8 packet sent with `index`.
    fn video_packet(&self, index: u16) -> Option<(u16, Instant)> {
        self.sent_video(index).map(|p| (p.seq, p.at))
    }

    /// The VP8 packet sent with `index`.
    fn sent_video(&self, index: u16) -> Option<SentPacket> {
        self.video_packets.lock().unwrap().get(&index).cloned()
    }
}

struct Publisher {
    id: u64,
    participant: Participant,
    /// The `joined` event's plugin data, with the answer under `jsep`.
    joined: Value,
    offer_sdp: String,
    answer_sdp: String,
    audio_mid: String,
    video_mid: String,
    log: Arc<SendLog>,
    pc: Arc<dyn PeerConnection>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Publisher {
    /// A publisher that `joinandconfigure`s into [`ROOM`] with an opus + VP8 offer, connects
    /// and starts sending: 50 opus packets/s and 30 VP8 frames/s (a key frame in 3 packets).
    async fn join_and_publish(
        cardea: &Cardea,
        tag: u8,
        display: &str,
        policy: KeyframePolicy,
    ) -> Publisher {
        Publisher::join_and_publish_in(cardea, ROOM, tag, display, policy, None).await
    }

    /// [`Publisher::join_and_publish`] into `room`; with `audio_level`, the offer has the
    /// RFC 6464 audio level extension and every opus packet carries the level it holds.
    async fn join_and_publish_in(
        cardea: &Cardea,
        room: u64,
        tag: u8,
        display: &str,
        policy: KeyframePolicy,
        audio_level: Option<Arc<AtomicU8>>,
    ) -> Publisher {
        let mut participant = Participant::attach(cardea, PLUGIN).await;
        let peer = PeerState::new();
        let options = PeerOptions {
            audio_level: audio_level.is_some(),
            keyframe_requests: true,
            ..PeerOptions::default()
        };
        let pc = peer_connection(cardea, Arc::clone(&peer), options).await;
        let audio_ssrc = 0x1100_0000 | u32::from(tag);
        let video_ssrc = 0x2200_0000 | u32::from(tag);
        let stream = format!("vr-{}", char::from(tag));
        let audio = local_track(&stream, RtpCodecKind::Audio, opus(), audio_ssrc, None);
        let video = local_track(&stream, RtpCodecKind::Video, vp8(), video_ssrc, None);
        for track in [&audio, &video] {
            pc.add_track(Arc::clone(track) as Arc<dyn TrackLocal>)
                .await
                .expect("add_track");
        }
        let what = format!("publisher {display}");
        let offer_sdp = local_offer(&*pc, &peer, None, &what).await;
        let (joined, id, answer_sdp) = join_and_configure(
            &mut participant,
            &*pc,
            &peer,
            room,
            display,
            &offer_sdp,
            &what,
        )
        .await;
        let mid_of = |kind: &str| {
            media_mid(&offer_sdp, kind)
                .unwrap_or_else(|| panic!("{what}: no {kind} m-line in\n{offer_sdp}"))
        };
        let (audio_mid, video_mid) = (mid_of("audio"), mid_of("video"));
        let level = audio_level.map(|level| {
            let id = extmap_id(&answer_sdp, &audio_mid, AUDIO_LEVEL_URI).unwrap_or_else(|| {
                panic!(
                    "{what}: the answer has no {AUDIO_LEVEL_URI} extension on the audio \
                     m-line although the offer had it:\n{answer_sdp}"
                )
            });
            (id, level)
        });

        let log = Arc::new(SendLog {
            started: Instant::now(),
            keyframe_wanted: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            keyframes: Mutex::new(Vec::new()),
            video_sent: AtomicUsize::new(0),
            audio_sent: AtomicUsize::new(0),
            video_packets: Mutex::new(HashMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = vec![
            tokio::spawn(watch_keyframe_requests(
                Arc::clone(&video),
                Arc::clone(&log),
            )),
            tokio::spawn(send_audio(
                Arc::clone(&audio),
                tag,
                audio_ssrc,
                level,
                Arc::clone(&log),
                Arc::clone(&stop),
            )),
            tokio::spawn(send_video(
                Arc::clone(&video),
                tag,
                video_ssrc,
                policy,
                Arc::clone(&log),
                Arc::clone(&stop),
            )),
        ];
        assert_no_errors(&mut participant.events, &what);
        Publisher {
            id,
            participant,
            joined,
            offer_sdp,
            answer_sdp,
            audio_mid,
            video_mid,
            log,
            pc,
            stop,
            tasks,
        }
    }

    async fn close(self) {
        stop_sending(&*self.pc, &self.stop, self.tasks).await;
        eprintln!(
            "publisher {}: sent {} opus and {} VP8 packets, {} key frame requests, key frames \
             at {:?}",
            self.id,
            self.log.audio_sent.load(Ordering::Relaxed),
            self.log.video_sent.load(Ordering::Relaxed),
            self.log.keyframe_requests().len(),
            self.log.keyframes_sent()
        );
    }
}

/// `joinandconfigure` into `room` as `display` with `offer_sdp` (made on `pc`), applies the
/// answer and waits for the connection. Returns the `joined` event's data (the answer under
/// `jsep`), the publisher's id and the answer's SDP.
async fn join_and_configure(
    participant: &mut Participant,
    pc: &dyn PeerConnection,
    peer: &PeerState,
    room: u64,
    display: &str,
    offer_sdp: &str,
    what: &str,
) -> (Value, u64, String) {
    let joined = participant
        .request(
            json!({"request": "joinandconfigure", "room": room, "ptype": "publisher",
                   "display": display}),
            Some(json!({"type": "offer", "sdp": offer_sdp, "trickle": false})),
        )
        .await;
    assert_eq!(
        joined["videoroom"], "joined",
        "{what}: joinandconfigure answers joined: {joined}\noffer:\n{offer_sdp}"
    );
    assert_eq!(joined["jsep"]["type"], "answer", "{what}: {joined}");
    let id = joined["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no id in {joined}"));
    let answer_sdp = joined["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no jsep.sdp in {joined}"))
        .to_owned();
    apply_answer(pc, &answer_sdp, what).await;
    wait_connected(
        peer,
        STEP,
        &format!("{what}\noffer:\n{offer_sdp}\nanswer:\n{answer_sdp}"),
    )
    .await;
    (joined, id, answer_sdp)
}

/// Stops a publisher's sending tasks and closes its PeerConnection.
async fn stop_sending(pc: &dyn PeerConnection, stop: &AtomicBool, tasks: Vec<JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    for task in tasks {
        task.abort();
    }
}

/// Reads the RTCP the interceptor let through for the video track: PLI and FIR.
async fn watch_keyframe_requests(video: Arc<TrackLocalStaticRTP>, log: Arc<SendLog>) {
    while let Some(event) = video.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
            log.requests.lock().unwrap().push(Instant::now());
            log.keyframe_wanted.store(true, Ordering::Relaxed);
        }
    }
}

/// 20 ms opus frames at 48 kHz: TOC 0xf8 (CELT fullband 20 ms, one frame) and a trailer;
/// with `level` (extension id, -dBov) the RFC 6464 audio level in a one-byte header
/// extension, the voice activity bit set.
async fn send_audio(
    track: Arc<TrackLocalStaticRTP>,
    tag: u8,
    ssrc: u32,
    level: Option<(u8, Arc<AtomicU8>)>,
    log: Arc<SendLog>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let seq0 = seq_base(tag);
    let ts0 = ts_base(tag);
    let mut index: u16 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut payload = OPUS_FRAME.to_vec();
        payload.extend_from_slice(&trailer(tag, index));
        let mut packet = rtp(
            OPUS_PT,
            seq0.wrapping_add(index),
            ts0.wrapping_add(960 * u32::from(index)),
            ssrc,
            false,
            payload,
        );
        if let Some((id, level)) = &level {
            let value = 0x80 | (level.load(Ordering::Relaxed) & 0x7f);
            packet
                .header
                .set_extension(*id, Bytes::copy_from_slice(&[value]))
                .expect("a one-byte header extension");
        }
        if track.write_rtp(packet).await.is_err() {
            return;
        }
        index = index.wrapping_add(1);
        log.audio_sent.store(usize::from(index), Ordering::Relaxed);
    }
}

/// 30 VP8 frames/s at 90 kHz, with RFC 7741 payload descriptors carrying a 15-bit PictureID
/// (as browsers send). An inter frame is one packet; a key frame is three: the first with
/// S=1, PID=0 and the key frame header (P=0, start code, 320x240), then two continuation
/// packets (S=0). The marker bit ends each frame.
async fn send_video(
    track: Arc<TrackLocalStaticRTP>,
    tag: u8,
    ssrc: u32,
    policy: KeyframePolicy,
    log: Arc<SendLog>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / 30));
    let seq0 = seq_base(tag);
    let ts0 = ts_base(tag);
    let mut index: u16 = 0;
    let mut frame: u32 = 0;
    let mut last_periodic = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let asked = log.keyframe_wanted.swap(false, Ordering::Relaxed);
        let periodic = policy == KeyframePolicy::EverySecondAndOnRequest
            && last_periodic.elapsed() >= Duration::from_secs(1);
        let key = frame == 0 || asked || periodic;
        if periodic {
            last_periodic = Instant::now();
        }
        let packets = vp8_frame(key, frame);
        let ts = ts0.wrapping_add(3000 * frame);
        let count = packets.len();
        for (i, mut payload) in packets.into_iter().enumerate() {
            let n = index;
            let seq = seq0.wrapping_add(n);
            let starts_key = key && i == 0;
            payload.extend_from_slice(&trailer(tag, n));
            let sent = SentPacket {
                seq,
                ts,
                payload: Bytes::from(payload.clone()),
                at: Instant::now(),
            };
            log.video_packets.lock().unwrap().insert(n, sent);
            if starts_key {
                log.keyframes.lock().unwrap().push(n);
            }
            let packet = rtp(VP8_PT, seq, ts, ssrc, i + 1 == count, payload);
            if track.write_rtp(packet).await.is_err() {
                return;
            }
            index = n.wrapping_add(1);
            log.video_sent
                .store(usize::from(n.wrapping_add(1)), Ordering::Relaxed);
        }
        frame += 1;
    }
}

fn trailer(tag: u8, index: u16) -> [u8; TRAILER] {
    let [hi, lo] = index.to_be_bytes();
    [tag, hi, lo]
}

// ---- the simulcast publisher -----------------------------------------------------------

/// The simulcast layers, lowest quality first (index = substream); each is also the tag its
/// payloads carry.
const SIMULCAST_RIDS: [&str; 3] = ["l", "m", "h"];

/// One simulcast layer of [`SimulcastPublisher`]: what it sent and was asked for.
struct Layer {
    rid: &'static str,
    ssrc: u32,
    /// Cleared to stop sending this layer (as a browser does when bandwidth drops).
    sending: AtomicBool,
    /// Set by a PLI or FIR for this layer's SSRC; its next frame is a key frame.
    keyframe_wanted: AtomicBool,
    requests: Mutex<Vec<Instant>>,
    /// Packet index of each key frame's first packet.
    keyframes: Mutex<Vec<u16>>,
    sent: AtomicUsize,
}

/// A publisher of one VP8 m-line in three simulcast encodings (rids h, m, l, each its own
/// SSRC, the rid and mid header extensions on every packet), as browsers send simulcast.
struct SimulcastPublisher {
    id: u64,
    #[allow(dead_code)]
    participant: Participant,
    joined: Value,
    answer_sdp: String,
    video_mid: String,
    /// Lowest quality first, as [`SIMULCAST_RIDS`].
    layers: Vec<Arc<Layer>>,
    started: Instant,
    pc: Arc<dyn PeerConnection>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimulcastPublisher {
    async fn join_and_publish(cardea: &Cardea) -> SimulcastPublisher {
        let mut participant = Participant::attach(cardea, PLUGIN).await;
        let peer = PeerState::new();
        let options = PeerOptions {
            keyframe_requests: true,
            ..PeerOptions::default()
        };
        let pc = peer_connection(cardea, Arc::clone(&peer), options).await;
        let layers: Vec<Arc<Layer>> = SIMULCAST_RIDS
            .iter()
            .enumerate()
            .map(|(i, rid)| {
                Arc::new(Layer {
                    rid,
                    ssrc: 0x3300_0000 | (i as u32 + 1),
                    sending: AtomicBool::new(true),
                    keyframe_wanted: AtomicBool::new(false),
                    requests: Mutex::new(Vec::new()),
                    keyframes: Mutex::new(Vec::new()),
                    sent: AtomicUsize::new(0),
                })
            })
            .collect();
        // Highest quality first, as browsers list them (a=simulcast:send h;m;l).
        let encodings = layers
            .iter()
            .rev()
            .map(|l| encoding(&vp8(), l.ssrc, None, l.rid))
            .collect();
        let track = local_track_with("vr-simulcast", RtpCodecKind::Video, encodings);
        pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .expect("add_track");
        let what = "the simulcast publisher";
        let offer_sdp = local_offer(&*pc, &peer, None, what).await;
        for line in [
            "a=rid:h send",
            "a=rid:m send",
            "a=rid:l send",
            "a=simulcast:send h;m;l",
        ] {
            assert!(
                offer_sdp.lines().any(|l| l.trim() == line),
                "webrtc-rs's simulcast offer lacks {line:?}:\n{offer_sdp}"
            );
        }
        assert!(
            !offer_sdp.contains("ssrc-group:SIM"),
            "rid simulcast, not SSRC groups:\n{offer_sdp}"
        );
        let (joined, id, answer_sdp) = join_and_configure(
            &mut participant,
            &*pc,
            &peer,
            ROOM,
            "simulcaster",
            &offer_sdp,
            what,
        )
        .await;
        let video_mid = media_mid(&offer_sdp, "video")
            .unwrap_or_else(|| panic!("{what}: no video m-line in\n{offer_sdp}"));
        let ext = |uri: &str| {
            extmap_id(&answer_sdp, &video_mid, uri).unwrap_or_else(|| {
                panic!("{what}: the answer has no {uri} extension:\n{answer_sdp}")
            })
        };
        let ids = (ext(MID_URI), ext(RID_URI));
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![tokio::spawn(watch_layer_keyframe_requests(
            Arc::clone(&track),
            layers.clone(),
        ))];
        for (i, layer) in layers.iter().enumerate() {
            tasks.push(tokio::spawn(send_layer(
                Arc::clone(&track),
                Arc::clone(layer),
                video_mid.clone(),
                ids,
                i as u16,
                Arc::clone(&stop),
            )));
        }
        assert_no_errors(&mut participant.events, what);
        SimulcastPublisher {
            id,
            participant,
            joined,
            answer_sdp,
            video_mid,
            layers,
            started,
            pc,
            stop,
            tasks,
        }
    }

    async fn close(self) {
        stop_sending(&*self.pc, &self.stop, self.tasks).await;
    }
}

/// Hands each PLI (by its media SSRC) and FIR (by its entries' SSRCs) to its layer.
async fn watch_layer_keyframe_requests(track: Arc<TrackLocalStaticRTP>, layers: Vec<Arc<Layer>>) {
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        for request in packets
            .iter()
            .filter_map(|p| KeyframeRequest::of(p.as_ref()))
        {
            for layer in layers.iter().filter(|l| request.ssrcs.contains(&l.ssrc)) {
                layer.requests.lock().unwrap().push(Instant::now());
                layer.keyframe_wanted.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// One simulcast layer: 30 VP8 frames/s as [`send_video`], tagged with the rid's letter, a
/// key frame first, when asked, and every 2 s; the mid and rid extensions on every packet.
async fn send_layer(
    track: Arc<TrackLocalStaticRTP>,
    layer: Arc<Layer>,
    mid: String,
    (mid_id, rid_id): (u8, u8),
    n: u16,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / 30));
    let tag = layer.rid.as_bytes()[0];
    let seq0 = 10_000u16.wrapping_mul(n + 1);
    let ts0 = 0x2000_0000u32.wrapping_mul(u32::from(n) + 1);
    let mut index: u16 = 0;
    let mut frame: u32 = 0;
    let mut last_periodic = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if !layer.sending.load(Ordering::Relaxed) {
            continue;
        }
        let asked = layer.keyframe_wanted.swap(false, Ordering::Relaxed);
        let periodic = last_periodic.elapsed() >= Duration::from_secs(2);
        let key = frame == 0 || asked || periodic;
        if key {
            last_periodic = Instant::now();
        }
        // Three temporal layers, as browsers code simulcast VP8 (L1T3: 0 2 1 2 0 ...).
        let tid = match frame % 4 {
            _ if key => 0,
            0 => 0,
            2 => 1,
            _ => 2,
        };
        let packets = vp8_frame_in_layer(key, frame, Some(tid));
        let ts = ts0.wrapping_add(3000 * frame);
        let count = packets.len();
        for (i, mut payload) in packets.into_iter().enumerate() {
            if key && i == 0 {
                layer.keyframes.lock().unwrap().push(index);
            }
            payload.extend_from_slice(&trailer(tag, index));
            let mut packet = rtp(
                VP8_PT,
                seq0.wrapping_add(index),
                ts,
                layer.ssrc,
                i + 1 == count,
                payload,
            );
            for (id, value) in [(mid_id, mid.as_bytes()), (rid_id, layer.rid.as_bytes())] {
                packet
                    .header
                    .set_extension(id, Bytes::copy_from_slice(value))
                    .expect("a one-byte header extension");
            }
            if track.write_rtp(packet).await.is_err() {
                return;
            }
            index = index.wrapping_add(1);
            layer.sent.fetch_add(1, Ordering::Relaxed);
        }
        frame += 1;
    }
}

// ---- subscribers -----------------------------------------------------------------------

struct Subscriber {
    participant: Participant,
    /// The `attached` event's plugin data, with Cardea's offer under `jsep`.
    attached: Value,
    offer_sdp: String,
    peer: Arc<PeerState>,
    pc: Arc<dyn PeerConnection>,
    /// When the `started` event arrived, and when the PeerConnection reported connected.
    started_at: Instant,
    connected_at: Instant,
}

impl Subscriber {
    /// Joins [`ROOM`] as a subscriber of `streams`, answers Cardea's offer (recvonly), sends
    /// `start` and waits for the connection.
    async fn join(cardea: &Cardea, streams: Value, what: &str) -> Subscriber {
        let mut participant = Participant::attach(cardea, PLUGIN).await;
        let attached = participant
            .request(
                json!({"request": "join", "room": ROOM, "ptype": "subscriber",
                       "streams": streams}),
                None,
            )
            .await;
        assert_eq!(attached["videoroom"], "attached", "{what}: {attached}");
        assert_eq!(attached["room"], ROOM, "{what}: {attached}");
        assert_eq!(
            attached["jsep"]["type"], "offer",
            "{what}: Cardea offers: {attached}"
        );
        let offer_sdp = attached["jsep"]["sdp"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no jsep.sdp in {attached}"))
            .to_owned();

        let peer = PeerState::new();
        let options = PeerOptions {
            keyframe_requests: true,
            ..PeerOptions::default()
        };
        let pc = peer_connection(cardea, Arc::clone(&peer), options).await;
        let answer_sdp = local_answer(&*pc, &peer, &offer_sdp, what).await;
        for line in m_lines(&answer_sdp) {
            assert!(
                line.direction == "recvonly",
                "{what}: webrtc-rs answers a sendonly m-line recvonly:\n{answer_sdp}"
            );
        }
        let started = participant
            .request(
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": &answer_sdp, "trickle": false})),
            )
            .await;
        assert_eq!(started["videoroom"], "event", "{what}: {started}");
        assert_eq!(started["started"], "ok", "{what}: {started}");
        let started_at = Instant::now();
        wait_connected(
            &peer,
            STEP,
            &format!("{what}\noffer:\n{offer_sdp}\nanswer:\n{answer_sdp}"),
        )
        .await;
        Subscriber {
            participant,
            attached,
            offer_sdp,
            peer,
            pc,
            started_at,
            connected_at: Instant::now(),
        }
    }

    /// (opus, VP8) packets received so far.
    fn counts(&self) -> (usize, usize) {
        (
            self.peer.count(RtpCodecKind::Audio),
            self.peer.count(RtpCodecKind::Video),
        )
    }

    async fn close(self) {
        let _ = timeout(Duration::from_secs(3), self.pc.close()).await;
    }
}

/// Consecutive packets (in arrival order) step their sequence numbers forward by 1 to
/// [`MAX_SEQ_STEP`].
fn assert_seq_continuous(got: &[Got], what: &str) {
    let steps: Vec<(usize, i32)> = got
        .windows(2)
        .map(|w| i32::from(w[1].seq.wrapping_sub(w[0].seq) as i16))
        .enumerate()
        .filter(|(_, step)| !(1..=MAX_SEQ_STEP).contains(step))
        .collect();
    assert!(
        steps.is_empty(),
        "{what}: sequence numbers out of step at (packet, step) {:?} of {} packets; around the \
         first: {:?}",
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

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at).await;
}
