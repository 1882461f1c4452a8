//! Message-level behaviour: compact forms, folding, raw preservation, typed edits,
//! responses built from requests.

use cardea_sip::typed::{
    CSeq, CallId, Contact, ContentLength, Event, From, ReferTo, Replaces, Route, SessionExpires,
    Supported, To, Via,
};
use cardea_sip::{Header, HeaderName, Message, Method, Request, Uri};

fn req(text: &str) -> Request {
    match Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

const BASE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0
v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
f: Alice <sip:alice@atlanta.example.com>;tag=1928301774
t: Bob <sip:bob@biloxi.example.com>
i: a84b4c76e66710@pc33.atlanta.example.com
CSeq: 314159 INVITE
m: <sip:alice@pc33.atlanta.example.com>
k: timer, 100rel
o: refer;id=93809824
r: <sip:carol@cleveland.example.org?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>
x: 1800;refresher=uac
X-Custom: kept as is
x-custom: second copy
Max-Forwards: 70
l: 0

";

#[test]
fn compact_forms_decode_like_long_forms() {
    let r = req(BASE);
    r.headers.typed::<Via>().unwrap().unwrap();
    assert_eq!(
        r.headers.typed::<From>().unwrap().unwrap().tag(),
        Some("1928301774")
    );
    assert!(r.headers.typed::<To>().unwrap().unwrap().tag().is_none());
    assert_eq!(
        r.headers.typed::<CallId>().unwrap().unwrap().0,
        "a84b4c76e66710@pc33.atlanta.example.com"
    );
    assert_eq!(r.headers.typed_all::<Contact>().unwrap().len(), 1);
    assert_eq!(r.headers.typed_all::<Supported>().unwrap().len(), 2);
    let ev = r.headers.typed::<Event>().unwrap().unwrap();
    assert_eq!((ev.package.as_str(), ev.id()), ("refer", Some("93809824")));
    let refer = r.headers.typed::<ReferTo>().unwrap().unwrap();
    assert_eq!(refer.uri.as_sip().unwrap().headers[0].0, "Replaces");
    let se = r.headers.typed::<SessionExpires>().unwrap().unwrap();
    assert_eq!(se.delta, 1800);
    assert_eq!(
        r.headers.typed::<ContentLength>().unwrap(),
        Some(ContentLength(0))
    );
}

#[test]
fn unknown_and_repeated_headers_are_kept_in_order() {
    let r = req(BASE);
    let custom: Vec<&[u8]> = r
        .headers
        .get_all(&HeaderName::Other("X-CUSTOM".into()))
        .map(Header::value_bytes)
        .collect();
    assert_eq!(custom, vec![&b"kept as is"[..], &b"second copy"[..]]);
}

#[test]
fn folded_values_are_unfolded_but_written_back_folded() {
    let text = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: one\r\n  two\r\nl: 0\r\n\r\n";
    let m = Message::parse(text.as_bytes()).unwrap();
    let subject = m.headers().get(&HeaderName::Subject).unwrap();
    assert_eq!(subject.value_bytes(), b"one two");
    assert_eq!(m.to_bytes(), text.as_bytes());
}

#[test]
fn changing_one_typed_header_rewrites_only_that_field() {
    let mut r = req(BASE);
    let before = String::from_utf8(r.to_bytes()).unwrap();
    let mut cseq: CSeq = r.headers.typed().unwrap().unwrap();
    cseq.seq += 1;
    r.headers.set_typed(&cseq);
    let after = String::from_utf8(r.to_bytes()).unwrap();
    let diff: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(diff, vec![("CSeq: 314159 INVITE", "CSeq: 314160 INVITE")]);
}

#[test]
fn proxy_prepends_its_via_and_pops_a_route() {
    let mut r = req(BASE);
    r.headers
        .push_typed(&Route(cardea_sip::typed::NameAddr::new(
            Uri::parse("sip:p1.example.com;lr").unwrap(),
        )));
    let via = Via::decode_for_test("SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1");
    r.headers.prepend_typed(&via);
    let vias = Message::Request(r.clone()).vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].branch(), Some("z9hG4bKp1"));
    let routes: Vec<Route> = r.headers.typed_all().unwrap();
    r.headers.set_typed_list(&routes[1..]);
    assert!(r.headers.get(&HeaderName::Route).is_none());
    let again = Message::parse(&r.to_bytes()).unwrap();
    again.validate().unwrap();
}

trait DecodeForTest {
    fn decode_for_test(s: &str) -> Self;
}

impl DecodeForTest for Via {
    fn decode_for_test(s: &str) -> Via {
        <Via as cardea_sip::TypedHeader>::decode(s).unwrap()
    }
}

#[test]
fn response_copies_dialog_headers_and_adds_a_to_tag() {
    let r = req(BASE);
    let mut resp = r.make_response(180);
    assert_eq!(resp.reason, "Ringing");
    assert!(resp.set_to_tag("a6c85cf").unwrap());
    assert!(!resp.set_to_tag("other").unwrap());
    let bytes = resp.to_bytes();
    let m = Message::parse(&bytes).unwrap();
    m.validate().unwrap();
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        assert_eq!(
            m.headers().get(&name).unwrap().value_bytes(),
            r.headers.get(&name).unwrap().value_bytes(),
            "{name}"
        );
    }
    assert_eq!(m.to().unwrap().unwrap().tag(), Some("a6c85cf"));
    assert!(bytes.starts_with(b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP"));
    assert!(bytes.ends_with(b"Content-Length: 0\r\n\r\n"));
}

#[test]
fn trying_copies_timestamp() {
    let r = req("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTimestamp: 54\nFrom: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 OPTIONS\n\n");
    let resp = r.make_response(100);
    assert!(resp.headers.contains(&HeaderName::Timestamp));
    assert!(!r
        .make_response(200)
        .headers
        .contains(&HeaderName::Timestamp));
}

#[test]
fn replaces_header_decodes() {
    let r = req("INVITE sip:a@b SIP/2.0\nReplaces: 425928@bobster.example.org;to-tag=7743;from-tag=6472\n\n");
    let rep: Replaces = r.headers.typed().unwrap().unwrap();
    assert_eq!(rep.call_id, "425928@bobster.example.org");
    assert_eq!(rep.to_tag(), Some("7743"));
}

#[test]
fn extension_method_and_tel_uri_are_accepted() {
    let r = req("FOO tel:+1-201-555-0123 SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <tel:+1>;tag=1\nTo: <tel:+2>\nCall-ID: x\nCSeq: 1 FOO\nl: 0\n\n");
    assert_eq!(r.method, Method::Extension("FOO".into()));
    assert_eq!(r.uri, Uri::Absolute("tel:+1-201-555-0123".into()));
    Message::Request(r).validate().unwrap();
}

#[test]
fn datagram_without_content_length_takes_the_rest_as_body() {
    let m = Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\nabc").unwrap();
    assert_eq!(&m.body()[..], b"abc");
}

#[test]
fn leading_crlfs_are_skipped_and_a_bare_keepalive_is_empty() {
    assert!(Message::parse(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n").is_ok());
    assert!(matches!(
        Message::parse(b"\r\n\r\n"),
        Err(cardea_sip::ParseError::Empty)
    ));
}
