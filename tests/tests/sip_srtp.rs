//! SDES-SRTP toward the SIP peer (RFC 4568) through the SIP plugin's `srtp` option, against
//! SIPp on the SIP side and webrtc-rs on the WebRTC side:
//!
//! - `srtp_call_with_the_matching_key_echoes_audio`: `srtp: sdes_mandatory` offers
//!   RTP/SAVP with a key; `sipp/plugin_uas_srtp_echo.xml` answers with that same key and
//!   echoes the SRTP packets unchanged, so they decrypt and the browser gets its audio back.
//! - `srtp_call_with_a_wrong_key_delivers_nothing`: `plugin_uas_srtp_wrong_key.xml` answers
//!   with another key: every echoed packet fails SRTP authentication, none reaches the browser.
//! - `mandatory_srtp_against_a_plain_callee_fails_with_452`: a callee answering plain RTP/AVP
//!   gets no media: the client hears error 452 (Janus's "too strict") and the call ends.

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sip_case::{
    one_at_a_time, pcmu_peer, send_pcmu, wait_connected, SipCase, MIN_ECHOED, STEP, TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

/// Calls `scenario` with `srtp: sdes_mandatory`, sends 3 s of PCMU and returns how many
/// distinct packets came back.
async fn srtp_echo_call(name: &str, scenario: &str) -> (SipCase, usize, usize) {
    let mut case = SipCase::start(name).await;
    case.guest().await;
    let (callee, callee_port) =
        case.spawn_sipp("callee", scenario, &["-rtp_echo", "-mi", "127.0.0.1"]);
    let (peer, pc, track) = pcmu_peer(&case.cardea).await;
    case.call(
        &pc,
        &peer,
        json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}"),
               "srtp": "sdes_mandatory"}),
    )
    .await;
    let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
    let answer = case.jsep_sdp(&accepted, "answer");
    if let Err(e) = pc
        .set_remote_description(RTCSessionDescription::answer(answer).expect("SDP"))
        .await
    {
        case.fail(&format!("the peer rejected the answer: {e}"));
    }
    if let Err(state) = wait_connected(&peer, STEP).await {
        case.fail(&format!("ICE/DTLS did not connect: {state}"));
    }
    let sent = send_pcmu(Arc::clone(&track), Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let received = peer.received().distinct();
    case.request(json!({"request": "hangup"}), None).await;
    case.wait_event("hangup", STEP, &[]).await;
    case.expect_sipp_success(callee, STEP).await;
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    (case, sent, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_call_with_the_matching_key_echoes_audio() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let (mut case, sent, received) = srtp_echo_call("srtp-echo", "plugin_uas_srtp_echo").await;
        eprintln!("SRTP echo: sent {sent}, {received} came back");
        if received < MIN_ECHOED {
            case.fail(&format!(
                "{received} of {sent} packets came back through an SRTP echo with the \
                 offered key (at least {MIN_ECHOED} expected)"
            ));
        }
        case.assert_no_errors();
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the SRTP echo test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srtp_call_with_a_wrong_key_delivers_nothing() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let (mut case, sent, received) =
            srtp_echo_call("srtp-wrong-key", "plugin_uas_srtp_wrong_key").await;
        eprintln!("SRTP with a wrong key: sent {sent}, {received} came back");
        if received != 0 || sent < MIN_ECHOED {
            case.fail(&format!(
                "{received} of {sent} packets came back although the peer's key is wrong \
                 (none may pass SRTP authentication)"
            ));
        }
        case.assert_no_errors();
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the wrong-key test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandatory_srtp_against_a_plain_callee_fails_with_452() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("srtp-too-strict").await;
        case.guest().await;
        let (_callee, callee_port) = case.spawn_sipp(
            "callee",
            "plugin_uas_plain_answer",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}"),
                   "srtp": "sdes_mandatory"}),
        )
        .await;
        // The plain callee refuses RTP/SAVP or answers without keys: either way no media
        // flows, the client is told (452 when it answered) and the call ends.
        let deadline = Instant::now() + STEP;
        let seen: Vec<Value> = loop {
            let seen = case.events.drain().to_vec();
            let hangup = seen
                .iter()
                .any(|e| sip_case::sip_event(e) == Some("hangup"));
            if hangup || Instant::now() > deadline {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let code_452 = seen
            .iter()
            .any(|e| e["plugindata"]["data"]["error_code"] == 452);
        let hangup = seen
            .iter()
            .find(|e| sip_case::sip_event(e) == Some("hangup"))
            .cloned();
        let accepted = seen
            .iter()
            .any(|e| sip_case::sip_event(e) == Some("accepted"));
        if hangup.is_none() || accepted || !code_452 {
            case.fail(&format!(
                "an SRTP-mandatory call to a plain callee must end with error 452 and a \
                 hangup, never accepted: 452 {code_452}, accepted {accepted}, hangup {hangup:?}"
            ));
        }
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the too-strict test did not finish in time");
}
