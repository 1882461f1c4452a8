//! Who may register, and the whole REGISTER path with authentication in front: the safe
//! defaults (RFC 3261 §10.3 steps 1–5, §22), and a property over random REGISTER sequences.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use cardea_sip::auth::{
    AuthStep, Authenticator, AuthenticatorConfig, ClientAuth, ClientCredentials, MemoryCredentials,
    Secret,
};
use cardea_sip::registrar::{
    serve_register, Aor, BindingKey, MemoryLocationStore, Registrar, RegistrarConfig,
};
use cardea_sip::typed::Unsupported;
use cardea_sip::{Message, Request, Uri};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn parse(t: &str) -> Request {
    match Message::parse(t.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

/// The REGISTER Janus sends (shared/reference/sip-sample-trace.txt), with a chosen CSeq.
fn janus_register(cseq: u32) -> Request {
    parse(&format!(
        "REGISTER sip:127.0.0.1:45060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:50475;rport;branch=z9hG4bK{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=BHp8ay83Sa3gm\r\n\
         To: <sip:alice@127.0.0.1>\r\n\
         Call-ID: 4d2dc0ce-653f-1240-3c96-a683c1649808\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: Alice <sip:alice@127.0.0.1:50475;transport=udp>\r\n\
         Expires: 3600\r\n\
         User-Agent: Janus WebRTC Server SIP Plugin 1.1.2\r\n\
         Supported: replaces, path\r\n\
         Content-Length: 0\r\n\r\n"
    ))
}

fn simple(to: &str, extra: &str) -> Request {
    parse(&format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
         From: {to};tag=1\r\nTo: {to}\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:x@192.0.2.1>\r\n{extra}Content-Length: 0\r\n\r\n"
    ))
}

struct Server {
    now: Instant,
    auth: Authenticator,
    users: MemoryCredentials,
    registrar: Registrar<MemoryLocationStore>,
}

impl Server {
    fn new() -> Server {
        let now = Instant::now();
        let mut users = MemoryCredentials::new();
        users.insert_password("alice", "cardea", "wonderland");
        Server {
            now,
            auth: Authenticator::new(AuthenticatorConfig::new("cardea"), [3; 32], now),
            users,
            registrar: Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new()),
        }
    }

    fn serve(&mut self, r: &Request) -> cardea_sip::Response {
        serve_register(
            self.now,
            SRC,
            r,
            &mut self.auth,
            &self.users,
            &mut self.registrar,
        )
    }
}

fn alice_client(password: &str) -> ClientAuth {
    ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password(password.into()),
        realm: None,
    })
}

fn alice_aor() -> Aor {
    Aor::from_uri(&Uri::parse("sip:alice@127.0.0.1").unwrap()).unwrap()
}

#[test]
fn register_without_credentials_is_challenged_never_registered() {
    let mut s = Server::new();
    let resp = s.serve(&janus_register(1));
    assert_eq!(resp.status, 401);
    assert!(s.registrar.bindings(&alice_aor(), s.now).is_empty());
}

#[test]
fn janus_register_flow_is_challenged_then_registered() {
    let mut s = Server::new();
    let mut rng = StdRng::seed_from_u64(5);
    let mut client = alice_client("wonderland");
    let challenge = s.serve(&janus_register(1001199529));
    assert_eq!(client.on_response(&challenge), AuthStep::Retry);
    let mut again = janus_register(1001199530);
    client.authorize(&mut again, &mut rng);
    let ok = s.serve(&again);
    assert_eq!(ok.status, 200);
    assert_eq!(client.on_response(&ok), AuthStep::Proceed);
    let b = s.registrar.bindings(&alice_aor(), s.now);
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].contact.uri.to_string(),
        "sip:alice@127.0.0.1:50475;transport=udp"
    );
    // The refresh half-way reuses the nonce (nc=2) and is accepted without a new challenge.
    s.now += Duration::from_secs(200);
    let mut refresh = janus_register(1001199531);
    client.authorize(&mut refresh, &mut rng);
    assert_eq!(s.serve(&refresh).status, 200);
    // After the nonce lifetime the refresh is answered stale, and the retry succeeds.
    s.now += Duration::from_secs(200);
    let mut late = janus_register(1001199532);
    client.authorize(&mut late, &mut rng);
    let stale = s.serve(&late);
    assert_eq!(stale.status, 401);
    assert_eq!(client.on_response(&stale), AuthStep::Retry);
    let mut retry = janus_register(1001199533);
    client.authorize(&mut retry, &mut rng);
    assert_eq!(s.serve(&retry).status, 200);
}

#[test]
fn wrong_password_ends_in_403_reported_to_the_client() {
    let mut s = Server::new();
    let mut rng = StdRng::seed_from_u64(5);
    let mut client = alice_client("guess");
    client.on_response(&s.serve(&janus_register(1)));
    let mut again = janus_register(2);
    client.authorize(&mut again, &mut rng);
    let resp = s.serve(&again);
    assert_eq!(resp.status, 403);
    assert!(matches!(
        client.on_response(&resp),
        AuthStep::Failed { status: 403, .. }
    ));
    assert_eq!(s.auth.failures(s.now, SRC), 1);
    assert!(s.registrar.bindings(&alice_aor(), s.now).is_empty());
}

#[test]
fn authenticated_user_may_not_register_someone_elses_aor() {
    let mut r = Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new());
    let req = simple("<sip:bob@example.com>", "");
    let now = Instant::now();
    assert_eq!(r.handle_register(now, &req, Some("alice")).status, 403);
    assert_eq!(r.handle_register(now, &req, Some("bob")).status, 200);
}

#[test]
fn unauthenticated_call_to_the_registrar_is_403() {
    let mut r = Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new());
    let req = simple("<sip:bob@example.com>", "");
    assert_eq!(r.handle_register(Instant::now(), &req, None).status, 403);
}

#[test]
fn owner_check_can_be_left_to_the_caller() {
    let cfg = RegistrarConfig {
        require_owner: false,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg, MemoryLocationStore::new());
    let req = simple("<sip:bob@example.com>", "");
    assert_eq!(
        r.handle_register(Instant::now(), &req, Some("admin"))
            .status,
        200
    );
}

#[test]
fn to_without_a_user_is_404() {
    let mut r = Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new());
    let req = simple("<sip:example.com>", "");
    assert_eq!(
        r.handle_register(Instant::now(), &req, Some("alice"))
            .status,
        404
    );
}

#[test]
fn domain_not_served_is_404() {
    let cfg = RegistrarConfig {
        domains: vec!["cardea.example".into()],
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg, MemoryLocationStore::new());
    let req = simple("<sip:alice@example.com>", "");
    assert_eq!(
        r.handle_register(Instant::now(), &req, Some("alice"))
            .status,
        404
    );
}

#[test]
fn unsupported_require_is_420_with_unsupported() {
    let mut r = Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new());
    let req = simple("<sip:alice@example.com>", "Require: path, gruu\r\n");
    let resp = r.handle_register(Instant::now(), &req, Some("alice"));
    assert_eq!(resp.status, 420);
    assert_eq!(
        resp.headers.typed::<Unsupported>().unwrap(),
        Some(Unsupported("gruu".into()))
    );
}

#[test]
fn bad_contact_is_400_not_a_panic() {
    let mut r = Registrar::new(RegistrarConfig::default(), MemoryLocationStore::new());
    let req = parse(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:x@h>;q=7\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(
        r.handle_register(Instant::now(), &req, Some("alice"))
            .status,
        400
    );
}

proptest! {
    /// Any sequence of REGISTERs leaves only live bindings, never more than the cap, never
    /// two with the same identity, and every 200 OK lists exactly the live bindings.
    #[test]
    fn random_registers_keep_the_binding_list_consistent(
        ops in proptest::collection::vec(
            (0u8..6, prop_oneof![Just(0u32), 30u32..100, 100u32..5000], 0u32..4, any::<bool>(), 0u64..400),
            1..40,
        )
    ) {
        let cfg = RegistrarConfig { max_bindings_per_aor: 4, ..RegistrarConfig::default() };
        let mut r = Registrar::new(cfg, MemoryLocationStore::new());
        let mut now = Instant::now();
        let aor = Aor::from_uri(&Uri::parse("sip:alice@example.com").unwrap()).unwrap();
        let mut cseq = 0;
        for (host, expires, call, star, wait) in ops {
            now += Duration::from_secs(wait);
            cseq += 1;
            let contact = if star { "*".to_owned() } else { format!("<sip:alice@192.0.2.{host}>") };
            let req = parse(&format!(
                "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{cseq}\r\n\
                 From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
                 Call-ID: call-{call}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n\
                 Expires: {expires}\r\nContent-Length: 0\r\n\r\n"
            ));
            let resp = r.handle_register(now, &req, Some("alice"));
            prop_assert!([200, 400, 403, 423, 500].contains(&resp.status), "{}", resp.status);
            let live = r.bindings(&aor, now);
            prop_assert!(live.len() <= 4);
            let keys: std::collections::HashSet<BindingKey> = live.iter().map(|b| b.key()).collect();
            prop_assert_eq!(keys.len(), live.len());
            if resp.status == 200 {
                let listed = resp.headers.typed_all::<cardea_sip::typed::Contact>().unwrap();
                prop_assert_eq!(listed.len(), live.len());
            }
            if wait % 3 == 0 {
                r.handle_timeout(now);
            }
        }
    }
}
