//! `Content-Type` (RFC 3261 §20.15): `m-type SLASH m-subtype *(SEMI m-parameter)`.

use crate::header_name::HeaderName;
use crate::lex::Scanner;
use crate::params::Params;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    pub media_type: String,
    pub subtype: String,
    pub params: Params,
}

impl ContentType {
    /// Case-insensitive match (`application`, `sdp`).
    pub fn is(&self, media_type: &str, subtype: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
            && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

impl TypedHeader for ContentType {
    const NAME: HeaderName = HeaderName::ContentType;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let t = sc
            .token()
            .ok_or(HeaderError::Syntax("missing media type"))?;
        if !sc.eat_sep(b'/') {
            return Err(HeaderError::Syntax("missing / in media type"));
        }
        let s = sc
            .token()
            .ok_or(HeaderError::Syntax("missing media subtype"))?;
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in Content-Type"));
        }
        Ok(ContentType {
            media_type: t.to_owned(),
            subtype: s.to_owned(),
            params,
        })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.media_type);
        out.push('/');
        out.push_str(&self.subtype);
        out.push_str(&self.params.to_string());
    }
}
