//! `Event` (RFC 6665 §8.2.1): event type and parameters such as `id`.

use crate::header_name::HeaderName;
use crate::lex::Scanner;
use crate::params::Params;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event-type` (package with optional templates, e.g. `presence.winfo`).
    pub package: String,
    pub params: Params,
}

impl Event {
    pub fn id(&self) -> Option<&str> {
        self.params.get("id").flatten()
    }
}

impl TypedHeader for Event {
    const NAME: HeaderName = HeaderName::Event;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let mut sc = Scanner::new(value.trim_matches([' ', '\t']));
        let package = sc
            .token()
            .ok_or(HeaderError::Syntax("missing event type"))?;
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text in Event"));
        }
        Ok(Event {
            package: package.to_owned(),
            params,
        })
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.package);
        out.push_str(&self.params.to_string());
    }
}
