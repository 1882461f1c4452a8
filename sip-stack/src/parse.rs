//! The lexical parser: start line, header fields and body extent (RFC 3261 §7, §18.3).
//!
//! Lenient where the RFCs ask receivers to be: bare LF line ends are accepted, CRLFs before
//! the start line are skipped (§7.5), and a datagram may end without the empty line after its
//! headers. Strict where RFC 4475 says a message is invalid: one SP between start-line
//! elements, three-digit status codes, a colon in every header line.

use bytes::Bytes;
use memchr::memchr;

use crate::error::ParseError;
use crate::header::{Header, Headers};
use crate::header_name::HeaderName;
use crate::lex::is_token;
use crate::method::Method;
use crate::typed::{ContentLength, TypedHeader};
use crate::uri::Uri;

/// Size limits for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Start line plus header fields, in octets.
    pub max_header_bytes: usize,
    /// Header fields (a folded field counts once).
    pub max_headers: usize,
    /// Body octets (enforced by the stream framer; a datagram is bounded by its size).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 32 * 1024,
            max_headers: 256,
            max_body: 1024 * 1024,
        }
    }
}

/// The first line of a message.
#[derive(Debug, Clone)]
pub(crate) enum StartLine {
    Request { method: Method, uri: Uri },
    Response { status: u16, reason: String },
}

/// A parsed start line and header section.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) start: StartLine,
    pub(crate) headers: Headers,
    pub(crate) content_length: Option<usize>,
    /// Some line of the header section ended in a bare LF (not CRLF).
    pub(crate) bare_lf: bool,
    /// Where the body starts in the parsed buffer.
    pub(crate) body_offset: usize,
}

/// One physical line: content range and whether it ended in a bare LF.
struct Line {
    start: usize,
    end: usize,
    bare_lf: bool,
}

fn next_line(buf: &[u8], from: usize) -> (Line, usize) {
    match memchr(b'\n', &buf[from..]) {
        Some(i) => {
            let nl = from + i;
            let cr = nl > from && buf[nl - 1] == b'\r';
            let end = if cr { nl - 1 } else { nl };
            (
                Line {
                    start: from,
                    end,
                    bare_lf: !cr,
                },
                nl + 1,
            )
        }
        None => (
            Line {
                start: from,
                end: buf.len(),
                bare_lf: false,
            },
            buf.len(),
        ),
    }
}

fn trim_wsp(b: &[u8]) -> (usize, usize) {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    (start, end.max(start))
}

/// Parses the start line and header section of `buf`.
pub(crate) fn parse_head(buf: &Bytes, limits: &Limits) -> Result<Head, ParseError> {
    let mut pos = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(ParseError::Empty)?;
    let head_start = pos;
    let (start_line, next) = next_line(buf, pos);
    if next == buf.len() && memchr(b'\n', &buf[pos..]).is_none() {
        return Err(ParseError::UnterminatedStartLine);
    }
    let mut bare_lf = start_line.bare_lf;
    let start = parse_start_line(&buf[start_line.start..start_line.end])?;
    pos = next;

    // Group physical lines into fields: a line starting with SP/HTAB continues the previous
    // field (§7.3.1).
    let mut fields: Vec<Vec<Line>> = Vec::new();
    let body_offset = loop {
        if pos >= buf.len() {
            break buf.len();
        }
        let (line, next) = next_line(buf, pos);
        pos = next;
        if line.start == line.end {
            bare_lf |= line.bare_lf;
            break pos;
        }
        bare_lf |= line.bare_lf;
        if matches!(buf[line.start], b' ' | b'\t') {
            fields
                .last_mut()
                .ok_or(ParseError::OrphanContinuation)?
                .push(line);
        } else {
            if fields.len() == limits.max_headers {
                return Err(ParseError::TooManyHeaders(limits.max_headers));
            }
            fields.push(vec![line]);
        }
        if pos - head_start > limits.max_header_bytes {
            return Err(ParseError::HeaderSectionTooLarge(limits.max_header_bytes));
        }
    };

    let mut headers = Headers::new();
    for (i, lines) in fields.iter().enumerate() {
        headers.push(build_header(buf, lines, i + 2)?);
    }
    let content_length = content_length(&headers)?;
    Ok(Head {
        start,
        headers,
        content_length,
        bare_lf,
        body_offset,
    })
}

fn build_header(buf: &Bytes, lines: &[Line], line_no: usize) -> Result<Header, ParseError> {
    let first = &lines[0];
    let text = &buf[first.start..first.end];
    let colon = memchr(b':', text).ok_or(ParseError::HeaderWithoutColon { line: line_no })?;
    let (ns, ne) = trim_wsp(&text[..colon]);
    let name = std::str::from_utf8(&text[ns..ne])
        .ok()
        .filter(|n| is_token(n) && ns == 0)
        .ok_or(ParseError::BadHeaderName { line: line_no })?;
    let name = HeaderName::parse(name);
    let last = &lines[lines.len() - 1];
    let value_start = first.start + colon + 1;
    let value = if lines.len() == 1 {
        let (s, e) = trim_wsp(&buf[value_start..first.end]);
        buf.slice(value_start + s..value_start + e)
    } else {
        // Unfold: each line break with its surrounding whitespace becomes one SP (§7.3.1).
        let mut v = Vec::new();
        let (s, e) = trim_wsp(&buf[value_start..first.end]);
        v.extend_from_slice(&buf[value_start + s..value_start + e]);
        for l in &lines[1..] {
            let (s, e) = trim_wsp(&buf[l.start..l.end]);
            if s == e {
                continue;
            }
            if !v.is_empty() {
                v.push(b' ');
            }
            v.extend_from_slice(&buf[l.start + s..l.start + e]);
        }
        Bytes::from(v)
    };
    // The raw field is kept for writing back unless its folding used bare LFs.
    let folded_with_bare_lf = lines[..lines.len() - 1].iter().any(|l| l.bare_lf);
    let raw = (!folded_with_bare_lf).then(|| buf.slice(first.start..last.end));
    Ok(Header::from_wire(name, raw, value))
}

/// Content-Length, refusing conflicting copies (RFC 4475 §3.3.9).
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for h in headers.get_all(&HeaderName::ContentLength) {
        let v = h
            .value_str()
            .and_then(ContentLength::decode)
            .map_err(ParseError::BadContentLength)?;
        let v = v.0 as usize;
        match found {
            Some(prev) if prev != v => return Err(ParseError::ConflictingContentLength),
            _ => found = Some(v),
        }
    }
    Ok(found)
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (§25.1); only 2.0 is supported (§21.5.6).
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    let text = std::str::from_utf8(v).map_err(|_| ParseError::BadRequestLine)?;
    let Some(num) = text
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &text[4..])
    else {
        return Err(ParseError::BadRequestLine);
    };
    let well_formed = num.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    if !well_formed {
        return Err(ParseError::BadRequestLine);
    }
    if num != "2.0" {
        return Err(ParseError::UnsupportedVersion(text.to_owned()));
    }
    Ok(())
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (§7.1): exactly one SP each.
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(ParseError::BadRequestLine);
    };
    check_version(version)?;
    let method = std::str::from_utf8(method)
        .ok()
        .and_then(Method::parse)
        .ok_or(ParseError::BadRequestLine)?;
    let uri = std::str::from_utf8(uri)
        .map_err(|_| ParseError::BadRequestUri(crate::uri::UriError::InvalidChar))?;
    let uri = Uri::parse(uri).map_err(ParseError::BadRequestUri)?;
    Ok(StartLine::Request { method, uri })
}

/// `Status-Line = SIP-Version SP Status-Code SP Reason-Phrase` (§7.2); the code is exactly
/// three digits (RFC 4475 §3.1.2.19) and the phrase may be empty (§3.1.1.13).
fn parse_status_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let sp = memchr(b' ', line).ok_or(ParseError::BadStatusLine)?;
    check_version(&line[..sp]).map_err(|e| match e {
        ParseError::BadRequestLine => ParseError::BadStatusLine,
        other => other,
    })?;
    let rest = &line[sp + 1..];
    let code = rest.get(..3).ok_or(ParseError::BadStatusLine)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStatusLine);
    }
    let reason = match rest.get(3) {
        None => &[][..],
        Some(b' ') => &rest[4..],
        Some(_) => return Err(ParseError::BadStatusLine),
    };
    let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&status) {
        return Err(ParseError::BadStatusLine);
    }
    Ok(StartLine::Response {
        status,
        reason: String::from_utf8_lossy(reason).into_owned(),
    })
}
