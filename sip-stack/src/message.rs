//! SIP messages: requests and responses (RFC 3261 §7).

use bytes::Bytes;

use crate::error::ParseError;
use crate::header::Headers;
use crate::method::Method;
use crate::parse::{parse_head, Head, Limits, StartLine};
use crate::typed::{CSeq, CallId, From, HeaderError, To, Via};
use crate::uri::Uri;

/// A request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// 100 to 699.
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone)]
pub enum Message {
    Request(Request),
    Response(Response),
}

impl Message {
    /// Parses one datagram (UDP, or a WebSocket message: RFC 7118 §5 carries one message per
    /// frame). Bytes past Content-Length are ignored and a missing Content-Length means "the
    /// rest of the datagram" (§18.3). Only syntax is checked here; call [`Message::validate`]
    /// before acting on the message.
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        Message::parse_bytes(Bytes::copy_from_slice(datagram))
    }

    /// [`Message::parse`] without copying: headers and body share `datagram`.
    pub fn parse_bytes(datagram: Bytes) -> Result<Message, ParseError> {
        Message::parse_bytes_with_limits(datagram, &Limits::default())
    }

    pub fn parse_bytes_with_limits(
        datagram: Bytes,
        limits: &Limits,
    ) -> Result<Message, ParseError> {
        let head = parse_head(&datagram, limits)?;
        let available = datagram.len() - head.body_offset;
        let body_len = match head.content_length {
            None => available,
            Some(n) if n <= available => n,
            // A bare-LF message has been rewritten (its CRLFs became LFs, as in the RFC 5118
            // archive), so its Content-Length no longer counts the body it carries: take what
            // is there rather than refuse. A CRLF message with a short body is truncated
            // (§18.3, RFC 4475 §3.1.2.2).
            Some(_) if head.bare_lf => available,
            Some(n) => {
                return Err(ParseError::ContentLengthExceedsBody {
                    declared: n,
                    available,
                })
            }
        };
        let body = datagram.slice(head.body_offset..head.body_offset + body_len);
        Ok(Message::from_head(head, body))
    }

    pub(crate) fn from_head(head: Head, body: Bytes) -> Message {
        match head.start {
            StartLine::Request { method, uri } => Message::Request(Request {
                method,
                uri,
                headers: head.headers,
                body,
            }),
            StartLine::Response { status, reason } => Message::Response(Response {
                status,
                reason,
                headers: head.headers,
                body,
            }),
        }
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    pub fn call_id(&self) -> Result<Option<CallId>, HeaderError> {
        self.headers().typed()
    }

    pub fn cseq(&self) -> Result<Option<CSeq>, HeaderError> {
        self.headers().typed()
    }

    pub fn from(&self) -> Result<Option<From>, HeaderError> {
        self.headers().typed()
    }

    pub fn to(&self) -> Result<Option<To>, HeaderError> {
        self.headers().typed()
    }

    /// Every Via entry, topmost first.
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        self.headers().typed_all()
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// The Call-ID's value, when there is a readable one.
    pub fn call_id_value(&self) -> Option<String> {
        self.headers.typed::<CallId>().ok().flatten().map(|c| c.0)
    }

    /// Whether the request claims a dialog: its To has a tag (§12.2, §8.2.2.2).
    pub fn has_to_tag(&self) -> bool {
        self.headers
            .typed::<To>()
            .ok()
            .flatten()
            .is_some_and(|to| to.tag().is_some())
    }
}

impl Response {
    /// A response with `reason`; CR and LF are replaced so the status line stays one line.
    pub fn new(status: u16, reason: &str) -> Response {
        Response {
            status,
            reason: reason.replace(['\r', '\n'], " "),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }
}
