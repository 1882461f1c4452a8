//! Record-Route per transport (RFC 3261 §16.6 step 4, §16.4) and double record-routing
//! when a request changes transport at the proxy (RFC 5658 §3.2).

#[path = "proxy_support.rs"]
mod support;

use cardea_sip::proxy::{ProxyConfig, Target, TargetGroup};
use cardea_sip::transaction::Destination;
use cardea_sip::typed::{RecordRoute, Route, Transport, Via};
use cardea_sip::{Message, Request, TypedHeader, Uri};
use support::*;

/// Our TCP listener; on another port than UDP so that the tests see which one is named.
const PROXY_TCP: &str = "192.0.2.10:5070";

fn sip(uri: &str) -> cardea_sip::SipUri {
    Uri::parse(uri).unwrap().as_sip().unwrap().clone()
}

/// A proxy listening on UDP at [`PROXY`] and on TCP at [`PROXY_TCP`].
fn harness() -> Harness {
    let config = ProxyConfig::new(sip(&format!("sip:{PROXY}")), Transport::Udp)
        .listener(Transport::Tcp, sip(&format!("sip:{PROXY_TCP}")));
    Harness::with_config(config)
}

fn tcp(a: &str) -> Destination {
    Destination::new(addr(a), Transport::Tcp)
}

/// `request` arrives from `source`.
fn receive_over(h: &mut Harness, request: Request, source: Destination) {
    h.layer
        .handle_message(h.now, Message::Request(request), source)
        .unwrap();
    h.pump();
}

/// An INVITE from the UAC sent over TCP.
fn tcp_invite(call_id: &str) -> Request {
    let mut req = invite(call_id, "");
    let via = format!("SIP/2.0/TCP {UAC};branch=z9hG4bK-{call_id}");
    req.headers.set_typed(&Via::decode(&via).unwrap());
    req
}

fn record_routes(r: &Request) -> Vec<String> {
    r.headers
        .typed_all::<RecordRoute>()
        .unwrap()
        .into_iter()
        .map(|r| r.0.uri.to_string())
        .collect()
}

fn routes(r: &Request) -> Vec<String> {
    r.headers
        .typed_all::<Route>()
        .unwrap()
        .into_iter()
        .map(|r| r.0.uri.to_string())
        .collect()
}

fn via_of(r: &Request) -> String {
    let v = top_via(r);
    format!("{} {}:{}", v.transport.as_str(), v.host, v.port.unwrap())
}

/// The INVITE arrives from `source`, and is forwarded to one target reached over
/// `outgoing`; the copy the UAS gets.
fn forwarded(h: &mut Harness, req: Request, source: Destination, outgoing: Transport) -> Request {
    receive_over(h, req, source);
    let (key, _) = h.routing_request();
    let target = Target::new(
        Uri::parse(&format!("sip:bob@{UAS1}")).unwrap(),
        Destination::new(addr(UAS1), outgoing),
    );
    h.proxy
        .forward(h.now, &mut h.layer, key, vec![TargetGroup(vec![target])])
        .unwrap();
    h.pump();
    let mut copies = h.requests_to(UAS1, "INVITE");
    assert_eq!(copies.len(), 1);
    copies.remove(0)
}

#[test]
fn tcp_in_udp_out_inserts_two_record_routes() {
    let mut h = harness();
    let copy = forwarded(&mut h, tcp_invite("tu"), tcp(UAC), Transport::Udp);
    // Top: the callee's side (UDP, what the UAS uses first); below: the caller's (TCP).
    assert_eq!(
        record_routes(&copy),
        [
            format!("sip:{PROXY};lr"),
            format!("sip:{PROXY_TCP};transport=tcp;lr"),
        ]
    );
    // Our Via names the transport the copy left over.
    assert_eq!(via_of(&copy), format!("UDP {PROXY}"));

    // And the other way round: UDP in, TCP out.
    let copy = forwarded(&mut h, invite("ut", ""), udp(UAC), Transport::Tcp);
    assert_eq!(
        record_routes(&copy),
        [
            format!("sip:{PROXY_TCP};transport=tcp;lr"),
            format!("sip:{PROXY};lr"),
        ]
    );
    assert_eq!(via_of(&copy), format!("TCP {PROXY_TCP}"));
}

#[test]
fn same_transport_inserts_one_record_route_with_transport_param() {
    let mut h = harness();
    let copy = forwarded(&mut h, tcp_invite("tt"), tcp(UAC), Transport::Tcp);
    assert_eq!(
        record_routes(&copy),
        [format!("sip:{PROXY_TCP};transport=tcp;lr")]
    );
    assert_eq!(via_of(&copy), format!("TCP {PROXY_TCP}"));

    // UDP on both sides: one Record-Route, without a transport parameter, as before.
    let copy = forwarded(&mut h, invite("uu", ""), udp(UAC), Transport::Udp);
    assert_eq!(record_routes(&copy), [format!("sip:{PROXY};lr")]);
    assert_eq!(via_of(&copy), format!("UDP {PROXY}"));

    // A transport without a listener of its own: the default listener, with that transport.
    let mut h = Harness::new();
    let copy = forwarded(&mut h, tcp_invite("tt2"), tcp(UAC), Transport::Tcp);
    assert_eq!(
        record_routes(&copy),
        [format!("sip:{PROXY};transport=tcp;lr")]
    );
    assert_eq!(via_of(&copy), format!("TCP {PROXY}"));
}

/// An in-dialog request (To-tagged) to `uri` with `routes` as its Route set.
fn in_dialog(method: &str, uri: &str, via: &str, routes: &[String]) -> Request {
    parse_request(&format!(
        "{method} {uri} SIP/2.0\n\
         Via: {via};branch=z9hG4bK-dlg-{method}\n\
         Max-Forwards: 70\n\
         Route: {}\n\
         From: <sip:bob@example.com>;tag=t-b\n\
         To: <sip:alice@example.com>;tag=a1\n\
         Call-ID: dlg\n\
         CSeq: 2 {method}\n\
         Content-Length: 0\n\n",
        routes
            .iter()
            .map(|r| format!("<{r}>"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[test]
fn in_dialog_request_consumes_both_of_our_routes() {
    let mut h = harness();
    // The dialog of `tcp_in_udp_out_inserts_two_record_routes`: the UAS (UDP) uses the
    // Record-Route in order, the UAC (TCP) reversed (§12.1.1, §12.1.2).
    let udp_side = format!("sip:{PROXY};lr");
    let tcp_side = format!("sip:{PROXY_TCP};transport=tcp;lr");

    // Callee to caller: BYE over UDP, out over TCP to the caller's Contact.
    let bye = in_dialog(
        "BYE",
        &format!("sip:alice@{UAC};transport=tcp"),
        &format!("SIP/2.0/UDP {UAS1}"),
        &[udp_side.clone(), tcp_side.clone()],
    );
    receive_over(&mut h, bye, udp(UAS1));
    let out = h.requests_to(UAC, "BYE");
    assert_eq!(
        out.len(),
        1,
        "forwarded along the route set, not to the core"
    );
    assert!(routes(&out[0]).is_empty(), "{:?}", routes(&out[0]));
    assert!(record_routes(&out[0]).is_empty());
    assert_eq!(
        out[0].uri.to_string(),
        format!("sip:alice@{UAC};transport=tcp")
    );
    assert_eq!(via_of(&out[0]), format!("TCP {PROXY_TCP}"));

    // Caller to callee: INFO over TCP, with a further hop after ours that must stay.
    let info = in_dialog(
        "INFO",
        &format!("sip:bob@{UAS1}"),
        &format!("SIP/2.0/TCP {UAC}"),
        &[tcp_side, udp_side, format!("sip:{UAS2};lr")],
    );
    receive_over(&mut h, info, tcp(UAC));
    let out = h.requests_to(UAS2, "INFO");
    assert_eq!(out.len(), 1);
    assert_eq!(routes(&out[0]), [format!("sip:{UAS2};lr")]);
    assert_eq!(out[0].uri.to_string(), format!("sip:bob@{UAS1}"));
    assert_eq!(via_of(&out[0]), format!("UDP {PROXY}"));
}
