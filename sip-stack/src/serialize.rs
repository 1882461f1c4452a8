//! Writing messages back to bytes (RFC 3261 §7).
//!
//! Header fields that were not changed are written exactly as received (name spelling,
//! folding, compact forms), so a proxy forwards what it got. Changed or new fields are
//! written as `Name: value`. Content-Length is the one field corrected on the way out when
//! it does not count the body (a message from a rewritten datagram, or a changed body).

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Message, Request, Response};
use crate::typed::{ContentLength, TypedHeader};

impl Message {
    /// Appends the wire form of the message to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body().len());
        self.write_to(&mut out);
        out
    }
}

impl Request {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.to_string().as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers_and_body(self.headers.iter(), &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

impl Response {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("SIP/2.0 {:03} ", self.status).as_bytes());
        for b in self.reason.bytes() {
            out.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(self.headers.iter(), &self.body, out);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

fn write_headers_and_body<'a>(
    headers: impl Iterator<Item = &'a Header>,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    for h in headers {
        if h.name() == &HeaderName::ContentLength && !counts_body(h, body.len()) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
            continue;
        }
        match h.raw() {
            Some(raw) => out.extend_from_slice(raw),
            None => {
                out.extend_from_slice(h.name().as_str().as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn counts_body(h: &Header, len: usize) -> bool {
    h.value_str()
        .and_then(ContentLength::decode)
        .is_ok_and(|cl| cl.0 as usize == len)
}
