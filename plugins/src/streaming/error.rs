//! The Streaming plugin's errors, with Janus's codes (450–461, 470) and wording.

use crate::fields::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StError {
    #[error("JSON error: not an object")]
    NotAnObject,
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    /// 452 as well, for a request this mountpoint cannot take (Janus's wording).
    #[error("{0}")]
    NotHere(String),
    #[error("Missing element ({0})")]
    MissingElement(&'static str),
    #[error("Invalid element type ({0})")]
    InvalidType(String),
    #[error("Invalid element ({0})")]
    InvalidElement(String),
    /// 454 as well, in Janus's own words.
    #[error("{0}")]
    InvalidValue(String),
    #[error("No such mountpoint/stream {0}")]
    NoSuchMountpoint(String),
    /// 455 as well, for a viewer on no mountpoint ("Can't start: no mountpoint set").
    #[error("{0}")]
    NotWatching(String),
    #[error("{0}")]
    CantCreate(String),
    #[error("Unauthorized (wrong {0})")]
    Unauthorized(&'static str),
    #[error("{0}")]
    CantSwitch(String),
    #[error("{0}")]
    CantRecord(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidSdp(String),
    #[error("{0}")]
    Unknown(String),
}

impl StError {
    pub fn code(&self) -> u16 {
        match self {
            Self::NotAnObject => 451,
            Self::InvalidRequest(_) | Self::NotHere(_) => 452,
            Self::MissingElement(_) => 453,
            Self::InvalidType(_) | Self::InvalidElement(_) | Self::InvalidValue(_) => 454,
            Self::NoSuchMountpoint(_) | Self::NotWatching(_) => 455,
            Self::CantCreate(_) => 456,
            Self::Unauthorized(_) => 457,
            Self::CantSwitch(_) => 458,
            Self::CantRecord(_) => 459,
            Self::InvalidState(_) => 460,
            Self::InvalidSdp(_) => 461,
            Self::Unknown(_) => 470,
        }
    }
}

impl From<FieldError> for StError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::NotAnObject => Self::NotAnObject,
            FieldError::Missing(name) => Self::MissingElement(name),
            FieldError::Invalid(what) => Self::InvalidType(what),
        }
    }
}
