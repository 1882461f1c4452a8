//! `Via` (RFC 3261 §20.42, §25.1 via-parm), with `rport` (RFC 3581) and IPv6 `received`
//! values with or without brackets (RFC 5118 §4.5).

use std::fmt;

use crate::header_name::HeaderName;
use crate::lex::{is_token_char, Scanner};
use crate::params::Params;
use crate::typed::{HeaderError, TypedHeader};
use crate::uri::{is_ipv6_text, parse_port, Host};

/// The magic cookie that starts RFC 3261 branch IDs (§8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

/// Transport of a Via (`transport` token, §25.1; WS/WSS from RFC 7118).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(String),
}

impl Transport {
    pub fn parse(s: &str) -> Transport {
        match s.to_ascii_uppercase().as_str() {
            "UDP" => Transport::Udp,
            "TCP" => Transport::Tcp,
            "TLS" => Transport::Tls,
            "SCTP" => Transport::Sctp,
            "WS" => Transport::Ws,
            "WSS" => Transport::Wss,
            _ => Transport::Other(s.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `rport` parameter (RFC 3581 §3, §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// `;rport` without value: the client asks for the source port.
    Requested,
    /// `;rport=N` filled in by the server.
    Port(u16),
}

/// One Via entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `protocol-name`, normally `SIP`.
    pub protocol: String,
    /// `protocol-version`, normally `2.0`.
    pub version: String,
    pub transport: Transport,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn new(transport: Transport, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        Via {
            protocol: "SIP".into(),
            version: "2.0".into(),
            transport,
            host,
            port,
            params,
        }
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// True when the branch starts with the magic cookie and has something after it
    /// (a bare cookie is not an RFC 3261 branch: RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > BRANCH_COOKIE.len() && b.starts_with(BRANCH_COOKIE))
    }

    /// `received` as written (an IPv6 value may or may not carry brackets).
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    pub fn rport(&self) -> Option<Rport> {
        match self.params.get("rport")? {
            None => Some(Rport::Requested),
            Some(v) => parse_port(v).map(Rport::Port),
        }
    }

    pub fn maddr(&self) -> Option<&str> {
        self.params.get("maddr").flatten()
    }

    pub fn ttl(&self) -> Option<u8> {
        self.params
            .get("ttl")
            .flatten()
            .and_then(|t| t.parse().ok())
    }
}

impl TypedHeader for Via {
    const NAME: HeaderName = HeaderName::Via;
    const LIST: bool = true;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let protocol = sc
            .token()
            .ok_or(HeaderError::Syntax("missing protocol name"))?;
        if !sc.eat_sep(b'/') {
            return Err(HeaderError::Syntax("missing / after protocol name"));
        }
        let version = sc
            .token()
            .ok_or(HeaderError::Syntax("missing protocol version"))?;
        if !sc.eat_sep(b'/') {
            return Err(HeaderError::Syntax("missing / after protocol version"));
        }
        let transport = sc.token().ok_or(HeaderError::Syntax("missing transport"))?;
        if !sc.skip_ws() {
            return Err(HeaderError::Syntax("missing space before sent-by"));
        }
        let host_text = if sc.peek() == Some(b'[') {
            let end = sc
                .rest()
                .find(']')
                .ok_or(HeaderError::Syntax("unterminated IPv6 reference"))?;
            let t = &sc.rest()[..=end];
            sc.advance(end + 1);
            t
        } else {
            sc.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        };
        let host = Host::parse(host_text)?;
        let port = if sc.eat_sep(b':') {
            let p = sc.take_while(|b| b.is_ascii_digit());
            Some(parse_port(p).ok_or(HeaderError::OutOfRange("sent-by port"))?)
        } else {
            None
        };
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in Via"));
        }
        check_params(&params)?;
        Ok(Via {
            protocol: protocol.to_owned(),
            version: version.to_owned(),
            transport: Transport::parse(transport),
            host,
            port,
            params,
        })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.protocol);
        out.push('/');
        out.push_str(&self.version);
        out.push('/');
        out.push_str(self.transport.as_str());
        out.push(' ');
        out.push_str(&self.host.to_string());
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(&p.to_string());
        }
        out.push_str(&self.params.to_string());
    }
}

/// Value checks of the via-params RFC 3261 §25.1 and RFC 3581 define.
fn check_params(params: &Params) -> Result<(), HeaderError> {
    for p in params.iter() {
        let v = p.value.as_deref();
        let ok = match p.name.to_ascii_lowercase().as_str() {
            "ttl" => v.is_some_and(|t| t.len() <= 3 && t.parse::<u8>().is_ok()),
            "rport" => v.is_none_or(|r| parse_port(r).is_some()),
            "branch" => v.is_some_and(|b| b.bytes().all(is_token_char)),
            // RFC 5118 §4.5: an IPv6 received value is accepted with or without brackets.
            "received" => v.is_some_and(|r| Host::parse(r).is_ok() || is_ipv6_text(r)),
            "maddr" => v.is_some_and(|m| Host::parse(m).is_ok()),
            _ => true,
        };
        if !ok {
            return Err(HeaderError::Syntax("invalid Via parameter value"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_allows_whitespace_around_slashes_and_semicolons() {
        let v =
            Via::decode("SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, Host::Ipv4("192.168.255.111".parse().unwrap()));
        assert_eq!(v.branch(), Some("z9hG4bK30239"));
    }

    #[test]
    fn rport_with_and_without_value() {
        let v = Via::decode("SIP/2.0/UDP 127.0.0.1:50475;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport(), Some(Rport::Requested));
        assert_eq!(v.port, Some(50475));
        let v = Via::decode("SIP/2.0/UDP h;received=127.0.0.1;rport=47641").unwrap();
        assert_eq!(v.rport(), Some(Rport::Port(47641)));
        assert_eq!(v.received(), Some("127.0.0.1"));
    }

    #[test]
    fn ipv6_sent_by_and_received_with_or_without_brackets() {
        let v = Via::decode("SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255").unwrap();
        assert_eq!(v.host, Host::Ipv6("2001:db8::9:1".into()));
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert!(Via::decode("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]").is_ok());
    }

    #[test]
    fn bare_magic_cookie_is_not_an_rfc3261_branch() {
        let v = Via::decode("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").unwrap();
        assert!(!v.has_rfc3261_branch());
    }

    #[test]
    fn stray_separators_are_refused() {
        assert!(Via::decode("SIP/2.0/UDP 192.0.2.15;;").is_err());
    }

    #[test]
    fn unknown_transport_is_kept() {
        let v = Via::decode("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en").unwrap();
        assert_eq!(v.transport, Transport::Other("UNKNOWN".into()));
        let mut s = String::new();
        v.encode(&mut s);
        assert_eq!(s, "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en");
    }
}
