//! What the proxy knows about itself: the URIs that name it, the Via it writes and whether
//! it stays on the path of dialogs (Record-Route, RFC 3261 §16.6 step 4).

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
    /// The sent-by of the Via the proxy adds to each forwarded request (§16.6 step 8); also
    /// how it recognises its own Via in loop detection (§16.3 step 4).
    pub via_host: Host,
    pub via_port: Option<u16>,
    pub via_transport: Transport,
    /// The URI put in Record-Route (with `lr` added), or `None` to stay off the path of
    /// dialogs (§16.6 step 4).
    pub record_route: Option<SipUri>,
    /// Option tags the proxy understands in Proxy-Require (§16.3 step 5).
    pub supported: Vec<String>,
    /// Timer C (§16.8).
    pub timer_c: Duration,
}

impl ProxyConfig {
    /// A proxy reachable at `uri` over `transport`, recording routes with that URI.
    pub fn new(uri: SipUri, transport: Transport) -> ProxyConfig {
        ProxyConfig {
            via_host: uri.host.clone(),
            via_port: uri.port,
            via_transport: transport,
            record_route: Some(uri.clone()),
            local_uris: vec![uri],
            supported: Vec::new(),
            timer_c: TIMER_C,
        }
    }

    /// Whether `uri` names this proxy (§16.4).
    pub fn is_local(&self, uri: &Uri) -> bool {
        let Some(sip) = uri.as_sip() else {
            return false;
        };
        let mut ours = self.local_uris.iter().chain(self.record_route.as_ref());
        ours.any(|l| same_host(&l.host, &sip.host) && port_of(l) == port_of(sip))
    }

    /// Whether a Via sent-by is the one this proxy writes.
    pub(crate) fn is_our_via(&self, host: &Host, port: Option<u16>) -> bool {
        same_host(&self.via_host, host) && port.unwrap_or(5060) == self.via_port.unwrap_or(5060)
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
