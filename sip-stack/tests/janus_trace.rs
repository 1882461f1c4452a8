//! The SIP that Janus sends (shared/reference/sip-sample-trace.txt) parses, validates,
//! decodes into typed headers and is written back byte for byte.

use cardea_sip::typed::{
    Allow, Authorization, CSeq, Contact, ContentType, Expires, From, MaxForwards, RecordRoute,
    Rport, Supported, To, Transport, Via,
};
use cardea_sip::{Host, Message, Method};

const TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/sip-sample-trace.txt"
);

/// Each captured message, with CRLF line ends restored.
fn messages() -> Vec<(String, Vec<u8>)> {
    let text = std::fs::read_to_string(TRACE).expect("trace is readable");
    let mut out = Vec::new();
    let mut title = String::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |title: &str, lines: &mut Vec<&str>| {
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        if !lines.is_empty() && !title.is_empty() {
            out.push((
                title.to_owned(),
                format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes(),
            ));
        }
        lines.clear();
    };
    for line in text.lines() {
        if line.starts_with("=====") {
            continue;
        }
        if let Some(t) = line.strip_prefix("## ") {
            flush(&title, &mut lines);
            title = t.trim().to_owned();
            continue;
        }
        if !title.is_empty() {
            lines.push(line);
        }
    }
    flush(&title, &mut lines);
    out
}

#[test]
fn every_janus_message_parses_validates_and_writes_back_unchanged() {
    let msgs = messages();
    assert!(msgs.len() >= 12, "found {} messages", msgs.len());
    for (title, bytes) in &msgs {
        let m = Message::parse(bytes).unwrap_or_else(|e| panic!("{title}: {e}"));
        m.validate().unwrap_or_else(|e| panic!("{title}: {e}"));
        let vias: Vec<Via> = m.headers().typed_all().unwrap();
        assert!(!vias.is_empty(), "{title}");
        let _: Vec<Allow> = m.headers().typed_all().unwrap();
        let _: Vec<Supported> = m.headers().typed_all().unwrap();
        let _: Vec<Contact> = m.headers().typed_all().unwrap();
        let _: Vec<RecordRoute> = m.headers().typed_all().unwrap();
        let _: Option<ContentType> = m.headers().typed().unwrap();
        let written = m.to_bytes();
        assert_eq!(
            written,
            bytes[..written.len()].to_vec(),
            "{title}: written form differs"
        );
    }
}

fn find(title_part: &str) -> Message {
    let (_, bytes) = messages()
        .into_iter()
        .find(|(t, _)| t.contains(title_part))
        .unwrap_or_else(|| panic!("no message titled {title_part}"));
    Message::parse(&bytes).unwrap()
}

#[test]
fn register_with_digest_credentials_decodes() {
    let m = find("2nd REGISTER");
    let Message::Request(r) = &m else {
        panic!("not a request")
    };
    assert_eq!(r.method, Method::Register);
    let via: Via = r.headers.typed().unwrap().unwrap();
    assert_eq!(via.transport, Transport::Udp);
    assert_eq!(via.host, Host::Ipv4("127.0.0.1".parse().unwrap()));
    assert_eq!(via.port, Some(50475));
    assert_eq!(via.rport(), Some(Rport::Requested));
    assert!(via.has_rfc3261_branch());
    let auth: Authorization = r.headers.typed().unwrap().unwrap();
    assert_eq!(auth.scheme, "Digest");
    assert_eq!(auth.param("realm").as_deref(), Some("sipp.test"));
    assert_eq!(auth.param("qop").as_deref(), Some("auth"));
    assert_eq!(r.headers.typed::<Expires>().unwrap(), Some(Expires(3600)));
    assert_eq!(
        r.headers.typed::<MaxForwards>().unwrap(),
        Some(MaxForwards(70))
    );
    let contact: Contact = r.headers.typed().unwrap().unwrap();
    let addr = contact.address().unwrap();
    assert_eq!(addr.display_name.as_deref(), Some("Alice"));
    assert_eq!(addr.uri.as_sip().unwrap().transport(), Some("udp"));
    let allow: Vec<Allow> = r.headers.typed_all().unwrap();
    assert_eq!(allow.len(), 10);
    assert_eq!(allow[0], Allow(Method::Invite));
    let supported: Vec<Supported> = r.headers.typed_all().unwrap();
    assert_eq!(
        supported,
        vec![Supported("replaces".into()), Supported("path".into())]
    );
}

#[test]
fn relayed_invite_keeps_both_vias_and_record_route() {
    let m = find("relayed by kamailio");
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].received(), Some("127.0.0.1"));
    assert_eq!(vias[1].rport(), Some(Rport::Port(47641)));
    let rr: Vec<RecordRoute> = m.headers().typed_all().unwrap();
    assert!(rr[0].uri.as_sip().unwrap().is_loose_route());
    let from: From = m.from().unwrap().unwrap();
    assert_eq!(from.display_name.as_deref(), Some("Alice"));
    assert_eq!(from.tag(), Some("KUZpUSU1D01rm"));
    let ct: ContentType = m.headers().typed().unwrap().unwrap();
    assert!(ct.is("application", "sdp"));
    assert_eq!(m.body().len(), 417);
}

#[test]
fn responses_decode_status_and_cseq() {
    let m = find("486 after");
    let Message::Response(r) = &m else {
        panic!("not a response")
    };
    assert_eq!(r.status, 486);
    assert_eq!(r.reason, "Busy Here");
    let cseq: CSeq = r.headers.typed().unwrap().unwrap();
    assert_eq!(cseq.method, Method::Invite);
    let to: To = r.headers.typed().unwrap().unwrap();
    assert_eq!(to.tag(), Some("8je510XX79Sgg"));
}
