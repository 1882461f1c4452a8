//! `CSeq` (RFC 3261 §20.16): sequence number and method.

use crate::header_name::HeaderName;
use crate::lex::{is_token_char, parse_u32, Scanner};
use crate::method::Method;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Must fit 32 bits (§8.1.1.5).
    pub seq: u32,
    pub method: Method,
}

impl TypedHeader for CSeq {
    const NAME: HeaderName = HeaderName::CSeq;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let digits = sc.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(HeaderError::Syntax("missing CSeq number"));
        }
        let seq = parse_u32(digits).ok_or(HeaderError::OutOfRange("CSeq number"))?;
        if !sc.skip_ws() {
            return Err(HeaderError::Syntax("missing space after CSeq number"));
        }
        let method = sc.take_while(is_token_char);
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text after CSeq method"));
        }
        let method = Method::parse(method).ok_or(HeaderError::Syntax("missing CSeq method"))?;
        Ok(CSeq { seq, method })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.seq.to_string());
        out.push(' ');
        out.push_str(self.method.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zeros_are_accepted() {
        let c = CSeq::decode("0009 INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
    }

    #[test]
    fn number_beyond_32_bits_is_refused() {
        assert_eq!(
            CSeq::decode("36893488147419103232 REGISTER"),
            Err(HeaderError::OutOfRange("CSeq number"))
        );
    }
}
