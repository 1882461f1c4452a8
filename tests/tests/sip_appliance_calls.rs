//! Cardea as a SIP appliance with a browser placing and taking calls: a `janus.plugin.sip`
//! handle registered as bob with Cardea's own registrar (digest; `proxy` and `outbound_proxy`
//! both Cardea's SIP address, as a Janus user of an appliance writes them) calls out through
//! the dialplan's trunks, and calls a local SIP phone and is called by it.
//!
//! - `a_browser_calls_out_through_a_trunk_with_failover`: the browser calls
//!   `sip:95551234@cardea.test`; its INVITE goes to Cardea's listener, through the endpoint a
//!   second time into the proxy, which challenges it (407; the plugin answers with bob's
//!   secret). The dialplan's rule `from: local, to: _9X., strip 1` sends `5551234` to the
//!   trunks `[dead, kamailio]`: `dead` (127.0.0.3, a socket of the test's that reads and
//!   never answers, `no_answer: 1`) gets the INVITE first and stays silent, so after a
//!   second the call fails over to `kamailio`, a Kamailio
//!   (`tests/kamailio/appliance-trunk.cfg`, on 127.0.0.3) that trusts Cardea by address and
//!   relays every INVITE, record-routed, to `sipp/appliance_calls_trunk_uas.xml`, which
//!   answers PCMU and echoes the RTP (`-rtp_echo`). `calling`, then `accepted` with a JSEP
//!   answer; the browser's PCMU comes back; the browser's `hangup` is a BYE that reaches the
//!   UAS through Cardea and Kamailio; the UAS saw `INVITE sip:5551234@…`; the call record
//!   names the rule, `route.trunks` `["dead","kamailio"]`, the answer time and "BYE from the
//!   caller".
//! - `a_local_baresip_phone_and_a_browser_call_each_other`: baresip (`tests/src/baresip.rs`)
//!   starts with the account `sip:alice@cardea.test` (alice / alicepw, outbound proxy Cardea,
//!   auto answer), which registers with Cardea (digest); the browser registers as bob.
//!   baresip dials `sip:bob@cardea.test` (407, then digest) → no rule matches, so Cardea
//!   rings bob, whose contact is the handle → `incomingcall` → `accept`; each side hears the
//!   other's tone (baresip says 440 Hz from a WAV file, the browser 1000 Hz); baresip hangs
//!   up → `hangup`. Then the browser calls `sip:alice@cardea.test` → Cardea rings alice's
//!   registered contact (baresip, which auto-answers) → `accepted`; tones both ways; the
//!   browser hangs up → baresip gets the BYE.
//!
//! - `a_browser_calls_the_echo_test_number`: the browser calls `sip:9196@cardea.test`; the
//!   dialplan's `echo` action makes Cardea answer the call itself (an RTP port pair from
//!   `media.rtp_port_range`) and send every packet back; the browser's PCMU comes back; its
//!   hangup ends the call, whose record counts the packets reflected.
//!
//! Each test starts its own Cardea (users alice and bob, trunks `dead` and `kamailio`, a
//! dialplan file in a scratch directory, the Admin API, debug level 5) and its peers; the
//! tests run one at a time, each bounded by [`TEST_WITHIN`]. A failure reports the session's
//! events, the SDPs, every SIPp run and baresip's log; Kamailio's log is printed when its run
//! ends without the test having passed; Cardea's log is printed by the harness.
//!
//! Needs `sipp` (`apt-get install sip-tester`), `/usr/sbin/kamailio` (`apt-get install
//! kamailio`), `baresip` (`apt-get install baresip`) and 127.0.0.3 on the loopback interface
//! (Linux routes all of 127.0.0.0/8 there).

#[path = "../src/sip_case.rs"]
mod sip_case;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardea_tests::baresip::{write_tone_wav, Registration, ToneStats};
use cardea_tests::kamailio::{Dumped, Kamailio};
use cardea_tests::sipp;
use cardea_tests::Cardea;
use serde_json::{json, Value};
use sip_case::{
    echo_pcmu, first_line, one_at_a_time, pcmu_peer, result, send_pcmu_tone, traced,
    wait_connected, Peer, Received, SipCase, ADMIN_SECRET, MIN_ECHOED, PCMU_PT, SEND_FOR, STEP,
    TEST_WITHIN,
};
use tokio::time::{timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::PeerConnection;

/// The served domain (Cardea's realm).
const DOMAIN: &str = "cardea.test";
/// bob, as the handle registers him.
const BOB: &str = "sip:bob@cardea.test";
const BOB_SECRET: &str = "bobpw";
/// alice, as baresip registers her.
const ALICE: &str = "sip:alice@cardea.test";
const ALICE_SECRET: &str = "alicepw";
/// What the browser dials, and what the trunk must get after `strip: 1`.
const DIALLED: &str = "95551234";
const NUMBER: &str = "5551234";
/// The dialplan rule that sends it to the trunks.
const RULE: &str = "outbound";
/// The echo test number (before the outbound rule, which would take it too) and its rule.
const ECHO_NUMBER: &str = "9196";
const ECHO_RULE: &str = "echo-test";
/// Where the trunks live: `dead` on a port nobody answers, `kamailio` on Kamailio.
const TRUNK_IP: &str = "127.0.0.3";
/// `dead`'s inbound address (nobody calls from it); `kamailio`'s is [`TRUNK_IP`].
const DEAD_INBOUND: &str = "127.0.0.6";
/// `dead`'s `no_answer`: how long before the call moves on to `kamailio`.
const NO_ANSWER: Duration = Duration::from_secs(1);
/// How long baresip may take to register with Cardea.
const REGISTER_WITHIN: Duration = Duration::from_secs(10);

/// The dialplan: the echo test on 9196; local users dial out with a 9, through `dead`, then
/// `kamailio`. Calls between local users match no rule (the fallback rings the dialled
/// user).
fn dialplan() -> String {
    format!(
        "rules:\n\
         \x20 - name: {ECHO_RULE}\n\
         \x20   from: local\n\
         \x20   to: \"{ECHO_NUMBER}\"\n\
         \x20   action: echo\n\
         \x20 - name: {RULE}\n\
         \x20   from: local\n\
         \x20   to: {{ pattern: \"_9X.\" }}\n\
         \x20   rewrite: {{ strip: 1 }}\n\
         \x20   action: {{ trunk: [dead, kamailio] }}\n"
    )
}

/// The `sip` section: alice and bob, the trunks `dead` (`TRUNK_IP:dead_port`, silent) and
/// `kamailio` (`TRUNK_IP:kamailio_port`), no probes, and the dialplan at `plan`.
fn sip_section(plan: &Path, dead_port: u16, kamailio_port: u16) -> String {
    format!(
        "sip:\n\
         \x20 bind: 127.0.0.1\n\
         \x20 udp_port: 0\n\
         \x20 tcp_port: 0\n\
         \x20 realm: {DOMAIN}\n\
         \x20 users:\n\
         \x20   - username: alice\n\
         \x20     password: {ALICE_SECRET}\n\
         \x20   - username: bob\n\
         \x20     password: {BOB_SECRET}\n\
         \x20 trunks:\n\
         \x20   - name: dead\n\
         \x20     uri: \"sip:{TRUNK_IP}:{dead_port}\"\n\
         \x20     inbound: [{DEAD_INBOUND}]\n\
         \x20     no_answer: {}\n\
         \x20     probe: 0\n\
         \x20   - name: kamailio\n\
         \x20     uri: \"sip:{TRUNK_IP}:{kamailio_port}\"\n\
         \x20     inbound: [{TRUNK_IP}]\n\
         \x20     probe: 0\n\
         \x20 dialplan: \"{}\"\n",
        NO_ANSWER.as_secs(),
        plan.display()
    )
}

/// The trunks' ports: (dead, kamailio), on [`TRUNK_IP`].
fn trunk_ports() -> (u16, u16) {
    let dead = sipp::free_port(None);
    (dead, sipp::free_port(Some(dead)))
}

/// A Cardea with the appliance's `sip` section, the Admin API and debug level 5 (the routing
/// decisions are in the log of a failure), and a SIP plugin handle.
async fn start(name: &str, dead_port: u16, kamailio_port: u16) -> SipCase {
    let plan_dir = sipp::scratch_dir(&format!("{name}-dialplan"));
    let plan = plan_dir.join("dialplan.yaml");
    std::fs::write(&plan, dialplan()).unwrap_or_else(|e| panic!("writing {}: {e}", plan.display()));
    let cardea = Cardea::start_with(
        &[("admin_secret", ADMIN_SECRET), ("debug_level", "5")],
        &sip_section(&plan, dead_port, kamailio_port),
    );
    let mut case = SipCase::start_on(cardea, name).await;
    case.note("the dialplan", &dialplan());
    case
}

/// The handle registers bob with Cardea's own registrar, Cardea its outbound proxy too (its
/// calls to `…@cardea.test` go there).
async fn register_the_browser(case: &mut SipCase) {
    case.register_at_cardea("bob", DOMAIN, BOB_SECRET, true)
        .await;
}

// --- The trunk: Kamailio with tests/kamailio/appliance-trunk.cfg.

/// How long a message may take to show in Kamailio's log after the event that needed it.
const TRACE_WITHIN: Duration = Duration::from_secs(3);

/// Kamailio as the trunk `kamailio`: `tests/kamailio/appliance-trunk.cfg` on
/// `TRUNK_IP:<port>`, relaying to `uas` (`sip:ip:port`) and trusting `cardea` (`ip:port`)
/// only, its run directory under `dir`, every SIP message logged (SIPDUMP, parsed as
/// [`Dumped`]). Stopped when dropped; its log is printed then unless [`Kamailio::passed`] was
/// called.
fn start_trunk(dir: &Path, port: u16, uas: &str, cardea: &str) -> Kamailio {
    let (cardea_ip, cardea_port) = cardea
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("Cardea's SIP address {cardea} is not ip:port"));
    let defines = [
        ("UAS_URI", Some(format!("\"{uas}\""))),
        ("CARDEA_IP", Some(format!("\"{cardea_ip}\""))),
        ("CARDEA_PORT", Some(cardea_port.to_owned())),
    ];
    Kamailio::start_config(dir, "appliance-trunk.cfg", TRUNK_IP, port, &defines).log_unless_passed()
}

/// The trunk `dead`: a UDP socket on `TRUNK_IP:<port>` that reads what Cardea sends and never
/// answers (so `no_answer`, not an ICMP port unreachable, moves the call on); keeps the
/// first line of each datagram. Stops reading when dropped.
struct SilentTrunk {
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl SilentTrunk {
    fn start(port: u16) -> SilentTrunk {
        let socket = UdpSocket::bind((TRUNK_IP, port))
            .unwrap_or_else(|e| panic!("binding the silent trunk on {TRUNK_IP}:{port}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let received = Arc::clone(&received);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok((n, _)) = socket.recv_from(&mut buf) {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        let line = text.lines().next().unwrap_or("").to_owned();
                        received.lock().unwrap().push(line);
                    }
                }
            });
        }
        SilentTrunk { received, stop }
    }

    /// The first line of every datagram it got so far.
    fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for SilentTrunk {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The first message of the trunk Kamailio's trace matching `matches`, waiting up to
/// [`TRACE_WITHIN`] for it; fails the case, naming `what`, when none shows.
async fn expect_in_trace(
    case: &mut SipCase,
    kamailio: &Kamailio,
    what: &str,
    matches: impl Fn(&Dumped) -> bool,
) -> Dumped {
    let deadline = Instant::now() + TRACE_WITHIN;
    loop {
        if let Some(found) = kamailio.messages().into_iter().find(|m| matches(m)) {
            return found;
        }
        if Instant::now() >= deadline {
            case.fail(&format!(
                "not in the trunk Kamailio's log (printed below): {what}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_calls_out_through_a_trunk_with_failover() {
    let _one_at_a_time = one_at_a_time().await;
    let started = std::time::Instant::now();
    timeout(TEST_WITHIN, async {
        let (dead_port, kamailio_port) = trunk_ports();
        let dead = SilentTrunk::start(dead_port);
        let mut case = start("appliance-calls-trunk", dead_port, kamailio_port).await;
        let cardea = case.sip_udp();
        let (uas, uas_port) = case.spawn_sipp(
            "far end",
            "appliance_calls_trunk_uas",
            &["-rtp_echo", "-mi", "127.0.0.1"],
        );
        let uas_at = format!("127.0.0.1:{uas_port}");
        let mut kamailio = start_trunk(&case.dir, kamailio_port, &format!("sip:{uas_at}"), &cardea);
        let kamailio_at = kamailio.address();
        register_the_browser(&mut case).await;

        // The browser dials 9 + the number.
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        let dialled_at = Instant::now();
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:{DIALLED}@{DOMAIN}")}),
        )
        .await;
        let calling = case.wait_event("calling", STEP, &["hangup"]).await;
        let call_id = match result(&calling)["call_id"].as_str() {
            Some(id) => id.to_owned(),
            None => case.fail(&format!("`calling` carries no call_id: {calling}")),
        };
        let accepted = case
            .wait_event("accepted", STEP + NO_ANSWER, &["hangup"])
            .await;
        let setup = dialled_at.elapsed();
        case.take_answer(&pc, &accepted, "accepted").await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }

        // 3 s of PCMU, echoed by the far end.
        let (sent, received) = echo_pcmu(&peer, Arc::clone(&track), Duration::from_secs(1)).await;

        // The browser hangs up.
        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if result(&hangup)["code"] != 200 {
            case.fail(&format!(
                "a hangup of ours is reported with code 200: {hangup}"
            ));
        }
        // The far end got the INVITE, answered, got the ACK and the BYE, answered that.
        case.expect_sipp_success(uas, STEP).await;
        let far_end = case.sipps[uas].messages();
        let invites = traced(&far_end, "INVITE ");
        let request_uri = invites
            .first()
            .map(|m| first_line(m).to_owned())
            .unwrap_or_default();
        if !request_uri.starts_with(&format!("INVITE sip:{NUMBER}@")) {
            case.fail(&format!(
                "the far end should get the number with the 9 stripped, INVITE \
                 sip:{NUMBER}@…; it got {request_uri:?}"
            ));
        }

        // Through Kamailio: Cardea's INVITE (no credentials: the 407 was Cardea's own, and
        // consumed) relayed to the far end; the ACK and the BYE followed the route set.
        let invite = expect_in_trace(&mut case, &kamailio, "Cardea's INVITE at Kamailio", |m| {
            !m.sent && m.from == cardea && m.is_request("INVITE")
        })
        .await;
        if !invite
            .first_line()
            .starts_with(&format!("INVITE sip:{NUMBER}@{kamailio_at}"))
            || invite.has_header("Proxy-Authorization")
        {
            case.fail(&format!(
                "Cardea should send the trunk INVITE sip:{NUMBER}@{kamailio_at} without the \
                 browser's credentials:\n{}",
                invite.text
            ));
        }
        case.note("Cardea's INVITE to the trunk", &invite.text);
        // Cardea consumes the browser's credentials (its own realm) from every request it
        // forwards: the ACK of the 2xx repeats them (RFC 3261 §13.2.2.4), and the trunk
        // must not see them either.
        let ack_credentials = traced(&far_end, "ACK ")
            .iter()
            .any(|m| m.contains("Proxy-Authorization:"));
        if ack_credentials {
            case.fail(&format!(
                "the ACK reached the far end with the browser's Proxy-Authorization (realm \
                 {DOMAIN}): Cardea must remove credentials for its own realm from in-dialog \
                 requests too"
            ));
        }
        for method in ["INVITE", "ACK", "BYE"] {
            expect_in_trace(
                &mut case,
                &kamailio,
                &format!("the {method} relayed to the far end"),
                |m| m.sent && m.to == uas_at && m.is_request(method),
            )
            .await;
        }
        for method in ["ACK", "BYE"] {
            expect_in_trace(
                &mut case,
                &kamailio,
                &format!("Cardea's {method} at Kamailio"),
                |m| !m.sent && m.from == cardea && m.is_request(method),
            )
            .await;
        }
        expect_in_trace(
            &mut case,
            &kamailio,
            "the far end's 200 to the BYE relayed to Cardea",
            |m| m.sent && m.to == cardea && m.is_response_to("BYE") && m.code() == Some(200),
        )
        .await;

        // The silent trunk was tried first, with the same number.
        let at_dead = dead.received();
        if !at_dead
            .first()
            .is_some_and(|l| l.starts_with(&format!("INVITE sip:{NUMBER}@{TRUNK_IP}:{dead_port}")))
        {
            case.fail(&format!(
                "the trunk `dead` should get the INVITE first (INVITE \
                 sip:{NUMBER}@{TRUNK_IP}:{dead_port}); it got {at_dead:?}"
            ));
        }
        eprintln!(
            "trunk call {call_id}: `accepted` {setup:?} after `call` (the dead trunk's \
             no_answer is {NO_ANSWER:?}; it got {at_dead:?}); the far end got \
             {request_uri:?}; the browser sent {sent} PCMU packets and got back {received:?}"
        );
        if setup < NO_ANSWER {
            case.fail(&format!(
                "the call was answered {setup:?} after `call`: before the dead trunk's \
                 no_answer ({NO_ANSWER:?}) ran out, so it cannot have been tried first"
            ));
        }
        if received.distinct() < MIN_ECHOED {
            case.fail(&format!(
                "{} of {sent} PCMU packets came back through the far end's echo (at least \
                 {MIN_ECHOED} expected): {received:?}",
                received.distinct()
            ));
        }
        if !received.payload_types.iter().all(|pt| *pt == PCMU_PT) {
            case.fail(&format!(
                "audio came back with other payload types: {received:?}"
            ));
        }

        // The call record.
        let record = case.call_record(&call_id).await;
        case.note("the call record", &record.to_string());
        let mut wrong = Vec::new();
        let mut expect = |field: &str, value: &Value, ok: bool| {
            if !ok {
                wrong.push(format!("{field} = {value}"));
            }
        };
        expect("rule", &record["rule"], record["rule"] == RULE);
        expect("origin", &record["origin"], record["origin"] == "user:bob");
        expect("dialled", &record["dialled"], record["dialled"] == DIALLED);
        expect("number", &record["number"], record["number"] == NUMBER);
        expect(
            "route.trunks",
            &record["route"],
            record["route"]["trunks"] == json!(["dead", "kamailio"]),
        );
        expect("answered", &record["answered"], record["answered"].is_u64());
        expect(
            "end_reason",
            &record["end_reason"],
            record["end_reason"] == "BYE from the caller",
        );
        if !wrong.is_empty() {
            case.fail(&format!(
                "the call record of {call_id} is wrong in: {}; record {record}",
                wrong.join(", ")
            ));
        }
        eprintln!("call record: {record}");

        case.assert_no_errors();
        if let Some(status) = case.cardea.exited() {
            case.fail(&format!("cardea exited ({status})"));
        }
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        kamailio.passed();
        case.close().await;
    })
    .await
    .expect("the call out through the trunks did not finish in time");
    eprintln!(
        "a_browser_calls_out_through_a_trunk_with_failover took {:?}",
        started.elapsed()
    );
}

// --- baresip as alice's phone, registered with Cardea.

/// What baresip says (its WAV file) and what the browser says.
const PHONE_TONE: f64 = 440.0;
const PEER_TONE: f64 = 1000.0;
/// The WAV file baresip plays (aufile plays it once, from the start in each call): longer
/// than any call here.
const PHONE_WAV_SECONDS: f64 = 15.0;
/// PCMU packets (20 ms each) the browser must get from the phone while it sends for 3 s.
const MIN_PACKETS: usize = 100;
/// Each side must hear at least this much of the other's tone.
const MIN_TONE_SECONDS: f64 = 1.5;

/// Waits for baresip's event `kind` number `nth` (from 1) and returns it.
async fn phone_event(
    case: &mut SipCase,
    phone: usize,
    kind: &str,
    nth: usize,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let found = case.baresips[phone]
            .events()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .nth(nth - 1);
        if let Some(event) = found {
            return event;
        }
        if Instant::now() >= deadline {
            case.fail(&format!(
                "baresip reported no {kind} (number {nth}) within {within:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Starts baresip as alice at Cardea (`sip:alice@cardea.test`, digest credentials, every
/// request through Cardea, its outbound proxy), which registers with Cardea (401, digest,
/// 200): waited for in its SIP trace, as it may register before its ctrl_tcp is connected.
async fn start_alice(case: &mut SipCase) -> usize {
    let wav = case.dir.join("phone-tone.wav");
    write_tone_wav(&wav, PHONE_TONE, PHONE_WAV_SECONDS);
    let outbound = format!("sip:{}", case.sip_udp());
    let registration = Registration {
        domain: DOMAIN,
        password: ALICE_SECRET,
        outbound: &outbound,
    };
    let phone = case.start_baresip_with("alice", &wav, Some(&registration));
    let deadline = Instant::now() + REGISTER_WITHIN;
    let registered = loop {
        let ok = case.baresips[phone]
            .messages()
            .into_iter()
            .find(|m| !m.sent && m.is_response(200, "REGISTER"));
        if let Some(ok) = ok {
            break ok;
        }
        if Instant::now() >= deadline {
            case.fail(&format!(
                "baresip ({ALICE}) got no 200 to a REGISTER from Cardea within \
                 {REGISTER_WITHIN:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    eprintln!(
        "baresip registered with Cardea: {}",
        registered.first_line()
    );
    let messages = case.baresips[phone].messages();
    let challenged = messages
        .iter()
        .any(|m| !m.sent && m.is_response(401, "REGISTER"));
    if !challenged {
        case.fail("baresip's REGISTER should have been challenged (401) before the 200");
    }
    phone
}

/// The browser sends its tone for [`SEND_FOR`], meanwhile hearing the phone: at least
/// [`MIN_PACKETS`] PCMU packets, carrying the phone's tone.
async fn exchange_tones(
    case: &mut SipCase,
    what: &str,
    peer: &Peer,
    track: Arc<TrackLocalStaticRTP>,
) -> (usize, Received, ToneStats) {
    let sent = send_pcmu_tone(track, SEND_FOR, PEER_TONE).await;
    let received = peer.received();
    let heard = ToneStats::of(&received.audio, 8000);
    eprintln!(
        "{what}: the browser sent {sent} PCMU packets of {PEER_TONE} Hz; received {} packets \
         (payload types {:?}): {heard}",
        received.packets, received.payload_types
    );
    if received.packets < MIN_PACKETS {
        case.fail(&format!(
            "{what}: the browser got {} packets from baresip in {SEND_FOR:?} (at least \
             {MIN_PACKETS} expected): {received:?}",
            received.packets
        ));
    }
    if !received.payload_types.iter().all(|pt| *pt == PCMU_PT) {
        case.fail(&format!(
            "{what}: baresip's audio reached the browser with other payload types: \
             {received:?}"
        ));
    }
    if !heard.is_tone(PHONE_TONE, MIN_TONE_SECONDS) {
        let first: Vec<i16> = received.audio.iter().take(40).copied().collect();
        case.fail(&format!(
            "{what}: the browser should hear baresip's {PHONE_TONE} Hz tone (RMS above 1000, \
             within 10 %, at least {MIN_TONE_SECONDS} s); it heard {heard}; first samples \
             {first:?}"
        ));
    }
    (sent, received, heard)
}

/// What baresip recorded hearing in its latest call (its `sndfile` dump, complete once the
/// call is closed) must be the browser's tone; `not` is an earlier call's recording.
async fn phone_heard_the_browser(
    case: &mut SipCase,
    phone: usize,
    what: &str,
    not: Option<&Path>,
) -> (PathBuf, ToneStats) {
    let (path, rate, samples) = match case.phone_recording(phone, not).await {
        Ok(recording) => recording,
        Err(e) => case.fail(&format!("{what}: {e}")),
    };
    let heard = ToneStats::of(&samples, rate);
    eprintln!("{what}: baresip heard ({}): {heard}", path.display());
    if rate != 8000 || !heard.is_tone(PEER_TONE, MIN_TONE_SECONDS) {
        case.fail(&format!(
            "{what}: baresip should hear the browser's {PEER_TONE} Hz tone (RMS above 1000, \
             within 10 %, at least {MIN_TONE_SECONDS} s) at 8000 Hz; {} holds {heard} at \
             {rate} Hz",
            path.display()
        ));
    }
    (path, heard)
}

/// baresip's SIP trace holds `count` or more requests `method` it `sent` (or received), and
/// as many 200s to them going the other way (waiting up to 2 s for them).
async fn expect_transactions(
    case: &mut SipCase,
    phone: usize,
    method: &str,
    sent: bool,
    count: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let messages = case.baresips[phone].messages();
        let requests = messages
            .iter()
            .filter(|m| m.sent == sent && m.is_request(method))
            .count();
        let oks = messages
            .iter()
            .filter(|m| m.sent != sent && m.is_response(200, method))
            .count();
        if requests >= count && oks >= count {
            return;
        }
        if Instant::now() >= deadline {
            let who = if sent { "sent" } else { "received" };
            case.fail(&format!(
                "baresip should have {who} {count} {method}(s), each answered 200 the other \
                 way (requests: {requests}, 200s: {oks})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_baresip_phone_and_a_browser_call_each_other() {
    let _one_at_a_time = one_at_a_time().await;
    let started = std::time::Instant::now();
    timeout(TEST_WITHIN, async {
        // The trunks are configured (the dialplan names them) but not used.
        let (dead_port, kamailio_port) = trunk_ports();
        let mut case = start("appliance-calls-local", dead_port, kamailio_port).await;
        let phone = start_alice(&mut case).await;
        register_the_browser(&mut case).await;

        // --- 1. baresip (alice) calls bob: the browser rings.
        let leg = "alice → bob";
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        let dialled_at = Instant::now();
        let target = format!("sip:bob@{DOMAIN}");
        if let Err(e) = case.baresips[phone].command("dial", &target).await {
            case.fail(&format!("baresip could not dial {target}: {e}"));
        }
        let incoming = case.wait_event("incomingcall", STEP, &["hangup"]).await;
        let ring_after = dialled_at.elapsed();
        if !result(&incoming)["username"]
            .as_str()
            .is_some_and(|u| u.starts_with(ALICE))
            || !result(&incoming)["call_id"].is_string()
        {
            case.fail(&format!(
                "{leg}: incomingcall names the caller ({ALICE}) and the call_id: {incoming}"
            ));
        }
        let first_call_id = result(&incoming)["call_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        case.accept(&pc, &peer, &incoming).await;
        case.wait_event("accepted", STEP, &["hangup"]).await;
        phone_event(&mut case, phone, "CALL_ESTABLISHED", 1, STEP).await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("{leg}: ICE/DTLS did not connect: {state}"));
        }
        let (sent_1, received_1, heard_1) =
            exchange_tones(&mut case, leg, &peer, Arc::clone(&track)).await;
        // baresip's INVITE was challenged by Cardea's proxy before it got through.
        let challenged = case.baresips[phone]
            .messages()
            .iter()
            .any(|m| !m.sent && m.is_response(407, "INVITE"));
        if !challenged {
            case.fail(&format!(
                "{leg}: Cardea's proxy should challenge baresip's INVITE (407) before ringing \
                 bob"
            ));
        }
        // The phone hangs up.
        if let Err(e) = case.baresips[phone].command("hangup", "").await {
            case.fail(&format!("{leg}: baresip could not hang up: {e}"));
        }
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if result(&hangup)["code"] != 200 {
            case.fail(&format!(
                "{leg}: the phone's BYE is reported as a hangup with code 200: {hangup}"
            ));
        }
        phone_event(&mut case, phone, "CALL_CLOSED", 1, STEP).await;
        expect_transactions(&mut case, phone, "BYE", true, 1).await;
        let (first_dump, phone_heard_1) =
            phone_heard_the_browser(&mut case, phone, leg, None).await;
        let _ = timeout(Duration::from_secs(3), pc.close()).await;

        // --- 2. The browser (bob) calls alice: baresip answers by itself.
        let leg = "bob → alice";
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        let from = case.events_so_far();
        let dialled_at = Instant::now();
        case.call(&pc, &peer, json!({"request": "call", "uri": ALICE}))
            .await;
        let calling = case
            .wait_event_from(from, "calling", STEP, &["hangup"])
            .await;
        let second_call_id = match result(&calling)["call_id"].as_str() {
            Some(id) => id.to_owned(),
            None => case.fail(&format!("{leg}: `calling` carries no call_id: {calling}")),
        };
        let accepted = case
            .wait_event_from(from, "accepted", STEP, &["hangup"])
            .await;
        let answer_after = dialled_at.elapsed();
        case.take_answer(&pc, &accepted, "accepted from baresip")
            .await;
        phone_event(&mut case, phone, "CALL_ESTABLISHED", 2, STEP).await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("{leg}: ICE/DTLS did not connect: {state}"));
        }
        let (sent_2, received_2, heard_2) =
            exchange_tones(&mut case, leg, &peer, Arc::clone(&track)).await;
        // The INVITE baresip got came through Cardea's proxy (Record-Route), from bob.
        let invite = case.baresips[phone]
            .messages()
            .into_iter()
            .find(|m| !m.sent && m.is_request("INVITE"));
        match invite {
            Some(invite)
                if invite
                    .text
                    .lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("from:") && l.contains(BOB))
                    && invite
                        .text
                        .lines()
                        .any(|l| l.to_ascii_lowercase().starts_with("record-route:")) =>
            {
                case.note("the INVITE baresip got", &invite.text);
            }
            other => case.fail(&format!(
                "{leg}: baresip should get an INVITE from {BOB}, record-routed by Cardea: \
                 {other:?}"
            )),
        }
        // The browser hangs up.
        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event_from(from, "hangup", STEP, &[]).await;
        if result(&hangup)["code"] != 200 {
            case.fail(&format!(
                "{leg}: a hangup of ours is reported with code 200: {hangup}"
            ));
        }
        phone_event(&mut case, phone, "CALL_CLOSED", 2, STEP).await;
        expect_transactions(&mut case, phone, "BYE", false, 1).await;
        let (_, phone_heard_2) =
            phone_heard_the_browser(&mut case, phone, leg, Some(&first_dump)).await;
        let _ = timeout(Duration::from_secs(3), pc.close()).await;

        eprintln!(
            "alice → bob ({first_call_id}): incomingcall {ring_after:?} after dial; the \
             browser sent {sent_1} PCMU packets, got {} ({heard_1}); baresip heard \
             {phone_heard_1}",
            received_1.packets
        );
        eprintln!(
            "bob → alice ({second_call_id}): accepted {answer_after:?} after call; the \
             browser sent {sent_2} PCMU packets, got {} ({heard_2}); baresip heard \
             {phone_heard_2}",
            received_2.packets
        );
        for call_id in [first_call_id, second_call_id] {
            let record = case.call_record(&call_id).await;
            eprintln!("call record: {record}");
        }
        let registrations = case.baresips[phone]
            .messages()
            .iter()
            .filter(|m| !m.sent && m.is_response(200, "REGISTER"))
            .count();
        eprintln!("baresip's REGISTERs answered 200: {registrations}");

        case.assert_no_errors();
        if let Some(status) = case.cardea.exited() {
            case.fail(&format!("cardea exited ({status})"));
        }
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the calls between baresip and the browser did not finish in time");
    eprintln!(
        "a_local_baresip_phone_and_a_browser_call_each_other took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_calls_the_echo_test_number() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, async {
        let (dead_port, kamailio_port) = trunk_ports();
        let mut case = start("appliance-calls-echo", dead_port, kamailio_port).await;
        register_the_browser(&mut case).await;
        let (peer, pc, track) = pcmu_peer(&case.cardea).await;
        case.call(
            &pc,
            &peer,
            json!({"request": "call", "uri": format!("sip:{ECHO_NUMBER}@{DOMAIN}")}),
        )
        .await;
        let calling = case.wait_event("calling", STEP, &["hangup"]).await;
        let call_id = match result(&calling)["call_id"].as_str() {
            Some(id) => id.to_owned(),
            None => case.fail(&format!("`calling` carries no call_id: {calling}")),
        };
        let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
        case.take_answer(&pc, &accepted, "accepted by the echo")
            .await;
        if let Err(state) = wait_connected(&peer, STEP).await {
            case.fail(&format!("ICE/DTLS did not connect: {state}"));
        }
        let (sent, received) = echo_pcmu(&peer, Arc::clone(&track), Duration::from_secs(1)).await;
        eprintln!("echo test: {sent} PCMU packets sent, {received:?} came back");
        if received.distinct() < MIN_ECHOED
            || !received.payload_types.iter().all(|pt| *pt == PCMU_PT)
        {
            case.fail(&format!(
                "the echo should send the browser's PCMU back (at least {MIN_ECHOED} of \
                 {sent}): {received:?}"
            ));
        }
        case.request(json!({"request": "hangup"}), None).await;
        let hangup = case.wait_event("hangup", STEP, &[]).await;
        if result(&hangup)["code"] != 200 {
            case.fail(&format!("the echo answers our BYE with 200: {hangup}"));
        }
        let record = case.call_record(&call_id).await;
        eprintln!("echo call record: {record}");
        let reflected = record["media"]["rtp_packets_in"].as_u64().unwrap_or(0);
        if record["rule"] != ECHO_RULE
            || record["route"]["echo"] != true
            || !record["answered"].is_u64()
            || record["end_reason"] != "BYE from the caller"
            || (reflected as usize) < MIN_ECHOED
        {
            case.fail(&format!(
                "the echo call's record: rule {ECHO_RULE}, route echo, answered, ended by \
                 the caller's BYE, at least {MIN_ECHOED} packets reflected: {record}"
            ));
        }
        case.assert_no_errors();
        let _ = timeout(Duration::from_secs(3), pc.close()).await;
        case.detach().await;
        case.close().await;
    })
    .await
    .expect("the echo test call did not finish in time");
}
