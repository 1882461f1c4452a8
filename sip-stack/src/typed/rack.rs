//! `RAck` (RFC 3262 §7.2): `response-num LWS CSeq-num LWS Method`.

use crate::header_name::HeaderName;
use crate::lex::{is_token_char, parse_u32, Scanner};
use crate::method::Method;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RAck {
    pub rseq: u32,
    pub cseq: u32,
    pub method: Method,
}

impl TypedHeader for RAck {
    const NAME: HeaderName = HeaderName::RAck;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let rseq = parse_u32(sc.take_while(|b| b.is_ascii_digit()))
            .ok_or(HeaderError::OutOfRange("RAck response number"))?;
        sc.skip_ws();
        let cseq = parse_u32(sc.take_while(|b| b.is_ascii_digit()))
            .ok_or(HeaderError::OutOfRange("RAck CSeq number"))?;
        sc.skip_ws();
        let method = Method::parse(sc.take_while(is_token_char))
            .ok_or(HeaderError::Syntax("missing RAck method"))?;
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in RAck"));
        }
        Ok(RAck { rseq, cseq, method })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&format!("{} {} {}", self.rseq, self.cseq, self.method));
    }
}
