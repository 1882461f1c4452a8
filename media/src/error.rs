/// Errors of the media core. Each names what the caller did wrong or what failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    #[error("SDP negotiation failed: {0}")]
    Negotiation(String),
    #[error("invalid ICE candidate: {0}")]
    InvalidCandidate(String),
    #[error("no DTLS certificate could be generated")]
    Certificate,
    #[error("no such leg {0}")]
    NoSuchLeg(crate::LegId),
}
