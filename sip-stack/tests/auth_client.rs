//! The client side of Digest: what goes into Authorization, nonce counting, one retry per
//! challenge, and failure with the server's real final code.

use cardea_sip::auth::{
    Algorithm, AuthStep, ClientAuth, ClientAuthState, ClientCredentials, DigestCredentials,
    FailReason, Ha1, HashFn, Secret,
};
use cardea_sip::typed::{Authorization, ProxyAuthorization};
use cardea_sip::{Header, HeaderName, Message, Request, Response};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn request(cseq: u32) -> Request {
    let text = format!(
        "REGISTER sip:registrar.example;transport=udp SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{cseq}\r\n\
         From: <sip:alice@example>;tag=1\r\nTo: <sip:alice@example>\r\n\
         Call-ID: c1\r\nCSeq: {cseq} REGISTER\r\nContent-Length: 0\r\n\r\n"
    );
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn challenge(status: u16, headers: &[&str]) -> Response {
    let mut r = request(1).make_response(status);
    let name = if status == 407 {
        HeaderName::ProxyAuthenticate
    } else {
        HeaderName::WwwAuthenticate
    };
    for h in headers {
        r.headers.push(Header::new(name.clone(), h));
    }
    r
}

const MD5: &str = r#"Digest realm="example", nonce="abc", qop="auth", algorithm=MD5"#;
const MD5_STALE: &str =
    r#"Digest realm="example", nonce="def", qop="auth", algorithm=MD5, stale=true"#;

fn alice() -> ClientAuth {
    ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password("secret".into()),
        realm: None,
    })
}

fn sent(client: &mut ClientAuth, cseq: u32, rng: &mut StdRng) -> DigestCredentials {
    let mut r = request(cseq);
    client.authorize(&mut r, rng);
    let a = r
        .headers
        .typed::<Authorization>()
        .unwrap()
        .expect("authorized");
    DigestCredentials::from_auth(&a).unwrap()
}

#[test]
fn register_retries_with_digest_after_401() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    assert_eq!(c.state(), ClientAuthState::Unchallenged);
    let mut plain = request(1);
    c.authorize(&mut plain, &mut rng);
    assert!(!plain.headers.contains(&HeaderName::Authorization));
    assert_eq!(c.on_response(&challenge(401, &[MD5])), AuthStep::Retry);
    let creds = sent(&mut c, 2, &mut rng);
    assert_eq!(creds.uri, "sip:registrar.example;transport=udp");
    assert_eq!(creds.username, "alice");
    assert_eq!(creds.nonce, "abc");
    let q = creds.qop.as_ref().unwrap();
    assert_eq!(q.nc_text, "00000001");
    let ha1 = Ha1::from_password(HashFn::Md5, "alice", "example", "secret");
    assert!(creds.verify(&ha1, "REGISTER"));
    assert_eq!(c.state(), ClientAuthState::Answering);
}

#[test]
fn nonce_count_grows_and_cnonce_is_fresh_per_request() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    let a = sent(&mut c, 2, &mut rng);
    assert_eq!(
        c.on_response(&request(2).make_response(200)),
        AuthStep::Proceed
    );
    let b = sent(&mut c, 3, &mut rng);
    let (qa, qb) = (a.qop.unwrap(), b.qop.unwrap());
    assert_eq!(qb.nc_text, "00000002");
    assert_ne!(qa.cnonce, qb.cnonce);
}

#[test]
fn challenge_after_our_answer_fails_with_401() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    sent(&mut c, 2, &mut rng);
    let step = c.on_response(&challenge(
        401,
        &[r#"Digest realm="example", nonce="new", qop="auth""#],
    ));
    assert_eq!(
        step,
        AuthStep::Failed {
            status: 401,
            reason: FailReason::Rejected
        }
    );
    assert!(matches!(
        c.state(),
        ClientAuthState::Failed { status: 401, .. }
    ));
}

#[test]
fn stale_challenge_after_our_answer_is_retried() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    sent(&mut c, 2, &mut rng);
    assert_eq!(
        c.on_response(&challenge(401, &[MD5_STALE])),
        AuthStep::Retry
    );
    let creds = sent(&mut c, 3, &mut rng);
    assert_eq!(creds.nonce, "def");
    assert_eq!(creds.qop.unwrap().nc_text, "00000001");
}

#[test]
fn endless_stale_challenges_end_in_failure() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    let mut last = AuthStep::Retry;
    for cseq in 2..10 {
        sent(&mut c, cseq, &mut rng);
        last = c.on_response(&challenge(401, &[MD5_STALE]));
        if last != AuthStep::Retry {
            break;
        }
    }
    assert_eq!(
        last,
        AuthStep::Failed {
            status: 401,
            reason: FailReason::TooManyStale
        }
    );
}

#[test]
fn forbidden_after_our_answer_is_reported_as_403() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    sent(&mut c, 2, &mut rng);
    let step = c.on_response(&request(2).make_response(403));
    assert_eq!(
        step,
        AuthStep::Failed {
            status: 403,
            reason: FailReason::Forbidden
        }
    );
}

#[test]
fn new_challenge_after_preemptive_credentials_is_retried() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[MD5]));
    sent(&mut c, 2, &mut rng);
    c.on_response(&request(2).make_response(200));
    // A refresh reuses the old nonce; the (restarted) server challenges anew: that is a new
    // challenge, answered once.
    sent(&mut c, 3, &mut rng);
    assert_eq!(c.on_response(&challenge(401, &[MD5])), AuthStep::Retry);
}

#[test]
fn proxy_challenge_is_answered_with_proxy_authorization() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    assert_eq!(c.on_response(&challenge(407, &[MD5])), AuthStep::Retry);
    let mut r = request(2);
    c.authorize(&mut r, &mut rng);
    assert!(r.headers.typed::<ProxyAuthorization>().unwrap().is_some());
    assert!(r.headers.typed::<Authorization>().unwrap().is_none());
    // The registrar behind the proxy then challenges too: a different challenge, answered.
    assert_eq!(c.on_response(&challenge(401, &[MD5])), AuthStep::Retry);
    let mut r = request(3);
    c.authorize(&mut r, &mut rng);
    assert!(r.headers.typed::<ProxyAuthorization>().unwrap().is_some());
    assert!(r.headers.typed::<Authorization>().unwrap().is_some());
}

#[test]
fn strongest_supported_algorithm_is_chosen() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(
        401,
        &[
            MD5,
            r#"Digest realm="example", nonce="abc", qop="auth", algorithm=SHA-256"#,
            r#"Digest realm="example", nonce="abc", qop="auth", algorithm=UNKNOWN-HASH"#,
        ],
    ));
    assert_eq!(sent(&mut c, 2, &mut rng).algorithm, Algorithm::Sha256);
}

#[test]
fn challenge_we_cannot_answer_fails_at_once() {
    let mut c = ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Ha1(Ha1::from_password(
            HashFn::Md5,
            "alice",
            "example",
            "secret",
        )),
        realm: None,
    });
    let step = c.on_response(&challenge(
        401,
        &[r#"Digest realm="example", nonce="abc", qop="auth", algorithm=SHA-256"#],
    ));
    assert_eq!(
        step,
        AuthStep::Failed {
            status: 401,
            reason: FailReason::Unanswerable
        }
    );
    let mut other_realm = ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password("p".into()),
        realm: Some("mine".into()),
    });
    assert!(matches!(
        other_realm.on_response(&challenge(401, &[MD5])),
        AuthStep::Failed { .. }
    ));
}

#[test]
fn legacy_challenge_without_qop_gets_a_legacy_answer() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut c = alice();
    c.on_response(&challenge(401, &[r#"Digest realm="example", nonce="abc""#]));
    let creds = sent(&mut c, 2, &mut rng);
    assert!(creds.qop.is_none());
    let ha1 = Ha1::from_password(HashFn::Md5, "alice", "example", "secret");
    assert!(creds.verify(&ha1, "REGISTER"));
}

proptest! {
    /// Whatever the names and password, what the client computes verifies on the other side,
    /// and the header survives being written and parsed again.
    #[test]
    fn client_answers_verify_for_any_credentials(
        user in "[a-zA-Z0-9._-]{1,16}",
        realm in "[ -~]{1,20}",
        password in "[ -~]{0,24}",
        sha in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let algorithm = if sha { Algorithm::Sha256 } else { Algorithm::Md5 };
        let ch = cardea_sip::auth::DigestChallenge {
            realm: realm.clone(),
            nonce: "n0nce".into(),
            opaque: Some("op".into()),
            algorithm,
            qop_auth: true,
            stale: false,
        };
        let mut resp = request(1).make_response(401);
        resp.headers.push_typed(&cardea_sip::typed::WwwAuthenticate(ch.to_auth()));
        let resp = match Message::parse(&resp.to_bytes()).unwrap() {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!(),
        };
        let mut c = ClientAuth::new(ClientCredentials {
            username: user.clone(),
            secret: Secret::Password(password.clone()),
            realm: None,
        });
        prop_assert_eq!(c.on_response(&resp), AuthStep::Retry);
        let mut r = request(2);
        c.authorize(&mut r, &mut rng);
        let r = match Message::parse(&r.to_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        };
        let a = r.headers.typed::<Authorization>().unwrap().unwrap();
        let creds = DigestCredentials::from_auth(&a).unwrap();
        prop_assert_eq!(&creds.realm, &realm);
        prop_assert_eq!(creds.opaque.as_deref(), Some("op"));
        let ha1 = Ha1::from_password(algorithm.hash_fn(), &user, &realm, &password);
        prop_assert!(creds.verify(&ha1, "REGISTER"));
    }
}
