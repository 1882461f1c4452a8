//! SIP plugin calls to host names (RFC 3263): `localhost` goes through the system resolver
//! to the echoing SIPp callee and the call is answered; a name that does not resolve ends
//! the call with 503 at once instead of hanging.

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::time::Duration;

use serde_json::json;
use sip_case::{one_at_a_time, pcmu_peer, SipCase, STEP, TEST_WITHIN};
use tokio::time::timeout;
use webrtc::peer_connection::PeerConnection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_host_name_is_resolved_and_answered() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("dns-localhost").await;
        case.guest().await;
        let (callee, callee_port) = case.spawn_sipp(
            "callee",
            "plugin_uas_echo",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@localhost:{callee_port}")}),
        )
        .await;
        case.wait_event("accepted", STEP, &["hangup"]).await;
        case.request(json!({"request": "hangup"}), None).await;
        case.wait_event("hangup", STEP, &[]).await;
        case.expect_sipp_success(callee, STEP).await;
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the host-name call test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_name_that_does_not_resolve_hangs_up_with_503() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("dns-nxdomain").await;
        case.guest().await;
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": "sip:bob@no-such-host.invalid"}),
        )
        .await;
        let hangup = case.wait_event("hangup", STEP, &["accepted"]).await;
        let result = &hangup["plugindata"]["data"]["result"];
        if result["code"] != 503 {
            case.fail(&format!(
                "an unresolvable callee ends the call with 503: {hangup}"
            ));
        }
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the unresolvable-name test did not finish in time");
}
