//! The server side of Digest on a virtual clock: challenges, stale nonces, replays, wrong
//! passwords, unknown users, failure counting.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use cardea_sip::auth::{
    Algorithm, AuthStep, Authenticator, AuthenticatorConfig, ChallengeKind, ClientAuth,
    ClientCredentials, Denial, DigestChallenge, MemoryCredentials, Secret,
};
use cardea_sip::typed::{Authorization, ProxyAuthenticate, WwwAuthenticate};
use cardea_sip::{Header, HeaderName, Message, Request, Response};
use rand::rngs::StdRng;
use rand::SeedableRng;

const REALM: &str = "cardea.test";
const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn register(cseq: u32) -> Request {
    let text = format!(
        "REGISTER sip:127.0.0.1:45060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:50475;rport;branch=z9hG4bK{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=BHp8ay83Sa3gm\r\n\
         To: <sip:alice@127.0.0.1>\r\n\
         Call-ID: 4d2dc0ce-653f-1240-3c96-a683c1649808\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:alice@127.0.0.1:50475;transport=udp>\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

struct World {
    now: Instant,
    auth: Authenticator,
    users: MemoryCredentials,
    rng: StdRng,
}

impl World {
    fn new(config: AuthenticatorConfig) -> World {
        let now = Instant::now();
        let mut users = MemoryCredentials::new();
        users.insert_password("alice", REALM, "wonderland");
        World {
            now,
            auth: Authenticator::new(config, [7; 32], now),
            users,
            rng: StdRng::seed_from_u64(1),
        }
    }

    fn default() -> World {
        World::new(AuthenticatorConfig::new(REALM))
    }

    fn check(&mut self, req: &Request) -> Result<String, Denial> {
        self.auth
            .check(self.now, SRC, req, &self.users)
            .map(|a| a.username)
    }

    fn respond(&mut self, req: &Request, d: &Denial) -> Response {
        self.auth.respond(self.now, req, d)
    }

    /// A client with `password` that has answered one challenge: returns it and the
    /// authorized request.
    fn answered(&mut self, password: &str) -> (ClientAuth, Request) {
        let mut client = client(password);
        let first = register(1);
        let denial = self.check(&first).unwrap_err();
        assert_eq!(denial, Denial::NoCredentials);
        let challenge = self.respond(&first, &denial);
        assert_eq!(client.on_response(&challenge), AuthStep::Retry);
        let mut second = register(2);
        client.authorize(&mut second, &mut self.rng);
        (client, second)
    }
}

fn client(password: &str) -> ClientAuth {
    ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password(password.into()),
        realm: None,
    })
}

fn challenges(resp: &Response) -> Vec<DigestChallenge> {
    resp.headers
        .typed_all::<WwwAuthenticate>()
        .unwrap()
        .iter()
        .map(|c| DigestChallenge::from_auth(c).unwrap())
        .collect()
}

#[test]
fn register_without_credentials_is_challenged() {
    let mut w = World::default();
    let req = register(1);
    let d = w.check(&req).unwrap_err();
    assert_eq!(d, Denial::NoCredentials);
    assert!(!d.is_failure());
    let resp = w.respond(&req, &d);
    assert_eq!(resp.status, 401);
    let c = challenges(&resp);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].realm, REALM);
    assert_eq!(c[0].algorithm, Algorithm::Md5);
    assert!(c[0].qop_auth && !c[0].stale);
    assert_eq!(w.auth.failures(w.now, SRC), 0);
}

#[test]
fn right_password_is_accepted() {
    let mut w = World::default();
    let (_, req) = w.answered("wonderland");
    assert_eq!(w.check(&req).as_deref(), Ok("alice"));
}

#[test]
fn each_challenge_carries_a_new_nonce() {
    let mut w = World::default();
    let req = register(1);
    let a = challenges(&w.auth.challenge(w.now, &req, false));
    let b = challenges(&w.auth.challenge(w.now, &req, false));
    assert_ne!(a[0].nonce, b[0].nonce);
}

#[test]
fn expired_nonce_with_right_password_is_stale() {
    let mut w = World::default();
    let (_, req) = w.answered("wonderland");
    w.now += Duration::from_secs(301);
    let d = w.check(&req).unwrap_err();
    assert_eq!(d, Denial::Stale);
    let resp = w.respond(&req, &d);
    assert_eq!(resp.status, 401);
    assert!(challenges(&resp)[0].stale);
    assert_eq!(w.auth.failures(w.now, SRC), 0);
}

#[test]
fn nonce_within_its_lifetime_is_accepted() {
    let mut w = World::default();
    let (_, req) = w.answered("wonderland");
    w.now += Duration::from_secs(299);
    assert!(w.check(&req).is_ok());
}

#[test]
fn expired_nonce_with_wrong_password_is_forbidden() {
    let mut w = World::default();
    let (_, req) = w.answered("guess");
    w.now += Duration::from_secs(301);
    assert_eq!(w.check(&req), Err(Denial::Forbidden));
}

#[test]
fn wrong_password_is_forbidden_and_counted() {
    let mut w = World::default();
    let (_, req) = w.answered("guess");
    let d = w.check(&req).unwrap_err();
    assert_eq!(d, Denial::Forbidden);
    assert_eq!(w.respond(&req, &d).status, 403);
    assert_eq!(w.auth.failures(w.now, SRC), 1);
    let _ = w.check(&req);
    assert_eq!(w.auth.failures(w.now, SRC), 2);
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(w.auth.failures(w.now, other), 0);
    w.now += Duration::from_secs(601);
    assert_eq!(
        w.auth.failures(w.now, SRC),
        0,
        "the count decays after the window"
    );
}

#[test]
fn unknown_user_gets_the_same_403_as_a_wrong_password() {
    let mut w = World::default();
    let mut c = ClientAuth::new(ClientCredentials {
        username: "mallory".into(),
        secret: Secret::Password("x".into()),
        realm: None,
    });
    let first = register(1);
    let d = w.check(&first).unwrap_err();
    let ch = w.respond(&first, &d);
    assert_eq!(c.on_response(&ch), AuthStep::Retry);
    let mut req = register(2);
    c.authorize(&mut req, &mut w.rng);
    let d = w.check(&req).unwrap_err();
    assert_eq!(d, Denial::Forbidden);
    let resp = w.respond(&req, &d);
    assert_eq!((resp.status, resp.reason.as_str()), (403, "Forbidden"));
}

#[test]
fn replayed_nonce_count_is_stale() {
    let mut w = World::default();
    let (_, req) = w.answered("wonderland");
    assert!(w.check(&req).is_ok());
    assert_eq!(w.check(&req), Err(Denial::Stale), "same nc again");
}

#[test]
fn nonce_is_reused_with_growing_nonce_count() {
    let mut w = World::default();
    let (mut client, req) = w.answered("wonderland");
    assert!(w.check(&req).is_ok());
    for cseq in 3..6 {
        let mut next = register(cseq);
        client.authorize(&mut next, &mut w.rng);
        assert!(w.check(&next).is_ok(), "nc {cseq}");
    }
}

#[test]
fn forged_nonce_with_right_password_is_stale() {
    let mut w = World::default();
    // A server restarted with a new secret does not know its old nonces.
    let mut other = Authenticator::new(AuthenticatorConfig::new(REALM), [9; 32], w.now);
    let mut client = client("wonderland");
    let first = register(1);
    let ch = other.challenge(w.now, &first, false);
    assert_eq!(client.on_response(&ch), AuthStep::Retry);
    let mut req = register(2);
    client.authorize(&mut req, &mut w.rng);
    assert_eq!(w.check(&req), Err(Denial::Stale));
}

#[test]
fn uri_other_than_the_request_uri_is_400() {
    let mut w = World::default();
    let (_, mut req) = w.answered("wonderland");
    req.uri = cardea_sip::Uri::parse("sip:elsewhere.example").unwrap();
    let d = w.check(&req).unwrap_err();
    assert_eq!(d, Denial::UriMismatch);
    assert_eq!(w.respond(&req, &d).status, 400);
}

#[test]
fn credentials_for_another_realm_are_challenged() {
    let mut w = World::default();
    let mut req = register(1);
    req.headers.push(Header::new(
        HeaderName::Authorization,
        r#"Digest username="alice", realm="elsewhere", nonce="n", uri="sip:127.0.0.1:45060", response="00000000000000000000000000000000""#,
    ));
    assert_eq!(w.check(&req), Err(Denial::NoCredentials));
}

#[test]
fn garbage_authorization_is_400_not_a_panic() {
    let mut w = World::default();
    let mut req = register(1);
    req.headers.push(Header::new(
        HeaderName::Authorization,
        r#"Digest realm="cardea.test", nonce="zz""#,
    ));
    let d = w.check(&req).unwrap_err();
    assert!(matches!(d, Denial::Malformed(_)));
    assert_eq!(w.respond(&req, &d).status, 400);
    assert_eq!(w.auth.failures(w.now, SRC), 1);
}

#[test]
fn proxy_mode_challenges_with_407() {
    let mut cfg = AuthenticatorConfig::new(REALM);
    cfg.kind = ChallengeKind::Proxy;
    let mut w = World::new(cfg);
    let req = register(1);
    let d = w.check(&req).unwrap_err();
    let resp = w.respond(&req, &d);
    assert_eq!(resp.status, 407);
    assert_eq!(
        resp.headers.typed_all::<ProxyAuthenticate>().unwrap().len(),
        1
    );
    let mut client = client("wonderland");
    assert_eq!(client.on_response(&resp), AuthStep::Retry);
    let mut again = register(2);
    client.authorize(&mut again, &mut w.rng);
    assert!(again.headers.typed::<Authorization>().unwrap().is_none());
    assert!(w.check(&again).is_ok());
}

#[test]
fn sha256_is_offered_first_when_configured_and_the_client_picks_it() {
    let mut cfg = AuthenticatorConfig::new(REALM);
    cfg.algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
    let mut w = World::new(cfg);
    let req = register(1);
    let d = w.check(&req).unwrap_err();
    let resp = w.respond(&req, &d);
    let c = challenges(&resp);
    assert_eq!(
        c.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        [Algorithm::Sha256, Algorithm::Md5]
    );
    let mut client = client("wonderland");
    client.on_response(&resp);
    let mut again = register(2);
    client.authorize(&mut again, &mut w.rng);
    let auth = again.headers.typed::<Authorization>().unwrap().unwrap();
    assert_eq!(auth.param("algorithm").as_deref(), Some("SHA-256"));
    assert_eq!(w.check(&again).map(|_| ()), Ok(()));
}

#[test]
fn answer_with_an_algorithm_not_offered_is_refused() {
    let mut w = World::default();
    let mut req = register(2);
    // A SHA-256 answer to an MD5-only server.
    let nonce = w.auth.issue_nonce(w.now);
    req.headers.push(Header::new(
        HeaderName::Authorization,
        &format!(r#"Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="sip:127.0.0.1:45060", response="00", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c""#),
    ));
    assert!(matches!(w.check(&req), Err(Denial::Malformed(_))));
}

#[test]
fn legacy_answer_without_qop_is_accepted_once() {
    let mut w = World::default();
    let req = register(1);
    let nonce = w.auth.issue_nonce(w.now);
    // RFC 2069-style: response = H(HA1:nonce:HA2).
    let ha1 = cardea_sip::auth::Ha1::from_password(
        cardea_sip::auth::HashFn::Md5,
        "alice",
        REALM,
        "wonderland",
    );
    let response = cardea_sip::auth::compute_response(
        &ha1,
        &cardea_sip::auth::DigestInput {
            algorithm: Algorithm::Md5,
            nonce: &nonce,
            qop: None,
            method: "REGISTER",
            uri: "sip:127.0.0.1:45060",
        },
    )
    .unwrap();
    let mut legacy = req.clone();
    legacy.headers.push(Header::new(
        HeaderName::Authorization,
        &format!(r#"Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="sip:127.0.0.1:45060", response="{response}""#),
    ));
    assert!(w.check(&legacy).is_ok());
    assert_eq!(w.check(&legacy), Err(Denial::Stale));
}

#[test]
fn nonce_records_are_bounded() {
    let mut cfg = AuthenticatorConfig::new(REALM);
    cfg.nc_capacity = 2;
    let mut w = World::new(cfg);
    let (mut first, req) = w.answered("wonderland");
    assert!(w.check(&req).is_ok());
    for _ in 0..2 {
        let (_, r) = w.answered("wonderland");
        assert!(w.check(&r).is_ok());
    }
    // The first nonce's record was evicted: its next use must fetch a new nonce.
    let mut next = register(9);
    first.authorize(&mut next, &mut w.rng);
    assert_eq!(w.check(&next), Err(Denial::Stale));
}
