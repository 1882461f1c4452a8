//! Where this user agent is reachable: what goes into its Via (§18.1.1) and the headers it
//! adds to every request.

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::typed::{Transport, Via};
use crate::uri::Host;
use crate::Headers;

/// Methods our UA accepts, advertised in Allow (§20.5), as Janus's SIP plugin does.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, MESSAGE, INFO, NOTIFY";

/// The local end of the UA's SIP traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub transport: Transport,
    /// The sent-by host of our Via.
    pub host: Host,
    pub port: Option<u16>,
    /// `User-Agent` value, if any.
    pub user_agent: Option<String>,
}

impl Local {
    pub fn new(transport: Transport, host: Host, port: Option<u16>) -> Local {
        Local {
            transport,
            host,
            port,
            user_agent: None,
        }
    }

    /// Our Via without branch (the transaction layer adds one), asking for `rport`
    /// (RFC 3581 §3) so that replies find us behind NAT.
    pub fn via(&self) -> Via {
        let mut via = Via::new(self.transport.clone(), self.host.clone(), self.port, "");
        via.params.remove("branch");
        via.params.set("rport", None);
        via
    }

    /// True on transports that retransmit themselves (§17.1.1.2).
    pub fn is_reliable(&self) -> bool {
        !matches!(self.transport, Transport::Udp | Transport::Other(_))
    }

    /// Adds User-Agent and Allow before Content-Length.
    pub(crate) fn add_common(&self, headers: &mut Headers) {
        let at = headers
            .iter()
            .position(|h| *h.name() == HeaderName::ContentLength)
            .unwrap_or(headers.len());
        headers.insert(at, Header::new(HeaderName::Allow, ALLOW));
        if let Some(ua) = &self.user_agent {
            headers.insert(at, Header::new(HeaderName::UserAgent, ua));
        }
    }
}

/// Option tags we implement as UAS (RFC 3261 §8.2.2.3): session timers (RFC 4028) and
/// reliable provisionals (RFC 3262, `100rel`).
pub const UAS_OPTIONS: [&str; 2] = ["timer", "100rel"];

/// The option tags in `request`'s Require that we do not implement: the request must be
/// answered 420 (Bad Extension) listing them in Unsupported (§8.2.2.3).
pub fn unsupported_requirements(request: &crate::Request) -> Vec<String> {
    request
        .headers
        .get_all(&HeaderName::Require)
        .filter_map(|h| h.value_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !UAS_OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(t)))
        .map(str::to_owned)
        .collect()
}
