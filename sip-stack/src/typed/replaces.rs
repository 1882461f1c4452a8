//! `Replaces` (RFC 3891 §6.1): the dialog to replace, by Call-ID and tags.

use crate::header_name::HeaderName;
use crate::lex::Scanner;
use crate::params::Params;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub params: Params,
}

impl Replaces {
    pub fn to_tag(&self) -> Option<&str> {
        self.params.get("to-tag").flatten()
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.params.get("from-tag").flatten()
    }

    pub fn early_only(&self) -> bool {
        self.params.contains("early-only")
    }
}

impl TypedHeader for Replaces {
    const NAME: HeaderName = HeaderName::Replaces;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let call_id = sc.take_while(|b| b > b' ' && b != b';' && b != 0x7f);
        if call_id.is_empty() {
            return Err(HeaderError::Syntax("missing Call-ID in Replaces"));
        }
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in Replaces"));
        }
        let r = Replaces {
            call_id: call_id.to_owned(),
            params,
        };
        if r.to_tag().is_none() || r.from_tag().is_none() {
            return Err(HeaderError::Syntax("Replaces needs to-tag and from-tag"));
        }
        Ok(r)
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.call_id);
        out.push_str(&self.params.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_exposes_tags_and_early_only() {
        let r =
            Replaces::decode("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff;early-only")
                .unwrap();
        assert_eq!(r.call_id, "98732@sip.example.com");
        assert_eq!(r.from_tag(), Some("r33th4x0r"));
        assert_eq!(r.to_tag(), Some("ff87ff"));
        assert!(r.early_only());
    }
}
