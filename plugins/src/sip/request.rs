//! Reading the fields of a SIP plugin request body, with Janus's error for each fault.

use serde_json::{Map, Value};

use super::error::SipError;

/// A request body: a JSON object with typed accessors.
pub struct Body<'a>(&'a Map<String, Value>);

impl<'a> Body<'a> {
    pub fn new(body: &'a Value) -> Result<Self, SipError> {
        body.as_object().map(Body).ok_or(SipError::NotAnObject)
    }

    pub fn request(&self) -> Result<&'a str, SipError> {
        match self.0.get("request") {
            None | Some(Value::Null) => Err(SipError::MissingElement("request")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(SipError::InvalidElement(
                "request should be a string".into(),
            )),
        }
    }

    pub fn str(&self, name: &'static str) -> Result<Option<&'a str>, SipError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(SipError::InvalidElement(format!(
                "{name} should be a string"
            ))),
        }
    }

    pub fn required_str(&self, name: &'static str) -> Result<&'a str, SipError> {
        self.str(name)?.ok_or(SipError::MissingElement(name))
    }

    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, SipError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(SipError::InvalidElement(format!(
                "{name} should be a boolean"
            ))),
        }
    }

    pub fn u64(&self, name: &'static str) -> Result<Option<u64>, SipError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                SipError::InvalidElement(format!("{name} should be a positive integer"))
            }),
        }
    }

    /// `headers`: an object of extra header names and string values.
    pub fn headers(&self) -> Result<Vec<(String, String)>, SipError> {
        match self.0.get("headers") {
            None | Some(Value::Null) => Ok(Vec::new()),
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
