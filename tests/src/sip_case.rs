//! What the SIP plugin tests share (`sip_plugin.rs`, `sip_kamailio.rs`): one case = a Cardea
//! with a `sip` section and no registrar users, a `janus.plugin.sip` handle and its session's
//! events, the SIPp runs (and the Kamailio, if any) started for it, and a report of all of
//! them when something fails; and the browser stand-in: a webrtc-rs (`webrtc` crate) peer
//! sending PCMU and counting what comes back.
//!
//! Not a module of the `cardea-tests` library: it needs `webrtc`, a dev-dependency (making it
//! a normal one would build it into `bench`, which depends on the library). Each test file
//! includes it with `#[path = "../src/sip_case.rs"] mod sip_case;`, and uses part of it.
#![allow(dead_code)]
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cardea_tests::baresip::{read_wav, ulaw_decode, ulaw_encode, Baresip, Registration};
use cardea_tests::kamailio::Kamailio;
use cardea_tests::sipp::{self, Sipp, SippArgs, Transport, TRACE_SEPARATOR};
use cardea_tests::{transaction, Cardea, EventStream, JanusHttp};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_PCMU, MIME_TYPE_TELEPHONE_EVENT,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

pub const PLUGIN: &str = "janus.plugin.sip";
/// Cardea's shared SIP stack on free loopback ports; no registrar users (the handle registers
/// with SIPp, not with Cardea).
pub const SIP_SECTION: &str = "\
sip:
  bind: 127.0.0.1
  udp_port: 0
  tcp_port: 0
  realm: cardea.test
";
/// The account the handle registers (the registrar scenario knows alice / alicepw).
pub const USERNAME: &str = "sip:alice@127.0.0.1";
pub const SECRET: &str = "alicepw";
/// Bound on each wait for an event or a connection step.
pub const STEP: Duration = Duration::from_secs(10);
/// SIPp's own bounds on a run and on each expected message without a timeout of its own.
pub const SIPP_TIMEOUT: &str = "45s";
pub const SIPP_RECV_TIMEOUT: &str = "20s";
/// The kill from here, should SIPp itself hang.
pub const SIPP_KILL_AFTER: Duration = Duration::from_secs(55);
/// Bound on a whole test, once it holds the SIPp lock.
pub const TEST_WITHIN: Duration = Duration::from_secs(90);
/// PCMU as webrtc-rs registers it by default: static payload type 0.
pub const PCMU_PT: u8 = 0;
pub const AUDIO_SSRC: u32 = 0x5151_5151;
/// How long the peer sends PCMU (20 ms packets, 50 a second) in the echo call.
pub const SEND_FOR: Duration = Duration::from_secs(3);
/// Echoed packets the echo call must get back.
pub const MIN_ECHOED: usize = 50;
/// How much received PCMU the peer keeps decoded ([`Received::audio`]): 10 s at 8 kHz.
pub const MAX_AUDIO_SAMPLES: usize = 80_000;

/// The Admin API secret of [`SipCase::start_with_admin`].
pub const ADMIN_SECRET: &str = "cardea-tests-admin";
/// How long [`SipCase::expect_no_leaks`] waits for the counts to come down.
pub const LEAK_CHECK_WITHIN: Duration = Duration::from_secs(2);

/// The tests of a file run one at a time: each starts SIPp processes and a Cardea (and
/// Kamailio), and waits on their timing. (An async lock: it is held across awaits. Other test
/// binaries run after this one, so [`sipp::one_at_a_time`] is not needed on top.)
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The `register` request for alice with `secret`, at the registrar SIPp on `port`.
pub fn register_body(port: u16, secret: &str) -> Value {
    json!({
        "request": "register",
        "username": USERNAME,
        "secret": secret,
        "proxy": format!("sip:127.0.0.1:{port}"),
    })
}

/// The first line of one message of a `-trace_msg` file.
pub fn first_line(message: &str) -> &str {
    message
        .lines()
        .find(|l| l.starts_with("SIP/2.0 ") || l.contains(" sip:"))
        .unwrap_or("")
}

/// The messages of a `-trace_msg` file whose first line starts with `start`.
pub fn traced<'a>(trace: &'a str, start: &str) -> Vec<&'a str> {
    trace
        .split(TRACE_SEPARATOR)
        .filter(|m| first_line(m).starts_with(start))
        .collect()
}

/// The `result` of a SIP plugin event.
pub fn result(event: &Value) -> &Value {
    &event["plugindata"]["data"]["result"]
}

/// The `result.event` of a SIP plugin event.
pub fn sip_event(event: &Value) -> Option<&str> {
    (event["plugindata"]["plugin"] == PLUGIN)
        .then(|| event["plugindata"]["data"]["result"]["event"].as_str())
        .flatten()
}

/// A Janus error, or a plugin event carrying `error` / `error_code`.
pub fn is_error(event: &Value) -> bool {
    event["janus"] == "error"
        || event["plugindata"]["data"]["error"].is_string()
        || event["plugindata"]["data"]["error_code"].is_number()
}

/// One test: a Cardea, a SIP plugin handle and its session's events, the SIPp runs and the
/// Kamailio started for it (their files in `dir`), and notes (SDPs) for the report of a
/// failure.
pub struct SipCase {
    pub cardea: Cardea,
    pub janus: JanusHttp,
    pub session: u64,
    pub handle: u64,
    pub events: EventStream,
    pub dir: PathBuf,
    pub sipps: Vec<Sipp>,
    pub last_port: Option<u16>,
    pub notes: Vec<String>,
    /// Started by [`SipCase::start_kamailio`].
    pub kamailio: Option<Kamailio>,
    /// Started by [`SipCase::start_baresip`].
    pub baresips: Vec<Baresip>,
}

impl SipCase {
    pub async fn start(name: &str) -> SipCase {
        SipCase::start_on(Cardea::start(SIP_SECTION), name).await
    }

    /// [`SipCase::start`] with the Admin API open under [`ADMIN_SECRET`], for
    /// [`SipCase::expect_no_leaks`].
    pub async fn start_with_admin(name: &str) -> SipCase {
        let cardea = Cardea::start_with(&[("admin_secret", ADMIN_SECRET)], SIP_SECTION);
        SipCase::start_on(cardea, name).await
    }

    /// A case on a Cardea started by the caller (with a `sip` section).
    pub async fn start_on(cardea: Cardea, name: &str) -> SipCase {
        let janus = cardea.janus();
        let session = janus.create().await;
        let handle = janus.attach(session, PLUGIN).await;
        let events = janus.events(session);
        SipCase {
            cardea,
            janus,
            session,
            handle,
            events,
            dir: sipp::scratch_dir(name),
            sipps: Vec::new(),
            last_port: None,
            notes: Vec::new(),
            kamailio: None,
            baresips: Vec::new(),
        }
    }

    /// Starts `sipp/<scenario>.xml` over UDP toward Cardea's SIP listener (UAS scenarios
    /// ignore the target and answer where requests came from); returns its index in
    /// `sipps` and its SIP port.
    pub fn spawn_sipp(
        &mut self,
        role: &'static str,
        scenario: &str,
        extra: &[&str],
    ) -> (usize, u16) {
        let target = sipp::sip_listener(&self.cardea, Transport::Udp);
        self.spawn_sipp_to(role, scenario, &target, "", extra)
    }

    /// Starts `sipp/<scenario>.xml` over UDP toward `target` (`ip:port`), with `-auth_uri
    /// auth_uri` unless empty; returns its index in `sipps` and its SIP port.
    pub fn spawn_sipp_to(
        &mut self,
        role: &'static str,
        scenario: &str,
        target: &str,
        auth_uri: &str,
        extra: &[&str],
    ) -> (usize, u16) {
        self.spawn_sipp_over(role, scenario, Transport::Udp, target, auth_uri, extra)
    }

    /// Like [`SipCase::spawn_sipp_to`], over `transport`.
    pub fn spawn_sipp_over(
        &mut self,
        role: &'static str,
        scenario: &str,
        transport: Transport,
        target: &str,
        auth_uri: &str,
        extra: &[&str],
    ) -> (usize, u16) {
        let port = sipp::free_port(self.last_port);
        self.last_port = Some(port);
        let sipp = SippArgs {
            role,
            scenario,
            dir: &self.dir,
            transport,
            port,
            // Empty for the registrar: verifyauth must take the digest uri from the
            // Authorization header.
            auth_uri,
            call_id: None,
            no_default_bye: true,
            timeout: SIPP_TIMEOUT,
            recv_timeout: SIPP_RECV_TIMEOUT,
            kill_after: SIPP_KILL_AFTER,
            target,
        }
        .spawn_with(extra);
        self.sipps.push(sipp);
        // Let it bind before anything is sent to it.
        std::thread::sleep(Duration::from_millis(300));
        (self.sipps.len() - 1, port)
    }

    /// Sends `call` (`body`: the uri and any options) with the peer's offer, noted for the
    /// failure report; returns the offer.
    pub async fn call(
        &mut self,
        pc: &impl webrtc::peer_connection::PeerConnection,
        peer: &Peer,
        body: Value,
    ) -> String {
        let offer = local_offer(pc, peer).await;
        self.note("the peer's offer", &offer);
        self.request(
            body,
            Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
        )
        .await;
        offer
    }

    /// Accepts the call of `incoming` (an `incomingcall`) with the peer's answer to its offer,
    /// both noted for the failure report; fails the case when the peer cannot answer.
    pub async fn accept(&mut self, pc: &impl PeerConnection, peer: &Peer, incoming: &Value) {
        let offer = self.jsep_sdp(incoming, "offer");
        self.note("Cardea's offer (incomingcall)", &offer);
        let answer = match local_answer(pc, peer, &offer).await {
            Ok(answer) => answer,
            Err(e) => self.fail(&format!("the peer could not answer the offer: {e}")),
        };
        self.note("the peer's answer", &answer);
        self.request(
            json!({"request": "accept"}),
            Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
        )
        .await;
    }

    /// Sets the JSEP answer of `accepted` (an `accepted` event; noted for the failure report as
    /// Cardea's answer `from`) as the peer's remote description; fails the case when the peer
    /// rejects it.
    pub async fn take_answer(&mut self, pc: &impl PeerConnection, accepted: &Value, from: &str) {
        let answer = self.jsep_sdp(accepted, "answer");
        self.note(&format!("Cardea's answer ({from})"), &answer);
        if let Err(e) = pc
            .set_remote_description(RTCSessionDescription::answer(answer).expect("SDP"))
            .await
        {
            self.fail(&format!("the peer rejected the answer: {e}"));
        }
    }

    /// A guest account for alice: no REGISTER, but the user is bound, so INVITEs for alice
    /// at Cardea reach the handle. `registered` must say username alice, register_sent false.
    pub async fn guest(&mut self) {
        self.request(
            json!({"request": "register", "type": "guest", "username": USERNAME}),
            None,
        )
        .await;
        let registered = self
            .wait_event("registered", STEP, &["registration_failed"])
            .await;
        let result = &registered["plugindata"]["data"]["result"];
        if result["username"] != "alice" || result["register_sent"] != false {
            self.fail(&format!(
                "a guest is `registered` with username \"alice\" and register_sent false: \
                 {registered}"
            ));
        }
    }

    /// Starts the registrar and registers alice with `secret`: `registering`, then
    /// `registered` with username alice and register_sent true. Returns the registrar.
    pub async fn register(&mut self, secret: &str) -> usize {
        let (registrar, port) = self.spawn_sipp("registrar", "plugin_registrar", &[]);
        self.register_with(register_body(port, secret)).await;
        registrar
    }

    /// Sends `register` (the account of user alice): `registering`, then `registered` with
    /// username alice and register_sent true, which is returned.
    pub async fn register_with(&mut self, body: Value) -> Value {
        self.request(body, None).await;
        self.wait_event("registering", STEP, &["registration_failed"])
            .await;
        let registered = self
            .wait_event("registered", STEP, &["registration_failed"])
            .await;
        let result = &registered["plugindata"]["data"]["result"];
        if result["username"] != "alice" || result["register_sent"] != true {
            self.fail(&format!(
                "registered carries username \"alice\" and register_sent true: {registered}"
            ));
        }
        registered
    }

    /// Cardea's SIP UDP listener, `ip:port`: where its SIP comes from.
    pub fn sip_udp(&self) -> String {
        sipp::sip_listener(&self.cardea, Transport::Udp)
    }

    /// The handle registers `user` (`sip:<user>@<domain>`) with Cardea's own registrar
    /// (`secret`), Cardea its outbound proxy too when `outbound_proxy` (its calls to
    /// `…@<domain>` go there): `registering`, then `registered` with username `user` and
    /// register_sent true. `proxy` is Cardea's SIP address, as a Janus user writes a PBX's: the
    /// registrar takes a Request-URI naming its own listener as its domain's.
    pub async fn register_at_cardea(
        &mut self,
        user: &str,
        domain: &str,
        secret: &str,
        outbound_proxy: bool,
    ) {
        let cardea = self.sip_udp();
        let mut body = json!({
            "request": "register",
            "username": format!("sip:{user}@{domain}"),
            "secret": secret,
            "proxy": format!("sip:{cardea}"),
        });
        if outbound_proxy {
            body["outbound_proxy"] = json!(format!("sip:{cardea};lr"));
        }
        self.request(body, None).await;
        self.wait_event("registering", STEP, &["registration_failed"])
            .await;
        let registered = self
            .wait_event("registered", STEP, &["registration_failed"])
            .await;
        let result = result(&registered);
        if result["username"] != user || result["register_sent"] != true {
            self.fail(&format!(
                "registered carries username \"{user}\" and register_sent true: {registered}"
            ));
        }
    }

    /// Starts Kamailio (`tests/kamailio/registrar-proxy.cfg`) on a free port; returns the port.
    pub fn start_kamailio(&mut self) -> u16 {
        let kamailio = Kamailio::start(&self.dir, self.last_port);
        let port = kamailio.port;
        self.last_port = Some(port);
        self.kamailio = Some(kamailio);
        port
    }

    /// Starts baresip as `user` (auto-answering, saying `wav`) on free ports, its files in the
    /// case's directory; returns its index in `baresips`.
    pub fn start_baresip(&mut self, user: &str, wav: &std::path::Path) -> usize {
        self.start_baresip_with(user, wav, None)
    }

    /// [`SipCase::start_baresip`], with the account `registration` when there is one.
    pub fn start_baresip_with(
        &mut self,
        user: &str,
        wav: &std::path::Path,
        registration: Option<&Registration>,
    ) -> usize {
        let not: Vec<u16> = self.last_port.into_iter().collect();
        let baresip = Baresip::start_with(&self.dir, user, wav, &not, registration);
        self.last_port = Some(baresip.sip_port);
        self.baresips.push(baresip);
        self.baresips.len() - 1
    }

    /// What baresip `phone` recorded hearing in its latest call (its `sndfile` dump of the
    /// decoded audio, complete once the call is closed), `not` being an earlier call's
    /// recording: waits up to 2 s for it, then 300 ms for it to be complete, and returns its
    /// path, sample rate and samples. `Err` says what is missing.
    pub async fn phone_recording(
        &mut self,
        phone: usize,
        not: Option<&std::path::Path>,
    ) -> Result<(PathBuf, u32, Vec<i16>), String> {
        let deadline = Instant::now() + Duration::from_secs(2);
        let path: PathBuf = loop {
            if let Some(path) = self.baresips[phone].heard() {
                if Some(path.as_path()) != not {
                    break path;
                }
            }
            if Instant::now() >= deadline {
                return Err("baresip recorded nothing it heard (no new dump-…-dec.wav)".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (rate, samples) =
            read_wav(&path).map_err(|e| format!("reading baresip's recording: {e}"))?;
        Ok((path, rate, samples))
    }

    /// Sends a `message` to the handle; the SIP plugin acks every request and answers with
    /// events.
    pub async fn request(&mut self, body: Value, jsep: Option<Value>) -> String {
        let tx = transaction();
        let reply = self
            .janus
            .message(self.session, self.handle, &tx, body.clone(), jsep)
            .await;
        if reply["janus"] != "ack" {
            self.fail(&format!(
                "the request {body} was answered {reply}; the SIP plugin acks every request \
                 and answers with events"
            ));
        }
        tx
    }

    /// Hangs up the call (`hangup`): the `hangup` event must report 200 and a reason.
    pub async fn hang_up(&mut self) -> Value {
        self.request(json!({"request": "hangup"}), None).await;
        let hangup = self.wait_event("hangup", STEP, &[]).await;
        let result = &hangup["plugindata"]["data"]["result"];
        if result["code"] != 200 || result["reason"].as_str().is_none_or(str::is_empty) {
            self.fail(&format!(
                "a hangup of ours is reported with code 200 and a reason: {hangup}"
            ));
        }
        hangup
    }

    /// The first SIP plugin event named `name`; fails when an error event or an event named
    /// in `fail_on` comes first, or nothing within `within`.
    pub async fn wait_event(&mut self, name: &str, within: Duration, fail_on: &[&str]) -> Value {
        self.wait_event_from(0, name, within, fail_on).await
    }

    /// How many events the session has received so far: a later call's events are those from
    /// this index on (for [`SipCase::wait_event_from`]).
    pub fn events_so_far(&mut self) -> usize {
        self.events.drain().len()
    }

    /// [`SipCase::wait_event`] over the events from index `from` on (an earlier call's events
    /// left out).
    pub async fn wait_event_from(
        &mut self,
        from: usize,
        name: &str,
        within: Duration,
        fail_on: &[&str],
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.events.drain().get(from..).unwrap_or_default();
            if let Some(event) = seen.iter().find(|e| sip_event(e) == Some(name)) {
                return event.clone();
            }
            let bad = seen
                .iter()
                .find(|e| is_error(e) || sip_event(e).is_some_and(|n| fail_on.contains(&n)))
                .cloned();
            if let Some(bad) = bad {
                self.fail(&format!("waiting for `{name}`, this came instead: {bad}"));
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no `{name}` event within {within:?}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Where the first SIP plugin event named `name` is among the events received so far.
    pub fn position_of(&mut self, name: &str) -> Option<usize> {
        self.events
            .drain()
            .iter()
            .position(|e| sip_event(e) == Some(name))
    }

    /// The SDP of `event`'s JSEP, which must be of `kind` (offer, answer).
    pub fn jsep_sdp(&mut self, event: &Value, kind: &str) -> String {
        match (
            event["jsep"]["type"].as_str(),
            event["jsep"]["sdp"].as_str(),
        ) {
            (Some(k), Some(sdp)) if k == kind => sdp.to_owned(),
            _ => self.fail(&format!("the event should carry a JSEP {kind}: {event}")),
        }
    }

    pub fn note(&mut self, what: &str, text: &str) {
        self.notes.push(format!("--- {what}:\n{text}"));
    }

    pub fn assert_no_errors(&mut self) {
        let errors: Vec<Value> = self
            .events
            .drain()
            .iter()
            .filter(|e| is_error(e))
            .cloned()
            .collect();
        if !errors.is_empty() {
            self.fail(&format!("error events arrived: {errors:?}"));
        }
    }

    /// Waits up to `within` for SIPp `index` to exit; `true` once it has (its status kept).
    pub async fn sipp_exited(&mut self, index: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.sipps[index].exited() {
                // Returns at once: the process is gone.
                self.sipps[index].wait();
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIPp `index` must exit 0 within `within`.
    pub async fn expect_sipp_success(&mut self, index: usize, within: Duration) {
        if !self.sipp_exited(index, within).await {
            let scenario = self.sipps[index].scenario().to_owned();
            self.fail(&format!("SIPp ({scenario}) still runs {within:?} later"));
        }
        if !self.sipps[index].succeeded() {
            let scenario = self.sipps[index].scenario().to_owned();
            self.fail(&format!("SIPp ({scenario}) failed"));
        }
    }

    /// After the handle is gone: the registrar may get an unregistering REGISTER (Janus sends
    /// one); when it has finished within 3 s it must have succeeded. Otherwise it is left to
    /// be killed (an unregistration is not required).
    pub async fn finish_registrar(&mut self, registrar: usize) {
        if self.sipp_exited(registrar, Duration::from_secs(3)).await {
            if !self.sipps[registrar].succeeded() {
                self.fail("the registrar SIPp failed");
            }
        } else {
            eprintln!("no unregistering REGISTER reached the registrar within 3 s (not required)");
        }
    }

    /// `detach` answers success and a `detached` event follows.
    pub async fn detach(&mut self) {
        let reply = self
            .janus
            .handle_request(self.session, self.handle, "detach")
            .await;
        if reply["janus"] != "success" {
            self.fail(&format!("detach answered {reply}"));
        }
        let deadline = Instant::now() + STEP;
        while !self.events.drain().iter().any(|e| e["janus"] == "detached") {
            if Instant::now() >= deadline {
                self.fail("no `detached` event after detach");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The Admin API's `get_status` (the case must have been started with
    /// [`SipCase::start_with_admin`]): its `status` object.
    /// The Admin API's answer to `verb` (with [`ADMIN_SECRET`]), which must be a success
    /// carrying `field`.
    async fn admin(&mut self, verb: &str, field: &str) -> Value {
        let admin = JanusHttp::new(format!("http://{}/admin", self.cardea.listeners.admin_http));
        let reply = admin
            .post("", json!({"janus": verb, "admin_secret": ADMIN_SECRET}))
            .await;
        if reply["janus"] != "success" || reply[field].is_null() {
            self.fail(&format!(
                "the Admin API's {verb} (admin_secret {ADMIN_SECRET:?}) should answer success \
                 with {field}: {reply}"
            ));
        }
        reply
    }

    pub async fn admin_status(&mut self) -> Value {
        let reply = self.admin("get_status", "status").await;
        if !reply["status"].is_object() {
            self.fail(&format!(
                "the Admin API's get_status (admin_secret {ADMIN_SECRET:?}) answered {reply}"
            ));
        }
        reply["status"].clone()
    }

    /// The Admin API's record of `call_id` (`list_call_records`), waiting up to 2 s for it
    /// (the case must have been started with the Admin API).
    pub async fn call_record(&mut self, call_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let reply = self.admin("list_call_records", "call_records").await;
            if !reply["call_records"].is_array() {
                self.fail(&format!(
                    "list_call_records should answer success with call_records: {reply}"
                ));
            }
            let found = reply["call_records"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["call_id"] == call_id))
                .cloned();
            if let Some(record) = found {
                return record;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "list_call_records holds no record of call {call_id} 2 s after the call: \
                     {reply}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The leak check: within [`LEAK_CHECK_WITHIN`], `get_status` reports `"rtp_legs": 0`
    /// (no plain RTP leg of a SIP call left) and `"handles": handles` (1 while the handle is
    /// attached, 0 after `detach`). `when` names the moment in the failure message.
    pub async fn expect_no_leaks(&mut self, when: &str, handles: u64) {
        let deadline = Instant::now() + LEAK_CHECK_WITHIN;
        loop {
            let status = self.admin_status().await;
            if status["rtp_legs"] == 0 && status["handles"] == handles {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "leak check {when}: the Admin API's get_status should report \"rtp_legs\": 0 \
                     and \"handles\": {handles} within {LEAK_CHECK_WITHIN:?}, it still reports \
                     rtp_legs {} and handles {} (status {status})",
                    status["rtp_legs"], status["handles"]
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prints what happened (libtest shows it for a failing test only).
    pub async fn close(mut self) {
        eprintln!("{}", self.report("(end of the test)"));
    }

    /// `problem`, then the session's events, the notes, every SIPp run and Kamailio's log.
    pub fn report(&mut self, problem: &str) -> String {
        self.events.drain();
        let mut report = format!(
            "{problem}\n--- events of session {} (handle {}):\n{}\n",
            self.session,
            self.handle,
            self.events.describe()
        );
        for note in &self.notes {
            report.push_str(note);
            report.push('\n');
        }
        for sipp in &self.sipps {
            report.push_str(&sipp.describe());
        }
        if let Some(kamailio) = &self.kamailio {
            report.push_str(&kamailio.describe());
        }
        for baresip in &self.baresips {
            report.push_str(&baresip.describe());
        }
        let invite_at_registrar = self.sipps.iter().any(|s| {
            s.scenario() == "plugin_registrar"
                && s.messages()
                    .split(TRACE_SEPARATOR)
                    .any(|m| first_line(m).starts_with("INVITE "))
        });
        if invite_at_registrar {
            report.push_str(
                "--- note: an INVITE reached the registrar. Janus sends REGISTER to `proxy` \
                 (NUTAG_REGISTRAR) and the INVITE to the call's uri (through \
                 `outbound_proxy` only when one is given).\n",
            );
        }
        report
    }

    pub fn fail(&mut self, problem: &str) -> ! {
        let report = self.report(problem);
        panic!("{report}");
    }
}

/// What the peer saw: ICE gathering, connection state, the audio received.
pub struct Peer {
    pub gathering: watch::Sender<RTCIceGatheringState>,
    pub connection: watch::Sender<RTCPeerConnectionState>,
    pub received: Mutex<Received>,
}

/// The RTP received on the remote audio track.
#[derive(Clone, Default)]
pub struct Received {
    pub packets: usize,
    /// The indices written at the end of each payload (see [`send_pcmu`]).
    pub indices: HashSet<u16>,
    pub payload_types: BTreeSet<u8>,
    /// The PCMU payloads decoded to linear samples, in arrival order, up to
    /// [`MAX_AUDIO_SAMPLES`].
    pub audio: Vec<i16>,
}

impl Received {
    pub fn distinct(&self) -> usize {
        self.indices.len()
    }
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} distinct of {} packets, payload types {:?}",
            self.distinct(),
            self.packets,
            self.payload_types
        )
    }
}

impl Peer {
    pub fn received(&self) -> Received {
        self.received.lock().unwrap().clone()
    }
}

pub struct PeerHandler(Arc<Peer>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.0.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.0.connection.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let peer = Arc::clone(&self.0);
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    let mut received = peer.received.lock().unwrap();
                    received.packets += 1;
                    received.payload_types.insert(packet.header.payload_type);
                    let room = MAX_AUDIO_SAMPLES.saturating_sub(received.audio.len());
                    if packet.header.payload_type == PCMU_PT && room > 0 {
                        let decoded = packet.payload.iter().take(room).map(|b| ulaw_decode(*b));
                        received.audio.extend(decoded);
                    }
                    let p = &packet.payload;
                    if p.len() >= 2 {
                        received
                            .indices
                            .insert(u16::from_be_bytes([p[p.len() - 2], p[p.len() - 1]]));
                    }
                }
            }
        });
    }
}

/// The browser stand-in next to Cardea's first media socket: PCMU only, one sendrecv audio
/// track.
pub async fn pcmu_peer(
    cardea: &Cardea,
) -> (Arc<Peer>, impl PeerConnection, Arc<TrackLocalStaticRTP>) {
    audio_peer(cardea, &[]).await
}

/// [`pcmu_peer`] that also offers telephone-event/8000 (RFC 4733) as payload type
/// [`TELEPHONE_EVENT_PT`], as browsers do.
pub async fn pcmu_dtmf_peer(
    cardea: &Cardea,
) -> (Arc<Peer>, impl PeerConnection, Arc<TrackLocalStaticRTP>) {
    audio_peer(cardea, &[telephone_event()]).await
}

/// The browser stand-in next to Cardea's first media socket: PCMU and `extra` codecs, one
/// sendrecv audio track sending PCMU.
pub async fn audio_peer(
    cardea: &Cardea,
    extra: &[RTCRtpCodecParameters],
) -> (Arc<Peer>, impl PeerConnection, Arc<TrackLocalStaticRTP>) {
    let peer = Arc::new(Peer {
        gathering: watch::channel(RTCIceGatheringState::New).0,
        connection: watch::channel(RTCPeerConnectionState::New).0,
        received: Mutex::new(Received::default()),
    });
    let media: std::net::SocketAddr = cardea.listeners.media[0]
        .parse()
        .expect("a media socket address");
    assert!(media.ip().is_loopback(), "tests use loopback only: {media}");

    let mut media_engine = MediaEngine::default();
    media_engine
        .register_codec(pcmu(), RtpCodecKind::Audio)
        .expect("register PCMU");
    for codec in extra {
        media_engine
            .register_codec(codec.clone(), RtpCodecKind::Audio)
            .unwrap_or_else(|e| panic!("register {}: {e}", codec.rtp_codec.mime_type));
    }
    let registry =
        register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(PeerHandler(Arc::clone(&peer))))
        // An explicit loopback IP: a wildcard bind skips loopback interfaces.
        .with_udp_addrs(vec![format!("{}:0", media.ip())])
        .build()
        .await
        .expect("build the PeerConnection");

    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "cardea-tests".to_owned(),
        "cardea-tests-audio".to_owned(),
        "cardea-tests-audio".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(AUDIO_SSRC),
                ..Default::default()
            },
            codec: pcmu().rtp_codec,
            // The default is inactive: nothing would be sent.
            active: true,
            ..Default::default()
        }],
    )));
    pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .expect("add_track");
    if !extra.is_empty() {
        // The track's PCMU encoding alone would be the transceiver's codec preferences:
        // offer the extra codecs next to it.
        let mut codecs = vec![pcmu()];
        codecs.extend(extra.iter().cloned());
        for transceiver in pc.get_transceivers().await {
            transceiver
                .set_codec_preferences(codecs.clone())
                .await
                .expect("set_codec_preferences (PCMU and the extra codecs)");
        }
    }
    (peer, pc, track)
}

pub fn pcmu() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_PCMU.to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: PCMU_PT,
    }
}

/// The telephone-event payload type of [`pcmu_dtmf_peer`] (SIPp's RFC 2833 pcaps use 101).
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// telephone-event/8000, events 0-15 (RFC 4733 §7.1.1).
pub fn telephone_event() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_TELEPHONE_EVENT.to_owned(),
            clock_rate: 8000,
            channels: 0,
            sdp_fmtp_line: "0-15".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: TELEPHONE_EVENT_PT,
    }
}

/// A non-trickle offer: every candidate in the SDP.
pub async fn local_offer(pc: &impl PeerConnection, peer: &Peer) -> String {
    let mut gathering = peer.gathering.subscribe();
    let offer = pc.create_offer(None).await.expect("create_offer");
    pc.set_local_description(offer)
        .await
        .expect("set_local_description (offer)");
    timeout(
        STEP,
        gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await
    .expect("ICE gathering for the offer did not complete")
    .expect("gathering watch closed");
    pc.local_description()
        .await
        .expect("a local description")
        .sdp
}

/// A non-trickle answer to `offer`.
pub async fn local_answer(
    pc: &impl PeerConnection,
    peer: &Peer,
    offer: &str,
) -> Result<String, String> {
    let offer = RTCSessionDescription::offer(offer.to_owned()).map_err(|e| e.to_string())?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| format!("set_remote_description: {e}"))?;
    let mut gathering = peer.gathering.subscribe();
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| format!("create_answer: {e}"))?;
    pc.set_local_description(answer)
        .await
        .map_err(|e| format!("set_local_description: {e}"))?;
    timeout(
        STEP,
        gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await
    .map_err(|_| "ICE gathering for the answer did not complete".to_owned())?
    .map_err(|e| e.to_string())?;
    Ok(pc
        .local_description()
        .await
        .ok_or("no local description")?
        .sdp)
}

/// Waits up to `within` for the peer to report connected; `Err` names the state reached.
pub async fn wait_connected(peer: &Peer, within: Duration) -> Result<(), String> {
    connected_within(&peer.connection, within).await
}

/// Waits up to `within` for a peer's connection state (whichever peer type reports it) to
/// be connected; `Err` names the state reached.
pub async fn connected_within(
    connection: &watch::Sender<RTCPeerConnectionState>,
    within: Duration,
) -> Result<(), String> {
    let mut changes = connection.subscribe();
    let reached = timeout(
        within,
        changes.wait_for(|s| {
            matches!(
                s,
                RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed
            )
        }),
    )
    .await;
    let state = *connection.borrow();
    match reached {
        Ok(Ok(_)) if state == RTCPeerConnectionState::Connected => Ok(()),
        _ => Err(format!("{state:?} after at most {within:?}")),
    }
}

/// Sends PCMU for `send_for`, 20 ms (160 samples) a packet; returns how many were written.
/// Each payload is μ-law silence ending with its big-endian index, so echoes can be told
/// apart (the SIP side relays payloads untouched: no transcoding).
pub async fn send_pcmu(track: Arc<TrackLocalStaticRTP>, send_for: Duration) -> usize {
    let packets = (send_for.as_millis() / 20) as u16;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0;
    for index in 0..packets {
        tick.tick().await;
        let mut payload = vec![0xffu8; 158];
        payload.extend_from_slice(&index.to_be_bytes());
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker: index == 0,
                payload_type: PCMU_PT,
                sequence_number: 2000u16.wrapping_add(index),
                timestamp: 8000u32.wrapping_add(160 * index as u32),
                ssrc: AUDIO_SSRC,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        };
        if track.write_rtp(packet).await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// Sends PCMU for [`SEND_FOR`] ([`send_pcmu`]), then waits up to `settle` for all of it to
/// come back (echoed by the far end); returns how many packets were sent and what came back.
pub async fn echo_pcmu(
    peer: &Peer,
    track: Arc<TrackLocalStaticRTP>,
    settle: Duration,
) -> (usize, Received) {
    let sent = send_pcmu(track, SEND_FOR).await;
    let settle = Instant::now() + settle;
    while peer.received().distinct() < sent && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (sent, peer.received())
}

/// Sends a PCMU tone of `frequency` Hz (a quarter of full scale) for `send_for`, 20 ms (160
/// samples) a packet; returns how many were written.
pub async fn send_pcmu_tone(
    track: Arc<TrackLocalStaticRTP>,
    send_for: Duration,
    frequency: f64,
) -> usize {
    let samples = cardea_tests::baresip::tone(frequency, 8000.0, 8000, send_for.as_secs_f64());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut sent = 0;
    for (index, chunk) in samples.chunks_exact(160).enumerate() {
        tick.tick().await;
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker: index == 0,
                payload_type: PCMU_PT,
                sequence_number: 3000u16.wrapping_add(index as u16),
                timestamp: 16000u32.wrapping_add(160 * index as u32),
                ssrc: AUDIO_SSRC,
                ..Default::default()
            },
            payload: chunk.iter().map(|s| ulaw_encode(*s)).collect(),
        };
        if track.write_rtp(packet).await.is_ok() {
            sent += 1;
        }
    }
    sent
}
