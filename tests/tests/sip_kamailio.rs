//! The SIP plugin (`janus.plugin.sip`) against Kamailio (Debian's 5.6, no code shared with
//! Cardea) as its registrar and record-routing proxy with digest auth, SIPp behind Kamailio,
//! and webrtc-rs as the browser. Kamailio runs `tests/kamailio/registrar-proxy.cfg` (users
//! alice / alicepw and bob / bobpw, realm kamailio.test; see the config) and logs every SIP
//! message it receives and sends, which the tests read to check what went through it.
//!
//! - `kamailio_registrar_accepts_cardeas_digest`: `register` `sip:alice@kamailio.test` with
//!   `proxy` = Kamailio → 401 → REGISTER with Authorization → 200 → `registering`,
//!   `registered` with the expires Kamailio granted (`register_ttl` 7200, Kamailio's
//!   max_expires 3600).
//! - `kamailio_registrar_rejects_a_wrong_secret`: the same with a wrong secret: Kamailio
//!   challenges the credentials again (401, as its default config does), Cardea gives up
//!   after one try and reports Kamailio's code and reason in `registration_failed`.
//! - `call_through_kamailio_reaches_an_echoing_uas`: `register` with `outbound_proxy` =
//!   Kamailio, then `call` `sip:bob@<SIPp UAS>`: the INVITE (pre-loaded Route to Kamailio) →
//!   407 → INVITE with Proxy-Authorization → Kamailio record-routes it to
//!   `sipp/kamailio_uas_echo.xml` (`-rtp_echo`) → `accepted`, the peer's PCMU comes back;
//!   `hangup` → the ACK and the BYE go through Kamailio → `hangup`.
//! - `kamailio_routes_an_incoming_call_to_the_registered_handle`: after alice registered,
//!   `sipp/kamailio_uac_call.xml` (bob, digest) calls `sip:alice@kamailio.test` at Kamailio
//!   → lookup → Cardea's Contact → `incomingcall` with a JSEP offer and `callee` = the URI
//!   dialled (the To, as Janus reports it) → `accept` → the caller's BYE through Kamailio →
//!   `hangup`.
//!
//! Each test starts its own Cardea and Kamailio (free loopback ports; Kamailio is stopped
//! when the case is dropped); the tests run one at a time. A failure reports the session's
//! events, the SDPs, every SIPp run and Kamailio's log (Cardea's log is printed by the
//! harness). The case and the webrtc-rs peer are `tests/src/sip_case.rs`'s.
//!
//! Needs `sipp` (`apt-get install sip-tester`) and `/usr/sbin/kamailio` (`apt-get install
//! kamailio`).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::sync::Arc;
use std::time::Duration;

use cardea_tests::kamailio::Dumped;
use serde_json::{json, Value};
use sip_case::{
    one_at_a_time, pcmu_peer, send_pcmu, wait_connected, SipCase, MIN_ECHOED, PCMU_PT, SEND_FOR,
    STEP, TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

/// The account alice registers at Kamailio.
const ALICE: &str = "sip:alice@kamailio.test";
const ALICE_SECRET: &str = "alicepw";
/// Kamailio's realm (the config's).
const REALM: &str = "kamailio.test";
/// The `register_ttl` of the first test: more than Kamailio's max_expires (3600).
const REGISTER_TTL: u64 = 7200;
/// How long a message may take to show in Kamailio's log after the event that needed it.
const TRACE_WITHIN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_registrar_accepts_cardeas_digest() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("kamailio-register").await;
        let kamailio = case.start_kamailio();
        let cardea = case.sip_udp();
        // More than Kamailio's max_expires (3600): it grants less.
        let mut body = register_body(kamailio, ALICE_SECRET, false);
        body["register_ttl"] = json!(REGISTER_TTL);
        let registered = case.register_with(body).await;

        // Through Kamailio: REGISTER without credentials → 401 with a digest challenge;
        // REGISTER with them → 200 listing Cardea's Contact.
        let first = expect_in_trace(&mut case, "Cardea's first REGISTER", |m| {
            !m.sent && m.from == cardea && m.is_request("REGISTER")
        })
        .await;
        if first.has_header("Authorization") {
            case.fail(&format!(
                "the first REGISTER carries credentials before any challenge:\n{}",
                first.text
            ));
        }
        expect_in_trace(&mut case, "Kamailio's 401 with a digest challenge", |m| {
            m.sent
                && m.to == cardea
                && m.is_response_to("REGISTER")
                && m.code() == Some(401)
                && m.headers("WWW-Authenticate")
                    .iter()
                    .any(|h| h.starts_with("Digest") && h.contains(&format!("realm=\"{REALM}\"")))
        })
        .await;
        let answered = expect_in_trace(&mut case, "a REGISTER with Authorization", |m| {
            !m.sent
                && m.from == cardea
                && m.is_request("REGISTER")
                && m.headers("Authorization").iter().any(|h| {
                    h.starts_with("Digest")
                        && h.contains("username=\"alice\"")
                        && h.contains(&format!("realm=\"{REALM}\""))
                })
        })
        .await;
        case.note("Cardea's REGISTER with credentials", &answered.text);
        let ok = expect_in_trace(&mut case, "Kamailio's 200 to the REGISTER", |m| {
            m.sent && m.to == cardea && m.is_response_to("REGISTER") && m.code() == Some(200)
        })
        .await;
        let contact = ok.headers("Contact").join(", ");
        if !contact.contains(&format!("sip:alice@{cardea}")) {
            case.fail(&format!(
                "Kamailio's 200 does not list a Contact at Cardea's listener ({cardea}): {contact}"
            ));
        }
        // `expires` is what Kamailio granted (the Contact's expires parameter), not what was
        // asked for: the registration is refreshed before it runs out at the registrar.
        let granted = contact
            .split(';')
            .find_map(|p| p.trim().strip_prefix("expires="))
            .and_then(|e| {
                e.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u64>()
                    .ok()
            });
        let expires = registered["plugindata"]["data"]["result"]["expires"].as_u64();
        if granted.is_none_or(|g| g >= REGISTER_TTL) || expires != granted {
            case.fail(&format!(
                "registered carries expires {expires:?}, Kamailio granted {granted:?}: \
                 {registered}"
            ));
        }
        case.assert_no_errors();
        case.detach().await;
        report_unregistration(&mut case).await;
        case.close().await;
    })
    .await
    .expect("the Kamailio registration test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_registrar_rejects_a_wrong_secret() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("kamailio-register-wrong").await;
        let kamailio = case.start_kamailio();
        let cardea = case.sip_udp();
        case.request(register_body(kamailio, "wrongpw", false), None)
            .await;
        let failed = case
            .wait_event("registration_failed", STEP, &["registered"])
            .await;
        let result = &failed["plugindata"]["data"]["result"];

        // What Kamailio answered to Cardea's last REGISTER is what the event must carry.
        let answer_to_cardea =
            |m: &Dumped| m.sent && m.to == cardea && m.is_response_to("REGISTER");
        expect_in_trace(
            &mut case,
            "Kamailio's answer to a REGISTER",
            answer_to_cardea,
        )
        .await;
        let last = kamailio_trace(&case)
            .into_iter()
            .rfind(answer_to_cardea)
            .expect("found just before");
        case.note("Kamailio's last answer to a REGISTER", &last.text);
        if result["code"].as_u64() != last.code().map(u64::from)
            || result["reason"].as_str() != last.reason()
        {
            case.fail(&format!(
                "registration_failed should carry Kamailio's `{}`: {failed}",
                last.first_line()
            ));
        }
        // Kamailio's config challenges wrong credentials again, as its default config does.
        if last.code() != Some(401) || result["reason"] != "Unauthorized" {
            case.fail(&format!(
                "Kamailio answers wrong credentials with a new 401 Unauthorized: `{}`, \
                 event {failed}",
                last.first_line()
            ));
        }
        // One REGISTER without credentials, one with; then Cardea gives up (RFC 3261 §22.1:
        // rejected credentials are not retried). Allow a second for a third to show.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let registers: Vec<Dumped> = kamailio_trace(&case)
            .into_iter()
            .filter(|m| !m.sent && m.from == cardea && m.is_request("REGISTER"))
            .collect();
        let with_credentials = registers
            .iter()
            .filter(|m| m.has_header("Authorization"))
            .count();
        if registers.len() != 2 || with_credentials != 1 {
            case.fail(&format!(
                "Kamailio got {} REGISTERs from Cardea, {with_credentials} with \
                 credentials; expected one without and one with",
                registers.len()
            ));
        }
        case.assert_no_errors();
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the Kamailio wrong-secret test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_through_kamailio_reaches_an_echoing_uas() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("kamailio-call-echo").await;
        let kamailio = case.start_kamailio();
        let cardea = case.sip_udp();
        case.register_with(register_body(kamailio, ALICE_SECRET, true))
            .await;
        let (callee, callee_port) = case.spawn_sipp(
            "callee",
            "kamailio_uas_echo",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let callee_at = format!("127.0.0.1:{callee_port}");

        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@{callee_at}")}),
        )
        .await;
        let calling = case.wait_event("calling", STEP, &["hangup"]).await;
        let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
        for event in [&calling, &accepted] {
            if !event["plugindata"]["data"]["result"]["call_id"].is_string() {
                case.fail(&format!("the event carries no call_id: {event}"));
            }
        }
        let answer = case.jsep_sdp(&accepted, "answer");
        case.note("Cardea's answer (accepted)", &answer);
        if let Err(e) = pc
            .set_remote_description(RTCSessionDescription::answer(answer.clone()).expect("SDP"))
            .await
        {
            case.fail(&format!("the peer rejected the answer: {e}"));
        }
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }

        // The INVITE went to Kamailio (the outbound proxy, as a pre-loaded Route), was
        // challenged, came back with Proxy-Authorization and was record-routed to the callee.
        let route = format!("sip:127.0.0.1:{kamailio};lr");
        let first = expect_in_trace(&mut case, "Cardea's INVITE at Kamailio", |m| {
            !m.sent && m.from == cardea && m.is_request("INVITE")
        })
        .await;
        if !first.headers("Route").iter().any(|r| r.contains(&route)) {
            case.fail(&format!(
                "the INVITE does not carry the outbound proxy as a pre-loaded Route {route}:\n{}",
                first.text
            ));
        }
        if first.has_header("Proxy-Authorization") {
            case.fail(&format!(
                "the first INVITE carries credentials before any challenge:\n{}",
                first.text
            ));
        }
        expect_in_trace(&mut case, "Kamailio's 407 to the INVITE", |m| {
            m.sent
                && m.to == cardea
                && m.is_response_to("INVITE")
                && m.code() == Some(407)
                && m.headers("Proxy-Authenticate")
                    .iter()
                    .any(|h| h.contains(&format!("realm=\"{REALM}\"")))
        })
        .await;
        expect_in_trace(&mut case, "an INVITE with Proxy-Authorization", |m| {
            !m.sent
                && m.from == cardea
                && m.is_request("INVITE")
                && m.headers("Proxy-Authorization")
                    .iter()
                    .any(|h| h.contains("username=\"alice\""))
        })
        .await;
        let relayed = expect_in_trace(&mut case, "the INVITE relayed to the callee", |m| {
            m.sent && m.to == callee_at && m.is_request("INVITE")
        })
        .await;
        case.note("the INVITE as Kamailio relayed it", &relayed.text);

        // 3 s of PCMU; SIPp echoes it, and it must come back.
        let sender = tokio::spawn(send_pcmu(Arc::clone(&track), SEND_FOR));
        let sent = sender.await.expect("the PCMU sender task");
        let settle = Instant::now() + Duration::from_secs(1);
        while peer.received().distinct() < sent && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let received = peer.received();
        eprintln!("echo call through Kamailio: sent {sent} PCMU packets, received {received:?}");
        if received.distinct() < MIN_ECHOED {
            case.fail(&format!(
                "{} of {sent} PCMU packets came back through the SIP callee's echo \
                 (at least {MIN_ECHOED} expected): {received:?}",
                received.distinct()
            ));
        }
        if !received.payload_types.iter().all(|pt| *pt == PCMU_PT) {
            case.fail(&format!(
                "audio came back with other payload types: {received:?}"
            ));
        }

        case.hang_up().await;
        // The callee got the BYE and answered it.
        case.expect_sipp_success(callee, STEP).await;
        // The ACK and the BYE followed Kamailio's Record-Route, and the 200 came back.
        for method in ["ACK", "BYE"] {
            expect_in_trace(&mut case, &format!("Cardea's {method} at Kamailio"), |m| {
                !m.sent && m.from == cardea && m.is_request(method) && m.has_header("Route")
            })
            .await;
            expect_in_trace(
                &mut case,
                &format!("the {method} relayed to the callee"),
                |m| m.sent && m.to == callee_at && m.is_request(method),
            )
            .await;
        }
        expect_in_trace(
            &mut case,
            "the callee's 200 to the BYE relayed to Cardea",
            |m| m.sent && m.to == cardea && m.is_response_to("BYE") && m.code() == Some(200),
        )
        .await;
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the call through Kamailio did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_routes_an_incoming_call_to_the_registered_handle() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("kamailio-incoming").await;
        let kamailio = case.start_kamailio();
        let cardea = case.sip_udp();
        case.register_with(register_body(kamailio, ALICE_SECRET, false))
            .await;
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;

        // bob rings alice at Kamailio, which looks her up.
        let kamailio_at = format!("127.0.0.1:{kamailio}");
        let (caller, caller_port) = case.spawn_sipp_to(
            "caller",
            "kamailio_uac_call",
            &kamailio_at,
            "alice@kamailio.test",
            &["-s", "alice", "-rtp_echo", "-mi", "127.0.0.1"],
        );
        let caller_at = format!("127.0.0.1:{caller_port}");
        let incoming = case.wait_event("incomingcall", STEP, &["hangup"]).await;
        let result = &incoming["plugindata"]["data"]["result"];
        if !result["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("sip:bob@kamailio.test"))
            || !result["call_id"].is_string()
        {
            case.fail(&format!(
                "incomingcall names the caller (sip:bob@kamailio.test) and the call_id: \
                 {incoming}"
            ));
        }
        // Janus's `callee` is the URI the caller dialled (the To, `url_as_string(sip_to)` in
        // janus_sip.c), alice's public URI, not the Contact Kamailio relayed to: checked at
        // the end, after the routing.
        let callee = result["callee"].as_str().unwrap_or("").to_owned();
        let relayed = expect_in_trace(&mut case, "the INVITE relayed to Cardea", |m| {
            m.sent && m.to == cardea && m.is_request("INVITE")
        })
        .await;
        case.note("the INVITE as Kamailio relayed it", &relayed.text);
        if !relayed
            .first_line()
            .starts_with(&format!("INVITE sip:alice@{cardea}"))
        {
            case.fail(&format!(
                "Kamailio should have sent the INVITE to alice's Contact at Cardea: `{}`",
                relayed.first_line()
            ));
        }
        case.accept(&pc, &peer, &incoming).await;

        // Audio while the call lasts (2 s of it on SIPp's side); counted, not required.
        let connected = wait_connected(&peer, Duration::from_secs(3)).await;
        let sender = match connected {
            Ok(()) => Some(tokio::spawn(send_pcmu(
                Arc::clone(&track),
                Duration::from_secs(2),
            ))),
            Err(ref state) => {
                eprintln!("incoming call: the peer did not connect ({state}); no audio sent");
                None
            }
        };

        // The caller hangs up after 2 s, through Kamailio.
        let hangup = case
            .wait_event("hangup", STEP + Duration::from_secs(5), &[])
            .await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "the caller's BYE is reported as a hangup with code 200: {hangup}"
            ));
        }
        if let Some(sender) = sender {
            sender.abort();
        }
        eprintln!(
            "incoming call through Kamailio: accepted event {}; audio echoed back {:?}",
            if case.position_of("accepted").is_some() {
                "seen"
            } else {
                "not seen"
            },
            peer.received()
        );
        // The caller got the 200 (with an SDP answer and Kamailio's Record-Route, checked by
        // the scenario) and its BYE was answered.
        case.expect_sipp_success(caller, STEP).await;
        expect_in_trace(
            &mut case,
            "Cardea's 200 to the INVITE relayed to the caller",
            |m| m.sent && m.to == caller_at && m.is_response_to("INVITE") && m.code() == Some(200),
        )
        .await;
        expect_in_trace(&mut case, "the caller's BYE relayed to Cardea", |m| {
            m.sent && m.to == cardea && m.is_request("BYE")
        })
        .await;
        case.assert_no_errors();
        if callee != ALICE {
            case.fail(&format!(
                "incomingcall's callee should be the URI bob dialled, {ALICE} (the INVITE's \
                 To), as in Janus; it is {callee:?} (the Request-URI Kamailio rewrote to \
                 alice's Contact): {incoming}"
            ));
        }
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the incoming call through Kamailio did not finish in time");
}

/// `register` alice at Kamailio on `port` (`proxy`, the REGISTER's Request-URI), with
/// `outbound_proxy` too when `outbound` (every request then goes there, with a pre-loaded
/// Route).
fn register_body(port: u16, secret: &str, outbound: bool) -> Value {
    let mut body = json!({
        "request": "register",
        "username": ALICE,
        "secret": secret,
        "proxy": format!("sip:127.0.0.1:{port}"),
    });
    if outbound {
        body["outbound_proxy"] = json!(format!("sip:127.0.0.1:{port};lr"));
    }
    body
}

/// What Kamailio received and sent so far.
fn kamailio_trace(case: &SipCase) -> Vec<Dumped> {
    case.kamailio
        .as_ref()
        .map(|k| k.messages())
        .unwrap_or_default()
}

/// The first message of Kamailio's trace matching `matches`, waiting up to [`TRACE_WITHIN`]
/// for it; fails the case, naming `what`, when none shows.
async fn expect_in_trace(
    case: &mut SipCase,
    what: &str,
    matches: impl Fn(&Dumped) -> bool,
) -> Dumped {
    let deadline = Instant::now() + TRACE_WITHIN;
    loop {
        if let Some(found) = kamailio_trace(case).into_iter().find(|m| matches(m)) {
            return found;
        }
        if Instant::now() >= deadline {
            case.fail(&format!("not in Kamailio's log: {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After the handle is gone Cardea unregisters (as Janus does): reported, not required.
async fn report_unregistration(case: &mut SipCase) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let trace = kamailio_trace(case);
        let unregister = trace.iter().position(|m| {
            !m.sent
                && m.is_request("REGISTER")
                && (m.headers("Expires").contains(&"0")
                    || m.headers("Contact").iter().any(|c| c.contains("expires=0")))
        });
        if let Some(at) = unregister {
            // Give the answers (a 401, then the 200) a moment to be logged.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let answers: Vec<String> = kamailio_trace(case)[at..]
                .iter()
                .filter(|m| m.sent && m.is_response_to("REGISTER"))
                .map(|m| m.first_line().to_owned())
                .collect();
            eprintln!("Cardea unregistered on detach; Kamailio answered {answers:?}");
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("no unregistering REGISTER reached Kamailio within 3 s (not required)");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
