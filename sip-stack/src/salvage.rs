//! Answering a request that did not parse (RFC 3261 §8.2, §16.3: a malformed request gets a
//! 400, or 505 for another version, "naming the fault" in the reason phrase). The response
//! needs the request's Via, From, To, Call-ID and CSeq (§8.2.6.2); they are copied as raw
//! text from the lines that could be read, without trusting the rest of the message.

use crate::dialog::new_tag;
use crate::error::{reject_reason, ParseError};
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Message, Response};

/// The error response to the unparsable `datagram`, when it is a request (not an ACK,
/// which is never answered, §17.2.3) and its Via, From, To, Call-ID and CSeq lines can be
/// read. `None` otherwise: then there is nowhere to send an answer that the client could
/// match, and the message is dropped.
pub fn response_to_unparsable(datagram: &[u8], error: &ParseError) -> Option<Response> {
    let head_end = find(datagram, b"\r\n\r\n").unwrap_or(datagram.len());
    let head = std::str::from_utf8(&datagram[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    let method = start.split(' ').next()?;
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    };
    if !is_token(method) || method.eq_ignore_ascii_case("ACK") || method.starts_with("SIP/") {
        return None;
    }
    // Unfold continuation lines (§7.3.1), then keep the five headers a response copies.
    let mut unfolded: Vec<String> = Vec::new();
    for line in lines {
        match unfolded.last_mut() {
            Some(prev) if line.starts_with([' ', '\t']) => {
                prev.push(' ');
                prev.push_str(line.trim());
            }
            _ => unfolded.push(line.to_owned()),
        }
    }
    let wanted = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    let mut found: Vec<(HeaderName, String)> = Vec::new();
    for line in &unfolded {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = HeaderName::parse(name.trim());
        let value = value.trim();
        if wanted.contains(&name) && !value.is_empty() && !value.contains(['\r', '\n', '\0']) {
            found.push((name, value.to_owned()));
        }
    }
    if wanted
        .iter()
        .any(|w| !found.iter().any(|(name, _)| name == w))
    {
        return None;
    }
    let status = error.status_code();
    let mut response = Response::new(status, &reject_reason(error));
    for w in &wanted {
        for (name, value) in found.iter().filter(|(n, _)| n == w) {
            let value = if *name == HeaderName::To && !value.to_ascii_lowercase().contains("tag=") {
                format!("{value};tag={}", new_tag())
            } else {
                value.clone()
            };
            response.headers.push(Header::new(name.clone(), &value));
            if *name != HeaderName::Via {
                break;
            }
        }
    }
    response
        .headers
        .push(Header::new(HeaderName::ContentLength, "0"));
    // Copied text may itself be malformed (a Via of garbage): answer only with what a
    // client can parse.
    let response = Message::Response(response);
    let parsed = Message::parse(&response.to_bytes()).ok()?;
    parsed.validate().ok()?;
    match response {
        Message::Response(r) => Some(r),
        Message::Request(_) => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_CL: &[u8] = b"OPTIONS sip:x@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbad\r\n\
Max-Forwards: 70\r\nFrom: <sip:y@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\n\
Call-ID: bad-cl\r\nCSeq: 1 OPTIONS\r\nContent-Length: 9999\r\n\r\n";

    #[test]
    fn a_request_with_a_false_content_length_gets_a_400_naming_it() {
        let e = Message::parse(BAD_CL).unwrap_err();
        let r = response_to_unparsable(BAD_CL, &e).expect("answerable");
        assert_eq!(r.status, 400);
        assert_eq!(r.reason, "Bad Request - Content-Length larger than body");
        let text = String::from_utf8(Message::Response(r).to_bytes()).unwrap();
        assert!(text.contains("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbad\r\n"));
        assert!(text.contains("Call-ID: bad-cl\r\n"));
        assert!(text.contains("To: <sip:x@example.com>;tag="));
        // What we send parses.
        Message::parse(text.as_bytes()).expect("our 400 parses");
    }

    #[test]
    fn acks_responses_and_requests_without_via_are_not_answered() {
        let ack = b"ACK sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:y@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: a\r\nCSeq: 1 ACK\r\nContent-Length: 5\r\n\r\n";
        let e = Message::parse(ack).unwrap_err();
        assert!(response_to_unparsable(ack, &e).is_none());
        let no_via = b"OPTIONS sip:x@h SIP/2.0\r\nFrom: <sip:y@h>;tag=1\r\nTo: <sip:x@h>\r\n\
Call-ID: a\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\n";
        let e = Message::parse(no_via).unwrap_err();
        assert!(response_to_unparsable(no_via, &e).is_none());
    }

    #[test]
    fn torture_requests_that_must_be_rejected_get_an_answer_when_addressable() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/sip-torture"
        );
        let Ok(manifest) = std::fs::read_to_string(format!("{dir}/manifest.tsv")) else {
            return; // the corpus lives beside the checkout
        };
        let mut answered = 0;
        for line in manifest.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.get(2) != Some(&"invalid") {
                continue;
            }
            let Ok(bytes) = std::fs::read(format!("{dir}/{}", fields[0])) else {
                continue;
            };
            if let Err(e) = Message::parse(&bytes) {
                if let Some(r) = response_to_unparsable(&bytes, &e) {
                    assert!(matches!(r.status, 400 | 505 | 513), "{}", fields[0]);
                    let text = Message::Response(r).to_bytes();
                    Message::parse(&text)
                        .unwrap_or_else(|e| panic!("{}: our answer must parse: {e}", fields[0]));
                    answered += 1;
                }
            }
        }
        assert!(
            answered > 0,
            "some malformed torture requests are answerable"
        );
    }
}
