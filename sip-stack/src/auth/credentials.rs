//! Digest credentials (`Authorization` / `Proxy-Authorization`, RFC 7616 §3.4,
//! RFC 3261 §22.2, §25.1 `digest-response`): read by the server, written by the client.

use crate::auth::algorithm::Algorithm;
use crate::auth::challenge::quoted;
use crate::auth::digest::{compute_response, responses_match, DigestInput, Ha1, Qop};
use crate::auth::error::DigestError;
use crate::typed::AuthValue;

/// One set of Digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Algorithm,
    /// `qop`, `cnonce` and `nc` (as written) together, or none of them.
    pub qop: Option<QopAnswer>,
    pub opaque: Option<String>,
}

/// The qop part of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAnswer {
    pub qop: Qop,
    pub cnonce: String,
    /// `nc` as written (it enters the hash verbatim).
    pub nc_text: String,
    pub nc: u32,
}

impl DigestCredentials {
    pub fn from_auth(v: &AuthValue) -> Result<DigestCredentials, DigestError> {
        if !v.scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        if v.param("userhash")
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
        {
            return Err(DigestError::Userhash);
        }
        let need = |n: &'static str| v.param(n).ok_or(DigestError::Missing(n));
        let algorithm = match v.param("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
        };
        let qop = match v.param("qop") {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let cnonce = v.param("cnonce").ok_or(DigestError::QopWithoutCnonce)?;
                let nc_text = v.param("nc").ok_or(DigestError::QopWithoutCnonce)?;
                // nc-value = 8LHEX (RFC 7616 §3.4); shorter forms are tolerated.
                let nc = (nc_text.len() <= 8)
                    .then(|| u32::from_str_radix(&nc_text, 16).ok())
                    .flatten()
                    .filter(|_| nc_text.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| DigestError::BadNonceCount(nc_text.clone()))?;
                Some(QopAnswer {
                    qop: Qop::Auth,
                    cnonce,
                    nc_text,
                    nc,
                })
            }
            Some(q) => return Err(DigestError::UnsupportedQop(q)),
        };
        if algorithm.is_session() && qop.is_none() {
            // A -sess A1 needs a cnonce, which only comes with qop.
            return Err(DigestError::QopWithoutCnonce);
        }
        Ok(DigestCredentials {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm,
            qop,
            opaque: v.param("opaque"),
        })
    }

    fn input<'a>(&'a self, method: &'a str) -> DigestInput<'a> {
        DigestInput {
            algorithm: self.algorithm,
            nonce: &self.nonce,
            qop: self
                .qop
                .as_ref()
                .map(|q| (q.qop, q.cnonce.as_str(), q.nc_text.as_str())),
            method,
            uri: &self.uri,
        }
    }

    /// The response these credentials should carry for `ha1`.
    pub fn expected_response(&self, ha1: &Ha1, method: &str) -> Option<String> {
        compute_response(ha1, &self.input(method))
    }

    /// True when `response` is right for `ha1` (constant-time comparison).
    pub fn verify(&self, ha1: &Ha1, method: &str) -> bool {
        self.expected_response(ha1, method)
            .is_some_and(|e| responses_match(&e, &self.response))
    }

    /// The header value, quoting what RFC 7616 §3.4 quotes.
    pub fn to_auth(&self) -> AuthValue {
        let mut params = vec![
            ("username".to_owned(), quoted(&self.username)),
            ("realm".to_owned(), quoted(&self.realm)),
            ("nonce".to_owned(), quoted(&self.nonce)),
            ("uri".to_owned(), quoted(&self.uri)),
            ("response".to_owned(), quoted(&self.response)),
            ("algorithm".to_owned(), self.algorithm.as_str().to_owned()),
        ];
        if let Some(q) = &self.qop {
            params.push(("cnonce".to_owned(), quoted(&q.cnonce)));
            params.push(("qop".to_owned(), q.qop.as_str().to_owned()));
            params.push(("nc".to_owned(), q.nc_text.clone()));
        }
        if let Some(o) = &self.opaque {
            params.push(("opaque".to_owned(), quoted(o)));
        }
        AuthValue {
            scheme: "Digest".to_owned(),
            params,
            token68: None,
        }
    }
}
