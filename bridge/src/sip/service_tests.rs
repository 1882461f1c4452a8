//! The endpoint's routing without sockets: requests in, what it sends out.

use std::net::SocketAddr;
use std::time::Instant;

use cardea_sip::auth::{AuthStep, ClientAuth, ClientCredentials, Secret};
use cardea_sip::transaction::Destination;
use cardea_sip::typed::Transport;
use cardea_sip::{HeaderName, Message, Request, Response};

use super::SipService;
use crate::config::Config;

const US: &str = "127.0.0.1:5060";
const ALICE_AT: &str = "127.0.0.1:40000";
const CARRIER_AT: &str = "127.0.0.2:5060";
const TRUNK_AT: &str = "127.0.0.3:5070";

fn service(dialplan: Option<&str>) -> (SipService, Option<tempdir::Dir>) {
    let dir = dialplan.map(|text| {
        let d = tempdir::Dir::new();
        std::fs::write(d.path().join("dialplan.yaml"), text).unwrap();
        d
    });
    let mut yaml = format!(
        "sip:\n  realm: cardea.test\n  auth_failure_limit: 5\n  users:\n    - username: alice\n      password: alicepw\n  trunks:\n    - name: carrier\n      uri: \"sip:{TRUNK_AT}\"\n      inbound: [127.0.0.2]\n      probe: 0\n"
    );
    if let Some(d) = &dir {
        yaml.push_str(&format!(
            "  dialplan: {}\n",
            d.path().join("dialplan.yaml").display()
        ));
    }
    let config = Config::from_yaml(&yaml).unwrap();
    let listeners = [(Transport::Udp, format!("sip:{US}"))];
    let svc = SipService::new(&config.sip, None, &listeners, Instant::now()).unwrap();
    (svc, dir)
}

/// A tiny scratch directory, removed on drop.
mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "cardea-service-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn invite(number: &str, call_id: &str, from_at: &str) -> Request {
    let text = format!(
        "INVITE sip:{number}@cardea.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from_at};branch=z9hG4bK-{call_id}-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@cardea.test>;tag=a-{call_id}\r\n\
         To: <sip:{number}@cardea.test>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:alice@{from_at}>\r\n\
         Content-Length: 0\r\n\r\n",
        rand::random::<u32>()
    );
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

/// Feeds `request` from `from`; returns what went out, with where to.
fn exchange(svc: &mut SipService, request: Request, from: &str) -> Vec<(SocketAddr, Message)> {
    let from: SocketAddr = from.parse().unwrap();
    svc.handle_message(
        Instant::now(),
        Message::Request(request),
        Destination::udp(from),
    );
    let mut out = Vec::new();
    while let Some(t) = svc.poll_transmit() {
        out.push((t.destination.addr, t.message));
    }
    out
}

fn final_response(out: &[(SocketAddr, Message)]) -> Option<&Response> {
    out.iter().find_map(|(_, m)| match m {
        Message::Response(r) if r.status >= 200 => Some(r),
        _ => None,
    })
}

/// alice's INVITE answered through the 407 dance with `password`; what the second INVITE
/// made go out.
fn authenticated_invite(
    svc: &mut SipService,
    number: &str,
    call_id: &str,
    password: &str,
) -> Vec<(SocketAddr, Message)> {
    let first = exchange(svc, invite(number, call_id, ALICE_AT), ALICE_AT);
    let challenge = final_response(&first).expect("a challenge").clone();
    assert_eq!(challenge.status, 407, "{challenge:?}");
    let mut client = ClientAuth::new(ClientCredentials {
        username: "alice".into(),
        secret: Secret::Password(password.into()),
        realm: None,
    });
    assert!(matches!(client.on_response(&challenge), AuthStep::Retry));
    let mut second = invite(number, &format!("{call_id}-2"), ALICE_AT);
    client.authorize(&mut second, &mut rand::rng());
    exchange(svc, second, ALICE_AT)
}

#[test]
fn failed_authentications_from_one_address_are_cut_off_at_the_limit() {
    let (mut svc, _dir) = service(None);
    for i in 0..5 {
        let out = authenticated_invite(&mut svc, "bob", &format!("guess{i}"), "wrong");
        let resp = final_response(&out).expect("an answer");
        assert_eq!(resp.status, 403, "attempt {i}: {resp:?}");
        assert!(!resp.reason.contains("too many"), "attempt {i}: {resp:?}");
    }
    // Now even a first request without credentials gets no challenge to guess against.
    let out = exchange(&mut svc, invite("bob", "after", ALICE_AT), ALICE_AT);
    let resp = final_response(&out).expect("an answer");
    assert_eq!(resp.status, 403);
    assert!(resp.reason.contains("too many failed"), "{}", resp.reason);
    // Another address is not affected.
    let out = exchange(
        &mut svc,
        invite("bob", "other", "127.0.0.9:5060"),
        "127.0.0.9:5060",
    );
    assert_eq!(final_response(&out).map(|r| r.status), Some(407));
}

#[test]
fn a_trunk_reaches_no_trunk_and_leaves_a_call_record() {
    let dialplan = "rules:\n  - name: out\n    from: local\n    to: { pattern: \"_9X.\" }\n    rewrite: { strip: 1 }\n    action: { trunk: carrier }\n";
    let (mut svc, _dir) = service(Some(dialplan));
    let out = exchange(
        &mut svc,
        invite("95551234", "from-trunk", CARRIER_AT),
        CARRIER_AT,
    );
    let resp = final_response(&out).expect("an answer");
    assert_eq!(resp.status, 404, "{resp:?}");
    assert!(
        !out.iter().any(|(to, _)| to.to_string() == TRUNK_AT),
        "nothing may go to the trunk"
    );
    let records = svc.records.log.latest(10);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["origin"], "trunk:carrier");
    assert_eq!(records[0]["status"], 404);
}

#[test]
fn credentials_for_us_do_not_travel_to_the_trunk() {
    let dialplan = "rules:\n  - name: out\n    from: local\n    to: { pattern: \"_9X.\" }\n    rewrite: { strip: 1 }\n    caller_id: { number: \"+15550100\", name: \"Support\" }\n    action: { trunk: carrier }\n";
    let (mut svc, _dir) = service(Some(dialplan));
    let out = authenticated_invite(&mut svc, "95551234", "out", "alicepw");
    let copy = out
        .iter()
        .find_map(|(to, m)| match m {
            Message::Request(r) if to.to_string() == TRUNK_AT => Some(r),
            _ => None,
        })
        .expect("the INVITE goes to the trunk");
    assert_eq!(copy.uri.to_string(), format!("sip:5551234@{TRUNK_AT}"));
    assert!(!copy.headers.contains(&HeaderName::ProxyAuthorization));
    let pai = copy
        .headers
        .get(&HeaderName::parse("P-Asserted-Identity"))
        .and_then(|h| h.value_str().ok())
        .unwrap_or_default();
    assert_eq!(pai, "\"Support\" <sip:+15550100@cardea.test>");
}

#[test]
fn a_registered_trunk_calling_our_contact_dials_the_number_in_to() {
    let dir = tempdir::Dir::new();
    let plan = dir.path().join("dialplan.yaml");
    std::fs::write(
        &plan,
        "rules:\n  - name: did\n    from: trunk:carrier\n    to: \"+3312345\"\n    action: { reject: 486 }\n",
    )
    .unwrap();
    let yaml = format!(
        "sip:\n  realm: cardea.test\n  trunks:\n    - name: carrier\n      uri: \"sip:{CARRIER_AT}\"\n      probe: 0\n      register: {{ username: acct42, password: pw }}\n  dialplan: {}\n",
        plan.display()
    );
    let config = Config::from_yaml(&yaml).unwrap();
    let listeners = [(Transport::Udp, format!("sip:{US}"))];
    let mut svc = SipService::new(&config.sip, None, &listeners, Instant::now()).unwrap();
    let text = format!(
        "INVITE sip:acct42@{US} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CARRIER_AT};branch=z9hG4bK-did-1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+3399999@carrier.example>;tag=c1\r\n\
         To: <sip:+3312345@carrier.example>\r\n\
         Call-ID: did-1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:carrier@{CARRIER_AT}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let Ok(Message::Request(invite)) = Message::parse(text.as_bytes()) else {
        panic!("bad test INVITE");
    };
    let out = exchange(&mut svc, invite, CARRIER_AT);
    assert_eq!(final_response(&out).map(|r| r.status), Some(486));
    let records = svc.records.log.latest(1);
    assert_eq!(records[0]["dialled"], "+3312345");
}

#[test]
fn a_trunk_silent_to_its_probe_is_down_and_tried_last() {
    let dir = tempdir::Dir::new();
    let plan = dir.path().join("dialplan.yaml");
    std::fs::write(
        &plan,
        "rules:\n  - name: out\n    from: local\n    to: { pattern: \"_9X.\" }\n    rewrite: { strip: 1 }\n    action: { trunk: [first, second] }\n",
    )
    .unwrap();
    let yaml = format!(
        "sip:\n  realm: cardea.test\n  users:\n    - username: alice\n      password: alicepw\n  trunks:\n    - name: first\n      uri: \"sip:{TRUNK_AT}\"\n      probe: 30\n      no_answer: 2\n    - name: second\n      uri: \"sip:127.0.0.4:5070\"\n      probe: 0\n  dialplan: {}\n",
        plan.display()
    );
    let config = Config::from_yaml(&yaml).unwrap();
    let listeners = [(Transport::Udp, format!("sip:{US}"))];
    let start = Instant::now();
    let mut svc = SipService::new(&config.sip, None, &listeners, start).unwrap();
    let status = svc.trunk_regs.status.clone();
    svc.handle_timeout(start);
    let mut probe = None;
    while let Some(t) = svc.poll_transmit() {
        if let Message::Request(r) = &t.message {
            if r.method == cardea_sip::Method::Options {
                probe = Some(t.destination.addr.to_string());
            }
        }
    }
    assert_eq!(
        probe.as_deref(),
        Some(TRUNK_AT),
        "the first trunk is probed"
    );
    assert_eq!(status.get()[0]["up"], true);
    // No answer within its no_answer time: down.
    svc.handle_timeout(start + std::time::Duration::from_secs(2));
    while svc.poll_transmit().is_some() {}
    assert_eq!(status.get()[0]["up"], false, "{:?}", status.get());
    // A call now goes to the second trunk first.
    let out = authenticated_invite(&mut svc, "95551234", "after-probe", "alicepw");
    let first_invite = out.iter().find_map(|(to, m)| match m {
        Message::Request(r) if r.method == cardea_sip::Method::Invite => Some(to.to_string()),
        _ => None,
    });
    assert_eq!(first_invite.as_deref(), Some("127.0.0.4:5070"));
}
