//! Shared helpers of the proxy tests (included with `#[path]`): a proxy and its transaction
//! layer on a virtual clock, scripted UAC and UAS messages.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cardea_sip::proxy::{Proxy, ProxyConfig, ProxyEvent, Target, TargetGroup};
use cardea_sip::transaction::{Destination, ServerKey, Timers, TransactionLayer};
use cardea_sip::typed::{Transport, Via};
use cardea_sip::{Message, Request, Response, Uri};

pub const PROXY: &str = "192.0.2.10:5060";
pub const UAC: &str = "192.0.2.1:5060";
pub const UAS1: &str = "192.0.2.21:5060";
pub const UAS2: &str = "192.0.2.22:5060";

pub fn addr(a: &str) -> SocketAddr {
    a.parse().unwrap()
}

pub fn udp(a: &str) -> Destination {
    Destination::udp(addr(a))
}

pub fn target(uas: &str) -> Target {
    Target::new(Uri::parse(&format!("sip:bob@{uas}")).unwrap(), udp(uas))
}

pub fn parse_request(text: &str) -> Request {
    match Message::parse(text.replace('\n', "\r\n").as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

/// An INVITE from the UAC to `sip:bob@example.com`, with `extra` header lines.
pub fn invite(call_id: &str, extra: &str) -> Request {
    request("INVITE", "sip:bob@example.com", call_id, extra)
}

pub fn request(method: &str, uri: &str, call_id: &str, extra: &str) -> Request {
    parse_request(&format!(
        "{method} {uri} SIP/2.0\n\
         Via: SIP/2.0/UDP {UAC};branch=z9hG4bK-{call_id}-{method}\n\
         Max-Forwards: 70\n\
         {extra}\
         From: <sip:alice@example.com>;tag=a1\n\
         To: <sip:bob@example.com>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 {method}\n\
         Contact: <sip:alice@{UAC}>\n\
         Content-Length: 0\n\n"
    ))
}

/// The UAS's answer to `request` (as it received it), To-tagged by `uas`.
pub fn answer(request: &Request, status: u16, uas: &str) -> Response {
    let mut r = request.make_response(status);
    if status > 100 {
        r.set_to_tag(&format!("t-{}", uas.replace(['.', ':'], "")))
            .unwrap();
    }
    r
}

/// A proxy at [`PROXY`] with its transaction layer, driven as the bridge would.
pub struct Harness {
    pub now: Instant,
    pub layer: TransactionLayer,
    pub proxy: Proxy,
    /// Everything put on the wire, with where it went.
    pub sent: Vec<(SocketAddr, Message)>,
    pub events: Vec<ProxyEvent>,
}

impl Harness {
    pub fn new() -> Harness {
        let uri = Uri::parse(&format!("sip:{PROXY}")).unwrap();
        let config = ProxyConfig::new(uri.as_sip().unwrap().clone(), Transport::Udp);
        Harness::with_config(config)
    }

    pub fn with_config(config: ProxyConfig) -> Harness {
        Harness {
            now: Instant::now(),
            layer: TransactionLayer::new(Timers::default()),
            proxy: Proxy::new(config),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A message arrives from `from`; the layer and the proxy settle.
    pub fn receive(&mut self, from: &str, message: Message) {
        self.layer
            .handle_message(self.now, message, udp(from))
            .unwrap();
        self.pump();
    }

    pub fn request_from(&mut self, from: &str, request: Request) {
        self.receive(from, Message::Request(request));
    }

    pub fn response_from(&mut self, from: &str, response: Response) {
        self.receive(from, Message::Response(response));
    }

    pub fn pump(&mut self) {
        while let Some(ev) = self.layer.poll_event() {
            self.proxy.handle_event(self.now, &mut self.layer, ev);
        }
        while let Some(ev) = self.proxy.poll_event() {
            self.events.push(ev);
        }
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push((t.destination.addr, t.message));
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.layer.handle_timeout(self.now);
        self.proxy.handle_timeout(self.now, &mut self.layer);
        self.pump();
    }

    /// The key and request of the last [`ProxyEvent::Request`].
    pub fn routing_request(&mut self) -> (ServerKey, Request) {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                ProxyEvent::Request { key, request, .. } => Some((*key, request.clone())),
                ProxyEvent::Other(_) | ProxyEvent::Final { .. } => None,
            })
            .expect("a request for the core")
    }

    /// A UAC request arrives and is forwarded to `groups`.
    pub fn route(&mut self, request: Request, groups: Vec<TargetGroup>) -> ServerKey {
        self.request_from(UAC, request);
        let (key, _) = self.routing_request();
        self.proxy
            .forward(self.now, &mut self.layer, key, groups)
            .unwrap();
        self.pump();
        key
    }

    /// Takes every message sent to `to` since the last call.
    pub fn take_sent_to(&mut self, to: &str) -> Vec<Message> {
        let to = addr(to);
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(a, _)| *a == to);
        self.sent = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// Requests of `method` sent to `to` since the last take.
    pub fn requests_to(&mut self, to: &str, method: &str) -> Vec<Request> {
        let to_addr = addr(to);
        let mut out = Vec::new();
        self.sent.retain(|(a, m)| match m {
            Message::Request(r) if *a == to_addr && r.method.as_str() == method => {
                out.push(r.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// Final and provisional statuses sent to the UAC since the last take.
    pub fn responses_to_uac(&mut self) -> Vec<Response> {
        self.take_sent_to(UAC)
            .into_iter()
            .filter_map(|m| match m {
                Message::Response(r) => Some(r),
                Message::Request(_) => None,
            })
            .collect()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

pub fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

pub fn top_via(message: &Request) -> Via {
    message.headers.typed::<Via>().unwrap().unwrap()
}
