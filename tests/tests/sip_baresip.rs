//! The SIP plugin (`janus.plugin.sip`) against a real phone: baresip (Debian's `baresip` 1.0,
//! run by `tests/src/baresip.rs` with `tests/baresip/config`), which auto-answers, says a
//! 440 Hz tone from a WAV file the test wrote, and records what it hears. On the WebRTC side
//! the webrtc-rs peer of `tests/src/sip_case.rs` sends a 1000 Hz PCMU tone and decodes what
//! it gets, so each side can tell the other's tone from silence, noise or its own echo.
//!
//! - `baresip_answers_a_call_and_its_audio_reaches_the_browser_peer`: a guest handle calls
//!   baresip; baresip answers; each side hears the other's tone; the handle hangs up and
//!   baresip gets the BYE.
//! - `baresip_calls_the_handle_which_accepts_and_the_phone_hangs_up`: baresip dials the
//!   handle's user at Cardea's SIP port; `incomingcall` with an offer; `accept`; each side
//!   hears the other's tone; baresip hangs up and the handle gets `hangup`.
//!
//! Each test starts its own Cardea (a `sip` section, no registrar users) and baresip, bounded
//! in time; baresip is stopped when dropped. A failure reports the session's events, the SDPs,
//! baresip's ctrl_tcp events and its log (every SIP message it sent and received); Cardea's
//! log is printed by the harness.
//!
//! `baresip` must be on PATH with its `g711`, `aufile`, `aubridge`, `sndfile`, `menu` and
//! `ctrl_tcp` modules (`apt-get install baresip`).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::sync::Arc;
use std::time::Duration;

use cardea_tests::baresip::{write_tone_wav, ToneStats};
use serde_json::{json, Value};
use sip_case::{
    local_offer, one_at_a_time, pcmu_peer, send_pcmu_tone, wait_connected, Received, SipCase,
    PCMU_PT, SEND_FOR, STEP, TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::peer_connection::PeerConnection;

/// What baresip says (its WAV file) and what the peer says.
const PHONE_TONE: f64 = 440.0;
const PEER_TONE: f64 = 1000.0;
/// The WAV file baresip plays (aufile plays it once): longer than any call here.
const PHONE_WAV_SECONDS: f64 = 15.0;
/// PCMU packets (20 ms each) the peer must get from the phone while it sends for 3 s.
const MIN_PACKETS: usize = 100;
/// Each side must hear at least this much of the other's tone.
const MIN_TONE_SECONDS: f64 = 1.5;

/// Writes the phone's tone and starts baresip as bob; returns its index.
fn start_phone(case: &mut SipCase) -> usize {
    let wav = case.dir.join("phone-tone.wav");
    write_tone_wav(&wav, PHONE_TONE, PHONE_WAV_SECONDS);
    case.start_baresip("bob", &wav)
}

/// Waits for the baresip event `kind` (`CALL_ESTABLISHED`, `CALL_CLOSED`, …).
async fn phone_event(case: &mut SipCase, phone: usize, kind: &str, within: Duration) -> Value {
    match case.baresips[phone].wait_event(kind, within).await {
        Some(event) => event,
        None => case.fail(&format!("baresip reported no {kind} within {within:?}")),
    }
}

/// The peer sends its tone for [`SEND_FOR`], meanwhile hearing the phone: at least
/// [`MIN_PACKETS`] PCMU packets, carrying the phone's tone.
async fn exchange_tones(
    case: &mut SipCase,
    peer: &sip_case::Peer,
    track: Arc<webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP>,
) -> Received {
    let sender = tokio::spawn(send_pcmu_tone(track, SEND_FOR, PEER_TONE));
    let sent = sender.await.expect("the PCMU sender task");
    let received = peer.received();
    let heard = ToneStats::of(&received.audio, 8000);
    eprintln!(
        "the peer sent {sent} PCMU packets of {PEER_TONE} Hz; received {} packets \
         (payload types {:?}): {heard}",
        received.packets, received.payload_types
    );
    if received.packets < MIN_PACKETS {
        case.fail(&format!(
            "the peer got {} packets from baresip in {SEND_FOR:?} (at least {MIN_PACKETS} \
             expected): {received:?}",
            received.packets
        ));
    }
    if !received.payload_types.iter().all(|pt| *pt == PCMU_PT) {
        case.fail(&format!(
            "baresip's audio reached the peer with other payload types: {received:?}"
        ));
    }
    if !heard.is_tone(PHONE_TONE, MIN_TONE_SECONDS) {
        let first: Vec<i16> = received.audio.iter().take(40).copied().collect();
        case.fail(&format!(
            "the peer should hear baresip's {PHONE_TONE} Hz tone (RMS above 1000, within \
             10 %, at least {MIN_TONE_SECONDS} s); it heard {heard}; first samples {first:?}"
        ));
    }
    received
}

/// What baresip recorded hearing (its `sndfile` dump of the decoded audio) must be the peer's
/// tone. The recording is complete once the call is closed.
async fn phone_heard_the_peer(case: &mut SipCase, phone: usize) -> ToneStats {
    // The file is closed right after CALL_CLOSED.
    let (path, rate, samples) = match case.phone_recording(phone, None).await {
        Ok(recording) => recording,
        Err(e) => case.fail(&e),
    };
    let heard = ToneStats::of(&samples, rate);
    eprintln!("baresip heard ({}): {heard}", path.display());
    if rate != 8000 || !heard.is_tone(PEER_TONE, MIN_TONE_SECONDS) {
        case.fail(&format!(
            "baresip should hear the peer's {PEER_TONE} Hz tone (RMS above 1000, within 10 %, \
             at least {MIN_TONE_SECONDS} s) at 8000 Hz; {} holds {heard} at {rate} Hz",
            path.display()
        ));
    }
    heard
}

/// baresip's SIP trace holds a request `method` it `sent` (or received) and the 200 to it
/// going the other way (waiting up to 2 s for them).
async fn expect_transaction(case: &mut SipCase, phone: usize, method: &str, sent: bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let messages = case.baresips[phone].messages();
        let request = messages
            .iter()
            .any(|m| m.sent == sent && m.is_request(method));
        let ok = messages
            .iter()
            .any(|m| m.sent != sent && m.is_response(200, method));
        if request && ok {
            return;
        }
        if Instant::now() >= deadline {
            let who = if sent { "sent" } else { "received" };
            case.fail(&format!(
                "baresip should have {who} a {method} and the 200 to it should have gone the \
                 other way (request seen: {request}, 200 seen: {ok})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_answers_a_call_and_its_audio_reaches_the_browser_peer() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("baresip-answers").await;
        let phone = start_phone(&mut case);
        case.guest().await;

        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        let offer = local_offer(&pc, &peer).await;
        case.note("the peer's offer", &offer);
        let uri = case.baresips[phone].uri();
        case.request(
            json!({"request": "call", "uri": uri}),
            Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
        )
        .await;
        case.wait_event("calling", STEP, &["hangup"]).await;
        let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
        case.take_answer(&pc, &accepted, "accepted").await;
        phone_event(&mut case, phone, "CALL_ESTABLISHED", STEP).await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }

        exchange_tones(&mut case, &peer, Arc::clone(&track)).await;

        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "a hangup of ours is reported with code 200: {hangup}"
            ));
        }
        let closed = phone_event(&mut case, phone, "CALL_CLOSED", STEP).await;
        eprintln!("baresip: {closed}");
        // baresip got the BYE and answered it.
        expect_transaction(&mut case, phone, "BYE", false).await;
        phone_heard_the_peer(&mut case, phone).await;

        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the call to baresip did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_calls_the_handle_which_accepts_and_the_phone_hangs_up() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("baresip-calls").await;
        let phone = start_phone(&mut case);
        case.guest().await;
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;

        let cardea_sip = case
            .cardea
            .listeners
            .sip_udp
            .clone()
            .expect("Cardea announces its SIP UDP listener");
        let target = format!("sip:alice@{cardea_sip}");
        if let Err(e) = case.baresips[phone].command("dial", &target).await {
            case.fail(&format!("baresip could not dial {target}: {e}"));
        }
        let incoming = case.wait_event("incomingcall", STEP, &["hangup"]).await;
        let result = &incoming["plugindata"]["data"]["result"];
        if !result["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("sip:bob@"))
            || !result["call_id"].is_string()
        {
            case.fail(&format!(
                "incomingcall names the caller (sip:bob@…) and the call_id: {incoming}"
            ));
        }
        case.accept(&pc, &peer, &incoming).await;
        case.wait_event("accepted", STEP, &["hangup"]).await;
        phone_event(&mut case, phone, "CALL_ESTABLISHED", STEP).await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }

        exchange_tones(&mut case, &peer, Arc::clone(&track)).await;

        // The phone hangs up.
        if let Err(e) = case.baresips[phone].command("hangup", "").await {
            case.fail(&format!("baresip could not hang up: {e}"));
        }
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "the phone's BYE is reported as a hangup with code 200: {hangup}"
            ));
        }
        phone_event(&mut case, phone, "CALL_CLOSED", STEP).await;
        // baresip sent the BYE and Cardea answered it.
        expect_transaction(&mut case, phone, "BYE", true).await;
        phone_heard_the_peer(&mut case, phone).await;

        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the call from baresip did not finish in time");
}
