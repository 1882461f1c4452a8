//! SDES-SRTP for the SIP side: `a=crypto` lines (RFC 4568 §9.1) and the SRTP contexts they key
//! (RFC 3711; AEAD-GCM per RFC 7714), on `rtc-srtp`. The leg sees only [`SrtpTransform`], so a
//! different SRTP implementation (or DTLS-SRTP keys) can slot in.
//!
//! ```text
//! a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<base64(key || salt)>[|lifetime][|mki:len] [params]
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rtc_srtp::context::Context;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;

use super::error::{CryptoError, RtpLegError};

/// Replay window of the receiving contexts (RFC 3711 §3.3.2: at least 64).
const REPLAY_WINDOW: usize = 128;
/// The longest key || salt of the suites we offer.
const MAX_MATERIAL: usize = 30;

/// The SDES crypto suites we speak (RFC 4568 §6.2, RFC 7714 §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    AesCm128HmacSha1_80,
    /// A 32-bit SRTP tag; SRTCP keeps the 80-bit tag (RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
    AeadAes128Gcm,
}

impl CryptoSuite {
    /// In order of preference, for offers.
    pub const ALL: [Self; 3] = [
        Self::AesCm128HmacSha1_80,
        Self::AesCm128HmacSha1_32,
        Self::AeadAes128Gcm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn key_len(self) -> usize {
        16
    }

    pub fn salt_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 | Self::AesCm128HmacSha1_32 => 14,
            Self::AeadAes128Gcm => 12,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Self::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Self::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            Self::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        }
    }
}

/// A master key and salt for one suite. Its `Debug` never shows the material.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    suite: CryptoSuite,
    material: [u8; MAX_MATERIAL],
}

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpKey {
    /// A fresh random key from the crypto provider's CSPRNG (RFC 4568 §6.1: keys are random).
    pub fn generate(suite: CryptoSuite) -> Result<Self, CryptoError> {
        let provider =
            rtc_srtp::crypto::default_provider().map_err(|e| CryptoError::Random(e.to_string()))?;
        let mut material = [0; MAX_MATERIAL];
        let len = suite.key_len() + suite.salt_len();
        provider
            .random()
            .fill(&mut material[..len])
            .map_err(|e| CryptoError::Random(e.to_string()))?;
        Ok(Self { suite, material })
    }

    /// Builds a key from raw key || salt bytes.
    pub fn from_bytes(suite: CryptoSuite, bytes: &[u8]) -> Result<Self, CryptoError> {
        let want = suite.key_len() + suite.salt_len();
        if bytes.len() != want {
            return Err(CryptoError::KeyLength {
                got: bytes.len(),
                want,
            });
        }
        let mut material = [0; MAX_MATERIAL];
        material[..want].copy_from_slice(bytes);
        Ok(Self { suite, material })
    }

    /// Reads the base64 key-salt of an `inline:` parameter.
    pub fn from_inline(suite: CryptoSuite, base64: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(base64.trim())
            .map_err(|_| CryptoError::Base64)?;
        Self::from_bytes(suite, &bytes)
    }

    /// The base64 key-salt for an `inline:` parameter.
    pub fn inline(&self) -> String {
        STANDARD.encode(self.bytes())
    }

    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    fn bytes(&self) -> &[u8] {
        &self.material[..self.suite.key_len() + self.suite.salt_len()]
    }

    fn key(&self) -> &[u8] {
        &self.material[..self.suite.key_len()]
    }

    fn salt(&self) -> &[u8] {
        &self.bytes()[self.suite.key_len()..]
    }
}

/// One `a=crypto` attribute (RFC 4568 §9.1). Lifetime is kept for echoing; MKI is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    pub tag: u32,
    pub key: SrtpKey,
    /// The key lifetime in packets, if stated (`2^31` or decimal).
    pub lifetime: Option<u64>,
    /// Session parameters as written (e.g. `UNENCRYPTED_SRTCP`); the caller decides.
    pub session_params: String,
}

impl CryptoAttribute {
    /// A fresh attribute for an offer or answer.
    pub fn generate(tag: u32, suite: CryptoSuite) -> Result<Self, CryptoError> {
        Ok(Self {
            tag,
            key: SrtpKey::generate(suite)?,
            lifetime: None,
            session_params: String::new(),
        })
    }

    /// Parses the value of `a=crypto:` (the prefix may be present or not).
    pub fn parse(line: &str) -> Result<Self, CryptoError> {
        let value = line.trim();
        let value = value.strip_prefix("a=").unwrap_or(value);
        let value = value.strip_prefix("crypto:").unwrap_or(value);
        let mut fields = value.split_ascii_whitespace();
        let tag = fields
            .next()
            .and_then(|t| t.parse::<u32>().ok())
            .filter(|t| *t <= 999_999_999)
            .ok_or(CryptoError::Syntax("tag is not 1*9DIGIT"))?;
        let suite_name = fields
            .next()
            .ok_or(CryptoError::Syntax("no crypto-suite"))?;
        let suite = CryptoSuite::from_name(suite_name)
            .ok_or_else(|| CryptoError::UnsupportedSuite(suite_name.to_owned()))?;
        let key_params = fields.next().ok_or(CryptoError::Syntax("no key-params"))?;
        let session_params = fields.collect::<Vec<_>>().join(" ");
        // Several keys (";"-separated) only make sense with MKI; the first is the one.
        let first = key_params.split(';').next().unwrap_or_default();
        let info = first
            .strip_prefix("inline:")
            .ok_or(CryptoError::NotInline)?;
        let mut parts = info.split('|');
        let key = SrtpKey::from_inline(suite, parts.next().unwrap_or_default())?;
        let mut lifetime = None;
        for part in parts {
            if part.contains(':') {
                let mki_len = part.split(':').nth(1).and_then(|l| l.parse::<u8>().ok());
                if mki_len != Some(0) {
                    return Err(CryptoError::Mki);
                }
            } else {
                lifetime = Some(parse_lifetime(part)?);
            }
        }
        Ok(Self {
            tag,
            key,
            lifetime,
            session_params,
        })
    }
}

/// A random 32-bit value from the crypto provider's CSPRNG (SSRCs, initial seq and ts).
pub(crate) fn random_u32() -> u32 {
    let mut b = [0; 4];
    if let Ok(p) = rtc_srtp::crypto::default_provider() {
        // A failing CSPRNG leaves zeros: still a valid (if guessable) SSRC.
        let _ = p.random().fill(&mut b);
    }
    u32::from_ne_bytes(b)
}

fn parse_lifetime(s: &str) -> Result<u64, CryptoError> {
    let bad = CryptoError::Syntax("lifetime is not 2^N or a number");
    match s.strip_prefix("2^") {
        Some(exp) => match exp.parse::<u32>() {
            Ok(e) if e < 64 => Ok(1 << e),
            _ => Err(bad),
        },
        None => s.parse().map_err(|_| bad),
    }
}

/// The attribute value, without `a=crypto:` (e.g. `1 AES_CM_128_HMAC_SHA1_80 inline:...`).
impl fmt::Display for CryptoAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} inline:{}",
            self.tag,
            self.key.suite.name(),
            self.key.inline()
        )?;
        if let Some(l) = self.lifetime {
            if l.is_power_of_two() {
                write!(f, "|2^{}", l.trailing_zeros())?;
            } else {
                write!(f, "|{l}")?;
            }
        }
        if !self.session_params.is_empty() {
            write!(f, " {}", self.session_params)?;
        }
        Ok(())
    }
}

/// Protects what the leg sends and unprotects what it receives. Each call appends its result
/// to `out` (a buffer the leg reuses) and leaves `out` untouched on failure.
pub trait SrtpTransform: Send {
    fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError>;
    fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError>;
    fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError>;
    fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError>;
}

/// Both directions of one SDES-keyed stream: our key encrypts, the peer's decrypts.
pub struct SrtpSession {
    tx: Context,
    rx: Context,
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession").finish_non_exhaustive()
    }
}

impl SrtpSession {
    /// `local` is the key in our `a=crypto`, `remote` the one in the peer's.
    pub fn new(local: &SrtpKey, remote: &SrtpKey) -> Result<Self, CryptoError> {
        let provider = rtc_srtp::crypto::default_provider()
            .map_err(|e| CryptoError::Context(e.to_string()))?;
        let crypto = provider.crypto();
        let context = |key: &SrtpKey, replay: bool| {
            let (rtp, rtcp) = if replay {
                (
                    Some(srtp_replay_protection(REPLAY_WINDOW)),
                    Some(srtcp_replay_protection(REPLAY_WINDOW)),
                )
            } else {
                (None, None)
            };
            Context::new(
                key.key(),
                key.salt(),
                key.suite.profile(),
                rtp,
                rtcp,
                crypto,
            )
            .map_err(|e| CryptoError::Context(e.to_string()))
        };
        Ok(Self {
            tx: context(local, false)?,
            rx: context(remote, true)?,
        })
    }
}

impl SrtpTransform for SrtpSession {
    fn protect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError> {
        let p = self
            .tx
            .encrypt_rtp(packet)
            .map_err(|_| RtpLegError::Protect)?;
        out.extend_from_slice(&p);
        Ok(())
    }

    fn unprotect_rtp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError> {
        let p = self
            .rx
            .decrypt_rtp(packet)
            .map_err(|_| RtpLegError::Unprotect)?;
        out.extend_from_slice(&p);
        Ok(())
    }

    fn protect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError> {
        let p = self
            .tx
            .encrypt_rtcp(packet)
            .map_err(|_| RtpLegError::Protect)?;
        out.extend_from_slice(&p);
        Ok(())
    }

    fn unprotect_rtcp(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), RtpLegError> {
        let p = self
            .rx
            .decrypt_rtcp(packet)
            .map_err(|_| RtpLegError::Unprotect)?;
        out.extend_from_slice(&p);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:0";

    #[test]
    fn crypto_lines_parse_and_format() {
        let a = CryptoAttribute::parse(LINE).unwrap();
        assert_eq!(a.tag, 1);
        assert_eq!(a.key.suite(), CryptoSuite::AesCm128HmacSha1_80);
        assert_eq!(a.lifetime, Some(1 << 20));
        assert_eq!(
            a.to_string(),
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20"
        );
        assert_eq!(CryptoAttribute::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn bad_crypto_lines_are_typed_errors() {
        let cases = [
            ("a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:AAAA", "tag"),
            ("a=crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA", "suite"),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:x", "inline"),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!", "base64"),
            ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA", "length"),
        ];
        for (line, what) in cases {
            assert!(CryptoAttribute::parse(line).is_err(), "{what}");
        }
        let mki = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|1:4";
        assert_eq!(CryptoAttribute::parse(mki), Err(CryptoError::Mki));
    }

    #[test]
    fn generated_keys_have_the_suite_length_and_differ() {
        for suite in CryptoSuite::ALL {
            let a = SrtpKey::generate(suite).unwrap();
            let b = SrtpKey::generate(suite).unwrap();
            assert_ne!(a, b);
            assert_eq!(SrtpKey::from_inline(suite, &a.inline()), Ok(a));
            assert!(!format!("{b:?}").contains(&b.inline()));
        }
    }
}
