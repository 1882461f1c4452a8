//! Message framing on stream transports (TCP, TLS, and WebSocket when a frame carries part
//! of a message): bytes arrive in chunks, whole messages leave, delimited by Content-Length,
//! which is mandatory on streams (RFC 3261 §18.3, §20.14).
//!
//! Between messages, CRLF keep-alives are recognised (RFC 5626 §3.5.1): a double CRLF is a
//! ping that the transport answers with a single CRLF, and a single CRLF is that pong.
//!
//! Sans-IO: feed bytes with [`Framer::handle_input`], then drain [`Framer::poll_frame`] until
//! it returns `Ok(None)`. An error is final: framing is lost, and the transport should close
//! the connection (after a 4xx/5xx when the error carries a status code).

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use crate::error::ParseError;
use crate::message::Message;
use crate::parse::{parse_head, Head, Limits};

/// What the framer yields.
// Messages are nearly every frame; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Frame {
    /// A whole message (syntax checked; call [`Message::validate`] next).
    Message(Message),
    /// CRLFCRLF keep-alive ping: answer with CRLF.
    Ping,
    /// CRLF keep-alive pong.
    Pong,
}

/// Why a stream could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("header section exceeds {limit} bytes")]
    HeaderSectionTooLarge { limit: usize },
    #[error("body of {declared} bytes exceeds the limit of {limit}")]
    BodyTooLarge { declared: usize, limit: usize },
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl FrameError {
    /// The status a server may answer before closing the connection.
    pub fn status_code(&self) -> u16 {
        match self {
            FrameError::HeaderSectionTooLarge { .. } => 513,
            FrameError::BodyTooLarge { .. } => 413,
            FrameError::MissingContentLength => 400,
            FrameError::Parse(p) => p.status_code(),
        }
    }
}

/// Splits a byte stream into SIP messages.
#[derive(Debug, Default)]
pub struct Framer {
    buf: BytesMut,
    limits: Limits,
    /// Where to resume looking for the end of the header section.
    scanned: usize,
    /// A parsed header section waiting for `usize` body bytes.
    pending: Option<(Head, usize)>,
    failed: Option<FrameError>,
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            ..Framer::default()
        }
    }

    /// Appends received bytes.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes received but not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `Ok(None)` when more input is needed.
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.next_frame();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            self.buf.clear();
        }
        r
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some((_, body_len)) = &self.pending {
                if self.buf.len() < *body_len {
                    return Ok(None);
                }
                let body_len = *body_len;
                let Some((head, _)) = self.pending.take() else {
                    return Ok(None);
                };
                let body = self.buf.split_to(body_len).freeze();
                return Ok(Some(Frame::Message(Message::from_head(head, body))));
            }
            match self.keepalive() {
                Some(KeepAlive::Ping) => return Ok(Some(Frame::Ping)),
                Some(KeepAlive::Pong) => return Ok(Some(Frame::Pong)),
                Some(KeepAlive::Wait) => return Ok(None),
                Some(KeepAlive::Skipped) => continue,
                None => {}
            }
            let Some(end) = self.find_head_end() else {
                if self.buf.len() > self.limits.max_header_bytes {
                    return Err(FrameError::HeaderSectionTooLarge {
                        limit: self.limits.max_header_bytes,
                    });
                }
                return Ok(None);
            };
            if end > self.limits.max_header_bytes {
                return Err(FrameError::HeaderSectionTooLarge {
                    limit: self.limits.max_header_bytes,
                });
            }
            let head_bytes: Bytes = self.buf.split_to(end).freeze();
            self.scanned = 0;
            let head = parse_head(&head_bytes, &self.limits)?;
            let body_len = head
                .content_length
                .ok_or(FrameError::MissingContentLength)?;
            if body_len > self.limits.max_body {
                return Err(FrameError::BodyTooLarge {
                    declared: body_len,
                    limit: self.limits.max_body,
                });
            }
            self.pending = Some((head, body_len));
        }
    }

    /// Handles CRLFs between messages (RFC 5626 §3.5.1; RFC 3261 §7.5 lets CRLF precede a
    /// start line).
    fn keepalive(&mut self) -> Option<KeepAlive> {
        let b = &self.buf[..];
        if b.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Some(KeepAlive::Ping);
        }
        if b.starts_with(b"\r\n") {
            if b.len() == 3 && b[2] == b'\r' {
                return Some(KeepAlive::Wait);
            }
            self.buf.advance(2);
            return Some(KeepAlive::Pong);
        }
        if b == b"\r" {
            return Some(KeepAlive::Wait);
        }
        if b.first() == Some(&b'\n') {
            self.buf.advance(1);
            return Some(KeepAlive::Skipped);
        }
        None
    }

    /// Offset just past the empty line ending the header section (CRLF CRLF, or LF LF from
    /// lenient peers), if it has arrived.
    fn find_head_end(&mut self) -> Option<usize> {
        let b = &self.buf[..];
        let mut i = self.scanned;
        while let Some(off) = memchr(b'\n', b.get(i..)?) {
            let nl = i + off;
            match (b.get(nl + 1), b.get(nl + 2)) {
                (Some(b'\n'), _) => return Some(nl + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(nl + 3),
                (None, _) | (Some(b'\r'), None) => {
                    self.scanned = nl;
                    return None;
                }
                _ => i = nl + 1,
            }
        }
        self.scanned = b.len();
        None
    }
}

enum KeepAlive {
    Ping,
    Pong,
    Wait,
    Skipped,
}
