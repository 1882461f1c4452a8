//! The SIP plugin (`janus.plugin.sip`) inside a call's dialog, driven as a Janus client would,
//! against SIPp on the SIP side and webrtc-rs (the `webrtc` crate) on the WebRTC side; the
//! requests, events and fields are Janus 1.x's (shared/reference/janus-api.md §4.2):
//!
//! - `sip_plugin_hangup_while_ringing_cancels_the_invite`: `sipp/plugin_uas_ringing_cancel.xml`
//!   answers 100 + 180 and waits; `hangup` after `ringing` → Cardea's CANCEL (the INVITE's
//!   Request-URI, branch and CSeq number, RFC 3261 §9.1) → 200 + 487 → Cardea's ACK for the 487
//!   (the INVITE's branch, §17.1.1.3); the client gets `hangup` with code 487.
//! - `sip_plugin_answers_a_hold_from_the_sip_side_with_recvonly`:
//!   `sipp/plugin_uas_hold.xml` re-INVITEs with `a=sendonly` in the answered call; Cardea's 200
//!   says `a=recvonly` (RFC 3264 §6.1) on its same audio port; ACK; the callee's BYE → `hangup`.
//! - `sip_plugin_answers_a_hold_in_an_update_with_recvonly`: the same hold in an UPDATE
//!   (RFC 3311, `sipp/plugin_uas_update_hold.xml`), answered in its 200 (no ACK).
//! - `sip_plugin_relays_dtmf_by_sip_info_both_ways`: `dtmf_info` digit 5 duration 160 → INFO
//!   `application/dtmf-relay` `Signal=5` / `Duration=160` at `sipp/plugin_uas_info_dtmf.xml`
//!   (checked by the scenario) and `dtmfsent`; the callee's INFO `Signal=7` / `Duration=250` →
//!   `dtmf` with signal "7" and duration 250.
//! - `sip_plugin_reports_rfc4733_dtmf_from_the_sip_side`: the browser offers
//!   telephone-event/8000 (PT 101), so Cardea's INVITE does; `sipp/plugin_uas_rfc2833.xml`
//!   answers it and plays SIPp's pcap of key 1 (Debian: /usr/share/sip-tester/dtmf_2833_1.pcap,
//!   280 ms); the client gets `dtmf` with signal "1" and duration 280. Skipped (with a
//!   message) when the pcap is not installed.
//!
//! Every test also checks for leaks: Cardea runs with an `admin_secret`, and the Admin API's
//! `get_status` must report `"rtp_legs": 0` once the call ended (with `"handles": 1`, the
//! handle still attached) and `"rtp_legs": 0`, `"handles": 0` after `detach`, each within 2 s
//! (`SipCase::expect_no_leaks`); while the call is up (ringing, or answered) it must count
//! the call's leg (`"rtp_legs": 1`), so that those checks are not vacuous.
//!
//! The handle registers as a guest (no REGISTER; calls out only). Each test starts its own
//! Cardea; the tests run one at a time; every SIPp run is bounded (`-timeout … -timeout_error`,
//! and a kill from here). A failure reports the session's events, the SDPs and every SIPp run's
//! exit status, SIP messages and errors (Cardea's log is printed by the harness).
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`); the RFC 4733 test plays its pcap
//! through a raw socket (root or CAP_NET_RAW).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::path::Path;
use std::time::Duration;

use cardea_tests::sipp::TRACE_SEPARATOR;
use serde_json::{json, Value};
use sip_case::{
    one_at_a_time, pcmu_dtmf_peer, pcmu_peer, wait_connected, Peer, SipCase, STEP, TEST_WITHIN,
};
use tokio::time::timeout;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

/// SIPp's pcap of key 1 as RFC 2833 telephone-events (Debian's `sip-tester`).
const DTMF_1_PCAP: &str = "/usr/share/sip-tester/dtmf_2833_1.pcap";

/// Sends `call` to `sip:bob@127.0.0.1:<port>` with the peer's offer; returns the offer.
async fn call(case: &mut SipCase, pc: &impl PeerConnection, peer: &Peer, port: u16) -> String {
    let uri = format!("sip:bob@127.0.0.1:{port}");
    case.call(pc, peer, json!({"request": "call", "uri": uri}))
        .await
}

/// `calling`, then `accepted` with a JSEP answer the peer takes, then ICE/DTLS connected.
async fn answered(case: &mut SipCase, pc: &impl PeerConnection, peer: &Peer) {
    case.wait_event("calling", STEP, &["hangup"]).await;
    let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
    let answer = case.jsep_sdp(&accepted, "answer");
    case.note("Cardea's answer (accepted)", &answer);
    if let Err(e) = pc
        .set_remote_description(RTCSessionDescription::answer(answer).expect("SDP"))
        .await
    {
        case.fail(&format!("the peer rejected the answer: {e}"));
    }
    if let Err(state) = wait_connected(peer, STEP).await {
        case.fail(&format!("ICE/DTLS did not connect: {state}"));
    }
    expect_leg_counted(case).await;
}

/// While a call is up, `get_status` counts its RTP leg: the leak checks after it are not
/// vacuous.
async fn expect_leg_counted(case: &mut SipCase) {
    let status = case.admin_status().await;
    if status["rtp_legs"] != 1 || status["handles"] != 1 {
        case.fail(&format!(
            "during the call the Admin API's get_status should count its RTP leg and its \
             handle (\"rtp_legs\": 1, \"handles\": 1): {status}"
        ));
    }
}

/// The end of every test: no error events, the call's RTP leg gone, the peer closed, the
/// handle detached and gone.
async fn finish(case: &mut SipCase, pc: &impl PeerConnection) {
    case.assert_no_errors();
    case.expect_no_leaks("after the hangup", 1).await;
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    case.detach().await;
    case.expect_no_leaks("after detach", 0).await;
}

/// One SIP message of a SIPp `-trace_msg` file, as SIPp saw it.
struct Traced<'a> {
    /// Received by SIPp (sent by Cardea), or sent by SIPp.
    received: bool,
    text: &'a str,
}

impl<'a> Traced<'a> {
    fn start_line(&self) -> &'a str {
        self.text.lines().next().unwrap_or("").trim()
    }

    /// A request of `method` (its start line `METHOD uri SIP/2.0`).
    fn is_request(&self, method: &str) -> bool {
        self.start_line()
            .strip_prefix(method)
            .is_some_and(|rest| rest.starts_with(' '))
    }

    fn is_response(&self, status: u16) -> bool {
        self.start_line().starts_with(&format!("SIP/2.0 {status} "))
    }

    fn request_uri(&self) -> &'a str {
        self.start_line().split_whitespace().nth(1).unwrap_or("")
    }

    /// The first header named `name` (or its compact form), trimmed.
    fn header(&self, name: &str, compact: Option<&str>) -> Option<&'a str> {
        self.text
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                let n = n.trim();
                (n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
                    .then(|| v.trim())
            })
    }

    /// The top Via's branch.
    fn branch(&self) -> Option<&'a str> {
        let via = self.header("Via", Some("v"))?;
        let at = via.find(";branch=")? + ";branch=".len();
        let rest = &via[at..];
        let end = rest.find([';', ',', ' ']).unwrap_or(rest.len());
        Some(&rest[..end])
    }

    /// CSeq: (number, method).
    fn cseq(&self) -> Option<(u32, &'a str)> {
        let cseq = self.header("CSeq", None)?;
        let (n, m) = cseq.split_once(' ')?;
        Some((n.trim().parse().ok()?, m.trim()))
    }

    fn body(&self) -> &'a str {
        let text = self.text;
        match text.find("\r\n\r\n") {
            Some(at) => &text[at + 4..],
            None => text.find("\n\n").map_or("", |at| &text[at + 2..]),
        }
    }
}

/// The messages of a `-trace_msg` file, in order.
fn traced(trace: &str) -> Vec<Traced<'_>> {
    trace
        .split(TRACE_SEPARATOR)
        .filter_map(|chunk| {
            let received = chunk.contains("message received");
            if !received && !chunk.contains("message sent") {
                return None;
            }
            // "<time>\nUDP message received [n] bytes :\n\n<the message>"
            let at = chunk.find("\n\n")? + 2;
            Some(Traced {
                received,
                text: chunk[at..].trim_start_matches(['\r', '\n']),
            })
        })
        .collect()
}

/// The lines `a=sendrecv|sendonly|recvonly|inactive` of an SDP.
fn directions(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .map(str::trim)
        .filter(|l| {
            matches!(
                *l,
                "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
            )
        })
        .collect()
}

/// The port of the first `m=audio` line of an SDP.
fn audio_port(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_hangup_while_ringing_cancels_the_invite() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start_with_admin("dialog-cancel").await;
        case.guest().await;
        let (callee, port) = case.spawn_sipp("callee", "plugin_uas_ringing_cancel", &[]);
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        call(&mut case, &pc, &peer, port).await;
        case.wait_event("calling", STEP, &["hangup"]).await;
        case.wait_event("ringing", STEP, &["hangup", "accepted"])
            .await;
        expect_leg_counted(&mut case).await;

        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event("hangup", STEP, &["accepted"]).await;
        let result = &hangup["plugindata"]["data"]["result"];
        if result["code"] != 487 {
            case.fail(&format!(
                "a hangup while ringing cancels the INVITE: the hangup event should carry the \
                 callee's 487 (Request Terminated): {hangup}"
            ));
        }
        // The callee got the CANCEL (answered 200 and 487) and the ACK for its 487.
        case.expect_sipp_success(callee, STEP).await;

        let trace = case.sipps[callee].messages();
        let messages = traced(&trace);
        let invite = messages
            .iter()
            .find(|m| m.received && m.is_request("INVITE"));
        let cancel = messages
            .iter()
            .find(|m| m.received && m.is_request("CANCEL"));
        let ack = messages.iter().find(|m| m.received && m.is_request("ACK"));
        let (Some(invite), Some(cancel), Some(ack)) = (invite, cancel, ack) else {
            case.fail("the callee's trace lacks the INVITE, the CANCEL or the ACK it received");
        };
        let mut problems = Vec::new();
        // RFC 3261 §9.1: the CANCEL has the INVITE's Request-URI, top Via (branch) and CSeq
        // number.
        if cancel.request_uri() != invite.request_uri() {
            problems.push(format!(
                "the CANCEL's Request-URI {} is not the INVITE's {}",
                cancel.request_uri(),
                invite.request_uri()
            ));
        }
        if cancel.branch().is_none() || cancel.branch() != invite.branch() {
            problems.push(format!(
                "the CANCEL's branch {:?} is not the INVITE's {:?}",
                cancel.branch(),
                invite.branch()
            ));
        }
        let invite_cseq = invite.cseq().map(|(n, _)| n);
        if cancel.cseq() != invite_cseq.map(|n| (n, "CANCEL")) {
            problems.push(format!(
                "the CANCEL's CSeq {:?} is not the INVITE's number with CANCEL ({invite_cseq:?})",
                cancel.cseq()
            ));
        }
        // §17.1.1.3: the ACK for a non-2xx final response is part of the INVITE transaction.
        if ack.branch().is_none() || ack.branch() != invite.branch() {
            problems.push(format!(
                "the ACK for the 487 has branch {:?}, not the INVITE's {:?}",
                ack.branch(),
                invite.branch()
            ));
        }
        if ack.cseq() != invite_cseq.map(|n| (n, "ACK")) {
            problems.push(format!(
                "the ACK for the 487 has CSeq {:?}, not the INVITE's number with ACK \
                 ({invite_cseq:?})",
                ack.cseq()
            ));
        }
        if !problems.is_empty() {
            case.fail(&format!(
                "Cardea's CANCEL / ACK are not of the INVITE's transaction: {}",
                problems.join("; ")
            ));
        }
        finish(&mut case, &pc).await;
        case.close().await;
    })
    .await
    .expect("the CANCEL test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_answers_a_hold_from_the_sip_side_with_recvonly() {
    hold_from_the_sip_side("dialog-hold", "plugin_uas_hold", "INVITE").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_answers_a_hold_in_an_update_with_recvonly() {
    hold_from_the_sip_side("dialog-update-hold", "plugin_uas_update_hold", "UPDATE").await;
}

/// The callee of `scenario` holds the answered call with `method` (a re-INVITE or an
/// UPDATE) offering a=sendonly; Cardea's 200 must say a=recvonly on its same port.
async fn hold_from_the_sip_side(name: &str, scenario: &str, method: &str) {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start_with_admin(name).await;
        case.guest().await;
        let (callee, port) = case.spawn_sipp("callee", scenario, &["-mi", "127.0.0.1"]);
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        call(&mut case, &pc, &peer, port).await;
        answered(&mut case, &pc, &peer).await;

        // 1 s after the ACK the callee re-INVITEs or UPDATEs (sendonly); 1 s after Cardea's
        // 200 it sends BYE.
        let hangup = case
            .wait_event("hangup", STEP + Duration::from_secs(5), &[])
            .await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "the callee's BYE is reported as a hangup with code 200: {hangup}"
            ));
        }
        // The scenario checked a=recvonly in Cardea's 200 and got its BYE answered.
        case.expect_sipp_success(callee, STEP).await;

        let trace = case.sipps[callee].messages();
        let messages = traced(&trace);
        let offer = messages
            .iter()
            .find(|m| m.received && m.is_request("INVITE"))
            .map(|m| m.body().to_owned());
        let reanswer = messages
            .iter()
            .find(|m| m.received && m.is_response(200) && m.cseq().is_some_and(|c| c.1 == method))
            .map(|m| m.body().to_owned());
        let (Some(offer), Some(reanswer)) = (offer, reanswer) else {
            case.fail(&format!(
                "the callee's trace lacks Cardea's INVITE or its 200 to the {method}"
            ));
        };
        case.note(
            &format!("Cardea's answer to the hold (200 to the {method})"),
            &reanswer,
        );
        if directions(&reanswer) != ["a=recvonly"] {
            case.fail(&format!(
                "Cardea's answer to an a=sendonly offer should say a=recvonly and nothing else \
                 (RFC 3264 §6.1); its directions: {:?}",
                directions(&reanswer)
            ));
        }
        if audio_port(&reanswer).is_none() || audio_port(&reanswer) != audio_port(&offer) {
            case.fail(&format!(
                "Cardea's answer to the hold should keep its audio port {:?} (from its INVITE), \
                 it has {:?}",
                audio_port(&offer),
                audio_port(&reanswer)
            ));
        }
        finish(&mut case, &pc).await;
        case.close().await;
    })
    .await
    .expect("the hold test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_relays_dtmf_by_sip_info_both_ways() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start_with_admin("dialog-info-dtmf").await;
        case.guest().await;
        let (callee, port) =
            case.spawn_sipp("callee", "plugin_uas_info_dtmf", &["-mi", "127.0.0.1"]);
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        call(&mut case, &pc, &peer, port).await;
        answered(&mut case, &pc, &peer).await;

        // (a) Ours: INFO application/dtmf-relay Signal=5 / Duration=160 (the scenario checks
        // it, answers 200).
        case.request(
            json!({"request": "dtmf_info", "digit": "5", "duration": 160}),
            None,
        )
        .await;
        case.wait_event("dtmfsent", STEP, &["hangup"]).await;

        // (b) Theirs: INFO Signal=7 / Duration=250 after the 200 to ours.
        let dtmf = case.wait_event("dtmf", STEP, &["hangup", "info"]).await;
        let result = &dtmf["plugindata"]["data"]["result"];
        if result["signal"] != "7" || result["duration"] != 250 {
            case.fail(&format!(
                "the callee's INFO Signal=7 / Duration=250 should come as `dtmf` with signal \
                 \"7\" and duration 250: {dtmf}"
            ));
        }

        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "a hangup of ours is reported with code 200: {hangup}"
            ));
        }
        // The callee checked our INFO, got the 200 to its own and the BYE.
        case.expect_sipp_success(callee, STEP).await;
        let trace = case.sipps[callee].messages();
        let info = traced(&trace)
            .iter()
            .find(|m| m.received && m.is_request("INFO"))
            .map(|m| {
                format!(
                    "Content-Type: {:?}, body {:?}",
                    m.header("Content-Type", Some("c")),
                    m.body()
                )
            });
        eprintln!("info dtmf: Cardea's INFO: {info:?}");
        finish(&mut case, &pc).await;
        case.close().await;
    })
    .await
    .expect("the INFO DTMF test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_reports_rfc4733_dtmf_from_the_sip_side() {
    if !Path::new(DTMF_1_PCAP).is_file() {
        eprintln!(
            "SKIPPED: {DTMF_1_PCAP} is not installed (Debian's sip-tester ships SIPp's RFC 2833 \
             pcaps there); the RFC 4733 DTMF test needs it"
        );
        return;
    }
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start_with_admin("dialog-rfc4733").await;
        case.guest().await;
        let (callee, port) = case.spawn_sipp("callee", "plugin_uas_rfc2833", &["-mi", "127.0.0.1"]);
        let (peer, pc, _track) = pcmu_dtmf_peer(&case.cardea).await;
        let offer = call(&mut case, &pc, &peer, port).await;
        if !offer.contains("telephone-event/8000") {
            case.fail("the peer's offer lacks telephone-event/8000 (a test problem)");
        }
        answered(&mut case, &pc, &peer).await;

        // The callee plays key 1 (280 ms) 0.5 s after the ACK.
        let dtmf = case.wait_event("dtmf", STEP, &["hangup"]).await;
        let result = &dtmf["plugindata"]["data"]["result"];
        if result["signal"] != "1" || result["duration"] != 280 {
            case.fail(&format!(
                "SIPp's RFC 2833 pcap of key 1 (end packets with duration 2240 at 8 kHz) \
                 should come as `dtmf` with signal \"1\" and duration 280: {dtmf}"
            ));
        }
        // One key press, one event (the pcap repeats its end packet three times).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let reported = case
            .events
            .drain()
            .iter()
            .filter(|e| sip_case::sip_event(e) == Some("dtmf"))
            .count();
        if reported != 1 {
            case.fail(&format!(
                "one key press (with its end packet sent three times, RFC 4733 §2.5.1.4) \
                 should give one `dtmf` event, not {reported}"
            ));
        }
        eprintln!(
            "rfc4733 dtmf: {dtmf}; the peer received {:?}",
            peer.received()
        );

        case.request(json!({"request": "hangup"}), None).await;
        let hangup: Value = case.wait_event("hangup", STEP, &[]).await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "a hangup of ours is reported with code 200: {hangup}"
            ));
        }
        case.expect_sipp_success(callee, STEP).await;
        finish(&mut case, &pc).await;
        case.close().await;
    })
    .await
    .expect("the RFC 4733 DTMF test did not finish in time");
}
