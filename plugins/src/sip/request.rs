//! Reading the fields of a SIP plugin request body, with Janus's error for each fault.

use serde_json::Value;

use crate::fields::{FieldError, Fields};

use super::error::SipError;

/// A request body: the plugins' typed fields, with the SIP plugin's error codes.
pub struct Body<'a>(Fields<'a>);

impl<'a> Body<'a> {
    pub fn new(body: &'a Value) -> Result<Self, SipError> {
        Ok(Body(Fields::new(body)?))
    }

    pub fn request(&self) -> Result<&'a str, SipError> {
        Ok(self.0.required_str("request")?)
    }

    pub fn str(&self, name: &'static str) -> Result<Option<&'a str>, SipError> {
        Ok(self.0.str(name)?)
    }

    pub fn required_str(&self, name: &'static str) -> Result<&'a str, SipError> {
        Ok(self.0.required_str(name)?)
    }

    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, SipError> {
        Ok(self.0.bool(name)?)
    }

    pub fn u64(&self, name: &'static str) -> Result<Option<u64>, SipError> {
        Ok(self.0.u64(name)?)
    }

    /// `headers`: an object of extra header names and string values.
    pub fn headers(&self) -> Result<Vec<(String, String)>, SipError> {
        match self.0.get("headers") {
            None => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) if valid_header(k, s) => Ok((k.clone(), s.clone())),
                    _ => Err(SipError::InvalidElement(format!(
                        "headers.{k} should be a single-line string"
                    ))),
                })
                .collect(),
            Some(_) => Err(SipError::InvalidElement(
                "headers should be an object".into(),
            )),
        }
    }
}

/// A header a client may add: a token name and a value without line breaks (no header
/// injection).
fn valid_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

impl From<FieldError> for SipError {
    fn from(e: FieldError) -> Self {
        match e {
            FieldError::NotAnObject => Self::NotAnObject,
            FieldError::Missing(name) => Self::MissingElement(name),
            FieldError::Invalid(what) => Self::InvalidElement(what),
        }
    }
}
