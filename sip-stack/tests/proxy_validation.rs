//! Request validation and route preprocessing (RFC 3261 §16.3, §16.4, §16.6).

#[path = "proxy_support.rs"]
mod support;

use cardea_sip::proxy::{ProxyEvent, TargetGroup};
use cardea_sip::typed::{MaxForwards, RecordRoute, Route, Unsupported, Via};
use cardea_sip::Message;
use support::*;

#[test]
fn max_forwards_zero_is_483() {
    let mut h = Harness::new();
    let mut req = invite("mf0", "");
    req.headers.set_typed(&MaxForwards(0));
    h.request_from(UAC, req);
    let statuses = statuses(&h.responses_to_uac());
    assert_eq!(statuses, vec![483]);
    assert!(h.events.is_empty());
}

#[test]
fn options_with_max_forwards_zero_for_us_is_answered() {
    let mut h = Harness::new();
    let mut req = request("OPTIONS", &format!("sip:{PROXY}"), "opt0", "");
    req.headers.set_typed(&MaxForwards(0));
    h.request_from(UAC, req);
    assert_eq!(statuses(&h.responses_to_uac()), vec![200]);
}

#[test]
fn unknown_proxy_require_is_420() {
    let mut h = Harness::new();
    h.request_from(UAC, invite("pr", "Proxy-Require: foo\n"));
    let r = h.responses_to_uac();
    assert_eq!(statuses(&r), vec![420]);
    let unsupported = r[0].headers.typed_all::<Unsupported>().unwrap();
    assert_eq!(unsupported, vec![Unsupported("foo".into())]);
}

/// The downstream hop sends the copy straight back, Request-URI unchanged.
#[test]
fn loop_is_detected_as_482() {
    let mut h = Harness::new();
    let req = invite("loop", "");
    let uri = req.uri.clone();
    let mut t = target(UAS1);
    t.uri = uri;
    h.route(req, vec![TargetGroup(vec![t])]);
    let mut copy = h.requests_to(UAS1, "INVITE").remove(0);
    copy.headers.prepend_typed(&Via::new(
        cardea_sip::typed::Transport::Udp,
        cardea_sip::Host::parse("192.0.2.21").unwrap(),
        Some(5060),
        "z9hG4bK-downstream",
    ));
    h.request_from(UAS1, copy);
    let back: Vec<u16> = h
        .take_sent_to(UAS1)
        .into_iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some(r.status),
            Message::Request(_) => None,
        })
        .collect();
    assert_eq!(back, vec![482]);
}

/// Retargeted downstream (a new Request-URI), the request spirals and is routed again.
#[test]
fn spiral_is_not_a_loop() {
    let mut h = Harness::new();
    h.route(invite("spiral", ""), vec![TargetGroup(vec![target(UAS1)])]);
    let mut copy = h.requests_to(UAS1, "INVITE").remove(0);
    copy.uri = cardea_sip::Uri::parse("sip:carol@example.com").unwrap();
    copy.headers.prepend_typed(&Via::new(
        cardea_sip::typed::Transport::Udp,
        cardea_sip::Host::parse("192.0.2.21").unwrap(),
        Some(5060),
        "z9hG4bK-downstream2",
    ));
    let before = h.events.len();
    h.request_from(UAS1, copy);
    assert_eq!(h.events.len(), before + 1);
    assert!(matches!(h.events.last(), Some(ProxyEvent::Request { .. })));
}

/// §16.4: a strict router put our URI in the Request-URI and the real one last in Route.
#[test]
fn strict_route_request_uri_is_rewritten() {
    let mut h = Harness::new();
    let req = request(
        "INVITE",
        &format!("sip:{PROXY}"),
        "strict",
        "Route: <sip:bob@192.0.2.21:5060>\n",
    );
    h.request_from(UAC, req);
    let (_, routed) = h.routing_request();
    assert_eq!(routed.uri.to_string(), "sip:bob@192.0.2.21:5060");
    assert!(routed.headers.typed_all::<Route>().unwrap().is_empty());
}

#[test]
fn our_loose_route_is_removed() {
    let mut h = Harness::new();
    let req = invite(
        "loose",
        &format!("Route: <sip:{PROXY};lr>, <sip:192.0.2.40;lr>\n"),
    );
    h.request_from(UAC, req);
    let (_, routed) = h.routing_request();
    let routes = h_routes(&routed);
    assert_eq!(routes, vec!["sip:192.0.2.40;lr".to_owned()]);
}

fn h_routes(r: &cardea_sip::Request) -> Vec<String> {
    r.headers
        .typed_all::<Route>()
        .unwrap()
        .into_iter()
        .map(|r| r.0.uri.to_string())
        .collect()
}

#[test]
fn record_route_is_inserted_with_lr() {
    let mut h = Harness::new();
    h.route(invite("rr", ""), vec![TargetGroup(vec![target(UAS1)])]);
    let copy = h.requests_to(UAS1, "INVITE").remove(0);
    let rr = copy.headers.typed_all::<RecordRoute>().unwrap();
    assert_eq!(rr.len(), 1);
    let uri = rr[0].0.uri.as_sip().unwrap();
    assert!(uri.is_loose_route());
    assert_eq!(uri.host.to_string(), "192.0.2.10");
    // §16.6: new Request-URI, one hop fewer, our Via with a fresh RFC 3261 branch on top.
    assert_eq!(copy.uri.to_string(), "sip:bob@192.0.2.21:5060");
    assert_eq!(
        copy.headers.typed::<MaxForwards>().unwrap(),
        Some(MaxForwards(69))
    );
    let vias = copy.headers.typed_all::<Via>().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].host.to_string(), "192.0.2.10");
    assert!(vias[0].has_rfc3261_branch());
}
