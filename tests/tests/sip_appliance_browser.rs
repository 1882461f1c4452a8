//! Cardea as a SIP appliance with a browser among the phones: a carrier's call to a DID,
//! routed by the dialplan, rings both a WebRTC browser (a `janus.plugin.sip` handle
//! registered as bob with Cardea itself) and bob's SIP phone (SIPp), in parallel.
//!
//! - `trunk_call_to_a_did_rings_the_browser_and_the_phone`: the handle registers
//!   `sip:bob@cardea.test` with Cardea's own registrar (digest); `sipp/appliance_browser_phone.xml`
//!   registers bob too (digest). `sipp/appliance_browser_trunk_uac.xml`, bound to the trunk's
//!   inbound address (127.0.0.2, trusted without credentials), sends `INVITE sip:<DID>@<Cardea>`
//!   with a PCMU offer; the dialplan's rule for `trunk:carrier` and the DID's prefix says
//!   `ring: bob`, so the proxy forks the INVITE (Record-Route) to both contacts: the phone's,
//!   and the handle's, which is Cardea's own listener and comes back in to the handle. The
//!   phone rings (180); the browser gets `incomingcall` with a JSEP offer and `accept`s; the
//!   caller gets the 200 (Record-Route ;lr) and ACKs; the phone gets Cardea's CANCEL (200,
//!   487, ACK). The browser's PCMU goes to the caller, which echoes it (`-rtp_echo`), and
//!   comes back; the caller's BYE 4 s later is the browser's `hangup`.
//! - `trunk_call_to_a_did_leaves_a_call_record`: the same call, then the Admin API's
//!   `list_call_records` holds its record: `dialled` the DID, `origin` `trunk:carrier`, `rule`
//!   the rule's name, `answered` set, `end_reason` "BYE from the caller".
//!
//! Each test starts its own Cardea (`sip` section with user bob, trunk `carrier` and a
//! dialplan file written to a scratch directory); the tests run one at a time. A failure
//! reports the session's events, the SDPs and every SIPp run (Cardea's log is printed by the
//! harness as it comes). The case and the webrtc-rs peer are `tests/src/sip_case.rs`'s.
//!
//! Needs `sipp` (`apt-get install sip-tester`) and 127.0.0.2 on the loopback interface
//! (Linux routes all of 127.0.0.0/8 there).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cardea_tests::sipp::{self, TRACE_SEPARATOR};
use cardea_tests::Cardea;
use sip_case::{
    echo_pcmu, first_line, one_at_a_time, pcmu_peer, result, traced, wait_connected, Received,
    SipCase, ADMIN_SECRET, MIN_ECHOED, PCMU_PT, STEP, TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::peer_connection::PeerConnection;

/// The number the carrier dials; the rule matches its prefix and strips it to [`NUMBER`].
const DID: &str = "+15550001234";
const DID_PREFIX: &str = "+1555000";
const NUMBER: &str = "1234";
/// The dialplan rule that rings bob.
const RULE: &str = "carrier-did";
/// The caller's number (From) in `appliance_browser_trunk_uac.xml`.
const CALLER: &str = "+15557654321";
/// The trunk's inbound address, where its SIPp runs.
const TRUNK_IP: &str = "127.0.0.2";
/// bob's secret, as the handle registers him (the phone's scenario knows bob / bobpw too).
const BOB_SECRET: &str = "bobpw";
/// How long the phone may take to register.
const REGISTER_WITHIN: Duration = Duration::from_secs(5);

/// The dialplan: the carrier's DIDs ring bob.
fn dialplan() -> String {
    format!(
        "rules:\n\
         \x20 - name: {RULE}\n\
         \x20   from: trunk:carrier\n\
         \x20   to: {{ prefix: \"{DID_PREFIX}\" }}\n\
         \x20   rewrite: {{ strip: {} }}\n\
         \x20   action: {{ ring: bob }}\n",
        DID_PREFIX.len()
    )
}

/// The `sip` section: bob, the trunk `carrier` (inbound 127.0.0.2, its uri a port of
/// 127.0.0.3 nobody listens on, no probes) and the dialplan at `plan`.
fn sip_section(plan: &Path) -> String {
    format!(
        "sip:\n\
         \x20 bind: 127.0.0.1\n\
         \x20 udp_port: 0\n\
         \x20 tcp_port: 0\n\
         \x20 realm: cardea.test\n\
         \x20 users:\n\
         \x20   - username: bob\n\
         \x20     password: {BOB_SECRET}\n\
         \x20 trunks:\n\
         \x20   - name: carrier\n\
         \x20     uri: \"sip:127.0.0.3:5999\"\n\
         \x20     inbound: [{TRUNK_IP}]\n\
         \x20     probe: 0\n\
         \x20 dialplan: \"{}\"\n",
        plan.display()
    )
}

/// A Cardea with the appliance's `sip` section and the Admin API, and a SIP plugin handle.
async fn start(name: &str) -> SipCase {
    let plan_dir = sipp::scratch_dir(&format!("{name}-dialplan"));
    let plan = plan_dir.join("dialplan.yaml");
    std::fs::write(&plan, dialplan()).unwrap_or_else(|e| panic!("writing {}: {e}", plan.display()));
    // Debug level 5: the routing decisions are in the log of a failure.
    let cardea = Cardea::start_with(
        &[("admin_secret", ADMIN_SECRET), ("debug_level", "5")],
        &sip_section(&plan),
    );
    let mut case = SipCase::start_on(cardea, name).await;
    case.note("the dialplan", &dialplan());
    case
}

/// Whether the phone's trace shows the 200 for its REGISTER.
fn phone_registered(case: &SipCase, phone: usize) -> bool {
    case.sipps[phone]
        .messages()
        .split(TRACE_SEPARATOR)
        .any(|m| first_line(m).starts_with("SIP/2.0 200 ") && m.contains("REGISTER"))
}

/// What one call left to check.
struct Rung {
    /// The caller's Call-ID (SIPp's `-cid_str` for call 1).
    call_id: String,
    sent: usize,
    received: Received,
}

/// The whole call of the first test, on a case from [`start`]: the browser and the phone
/// register, the carrier calls the DID, the browser answers, audio is echoed, the phone is
/// cancelled, the caller hangs up.
async fn ring_the_did(case: &mut SipCase, name: &str) -> Rung {
    let cardea = case.sip_udp();
    // The handle registers bob (sip:bob@cardea.test) with Cardea's own registrar.
    case.register_at_cardea("bob", "cardea.test", BOB_SECRET, false)
        .await;

    // SIPp ties the forked INVITE to the phone's call by Call-ID: the phone and the caller
    // share one (Cardea's proxy keeps the caller's).
    let cid = format!("{name}-{}-%u@cardea-tests", std::process::id());
    let call_id = cid.replace("%u", "1");
    let (phone, _) = case.spawn_sipp_to(
        "phone",
        "appliance_browser_phone",
        &cardea,
        "cardea.test",
        &["-cid_str", &cid],
    );
    let deadline = Instant::now() + REGISTER_WITHIN;
    while !phone_registered(case, phone) {
        if Instant::now() >= deadline || case.sipps[phone].exited() {
            case.fail(&format!(
                "the phone's REGISTER got no 200 within {REGISTER_WITHIN:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (peer, pc, track) = pcmu_peer(&case.cardea).await;
    // The carrier: from the trunk's inbound address, no credentials.
    let (carrier, _) = case.spawn_sipp_to(
        "carrier",
        "appliance_browser_trunk_uac",
        &cardea,
        "",
        &[
            "-i",
            TRUNK_IP,
            "-mi",
            TRUNK_IP,
            "-rtp_echo",
            "-s",
            DID,
            "-cid_str",
            &cid,
        ],
    );

    let incoming = case
        .wait_event("incomingcall", STEP + Duration::from_secs(5), &["hangup"])
        .await;
    let result = result(&incoming);
    if !result["username"]
        .as_str()
        .is_some_and(|u| u.starts_with(&format!("sip:{CALLER}@{TRUNK_IP}")))
        || result["call_id"] != call_id.as_str()
    {
        case.fail(&format!(
            "incomingcall names the carrier's caller (sip:{CALLER}@{TRUNK_IP}) and the \
             caller's call_id {call_id}: {incoming}"
        ));
    }
    let callee = result["callee"].as_str().unwrap_or("").to_owned();
    if !callee.starts_with(&format!("sip:{DID}@")) {
        case.fail(&format!(
            "incomingcall's callee is the URI the carrier dialled (sip:{DID}@…, its To): \
             {incoming}"
        ));
    }
    case.accept(&pc, &peer, &incoming).await;
    if let Err(state) = wait_connected(&peer, STEP).await {
        case.fail(&format!("ICE/DTLS did not connect: {state}"));
    }

    // 3 s of PCMU while the caller talks (4 s after its ACK), echoed by it.
    let (sent, received) = echo_pcmu(&peer, Arc::clone(&track), Duration::from_millis(500)).await;

    // The caller hangs up.
    let hangup = case
        .wait_event("hangup", STEP + Duration::from_secs(5), &[])
        .await;
    if hangup["plugindata"]["data"]["result"]["code"] != 200 {
        case.fail(&format!(
            "the caller's BYE is reported as a hangup with code 200: {hangup}"
        ));
    }
    // The caller got its 200 (PCMU answer, Record-Route ;lr) and its BYE was answered; the
    // phone rang and was cancelled (200, 487, ACK).
    case.expect_sipp_success(carrier, STEP).await;
    case.expect_sipp_success(phone, STEP).await;
    let phone_trace = case.sipps[phone].messages();
    let cancels = traced(&phone_trace, "CANCEL ").len();
    let invites = traced(&phone_trace, "INVITE ").len();
    if cancels == 0 || invites == 0 {
        case.fail(&format!(
            "the phone should have been rung and cancelled: {invites} INVITE(s), {cancels} \
             CANCEL(s) in its trace"
        ));
    }
    let carrier_trace = case.sipps[carrier].messages();
    let answered: Vec<&str> = traced(&carrier_trace, "SIP/2.0 200 ")
        .into_iter()
        .filter(|m| m.contains("INVITE"))
        .collect();
    let ringing = traced(&carrier_trace, "SIP/2.0 180 ").len();
    eprintln!(
        "DID call: the caller got {ringing} 180(s) and {} 200(s) for its INVITE; the phone got \
         {invites} INVITE(s) and {cancels} CANCEL(s); the browser sent {sent} PCMU packets and \
         got back {received:?}",
        answered.len()
    );
    if received.distinct() < MIN_ECHOED {
        case.fail(&format!(
            "{} of {sent} PCMU packets came back through the caller's echo (at least \
             {MIN_ECHOED} expected): {received:?}",
            received.distinct()
        ));
    }
    if !received.payload_types.iter().all(|pt| *pt == PCMU_PT) {
        case.fail(&format!(
            "audio came back with other payload types: {received:?}"
        ));
    }
    if case.position_of("accepted").is_none() {
        eprintln!("DID call: no `accepted` event after `accept` (not required)");
    }
    case.assert_no_errors();
    if let Some(status) = case.cardea.exited() {
        case.fail(&format!("cardea exited ({status})"));
    }
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    Rung {
        call_id,
        sent,
        received,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_call_to_a_did_rings_the_browser_and_the_phone() {
    let _one_at_a_time = one_at_a_time().await;
    let started = std::time::Instant::now();
    timeout(TEST_WITHIN, async {
        let mut case = start("appliance-did").await;
        let rung = ring_the_did(&mut case, "appliance-did").await;
        eprintln!(
            "DID call {}: {} sent, {:?} echoed",
            rung.call_id, rung.sent, rung.received
        );
        case.detach().await;
        if let Some(status) = case.cardea.exited() {
            case.fail(&format!("cardea exited after detach ({status})"));
        }
        case.close().await;
    })
    .await
    .expect("the DID call test did not finish in time");
    eprintln!(
        "trunk_call_to_a_did_rings_the_browser_and_the_phone took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_call_to_a_did_leaves_a_call_record() {
    let _one_at_a_time = one_at_a_time().await;
    let started = std::time::Instant::now();
    timeout(TEST_WITHIN, async {
        let mut case = start("appliance-cdr").await;
        let rung = ring_the_did(&mut case, "appliance-cdr").await;
        let record = case.call_record(&rung.call_id).await;
        case.note("the call record", &record.to_string());
        let mut wrong = Vec::new();
        let mut expect = |field: &str, ok: bool| {
            if !ok {
                wrong.push(format!("{field} = {}", record[field]));
            }
        };
        expect("dialled", record["dialled"] == DID);
        expect("number", record["number"] == NUMBER);
        expect("origin", record["origin"] == "trunk:carrier");
        expect("rule", record["rule"] == RULE);
        expect("answered", record["answered"].is_u64());
        expect("end_reason", record["end_reason"] == "BYE from the caller");
        expect(
            "source",
            record["source"]
                .as_str()
                .is_some_and(|s| s.starts_with(&format!("udp:{TRUNK_IP}:"))),
        );
        // Both of bob's contacts were rung: the phone's and the browser's.
        expect(
            "route",
            record["route"]["ring"]
                .as_array()
                .is_some_and(|r| r.len() == 2),
        );
        if !wrong.is_empty() {
            case.fail(&format!(
                "the call record of {} is wrong in: {}; record {record}",
                rung.call_id,
                wrong.join(", ")
            ));
        }
        eprintln!("call record: {record}");
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the call record test did not finish in time");
    eprintln!(
        "trunk_call_to_a_did_leaves_a_call_record took {:?}",
        started.elapsed()
    );
}
