//! Cardea's SIP stack, sans-IO (see DESIGN.md). This first layer is the message layer:
//!
//! - [`Message`]: requests and responses parsed from bytes ([`Message::parse`] for a
//!   datagram, [`Framer`] for streams). Every header is kept raw, in order; typed views
//!   ([`typed`]) are decoded on demand with [`Headers::typed`] / [`Headers::typed_all`].
//! - [`Message::validate`]: the checks RFC 3261 §8.2 and RFC 4475 expect before acting on a
//!   message; [`reject_reason`] names the fault for the 400 reason phrase.
//! - [`Message::to_bytes`]: writes a message back, unchanged fields byte for byte;
//!   [`Request::make_response`] builds a response (RFC 3261 §8.2.6).
//!
//! No I/O, no clocks: bytes in, values out.
#![forbid(unsafe_code)]

pub mod auth;
pub mod dialog;
mod error;
mod framer;
mod header;
mod header_name;
mod lex;
pub mod locate;
mod message;
mod method;
mod params;
mod parse;
pub mod proxy;
pub mod registrar;
mod response;
mod salvage;
pub mod sdp;
mod serialize;
mod status;
pub mod transaction;
pub mod typed;
pub mod ua;
mod uri;
mod validate;

pub use error::{reject_reason, ParseError};
pub use framer::{Frame, FrameError, Framer};
pub use header::{Header, Headers};
pub use header_name::HeaderName;
pub use lex::percent_decode;
pub use message::{Message, Request, Response};
pub use method::Method;
pub use params::{Param, ParamError, Params};
pub use parse::Limits;
pub use salvage::response_to_unparsable;
pub use status::default_reason;
pub use typed::{HeaderError, TypedHeader};
pub use uri::{Host, SipUri, Uri, UriError};
