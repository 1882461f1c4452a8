//! Shared helpers of the transaction tests (included with `#[path]`): messages, a virtual
//! clock driver and drains.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use cardea_sip::transaction::{
    Destination, TransactionEvent, TransactionKey, TransactionLayer, Transmit,
};
use cardea_sip::typed::Transport;
use cardea_sip::{Message, Request, Response};

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn udp_peer() -> Destination {
    Destination::udp("192.0.2.1:5060".parse().unwrap())
}

pub fn tcp_peer() -> Destination {
    Destination::new("192.0.2.1:5060".parse().unwrap(), Transport::Tcp)
}

/// A request as a peer would write it. Change fields, then [`Req::build`].
#[derive(Clone)]
pub struct Req {
    pub method: &'static str,
    pub uri: &'static str,
    pub branch: String,
    pub sent_by: &'static str,
    pub from_tag: Option<&'static str>,
    pub to_tag: Option<&'static str>,
    pub call_id: &'static str,
    pub cseq: u32,
    pub cseq_method: Option<&'static str>,
    pub route: bool,
}

impl Req {
    pub fn new(method: &'static str, branch: &str) -> Req {
        Req {
            method,
            uri: "sip:bob@example.com",
            branch: branch.to_owned(),
            sent_by: "192.0.2.1:5060",
            from_tag: Some("a1"),
            to_tag: None,
            call_id: "call-1@192.0.2.1",
            cseq: 1,
            cseq_method: None,
            route: false,
        }
    }

    pub fn build(&self) -> Request {
        let mut t = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        let branch = if self.branch.is_empty() {
            String::new()
        } else {
            format!(";branch={}", self.branch)
        };
        t += &format!("Via: SIP/2.0/UDP {}{branch}\r\n", self.sent_by);
        t += "Max-Forwards: 70\r\n";
        if self.route {
            t += "Route: <sip:proxy.example.com;lr>\r\n";
        }
        let tag = |t: Option<&str>| t.map(|t| format!(";tag={t}")).unwrap_or_default();
        t += &format!("From: <sip:alice@example.com>{}\r\n", tag(self.from_tag));
        t += &format!("To: <sip:bob@example.com>{}\r\n", tag(self.to_tag));
        t += &format!("Call-ID: {}\r\n", self.call_id);
        let cm = self.cseq_method.unwrap_or(self.method);
        t += &format!("CSeq: {} {cm}\r\nContent-Length: 0\r\n\r\n", self.cseq);
        match Message::parse(t.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }
}

/// The response a UAS would send to `request`, tagged when `to_tag` is given.
pub fn response(request: &Request, status: u16, to_tag: Option<&str>) -> Response {
    let mut r = request.make_response(status);
    if let Some(tag) = to_tag {
        r.set_to_tag(tag).unwrap();
    }
    r
}

pub fn drain_transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

pub fn drain_events(layer: &mut TransactionLayer) -> Vec<TransactionEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

/// What happened while the virtual clock ran: each item with its time since `t0`.
#[derive(Default)]
pub struct Run {
    pub transmits: Vec<(Duration, Transmit)>,
    pub events: Vec<(Duration, TransactionEvent)>,
}

impl Run {
    pub fn transmit_times(&self) -> Vec<Duration> {
        self.transmits.iter().map(|(t, _)| *t).collect()
    }

    /// When the Timeout event for `key` came, if it did.
    pub fn timeout_at(&self, key: impl Into<TransactionKey>) -> Option<Duration> {
        let key = key.into();
        self.events.iter().find_map(|(t, e)| match e {
            TransactionEvent::Timeout(k) if *k == key => Some(*t),
            _ => None,
        })
    }

    /// When the Terminated event for `key` came, if it did.
    pub fn terminated_at(&self, key: impl Into<TransactionKey>) -> Option<Duration> {
        let key = key.into();
        self.events.iter().find_map(|(t, e)| match e {
            TransactionEvent::Terminated(k) if *k == key => Some(*t),
            _ => None,
        })
    }
}

/// Jumps the clock from deadline to deadline up to `t0 + until`, firing timers exactly when
/// the layer asks.
pub fn run_until(layer: &mut TransactionLayer, t0: Instant, until: Duration) -> Run {
    let mut run = Run::default();
    while let Some(next) = layer.next_timeout() {
        if next > t0 + until {
            break;
        }
        layer.handle_timeout(next);
        let at = next - t0;
        run.transmits
            .extend(drain_transmits(layer).into_iter().map(|x| (at, x)));
        run.events
            .extend(drain_events(layer).into_iter().map(|e| (at, e)));
    }
    run
}

/// Gaps between consecutive times.
pub fn intervals(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

pub fn as_request(t: &Transmit) -> &Request {
    match &t.message {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {}", r.status),
    }
}

pub fn as_response(t: &Transmit) -> &Response {
    match &t.message {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {}", r.method),
    }
}
