//! `Session-Expires` (RFC 4028 §4): interval and refresher.

use crate::header_name::HeaderName;
use crate::lex::{parse_u32, Scanner};
use crate::params::Params;
use crate::typed::{HeaderError, TypedHeader};

/// Who refreshes the session (RFC 4028 §4: `refresher=uac|uas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta: u32,
    pub params: Params,
}

impl SessionExpires {
    pub fn refresher(&self) -> Option<Refresher> {
        match self.params.get("refresher").flatten()? {
            r if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            r if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    }
}

impl TypedHeader for SessionExpires {
    const NAME: HeaderName = HeaderName::SessionExpires;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let delta = parse_u32(sc.take_while(|b| b.is_ascii_digit()))
            .ok_or(HeaderError::OutOfRange("Session-Expires interval"))?;
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in Session-Expires"));
        }
        Ok(SessionExpires { delta, params })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.delta.to_string());
        out.push_str(&self.params.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresher_is_read() {
        let s = SessionExpires::decode("1800;refresher=uas").unwrap();
        assert_eq!(s.delta, 1800);
        assert_eq!(s.refresher(), Some(Refresher::Uas));
    }
}
