//! The registrar's binding rules (RFC 3261 §10.3, RFC 3327, RFC 5626 §6) on a virtual clock.

use std::time::{Duration, Instant};

use cardea_sip::registrar::{Aor, MemoryLocationStore, Registrar, RegistrarConfig};
use cardea_sip::typed::{Contact, MinExpires};
use cardea_sip::{HeaderName, Message, Request, Response, Uri};

struct Reg<'a> {
    contacts: Vec<&'a str>,
    expires: Option<u32>,
    call_id: &'a str,
    cseq: u32,
    extra: Vec<&'a str>,
}

fn reg<'a>(contacts: &[&'a str], expires: Option<u32>, cseq: u32) -> Reg<'a> {
    Reg {
        contacts: contacts.to_vec(),
        expires,
        call_id: "call-1",
        cseq,
        extra: Vec::new(),
    }
}

impl Reg<'_> {
    fn build(&self) -> Request {
        let mut t = String::from(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n",
        );
        t += &format!(
            "Call-ID: {}\r\nCSeq: {} REGISTER\r\n",
            self.call_id, self.cseq
        );
        for c in &self.contacts {
            t += &format!("Contact: {c}\r\n");
        }
        if let Some(e) = self.expires {
            t += &format!("Expires: {e}\r\n");
        }
        for h in &self.extra {
            t += &format!("{h}\r\n");
        }
        t += "Content-Length: 0\r\n\r\n";
        match Message::parse(t.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }
}

struct World {
    now: Instant,
    registrar: Registrar<MemoryLocationStore>,
}

impl World {
    fn new() -> World {
        World::with(RegistrarConfig::default())
    }

    fn with(config: RegistrarConfig) -> World {
        World {
            now: Instant::now(),
            registrar: Registrar::new(config, MemoryLocationStore::new()),
        }
    }

    fn send(&mut self, r: &Reg<'_>) -> Response {
        self.registrar
            .handle_register(self.now, &r.build(), Some("alice"))
    }

    /// (contact URI, expires) pairs of a 200 OK.
    fn listed(resp: &Response) -> Vec<(String, u32)> {
        resp.headers
            .typed_all::<Contact>()
            .unwrap()
            .iter()
            .map(|c| (c.address().unwrap().uri.to_string(), c.expires().unwrap()))
            .collect()
    }

    fn uris(&self) -> Vec<String> {
        self.registrar
            .bindings(&alice(), self.now)
            .iter()
            .map(|b| b.contact.uri.to_string())
            .collect()
    }
}

fn alice() -> Aor {
    Aor::from_uri(&Uri::parse("sip:alice@example.com").unwrap()).unwrap()
}

const A: &str = "<sip:alice@192.0.2.1:5060>";
const B: &str = "<sip:alice@192.0.2.2:5060>";

#[test]
fn register_stores_contact_and_lists_it_with_expires() {
    let mut w = World::new();
    let resp = w.send(&reg(&[A], Some(600), 1));
    assert_eq!(resp.status, 200);
    assert_eq!(
        World::listed(&resp),
        [("sip:alice@192.0.2.1:5060".to_owned(), 600)]
    );
    w.now += Duration::from_secs(100);
    let resp = w.send(&reg(&[], None, 2));
    assert_eq!(
        World::listed(&resp),
        [("sip:alice@192.0.2.1:5060".to_owned(), 500)]
    );
}

#[test]
fn contact_param_beats_expires_header_beats_default() {
    let mut w = World::new();
    let resp = w.send(&reg(
        &["<sip:alice@192.0.2.1>;expires=120", B],
        Some(300),
        1,
    ));
    let mut l = World::listed(&resp);
    l.sort();
    assert_eq!(
        l,
        [
            ("sip:alice@192.0.2.1".to_owned(), 120),
            ("sip:alice@192.0.2.2:5060".to_owned(), 300)
        ]
    );
    let mut w = World::new();
    let resp = w.send(&reg(&[A], None, 1));
    assert_eq!(World::listed(&resp)[0].1, 3600, "default");
}

#[test]
fn expires_zero_removes_only_that_contact() {
    let mut w = World::new();
    w.send(&reg(&[A, B], Some(600), 1));
    let resp = w.send(&reg(&["<sip:alice@192.0.2.1:5060>;expires=0"], None, 2));
    assert_eq!(resp.status, 200);
    assert_eq!(w.uris(), ["sip:alice@192.0.2.2:5060"]);
}

#[test]
fn star_with_expires_zero_removes_all() {
    let mut w = World::new();
    w.send(&reg(&[A, B], Some(600), 1));
    let resp = w.send(&reg(&["*"], Some(0), 2));
    assert_eq!(resp.status, 200);
    assert!(World::listed(&resp).is_empty());
    assert!(w.uris().is_empty());
    assert_eq!(
        cardea_sip::registrar::LocationStore::aor_count(w.registrar.store()),
        0
    );
}

#[test]
fn star_with_nonzero_expires_is_400() {
    let mut w = World::new();
    w.send(&reg(&[A], Some(600), 1));
    assert_eq!(w.send(&reg(&["*"], Some(60), 2)).status, 400);
    assert_eq!(w.send(&reg(&["*"], None, 3)).status, 400);
    assert_eq!(w.uris().len(), 1);
}

#[test]
fn star_with_other_contacts_is_400() {
    let mut w = World::new();
    assert_eq!(w.send(&reg(&["*", A], Some(0), 1)).status, 400);
}

#[test]
fn too_brief_interval_is_423_with_min_expires() {
    let mut w = World::new();
    let resp = w.send(&reg(&[A, "<sip:alice@192.0.2.9>;expires=30"], Some(600), 1));
    assert_eq!(resp.status, 423);
    assert_eq!(
        resp.headers.typed::<MinExpires>().unwrap(),
        Some(MinExpires(60))
    );
    assert!(w.uris().is_empty(), "nothing applied");
}

#[test]
fn long_expiry_is_clamped_to_max() {
    let mut w = World::new();
    let resp = w.send(&reg(&[A], Some(86_400), 1));
    assert_eq!(World::listed(&resp)[0].1, 3600);
}

#[test]
fn same_call_id_with_lower_or_equal_cseq_is_refused_and_changes_nothing() {
    let mut w = World::new();
    w.send(&reg(&[A], Some(600), 5));
    for cseq in [5, 4] {
        let resp = w.send(&reg(&["<sip:alice@192.0.2.1:5060>;expires=0"], None, cseq));
        assert_eq!(resp.status, 500, "cseq {cseq}");
        assert_eq!(w.uris().len(), 1);
    }
    let resp = w.send(&reg(&["*"], Some(0), 5));
    assert_eq!(resp.status, 500);
    assert_eq!(w.send(&reg(&["*"], Some(0), 6)).status, 200);
}

#[test]
fn other_call_id_may_replace_a_binding_whatever_its_cseq() {
    let mut w = World::new();
    w.send(&reg(&[A], Some(600), 5));
    let mut r = reg(&["<sip:alice@192.0.2.1:5060>;expires=900"], None, 1);
    r.call_id = "call-2";
    let resp = w.send(&r);
    assert_eq!(resp.status, 200);
    assert_eq!(World::listed(&resp)[0].1, 900);
    assert_eq!(w.registrar.bindings(&alice(), w.now)[0].call_id, "call-2");
}

#[test]
fn bindings_expire_on_timeout() {
    let mut w = World::new();
    w.send(&reg(&["<sip:alice@192.0.2.1>;expires=60", B], Some(600), 1));
    assert_eq!(
        w.registrar.poll_timeout(),
        Some(w.now + Duration::from_secs(60))
    );
    w.now += Duration::from_secs(60);
    assert_eq!(
        w.uris(),
        ["sip:alice@192.0.2.2:5060"],
        "lookup hides it at once"
    );
    assert_eq!(w.registrar.handle_timeout(w.now), 1);
    assert_eq!(
        w.registrar.poll_timeout(),
        Some(w.now + Duration::from_secs(540))
    );
    w.now += Duration::from_secs(540);
    assert_eq!(w.registrar.purge(w.now), 1);
    assert_eq!(w.registrar.poll_timeout(), None);
}

#[test]
fn lookup_is_sorted_by_q_then_freshness() {
    let mut w = World::new();
    w.send(&reg(
        &["<sip:a@192.0.2.1>;q=0.5", "<sip:b@192.0.2.2>;q=0.9"],
        Some(600),
        1,
    ));
    w.now += Duration::from_secs(1);
    w.send(&reg(&["<sip:c@192.0.2.3>;q=0.5"], Some(600), 2));
    assert_eq!(
        w.uris(),
        ["sip:b@192.0.2.2", "sip:c@192.0.2.3", "sip:a@192.0.2.1"]
    );
    assert_eq!(w.registrar.bindings(&alice(), w.now)[0].q, 900);
}

#[test]
fn path_is_stored_and_echoed_when_supported() {
    let mut w = World::new();
    let mut r = reg(&[A], Some(600), 1);
    r.extra = vec![
        "Path: <sip:edge1.example;lr>",
        "Path: <sip:edge2.example;lr>",
        "Supported: path",
    ];
    let resp = w.send(&r);
    assert_eq!(resp.status, 200);
    let echoed: Vec<_> = resp.headers.get_all(&HeaderName::parse("Path")).collect();
    assert_eq!(echoed.len(), 1);
    assert_eq!(
        echoed[0].value_str().unwrap(),
        "<sip:edge1.example;lr>, <sip:edge2.example;lr>"
    );
    let b = &w.registrar.bindings(&alice(), w.now)[0];
    assert_eq!(b.path, ["<sip:edge1.example;lr>", "<sip:edge2.example;lr>"]);
}

#[test]
fn instance_and_reg_id_identify_the_binding() {
    let mut w = World::new();
    let inst = "\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"";
    let first = format!("<sip:alice@192.0.2.1:5060;ob>;+sip.instance={inst};reg-id=1");
    let moved = format!("<sip:alice@198.51.100.4:6000;ob>;+sip.instance={inst};reg-id=1");
    let flow2 = format!("<sip:alice@198.51.100.4:6001;ob>;+sip.instance={inst};reg-id=2");
    let mut r = reg(&[&first], Some(600), 1);
    r.extra = vec!["Supported: outbound, path"];
    let resp = w.send(&r);
    assert_eq!(resp.status, 200);
    assert!(
        resp.headers.get(&HeaderName::Require).is_some(),
        "Require: outbound"
    );
    // Same instance and reg-id from a new address replaces the binding (RFC 5626 §6).
    let mut r = reg(&[&moved], Some(600), 2);
    r.call_id = "call-2";
    w.send(&r);
    assert_eq!(w.uris(), ["sip:alice@198.51.100.4:6000;ob"]);
    let b = &w.registrar.bindings(&alice(), w.now)[0];
    assert_eq!(
        b.instance.as_deref(),
        Some("<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>")
    );
    assert_eq!(b.reg_id, Some(1));
    // Another reg-id is another flow.
    let mut r = reg(&[&flow2], Some(600), 3);
    r.call_id = "call-2";
    w.send(&r);
    assert_eq!(w.uris().len(), 2);
}

#[test]
fn query_without_contact_lists_bindings_and_changes_nothing() {
    let mut w = World::new();
    w.send(&reg(&[A, B], Some(600), 1));
    let resp = w.send(&reg(&[], Some(0), 2));
    assert_eq!(resp.status, 200);
    assert_eq!(World::listed(&resp).len(), 2);
}

#[test]
fn too_many_contacts_are_refused() {
    let mut w = World::with(RegistrarConfig {
        max_bindings_per_aor: 1,
        ..RegistrarConfig::default()
    });
    assert_eq!(w.send(&reg(&[A, B], Some(600), 1)).status, 403);
    assert!(w.uris().is_empty());
}
