//! What the proxy knows about itself: the URIs that name it, its listener on each
//! transport, the Via it writes and whether it stays on the path of dialogs (Record-Route,
//! RFC 3261 §16.6 step 4, RFC 5658).

use std::time::Duration;

use crate::typed::Transport;
use crate::uri::{Host, SipUri, Uri};

/// Timer C: at least 3 minutes (§16.8).
pub const TIMER_C: Duration = Duration::from_secs(180);

/// The proxy's configuration.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Every URI that names this proxy: its addresses and domains as they appear in Route
    /// and Request-URI values (§16.4). Compared by host and port (default 5060, 5061 for
    /// `sips`).
    pub local_uris: Vec<SipUri>,
    /// Our listener on each transport we serve, as the hosts on that side reach it: the URI
    /// written in Record-Route for that side (with `lr`, and `transport` unless UDP) and the
    /// sent-by of the Via on requests sent over that transport. The first entry is the
    /// default for a transport that has no listener of its own. Every listener also names
    /// this proxy (§16.4).
    pub listeners: Vec<(Transport, SipUri)>,
    /// The sent-by of the Via the proxy adds to a request sent over a transport that has no
    /// listener in `listeners` (§16.6 step 8); also recognised as our own Via in loop
    /// detection (§16.3 step 4), like every listener's host and port. The Via's transport
    /// is always the one the request leaves over (§18.1.1).
    pub via_host: Host,
    pub via_port: Option<u16>,
    /// Whether the proxy stays on the path of dialogs (§16.6 step 4). It records the
    /// listener the request arrived on and, when the request leaves over another transport,
    /// the outgoing listener on top of it (double record-routing, RFC 5658 §3.2).
    pub record_route: bool,
    /// Option tags the proxy understands in Proxy-Require (§16.3 step 5).
    pub supported: Vec<String>,
    /// Timer C (§16.8).
    pub timer_c: Duration,
    /// Recurse on the Contacts of 3xx responses (§16.7 step 4): how many times per request;
    /// 0 passes redirects upstream untouched.
    pub max_recursions: u8,
    /// The realm of the credentials this proxy checks itself: `Proxy-Authorization` fields
    /// for it are removed from every copy forwarded, the dialog's later requests (ACK,
    /// BYE) included, so the next hop never sees a digest meant for us (RFC 3261 §22.3).
    pub consume_realm: Option<String>,
}

/// How many times a request follows 3xx Contacts by default (§16.7 step 4).
const MAX_RECURSIONS: u8 = 3;

impl ProxyConfig {
    /// A proxy reachable at `uri` over `transport` only, recording routes with that URI.
    pub fn new(uri: SipUri, transport: Transport) -> ProxyConfig {
        ProxyConfig {
            via_host: uri.host.clone(),
            via_port: uri.port,
            record_route: true,
            listeners: vec![(transport, uri.clone())],
            local_uris: vec![uri],
            supported: Vec::new(),
            timer_c: TIMER_C,
            max_recursions: MAX_RECURSIONS,
            consume_realm: None,
        }
    }

    /// A proxy with a listener per transport, the first one being the default (see
    /// [`ProxyConfig::listeners`]). `None` when `listeners` is empty.
    pub fn with_listeners(listeners: Vec<(Transport, SipUri)>) -> Option<ProxyConfig> {
        let mut iter = listeners.into_iter();
        let (transport, uri) = iter.next()?;
        Some(iter.fold(ProxyConfig::new(uri, transport), |c, (t, u)| {
            c.listener(t, u)
        }))
    }

    /// Adds (or replaces) our listener on `transport`.
    pub fn listener(mut self, transport: Transport, uri: SipUri) -> ProxyConfig {
        match self.listeners.iter_mut().find(|(t, _)| *t == transport) {
            Some(entry) => entry.1 = uri,
            None => self.listeners.push((transport, uri)),
        }
        self
    }

    /// Our listener on `transport`, if we have one.
    pub fn listener_for(&self, transport: &Transport) -> Option<&SipUri> {
        self.listeners
            .iter()
            .find(|(t, _)| t == transport)
            .map(|(_, u)| u)
    }

    /// The Record-Route URI for the side of a request that uses `transport` (§16.6 step 4,
    /// RFC 5658): our listener on it with `lr`, and `transport` unless UDP (or TLS on a
    /// `sips` URI). Without a listener on that transport, the default listener's URI with
    /// that transport.
    pub(crate) fn record_route_uri(&self, transport: &Transport) -> Option<SipUri> {
        let mut uri = self
            .listener_for(transport)
            .or_else(|| self.listeners.first().map(|(_, u)| u))?
            .clone();
        let implied = match transport {
            Transport::Udp => true,
            Transport::Tls => uri.secure,
            _ => false,
        };
        if implied {
            // A default listener's own transport does not apply to this side.
            if uri
                .transport()
                .is_some_and(|t| Transport::parse(t) != *transport)
            {
                uri.params.remove("transport");
            }
        } else if uri
            .transport()
            .is_none_or(|t| Transport::parse(t) != *transport)
        {
            let name = transport.as_str().to_ascii_lowercase();
            uri.params.set("transport", Some(&name));
        }
        uri.params.set("lr", None);
        Some(uri)
    }

    /// The sent-by and transport of our Via on a request sent over `transport` (§18.1.1).
    pub(crate) fn via_for(&self, transport: &Transport) -> (Transport, Host, Option<u16>) {
        match self.listener_for(transport) {
            Some(uri) => (transport.clone(), uri.host.clone(), uri.port),
            None => (transport.clone(), self.via_host.clone(), self.via_port),
        }
    }

    /// Whether `uri` names this proxy (§16.4).
    pub fn is_local(&self, uri: &Uri) -> bool {
        let Some(sip) = uri.as_sip() else {
            return false;
        };
        let mut ours = self
            .local_uris
            .iter()
            .chain(self.listeners.iter().map(|(_, u)| u));
        ours.any(|l| same_host(&l.host, &sip.host) && port_of(l) == port_of(sip))
    }

    /// Whether a Via sent-by is one this proxy writes.
    pub(crate) fn is_our_via(&self, host: &Host, port: Option<u16>) -> bool {
        let port = port.unwrap_or(5060);
        let default = same_host(&self.via_host, host) && port == self.via_port.unwrap_or(5060);
        default
            || self
                .listeners
                .iter()
                .any(|(_, u)| same_host(&u.host, host) && port == u.port.unwrap_or(5060))
    }
}

fn port_of(uri: &SipUri) -> u16 {
    uri.port.unwrap_or(if uri.secure { 5061 } else { 5060 })
}

/// Hosts compare case-insensitively (§19.1.4).
fn same_host(a: &Host, b: &Host) -> bool {
    match (a, b) {
        (Host::Domain(x), Host::Domain(y)) => x.eq_ignore_ascii_case(y),
        _ => match (a.ip(), b.ip()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}
