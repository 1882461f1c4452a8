//! Building a response from a request (RFC 3261 §8.2.6).

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::status::default_reason;
use crate::typed::{HeaderError, To};

/// Headers a response copies from its request, in this order (§8.2.6.2).
const COPIED: [HeaderName; 5] = [
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
];

impl Request {
    /// A response to this request with the default reason phrase: Via (every one, in order),
    /// From, To, Call-ID and CSeq copied byte for byte (§8.2.6.2), Timestamp copied into a
    /// 100 (§8.2.6.1), and `Content-Length: 0`.
    pub fn make_response(&self, status: u16) -> Response {
        self.make_response_with_reason(status, default_reason(status))
    }

    pub fn make_response_with_reason(&self, status: u16, reason: &str) -> Response {
        let mut resp = Response::new(status, reason);
        for name in &COPIED {
            for h in self.headers.get_all(name) {
                resp.headers.push(h.clone());
            }
        }
        if status == 100 {
            for h in self.headers.get_all(&HeaderName::Timestamp) {
                resp.headers.push(h.clone());
            }
        }
        resp.headers
            .push(Header::new(HeaderName::ContentLength, "0"));
        resp
    }
}

impl Response {
    /// Adds `tag` to To unless it already has one (§8.2.6.2: a UAS tags every response but
    /// may leave a 100 untagged). Returns whether a tag was added.
    pub fn set_to_tag(&mut self, tag: &str) -> Result<bool, HeaderError> {
        let Some(mut to) = self.headers.typed::<To>()? else {
            return Ok(false);
        };
        if to.tag().is_some() {
            return Ok(false);
        }
        to.set_tag(tag);
        self.headers.set_typed(&to);
        Ok(true)
    }
}
