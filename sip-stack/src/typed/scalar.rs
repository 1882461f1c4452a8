//! Single-number and single-word headers: Call-ID (RFC 3261 §20.8), Max-Forwards (§20.22),
//! Content-Length (§20.14), Expires (§20.19), Min-Expires (§20.23), RSeq (RFC 3262 §7.1),
//! Min-SE (RFC 4028 §5).

use crate::header_name::HeaderName;
use crate::lex::parse_u32;
use crate::typed::{HeaderError, TypedHeader};

macro_rules! number_header {
    ($(#[$doc:meta])* $ty:ident($int:ty), $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty(pub $int);

        impl TypedHeader for $ty {
            const NAME: HeaderName = HeaderName::$name;

            fn decode(value: &str) -> Result<Self, HeaderError> {
                let v = value.trim_matches([' ', '\t']);
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeaderError::Syntax(concat!($what, " is not a number")));
                }
                parse_u32(v)
                    .and_then(|n| <$int>::try_from(n).ok())
                    .map($ty)
                    .ok_or(HeaderError::OutOfRange($what))
            }

            fn encode(&self, out: &mut String) {
                out.push_str(&self.0.to_string());
            }
        }
    };
}

number_header!(
    /// Hop limit, 0 to 255.
    MaxForwards(u8), MaxForwards, "Max-Forwards"
);
number_header!(
    /// Body size in octets.
    ContentLength(u32), ContentLength, "Content-Length"
);
number_header!(
    /// Relative expiry in seconds (delta-seconds, 32 bits).
    Expires(u32), Expires, "Expires"
);
number_header!(
    /// Shortest registration interval a registrar accepts.
    MinExpires(u32), MinExpires, "Min-Expires"
);
number_header!(
    /// Sequence number of a reliable provisional response.
    RSeq(u32), RSeq, "RSeq"
);
number_header!(
    /// Smallest session interval (RFC 4028).
    MinSe(u32), MinSe, "Min-SE"
);

/// `Call-ID` (§20.8): `word [ "@" word ]`, compared byte for byte. Any visible characters
/// are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallId(pub String);

impl TypedHeader for CallId {
    const NAME: HeaderName = HeaderName::CallId;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let v = value.trim_matches([' ', '\t']);
        if v.is_empty() {
            return Err(HeaderError::Empty);
        }
        if v.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(HeaderError::Syntax(
                "whitespace or control character in Call-ID",
            ));
        }
        Ok(CallId(v.to_owned()))
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_forwards_above_255_is_refused() {
        assert_eq!(MaxForwards::decode("0068"), Ok(MaxForwards(68)));
        assert!(MaxForwards::decode("300").is_err());
    }

    #[test]
    fn negative_content_length_is_refused() {
        assert!(ContentLength::decode("-999").is_err());
        assert_eq!(ContentLength::decode(" 150 "), Ok(ContentLength(150)));
    }
}
