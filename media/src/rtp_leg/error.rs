//! Errors of the plain RTP leg: one enum per concern, wrapped by [`RtpLegError`].

use std::net::SocketAddr;

/// A datagram that is not a well-formed RTP or RTCP packet (RFC 3550 §5.1, §6.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("packet of {0} bytes is shorter than its header")]
    TooShort(usize),
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    #[error("CSRC list or header extension runs past the packet")]
    HeaderOverrun,
    #[error("padding length {0} does not fit the packet")]
    Padding(u8),
    #[error("RTCP length field runs past the compound packet")]
    RtcpLength,
}

/// A telephone-event payload that is not RFC 4733 §2.3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {0} bytes, expected at least 4")]
    TooShort(usize),
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    NotADigit(char),
    #[error("a telephone event is already being sent")]
    Busy,
    #[error("this stream negotiated no telephone-event payload type")]
    NotNegotiated,
}

/// A payload-type map that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PtMapError {
    #[error("payload type {0} is outside 0..=127")]
    OutOfRange(u8),
    #[error("payload type {0} is mapped twice")]
    Duplicate(u8),
}

/// An `a=crypto` line or key that cannot be used (RFC 4568 §9.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed a=crypto attribute: {0}")]
    Syntax(&'static str),
    #[error("unsupported crypto suite {0:?}")]
    UnsupportedSuite(String),
    #[error("key parameter is not inline:")]
    NotInline,
    #[error("inline key is not valid base64")]
    Base64,
    #[error("inline key has {got} bytes, the suite needs {want}")]
    KeyLength { got: usize, want: usize },
    #[error("MKI is not supported")]
    Mki,
    #[error("SRTP context: {0}")]
    Context(String),
    #[error("random source failed: {0}")]
    Random(String),
}

/// Why the leg did not accept a datagram or a packet to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpLegError {
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error(transparent)]
    Dtmf(#[from] DtmfError),
    #[error(transparent)]
    PtMap(#[from] PtMapError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("no stream of this leg listens on {0}")]
    NotOurAddress(SocketAddr),
    #[error("this leg has no {0} stream")]
    NoStream(&'static str),
    #[error("packet from {0} ignored: the stream is latched elsewhere")]
    ForeignSource(SocketAddr),
    #[error("payload type {0} has no mapping")]
    UnmappedPayloadType(u8),
    #[error("SRTP authentication or decryption failed")]
    Unprotect,
    #[error("SRTP protection failed")]
    Protect,
    #[error("no remote address to send to (on hold or not yet known)")]
    NoRemote,
}
