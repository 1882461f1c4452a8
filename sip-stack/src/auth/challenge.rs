//! A Digest challenge (`WWW-Authenticate` / `Proxy-Authenticate`, RFC 7616 §3.3,
//! RFC 3261 §22.1, §25.1 `digest-cln`), read by the client and written by the server.

use crate::auth::algorithm::Algorithm;
use crate::auth::error::DigestError;
use crate::lex::write_quoted;
use crate::typed::AuthValue;

/// One Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// `qop="auth"` offered; false for a legacy (RFC 2069 style) challenge without qop.
    pub qop_auth: bool,
    /// The previous nonce was right but too old (RFC 7616 §3.3 `stale`).
    pub stale: bool,
}

impl DigestChallenge {
    /// Reads a challenge. A challenge offering only `auth-int` is refused: we would have to
    /// hash bodies and no SIP server we meet requires it.
    pub fn from_auth(v: &AuthValue) -> Result<DigestChallenge, DigestError> {
        if !v.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        let realm = v.param("realm").ok_or(DigestError::Missing("realm"))?;
        let nonce = v.param("nonce").ok_or(DigestError::Missing("nonce"))?;
        let algorithm = match v.param("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
        };
        let qop_auth = match v.param("qop") {
            None => false,
            Some(list) => {
                if !list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    return Err(DigestError::UnsupportedQop(list));
                }
                true
            }
        };
        if v.param("userhash")
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
        {
            // RFC 7616 §3.4.4: we do not hash user names; a server that insists would refuse us.
            return Err(DigestError::Userhash);
        }
        let stale = v
            .param("stale")
            .is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(DigestChallenge {
            realm,
            nonce,
            opaque: v.param("opaque"),
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// The header value: `Digest realm="..", nonce="..", [opaque,] algorithm=.., qop="auth"
    /// [, stale=true]`.
    pub fn to_auth(&self) -> AuthValue {
        let mut params = vec![
            ("realm".to_owned(), quoted(&self.realm)),
            ("nonce".to_owned(), quoted(&self.nonce)),
        ];
        if let Some(o) = &self.opaque {
            params.push(("opaque".to_owned(), quoted(o)));
        }
        params.push(("algorithm".to_owned(), self.algorithm.as_str().to_owned()));
        if self.qop_auth {
            params.push(("qop".to_owned(), quoted("auth")));
        }
        if self.stale {
            params.push(("stale".to_owned(), "true".to_owned()));
        }
        AuthValue {
            scheme: "Digest".to_owned(),
            params,
            token68: None,
        }
    }
}

pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_quoted(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed::{TypedHeader, WwwAuthenticate};

    #[test]
    fn challenge_round_trips_through_the_header() {
        let c = DigestChallenge {
            realm: "cardea".into(),
            nonce: "abc".into(),
            opaque: None,
            algorithm: Algorithm::Sha256,
            qop_auth: true,
            stale: true,
        };
        let mut s = String::new();
        WwwAuthenticate(c.to_auth()).encode(&mut s);
        let back = WwwAuthenticate::decode(&s).unwrap();
        assert_eq!(DigestChallenge::from_auth(&back).unwrap(), c);
    }

    #[test]
    fn auth_int_only_is_refused_and_list_with_auth_is_accepted() {
        let only =
            WwwAuthenticate::decode(r#"Digest realm="r", nonce="n", qop="auth-int""#).unwrap();
        assert!(DigestChallenge::from_auth(&only).is_err());
        let both =
            WwwAuthenticate::decode(r#"Digest realm="r", nonce="n", qop="auth-int,auth""#).unwrap();
        assert!(DigestChallenge::from_auth(&both).unwrap().qop_auth);
    }
}
