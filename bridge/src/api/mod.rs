//! The Janus API at the wire: the request envelope, error codes and reply shapes. Shared by
//! every transport (HTTP, WebSocket) and by the Admin API.

mod error;
mod reply;
mod request;

pub use error::ApiError;
pub use reply::{error_reply, Reply};
pub use request::{decode, parse_body, DecodeError, Envelope, Path, Scope};
