//! Why an SDP body was refused or could not be turned into the other side's SDP.

/// An SDP fault: a line that breaks RFC 8866 §5 syntax, an attribute whose value breaks its
/// own RFC's grammar, or an offer/answer that breaks RFC 3264.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    #[error("empty SDP body")]
    Empty,
    #[error("SDP body larger than {0} bytes")]
    TooLarge(usize),
    #[error("more than {0} lines")]
    TooManyLines(usize),
    #[error("SDP is not UTF-8 (byte {offset})")]
    NotUtf8 { offset: usize },
    #[error("line {line} is not <type>=<value>")]
    BadLine { line: usize },
    #[error("first line is not v=0")]
    BadVersion,
    #[error("no o= line at session level")]
    MissingOrigin,
    #[error("malformed o= line")]
    BadOrigin,
    #[error("malformed m= line {line}")]
    BadMediaLine { line: usize },
    #[error("malformed c= line: {0}")]
    BadConnection(String),
    #[error("malformed a=rtpmap: {0}")]
    BadRtpmap(String),
    #[error("malformed a=fmtp: {0}")]
    BadFmtp(String),
    #[error("malformed a=ptime: {0}")]
    BadPtime(String),
    #[error("malformed a=rtcp: {0}")]
    BadRtcp(String),
    #[error("malformed a=crypto: {0}")]
    BadCrypto(String),
    #[error("payload type {0} is not 0..=127")]
    BadPayloadType(String),
    #[error("o= session version cannot be incremented")]
    VersionOverflow,
    #[error("the offer has no audio or video to carry")]
    NoMedia,
    #[error("the answer has {answer} m= lines for {offer} offered (RFC 3264 §6)")]
    MediaCountMismatch { offer: usize, answer: usize },
    #[error("m= line {index} of the answer names no codec that was offered")]
    NoCommonCodec { index: usize },
    #[error("m= line {index} is RTP/SAVP but no a=crypto is given (RFC 4568)")]
    MissingCrypto { index: usize },
}
