//! The SIP plugin's errors, with Janus's numeric codes (`janus_sip.c`: 440–455, 499).

#[derive(Debug, Clone, thiserror::Error)]
pub enum SipError {
    #[error("JSON error: not an object")]
    NotAnObject,
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    #[error("Missing element ({0})")]
    MissingElement(&'static str),
    #[error("Invalid element ({0})")]
    InvalidElement(String),
    /// An invalid element whose message says it all (Janus's own words).
    #[error("{0}")]
    Invalid(String),
    #[error("Already registered ({0})")]
    AlreadyRegistered(String),
    #[error("Invalid address ({0})")]
    InvalidAddress(String),
    #[error("Wrong state ({0})")]
    WrongState(String),
    #[error("Missing SDP")]
    MissingSdp,
    #[error("Error parsing SDP: {0}")]
    InvalidSdp(String),
    #[error("SIP stack error: {0}")]
    Stack(String),
    #[error("Too strict: {0}")]
    TooStrict(String),
    #[error("IO error: {0}")]
    Io(String),
    #[error("{0}")]
    Recording(String),
}

impl SipError {
    /// Janus SIP plugin error codes.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotAnObject => 441,
            Self::InvalidRequest(_) => 442,
            Self::MissingElement(_) => 443,
            Self::InvalidElement(_) | Self::Invalid(_) => 444,
            Self::AlreadyRegistered(_) => 445,
            Self::InvalidAddress(_) => 446,
            Self::WrongState(_) => 447,
            Self::MissingSdp => 448,
            Self::InvalidSdp(_) => 448,
            Self::Stack(_) => 449,
            Self::Io(_) => 450,
            Self::Recording(_) => 451,
            Self::TooStrict(_) => 452,
        }
    }
}
