//! SIP plugin calls to host names (RFC 3263): `localhost` goes through the system resolver
//! to the echoing SIPp callee and the call is answered; a name that does not resolve ends
//! the call with 503 at once instead of hanging; and a name with NAPTR and SRV records on a
//! real DNS server (Debian's dnsmasq on a loopback port, `sip.dns_servers`) is followed
//! NAPTR → SRV → A to the callee, over the transport and port the records name.

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::time::Duration;

use cardea_tests::Cardea;
use serde_json::json;
use sip_case::{one_at_a_time, pcmu_peer, SipCase, SIP_SECTION, STEP, TEST_WITHIN};
use tokio::time::timeout;
use webrtc::peer_connection::PeerConnection;

/// The browser calls `uri`: the echoing SIPp `callee` answers, the browser hangs up, the
/// callee's run succeeds, and no error event came.
async fn answered_and_hung_up(mut case: SipCase, callee: usize, uri: &str) {
    let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
    case.call(&pc, &peer, json!({"request": "call", "uri": uri}))
        .await;
    case.wait_event("accepted", STEP, &["hangup"]).await;
    case.request(json!({"request": "hangup"}), None).await;
    case.wait_event("hangup", STEP, &[]).await;
    case.expect_sipp_success(callee, STEP).await;
    case.assert_no_errors();
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    case.detach().await;
    case.close().await;
}

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
        let uri = format!("sip:bob@localhost:{callee_port}");
        answered_and_hung_up(case, callee, &uri).await;
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

/// dnsmasq serving `example.test`'s SIP records on 127.0.0.1:`port`, killed when dropped.
struct Dnsmasq(std::process::Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq(port: u16, callee_port: u16) -> Dnsmasq {
    let bin = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("dnsmasq is installed (apt-get install dnsmasq-base; .ci/run does)");
    let child = std::process::Command::new(bin)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--user=root",
            "--pid-file",
        ])
        .arg(format!("--port={port}"))
        // example.test: SIP over UDP (preferred to TCP), found through an SRV name that
        // only NAPTR tells (without NAPTR, _sip._udp.example.test has no record and
        // example.test no address: the call would fail) …
        .arg("--naptr-record=example.test,10,20,S,SIP+D2T,,_sip._tcp.voice.example.test")
        .arg("--naptr-record=example.test,10,10,S,SIP+D2U,,_sip._udp.voice.example.test")
        // … which points at the callee's port on callee.example.test …
        .arg(format!(
            "--srv-host=_sip._udp.voice.example.test,callee.example.test,{callee_port},0,0"
        ))
        // … which is 127.0.0.1.
        .arg("--host-record=callee.example.test,127.0.0.1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    // Let it bind.
    std::thread::sleep(Duration::from_millis(300));
    Dnsmasq(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naptr_and_srv_records_lead_a_call_to_the_callee() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let dns_port = cardea_tests::sipp::free_port(None);
        let yaml = format!("{SIP_SECTION}  dns_servers: [\"127.0.0.1:{dns_port}\"]\n");
        let mut case = SipCase::start_on(Cardea::start(&yaml), "dns-naptr").await;
        case.guest().await;
        let (callee, callee_port) = case.spawn_sipp(
            "callee",
            "plugin_uas_echo",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let _dns = dnsmasq(dns_port, callee_port);
        // No port, no transport: NAPTR first (RFC 3263 §4.1).
        answered_and_hung_up(case, callee, "sip:bob@example.test").await;
    })
    .await
    .expect("the NAPTR call test did not finish in time");
}
