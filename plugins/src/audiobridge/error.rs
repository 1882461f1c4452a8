//! The AudioBridge's errors, with Janus's codes (480–494, 499) and wording.

use crate::fields::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbError {
    #[error("JSON error: not an object")]
    NotAnObject,
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    #[error("Missing mandatory element ({0})")]
    MissingElement(&'static str),
    #[error("Invalid element type ({0})")]
    InvalidType(String),
    /// 484 with its own words ("Invalid element (quality should be ...)").
    #[error("{0}")]
    InvalidElement(String),
    #[error("No such room ({0})")]
    NoSuchRoom(u64),
    #[error("Room {0} already exists")]
    RoomExists(u64),
    #[error("{0}")]
    NotJoined(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    IdExists(String),
    #[error("{0}")]
    AlreadyJoined(String),
    #[error("No such user {user} in room {room}")]
    NoSuchUser { user: u64, room: u64 },
    #[error("{0}")]
    InvalidSdp(String),
    #[error("No such group ({0})")]
    NoSuchGroup(String),
    /// Cardea's `dial`: the URI is not reached through a configured trunk (495).
    #[error("{0}")]
    DialRefused(String),
    #[error("{0}")]
    Unknown(String),
}

impl AbError {
    pub fn code(&self) -> u16 {
        match self {
            Self::NotAnObject => 481,
            Self::InvalidRequest(_) => 482,
            Self::MissingElement(_) => 483,
            Self::InvalidType(_) | Self::InvalidElement(_) => 484,
            Self::NoSuchRoom(_) => 485,
            Self::RoomExists(_) => 486,
            Self::NotJoined(_) => 487,
            Self::Unauthorized(_) => 489,
            Self::IdExists(_) => 490,
            Self::AlreadyJoined(_) => 491,
            Self::NoSuchUser { .. } => 492,
            Self::InvalidSdp(_) => 493,
            Self::NoSuchGroup(_) => 494,
            Self::DialRefused(_) => 495,
            Self::Unknown(_) => 499,
        }
    }

    /// "Unauthorized (wrong secret)", as Janus's secret check words it.
    pub fn wrong(name: &str) -> Self {
        Self::Unauthorized(format!("Unauthorized (wrong {name})"))
    }
}

impl From<FieldError> for AbError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::NotAnObject => Self::NotAnObject,
            FieldError::Missing(name) => Self::MissingElement(name),
            FieldError::Invalid(what) => Self::InvalidType(what),
        }
    }
}
