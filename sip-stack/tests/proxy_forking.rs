//! Forking and response processing (RFC 3261 §16.6, §16.7, §16.8, §16.10) on a virtual
//! clock.

#[path = "proxy_support.rs"]
mod support;

use std::time::Duration;

use cardea_sip::proxy::TargetGroup;
use cardea_sip::typed::{ProxyAuthenticate, Route, WwwAuthenticate};
use cardea_sip::HeaderName;
use support::*;

fn both() -> Vec<TargetGroup> {
    vec![TargetGroup(vec![target(UAS1), target(UAS2)])]
}

/// Each UAS answers its copy with `status`.
fn answer_invites(h: &mut Harness, uas: &str, status: u16) -> cardea_sip::Request {
    let copy = h.requests_to(uas, "INVITE").remove(0);
    h.response_from(uas, answer(&copy, status, uas));
    copy
}

#[test]
fn parallel_fork_forwards_first_2xx_and_cancels_the_rest() {
    let mut h = Harness::new();
    h.route(invite("par", ""), both());
    let c1 = answer_invites(&mut h, UAS1, 180);
    let c2 = answer_invites(&mut h, UAS2, 180);
    assert_eq!(statuses(&h.responses_to_uac()), vec![180, 180]);
    h.response_from(UAS1, answer(&c1, 200, UAS1));
    assert_eq!(statuses(&h.responses_to_uac()), vec![200]);
    // The other branch is cancelled; its 487 stays here.
    let cancel = h.requests_to(UAS2, "CANCEL").remove(0);
    assert!(h.requests_to(UAS1, "CANCEL").is_empty());
    h.response_from(UAS2, answer(&cancel, 200, UAS2));
    h.response_from(UAS2, answer(&c2, 487, UAS2));
    assert!(h.responses_to_uac().is_empty());
    assert_eq!(h.requests_to(UAS2, "ACK").len(), 1);
}

#[test]
fn serial_fork_tries_next_group_after_486() {
    let mut h = Harness::new();
    h.route(
        invite("ser", ""),
        vec![
            TargetGroup(vec![target(UAS1)]),
            TargetGroup(vec![target(UAS2)]),
        ],
    );
    assert!(h.requests_to(UAS2, "INVITE").is_empty());
    answer_invites(&mut h, UAS1, 486);
    let c2 = answer_invites(&mut h, UAS2, 180);
    h.response_from(UAS2, answer(&c2, 200, UAS2));
    assert_eq!(statuses(&h.responses_to_uac()), vec![180, 200]);
}

#[test]
fn best_response_prefers_486_over_503_and_maps_503_to_500() {
    let mut h = Harness::new();
    h.route(invite("best1", ""), both());
    answer_invites(&mut h, UAS1, 503);
    answer_invites(&mut h, UAS2, 486);
    assert_eq!(statuses(&h.responses_to_uac()), vec![486]);

    h.route(invite("best2", ""), both());
    answer_invites(&mut h, UAS1, 503);
    answer_invites(&mut h, UAS2, 503);
    assert_eq!(statuses(&h.responses_to_uac()), vec![500]);
}

#[test]
fn challenges_from_branches_are_merged() {
    let mut h = Harness::new();
    h.route(invite("auth", ""), both());
    let c1 = h.requests_to(UAS1, "INVITE").remove(0);
    let c2 = h.requests_to(UAS2, "INVITE").remove(0);
    let mut r1 = answer(&c1, 401, UAS1);
    r1.headers.push(cardea_sip::Header::new(
        HeaderName::WwwAuthenticate,
        r#"Digest realm="one", nonce="n1""#,
    ));
    let mut r2 = answer(&c2, 407, UAS2);
    r2.headers.push(cardea_sip::Header::new(
        HeaderName::ProxyAuthenticate,
        r#"Digest realm="two", nonce="n2""#,
    ));
    h.response_from(UAS1, r1);
    h.response_from(UAS2, r2);
    let r = h.responses_to_uac();
    assert_eq!(statuses(&r), vec![401]);
    let www = r[0].headers.typed_all::<WwwAuthenticate>().unwrap();
    let proxy = r[0].headers.typed_all::<ProxyAuthenticate>().unwrap();
    assert_eq!(www.len(), 1);
    assert_eq!(proxy.len(), 1);
    assert_eq!(proxy[0].param("realm").as_deref(), Some("two"));
}

#[test]
fn six_hundred_ends_the_search_and_cancels_the_rest() {
    let mut h = Harness::new();
    h.route(
        invite("six", ""),
        vec![
            TargetGroup(vec![target(UAS1), target(UAS2)]),
            TargetGroup(vec![target("192.0.2.23:5060")]),
        ],
    );
    let c2 = answer_invites(&mut h, UAS2, 180);
    answer_invites(&mut h, UAS1, 603);
    assert!(h.responses_to_uac().iter().all(|r| r.status < 200));
    let cancel = h.requests_to(UAS2, "CANCEL").remove(0);
    h.response_from(UAS2, answer(&cancel, 200, UAS2));
    h.response_from(UAS2, answer(&c2, 487, UAS2));
    assert_eq!(statuses(&h.responses_to_uac()), vec![603]);
    assert!(h.requests_to("192.0.2.23:5060", "INVITE").is_empty());
}

#[test]
fn cancel_from_uac_cancels_all_branches_and_gives_487() {
    let mut h = Harness::new();
    let inv = invite("can", "");
    h.route(inv.clone(), both());
    let c1 = answer_invites(&mut h, UAS1, 180);
    let c2 = answer_invites(&mut h, UAS2, 180);
    h.responses_to_uac();
    h.request_from(UAC, inv.make_cancel());
    assert_eq!(statuses(&h.responses_to_uac()), vec![200]);
    for (uas, copy) in [(UAS1, &c1), (UAS2, &c2)] {
        let cancel = h.requests_to(uas, "CANCEL").remove(0);
        h.response_from(uas, answer(&cancel, 200, uas));
        h.response_from(uas, answer(copy, 487, uas));
    }
    assert_eq!(statuses(&h.responses_to_uac()), vec![487]);
}

#[test]
fn timer_c_cancels_a_silent_branch() {
    let mut h = Harness::new();
    h.route(invite("timerc", ""), vec![TargetGroup(vec![target(UAS1)])]);
    answer_invites(&mut h, UAS1, 180);
    h.advance(Duration::from_secs(100));
    // A provisional resets Timer C (§16.8).
    let copy = h.requests_to(UAS1, "INVITE").pop();
    assert!(copy.is_none());
    assert_eq!(statuses(&h.responses_to_uac()), vec![180]);
    h.advance(Duration::from_secs(81));
    assert_eq!(h.requests_to(UAS1, "CANCEL").len(), 1);
    assert_eq!(statuses(&h.responses_to_uac()), vec![408]);
}

#[test]
fn ack_for_2xx_follows_the_route_set() {
    let mut h = Harness::new();
    let mut ack = request(
        "ACK",
        "sip:bob@192.0.2.21:5060",
        "ack",
        &format!("Route: <sip:{PROXY};lr>, <sip:192.0.2.40:5060;lr>\n"),
    );
    let to = cardea_sip::Header::new(HeaderName::To, "<sip:bob@example.com>;tag=t-b");
    ack.headers.remove_all(&HeaderName::To);
    ack.headers.push(to);
    h.request_from(UAC, ack);
    let fwd = h.requests_to("192.0.2.40:5060", "ACK");
    assert_eq!(fwd.len(), 1);
    let routes: Vec<String> = fwd[0]
        .headers
        .typed_all::<Route>()
        .unwrap()
        .into_iter()
        .map(|r| r.0.uri.to_string())
        .collect();
    assert_eq!(routes, vec!["sip:192.0.2.40:5060;lr".to_owned()]);
    assert_eq!(fwd[0].uri.to_string(), "sip:bob@192.0.2.21:5060");
    assert_eq!(top_via(&fwd[0]).host.to_string(), "192.0.2.10");
    assert!(h.events.is_empty());
}

#[test]
fn in_dialog_bye_follows_the_route_set_statefully() {
    let mut h = Harness::new();
    let mut bye = request(
        "BYE",
        "sip:bob@192.0.2.21:5060",
        "bye",
        &format!("Route: <sip:{PROXY};lr>\n"),
    );
    bye.headers.remove_all(&HeaderName::To);
    bye.headers.push(cardea_sip::Header::new(
        HeaderName::To,
        "<sip:bob@example.com>;tag=t-b",
    ));
    h.request_from(UAC, bye);
    let copy = h.requests_to(UAS1, "BYE").remove(0);
    h.response_from(UAS1, answer(&copy, 200, UAS1));
    assert_eq!(statuses(&h.responses_to_uac()), vec![200]);
}

/// §16.7 step 4: a 302's reachable Contacts become targets; the redirect is not passed up.
#[test]
fn a_302_is_recursed_on_and_its_contact_answers() {
    let mut h = Harness::new();
    h.route(invite("redir", ""), vec![TargetGroup(vec![target(UAS1)])]);
    let copy = h.requests_to(UAS1, "INVITE").remove(0);
    let mut moved = answer(&copy, 302, UAS1);
    moved.headers.push(cardea_sip::Header::new(
        HeaderName::Contact,
        &format!("<sip:moved@{UAS2}>"),
    ));
    h.response_from(UAS1, moved);
    assert!(h.responses_to_uac().is_empty(), "the 302 is not passed up");
    let c2 = h.requests_to(UAS2, "INVITE").remove(0);
    assert_eq!(c2.uri.to_string(), format!("sip:moved@{UAS2}"));
    h.response_from(UAS2, answer(&c2, 200, UAS2));
    assert_eq!(statuses(&h.responses_to_uac()), vec![200]);
}

/// A redirect back to a target already tried is not followed: the 302 goes up.
#[test]
fn a_redirect_loop_is_passed_up_not_followed() {
    let mut h = Harness::new();
    let uri = target(UAS1).uri.to_string();
    h.route(invite("loop", ""), vec![TargetGroup(vec![target(UAS1)])]);
    let copy = h.requests_to(UAS1, "INVITE").remove(0);
    let mut moved = answer(&copy, 302, UAS1);
    moved.headers.push(cardea_sip::Header::new(
        HeaderName::Contact,
        &format!("<{uri}>"),
    ));
    h.response_from(UAS1, moved);
    assert_eq!(statuses(&h.responses_to_uac()), vec![302]);
}

fn forward_failover(h: &mut Harness, call_id: &str, groups: Vec<TargetGroup>) {
    h.request_from(UAC, invite(call_id, ""));
    let (key, _) = h.routing_request();
    h.proxy
        .forward_with(
            h.now,
            &mut h.layer,
            key,
            groups,
            cardea_sip::proxy::Failover::TimeoutOrServerError,
        )
        .unwrap();
    h.pump();
}

fn trunk(uas: &str, no_answer: Option<Duration>) -> TargetGroup {
    let mut t = target(uas);
    t.no_answer = no_answer;
    TargetGroup(vec![t])
}

#[test]
fn trunk_failover_moves_on_after_503_but_not_after_486() {
    let mut h = Harness::new();
    forward_failover(&mut h, "fo503", vec![trunk(UAS1, None), trunk(UAS2, None)]);
    answer_invites(&mut h, UAS1, 503);
    let c2 = answer_invites(&mut h, UAS2, 180);
    h.response_from(UAS2, answer(&c2, 200, UAS2));
    assert_eq!(statuses(&h.responses_to_uac()), vec![180, 200]);

    forward_failover(&mut h, "fo486", vec![trunk(UAS1, None), trunk(UAS2, None)]);
    answer_invites(&mut h, UAS1, 486);
    assert!(
        h.requests_to(UAS2, "INVITE").is_empty(),
        "a busy callee is busy through every trunk"
    );
    assert_eq!(statuses(&h.responses_to_uac()), vec![486]);
}

#[test]
fn a_silent_trunk_is_abandoned_after_its_no_answer_time() {
    let mut h = Harness::new();
    let five = Some(Duration::from_secs(5));
    forward_failover(&mut h, "silent", vec![trunk(UAS1, five), trunk(UAS2, five)]);
    let dead = h.requests_to(UAS1, "INVITE").remove(0);
    h.advance(Duration::from_secs(2));
    assert!(h.requests_to(UAS2, "INVITE").is_empty());
    h.advance(Duration::from_secs(3));
    // The first trunk never answered: the second is tried at once.
    let c2 = answer_invites(&mut h, UAS2, 180);
    // The first wakes up late and starts ringing: it is cancelled, its 180 stays here.
    h.response_from(UAS1, answer(&dead, 180, UAS1));
    assert_eq!(h.requests_to(UAS1, "CANCEL").len(), 1);
    h.response_from(UAS1, answer(&dead, 487, UAS1));
    h.response_from(UAS2, answer(&c2, 200, UAS2));
    // (The server transaction's own 100 Trying went out while the first trunk was silent.)
    assert_eq!(statuses(&h.responses_to_uac()), vec![100, 180, 200]);
}

#[test]
fn every_trunk_silent_gives_408() {
    let mut h = Harness::new();
    let one = Some(Duration::from_secs(1));
    forward_failover(
        &mut h,
        "allsilent",
        vec![trunk(UAS1, one), trunk(UAS2, one)],
    );
    h.advance(Duration::from_secs(1));
    assert_eq!(h.requests_to(UAS2, "INVITE").len(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(statuses(&h.responses_to_uac()), vec![100, 408]);
}
