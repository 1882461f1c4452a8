//! The dialog identifier (RFC 3261 §12): Call-ID, local tag and remote tag.

use std::fmt;

use crate::message::{Request, Response};
use crate::typed::{CallId, From, To};

use super::error::DialogError;

/// Names one dialog from this endpoint's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    /// Empty when the peer sent no tag (RFC 2543 peers, §12.1.1).
    pub remote_tag: String,
}

impl DialogId {
    /// The id of the dialog an incoming request belongs to: our tag is in To, the peer's in
    /// From (§12.2.2). `None` when the request carries no To tag (it is outside any dialog).
    pub fn of_incoming_request(request: &Request) -> Result<Option<DialogId>, DialogError> {
        let call_id = call_id(request.headers.typed::<CallId>()?)?;
        let to = request
            .headers
            .typed::<To>()?
            .ok_or(DialogError::Missing("To"))?;
        let from = request
            .headers
            .typed::<From>()?
            .ok_or(DialogError::Missing("From"))?;
        Ok(to.tag().map(|local| DialogId {
            call_id,
            local_tag: local.to_owned(),
            remote_tag: from.tag().unwrap_or_default().to_owned(),
        }))
    }

    /// The id of the dialog a response to our request belongs to: our tag is in From, the
    /// peer's in To (§12.1.2). `None` when the response has no To tag.
    pub fn of_response(response: &Response) -> Result<Option<DialogId>, DialogError> {
        let call_id = call_id(response.headers.typed::<CallId>()?)?;
        let from = response
            .headers
            .typed::<From>()?
            .ok_or(DialogError::Missing("From"))?;
        let to = response
            .headers
            .typed::<To>()?
            .ok_or(DialogError::Missing("To"))?;
        Ok(to.tag().map(|remote| DialogId {
            call_id,
            local_tag: from.tag().unwrap_or_default().to_owned(),
            remote_tag: remote.to_owned(),
        }))
    }
}

fn call_id(c: Option<CallId>) -> Result<String, DialogError> {
    c.map(|c| c.0).ok_or(DialogError::Missing("Call-ID"))
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{};{}", self.call_id, self.local_tag, self.remote_tag)
    }
}
