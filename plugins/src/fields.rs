//! Typed access to the fields of a plugin request body, with the two failures every Janus
//! plugin reports: a missing element and an element of the wrong type. Each plugin maps
//! [`FieldError`] onto its own error codes.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The body is not a JSON object.
    NotAnObject,
    Missing(&'static str),
    /// What is wrong, as Janus words it ("room should be a positive integer").
    Invalid(String),
}

/// Compares a secret the client gave with the expected one in constant time.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What checking a request's secret found (Janus's JANUS_CHECK_SECRET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretCheck {
    /// None is expected, or the right one was given.
    Fine,
    Missing,
    Wrong,
}

/// A request body: a JSON object.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(pub &'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn new(body: &'a Value) -> Result<Self, FieldError> {
        body.as_object().map(Fields).ok_or(FieldError::NotAnObject)
    }

    /// The field's value, unless absent or null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Field `name` (a string, if present) against `expected` (`None`: nothing to check).
    pub fn secret(
        &self,
        name: &'static str,
        expected: Option<&str>,
    ) -> Result<SecretCheck, FieldError> {
        let given = self.str(name)?;
        Ok(match (expected, given) {
            (None, _) => SecretCheck::Fine,
            (Some(_), None) => SecretCheck::Missing,
            (Some(e), Some(g)) if same_secret(g, e) => SecretCheck::Fine,
            _ => SecretCheck::Wrong,
        })
    }

    pub fn str(&self, name: &'static str) -> Result<Option<&'a str>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError::Invalid(format!("{name} should be a string"))),
        }
    }

    pub fn required_str(&self, name: &'static str) -> Result<&'a str, FieldError> {
        self.str(name)?.ok_or(FieldError::Missing(name))
    }

    pub fn bool(&self, name: &'static str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(FieldError::Invalid(format!("{name} should be a boolean"))),
        }
    }

    pub fn u64(&self, name: &'static str) -> Result<Option<u64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| FieldError::Invalid(format!("{name} should be a positive integer"))),
        }
    }

    /// An integer that may be negative (Janus's `JSON_INTEGER`).
    pub fn i64(&self, name: &'static str) -> Result<Option<i64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| FieldError::Invalid(format!("{name} should be an integer"))),
        }
    }

    pub fn required_u64(&self, name: &'static str) -> Result<u64, FieldError> {
        self.u64(name)?.ok_or(FieldError::Missing(name))
    }

    /// An array of objects (`streams`, `subscribe`...).
    pub fn objects(&self, name: &'static str) -> Result<Option<Vec<Fields<'a>>>, FieldError> {
        let invalid = || FieldError::Invalid(format!("{name} should be an array of objects"));
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_object().map(Fields).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }

    /// An array of strings (`allowed`).
    pub fn strings(&self, name: &'static str) -> Result<Option<Vec<String>>, FieldError> {
        let invalid = || FieldError::Invalid(format!("{name} should be an array of strings"));
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(invalid))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_name_what_is_missing_or_mistyped() {
        let body = json!({"room": 5, "pin": 3, "streams": [{"feed": 1}], "allowed": ["a"]});
        let f = Fields::new(&body).unwrap();
        assert_eq!(f.required_u64("room"), Ok(5));
        assert_eq!(f.required_u64("id"), Err(FieldError::Missing("id")));
        assert_eq!(
            f.str("pin"),
            Err(FieldError::Invalid("pin should be a string".into()))
        );
        assert_eq!(f.objects("streams").unwrap().unwrap().len(), 1);
        assert_eq!(f.strings("allowed").unwrap().unwrap(), vec!["a"]);
        assert!(f.objects("room").is_err());
        assert_eq!(
            Fields::new(&json!([1])).unwrap_err(),
            FieldError::NotAnObject
        );
    }
}
