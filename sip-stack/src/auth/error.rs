//! Why a Digest challenge or credentials could not be used.

/// A Digest header that cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("scheme is not Digest")]
    NotDigest,
    #[error("missing {0} parameter")]
    Missing(&'static str),
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("unsupported qop {0}")]
    UnsupportedQop(String),
    #[error("invalid nonce count {0}")]
    BadNonceCount(String),
    #[error("qop given without cnonce and nc")]
    QopWithoutCnonce,
    #[error("userhash is not supported")]
    Userhash,
    #[error("invalid HA1")]
    BadHa1,
}
