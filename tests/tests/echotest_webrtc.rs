//! EchoTest against a WebRTC peer that shares no code with the server: webrtc-rs (the `webrtc`
//! crate) stands in for a browser, negotiates over the Janus HTTP API exactly as janus.js would
//! (non-trickle), sends synthetic opus and VP8 RTP plus a data-channel text, and counts what
//! comes back. The expectations are what Janus 1.x does (shared/reference/webrtc-test-peer.md).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cardea_tests::{Cardea, EventStream, JanusHttp};
use common::janus::{async_request, Handle};
use common::peer::{
    apply_answer, local_offer, local_track, opus, peer_connection, rtp, vp8, wait_connected,
    PeerOptions, PeerState, OPUS_FRAME, OPUS_PT, RTX_PT, VP8_PT,
};
use common::sdp::{host_candidates, media_mid};
use common::STEP;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

const PLUGIN: &str = "janus.plugin.echotest";
const AUDIO_SSRC: u32 = 0x1111_1111;
const VIDEO_SSRC: u32 = 0x2222_2222;
/// The RTX SSRC of VP8, offered only by the slowlink test (str0m NACKs only a stream with
/// RTX).
const VIDEO_RTX_SSRC: u32 = 0x3333_3333;
const SEND_FOR: Duration = Duration::from_secs(5);
const DATA_TEXT: &str = "hello-echotest";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_echoes_opus_vp8_and_data_back_to_an_independent_peer() {
    timeout(Duration::from_secs(50), echo_opus_vp8_and_data())
        .await
        .expect("the whole EchoTest exchange did not finish within 50 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_bitrate_request_answers_ok() {
    timeout(Duration::from_secs(30), async {
        let EchoTest {
            cardea,
            janus,
            session,
            handle,
            mut events,
        } = attach_echotest(Cardea::start("")).await;

        let event = async_request(
            &janus,
            &mut events,
            session,
            handle,
            PLUGIN,
            json!({"bitrate": 128000}),
            None,
        )
        .await;
        assert_eq!(event["sender"], handle, "{event}");
        assert_eq!(event["session_id"], session, "{event}");
        assert_eq!(event["plugindata"]["plugin"], PLUGIN, "{event}");
        assert_eq!(event["plugindata"]["data"]["echotest"], "event", "{event}");
        assert_eq!(event["plugindata"]["data"]["result"], "ok", "{event}");
        assert!(
            event.get("jsep").is_none(),
            "no SDP was offered, none may come back: {event}"
        );
        drop(events);
        drop(cardea);
    })
    .await
    .expect("the bitrate exchange did not finish within 30 s");
}

async fn echo_opus_vp8_and_data() {
    let EchoTest {
        cardea,
        janus,
        session,
        handle,
        mut events,
    } = attach_echotest(Cardea::start("")).await;

    // The browser stand-in: opus + VP8 send/recv and one data channel.
    let (peer, pc, audio, video) = peer_with_tracks(&cardea, None).await;
    let (dc, mut dc_open_rx, mut dc_reply_rx) = data_channel(&*pc, "wpc").await;

    // Non-trickle offer: every candidate in the SDP.
    let (offer_sdp, answer_sdp, event) = offer_answer(
        &janus,
        session,
        handle,
        &mut events,
        &*pc,
        &peer,
        None,
        "the offer",
    )
    .await;
    assert_eq!(event["sender"], handle, "{event}");
    assert_eq!(event["plugindata"]["plugin"], PLUGIN, "{event}");
    assert_eq!(event["plugindata"]["data"]["echotest"], "event", "{event}");
    assert!(
        host_candidates(&answer_sdp)
            .iter()
            .any(|c| cardea.listeners.media.contains(c)),
        "the non-trickle answer carries a host candidate on a media socket {:?}:\n{answer_sdp}",
        cardea.listeners.media
    );

    wait_connected(
        &peer,
        STEP,
        &format!("offer:\n{offer_sdp}\nanswer:\n{answer_sdp}"),
    )
    .await;

    // Media: 5 s of opus at 50 packets/s and VP8 at 30 frames/s, both at once.
    let audio_sender = tokio::spawn(send_rtp(Arc::clone(&audio), Media::Audio));
    let video_sender = tokio::spawn(send_rtp(Arc::clone(&video), Media::Video));

    timeout(STEP, dc_open_rx.wait_for(|open| *open))
        .await
        .expect("the data channel did not open")
        .expect("data channel watch closed");
    dc.send_text(DATA_TEXT).await.expect("send_text");
    let dc_reply = timeout(STEP, dc_reply_rx.recv())
        .await
        .expect("no data-channel reply")
        .expect("data channel closed before replying");
    assert!(
        dc_reply.contains(DATA_TEXT),
        "the data-channel reply {dc_reply:?} should contain the text sent, {DATA_TEXT:?}"
    );

    let audio_sent = audio_sender.await.expect("audio sender task");
    let video_sent = video_sender.await.expect("video sender task");
    assert_eq!(audio_sent, 250, "opus packets written in 5 s");
    assert_eq!(video_sent, 150, "VP8 frames written in 5 s");

    // Let the last echoes in.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < settle
        && (peer.echoed(RtpCodecKind::Audio).distinct < audio_sent
            || peer.echoed(RtpCodecKind::Video).distinct < video_sent)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audio_back = peer.echoed(RtpCodecKind::Audio);
    let video_back = peer.echoed(RtpCodecKind::Video);
    eprintln!("audio sent {audio_sent}, echoed {audio_back:?}; video sent {video_sent}, echoed {video_back:?}");
    assert!(
        audio_back.distinct * 100 >= audio_sent * 95,
        "opus: {} of {audio_sent} packets echoed ({audio_back:?})",
        audio_back.distinct
    );
    assert!(
        video_back.distinct * 100 >= video_sent * 95,
        "VP8: {} of {video_sent} frames echoed ({video_back:?})",
        video_back.distinct
    );
    assert_eq!(
        audio_back.payload_types,
        BTreeSet::from([OPUS_PT]),
        "audio echoed with the negotiated PT"
    );
    assert_eq!(
        video_back.payload_types,
        BTreeSet::from([VP8_PT]),
        "video echoed with the negotiated PT"
    );

    // What the long poll said meanwhile.
    let up = events
        .wait_for("webrtcup", STEP, |e| e["janus"] == "webrtcup")
        .await;
    assert_eq!(up["sender"], handle, "{up}");
    assert_eq!(up["session_id"], session, "{up}");
    for kind in ["audio", "video"] {
        let media = events
            .wait_for(
                &format!("a media event (type {kind}, receiving true)"),
                STEP,
                |e| e["janus"] == "media" && e["type"] == kind && e["receiving"] == true,
            )
            .await;
        assert_eq!(media["sender"], handle, "{media}");
        assert_eq!(media["session_id"], session, "{media}");
        assert!(
            media["mid"].is_string(),
            "media events name the m-line by mid: {media}"
        );
    }
    assert_no_errors(&mut events);

    // Hang up the PeerConnection, then drop the handle.
    let reply = janus.handle_request(session, handle, "hangup").await;
    assert_eq!(reply["janus"], "success", "{reply}");
    let hangup = events
        .wait_for("hangup", STEP, |e| e["janus"] == "hangup")
        .await;
    assert_eq!(hangup["sender"], handle, "{hangup}");
    assert_eq!(hangup["session_id"], session, "{hangup}");
    assert!(
        hangup["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a hangup event says why: {hangup}"
    );
    // The plugin reports the end of the PeerConnection too (Janus 1.1.2 sends this just before
    // the hangup event; the order is not part of the contract).
    let done = events
        .wait_for("the EchoTest event with result done", STEP, |e| {
            e["janus"] == "event" && e["plugindata"]["data"]["result"] == "done"
        })
        .await;
    assert_eq!(done["sender"], handle, "{done}");
    assert_eq!(done["plugindata"]["data"]["echotest"], "event", "{done}");

    let reply = janus.handle_request(session, handle, "detach").await;
    assert_eq!(reply["janus"], "success", "{reply}");
    let detached = events
        .wait_for("detached", STEP, |e| e["janus"] == "detached")
        .await;
    assert_eq!(detached["sender"], handle, "{detached}");
    assert_eq!(detached["session_id"], session, "{detached}");

    eprintln!("events of session {session}:\n{}", events.describe());
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    drop(events);
    drop(cardea);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_renegotiation_keeps_media_flowing() {
    timeout(Duration::from_secs(60), renegotiate_mid_call(false))
        .await
        .expect("the renegotiation exchange did not finish within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_ice_restart_keeps_media_flowing() {
    timeout(Duration::from_secs(60), renegotiate_mid_call(true))
        .await
        .expect("the ICE restart exchange did not finish within 60 s");
}

/// How long media flows in the renegotiation tests; the second offer goes out about 2 s in.
const RENEGOTIATION_SEND_FOR: Duration = Duration::from_secs(8);
/// The window after the second answer (after reconnecting, for an ICE restart) over which
/// echoes are counted.
const AFTER_ANSWER: Duration = Duration::from_secs(2);

/// Connects as the EchoTest test does, sends media, then sends a second offer on the same
/// PeerConnection (with a second data channel; with new ICE credentials when `ice_restart`) and
/// checks the same leg answers it: same DTLS fingerprint and role, ICE credentials kept or
/// renewed as asked, no hangup, and the echoes keep coming.
async fn renegotiate_mid_call(ice_restart: bool) {
    let EchoTest {
        cardea,
        janus,
        session,
        handle,
        mut events,
    } = attach_echotest(Cardea::start("")).await;

    let (peer, pc, audio, video) = peer_with_tracks(&cardea, None).await;
    let (dc, mut dc_open_rx, mut dc_reply_rx) = data_channel(&*pc, "wpc").await;

    let (offer1, answer1, _) = offer_answer(
        &janus,
        session,
        handle,
        &mut events,
        &*pc,
        &peer,
        None,
        "the first offer",
    )
    .await;
    wait_connected(
        &peer,
        STEP,
        &format!("offer:\n{offer1}\nanswer:\n{answer1}"),
    )
    .await;

    let audio_sent = Arc::new(AtomicUsize::new(0));
    let video_sent = Arc::new(AtomicUsize::new(0));
    let audio_sender = tokio::spawn(send_rtp_counted(
        Arc::clone(&audio),
        Media::Audio,
        RENEGOTIATION_SEND_FOR,
        Arc::clone(&audio_sent),
    ));
    let video_sender = tokio::spawn(send_rtp_counted(
        Arc::clone(&video),
        Media::Video,
        RENEGOTIATION_SEND_FOR,
        Arc::clone(&video_sent),
    ));
    let media_started = tokio::time::Instant::now();

    timeout(STEP, dc_open_rx.wait_for(|open| *open))
        .await
        .expect("the data channel did not open")
        .expect("data channel watch closed");
    dc.send_text(DATA_TEXT).await.expect("send_text");
    let reply = timeout(STEP, dc_reply_rx.recv())
        .await
        .expect("no data-channel reply before the renegotiation")
        .expect("data channel closed");
    assert!(reply.contains(DATA_TEXT), "{reply:?}");

    tokio::time::sleep_until(media_started + Duration::from_secs(2)).await;
    let before = (
        peer.echoed(RtpCodecKind::Audio),
        peer.echoed(RtpCodecKind::Video),
    );
    assert!(
        before.0.distinct > 0 && before.1.distinct > 0,
        "nothing echoed before the renegotiation: audio {:?}, video {:?}",
        before.0,
        before.1
    );

    // The second offer: a second data channel (same m=application, a new SCTP stream), and new
    // ICE credentials when asked.
    let (dc2, mut dc2_open_rx, mut dc2_reply_rx) = data_channel(&*pc, "wpc-2").await;
    let what = if ice_restart {
        "the ICE restart offer"
    } else {
        "the second offer"
    };
    let (offer2, answer2, _) = offer_answer(
        &janus,
        session,
        handle,
        &mut events,
        &*pc,
        &peer,
        Some(RTCOfferOptions { ice_restart }),
        what,
    )
    .await;
    let answered_at = tokio::time::Instant::now();
    let sent_at_answer: (usize, usize) = (
        audio_sent.load(Ordering::Relaxed),
        video_sent.load(Ordering::Relaxed),
    );
    eprintln!(
        "{what} answered {:?} after media started; sent so far audio {}, video {}",
        answered_at - media_started,
        sent_at_answer.0,
        sent_at_answer.1
    );

    let attr = |sdp: &str, name: &str| -> Vec<String> {
        sdp.lines()
            .filter_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .collect()
    };
    let context = format!(
        "first offer:\n{offer1}\nfirst answer:\n{answer1}\nsecond offer:\n{offer2}\nsecond answer:\n{answer2}"
    );
    assert_eq!(
        attr(&answer2, "a=fingerprint:"),
        attr(&answer1, "a=fingerprint:"),
        "the same leg answers: same DTLS certificate\n{context}"
    );
    assert_eq!(
        attr(&answer2, "a=setup:"),
        attr(&answer1, "a=setup:"),
        "the same leg answers: same DTLS role\n{context}"
    );
    let ufrag = |sdp: &str| attr(sdp, "a=ice-ufrag:").into_iter().next();
    assert!(
        ufrag(&answer2).is_some(),
        "no a=ice-ufrag in the answer\n{context}"
    );
    if ice_restart {
        assert_ne!(
            ufrag(&offer2),
            ufrag(&offer1),
            "webrtc-rs put new credentials in its restart offer\n{context}"
        );
        assert_ne!(
            ufrag(&answer2),
            ufrag(&answer1),
            "an ICE restart offer is answered with new ICE credentials\n{context}"
        );
    } else {
        assert_eq!(
            ufrag(&answer2),
            ufrag(&answer1),
            "without an ICE restart the answer keeps the ICE credentials\n{context}"
        );
    }

    // An ICE restart takes the connection through checking again: str0m (ICE lite) has no
    // path to send on until webrtc-rs nominates a pair with the new credentials (about 200 ms
    // here, webrtc-rs's check pacing), and webrtc-rs reports "connecting" meanwhile. What is
    // sent in that gap is allowed to be lost; the gap itself must stay short, and the 2 s
    // window starts when the connection is back.
    let mut gap = Duration::ZERO;
    let mut sent_at_answer = sent_at_answer;
    if ice_restart {
        wait_connected(
            &peer,
            Duration::from_secs(5),
            &format!("after the ICE restart answer\n{context}"),
        )
        .await;
        gap = answered_at.elapsed();
        let back = (
            audio_sent.load(Ordering::Relaxed),
            video_sent.load(Ordering::Relaxed),
        );
        let lost = |kind: RtpCodecKind, from: usize, to: usize| {
            let echoed = peer.echoed(kind);
            (from..to)
                .filter(|i| !echoed.indices.contains(&(*i as u16)))
                .count()
        };
        // Let the echoes of the last packets before reconnecting arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (audio_lost, video_lost) = (
            lost(RtpCodecKind::Audio, sent_at_answer.0, back.0),
            lost(RtpCodecKind::Video, sent_at_answer.1, back.1),
        );
        eprintln!(
            "ICE restart: connected again {gap:?} after the answer; \
             lost meanwhile audio {audio_lost} of {}, video {video_lost} of {}",
            back.0 - sent_at_answer.0,
            back.1 - sent_at_answer.1
        );
        assert!(
            gap < Duration::from_secs(1),
            "the ICE restart took {gap:?} to reconnect\n{context}"
        );
        sent_at_answer = back;
    }
    let window_start = answered_at + gap;

    // Echoes of what was sent in the 2 s after the answer (after reconnecting, for a restart).
    tokio::time::sleep_until(window_start + AFTER_ANSWER).await;
    let sent_after = (
        audio_sent.load(Ordering::Relaxed),
        video_sent.load(Ordering::Relaxed),
    );
    // Stragglers: give the last packets of the window up to 1 s to come back.
    let in_window = |kind: RtpCodecKind, from: usize, to: usize| {
        let echoed = peer.echoed(kind);
        (from..to)
            .filter(|i| echoed.indices.contains(&(*i as u16)))
            .count()
    };
    let settle = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let a = in_window(RtpCodecKind::Audio, sent_at_answer.0, sent_after.0);
        let v = in_window(RtpCodecKind::Video, sent_at_answer.1, sent_after.1);
        if (a == sent_after.0 - sent_at_answer.0 && v == sent_after.1 - sent_at_answer.1)
            || tokio::time::Instant::now() > settle
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audio_window = sent_after.0 - sent_at_answer.0;
    let video_window = sent_after.1 - sent_at_answer.1;
    let audio_back = in_window(RtpCodecKind::Audio, sent_at_answer.0, sent_after.0);
    let video_back = in_window(RtpCodecKind::Video, sent_at_answer.1, sent_after.1);
    let missing = |kind: RtpCodecKind, from: usize, to: usize| -> Vec<usize> {
        let echoed = peer.echoed(kind);
        (from..to)
            .filter(|i| !echoed.indices.contains(&(*i as u16)))
            .collect::<Vec<_>>()
    };
    eprintln!(
        "after {what}: not echoed in the window: audio {:?}, video {:?}",
        missing(RtpCodecKind::Audio, sent_at_answer.0, sent_after.0),
        missing(RtpCodecKind::Video, sent_at_answer.1, sent_after.1)
    );
    let history = peer.history.lock().unwrap().clone();
    eprintln!(
        "after {what}: audio {audio_back} of {audio_window} echoed, video {video_back} of {video_window}; \
         totals audio {:?}, video {:?}; connection states {history:?}",
        peer.echoed(RtpCodecKind::Audio),
        peer.echoed(RtpCodecKind::Video)
    );
    let report = format!(
        "connection states {history:?}; events:\n{}\n{context}",
        events.describe()
    );
    assert!(
        audio_window >= 80 && video_window >= 50,
        "the senders did not run through the window: audio {audio_window}, video {video_window}"
    );
    assert!(
        audio_back * 100 >= audio_window * 90,
        "opus after {what}: {audio_back} of {audio_window} packets echoed in the {AFTER_ANSWER:?} after the answer\n{report}"
    );
    assert!(
        video_back * 100 >= video_window * 90,
        "VP8 after {what}: {video_back} of {video_window} frames echoed in the {AFTER_ANSWER:?} after the answer\n{report}"
    );
    assert!(
        !history.iter().any(|s| matches!(
            s,
            RTCPeerConnectionState::Failed
                | RTCPeerConnectionState::Disconnected
                | RTCPeerConnectionState::Closed
        )),
        "the PeerConnection left connected during {what}: {history:?}"
    );

    // Both data channels echo after the renegotiation.
    let text1 = format!("{DATA_TEXT}-after");
    dc.send_text(&text1).await.expect("send_text on wpc");
    let reply = timeout(STEP, dc_reply_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no reply on the first data channel after {what}\n{report}"))
        .expect("data channel wpc closed");
    assert!(reply.contains(&text1), "{reply:?}");
    timeout(STEP, dc2_open_rx.wait_for(|open| *open))
        .await
        .unwrap_or_else(|_| panic!("the second data channel did not open after {what}\n{report}"))
        .expect("data channel watch closed");
    let text2 = format!("{DATA_TEXT}-second-channel");
    dc2.send_text(&text2).await.expect("send_text on wpc-2");
    let reply = timeout(STEP, dc2_reply_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no reply on the second data channel after {what}\n{report}"))
        .expect("data channel wpc-2 closed");
    assert!(reply.contains(&text2), "{reply:?}");

    audio_sender.await.expect("audio sender task");
    video_sender.await.expect("video sender task");

    // No hangup, no error, no "done" while the call was renegotiated.
    let seen = events.drain().to_vec();
    let bad: Vec<&Value> = seen
        .iter()
        .filter(|e| {
            e["janus"] == "hangup"
                || e["janus"] == "error"
                || e["janus"] == "detached"
                || e["plugindata"]["data"]["result"] == "done"
                || e["plugindata"]["data"]["error"].is_string()
        })
        .collect();
    assert!(
        bad.is_empty(),
        "the handle reported {bad:?} around {what}; all events:\n{}",
        events.describe()
    );
    let webrtcups = seen.iter().filter(|e| e["janus"] == "webrtcup").count();
    eprintln!(
        "events of session {session} ({webrtcups} webrtcup):\n{}",
        events.describe()
    );
    assert!(webrtcups >= 1, "no webrtcup at all:\n{}", events.describe());

    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    drop(events);
    drop(cardea);
}

/// How long the slowlink test sends lossy video.
const LOSSY_FOR: Duration = Duration::from_secs(3);

/// The VP8 packets the slowlink test leaves out: 5 of every 30 (one a second at 30 fps), never
/// a key frame, each gap a single packet.
fn lost_on_the_uplink(index: u16) -> bool {
    matches!(index % 30, 5 | 11 | 17 | 23 | 29)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_reports_slowlink_when_the_uplink_loses_video() {
    timeout(Duration::from_secs(80), async {
        // With a threshold of 2 NACKed packets a second, the gaps make a slowlink event.
        let mut call = lossy_video_call(Some(2)).await;
        let (session, handle) = (call.session, call.handle);
        let events = &mut call.events;
        let slowlink = events
            .wait_for("slowlink event with uplink true", STEP, |e| {
                e["janus"] == "slowlink" && e["uplink"] == true
            })
            .await;
        eprintln!("slowlink event: {slowlink}");
        assert_eq!(slowlink["session_id"], session, "{slowlink}");
        assert_eq!(slowlink["sender"], handle, "{slowlink}");
        assert_eq!(slowlink["mid"], call.video_mid.as_str(), "{slowlink}");
        assert_eq!(slowlink["media"], "video", "{slowlink}");
        assert!(
            slowlink["lost"].as_u64().is_some_and(|lost| lost >= 2),
            "at least the threshold was lost in the last second: {slowlink}"
        );
        let all = events.drain().to_vec();
        let slowlinks: Vec<&Value> = all.iter().filter(|e| e["janus"] == "slowlink").collect();
        eprintln!("{} slowlink events with threshold 2", slowlinks.len());
        for e in &slowlinks {
            assert_eq!(
                e["media"], "video",
                "only video was lost (opus is never NACKed): {e}"
            );
        }
        assert_no_errors(events);
        call.close().await;

        // The same loss with the default threshold (0, off as in Janus): no slowlink at all.
        let mut call = lossy_video_call(None).await;
        // Per-second checks would have reported by now.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let events = &mut call.events;
        let seen = events.drain().to_vec();
        let slowlinks: Vec<&Value> = seen.iter().filter(|e| e["janus"] == "slowlink").collect();
        assert!(
            slowlinks.is_empty(),
            "slowlink events without a slowlink_threshold: {slowlinks:?}\nall events:\n{}",
            events.describe()
        );
        assert_no_errors(events);
        call.close().await;
    })
    .await
    .expect("the slowlink exchanges did not finish within 80 s");
}

/// Starts Cardea (with `media.slowlink_threshold` when given), connects an opus + VP8 peer that
/// offers RTX for VP8 (str0m only NACKs a stream whose SDP announces an RTX SSRC), and sends
/// opus and VP8 for [`LOSSY_FOR`] with [`lost_on_the_uplink`]'s VP8 packets left out, and
/// checks the rest is echoed. Returns the call still up.
async fn lossy_video_call(threshold: Option<u32>) -> LossyCall {
    let cardea = match threshold {
        Some(t) => Cardea::start_with_media(&[("slowlink_threshold", &t.to_string())], ""),
        None => Cardea::start(""),
    };
    let EchoTest {
        cardea,
        janus,
        session,
        handle,
        mut events,
    } = attach_echotest(cardea).await;

    let (peer, pc, audio, video) = peer_with_tracks(&cardea, Some(VIDEO_RTX_SSRC)).await;
    let what = format!("the offer with RTX (slowlink_threshold {threshold:?})");
    let (offer, answer, _) = offer_answer(
        &janus,
        session,
        handle,
        &mut events,
        &*pc,
        &peer,
        None,
        &what,
    )
    .await;
    let context = format!("offer:\n{offer}\nanswer:\n{answer}");
    assert!(
        offer.contains(&format!("a=ssrc-group:FID {VIDEO_SSRC} {VIDEO_RTX_SSRC}")),
        "webrtc-rs announces the RTX SSRC\n{context}"
    );
    assert!(
        answer.contains(&format!("a=fmtp:{RTX_PT} apt={VP8_PT}")),
        "the answer accepts RTX for VP8 (without it str0m sends no NACK)\n{context}"
    );
    let video_mid = media_mid(&answer, "video")
        .unwrap_or_else(|| panic!("no video m-line with a mid in the answer\n{context}"));

    wait_connected(&peer, STEP, &context).await;

    let audio_sender = tokio::spawn(send_rtp_counted(
        Arc::clone(&audio),
        Media::Audio,
        LOSSY_FOR,
        Arc::new(AtomicUsize::new(0)),
    ));
    let video_sender = tokio::spawn(send_rtp_skipping(
        Arc::clone(&video),
        Media::Video,
        LOSSY_FOR,
        Arc::new(AtomicUsize::new(0)),
        lost_on_the_uplink,
    ));
    let audio_sent = audio_sender.await.expect("audio sender task");
    let video_sent = video_sender.await.expect("video sender task");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (audio_back, video_back) = (
        peer.echoed(RtpCodecKind::Audio),
        peer.echoed(RtpCodecKind::Video),
    );
    eprintln!(
        "slowlink_threshold {threshold:?}: audio sent {audio_sent}, echoed {audio_back:?}; \
         video sent {video_sent} (every 30th frame 5 gaps), echoed {video_back:?}"
    );
    assert!(
        video_back.distinct * 100 >= video_sent * 90,
        "the VP8 that was sent is echoed: {video_back:?} of {video_sent}"
    );
    assert!(
        !video_back.indices.iter().any(|i| lost_on_the_uplink(*i)),
        "a packet never sent came back: {video_back:?}"
    );

    LossyCall {
        session,
        handle,
        video_mid,
        events,
        pc,
        _tracks: [audio, video],
        cardea,
    }
}

/// A call made by [`lossy_video_call`]; the server runs until [`LossyCall::close`] or drop.
struct LossyCall {
    session: u64,
    handle: u64,
    /// The mid of the video m-line in Cardea's answer.
    video_mid: String,
    events: EventStream,
    pc: Arc<dyn PeerConnection>,
    _tracks: [Arc<TrackLocalStaticRTP>; 2],
    cardea: Cardea,
}

impl LossyCall {
    async fn close(self) {
        eprintln!(
            "events of session {}:\n{}",
            self.session,
            self.events.describe()
        );
        let _ = timeout(Duration::from_secs(3), self.pc.close()).await;
        drop(self.events);
        drop(self.cardea);
    }
}

/// Creates an offer (non-trickle: waits for gathering), sends it with {audio, video}, checks the
/// EchoTest event and applies its answer. Returns (offer SDP, answer SDP, the event).
#[allow(clippy::too_many_arguments)]
async fn offer_answer(
    janus: &JanusHttp,
    session: u64,
    handle: u64,
    events: &mut EventStream,
    pc: &dyn PeerConnection,
    peer: &PeerState,
    options: Option<RTCOfferOptions>,
    what: &str,
) -> (String, String, Value) {
    let offer_sdp = local_offer(pc, peer, options, what).await;
    let event = async_request(
        janus,
        events,
        session,
        handle,
        PLUGIN,
        json!({"audio": true, "video": true}),
        Some(json!({"type": "offer", "sdp": &offer_sdp, "trickle": false})),
    )
    .await;
    assert_eq!(event["session_id"], session, "{what}: {event}");
    assert_eq!(
        event["plugindata"]["data"]["result"], "ok",
        "{what}: {event}"
    );
    assert_eq!(
        event["jsep"]["type"], "answer",
        "{what}: {event}\noffer:\n{offer_sdp}"
    );
    let answer_sdp = event["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no jsep.sdp: {event}"))
        .to_owned();
    apply_answer(pc, &answer_sdp, what).await;
    (offer_sdp, answer_sdp, event)
}

fn assert_no_errors(events: &mut EventStream) {
    let seen = events.drain();
    let errors: Vec<&Value> = seen.iter().filter(|e| e["janus"] == "error").collect();
    assert!(
        errors.is_empty(),
        "the long poll reported errors: {errors:?}"
    );
}

/// The RTP that came back on one remote track.
#[derive(Clone, Default)]
struct Echoed {
    /// Packets received, retransmissions included.
    packets: usize,
    /// Distinct packets (by the index written into each payload).
    distinct: usize,
    indices: HashSet<u16>,
    payload_types: BTreeSet<u8>,
}

impl std::fmt::Debug for Echoed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} distinct of {} packets, payload types {:?}",
            self.distinct, self.packets, self.payload_types
        )
    }
}

impl PeerState {
    /// What came back on the remote tracks of `kind` so far.
    fn echoed(&self, kind: RtpCodecKind) -> Echoed {
        let got = self.received(kind);
        // Each payload ends with the big-endian index it was sent with; the server may rewrite
        // the header (SSRC, sequence numbers) but forwards the payload untouched.
        let indices: HashSet<u16> = got.iter().filter_map(|g| g.index()).collect();
        Echoed {
            packets: got.len(),
            distinct: indices.len(),
            indices,
            payload_types: got.iter().map(|g| g.pt).collect(),
        }
    }
}

/// A fresh EchoTest handle on `cardea`, and its session's long poll.
struct EchoTest {
    cardea: Cardea,
    janus: JanusHttp,
    session: u64,
    handle: u64,
    events: EventStream,
}

async fn attach_echotest(cardea: Cardea) -> EchoTest {
    let Handle {
        janus,
        session,
        handle,
        events,
        ..
    } = Handle::attach(&cardea, PLUGIN).await;
    EchoTest {
        cardea,
        janus,
        session,
        handle,
        events,
    }
}

/// The browser stand-in next to Cardea's first media socket, with an opus and a VP8 track
/// added (VP8 with RTX, and this RTX SSRC, when `video_rtx` names one).
async fn peer_with_tracks(
    cardea: &Cardea,
    video_rtx: Option<u32>,
) -> (
    Arc<PeerState>,
    Arc<dyn PeerConnection>,
    Arc<TrackLocalStaticRTP>,
    Arc<TrackLocalStaticRTP>,
) {
    let peer = PeerState::new();
    let options = PeerOptions {
        video_rtx: video_rtx.is_some(),
        ..PeerOptions::default()
    };
    let pc = peer_connection(cardea, Arc::clone(&peer), options).await;
    let stream = "cardea-tests";
    let audio = local_track(stream, RtpCodecKind::Audio, opus(), AUDIO_SSRC, None);
    let video = local_track(stream, RtpCodecKind::Video, vp8(), VIDEO_SSRC, video_rtx);
    for track in [&audio, &video] {
        pc.add_track(Arc::clone(track) as Arc<dyn TrackLocal>)
            .await
            .expect("add_track");
    }
    (peer, pc, audio, video)
}

/// A new data channel on `pc` with its event loop running (see [`run_data_channel`]).
async fn data_channel(
    pc: &dyn PeerConnection,
    label: &str,
) -> (
    Arc<dyn DataChannel>,
    watch::Receiver<bool>,
    mpsc::UnboundedReceiver<String>,
) {
    let dc = pc
        .create_data_channel(label, None)
        .await
        .unwrap_or_else(|e| panic!("create_data_channel {label}: {e}"));
    let (open_rx, reply_rx) = run_data_channel(Arc::clone(&dc));
    (dc, open_rx, reply_rx)
}

/// Opens the channel's event loop: a watch that turns true on open, and the texts received.
fn run_data_channel(
    dc: Arc<dyn DataChannel>,
) -> (watch::Receiver<bool>, mpsc::UnboundedReceiver<String>) {
    let (open_tx, open_rx) = watch::channel(false);
    let (text_tx, text_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = dc.poll().await {
            match event {
                DataChannelEvent::OnOpen => {
                    open_tx.send_replace(true);
                }
                DataChannelEvent::OnMessage(message) => {
                    let _ = text_tx.send(String::from_utf8_lossy(&message.data).into_owned());
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
    });
    (open_rx, text_rx)
}

#[derive(Clone, Copy)]
enum Media {
    Audio,
    Video,
}

/// Sends synthetic RTP for [`SEND_FOR`]; returns how many packets were written. Every payload
/// ends with its big-endian index so echoes can be told apart.
async fn send_rtp(track: Arc<TrackLocalStaticRTP>, media: Media) -> usize {
    send_rtp_counted(track, media, SEND_FOR, Arc::new(AtomicUsize::new(0))).await
}

/// Like [`send_rtp`], for `send_for`, publishing the number of packets written so far in `sent`
/// (packet `i` carries index `i`, so `sent` read at any moment is the next index to go out).
async fn send_rtp_counted(
    track: Arc<TrackLocalStaticRTP>,
    media: Media,
    send_for: Duration,
    sent_so_far: Arc<AtomicUsize>,
) -> usize {
    send_rtp_skipping(track, media, send_for, sent_so_far, |_| false).await
}

/// Like [`send_rtp_counted`], leaving out the packets whose index `skip` picks: their
/// sequence numbers (1000 + index) are never sent, so the receiver sees gaps, as after loss on
/// the way. Returns (and publishes in `sent_so_far`) the packets actually written.
async fn send_rtp_skipping(
    track: Arc<TrackLocalStaticRTP>,
    media: Media,
    send_for: Duration,
    sent_so_far: Arc<AtomicUsize>,
    skip: impl Fn(u16) -> bool,
) -> usize {
    let (period, packets, ssrc, payload_type, clock_step) = match media {
        // 20 ms opus frames at 48 kHz.
        Media::Audio => (
            Duration::from_millis(20),
            send_for.as_millis() as usize / 20,
            AUDIO_SSRC,
            OPUS_PT,
            960u32,
        ),
        // 30 fps VP8, one packet per frame, at 90 kHz.
        Media::Video => (
            Duration::from_nanos(1_000_000_000 / 30),
            send_for.as_millis() as usize * 30 / 1000,
            VIDEO_SSRC,
            VP8_PT,
            3000u32,
        ),
    };
    let mut tick = tokio::time::interval(period);
    let mut sent = 0;
    for index in 0..packets as u16 {
        tick.tick().await;
        if skip(index) {
            continue;
        }
        let mut payload: Vec<u8> = match media {
            Media::Audio => OPUS_FRAME.to_vec(),
            // Payload descriptor 0x10 (start of partition 0), then a key frame every 30 frames
            // (frame tag with the key bit clear, start code, 320x240) or an inter frame.
            Media::Video if index % 30 == 0 => {
                vec![
                    0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
                ]
            }
            Media::Video => vec![0x10, 0x51, 0x01, 0x00],
        };
        payload.extend_from_slice(&index.to_be_bytes());
        let packet = rtp(
            payload_type,
            1000u16.wrapping_add(index),
            90_000u32.wrapping_add(clock_step.wrapping_mul(index as u32)),
            ssrc,
            matches!(media, Media::Video),
            payload,
        );
        track.write_rtp(packet).await.expect("write_rtp");
        sent += 1;
        sent_so_far.store(sent, Ordering::Relaxed);
    }
    sent
}
