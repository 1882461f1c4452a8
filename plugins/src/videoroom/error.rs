//! The VideoRoom's errors, with Janus's codes (421–438, 499) and wording.

use crate::fields::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VrError {
    #[error("JSON error: not an object")]
    NotAnObject,
    #[error("Unknown request '{0}'")]
    InvalidRequest(String),
    #[error("Join the room first")]
    JoinFirst,
    #[error("Already in as a {0}")]
    AlreadyJoined(&'static str),
    #[error("No such room ({0})")]
    NoSuchRoom(u64),
    #[error("Room {0} already exists")]
    RoomExists(u64),
    #[error("{0}")]
    NoSuchFeed(String),
    #[error("Missing element ({0})")]
    MissingElement(&'static str),
    #[error("Invalid element ({0})")]
    InvalidElement(String),
    #[error("Invalid SDP type: {0}")]
    InvalidSdpType(String),
    #[error("Maximum number of publishers ({0}) already reached")]
    PublishersFull(usize),
    #[error("Unauthorized ({0})")]
    Unauthorized(&'static str),
    #[error("Can't publish, already published")]
    AlreadyPublished,
    #[error("Can't unpublish, not published")]
    NotPublished,
    #[error("User ID {0} already exists")]
    IdExists(u64),
    #[error("Invalid SDP: {0}")]
    InvalidSdp(String),
    #[error("{0}")]
    InvalidFeed(String),
    #[error("{0}")]
    Unknown(String),
}

impl VrError {
    pub fn code(&self) -> u16 {
        match self {
            Self::NotAnObject => 422,
            Self::InvalidRequest(_) => 423,
            Self::JoinFirst => 424,
            Self::AlreadyJoined(_) => 425,
            Self::NoSuchRoom(_) => 426,
            Self::RoomExists(_) => 427,
            Self::NoSuchFeed(_) => 428,
            Self::MissingElement(_) => 429,
            Self::InvalidElement(_) => 430,
            Self::InvalidSdpType(_) => 431,
            Self::PublishersFull(_) => 432,
            Self::Unauthorized(_) => 433,
            Self::AlreadyPublished => 434,
            Self::NotPublished => 435,
            Self::IdExists(_) => 436,
            Self::InvalidSdp(_) => 437,
            Self::InvalidFeed(_) => 438,
            Self::Unknown(_) => 499,
        }
    }
}

impl From<FieldError> for VrError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::NotAnObject => Self::NotAnObject,
            FieldError::Missing(name) => Self::MissingElement(name),
            FieldError::Invalid(what) => Self::InvalidElement(what),
        }
    }
}
