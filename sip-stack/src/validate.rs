//! Checks a server makes before acting on a parsed message (RFC 3261 §8.2, §16.3), giving
//! the verdicts RFC 4475 expects: mandatory headers present (§8.1.1), single-valued headers
//! not contradicting themselves (RFC 4475 §3.3.8), the core headers decodable, the CSeq
//! method equal to the request method (§8.1.1.5), and no headers in a Request-URI (§19.1.1).
//!
//! Only the headers every element relies on are decoded here; others are decoded (and may
//! fail) where they are used, so an odd optional header does not cost a 400.

use crate::error::ParseError;
use crate::header::{Header, Headers};
use crate::header_name::HeaderName;
use crate::message::Message;
use crate::typed::{
    CSeq, CallId, Contact, ContentType, Date, Expires, From, HeaderError, MaxForwards, MinExpires,
    RAck, RSeq, RecordRoute, Route, SessionExpires, To, TypedHeader, Via,
};
use crate::uri::Uri;

/// Headers every request and response carries (§8.1.1; Max-Forwards is left out because
/// RFC 2543 peers omit it, RFC 4475 §3.4.1).
const MANDATORY: [(HeaderName, &str); 5] = [
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::From, "From"),
    (HeaderName::To, "To"),
    (HeaderName::Via, "Via"),
];

/// Headers that may appear once only (§7.3.1, §20).
const SINGLE: [HeaderName; 7] = [
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::From,
    HeaderName::To,
    HeaderName::MaxForwards,
    HeaderName::ContentType,
    HeaderName::Expires,
];

impl Message {
    /// Semantic checks; the error says what a 400 (or 505) should name.
    pub fn validate(&self) -> Result<(), ParseError> {
        let headers = self.headers();
        if let Message::Request(r) = self {
            if let Uri::Sip(u) = &r.uri {
                if !u.headers.is_empty() {
                    return Err(ParseError::HeadersInRequestUri);
                }
            }
        }
        let missing: Vec<&'static str> = MANDATORY
            .iter()
            .filter(|(n, _)| !headers.contains(n))
            .map(|(_, label)| *label)
            .collect();
        if !missing.is_empty() {
            return Err(ParseError::MissingHeaders(missing));
        }
        check_single(headers)?;
        for h in headers.iter() {
            check_typed(h).map_err(|source| ParseError::BadHeader {
                name: h.name().as_str().to_owned(),
                source,
            })?;
        }
        if let Message::Request(r) = self {
            let cseq = r
                .headers
                .typed::<CSeq>()
                .ok()
                .flatten()
                .ok_or_else(|| ParseError::MissingHeaders(vec!["CSeq"]))?;
            if cseq.method != r.method {
                return Err(ParseError::CSeqMethodMismatch {
                    method: r.method.to_string(),
                    cseq: cseq.method.to_string(),
                });
            }
        }
        Ok(())
    }
}

fn check_single(headers: &Headers) -> Result<(), ParseError> {
    for name in &SINGLE {
        let mut values = headers.get_all(name).map(Header::value_bytes);
        if let Some(first) = values.next() {
            if values.any(|v| v != first) {
                return Err(ParseError::ConflictingHeader(name.as_str().to_owned()));
            }
        }
    }
    Ok(())
}

fn decodes<T: TypedHeader>(h: &Header) -> Result<(), HeaderError> {
    h.decode::<T>().map(drop)
}

fn check_typed(h: &Header) -> Result<(), HeaderError> {
    match h.name() {
        HeaderName::Via => decodes::<Via>(h),
        HeaderName::From => decodes::<From>(h),
        HeaderName::To => decodes::<To>(h),
        HeaderName::CallId => decodes::<CallId>(h),
        HeaderName::CSeq => decodes::<CSeq>(h),
        HeaderName::Contact => decodes::<Contact>(h),
        HeaderName::Route => decodes::<Route>(h),
        HeaderName::RecordRoute => decodes::<RecordRoute>(h),
        HeaderName::MaxForwards => decodes::<MaxForwards>(h),
        HeaderName::Expires => decodes::<Expires>(h),
        HeaderName::MinExpires => decodes::<MinExpires>(h),
        HeaderName::ContentType => decodes::<ContentType>(h),
        HeaderName::Date => decodes::<Date>(h),
        HeaderName::RSeq => decodes::<RSeq>(h),
        HeaderName::RAck => decodes::<RAck>(h),
        HeaderName::SessionExpires => decodes::<SessionExpires>(h),
        _ => Ok(()),
    }
}
