//! The EchoTest request body: one unnamed request whose fields are all optional.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum EchoError {
    #[error("Invalid element ({0})")]
    InvalidElement(String),
    #[error("JSON error: not an object")]
    NotAnObject,
    #[error("Invalid SDP: {0}")]
    InvalidSdp(String),
}

impl EchoError {
    /// Janus EchoTest's error codes.
    pub fn code(&self) -> u16 {
        match self {
            Self::NotAnObject => 412,
            Self::InvalidElement(_) => 413,
            Self::InvalidSdp(_) => 414,
        }
    }
}

#[derive(Debug, Default)]
pub struct EchoRequest {
    pub audio: Option<bool>,
    pub video: Option<bool>,
    pub bitrate: Option<u64>,
}

impl EchoRequest {
    pub fn parse(body: &Value) -> Result<Self, EchoError> {
        let obj = body.as_object().ok_or(EchoError::NotAnObject)?;
        let flag = |name: &str| match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(EchoError::InvalidElement(format!(
                "{name} should be a boolean"
            ))),
        };
        let bitrate = match obj.get("bitrate") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                EchoError::InvalidElement("bitrate should be a positive integer".into())
            })?),
        };
        Ok(Self {
            audio: flag("audio")?,
            video: flag("video")?,
            bitrate,
        })
    }
}
