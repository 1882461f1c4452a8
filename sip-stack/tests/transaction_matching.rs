//! How the layer routes messages: responses to client transactions (RFC 3261 §17.1.3),
//! requests to server transactions (§17.2.3, with the RFC 2543 fallback), CANCEL to its
//! INVITE (§9.2), merged requests (§8.2.2.2) and the ACK for a 2xx (§13.2.2.4).

#[path = "transaction_support.rs"]
mod support;

use std::time::Instant;

use cardea_sip::transaction::{
    ClientKey, ServerKey, Timers, TransactionError, TransactionEvent, TransactionLayer,
    TransactionState,
};
use cardea_sip::{Message, Request};
use support::*;

fn layer() -> (TransactionLayer, Instant) {
    (TransactionLayer::new(Timers::default()), Instant::now())
}

fn deliver(l: &mut TransactionLayer, t: Instant, r: &Request) -> Vec<TransactionEvent> {
    l.handle_message(t, Message::Request(r.clone()), udp_peer())
        .unwrap();
    drain_events(l)
}

fn new_request_key(events: &[TransactionEvent]) -> ServerKey {
    match events {
        [TransactionEvent::Request { key, .. }] => *key,
        other => panic!("expected one Request event, got {other:?}"),
    }
}

fn response_key(events: &[TransactionEvent]) -> (ClientKey, u16) {
    match events {
        [TransactionEvent::Response { key, response }, ..] => (*key, response.status),
        other => panic!("expected a Response event, got {other:?}"),
    }
}

#[test]
fn responses_match_client_transactions_by_branch_and_cseq_method() {
    let (mut l, t0) = layer();
    let invite = Req::new("INVITE", "z9hG4bKsame").build();
    let cancel = Req::new("CANCEL", "z9hG4bKsame").build();
    let inv = l.send_request(t0, invite.clone(), udp_peer()).unwrap();
    let can = l.send_request(t0, cancel.clone(), udp_peer()).unwrap();
    l.handle_message(
        t0,
        Message::Response(response(&cancel, 200, Some("s1"))),
        udp_peer(),
    )
    .unwrap();
    assert_eq!(response_key(&drain_events(&mut l)), (can, 200));
    l.handle_message(
        t0,
        Message::Response(response(&invite, 487, Some("s1"))),
        udp_peer(),
    )
    .unwrap();
    assert_eq!(response_key(&drain_events(&mut l)), (inv, 487));
}

#[test]
fn response_matching_no_transaction_goes_to_the_core() {
    let (mut l, t0) = layer();
    let other = Req::new("INVITE", "z9hG4bKunknown").build();
    l.handle_message(
        t0,
        Message::Response(response(&other, 200, Some("s1"))),
        udp_peer(),
    )
    .unwrap();
    assert!(matches!(
        drain_events(&mut l)[..],
        [TransactionEvent::StrayResponse { ref response, .. }] if response.status == 200
    ));
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    let (mut l, t0) = layer();
    let a = Req::new("OPTIONS", "z9hG4bKx");
    let mut b = a.clone();
    b.sent_by = "198.51.100.7:5060";
    b.from_tag = Some("other");
    let ka = new_request_key(&deliver(&mut l, t0, &a.build()));
    let kb = new_request_key(&deliver(&mut l, t0, &b.build()));
    assert_ne!(ka, kb);
}

#[test]
fn cancel_matches_its_invite_server_transaction() {
    let (mut l, t0) = layer();
    let invite = Req::new("INVITE", "z9hG4bKc").build();
    let inv = new_request_key(&deliver(&mut l, t0, &invite));
    let cancel = Req::new("CANCEL", "z9hG4bKc").build();
    let can = match deliver(&mut l, t0 + secs(1), &cancel)[..] {
        [TransactionEvent::Cancel {
            key,
            invite: Some(i),
            ..
        }] => {
            assert_eq!(i, inv);
            key
        }
        ref other => panic!("expected Cancel, got {other:?}"),
    };
    // The CANCEL is its own non-INVITE transaction; a retransmission is absorbed.
    assert_ne!(can, inv);
    assert!(deliver(&mut l, t0 + secs(2), &cancel).is_empty());
    l.respond(t0 + secs(2), can, response(&cancel, 200, Some("s1")))
        .unwrap();
    l.respond(t0 + secs(2), inv, response(&invite, 487, Some("s1")))
        .unwrap();
    assert_eq!(l.state(can), Some(TransactionState::Completed));
    assert_eq!(l.state(inv), Some(TransactionState::Completed));
}

#[test]
fn cancel_without_a_matching_invite_reports_none_for_a_481() {
    let (mut l, t0) = layer();
    deliver(&mut l, t0, &Req::new("INVITE", "z9hG4bKc").build());
    let stray = Req::new("CANCEL", "z9hG4bKelse").build();
    assert!(matches!(
        deliver(&mut l, t0, &stray)[..],
        [TransactionEvent::Cancel { invite: None, .. }]
    ));
}

#[test]
fn merged_request_is_reported_with_the_original_transaction() {
    let (mut l, t0) = layer();
    let first = Req::new("INVITE", "z9hG4bKpath1");
    let orig = new_request_key(&deliver(&mut l, t0, &first.build()));
    // The same request forked upstream and arriving along a second path.
    let mut second = first.clone();
    second.branch = "z9hG4bKpath2".into();
    second.sent_by = "198.51.100.7:5060";
    let second = second.build();
    let merged = match deliver(&mut l, t0 + ms(10), &second)[..] {
        [TransactionEvent::Merged { key, original, .. }] => {
            assert_eq!(original, orig);
            key
        }
        ref other => panic!("expected Merged, got {other:?}"),
    };
    // The TU answers 482 on the merged request's own transaction (§8.2.2.2).
    l.respond(t0 + ms(20), merged, response(&second, 482, Some("s2")))
        .unwrap();
    let sent = drain_transmits(&mut l);
    assert_eq!(as_response(&sent[0]).status, 482);
    assert_eq!(l.state(orig), Some(TransactionState::Proceeding));
}

#[test]
fn request_with_a_to_tag_is_never_merged() {
    let (mut l, t0) = layer();
    let mut first = Req::new("INFO", "z9hG4bKp1");
    first.to_tag = Some("s1");
    deliver(&mut l, t0, &first.build());
    let mut second = first.clone();
    second.branch = "z9hG4bKp2".into();
    assert!(matches!(
        deliver(&mut l, t0, &second.build())[..],
        [TransactionEvent::Request { .. }]
    ));
}

#[test]
fn new_cseq_after_a_finished_transaction_is_a_new_request() {
    let (mut l, t0) = layer();
    let reg = Req::new("REGISTER", "z9hG4bKr1").build();
    let k = new_request_key(&deliver(&mut l, t0, &reg));
    l.respond(t0, k, response(&reg, 401, Some("s1"))).unwrap();
    let mut again = Req::new("REGISTER", "z9hG4bKr2");
    again.cseq = 2;
    assert!(matches!(
        deliver(&mut l, t0 + secs(1), &again.build())[..],
        [TransactionEvent::Request { .. }]
    ));
}

#[test]
fn ack_for_2xx_with_its_own_branch_goes_to_the_tu_outside_any_transaction() {
    let (mut l, t0) = layer();
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let inv = new_request_key(&deliver(&mut l, t0, &invite));
    l.respond(t0, inv, response(&invite, 200, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    let mut ack = Req::new("ACK", "z9hG4bKnew");
    ack.to_tag = Some("s1");
    ack.uri = "sip:bob@192.0.2.99:5060";
    assert!(matches!(
        deliver(&mut l, t0 + ms(100), &ack.build())[..],
        [TransactionEvent::Ack { invite: None, .. }]
    ));
    assert_eq!(l.len(), 1, "an ACK never creates a transaction");
    assert!(drain_transmits(&mut l).is_empty());
}

#[test]
fn rfc2543_requests_without_the_cookie_match_by_their_headers() {
    let (mut l, t0) = layer();
    let old = Req::new("INVITE", "");
    let invite = old.build();
    let key = new_request_key(&deliver(&mut l, t0, &invite));
    // A retransmission matches (same URI, tags, Call-ID, CSeq, top Via).
    assert!(deliver(&mut l, t0 + ms(500), &invite).is_empty());
    l.respond(t0 + secs(1), key, response(&invite, 486, Some("s1")))
        .unwrap();
    // The ACK for the 486 matches the INVITE transaction and confirms it.
    let mut ack = old.clone();
    ack.method = "ACK";
    ack.to_tag = Some("s1");
    assert!(deliver(&mut l, t0 + secs(2), &ack.build()).is_empty());
    assert_eq!(l.state(key), Some(TransactionState::Confirmed));
    // Another Call-ID is another transaction.
    let mut other = old.clone();
    other.call_id = "call-2@192.0.2.1";
    assert!(matches!(
        deliver(&mut l, t0 + secs(2), &other.build())[..],
        [TransactionEvent::Request { .. }]
    ));
}

#[test]
fn requests_naming_no_transaction_are_refused() {
    let (mut l, t0) = layer();
    let mut bad = Req::new("OPTIONS", "z9hG4bKb");
    bad.cseq_method = Some("INVITE");
    assert_eq!(
        l.handle_message(t0, Message::Request(bad.build()), udp_peer()),
        Err(TransactionError::CSeqMethodMismatch)
    );
    let mut no_via = Req::new("OPTIONS", "z9hG4bKb").build();
    no_via.headers.remove_all(&cardea_sip::HeaderName::Via);
    assert_eq!(
        l.handle_message(t0, Message::Request(no_via), udp_peer()),
        Err(TransactionError::MissingVia)
    );
    assert!(l.is_empty());
}

#[test]
fn next_timeout_is_the_earliest_deadline_over_all_transactions() {
    let (mut l, t0) = layer();
    l.send_request(t0, Req::new("OPTIONS", "z9hG4bK1").build(), tcp_peer())
        .unwrap();
    assert_eq!(l.next_timeout(), Some(t0 + secs(32)));
    let invite = Req::new("INVITE", "z9hG4bK2").build();
    l.handle_message(t0 + secs(1), Message::Request(invite), udp_peer())
        .unwrap();
    assert_eq!(l.next_timeout(), Some(t0 + ms(1200)), "the 100 Trying");
    l.handle_timeout(t0 + ms(1200));
    assert_eq!(l.next_timeout(), Some(t0 + secs(32)));
}

#[test]
fn cancel_built_from_a_sent_invite_reaches_the_invite_server_transaction() {
    // One layer plays the UAC, another the UAS; messages cross through `Transmit`s.
    let (mut uac, t0) = layer();
    let mut uas = TransactionLayer::new(Timers::default());
    let mut req = Req::new("INVITE", "");
    req.route = true;
    uac.send_request(t0, req.build(), udp_peer()).unwrap();
    let invite = as_request(&drain_transmits(&mut uac)[0]).clone();
    let inv = new_request_key(&deliver(&mut uas, t0, &invite));
    uas.respond(t0, inv, response(&invite, 180, Some("s1")))
        .unwrap();

    let cancel = invite.make_cancel();
    assert_eq!(
        cancel
            .headers
            .get_all(&cardea_sip::HeaderName::Route)
            .count(),
        1
    );
    uac.send_request(t0 + secs(1), cancel, udp_peer()).unwrap();
    let sent = drain_transmits(&mut uac);
    assert!(matches!(
        deliver(&mut uas, t0 + secs(1), as_request(&sent[0]))[..],
        [TransactionEvent::Cancel { invite: Some(k), .. }] if k == inv
    ));
}
