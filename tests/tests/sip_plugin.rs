//! The SIP plugin (`janus.plugin.sip`) driven as a Janus client would, against SIPp on the
//! SIP side and webrtc-rs (the `webrtc` crate, a browser stand-in that shares no code with
//! Cardea) on the WebRTC side. The requests, events and their fields are Janus 1.x's
//! (shared/reference/janus-api.md §4.2, janus-observed.md "SIP plugin").
//!
//! - `sip_plugin_registers_with_digest` / `sip_plugin_reports_the_registrars_403`: the handle
//!   registers with `sipp/plugin_registrar.xml` (401 challenge, then SIPp's `verifyauth`).
//! - `sip_plugin_call_relays_audio_to_an_echoing_callee`: a call to
//!   `sipp/plugin_uas_echo.xml` (SIPp with `-rtp_echo`); the peer's PCMU comes back.
//! - `sip_plugin_call_is_recorded_both_ways`: the same echo call recorded with `recording`
//!   (`audio` and `peer_audio`); both `.mjr` files are read and converted to WAV by
//!   janus-pp-rec (Debian's janus-tools), and the request's errors are Janus's.
//! - `sip_plugin_call_to_a_busy_callee_hangs_up_with_486`: `sipp/plugin_uas_busy.xml`.
//! - `sip_plugin_incoming_call_is_offered_accepted_and_hung_up_by_the_caller`:
//!   `sipp/plugin_uac_call.xml` calls `sip:alice@<Cardea>` after the handle registered.
//!
//! Each test starts its own Cardea (with a `sip` section and no registrar users); the tests
//! run one at a time. Every SIPp run is bounded by its own `-timeout … -timeout_error` and
//! killed when dropped. A failure reports the events of the session, the SDPs exchanged and
//! every SIPp run's exit status, SIP messages and errors (Cardea's log is printed by the
//! harness).
//!
//! The case, its report and the webrtc-rs peer are in `tests/src/sip_case.rs` (shared with
//! sip_kamailio.rs, included as a module of each test file: `webrtc` stays a dev-dependency).
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::sync::Arc;
use std::time::Duration;

use cardea_tests::mjr::{fresh_dir, pp_rec_convert, pp_rec_count, pp_rec_header};
use cardea_tests::sipp::TRACE_SEPARATOR;
use serde_json::json;
use sip_case::{
    first_line, is_error, local_answer, one_at_a_time, pcmu_peer, register_body, send_pcmu,
    wait_connected, SipCase, MIN_ECHOED, PCMU_PT, SECRET, SEND_FOR, STEP, TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_registers_with_digest() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-register").await;
        let registrar = case.register(SECRET).await;
        let registering = case.position_of("registering");
        let registered = case.position_of("registered");
        if registering.is_none() || registering > registered {
            case.fail("`registering` did not come before `registered`");
        }
        // What the registrar saw: a REGISTER without, then one with a digest, answered 200.
        let trace = case.sipps[registrar].messages();
        let registers: Vec<&str> = trace
            .split(TRACE_SEPARATOR)
            .filter(|m| first_line(m).starts_with("REGISTER "))
            .collect();
        if registers.len() < 2
            || !registers[1]
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with("authorization: digest"))
        {
            case.fail("the registrar did not get a REGISTER answering its challenge");
        }
        case.assert_no_errors();
        case.detach().await;
        case.finish_registrar(registrar).await;
        case.close().await;
    })
    .await
    .expect("the registration test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_reports_the_registrars_403() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-register-403").await;
        let (registrar, port) = case.spawn_sipp("registrar", "plugin_registrar", &[]);
        case.request(register_body(port, "wrongpw"), None).await;
        let failed = case
            .wait_event("registration_failed", STEP, &["registered"])
            .await;
        let result = &failed["plugindata"]["data"]["result"];
        if result["code"] != 403 || result["reason"] != "Forbidden" {
            case.fail(&format!(
                "registration_failed should carry the registrar's 403 Forbidden: {failed}"
            ));
        }
        // The registrar sent its 403 and is done.
        case.expect_sipp_success(registrar, STEP).await;
        case.assert_no_errors();
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the failed registration test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_call_relays_audio_to_an_echoing_callee() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-call-echo").await;
        let registrar = case.register(SECRET).await;
        let (callee, callee_port) = case.spawn_sipp(
            "callee",
            "plugin_uas_echo",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );

        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}")}),
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

        // 3 s of PCMU; SIPp echoes it, and it must come back.
        let sender = tokio::spawn(send_pcmu(Arc::clone(&track), SEND_FOR));
        let sent = sender.await.expect("the PCMU sender task");
        let settle = Instant::now() + Duration::from_secs(1);
        while peer.received().distinct() < sent && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let received = peer.received();
        eprintln!("echo call: sent {sent} PCMU packets, received {received:?}");
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
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.finish_registrar(registrar).await;
        case.close().await;
    })
    .await
    .expect("the echo call test did not finish in time");
}

/// The plugin event answering the request sent with transaction `tx`.
async fn answer_to(case: &mut SipCase, tx: &str) -> serde_json::Value {
    let deadline = Instant::now() + STEP;
    loop {
        let found = case
            .events
            .drain()
            .iter()
            .find(|e| e["transaction"] == tx && e["plugindata"].is_object())
            .cloned();
        if let Some(event) = found {
            return event;
        }
        if Instant::now() >= deadline {
            case.fail(&format!("no answer to transaction {tx}"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_call_is_recorded_both_ways() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let dir = fresh_dir("sip-call");
        let base = dir.join("call");
        let mut case = SipCase::start("plugin-call-recording").await;
        let registrar = case.register(SECRET).await;
        // Not in a call: Janus's 447.
        let tx = case
            .request(
                json!({"request": "recording", "action": "start", "audio": true}),
                None,
            )
            .await;
        let early = answer_to(&mut case, &tx).await;
        if early["plugindata"]["data"]["error_code"] != 447 {
            case.fail(&format!("recording outside a call: {early}"));
        }
        let (callee, callee_port) = case.spawn_sipp(
            "callee",
            "plugin_uas_echo",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        let from = case.events_so_far();
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}")}),
        )
        .await;
        let accepted = case
            .wait_event_from(from, "accepted", STEP, &["hangup"])
            .await;
        case.take_answer(&pc, &accepted, "accepted").await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }

        // Janus's errors: nothing to record (451), an unknown action (444); and a file in a
        // protected folder (Janus's default list) is refused with 451 too.
        for (body, code) in [
            (json!({"request": "recording", "action": "start"}), 451),
            (
                json!({"request": "recording", "action": "start", "audio": true,
                       "filename": "/tmp/../etc/cardea-call"}),
                451,
            ),
            (
                json!({"request": "recording", "action": "rewind", "audio": true}),
                444,
            ),
        ] {
            let tx = case.request(body.clone(), None).await;
            let answer = answer_to(&mut case, &tx).await;
            if answer["plugindata"]["data"]["error_code"] != code {
                case.fail(&format!("{body} was answered {answer}, not {code}"));
            }
        }
        let from = case.events_so_far();
        case.request(
            json!({
                "request": "recording", "action": "start", "audio": true, "peer_audio": true,
                "filename": base.to_str().unwrap(),
            }),
            None,
        )
        .await;
        let updated = case
            .wait_event_from(from, "recordingupdated", STEP, &["hangup"])
            .await;
        if !updated["plugindata"]["data"]["call_id"].is_string() {
            case.fail(&format!("recordingupdated carries no call_id: {updated}"));
        }
        let sent = send_pcmu(Arc::clone(&track), SEND_FOR).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let echoed = peer.received().distinct();

        // The recordings end with the call.
        let from = case.events_so_far();
        case.request(json!({"request": "hangup"}), None).await;
        case.wait_event_from(from, "hangup", STEP, &[]).await;
        case.expect_sipp_success(callee, STEP).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        for (side, at_least) in [("user", sent * 9 / 10), ("peer", echoed * 9 / 10)] {
            let path = dir.join(format!("call-{side}-audio.mjr"));
            pp_rec_header(&path, "a", "pcmu");
            let counted = pp_rec_count(&path);
            eprintln!(
                "{side}: janus-pp-rec counts {counted} packets ({sent} sent, {echoed} echoed)"
            );
            if counted < at_least.max(MIN_ECHOED) {
                case.fail(&format!(
                    "{}: {counted} packets, at least {at_least} expected",
                    path.display()
                ));
            }
            pp_rec_convert(&path, &dir.join(format!("call-{side}-audio.wav")));
        }
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.finish_registrar(registrar).await;
        case.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
    .expect("the recorded call test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_call_to_a_busy_callee_hangs_up_with_486() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-call-busy").await;
        let registrar = case.register(SECRET).await;
        let (callee, callee_port) = case.spawn_sipp("callee", "plugin_uas_busy", &[]);

        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}")}),
        )
        .await;
        let hangup = case.wait_event("hangup", STEP, &["accepted"]).await;
        let result = &hangup["plugindata"]["data"]["result"];
        if result["code"] != 486 || result["reason"] != "Busy Here" {
            case.fail(&format!(
                "the callee's 486 Busy Here is reported as the hangup's code and reason: {hangup}"
            ));
        }
        if case.position_of("calling").is_none() {
            case.fail("no `calling` event before the hangup");
        }
        // The callee got the ACK for its 486.
        case.expect_sipp_success(callee, STEP).await;
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.finish_registrar(registrar).await;
        case.close().await;
    })
    .await
    .expect("the busy call test did not finish in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_incoming_call_is_offered_accepted_and_hung_up_by_the_caller() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-incoming").await;
        let registrar = case.register(SECRET).await;
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;

        // The caller rings alice at Cardea's UDP listener.
        let (caller, _) = case.spawn_sipp(
            "caller",
            "plugin_uac_call",
            &["-s", "alice", "-rtp_echo", "-mi", "127.0.0.1"],
        );
        let incoming = case.wait_event("incomingcall", STEP, &["hangup"]).await;
        let result = &incoming["plugindata"]["data"]["result"];
        if !result["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("sip:pbx@"))
            || !result["call_id"].is_string()
        {
            case.fail(&format!(
                "incomingcall names the caller (sip:pbx@…) and the call_id: {incoming}"
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

        // The caller hangs up after 2 s.
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
            "incoming call: accepted event {}; audio echoed back {:?}",
            if case.position_of("accepted").is_some() {
                "seen"
            } else {
                "not seen"
            },
            peer.received()
        );
        // The caller got the 200 (with an SDP answer, checked by the scenario) and its BYE
        // was answered.
        case.expect_sipp_success(caller, STEP).await;
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.finish_registrar(registrar).await;
        case.close().await;
    })
    .await
    .expect("the incoming call test did not finish in time");
}

/// `subscribe` (message-summary, as a voicemail light): `subscribing`, the SUBSCRIBE with
/// Event and Expires, `subscribe_succeeded` with the server's code and expiry, the server's
/// NOTIFY answered 200 and reported as `notify` with its package, state, type and content;
/// `unsubscribe` sends the SUBSCRIBE with Expires: 0 (`unsubscribing`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_subscribes_to_message_summary_and_gets_the_notify() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-subscribe").await;
        case.guest().await;
        let (server, port) = case.spawn_sipp("voicemail", "plugin_uas_subscribe", &[]);
        case.request(
            json!({
                "request": "subscribe",
                "event": "message-summary",
                "to": format!("sip:alice@127.0.0.1:{port}"),
                "accept": "application/simple-message-summary",
                "subscribe_ttl": 600,
            }),
            None,
        )
        .await;
        case.wait_event("subscribing", STEP, &["subscribe_failed"])
            .await;
        let ok = case
            .wait_event("subscribe_succeeded", STEP, &["subscribe_failed"])
            .await;
        let result = &ok["plugindata"]["data"]["result"];
        if result["code"] != 200 || result["expires"] != 600 {
            case.fail(&format!(
                "subscribe_succeeded carries the server's 200 and Expires 600: {ok}"
            ));
        }
        let notify = case.wait_event("notify", STEP, &["subscribe_failed"]).await;
        let result = &notify["plugindata"]["data"]["result"];
        let content = result["content"].as_str().unwrap_or_default();
        if result["notify"] != "message-summary"
            || result["substate"] != "active"
            || result["content-type"] != "application/simple-message-summary"
            || !content.contains("Messages-Waiting: yes")
            || !notify["plugindata"]["data"]["call_id"].is_string()
        {
            case.fail(&format!(
                "notify names the package, the state, the content type and the summary: {notify}"
            ));
        }
        case.request(
            json!({"request": "unsubscribe", "event": "message-summary"}),
            None,
        )
        .await;
        case.wait_event("unsubscribing", STEP, &[]).await;
        case.expect_sipp_success(server, STEP).await;
        // Unsubscribing again: nothing to unsubscribe from (447, as Janus's wrong state).
        let tx = case
            .request(
                json!({"request": "unsubscribe", "event": "message-summary"}),
                None,
            )
            .await;
        let deadline = Instant::now() + STEP;
        loop {
            let error = case
                .events
                .drain()
                .iter()
                .find(|e| e["transaction"] == tx.as_str() && is_error(e))
                .cloned();
            if let Some(error) = error {
                if error["plugindata"]["data"]["error_code"] != 447 {
                    case.fail(&format!("a second unsubscribe is error 447: {error}"));
                }
                break;
            }
            if Instant::now() >= deadline {
                case.fail("a second unsubscribe got no error event");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the subscribe test did not finish in time");
}

/// A caller that requires reliable provisionals (`Require: 100rel`, RFC 3262) is not
/// refused 420: the handle's 180 goes out reliably (Require: 100rel, RSeq; checked by the
/// scenario), the caller's PRACK gets 200, and the call is answered and hung up as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_incoming_call_with_100rel_gets_a_reliable_180() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let mut case = SipCase::start("plugin-incoming-100rel").await;
        case.guest().await;
        let (peer, pc, _track) = pcmu_peer(&case.cardea).await;
        let (caller, _) = case.spawn_sipp(
            "caller",
            "plugin_uac_call_100rel",
            &["-s", "alice", "-rtp_echo", "-mi", "127.0.0.1"],
        );
        let incoming = case.wait_event("incomingcall", STEP, &["hangup"]).await;
        let offer = case.jsep_sdp(&incoming, "offer");
        let answer = match local_answer(&pc, &peer, &offer).await {
            Ok(answer) => answer,
            Err(e) => case.fail(&format!("the peer could not answer the offer: {e}")),
        };
        // Answer only once the PRACK has been answered (the scenario waits for it first).
        let deadline = Instant::now() + STEP;
        while !case.sipps[caller]
            .messages()
            .split(TRACE_SEPARATOR)
            .any(|m| m.contains("SIP/2.0 200") && m.contains("PRACK"))
        {
            if Instant::now() >= deadline {
                case.fail("the caller's PRACK got no 200");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        case.request(
            json!({"request": "accept"}),
            Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
        )
        .await;
        let hangup = case
            .wait_event("hangup", STEP + Duration::from_secs(5), &[])
            .await;
        if hangup["plugindata"]["data"]["result"]["code"] != 200 {
            case.fail(&format!(
                "the caller's BYE is a hangup with code 200: {hangup}"
            ));
        }
        case.expect_sipp_success(caller, STEP).await;
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the 100rel call test did not finish in time");
}
