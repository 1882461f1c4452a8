//! Dialogs (RFC 3261 §12) from both sides: route sets from Record-Route, loose and strict
//! routing, CSeq rules, target refresh, and the ACK for a 2xx.

use cardea_sip::dialog::{Dialog, DialogError, DialogSet, DialogState, Termination};
use cardea_sip::typed::{CSeq, Contact, Route, To, TypedHeader, Via};
use cardea_sip::{Message, Method, Request, Response, Uri};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
Record-Route: <sip:p2.example.com;lr>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n";

fn request(text: &str) -> Request {
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn uri(s: &str) -> Uri {
    Uri::parse(s).unwrap()
}

/// Bob's answer as it reaches Alice: To tag, Contact, Record-Route as the proxies left it.
fn answer(invite: &Request, status: u16, tag: &str, rr: &[&str]) -> Response {
    let mut r = invite.make_response(status);
    r.headers.remove_all(&cardea_sip::HeaderName::RecordRoute);
    r.set_to_tag(tag).unwrap();
    for route in rr {
        r.headers.push(cardea_sip::Header::new(
            cardea_sip::HeaderName::RecordRoute,
            route,
        ));
    }
    r.headers
        .push_typed(&Contact::decode("<sip:bob@192.0.2.4>").unwrap());
    r
}

fn routes(r: &Request) -> Vec<String> {
    r.headers
        .typed_all::<Route>()
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect()
}

fn cseq(r: &Request) -> (u32, Method) {
    let c = r.headers.typed::<CSeq>().unwrap().unwrap();
    (c.seq, c.method)
}

fn bob_via() -> Via {
    Via::decode("SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKx").unwrap()
}

#[test]
fn in_dialog_request_uses_route_set_from_record_route() {
    let invite = request(INVITE);
    let ok = answer(
        &invite,
        200,
        "a6c85cf",
        &["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
    );

    // UAC: the route set is the Record-Route reversed (§12.1.2).
    let mut uac = Dialog::uac(&invite, &ok).unwrap();
    assert_eq!(uac.state(), &DialogState::Confirmed);
    let bye = uac.make_bye();
    assert_eq!(bye.uri, uri("sip:bob@192.0.2.4"));
    assert_eq!(
        routes(&bye),
        ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    );
    assert_eq!(cseq(&bye), (314160, Method::Bye));
    let to = bye.headers.typed::<To>().unwrap().unwrap();
    assert_eq!(to.tag(), Some("a6c85cf"));
    assert_eq!(to.display_name.as_deref(), Some("Bob"));

    // UAS: the route set is the Record-Route in order (§12.1.1); its CSeq starts afresh.
    let contact = Contact::decode("<sip:bob@192.0.2.4>").unwrap();
    let mut uas = Dialog::uas(
        &invite,
        "a6c85cf",
        contact.address().unwrap().clone(),
        bob_via(),
    )
    .unwrap();
    let bye = uas.make_bye();
    assert_eq!(bye.uri, uri("sip:alice@pc33.atlanta.example.com"));
    assert_eq!(
        routes(&bye),
        ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    );
    assert_eq!(cseq(&bye).1, Method::Bye);
    let via = bye.headers.typed::<Via>().unwrap().unwrap();
    assert_eq!(via.branch(), None, "the transaction layer picks the branch");
}

#[test]
fn strict_router_takes_the_request_uri_and_the_target_goes_last() {
    let invite = request(INVITE);
    let ok = answer(
        &invite,
        200,
        "t",
        &["<sip:p1.example.com;lr>", "<sip:strict.example.com>"],
    );
    let mut d = Dialog::uac(&invite, &ok).unwrap();
    let info = d.make_request(Method::Info);
    assert_eq!(info.uri, uri("sip:strict.example.com"));
    assert_eq!(
        routes(&info),
        ["sip:p1.example.com;lr", "sip:bob@192.0.2.4"]
    );
}

#[test]
fn ack_for_2xx_keeps_the_invite_cseq_and_gets_its_own_branch() {
    let invite = request(INVITE);
    let ok = answer(&invite, 200, "t", &[]);
    let mut d = Dialog::uac(&invite, &ok).unwrap();
    let ack = d.make_ack(&invite);
    assert_eq!(cseq(&ack), (314159, Method::Ack));
    let branch = ack.headers.typed::<Via>().unwrap().unwrap();
    assert!(branch.has_rfc3261_branch());
    assert_ne!(branch.branch(), Some("z9hG4bK776asdhds"));
    // The ACK does not use up a CSeq number (§13.2.2.4).
    assert_eq!(cseq(&d.make_bye()), (314160, Method::Bye));
}

#[test]
fn dialog_refuses_lower_remote_cseq_with_500() {
    let invite = request(INVITE);
    let contact = Contact::decode("<sip:bob@192.0.2.4>").unwrap();
    let mut uas =
        Dialog::uas(&invite, "b1", contact.address().unwrap().clone(), bob_via()).unwrap();
    uas.confirm();
    let in_dialog = |seq: u32, method: &str| {
        request(
            &INVITE
                .replace(
                    "INVITE sip:bob@biloxi.example.com",
                    &format!("{method} sip:bob@192.0.2.4"),
                )
                .replace("CSeq: 314159 INVITE", &format!("CSeq: {seq} {method}"))
                .replace(
                    "To: Bob <sip:bob@biloxi.example.com>",
                    "To: Bob <sip:bob@biloxi.example.com>;tag=b1",
                ),
        )
    };
    assert_eq!(uas.handle_request(&in_dialog(314160, "INFO")), Ok(()));
    let err = uas.handle_request(&in_dialog(314150, "INFO")).unwrap_err();
    assert_eq!(
        err,
        DialogError::CSeqOutOfOrder {
            got: 314150,
            last: 314160
        }
    );
    assert_eq!(err.status(), 500);
    // An ACK carries its INVITE's number and is not checked.
    assert_eq!(uas.handle_request(&in_dialog(314159, "ACK")), Ok(()));
    assert_eq!(uas.handle_request(&in_dialog(314161, "BYE")), Ok(()));
    assert_eq!(
        uas.state(),
        &DialogState::Terminated(Termination::RemoteBye)
    );
    let other = in_dialog(314162, "INFO");
    assert_eq!(uas.handle_request(&other), Err(DialogError::Terminated));
}

#[test]
fn reinvite_2xx_refreshes_the_remote_target() {
    let invite = request(INVITE);
    let ok = answer(&invite, 200, "t", &[]);
    let mut d = Dialog::uac(&invite, &ok).unwrap();
    let reinvite = d.make_request(Method::Invite);
    assert!(reinvite.headers.typed::<Contact>().unwrap().is_some());
    let mut ok2 = reinvite.make_response(200);
    ok2.headers
        .push_typed(&Contact::decode("<sip:bob@198.51.100.7:5080>").unwrap());
    d.handle_response(&ok2).unwrap();
    assert_eq!(d.remote_target(), &uri("sip:bob@198.51.100.7:5080"));
}

#[test]
fn provisional_creates_an_early_dialog_that_the_2xx_confirms() {
    let invite = request(INVITE);
    let mut set = DialogSet::new();
    let ringing = answer(&invite, 180, "x", &["<sip:p1.example.com;lr>"]);
    let d = set.handle_response(&invite, &ringing).unwrap().unwrap();
    assert!(d.is_early());
    let ok = answer(
        &invite,
        200,
        "x",
        &["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"],
    );
    let d = set.handle_response(&invite, &ok).unwrap().unwrap();
    assert!(d.is_confirmed());
    assert_eq!(d.route_set().len(), 2, "the 2xx recomputes the route set");
    assert_eq!(set.len(), 1);
    // A 100 and an untagged provisional create nothing.
    assert!(set
        .handle_response(&invite, &invite.make_response(100))
        .unwrap()
        .is_none());
    assert!(matches!(
        Dialog::uac(&invite, &invite.make_response(183)),
        Err(DialogError::MissingRemoteTag)
    ));
}
