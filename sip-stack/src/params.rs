//! Semicolon parameters of header values: `*( SEMI generic-param )` (RFC 3261 §25.1), with
//! `gen-value = token / host / quoted-string`. Names compare case-insensitively (§7.3.1).

use std::fmt;

use crate::lex::{is_value_char, unquote, Scanner};

/// One parameter as written: a quoted value keeps its quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

/// Why a parameter list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("empty parameter")]
    EmptyName,
    #[error("parameter {0} has an empty value")]
    EmptyValue(String),
    #[error("unterminated quoted string in parameter {0}")]
    UnterminatedQuote(String),
}

impl Params {
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// The first parameter called `name`: `Some(None)` for a parameter without value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of `name` with quotes removed.
    pub fn get_unquoted(&self, name: &str) -> Option<String> {
        self.get(name).flatten().map(unquote)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an existing one in place, else appending).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            p.value = value;
        } else {
            self.0.push(Param {
                name: name.to_owned(),
                value,
            });
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads `*( SEMI name [ EQUAL value ] )` from the scanner, stopping before anything that
    /// is not a `;` (whitespace around `;` and `=` is allowed: SEMI and EQUAL carry SWS).
    pub(crate) fn parse(sc: &mut Scanner<'_>) -> Result<Params, ParamError> {
        let mut out = Vec::new();
        while sc.eat_sep(b';') {
            let name = sc.token().ok_or(ParamError::EmptyName)?;
            let value = if sc.eat_sep(b'=') {
                if sc.peek() == Some(b'"') {
                    let q = sc
                        .quoted_string()
                        .ok_or_else(|| ParamError::UnterminatedQuote(name.to_owned()))?;
                    Some(q.to_owned())
                } else {
                    let v = sc.take_while(|b| is_value_char(b) && b != b'=');
                    if v.is_empty() {
                        return Err(ParamError::EmptyValue(name.to_owned()));
                    }
                    Some(v.to_owned())
                }
            } else {
                None
            };
            out.push(Param {
                name: name.to_owned(),
                value,
            });
        }
        Ok(Params(out))
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_allow_whitespace_around_separators() {
        let mut sc = Scanner::new(" ;  tag    = 1918181833n ; q = 0.33");
        let p = Params::parse(&mut sc).unwrap();
        assert_eq!(p.get("TAG"), Some(Some("1918181833n")));
        assert_eq!(p.get("q"), Some(Some("0.33")));
        assert!(sc.is_empty());
    }

    #[test]
    fn empty_parameter_is_refused() {
        let mut sc = Scanner::new(";;");
        assert_eq!(Params::parse(&mut sc), Err(ParamError::EmptyName));
    }
}
