//! Digest hash algorithms (RFC 7616 §3.4.1, §6.1; RFC 8760 §2.1 for SIP): MD5, SHA-256 and
//! SHA-512/256, each with its `-sess` variant. `H(data)` is the lowercase hex of the hash.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// A Digest `algorithm` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
}

/// The hash function behind an [`Algorithm`]: what a stored HA1 is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashFn {
    Md5,
    Sha256,
    Sha512_256,
}

impl Algorithm {
    /// Every algorithm, strongest first (the preference order of RFC 8760 §2.4).
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Md5,
        Algorithm::Md5Sess,
    ];

    /// Parses a token, case-insensitively (RFC 7616 §3.3). A missing `algorithm` means MD5.
    pub fn parse(s: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    pub fn hash_fn(self) -> HashFn {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFn::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFn::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashFn::Sha512_256,
        }
    }

    /// True for the `-sess` variants, whose A1 also covers nonce and cnonce (RFC 7616 §3.4.2).
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }

    /// Rank for choosing among several challenges: higher is stronger.
    pub(crate) fn strength(self) -> u8 {
        match self.hash_fn() {
            HashFn::Md5 => 0,
            HashFn::Sha256 => 1,
            HashFn::Sha512_256 => 2,
        }
    }
}

impl HashFn {
    /// `H(p1 ":" p2 ":" ...)` as lowercase hex.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        match self {
            HashFn::Md5 => joined::<Md5>(parts),
            HashFn::Sha256 => joined::<Sha256>(parts),
            HashFn::Sha512_256 => joined::<Sha512_256>(parts),
        }
    }

    /// Length of `H(..)` in hex characters.
    pub fn hex_len(self) -> usize {
        match self {
            HashFn::Md5 => 32,
            HashFn::Sha256 | HashFn::Sha512_256 => 64,
        }
    }
}

fn joined<D: Digest>(parts: &[&[u8]]) -> String {
    let mut d = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(p);
    }
    to_hex(&d.finalize())
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Bytes from hex (either case); `None` on odd length or a non-hex digit.
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_parse_case_insensitively() {
        assert_eq!(Algorithm::parse("md5"), Some(Algorithm::Md5));
        assert_eq!(
            Algorithm::parse("SHA-256-SESS"),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(Algorithm::parse("SHA-1"), None);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(from_hex("00AB10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn md5_of_empty_is_the_known_value() {
        assert_eq!(HashFn::Md5.hex(&[b""]), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
