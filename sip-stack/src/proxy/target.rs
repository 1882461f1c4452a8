//! Targets: where the routing decision (made outside the proxy) sends a request, grouped for
//! serial forking (RFC 3261 §16.6, §16.7 step 6 / RFC 3261 §16.6 "q-value" ordering).

use std::net::SocketAddr;

use crate::transaction::Destination;
use crate::typed::Transport;
use crate::uri::Uri;

/// One place to send a copy of the request (§16.6).
#[derive(Debug, Clone)]
pub struct Target {
    /// The new Request-URI (§16.6 step 2).
    pub uri: Uri,
    /// Route values to push on top of the request's own (a Path, RFC 3327, or an outbound
    /// proxy: §16.6 step 5), first hop first.
    pub route: Vec<Uri>,
    /// Where the first hop is: the first of `route`, else the request's top Route, else
    /// `uri`, resolved by the core (RFC 3263); [`destination_of`] does it for IP literals.
    pub destination: Destination,
    /// For an INVITE: give up on this target when it has not answered at all (not even a
    /// provisional) after this long, and go on to the next group (a trunk that is down).
    /// A provisional that arrives later is met with a CANCEL. `None`: Timer B and Timer C
    /// alone (§16.8).
    pub no_answer: Option<std::time::Duration>,
}

impl Target {
    pub fn new(uri: Uri, destination: Destination) -> Target {
        Target {
            uri,
            route: Vec::new(),
            destination,
            no_answer: None,
        }
    }
}

/// When the proxy moves on to the next target group after a non-2xx final response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Failover {
    /// After any final response but a 6xx (§16.7 step 6, serial forking by q-value).
    #[default]
    AnyFailure,
    /// Only when the group timed out (408) or failed (5xx, including 503 and transport
    /// errors): trunk failover. A 4xx (busy, not found) ends the search: it would be the
    /// same through any trunk.
    TimeoutOrServerError,
}

impl Failover {
    pub(crate) fn tries_next(self, status: u16) -> bool {
        match self {
            Failover::AnyFailure => status < 600,
            Failover::TimeoutOrServerError => status == 408 || (500..600).contains(&status),
        }
    }
}

/// Targets tried together (parallel forking); groups are tried one after the other (serial
/// forking), the next one when every branch of the previous ended without a 2xx or 6xx.
#[derive(Debug, Clone, Default)]
pub struct TargetGroup(pub Vec<Target>);

impl TargetGroup {
    /// Groups targets by q-value, highest first; equal q-values fork in parallel
    /// (RFC 3261 §16.6, the q-value ordering of a target set).
    pub fn by_q(mut targets: Vec<(Target, f32)>) -> Vec<TargetGroup> {
        targets.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut groups: Vec<(f32, TargetGroup)> = Vec::new();
        for (t, q) in targets {
            match groups.last_mut() {
                Some((gq, g)) if *gq == q => g.0.push(t),
                _ => groups.push((q, TargetGroup(vec![t]))),
            }
        }
        groups.into_iter().map(|(_, g)| g).collect()
    }
}

/// The destination of a SIP URI whose host is an IP literal: its port (5060, or 5061 for
/// `sips`) and its `transport` parameter (RFC 3263 §4 without DNS). `None` for names.
pub fn destination_of(uri: &Uri) -> Option<Destination> {
    let sip = uri.as_sip()?;
    let ip = sip.host.ip()?;
    let transport = match sip.transport() {
        Some(t) => Transport::parse(t),
        None if sip.secure => Transport::Tls,
        None => Transport::Udp,
    };
    let port = sip.port.unwrap_or(if sip.secure { 5061 } else { 5060 });
    Some(Destination::new(SocketAddr::new(ip, port), transport))
}
