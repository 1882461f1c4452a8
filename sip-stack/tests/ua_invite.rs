//! INVITE sessions end to end: a caller and a callee, each on its own transaction layer,
//! talking through an in-memory network on a virtual clock.

#[path = "ua_support.rs"]
mod support;

use bytes::Bytes;
use cardea_sip::dialog::DialogState;
use cardea_sip::typed::{CSeq, Contact, To, Via};
use cardea_sip::ua::{InviteSession, SessionEvent, SessionState};
use cardea_sip::{Header, HeaderName, Message, Method};
use support::*;

/// A call from Alice (`a`) to Bob (`b`), answered and ACKed.
fn answered_call() -> (Net, InviteSession, Callee) {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(true);
    net.run(&mut alice, &mut bob);
    bob.s().answer(net.now, sdp("answer")).unwrap();
    net.run(&mut alice, &mut bob);
    drain(&mut alice);
    drain(bob.s());
    (net, alice, bob)
}

fn seq_of(h: &cardea_sip::Headers) -> (u32, Method) {
    let c = h.typed::<CSeq>().unwrap().unwrap();
    (c.seq, c.method)
}

#[test]
fn uac_invite_answered_creates_confirmed_dialog_and_acks() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(true);
    net.run(&mut alice, &mut bob);
    assert_eq!(drain(&mut alice), [SessionEvent::Ringing]);
    assert_eq!(alice.state(), &SessionState::Early);
    assert_eq!(bob.s().remote_offer(), Some(&sdp("offer")));

    bob.s().answer(net.now, sdp("answer")).unwrap();
    net.run(&mut alice, &mut bob);
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::Answered { sdp: sdp("answer") }]
    );
    assert_eq!(alice.state(), &SessionState::Confirmed);
    let d = alice.dialog().expect("a dialog");
    assert_eq!(d.state(), &DialogState::Confirmed);
    assert_eq!(
        d.remote_target(),
        &uri("sip:bob@192.0.2.2:5060;transport=udp")
    );
    let bd = bob.s().dialog().unwrap();
    assert_eq!(d.id().call_id, bd.id().call_id);
    assert_eq!(d.id().local_tag, bd.id().remote_tag);
    assert_eq!(d.id().remote_tag, bd.id().local_tag);
    assert!(bd.is_confirmed());

    let acks = net.a.sent_requests(Method::Ack);
    assert_eq!(acks.len(), 1);
    assert_eq!(
        seq_of(&acks[0].headers),
        (1, Method::Ack),
        "ACK keeps the INVITE's CSeq"
    );
    assert_eq!(acks[0].uri, *d.remote_target());
    let to = acks[0].headers.typed::<To>().unwrap().unwrap();
    assert_eq!(to.tag(), Some(d.id().remote_tag.as_str()));

    // The ACK stopped Bob's 2xx retransmissions (§13.3.1.4).
    net.advance(secs(40), &mut alice, &mut bob);
    assert_eq!(net.b.sent_responses(200).len(), 1);
    assert_eq!(bob.s().state(), &SessionState::Confirmed);
}

#[test]
fn uas_retransmits_2xx_until_ack_then_gives_up_with_bye() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(true);
    net.run(&mut alice, &mut bob);
    bob.s().answer(net.now, sdp("answer")).unwrap();
    // Alice never hears the 2xx: a deaf TU on her side.
    net.advance(secs(40), &mut Deaf, &mut bob);
    let oks = net.b.sent_responses(200);
    assert!(oks.len() >= 7, "retransmitted: {}", oks.len());
    assert!(matches!(
        bob.s().state(),
        SessionState::Terminated { code: 408, .. }
    ));
    // The BYE is sent (and retransmitted by its transaction: Alice stays deaf).
    assert!(!net.b.sent_requests(Method::Bye).is_empty());
}

#[test]
fn uac_cancel_after_180_gives_487_and_terminates() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(true);
    net.run(&mut alice, &mut bob);
    assert_eq!(drain(&mut alice), [SessionEvent::Ringing]);

    alice.cancel().unwrap();
    assert_eq!(alice.state(), &SessionState::Terminating);
    net.run(&mut alice, &mut bob);

    let invite = &net.a.sent_requests(Method::Invite)[0];
    let cancel = &net.a.sent_requests(Method::Cancel)[0];
    let branch = |r: &cardea_sip::Request| {
        r.headers
            .typed::<Via>()
            .unwrap()
            .unwrap()
            .branch()
            .map(str::to_owned)
    };
    assert_eq!(
        branch(cancel),
        branch(invite),
        "CANCEL matches the INVITE (§9.1)"
    );
    assert_eq!(seq_of(&cancel.headers), (1, Method::Cancel));
    assert_eq!(net.b.sent_responses(487).len(), 1);
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::Terminated {
            by_remote: false,
            code: 487,
            reason: "Request Terminated".into()
        }]
    );
    assert!(matches!(
        bob.s().state(),
        SessionState::Terminated {
            by_remote: true,
            code: 487,
            ..
        }
    ));
    assert_eq!(
        drain(bob.s()),
        [SessionEvent::Terminated {
            by_remote: true,
            code: 487,
            reason: "Request Terminated".into()
        }]
    );
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(false);
    alice.cancel().unwrap();
    net.run(&mut alice, &mut bob);
    assert!(
        net.a.sent_requests(Method::Cancel).is_empty(),
        "§9.1: not before a 1xx"
    );
    // The INVITE server transaction sends 100 Trying after 200 ms.
    net.advance(secs(1), &mut alice, &mut bob);
    assert_eq!(net.a.sent_requests(Method::Cancel).len(), 1);
    assert!(matches!(
        alice.state(),
        SessionState::Terminated { code: 487, .. }
    ));
}

#[test]
fn uas_bye_from_remote_terminates_with_200() {
    let (mut net, mut alice, mut bob) = answered_call();
    alice.bye().unwrap();
    net.run(&mut alice, &mut bob);

    let bye = &net.a.sent_requests(Method::Bye)[0];
    assert_eq!(seq_of(&bye.headers), (2, Method::Bye));
    let ok = net.b.sent_responses(200);
    assert_eq!(seq_of(&ok.last().unwrap().headers), (2, Method::Bye));
    assert_eq!(
        drain(bob.s()),
        [SessionEvent::Terminated {
            by_remote: true,
            code: 200,
            reason: "Session Terminated".into()
        }]
    );
    assert!(bob.s().dialog().unwrap().is_terminated());
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::Terminated {
            by_remote: false,
            code: 200,
            reason: "OK".into()
        }]
    );
}

#[test]
fn reinvite_updates_remote_target() {
    let (mut net, mut alice, mut bob) = answered_call();
    let moved = addr("<sip:alice@192.0.2.9:5070;transport=udp>");
    alice.set_local_contact(moved.clone());
    alice.reinvite(sdp("hold")).unwrap();
    net.run(&mut alice, &mut bob);

    assert_eq!(
        drain(bob.s()),
        [SessionEvent::ReInvite { sdp: sdp("hold") }]
    );
    assert_eq!(bob.s().dialog().unwrap().remote_target(), &moved.uri);
    bob.s().accept_reinvite(net.now, sdp("held")).unwrap();
    net.run(&mut alice, &mut bob);
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::ReInviteAnswered { sdp: sdp("held") }]
    );
    let acks = net.a.sent_requests(Method::Ack);
    assert_eq!(seq_of(&acks.last().unwrap().headers), (2, Method::Ack));

    // Bob's next request goes to Alice's new address.
    bob.s().bye().unwrap();
    net.run(&mut alice, &mut bob);
    let bye = &net.b.sent_requests(Method::Bye)[0];
    assert_eq!(bye.uri, moved.uri);
    assert_eq!(seq_of(&bye.headers).1, Method::Bye);
}

#[test]
fn info_and_message_in_dialog_reach_the_peer() {
    let (mut net, mut alice, mut bob) = answered_call();
    alice
        .info(
            "application/dtmf-relay",
            Bytes::from_static(b"Signal=1\r\nDuration=160\r\n"),
        )
        .unwrap();
    alice
        .message("text/plain", Bytes::from_static(b"hello"))
        .unwrap();
    net.run(&mut alice, &mut bob);
    assert_eq!(
        drain(bob.s()),
        [
            SessionEvent::Info {
                content_type: Some("application/dtmf-relay".into()),
                body: Bytes::from_static(b"Signal=1\r\nDuration=160\r\n"),
            },
            SessionEvent::Message {
                content_type: Some("text/plain".into()),
                body: Bytes::from_static(b"hello"),
            }
        ]
    );
}

#[test]
fn lower_remote_cseq_is_rejected_with_500() {
    let (mut net, mut alice, mut bob) = answered_call();
    alice
        .info(
            "application/dtmf-relay",
            Bytes::from_static(b"Signal=1\r\n"),
        )
        .unwrap();
    net.run(&mut alice, &mut bob);
    drain(bob.s());
    assert_eq!(bob.s().dialog().unwrap().remote_seq(), Some(2));

    // A stale request: CSeq 1 after 2.
    let mut stale = alice.dialog().unwrap().clone().make_request(Method::Info);
    stale.headers.set_typed(&CSeq {
        seq: 1,
        method: Method::Info,
    });
    let mut via = stale.headers.typed::<Via>().unwrap().unwrap();
    via.params.set("branch", Some("z9hG4bKstale1"));
    stale.headers.set_typed(&via);
    net.inject_to_b(Message::Request(stale));
    net.run(&mut alice, &mut bob);

    let refused = net.b.sent_responses(500);
    assert_eq!(refused.len(), 1);
    assert_eq!(seq_of(&refused[0].headers), (1, Method::Info));
    assert!(drain(bob.s()).is_empty(), "the stale INFO is not delivered");
    assert_eq!(bob.s().state(), &SessionState::Confirmed);
}

#[test]
fn forked_early_dialogs_are_kept_apart() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    net.run(&mut alice, &mut Deaf);
    let invite = net.a.sent_requests(Method::Invite)[0].clone();

    // A forking proxy relays answers from two phones.
    let fork = |status: u16, tag: &str, host: &str, body: Option<Bytes>| {
        let mut r = invite.make_response(status);
        r.set_to_tag(tag).unwrap();
        r.headers
            .push_typed(&Contact::Address(addr(&format!("<sip:bob@{host}>"))));
        if let Some(b) = body {
            r.headers
                .push(Header::new(HeaderName::ContentType, "application/sdp"));
            r.body = b;
        }
        Message::Response(r)
    };
    net.inject_to_a(fork(180, "desk", "192.0.2.11", None));
    net.inject_to_a(fork(183, "mobile", "192.0.2.12", Some(sdp("early"))));
    net.run(&mut alice, &mut Deaf);
    assert_eq!(
        drain(&mut alice),
        [
            SessionEvent::Ringing,
            SessionEvent::Progress {
                sdp: Some(sdp("early"))
            }
        ]
    );
    let mut early: Vec<(String, String)> = alice
        .early_dialogs()
        .map(|d| (d.id().remote_tag.clone(), d.remote_target().to_string()))
        .collect();
    early.sort();
    assert_eq!(
        early,
        [
            ("desk".to_owned(), "sip:bob@192.0.2.11".to_owned()),
            ("mobile".to_owned(), "sip:bob@192.0.2.12".to_owned())
        ]
    );

    // The mobile answers: its dialog is confirmed, the desk's early dialog ends.
    net.inject_to_a(fork(200, "mobile", "192.0.2.12", Some(sdp("answer"))));
    net.run(&mut alice, &mut Deaf);
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::Answered { sdp: sdp("answer") }]
    );
    let d = alice.dialog().unwrap();
    assert_eq!(d.id().remote_tag, "mobile");
    assert_eq!(d.remote_target(), &uri("sip:bob@192.0.2.12"));
    assert_eq!(alice.early_dialogs().count(), 0);
    let ack = net.a.sent_requests(Method::Ack).pop().unwrap();
    assert_eq!(ack.uri, uri("sip:bob@192.0.2.12"));

    // The desk answers too, late: ACK it and hang it up (§13.2.2.4).
    net.inject_to_a(fork(200, "desk", "192.0.2.11", Some(sdp("late"))));
    net.run(&mut alice, &mut Deaf);
    let acks = net.a.sent_requests(Method::Ack);
    assert_eq!(acks.len(), 2);
    assert_eq!(acks[1].uri, uri("sip:bob@192.0.2.11"));
    let bye = &net.a.sent_requests(Method::Bye)[0];
    assert_eq!(bye.uri, uri("sip:bob@192.0.2.11"));
    assert_eq!(
        bye.headers.typed::<To>().unwrap().unwrap().tag(),
        Some("desk")
    );
    assert!(
        drain(&mut alice).is_empty(),
        "the session stays with the mobile"
    );
    assert_eq!(alice.state(), &SessionState::Confirmed);
}

#[test]
fn invite_retries_with_digest_after_407() {
    let mut net = Net::new();
    let mut config = call_config();
    config.credentials = Some(alice_credentials("secret"));
    let mut alice = InviteSession::call(config, sdp("offer"));
    net.run(&mut alice, &mut Deaf);
    let invite = net.a.sent_requests(Method::Invite)[0].clone();
    let mut challenge = invite.make_response(407);
    challenge.set_to_tag("proxy").unwrap();
    challenge
        .headers
        .push(Header::new(HeaderName::ProxyAuthenticate, CHALLENGE));
    net.inject_to_a(Message::Response(challenge));
    net.run(&mut alice, &mut Deaf);

    let invites = net.a.sent_requests(Method::Invite);
    assert_eq!(invites.len(), 2);
    assert_eq!(seq_of(&invites[1].headers), (2, Method::Invite));
    assert!(invites[1].headers.contains(&HeaderName::ProxyAuthorization));
    assert_eq!(alice.state(), &SessionState::Calling);
    assert!(drain(&mut alice).is_empty());
}

#[test]
fn rejected_call_reports_the_real_code() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let mut bob = Callee::new(true);
    net.run(&mut alice, &mut bob);
    bob.s().reject(486, None).unwrap();
    net.run(&mut alice, &mut bob);
    assert_eq!(
        drain(&mut alice),
        [
            SessionEvent::Ringing,
            SessionEvent::Failed {
                code: 486,
                reason: "Busy Here".into()
            }
        ]
    );
    assert!(matches!(
        alice.state(),
        SessionState::Terminated { code: 486, .. }
    ));
}

/// RFC 4028: Alice offers a 90 s session timer, Bob takes it with Alice as refresher;
/// Alice re-INVITEs with her SDP at half the interval, and the refresh restarts both timers.
#[test]
fn session_timer_refreshes_at_half_the_interval() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    alice.enable_session_timer(90);
    let mut bob = Callee::new(true);
    bob.session_timer = Some(1800);
    net.run(&mut alice, &mut bob);
    let invite = &net.a.sent_requests(Method::Invite)[0];
    assert_eq!(
        invite
            .headers
            .get(&HeaderName::SessionExpires)
            .unwrap()
            .value_str()
            .unwrap(),
        "90"
    );
    bob.s().answer(net.now, sdp("answer")).unwrap();
    net.run(&mut alice, &mut bob);
    let ok = &net.b.sent_responses(200)[0];
    assert_eq!(
        ok.headers
            .get(&HeaderName::SessionExpires)
            .unwrap()
            .value_str()
            .unwrap(),
        "90;refresher=uac"
    );
    drain(&mut alice);
    drain(bob.s());
    net.advance(secs(44), &mut alice, &mut bob);
    assert_eq!(
        net.a.sent_requests(Method::Invite).len(),
        1,
        "no refresh before 45 s"
    );
    net.advance(secs(2), &mut alice, &mut bob);
    let invites = net.a.sent_requests(Method::Invite);
    assert_eq!(invites.len(), 2, "a refresh at half the interval");
    assert_eq!(invites[1].body, sdp("offer"), "the refresh repeats our SDP");
    assert_eq!(
        drain(bob.s()),
        [SessionEvent::ReInvite { sdp: sdp("offer") }]
    );
    bob.s().accept_reinvite(net.now, sdp("answer")).unwrap();
    net.run(&mut alice, &mut bob);
    assert_eq!(
        drain(&mut alice),
        [SessionEvent::ReInviteAnswered { sdp: sdp("answer") }]
    );
    // Refreshed: Bob's deadline moved on (it was 60 s after the answer), and Alice's next
    // refresh is due 45 s after this one.
    net.advance(secs(40), &mut alice, &mut bob);
    assert!(net.b.sent_requests(Method::Bye).is_empty());
    assert_eq!(alice.state(), &SessionState::Confirmed);
    assert_eq!(bob.s().state(), &SessionState::Confirmed);
}

/// RFC 4028 §10: the refresher went silent, so the other side ends the call with BYE
/// before the interval is over.
#[test]
fn session_timer_without_refresh_ends_the_call() {
    let mut net = Net::new();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    alice.enable_session_timer(90);
    let mut bob = Callee::new(true);
    bob.session_timer = Some(1800);
    net.run(&mut alice, &mut bob);
    bob.s().answer(net.now, sdp("answer")).unwrap();
    net.run(&mut alice, &mut bob);
    drain(bob.s());
    // Alice vanishes after the ACK.
    net.advance(secs(95), &mut Deaf, &mut bob);
    assert!(!net.b.sent_requests(Method::Bye).is_empty(), "Bob says BYE");
    assert_eq!(
        bob.s().state(),
        &SessionState::Terminated {
            by_remote: false,
            code: 408,
            reason: "Session Timer Expired".into()
        }
    );
}

/// RFC 3262: a reliable 180 (Require: 100rel, RSeq) is acknowledged with one PRACK in its
/// early dialog; its retransmission is not.
#[test]
fn reliable_provisionals_are_pracked_once() {
    use cardea_sip::ua::Outgoing;
    let now = std::time::Instant::now();
    let mut alice = InviteSession::call(call_config(), sdp("offer"));
    let Some(Outgoing::Request(invite)) = alice.poll_output() else {
        panic!("the INVITE")
    };
    let supported = invite.headers.get(&HeaderName::Supported).unwrap();
    assert!(supported.value_str().unwrap().contains("100rel"));
    let mut ringing = invite.make_response(180);
    ringing.set_to_tag("bob1").unwrap();
    ringing
        .headers
        .push(Header::new(HeaderName::Contact, "<sip:bob@192.0.2.2:5060>"));
    ringing
        .headers
        .push(Header::new(HeaderName::Require, "100rel"));
    ringing.headers.push(Header::new(HeaderName::RSeq, "7"));
    alice.handle_response(now, &ringing);
    let Some(Outgoing::Request(prack)) = alice.poll_output() else {
        panic!("a PRACK")
    };
    assert_eq!(prack.method, Method::Prack);
    let rack = prack.headers.get(&HeaderName::RAck).unwrap();
    assert_eq!(rack.value_str().unwrap(), "7 1 INVITE");
    let to = prack.headers.typed::<To>().unwrap().unwrap();
    assert_eq!(to.tag(), Some("bob1"), "in the early dialog");
    alice.handle_response(now, &ringing);
    assert!(
        alice.poll_output().is_none(),
        "no PRACK for a retransmission"
    );
    assert_eq!(drain(&mut alice), [SessionEvent::Ringing]);
}
