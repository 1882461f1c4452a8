//! URIs: SIP and SIPS URIs parsed into parts (RFC 3261 §19.1, §25.1), IPv6 references per
//! RFC 5118, and every other scheme kept raw as an `absoluteURI` (RFC 3261 §19, RFC 3966 tel:).
//!
//! Parts are kept as written (escaped); `percent_decode` gives the unescaped form, which is
//! what comparisons must use (§19.1.4).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::lex::{escapes_valid, percent_decode};
use crate::params::{Param, Params};

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("missing or invalid scheme")]
    Scheme,
    #[error("invalid character in URI")]
    InvalidChar,
    #[error("invalid %-escape")]
    Escape,
    #[error("empty or invalid host")]
    Host,
    #[error("invalid IPv6 reference")]
    Ipv6,
    #[error("invalid port")]
    Port,
    #[error("empty URI parameter")]
    EmptyParam,
    #[error("invalid URI header")]
    Header,
    #[error("empty absolute URI")]
    Empty,
}

/// A Request-URI or the URI of an address header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    /// Any other scheme, kept verbatim (`tel:`, `urn:`, `http:`, unknown ones: RFC 4475 §3.3.2–3.3.4).
    Absolute(String),
}

/// `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    pub secure: bool,
    /// User part as written (may hold escapes, `;` and `?`: RFC 4475 §3.1.1.9).
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// `uri-parameters`, names and values as written.
    pub params: Params,
    /// `headers` after `?`, as written (escaped).
    pub headers: Vec<(String, String)>,
}

/// The host of a SIP URI or of a Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Domain(String),
    Ipv4(Ipv4Addr),
    /// The text between `[` and `]`. Kept as text because RFC 5118 §4.10 asks receivers to
    /// tolerate the three-colon form born of an RFC 3261 ABNF bug, which `Ipv6Addr` refuses.
    Ipv6(String),
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::Ipv6)?;
            if !is_ipv6_text(inner) {
                return Err(UriError::Ipv6);
            }
            return Ok(Host::Ipv6(inner.to_owned()));
        }
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(UriError::Host);
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::Ipv4(v4));
        }
        Ok(Host::Domain(s.to_owned()))
    }

    /// The address, when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(t) => t
                .parse::<Ipv6Addr>()
                .ok()
                .or_else(|| t.replacen(":::", "::", 1).parse().ok())
                .map(IpAddr::V6),
        }
    }
}

/// Loose IPv6 check: hex digits, colons and dots (for an embedded IPv4 tail), at least two
/// colons. Tolerates `:::` (RFC 5118 §4.10).
pub(crate) fn is_ipv6_text(s: &str) -> bool {
    s.bytes().filter(|&b| b == b':').count() >= 2
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(t) => write!(f, "[{t}]"),
        }
    }
}

/// Characters never allowed raw in a URI: controls, space, `<`, `>`, `"`, and anything non-ASCII.
fn is_uri_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !matches!(b, b'<' | b'>' | b'"')
}

impl Uri {
    /// Parses a URI. Schemes are case-insensitive (§19.1.4).
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        if !s.bytes().all(is_uri_char) {
            return Err(UriError::InvalidChar);
        }
        let colon = s.find(':').ok_or(UriError::Scheme)?;
        let scheme = &s[..colon];
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(UriError::Scheme);
        }
        let rest = &s[colon + 1..];
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_after_scheme(false, rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(true, rest).map(Uri::Sip)
        } else if rest.is_empty() {
            Err(UriError::Empty)
        } else {
            Ok(Uri::Absolute(s.to_owned()))
        }
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Absolute(_) => None,
        }
    }

    /// The scheme in lower case (`sip`, `sips`, `tel`, ...).
    pub fn scheme(&self) -> String {
        match self {
            Uri::Sip(u) if u.secure => "sips".into(),
            Uri::Sip(_) => "sip".into(),
            Uri::Absolute(s) => s.split(':').next().unwrap_or_default().to_ascii_lowercase(),
        }
    }
}

impl SipUri {
    fn parse_after_scheme(secure: bool, s: &str) -> Result<SipUri, UriError> {
        if !escapes_valid(s) {
            return Err(UriError::Escape);
        }
        // userinfo ends at the first '@': '@' may not appear raw in any later part (§25.1).
        let (userinfo, hostpart) = match s.find('@') {
            Some(at) => (Some(&s[..at]), &s[at + 1..]),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(ui.to_owned()), None),
            },
        };
        if user.as_deref() == Some("") {
            return Err(UriError::InvalidChar);
        }
        let (hostport, after) = match hostpart.find([';', '?']) {
            Some(i) => hostpart.split_at(i),
            None => (hostpart, ""),
        };
        let (host, port) = split_hostport(hostport)?;
        let (params_text, headers_text) = match after.find('?') {
            Some(i) => (&after[..i], Some(&after[i + 1..])),
            None => (after, None),
        };
        let mut params = Vec::new();
        if !params_text.is_empty() {
            // params_text starts with ';'.
            for p in params_text[1..].split(';') {
                let (name, value) = match p.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (p, None),
                };
                if name.is_empty() || value == Some("") {
                    return Err(UriError::EmptyParam);
                }
                params.push(Param {
                    name: name.to_owned(),
                    value: value.map(str::to_owned),
                });
            }
        }
        let mut headers = Vec::new();
        if let Some(h) = headers_text {
            for pair in h.split('&') {
                let (n, v) = pair.split_once('=').ok_or(UriError::Header)?;
                if n.is_empty() {
                    return Err(UriError::Header);
                }
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params: Params(params),
            headers,
        })
    }

    /// The user part with escapes decoded (lossy for non-UTF-8 octets).
    pub fn user_decoded(&self) -> Option<String> {
        self.user
            .as_deref()
            .map(|u| String::from_utf8_lossy(&percent_decode(u)).into_owned())
    }

    /// `transport` URI parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.get("transport").flatten()
    }

    /// `lr` URI parameter present (loose routing, §16.4).
    pub fn is_loose_route(&self) -> bool {
        self.params.contains("lr")
    }
}

fn split_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(UriError::Ipv6)?;
        let (h, rest) = s.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return Err(UriError::Port),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(UriError::Port)?),
    };
    Ok((Host::parse(host)?, port))
}

pub(crate) fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Absolute(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not a SIP URI: {other:?}"),
        }
    }

    #[test]
    fn semicolons_in_user_part_are_not_uri_parameters() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert!(u.params.is_empty());
        assert_eq!(u.host, Host::Domain("example.com".into()));
    }

    #[test]
    fn ipv6_port_inside_brackets_is_part_of_the_address() {
        let u = sip("sip:[2001:db8::10:5070]");
        assert_eq!(u.host, Host::Ipv6("2001:db8::10:5070".into()));
        assert_eq!(u.port, None);
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.port, Some(5070));
    }

    #[test]
    fn unbracketed_ipv6_is_refused() {
        assert!(Uri::parse("sip:2001:db8::10").is_err());
    }

    #[test]
    fn three_colon_ipv6_is_tolerated() {
        let u = sip("sip:user@[2001:db8:::192.0.2.1]");
        assert!(u.host.ip().is_some());
    }

    #[test]
    fn escaped_user_decodes_for_comparison() {
        let u = sip("sip:%75se%72@example.com");
        assert_eq!(u.user_decoded().as_deref(), Some("user"));
    }

    #[test]
    fn unknown_schemes_are_kept_raw() {
        assert_eq!(
            Uri::parse("soap.beep://192.0.2.103:3002").unwrap(),
            Uri::Absolute("soap.beep://192.0.2.103:3002".into())
        );
        assert!(Uri::parse("<sip:a@b>").is_err());
    }

    #[test]
    fn sip_uri_displays_as_parsed() {
        let text = "sips:alice:pw@[::1]:5061;transport=tcp;lr?Subject=hi&X=y";
        assert_eq!(sip(text).to_string(), text);
    }
}
