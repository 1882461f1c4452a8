//! A SIP plugin call over TCP: `transport=tcp` in the callee's URI makes Cardea open a TCP
//! connection to the SIPp callee (RFC 3261 §18.1.1), with a TCP Via, and the dialog's
//! requests and responses travel on it; the media is the same as over UDP.

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::time::Duration;

use cardea_tests::sipp::{Transport, TRACE_SEPARATOR};
use serde_json::json;
use sip_case::{first_line, local_offer, one_at_a_time, pcmu_peer, SipCase, STEP, TEST_WITHIN};
use tokio::time::timeout;
use webrtc::peer_connection::PeerConnection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tcp_opens_a_connection_and_keeps_the_dialog_on_it() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-tcp").await;
        case.guest().await;
        let target = cardea_tests::sipp::sip_listener(&case.cardea, Transport::Tcp);
        let (callee, port) = case.spawn_sipp_over(
            "callee",
            "plugin_uas_echo",
            Transport::Tcp,
            &target,
            "",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        let offer = local_offer(&pc, &peer).await;
        case.request(
            json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{port};transport=tcp")}),
            Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
        )
        .await;
        case.wait_event("accepted", STEP, &["hangup"]).await;
        case.request(json!({"request": "hangup"}), None).await;
        case.wait_event("hangup", STEP, &[]).await;
        case.expect_sipp_success(callee, STEP).await;
        let trace = case.sipps[callee].messages();
        let invite = trace
            .split(TRACE_SEPARATOR)
            .find(|m| first_line(m).starts_with("INVITE "))
            .unwrap_or_default()
            .to_owned();
        if !invite.contains("Via: SIP/2.0/TCP ") {
            case.fail(&format!(
                "the INVITE over TCP names TCP in its Via:\n{invite}"
            ));
        }
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the TCP call test did not finish in time");
}
