//! The Digest computation (RFC 7616 §3.4.1–§3.4.3, RFC 2617 §3.2.2): `HA1`, `HA2` and the
//! `response`, for `qop=auth` and for the legacy form without qop (RFC 2069 compatible).

use std::fmt;

use subtle::ConstantTimeEq;

use crate::auth::algorithm::{from_hex, Algorithm, HashFn};
use crate::auth::error::DigestError;

/// `H(username ":" realm ":" password)` as lowercase hex: what a server stores instead of the
/// password (RFC 7616 §3.4.2). For a `-sess` algorithm this is still the base value; the
/// session A1 is derived per nonce.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    hash: HashFn,
    hex: String,
}

impl Ha1 {
    pub fn from_password(hash: HashFn, username: &str, realm: &str, password: &str) -> Ha1 {
        Ha1 {
            hash,
            hex: hash.hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]),
        }
    }

    /// A stored HA1 (either case of hex); refused when its length does not fit `hash`.
    pub fn from_hex(hash: HashFn, hex: &str) -> Result<Ha1, DigestError> {
        if hex.len() != hash.hex_len() || from_hex(hex).is_none() {
            return Err(DigestError::BadHa1);
        }
        Ok(Ha1 {
            hash,
            hex: hex.to_ascii_lowercase(),
        })
    }

    pub fn hash_fn(&self) -> HashFn {
        self.hash
    }

    pub fn as_hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Debug for Ha1 {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ha1({:?}, ..)", self.hash)
    }
}

/// The `qop` a response was computed with. `auth-int` is not offered (RFC 3261 §22.4 allows
/// it, but no SIP client we meet needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
}

impl Qop {
    pub fn as_str(self) -> &'static str {
        "auth"
    }
}

/// Everything the response covers besides the secret.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub nonce: &'a str,
    /// `cnonce` and `nc` (exactly as written on the wire, normally 8 hex digits) go together
    /// with `qop`.
    pub qop: Option<(Qop, &'a str, &'a str)>,
    pub method: &'a str,
    /// The `uri` parameter (for SIP the Request-URI, RFC 3261 §22.4).
    pub uri: &'a str,
}

/// The `response` value (RFC 7616 §3.4.1), lowercase hex. `ha1` must use the algorithm's
/// hash function; `None` otherwise.
pub fn compute_response(ha1: &Ha1, input: &DigestInput<'_>) -> Option<String> {
    let h = input.algorithm.hash_fn();
    if ha1.hash != h {
        return None;
    }
    let session;
    let a1 = if input.algorithm.is_session() {
        // -sess: H(H(user:realm:pass) ":" nonce ":" cnonce), the hex form (RFC 7616 §3.4.2).
        let cnonce = input.qop.map(|(_, c, _)| c).unwrap_or("");
        session = h.hex(&[
            ha1.hex.as_bytes(),
            input.nonce.as_bytes(),
            cnonce.as_bytes(),
        ]);
        &session
    } else {
        &ha1.hex
    };
    let ha2 = h.hex(&[input.method.as_bytes(), input.uri.as_bytes()]);
    Some(match input.qop {
        Some((qop, cnonce, nc)) => h.hex(&[
            a1.as_bytes(),
            input.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            qop.as_str().as_bytes(),
            ha2.as_bytes(),
        ]),
        // RFC 2617 §3.2.2.1, no qop: H(HA1 ":" nonce ":" HA2).
        None => h.hex(&[a1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    })
}

/// Compares the expected and the received response in constant time (case-insensitively:
/// hex digits may arrive in upper case).
pub fn responses_match(expected: &str, received: &str) -> bool {
    let received = received.to_ascii_lowercase();
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_section_3_5_example() {
        let ha1 = Ha1::from_password(
            HashFn::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let r = compute_response(
            &ha1,
            &DigestInput {
                algorithm: Algorithm::Md5,
                nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                qop: Some((Qop::Auth, "0a4f113b", "00000001")),
                method: "GET",
                uri: "/dir/index.html",
            },
        );
        assert_eq!(r.as_deref(), Some("6629fae49393a05397450978507c4ef1"));
    }

    #[test]
    fn ha1_of_other_hash_is_refused() {
        let ha1 = Ha1::from_password(HashFn::Md5, "u", "r", "p");
        let input = DigestInput {
            algorithm: Algorithm::Sha256,
            nonce: "n",
            qop: None,
            method: "REGISTER",
            uri: "sip:x",
        };
        assert_eq!(compute_response(&ha1, &input), None);
        assert!(Ha1::from_hex(HashFn::Sha256, ha1.as_hex()).is_err());
    }

    #[test]
    fn upper_case_response_matches() {
        assert!(responses_match("abcd", "ABCD"));
        assert!(!responses_match("abcd", "abc"));
    }
}
