//! Janus's SRTP parameters for plain RTP a plugin sends or takes (`rtp_forward`'s
//! `srtp_suite`/`srtp_crypto`, a Streaming mountpoint's `srtpsuite`/`srtpcrypto`): the
//! suite is named by its tag length, 32 or 80 bits of AES-CM-128 with HMAC-SHA1; the key
//! is the base64 of master key and salt, as in an SDES `inline:`.

use cardea_media::rtp_leg::{CryptoSuite, SrtpKey};

/// Why the parameters make no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SrtpParamError {
    /// A key without a suite.
    MissingSuite,
    /// A suite without a key.
    MissingCrypto,
    /// A suite other than 32 or 80.
    BadSuite(u64),
    /// The key is not base64 of the suite's key and salt.
    BadCrypto(String),
}

impl SrtpParamError {
    /// The error in a plugin's terms: a missing parameter by its name (`names`: the suite's,
    /// the key's), anything else as invalid, with the reason.
    pub(crate) fn into_plugin<E>(
        self,
        names: (&'static str, &'static str),
        missing: impl FnOnce(&'static str) -> E,
        invalid: impl FnOnce(String) -> E,
    ) -> E {
        match self {
            Self::MissingSuite => missing(names.0),
            Self::MissingCrypto => missing(names.1),
            Self::BadSuite(n) => invalid(format!("Invalid SRTP suite {n} (32 or 80)")),
            Self::BadCrypto(e) => invalid(format!("Invalid SRTP crypto ({e})")),
        }
    }
}

/// The key the parameters give (`None`: neither was given, plain RTP).
pub(crate) fn srtp_key(
    suite: Option<u64>,
    crypto: Option<&str>,
) -> Result<Option<SrtpKey>, SrtpParamError> {
    let (suite, crypto) = match (suite, crypto) {
        (None, None) => return Ok(None),
        (Some(s), Some(c)) => (s, c),
        (None, Some(_)) => return Err(SrtpParamError::MissingSuite),
        (Some(_), None) => return Err(SrtpParamError::MissingCrypto),
    };
    let suite = match suite {
        80 => CryptoSuite::AesCm128HmacSha1_80,
        32 => CryptoSuite::AesCm128HmacSha1_32,
        other => return Err(SrtpParamError::BadSuite(other)),
    };
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(crypto.trim())
        .map_err(|e| SrtpParamError::BadCrypto(e.to_string()))?;
    SrtpKey::from_bytes(suite, &bytes)
        .map(Some)
        .map_err(|e| SrtpParamError::BadCrypto(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_and_keys_as_janus_takes_them() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
        assert_eq!(srtp_key(None, None), Ok(None));
        let k = srtp_key(Some(32), Some(key)).unwrap().unwrap();
        assert_eq!(k.suite(), CryptoSuite::AesCm128HmacSha1_32);
        assert_eq!(k.inline(), key);
        assert_eq!(
            srtp_key(Some(80), Some(key)).unwrap().unwrap().suite(),
            CryptoSuite::AesCm128HmacSha1_80
        );
        assert_eq!(srtp_key(None, Some(key)), Err(SrtpParamError::MissingSuite));
        assert_eq!(srtp_key(Some(80), None), Err(SrtpParamError::MissingCrypto));
        assert_eq!(
            srtp_key(Some(64), Some(key)),
            Err(SrtpParamError::BadSuite(64))
        );
        assert!(matches!(
            srtp_key(Some(80), Some("not base64!")),
            Err(SrtpParamError::BadCrypto(_))
        ));
        assert!(matches!(
            srtp_key(Some(80), Some("AAEC")),
            Err(SrtpParamError::BadCrypto(_))
        ));
    }
}
