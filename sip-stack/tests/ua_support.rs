//! Shared helpers of the dialog and UA tests (included with `#[path]`): two endpoints, each
//! with its own TransactionLayer, wired back to back by an in-memory network on a virtual
//! clock. Every message is serialized and parsed again on its way.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_sip::auth::{ClientCredentials, DigestCredentials, Ha1, HashFn, Secret};
use cardea_sip::transaction::{
    ClientKey, Destination, Timers, TransactionEvent, TransactionKey, TransactionLayer,
};
use cardea_sip::typed::{Authorization, Contact, NameAddr, To, Transport, TypedHeader};
use cardea_sip::ua::{
    AnswerConfig, CallConfig, InviteSession, Local, Outgoing, Registration, SessionEvent,
};
use cardea_sip::{Header, HeaderName, Host, Message, Method, Request, Response, Uri};

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn addr(s: &str) -> NameAddr {
    To::decode(s).expect("test address").0
}

pub fn uri(s: &str) -> Uri {
    Uri::parse(s).expect("test URI")
}

pub fn local(ip: &str) -> Local {
    let mut l = Local::new(Transport::Udp, Host::parse(ip).unwrap(), Some(5060));
    l.user_agent = Some("Cardea test".into());
    l
}

pub const ALICE_IP: &str = "192.0.2.1";
pub const BOB_IP: &str = "192.0.2.2";

/// One endpoint: its transaction layer and what it put on the wire.
pub struct Ua {
    pub layer: TransactionLayer,
    pub addr: SocketAddr,
    /// Where its requests go (the other endpoint).
    pub peer: Destination,
    pub wire: Vec<Message>,
    sent: HashMap<ClientKey, Method>,
}

impl Ua {
    fn new(ip: &str, peer_ip: &str) -> Ua {
        Ua {
            layer: TransactionLayer::new(Timers::default()),
            addr: format!("{ip}:5060").parse().unwrap(),
            peer: Destination::udp(format!("{peer_ip}:5060").parse().unwrap()),
            wire: Vec::new(),
            sent: HashMap::new(),
        }
    }

    pub fn send(&mut self, now: Instant, out: Outgoing) {
        match out {
            Outgoing::Request(r) => {
                let m = r.method.clone();
                let k = self
                    .layer
                    .send_request(now, r, self.peer.clone())
                    .expect("send_request");
                self.sent.insert(k, m);
            }
            Outgoing::Stateless(r) => self
                .layer
                .send_stateless(Message::Request(r), self.peer.clone()),
            Outgoing::Response { key, response } => {
                // A late retransmission may find the transaction gone.
                let _ = self.layer.respond(now, key, response);
            }
        }
    }

    /// The method of a client transaction this endpoint started.
    pub fn method_of(&self, key: TransactionKey) -> Option<Method> {
        match key {
            TransactionKey::Client(k) => self.sent.get(&k).cloned(),
            TransactionKey::Server(_) => None,
        }
    }

    /// Requests of `method` it sent, in order.
    pub fn sent_requests(&self, method: Method) -> Vec<Request> {
        self.wire
            .iter()
            .filter_map(|m| match m {
                Message::Request(r) if r.method == method => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    /// Responses with `status` it sent, in order.
    pub fn sent_responses(&self, status: u16) -> Vec<Response> {
        self.wire
            .iter()
            .filter_map(|m| match m {
                Message::Response(r) if r.status == status => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A transaction user on one endpoint.
pub trait Tu {
    /// Moves the TU's output into the layer and the layer's events into the TU; true when
    /// anything moved.
    fn pump(&mut self, ua: &mut Ua, now: Instant) -> bool;
    fn next_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
}

/// A TU that hears nothing (its layer still answers INVITEs with 100 Trying).
pub struct Deaf;

impl Tu for Deaf {
    fn pump(&mut self, ua: &mut Ua, _now: Instant) -> bool {
        let mut any = false;
        while ua.layer.poll_event().is_some() {
            any = true;
        }
        any
    }
}

fn feed_session(s: &mut InviteSession, ua: &Ua, now: Instant, ev: TransactionEvent) {
    match ev {
        TransactionEvent::Request { key, request, .. }
        | TransactionEvent::Cancel { key, request, .. } => s.handle_request(now, key, request),
        TransactionEvent::Ack { request, .. } => s.handle_ack(now, &request),
        TransactionEvent::Response { response, .. }
        | TransactionEvent::StrayResponse { response, .. } => s.handle_response(now, &response),
        TransactionEvent::Timeout(k) | TransactionEvent::TransportError(k) => {
            if let Some(m) = ua.method_of(k) {
                s.handle_failure(now, &m, 408);
            }
        }
        _ => {}
    }
}

fn flush_session(s: &mut InviteSession, ua: &mut Ua, now: Instant) -> bool {
    let mut any = false;
    while let Some(out) = s.poll_output() {
        any = true;
        ua.send(now, out);
    }
    any
}

impl Tu for InviteSession {
    fn pump(&mut self, ua: &mut Ua, now: Instant) -> bool {
        let mut any = false;
        loop {
            let mut moved = flush_session(self, ua, now);
            while let Some(ev) = ua.layer.poll_event() {
                moved = true;
                feed_session(self, ua, now, ev);
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }
    fn next_timeout(&self) -> Option<Instant> {
        InviteSession::next_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        InviteSession::handle_timeout(self, now)
    }
}

/// The called side: makes a session from the first INVITE, and rings at once when asked.
pub struct Callee {
    pub session: Option<InviteSession>,
    pub config: AnswerConfig,
    pub auto_ring: bool,
    /// Session timers (RFC 4028) for the incoming call, when set.
    pub session_timer: Option<u32>,
}

impl Callee {
    pub fn new(auto_ring: bool) -> Callee {
        Callee {
            session: None,
            config: AnswerConfig {
                local: local(BOB_IP),
                contact: addr("<sip:bob@192.0.2.2:5060;transport=udp>"),
                timers: Timers::default(),
            },
            auto_ring,
            session_timer: None,
        }
    }

    pub fn s(&mut self) -> &mut InviteSession {
        self.session.as_mut().expect("an incoming call")
    }
}

impl Tu for Callee {
    fn pump(&mut self, ua: &mut Ua, now: Instant) -> bool {
        let mut any = false;
        loop {
            let mut moved = match &mut self.session {
                Some(s) => flush_session(s, ua, now),
                None => false,
            };
            while let Some(ev) = ua.layer.poll_event() {
                moved = true;
                match (&mut self.session, ev) {
                    (None, TransactionEvent::Request { key, request, .. })
                        if request.method == Method::Invite =>
                    {
                        let mut s = InviteSession::incoming(key, request, self.config.clone())
                            .expect("a dialog-creating INVITE");
                        if let Some(interval) = self.session_timer {
                            s.enable_session_timer(interval);
                        }
                        if self.auto_ring {
                            s.ring(now).unwrap();
                        }
                        self.session = Some(s);
                    }
                    (Some(s), ev) => feed_session(s, ua, now, ev),
                    (None, _) => {}
                }
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.session.as_ref().and_then(InviteSession::next_timeout)
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let Some(s) = &mut self.session {
            s.handle_timeout(now);
        }
    }
}

impl Tu for Registration {
    fn pump(&mut self, ua: &mut Ua, now: Instant) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            while let Some(r) = self.poll_request() {
                moved = true;
                ua.send(now, Outgoing::Request(r));
            }
            while let Some(ev) = ua.layer.poll_event() {
                moved = true;
                match ev {
                    TransactionEvent::Response { response, .. } => {
                        self.handle_response(now, &response)
                    }
                    TransactionEvent::Timeout(_) => self.handle_failure(408),
                    _ => {}
                }
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }
    fn next_timeout(&self) -> Option<Instant> {
        Registration::next_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Registration::handle_timeout(self, now)
    }
}

/// A registrar that challenges with Digest (realm `example`, user `alice`, password
/// `secret`), grants at most `max_expires`, and answers a wrong answer with `on_wrong`
/// (403, or 401 with a fresh challenge).
pub struct Registrar {
    pub max_expires: u32,
    pub on_wrong: u16,
    pub seen: Vec<Request>,
}

pub const CHALLENGE: &str = r#"Digest realm="example", nonce="n0nce1", qop="auth", algorithm=MD5"#;

impl Registrar {
    pub fn new(max_expires: u32, on_wrong: u16) -> Registrar {
        Registrar {
            max_expires,
            on_wrong,
            seen: Vec::new(),
        }
    }

    fn answer(&self, request: &Request) -> Response {
        let challenge = || {
            let mut r = request.make_response(401);
            r.set_to_tag("reg1").unwrap();
            r.headers
                .push(Header::new(HeaderName::WwwAuthenticate, CHALLENGE));
            r
        };
        let Some(auth) = request.headers.typed::<Authorization>().unwrap() else {
            return challenge();
        };
        let creds = DigestCredentials::from_auth(&auth.0).unwrap();
        let ha1 = Ha1::from_password(HashFn::Md5, "alice", "example", "secret");
        if !creds.verify(&ha1, "REGISTER") {
            return if self.on_wrong == 401 {
                challenge()
            } else {
                let mut r = request.make_response(self.on_wrong);
                r.set_to_tag("reg1").unwrap();
                r
            };
        }
        let asked = request
            .headers
            .typed::<cardea_sip::typed::Expires>()
            .unwrap()
            .map_or(3600, |e| e.0);
        let granted = asked.min(self.max_expires);
        let mut r = request.make_response(200);
        r.set_to_tag("reg1").unwrap();
        if granted > 0 {
            let Some(Contact::Address(mut c)) = request.headers.typed::<Contact>().unwrap() else {
                panic!("REGISTER without Contact");
            };
            c.params.set("expires", Some(&granted.to_string()));
            r.headers.push_typed(&Contact::Address(c));
        }
        r
    }
}

impl Tu for Registrar {
    fn pump(&mut self, ua: &mut Ua, now: Instant) -> bool {
        let mut any = false;
        while let Some(ev) = ua.layer.poll_event() {
            any = true;
            if let TransactionEvent::Request { key, request, .. } = ev {
                let response = self.answer(&request);
                self.seen.push(request);
                ua.layer.respond(now, key, response).unwrap();
            }
        }
        any
    }
}

pub fn alice_credentials(password: &str) -> ClientCredentials {
    ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password(password.into()),
        realm: None,
    }
}

pub fn call_config() -> CallConfig {
    CallConfig {
        local: local(ALICE_IP),
        from: addr(r#""Alice" <sip:alice@example.com>"#),
        to: addr("<sip:bob@example.com>"),
        target: Some(uri("sip:bob@192.0.2.2:5060")),
        contact: addr("<sip:alice@192.0.2.1:5060;transport=udp>"),
        routes: Vec::new(),
        credentials: None,
    }
}

pub fn sdp(tag: &str) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns={tag}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    ))
}

pub fn drain(s: &mut InviteSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Two endpoints on one virtual clock: `a` (Alice, 192.0.2.1) and `b` (Bob, 192.0.2.2).
pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub a: Ua,
    pub b: Ua,
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

impl Net {
    pub fn new() -> Net {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            a: Ua::new(ALICE_IP, BOB_IP),
            b: Ua::new(BOB_IP, ALICE_IP),
        }
    }

    /// Moves every pending message across, through bytes; true when any moved.
    fn deliver(&mut self) -> bool {
        let mut any = false;
        for (from, to) in [(0, 1), (1, 0)] {
            let (src, dst) = if from == 0 {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            while let Some(t) = src.layer.poll_transmit() {
                any = true;
                let bytes = t.message.to_bytes();
                let msg = Message::parse(&bytes).expect("our own message parses");
                src.wire.push(msg.clone());
                let _ = dst
                    .layer
                    .handle_message(self.now, msg, Destination::udp(src.addr));
            }
            let _ = to;
        }
        any
    }

    /// Lets both sides talk until nothing moves, without time passing.
    pub fn run(&mut self, ta: &mut dyn Tu, tb: &mut dyn Tu) {
        loop {
            let mut any = ta.pump(&mut self.a, self.now);
            any |= tb.pump(&mut self.b, self.now);
            any |= self.deliver();
            if !any {
                return;
            }
        }
    }

    /// Runs the clock forward by `by`, firing every timer exactly when it is due.
    pub fn advance(&mut self, by: Duration, ta: &mut dyn Tu, tb: &mut dyn Tu) {
        let until = self.now + by;
        loop {
            self.run(ta, tb);
            let next = [
                self.a.layer.next_timeout(),
                self.b.layer.next_timeout(),
                ta.next_timeout(),
                tb.next_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.layer.handle_timeout(self.now);
                    self.b.layer.handle_timeout(self.now);
                    ta.handle_timeout(self.now);
                    tb.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.run(ta, tb);
    }

    /// Hands `message` to `a` as if `b` had sent it (a fork the network invented).
    pub fn inject_to_a(&mut self, message: Message) {
        let bytes = message.to_bytes();
        let msg = Message::parse(&bytes).expect("injected message parses");
        let _ = self
            .a
            .layer
            .handle_message(self.now, msg, Destination::udp(self.b.addr));
    }

    /// Hands `message` to `b` as if `a` had sent it.
    pub fn inject_to_b(&mut self, message: Message) {
        let bytes = message.to_bytes();
        let msg = Message::parse(&bytes).expect("injected message parses");
        let _ = self
            .b
            .layer
            .handle_message(self.now, msg, Destination::udp(self.a.addr));
    }
}
