//! `Contact` (RFC 3261 §20.10): `*` or a list of addresses with `q` and `expires`.

use crate::header_name::HeaderName;
use crate::lex::parse_u32;
use crate::typed::{HeaderError, NameAddr, TypedHeader};

/// One Contact element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `*`, used by REGISTER to remove all bindings (§10.2.2).
    Wildcard,
    Address(NameAddr),
}

impl Contact {
    pub fn address(&self) -> Option<&NameAddr> {
        match self {
            Contact::Wildcard => None,
            Contact::Address(a) => Some(a),
        }
    }

    /// `q` in thousandths (qvalue, §25.1: 0 to 1 with up to three decimals).
    pub fn q(&self) -> Option<u16> {
        self.address()?.params.get("q").flatten().and_then(parse_q)
    }

    /// `expires` parameter in seconds (§20.10).
    pub fn expires(&self) -> Option<u32> {
        self.address()?
            .params
            .get("expires")
            .flatten()
            .and_then(parse_u32)
    }
}

fn parse_q(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    (thousandths <= 1000).then_some(thousandths)
}

impl TypedHeader for Contact {
    const NAME: HeaderName = HeaderName::Contact;
    const LIST: bool = true;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        if value.trim_matches([' ', '\t']) == "*" {
            return Ok(Contact::Wildcard);
        }
        let c = Contact::Address(NameAddr::parse(value)?);
        let params = &c.address().map(|a| &a.params);
        if let Some(p) = params {
            if let Some(q) = p.get("q") {
                if q.and_then(parse_q).is_none() {
                    return Err(HeaderError::OutOfRange("q"));
                }
            }
            if let Some(e) = p.get("expires") {
                // delta-seconds must fit 32 bits (RFC 4475 §3.1.2.4).
                if e.and_then(parse_u32).is_none() {
                    return Err(HeaderError::OutOfRange("expires"));
                }
            }
        }
        Ok(c)
    }

    fn encode(&self, out: &mut String) {
        match self {
            Contact::Wildcard => out.push('*'),
            Contact::Address(a) => a.encode(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_value_is_read_in_thousandths() {
        let c = Contact::decode("<sip:a@b> ; q = 0.33").unwrap();
        assert_eq!(c.q(), Some(330));
        assert!(Contact::decode("<sip:a@b>;q=1.5").is_err());
    }

    #[test]
    fn overlarge_contact_expires_is_refused() {
        assert!(Contact::decode("<sip:user@host129.example.com>;expires=280297596632815").is_err());
        let c = Contact::decode("<sip:a@b>;expires=3600").unwrap();
        assert_eq!(c.expires(), Some(3600));
    }

    #[test]
    fn star_is_the_wildcard() {
        assert_eq!(Contact::decode(" * ").unwrap(), Contact::Wildcard);
    }
}
