//! Client transactions on a virtual clock: timers A, B, D, M (INVITE, RFC 3261 §17.1.1,
//! RFC 6026 §7.2) and E, F, K (non-INVITE, §17.1.2).

#[path = "transaction_support.rs"]
mod support;

use std::time::Instant;

use cardea_sip::transaction::{
    Timers, TransactionError, TransactionEvent, TransactionKey, TransactionLayer, TransactionState,
};
use cardea_sip::typed::{CSeq, Route, To, Via};
use cardea_sip::{Message, Method};
use support::*;

fn layer() -> TransactionLayer {
    TransactionLayer::new(Timers::default())
}

#[test]
fn invite_client_retransmits_at_t1_doubling_until_timer_b() {
    let (mut l, t0) = (layer(), Instant::now());
    let key = l
        .send_request(t0, Req::new("INVITE", "z9hG4bKa").build(), udp_peer())
        .unwrap();
    assert_eq!(drain_transmits(&mut l).len(), 1);
    assert_eq!(l.next_timeout(), Some(t0 + ms(500)));
    l.handle_timeout(t0 + ms(499));
    assert!(l.poll_transmit().is_none(), "nothing before T1");

    let run = run_until(&mut l, t0, secs(40));
    // Timer A: T1, 2·T1, 4·T1 … with no T2 cap (§17.1.1.2), until timer B at 64·T1.
    let times = run.transmit_times();
    assert_eq!(
        times,
        [500, 1500, 3500, 7500, 15500, 31500].map(ms).to_vec()
    );
    assert_eq!(intervals(&times), [1000, 2000, 4000, 8000, 16000].map(ms));
    assert!(run
        .transmits
        .iter()
        .all(|(_, t)| as_request(t).method == Method::Invite));
    assert_eq!(run.timeout_at(key), Some(secs(32)));
    assert_eq!(run.terminated_at(key), Some(secs(32)));
    assert_eq!(l.state(key), None);
    assert_eq!(l.next_timeout(), None);
}

#[test]
fn invite_client_stops_retransmitting_once_proceeding_and_never_times_out_there() {
    let (mut l, t0) = (layer(), Instant::now());
    let invite = Req::new("INVITE", "z9hG4bKa").build();
    let key = l.send_request(t0, invite.clone(), udp_peer()).unwrap();
    drain_transmits(&mut l);
    l.handle_message(
        t0 + ms(100),
        Message::Response(response(&invite, 180, Some("b1"))),
        udp_peer(),
    )
    .unwrap();
    assert!(matches!(
        drain_events(&mut l)[..],
        [TransactionEvent::Response { key: k, ref response }] if k == key && response.status == 180
    ));
    assert_eq!(l.state(key), Some(TransactionState::Proceeding));
    let run = run_until(&mut l, t0, secs(120));
    assert!(run.transmits.is_empty());
    assert!(run.events.is_empty(), "timer B does not run in Proceeding");
    assert_eq!(l.state(key), Some(TransactionState::Proceeding));
}

#[test]
fn invite_client_acks_non_2xx_itself_and_keeps_timer_d_32s_on_udp() {
    let (mut l, t0) = (layer(), Instant::now());
    let mut req = Req::new("INVITE", "z9hG4bKa");
    req.route = true;
    req.cseq = 7;
    let invite = req.build();
    let key = l.send_request(t0, invite.clone(), udp_peer()).unwrap();
    drain_transmits(&mut l);
    let busy = response(&invite, 486, Some("b1"));
    l.handle_message(t0 + ms(200), Message::Response(busy.clone()), udp_peer())
        .unwrap();

    let sent = drain_transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let ack = as_request(&sent[0]);
    // §17.1.1.3: same Request-URI, top Via, CSeq number; To from the response; Route kept.
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, invite.uri);
    let vias = ack.headers.typed_all::<Via>().unwrap();
    assert_eq!(vias.len(), 1);
    assert_eq!(vias[0].branch(), Some("z9hG4bKa"));
    assert_eq!(
        ack.headers.typed::<CSeq>().unwrap(),
        Some(CSeq {
            seq: 7,
            method: Method::Ack
        })
    );
    assert_eq!(
        ack.headers.typed::<To>().unwrap().unwrap().tag(),
        Some("b1")
    );
    assert_eq!(ack.headers.typed_all::<Route>().unwrap().len(), 1);
    assert!(matches!(
        drain_events(&mut l)[..],
        [TransactionEvent::Response { ref response, .. }] if response.status == 486
    ));
    assert_eq!(l.state(key), Some(TransactionState::Completed));

    // A retransmitted 486 is acknowledged again but not passed up (§17.1.1.2).
    l.handle_message(t0 + secs(2), Message::Response(busy), udp_peer())
        .unwrap();
    let again = drain_transmits(&mut l);
    assert_eq!(again.len(), 1);
    assert_eq!(as_request(&again[0]).method, Method::Ack);
    assert!(drain_events(&mut l).is_empty());

    // Timer D: 32 s from the final response.
    let run = run_until(&mut l, t0, secs(60));
    assert_eq!(run.terminated_at(key), Some(ms(32_200)));
    assert!(run.transmits.is_empty());
}

#[test]
fn invite_client_on_reliable_transport_neither_retransmits_nor_waits_timer_d() {
    let (mut l, t0) = (layer(), Instant::now());
    let invite = Req::new("INVITE", "z9hG4bKa").build();
    let key = l.send_request(t0, invite.clone(), tcp_peer()).unwrap();
    drain_transmits(&mut l);
    // Only timer B is armed on TCP.
    assert_eq!(l.next_timeout(), Some(t0 + secs(32)));
    l.handle_message(
        t0 + secs(1),
        Message::Response(response(&invite, 503, Some("b1"))),
        tcp_peer(),
    )
    .unwrap();
    let sent = drain_transmits(&mut l);
    assert_eq!(sent.len(), 1, "the ACK, once");
    assert_eq!(as_request(&sent[0]).method, Method::Ack);
    let events = drain_events(&mut l);
    assert!(
        matches!(events.last(), Some(TransactionEvent::Terminated(TransactionKey::Client(k))) if *k == key)
    );
    assert_eq!(l.state(key), None, "timer D is zero on reliable transports");
}

#[test]
fn invite_client_goes_accepted_on_2xx_and_passes_retransmitted_2xx_to_tu() {
    let (mut l, t0) = (layer(), Instant::now());
    let invite = Req::new("INVITE", "z9hG4bKa").build();
    let key = l.send_request(t0, invite.clone(), udp_peer()).unwrap();
    drain_transmits(&mut l);
    let ok = response(&invite, 200, Some("b1"));
    l.handle_message(t0 + secs(1), Message::Response(ok.clone()), udp_peer())
        .unwrap();
    assert_eq!(l.state(key), Some(TransactionState::Accepted));
    assert_eq!(drain_events(&mut l).len(), 1);
    // The TU acknowledges a 2xx, not the transaction (§13.2.2.4).
    assert!(drain_transmits(&mut l).is_empty());

    // Retransmissions and a forked 2xx reach the TU (RFC 6026 §7.2).
    let forked = response(&invite, 200, Some("b2"));
    for r in [ok, forked] {
        l.handle_message(t0 + secs(2), Message::Response(r), udp_peer())
            .unwrap();
    }
    let events = drain_events(&mut l);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(
        |e| matches!(e, TransactionEvent::Response { response, .. } if response.status == 200)
    ));

    // Timer M = 64·T1 ends it.
    let run = run_until(&mut l, t0, secs(60));
    assert_eq!(run.terminated_at(key), Some(secs(33)));
    assert!(run.transmits.is_empty());
}

#[test]
fn non_invite_client_retransmits_doubling_capped_at_t2_until_timer_f() {
    let (mut l, t0) = (layer(), Instant::now());
    let key = l
        .send_request(t0, Req::new("OPTIONS", "z9hG4bKo").build(), udp_peer())
        .unwrap();
    drain_transmits(&mut l);
    let run = run_until(&mut l, t0, secs(40));
    let times = run.transmit_times();
    assert_eq!(
        times,
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
            .map(ms)
            .to_vec()
    );
    assert!(intervals(&times).iter().all(|&d| d <= secs(4)));
    assert_eq!(run.timeout_at(key), Some(secs(32)));
    assert_eq!(run.terminated_at(key), Some(secs(32)));
}

#[test]
fn non_invite_client_retransmits_every_t2_once_proceeding() {
    let (mut l, t0) = (layer(), Instant::now());
    let req = Req::new("REGISTER", "z9hG4bKr").build();
    let key = l.send_request(t0, req.clone(), udp_peer()).unwrap();
    drain_transmits(&mut l);
    l.handle_message(
        t0 + ms(100),
        Message::Response(response(&req, 100, None)),
        udp_peer(),
    )
    .unwrap();
    assert_eq!(l.state(key), Some(TransactionState::Proceeding));
    let run = run_until(&mut l, t0, secs(40));
    // The pending timer E fires at T1, then every T2 (§17.1.2.2); F still ends it.
    assert_eq!(
        run.transmit_times(),
        [500, 4500, 8500, 12500, 16500, 20500, 24500, 28500]
            .map(ms)
            .to_vec()
    );
    assert_eq!(run.timeout_at(key), Some(secs(32)));
}

#[test]
fn non_invite_client_absorbs_final_retransmissions_for_timer_k_t4() {
    let (mut l, t0) = (layer(), Instant::now());
    let req = Req::new("BYE", "z9hG4bKy").build();
    let key = l.send_request(t0, req.clone(), udp_peer()).unwrap();
    drain_transmits(&mut l);
    let ok = response(&req, 200, Some("b1"));
    l.handle_message(t0 + ms(50), Message::Response(ok.clone()), udp_peer())
        .unwrap();
    assert_eq!(drain_events(&mut l).len(), 1);
    assert_eq!(l.state(key), Some(TransactionState::Completed));
    l.handle_message(t0 + secs(1), Message::Response(ok), udp_peer())
        .unwrap();
    assert!(drain_events(&mut l).is_empty(), "retransmission absorbed");
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.transmits.is_empty(), "no retransmission in Completed");
    assert_eq!(run.terminated_at(key), Some(ms(5_050)));
}

#[test]
fn non_invite_client_on_reliable_transport_does_not_retransmit_and_timer_k_is_zero() {
    let (mut l, t0) = (layer(), Instant::now());
    let req = Req::new("MESSAGE", "z9hG4bKm").build();
    let key = l.send_request(t0, req.clone(), tcp_peer()).unwrap();
    drain_transmits(&mut l);
    let run = run_until(&mut l, t0, secs(10));
    assert!(run.transmits.is_empty());
    l.handle_message(
        t0 + secs(10),
        Message::Response(response(&req, 202, Some("b1"))),
        tcp_peer(),
    )
    .unwrap();
    assert_eq!(l.state(key), None);
    let events = drain_events(&mut l);
    assert!(matches!(
        events[..],
        [
            TransactionEvent::Response { .. },
            TransactionEvent::Terminated(_)
        ]
    ));
}

#[test]
fn non_invite_client_on_reliable_transport_still_times_out_with_timer_f() {
    let (mut l, t0) = (layer(), Instant::now());
    let key = l
        .send_request(t0, Req::new("OPTIONS", "z9hG4bKo").build(), tcp_peer())
        .unwrap();
    drain_transmits(&mut l);
    let run = run_until(&mut l, t0, secs(60));
    assert!(run.transmits.is_empty());
    assert_eq!(run.timeout_at(key), Some(secs(32)));
}

#[test]
fn timers_follow_a_configured_t1_and_t2() {
    let timers = Timers {
        t1: ms(100),
        t2: ms(300),
        ..Timers::default()
    };
    let (mut l, t0) = (TransactionLayer::new(timers), Instant::now());
    let key = l
        .send_request(t0, Req::new("OPTIONS", "z9hG4bKo").build(), udp_peer())
        .unwrap();
    drain_transmits(&mut l);
    let run = run_until(&mut l, t0, secs(10));
    assert_eq!(run.transmit_times()[..4], [100, 300, 600, 900].map(ms)[..]);
    assert_eq!(run.timeout_at(key), Some(ms(6_400)));
}

#[test]
fn client_transport_error_terminates_the_transaction_and_informs_the_tu() {
    let (mut l, t0) = (layer(), Instant::now());
    let key = l
        .send_request(t0, Req::new("INVITE", "z9hG4bKa").build(), tcp_peer())
        .unwrap();
    l.handle_transport_error(key.into()).unwrap();
    let events = drain_events(&mut l);
    assert!(matches!(
        events[..],
        [TransactionEvent::TransportError(TransactionKey::Client(a)), TransactionEvent::Terminated(TransactionKey::Client(b))]
            if a == key && b == key
    ));
    assert_eq!(l.next_timeout(), None);
    assert_eq!(
        l.handle_transport_error(key.into()),
        Err(TransactionError::UnknownTransaction)
    );
}

#[test]
fn send_request_adds_a_missing_branch_and_refuses_ack_and_duplicates() {
    let (mut l, t0) = (layer(), Instant::now());
    l.send_request(t0, Req::new("OPTIONS", "").build(), udp_peer())
        .unwrap();
    let sent = drain_transmits(&mut l);
    let via = as_request(&sent[0])
        .headers
        .typed::<Via>()
        .unwrap()
        .unwrap();
    assert!(via.has_rfc3261_branch());

    assert_eq!(
        l.send_request(t0, Req::new("ACK", "z9hG4bKk").build(), udp_peer()),
        Err(TransactionError::AckIsNotATransaction)
    );
    l.send_request(t0, Req::new("INVITE", "z9hG4bKd").build(), udp_peer())
        .unwrap();
    assert_eq!(
        l.send_request(t0, Req::new("INVITE", "z9hG4bKd").build(), udp_peer()),
        Err(TransactionError::DuplicateBranch)
    );
    // A CANCEL shares its INVITE's branch but is its own transaction (§9.1).
    l.send_request(t0, Req::new("CANCEL", "z9hG4bKd").build(), udp_peer())
        .unwrap();
    assert_eq!(l.len(), 3);
}
