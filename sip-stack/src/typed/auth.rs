//! Authentication headers (RFC 3261 §20.7, §20.27, §20.28, §20.44, §25.1 `challenge` and
//! `credentials`; RFC 7616 for Digest): a scheme and comma-separated `name=value`
//! parameters. Unknown schemes parse generically (RFC 4475 §3.3.7); a lone `token68`
//! (RFC 7235 §2.1) is kept too.

use std::ops::Deref;

use crate::header_name::HeaderName;
use crate::lex::{unquote, Scanner};
use crate::typed::{HeaderError, TypedHeader};

/// A challenge or credentials: scheme plus parameters, values as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthValue {
    pub scheme: String,
    pub params: Vec<(String, String)>,
    pub token68: Option<String>,
}

impl AuthValue {
    /// The value of `name` with quotes removed (names are case-insensitive).
    pub fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| unquote(v))
    }

    fn decode(value: &str) -> Result<AuthValue, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let scheme = sc
            .token()
            .ok_or(HeaderError::Syntax("missing auth scheme"))?
            .to_owned();
        if sc.is_empty() {
            return Ok(AuthValue {
                scheme,
                params: Vec::new(),
                token68: None,
            });
        }
        if !sc.skip_ws() {
            return Err(HeaderError::Syntax("missing space after auth scheme"));
        }
        let rest = sc.rest().trim_end_matches([' ', '\t']);
        if is_token68(rest) {
            return Ok(AuthValue {
                scheme,
                params: Vec::new(),
                token68: Some(rest.to_owned()),
            });
        }
        let params = read_params(&mut sc).ok_or(HeaderError::Syntax("invalid auth parameters"))?;
        Ok(AuthValue {
            scheme,
            params,
            token68: None,
        })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.scheme);
        if let Some(t) = &self.token68 {
            out.push(' ');
            out.push_str(t);
            return;
        }
        for (i, (n, v)) in self.params.iter().enumerate() {
            out.push_str(if i == 0 { " " } else { ", " });
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
    }
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 7235 §2.1).
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// `auth-param *(COMMA auth-param)`, `auth-param = name EQUAL (token / quoted-string)`.
fn read_params(sc: &mut Scanner<'_>) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    loop {
        let name = sc.token()?;
        if !sc.eat_sep(b'=') {
            return None;
        }
        let value = if sc.peek() == Some(b'"') {
            sc.quoted_string()?
        } else {
            let v = sc.take_while(|b| b > b' ' && b != b',' && b != b'"' && b != 0x7f);
            if v.is_empty() {
                return None;
            }
            v
        };
        out.push((name.to_owned(), value.to_owned()));
        if sc.eat_sep(b',') {
            continue;
        }
        sc.skip_ws();
        return sc.is_empty().then_some(out);
    }
}

macro_rules! auth_header {
    ($(#[$doc:meta])* $ty:ident, $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub AuthValue);

        impl TypedHeader for $ty {
            const NAME: HeaderName = HeaderName::$name;

            fn decode(value: &str) -> Result<Self, HeaderError> {
                AuthValue::decode(value).map($ty)
            }

            fn encode(&self, out: &mut String) {
                self.0.encode(out)
            }
        }

        impl Deref for $ty {
            type Target = AuthValue;
            fn deref(&self) -> &AuthValue {
                &self.0
            }
        }
    };
}

auth_header!(
    /// A server's challenge (§20.44).
    WwwAuthenticate, WwwAuthenticate
);
auth_header!(
    /// A proxy's challenge (§20.27).
    ProxyAuthenticate, ProxyAuthenticate
);
auth_header!(
    /// Credentials for a server (§20.7).
    Authorization, Authorization
);
auth_header!(
    /// Credentials for a proxy (§20.28).
    ProxyAuthorization, ProxyAuthorization
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_credentials_parse_with_quoted_and_token_values() {
        let a = Authorization::decode(
            r#"Digest username="alice", realm="sipp.test", nonce="n0nce24262x1", algorithm=MD5, uri="sip:127.0.0.1:45060", qop=auth, nc=00000001"#,
        )
        .unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.param("USERNAME").as_deref(), Some("alice"));
        assert_eq!(a.param("nc").as_deref(), Some("00000001"));
    }

    #[test]
    fn unknown_scheme_parses_generically() {
        let a = Authorization::decode("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(a.param("opaque-data").as_deref(), Some("here"));
        let b = Authorization::decode("Bearer abc.def-ghi==").unwrap();
        assert_eq!(b.token68.as_deref(), Some("abc.def-ghi=="));
    }
}
