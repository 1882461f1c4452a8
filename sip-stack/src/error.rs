//! Message-level errors and the response a server owes for each (RFC 3261 §8.2, §21.4.1,
//! §21.5.6).

use crate::typed::HeaderError;
use crate::uri::UriError;

/// Why a message was refused, by the parser or by [`crate::Message::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("start line is not terminated")]
    UnterminatedStartLine,
    #[error("malformed request line")]
    BadRequestLine,
    #[error("malformed status line")]
    BadStatusLine,
    #[error("malformed Request-URI: {0}")]
    BadRequestUri(UriError),
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(String),
    #[error("header line {line} has no colon")]
    HeaderWithoutColon { line: usize },
    #[error("invalid header name on line {line}")]
    BadHeaderName { line: usize },
    #[error("continuation line before the first header")]
    OrphanContinuation,
    #[error("more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("header section larger than {0} bytes")]
    HeaderSectionTooLarge(usize),
    #[error("malformed Content-Length: {0}")]
    BadContentLength(HeaderError),
    #[error("Content-Length given twice with different values")]
    ConflictingContentLength,
    #[error("Content-Length {declared} larger than the {available} body octets received")]
    ContentLengthExceedsBody { declared: usize, available: usize },
    #[error("missing {}", .0.join(", "))]
    MissingHeaders(Vec<&'static str>),
    #[error("{0} given twice with different values")]
    ConflictingHeader(String),
    #[error("malformed {name} header: {source}")]
    BadHeader { name: String, source: HeaderError },
    #[error("Request-URI carries headers")]
    HeadersInRequestUri,
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMethodMismatch { method: String, cseq: String },
}

impl ParseError {
    /// The status code a server answers with when it can answer at all (a request whose
    /// Via could not be read gets no answer).
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion(_) => 505,
            ParseError::HeaderSectionTooLarge(_) | ParseError::TooManyHeaders(_) => 513,
            _ => 400,
        }
    }
}

/// The reason phrase of the error response for `e`, naming the fault: "Bad Request - Missing
/// Call-ID", "Bad Request - Content-Length larger than body", "Version Not Supported".
pub fn reject_reason(e: &ParseError) -> String {
    let detail = match e {
        ParseError::UnsupportedVersion(_) => return "Version Not Supported".into(),
        ParseError::HeaderSectionTooLarge(_) | ParseError::TooManyHeaders(_) => {
            return "Message Too Large".into()
        }
        ParseError::Empty => "Empty message".into(),
        ParseError::UnterminatedStartLine
        | ParseError::BadRequestLine
        | ParseError::BadStatusLine => "Malformed start line".into(),
        ParseError::BadRequestUri(_) => "Malformed Request-URI".into(),
        ParseError::HeaderWithoutColon { .. }
        | ParseError::BadHeaderName { .. }
        | ParseError::OrphanContinuation => "Malformed header line".into(),
        ParseError::BadContentLength(_) => "Malformed Content-Length".into(),
        ParseError::ConflictingContentLength => "Conflicting Content-Length".into(),
        ParseError::ContentLengthExceedsBody { .. } => "Content-Length larger than body".into(),
        ParseError::MissingHeaders(names) => format!("Missing {}", names.join(", ")),
        ParseError::ConflictingHeader(name) => format!("Conflicting {name}"),
        ParseError::BadHeader { name, .. } => format!("Malformed {name}"),
        ParseError::HeadersInRequestUri => "Headers in Request-URI".into(),
        ParseError::CSeqMethodMismatch { .. } => "CSeq method does not match".into(),
    };
    format!("Bad Request - {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_fault() {
        assert_eq!(
            reject_reason(&ParseError::MissingHeaders(vec!["Call-ID", "From"])),
            "Bad Request - Missing Call-ID, From"
        );
        assert_eq!(
            reject_reason(&ParseError::ContentLengthExceedsBody {
                declared: 9999,
                available: 150
            }),
            "Bad Request - Content-Length larger than body"
        );
        let v = ParseError::UnsupportedVersion("SIP/7.0".into());
        assert_eq!(v.status_code(), 505);
        assert_eq!(reject_reason(&v), "Version Not Supported");
    }
}
