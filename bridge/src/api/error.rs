//! Janus API error codes (`apierror.h` of Janus 1.x): the one table that maps a failure to
//! the number clients match on.

/// A Janus API error: its code and a reason naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({code})")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
}

macro_rules! codes {
    ($($name:ident = $code:literal),* $(,)?) => {
        impl ApiError {
            $(pub const $name: u16 = $code;)*
        }
    };
}

codes! {
    UNAUTHORIZED = 403,
    UNAUTHORIZED_PLUGIN = 405,
    TRANSPORT_SPECIFIC = 450,
    MISSING_REQUEST = 452,
    UNKNOWN_REQUEST = 453,
    INVALID_JSON = 454,
    INVALID_JSON_OBJECT = 455,
    MISSING_MANDATORY_ELEMENT = 456,
    INVALID_REQUEST_PATH = 457,
    SESSION_NOT_FOUND = 458,
    HANDLE_NOT_FOUND = 459,
    PLUGIN_NOT_FOUND = 460,
    PLUGIN_ATTACH = 461,
    PLUGIN_MESSAGE = 462,
    PLUGIN_DETACH = 463,
    JSEP_UNKNOWN_TYPE = 464,
    JSEP_INVALID_SDP = 465,
    TRICKLE_INVALID_STREAM = 466,
    INVALID_ELEMENT_TYPE = 467,
    SESSION_CONFLICT = 468,
    UNEXPECTED_ANSWER = 469,
    TOKEN_NOT_FOUND = 470,
    WEBRTC_STATE = 471,
    NOT_ACCEPTING_SESSIONS = 472,
    UNKNOWN = 490,
}

impl ApiError {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            Self::UNAUTHORIZED,
            "Unauthorized request (wrong or missing secret/token)",
        )
    }

    pub fn missing(element: &str) -> Self {
        Self::new(
            Self::MISSING_MANDATORY_ELEMENT,
            format!("Missing mandatory element ({element})"),
        )
    }

    pub fn wrong_type(element: &str, expected: &str) -> Self {
        Self::new(
            Self::INVALID_ELEMENT_TYPE,
            format!("Invalid element type ({element} should be {expected})"),
        )
    }

    pub fn bad_path(verb: &str) -> Self {
        Self::new(
            Self::INVALID_REQUEST_PATH,
            format!("Unhandled request '{verb}' at this path"),
        )
    }

    pub fn unknown_request(verb: &str) -> Self {
        Self::new(Self::UNKNOWN_REQUEST, format!("Unknown request '{verb}'"))
    }

    pub fn no_session(id: u64) -> Self {
        Self::new(Self::SESSION_NOT_FOUND, format!("No such session {id}"))
    }

    pub fn no_handle(id: u64) -> Self {
        Self::new(
            Self::HANDLE_NOT_FOUND,
            format!("No such handle {id} in session"),
        )
    }
}
