//! Server transactions on a virtual clock: 100 Trying and timers G, H, I, L (INVITE,
//! RFC 3261 §17.2.1, RFC 6026 §7.1) and J (non-INVITE, §17.2.2).

#[path = "transaction_support.rs"]
mod support;

use std::time::Instant;

use cardea_sip::transaction::{
    ServerKey, Timers, TransactionError, TransactionEvent, TransactionKey, TransactionLayer,
    TransactionState,
};
use cardea_sip::{Message, Request};
use support::*;

/// A layer that has received `request` at `t0`, and the server transaction it made.
fn received(
    request: &Request,
    source: cardea_sip::transaction::Destination,
) -> (TransactionLayer, Instant, ServerKey) {
    let (mut l, t0) = (TransactionLayer::new(Timers::default()), Instant::now());
    l.handle_message(t0, Message::Request(request.clone()), source)
        .unwrap();
    let key = match drain_events(&mut l)[..] {
        [TransactionEvent::Request { key, .. }] => key,
        ref other => panic!("expected one Request event, got {other:?}"),
    };
    (l, t0, key)
}

fn statuses(run: &Run) -> Vec<u16> {
    run.transmits
        .iter()
        .map(|(_, t)| as_response(t).status)
        .collect()
}

#[test]
fn invite_server_sends_100_trying_after_200ms_when_the_tu_is_silent() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    assert!(drain_transmits(&mut l).is_empty());
    let run = run_until(&mut l, t0, secs(10));
    assert_eq!(run.transmit_times(), [ms(200)]);
    assert_eq!(statuses(&run), [100]);
    assert_eq!(run.transmits[0].1.destination, udp_peer());
    assert_eq!(l.state(key), Some(TransactionState::Proceeding));
}

#[test]
fn invite_server_sends_no_100_when_the_tu_answers_within_200ms() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    l.respond(t0 + ms(150), key, response(&invite, 180, Some("s1")))
        .unwrap();
    assert_eq!(drain_transmits(&mut l).len(), 1);
    let run = run_until(&mut l, t0, secs(10));
    assert!(run.transmits.is_empty());
}

#[test]
fn invite_server_retransmits_non_2xx_with_timer_g_capped_at_t2_until_timer_h() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    l.respond(t0 + ms(100), key, response(&invite, 486, Some("s1")))
        .unwrap();
    assert_eq!(drain_transmits(&mut l).len(), 1);
    assert_eq!(l.state(key), Some(TransactionState::Completed));
    let run = run_until(&mut l, t0, secs(60));
    let times = run.transmit_times();
    assert_eq!(
        times,
        [600, 1600, 3600, 7600, 11600, 15600, 19600, 23600, 27600, 31600]
            .map(ms)
            .to_vec()
    );
    assert!(statuses(&run).iter().all(|&s| s == 486));
    // Timer H = 64·T1: the ACK never came, the TU hears of the failure.
    assert_eq!(run.timeout_at(key), Some(ms(32_100)));
    assert_eq!(run.terminated_at(key), Some(ms(32_100)));
}

#[test]
fn invite_server_ack_stops_retransmissions_and_timer_i_is_t4() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    l.respond(t0, key, response(&invite, 404, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    let mut ack = Req::new("ACK", "z9hG4bKi");
    ack.to_tag = Some("s1");
    let ack = ack.build();
    let before = run_until(&mut l, t0, ms(700));
    assert_eq!(before.transmit_times(), [ms(500)], "timer G before the ACK");
    l.handle_message(t0 + ms(700), Message::Request(ack.clone()), udp_peer())
        .unwrap();
    assert_eq!(l.state(key), Some(TransactionState::Confirmed));
    assert!(
        drain_events(&mut l).is_empty(),
        "the non-2xx ACK stays inside"
    );
    // A retransmitted ACK is absorbed in Confirmed.
    l.handle_message(t0 + secs(1), Message::Request(ack), udp_peer())
        .unwrap();
    assert!(drain_events(&mut l).is_empty());
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.transmits.is_empty(), "the ACK stopped timer G");
    assert_eq!(run.timeout_at(key), None);
    assert_eq!(run.terminated_at(key), Some(ms(5_700)));
}

#[test]
fn invite_server_absorbs_retransmitted_invite_and_resends_its_last_response() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    // Proceeding with nothing sent yet: absorbed silently.
    l.handle_message(t0 + ms(100), Message::Request(invite.clone()), udp_peer())
        .unwrap();
    assert!(drain_transmits(&mut l).is_empty());
    l.respond(t0 + ms(150), key, response(&invite, 180, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    l.handle_message(t0 + ms(500), Message::Request(invite.clone()), udp_peer())
        .unwrap();
    let sent = drain_transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(as_response(&sent[0]).status, 180);
    l.respond(t0 + secs(1), key, response(&invite, 603, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    l.handle_message(t0 + ms(1200), Message::Request(invite), udp_peer())
        .unwrap();
    let sent = drain_transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(as_response(&sent[0]).status, 603);
    assert!(
        drain_events(&mut l).is_empty(),
        "retransmissions never reach the TU"
    );
}

#[test]
fn invite_server_in_accepted_absorbs_invites_passes_ack_to_tu_until_timer_l() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    let ok = response(&invite, 200, Some("s1"));
    l.respond(t0 + secs(1), key, ok.clone()).unwrap();
    assert_eq!(l.state(key), Some(TransactionState::Accepted));
    assert_eq!(drain_transmits(&mut l).len(), 1);
    // The transaction does not retransmit the 2xx (the TU does, §13.3.1.4) …
    l.handle_timeout(t0 + secs(2));
    assert!(drain_transmits(&mut l).is_empty());
    // … and a retransmitted INVITE is absorbed, not a new request (RFC 6026 §7.1).
    l.handle_message(t0 + secs(2), Message::Request(invite), udp_peer())
        .unwrap();
    assert!(drain_transmits(&mut l).is_empty());
    assert!(drain_events(&mut l).is_empty());
    // The TU's own 2xx retransmission goes out.
    l.respond(t0 + secs(2), key, ok).unwrap();
    assert_eq!(drain_transmits(&mut l).len(), 1);
    // An ACK matching the transaction is handed to the TU.
    let mut ack = Req::new("ACK", "z9hG4bKi");
    ack.to_tag = Some("s1");
    l.handle_message(t0 + secs(3), Message::Request(ack.build()), udp_peer())
        .unwrap();
    assert!(matches!(
        drain_events(&mut l)[..],
        [TransactionEvent::Ack { invite: Some(k), .. }] if k == key
    ));
    // Timer L = 64·T1 after the first 2xx.
    let run = run_until(&mut l, t0, secs(60));
    assert_eq!(run.terminated_at(key), Some(secs(33)));
    assert_eq!(run.timeout_at(key), None);
}

#[test]
fn invite_server_on_reliable_transport_does_not_retransmit_and_ends_on_ack() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, tcp_peer());
    l.respond(t0, key, response(&invite, 486, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    // Only timer H remains.
    assert_eq!(l.next_timeout(), Some(t0 + secs(32)));
    let mut ack = Req::new("ACK", "z9hG4bKi");
    ack.to_tag = Some("s1");
    l.handle_message(t0 + secs(1), Message::Request(ack.build()), tcp_peer())
        .unwrap();
    assert_eq!(l.state(key), None, "timer I is zero on reliable transports");
    assert!(matches!(
        drain_events(&mut l)[..],
        [TransactionEvent::Terminated(TransactionKey::Server(k))] if k == key
    ));
    assert!(drain_transmits(&mut l).is_empty());
}

#[test]
fn invite_server_refuses_a_second_final_response() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, t0, key) = received(&invite, udp_peer());
    l.respond(t0, key, response(&invite, 486, Some("s1")))
        .unwrap();
    assert_eq!(
        l.respond(t0, key, response(&invite, 200, Some("s1"))),
        Err(TransactionError::InvalidState {
            status: 200,
            state: TransactionState::Completed
        })
    );
    assert_eq!(
        l.respond(t0, key, response(&invite, 700, None)),
        Err(TransactionError::BadStatus(700))
    );
}

#[test]
fn non_invite_server_absorbs_retransmissions_then_resends_final_until_timer_j() {
    let options = Req::new("OPTIONS", "z9hG4bKo").build();
    let (mut l, t0, key) = received(&options, udp_peer());
    // Trying: absorbed, no 100 for non-INVITE.
    l.handle_message(t0 + ms(500), Message::Request(options.clone()), udp_peer())
        .unwrap();
    assert!(drain_transmits(&mut l).is_empty());
    assert!(drain_events(&mut l).is_empty());
    l.respond(t0 + secs(1), key, response(&options, 100, None))
        .unwrap();
    drain_transmits(&mut l);
    l.handle_message(t0 + ms(1500), Message::Request(options.clone()), udp_peer())
        .unwrap();
    assert_eq!(as_response(&drain_transmits(&mut l)[0]).status, 100);
    l.respond(t0 + secs(2), key, response(&options, 200, Some("s1")))
        .unwrap();
    drain_transmits(&mut l);
    assert_eq!(l.state(key), Some(TransactionState::Completed));
    l.handle_message(t0 + ms(3500), Message::Request(options), udp_peer())
        .unwrap();
    assert_eq!(as_response(&drain_transmits(&mut l)[0]).status, 200);
    assert!(drain_events(&mut l).is_empty());
    // Timer J = 64·T1 from the final response, and no retransmission of its own.
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.transmits.is_empty());
    assert_eq!(run.terminated_at(key), Some(secs(34)));
}

#[test]
fn non_invite_server_timer_j_is_zero_on_reliable_transport() {
    let bye = Req::new("BYE", "z9hG4bKb").build();
    let (mut l, t0, key) = received(&bye, tcp_peer());
    l.respond(t0, key, response(&bye, 200, Some("s1"))).unwrap();
    assert_eq!(drain_transmits(&mut l).len(), 1);
    assert_eq!(l.state(key), None);
    assert_eq!(l.next_timeout(), None);
}

#[test]
fn server_transport_error_terminates_and_informs_the_tu() {
    let invite = Req::new("INVITE", "z9hG4bKi").build();
    let (mut l, _t0, key) = received(&invite, udp_peer());
    l.handle_transport_error(key.into()).unwrap();
    assert!(matches!(
        drain_events(&mut l)[..],
        [
            TransactionEvent::TransportError(_),
            TransactionEvent::Terminated(_)
        ]
    ));
    assert!(l.is_empty());
}
