//! Typed views of header values, decoded on demand from the raw fields (RFC 3261 §20 and the
//! extensions named in each file). One header concept per file.

mod address;
mod auth;
mod contact;
mod content_type;
mod cseq;
mod date;
mod event;
mod name_addr;
mod rack;
mod replaces;
mod scalar;
mod session_expires;
mod tags;
mod via;

pub use address::{From, RecordRoute, ReferTo, Route, To};
pub use auth::{AuthValue, Authorization, ProxyAuthenticate, ProxyAuthorization, WwwAuthenticate};
pub use contact::Contact;
pub use content_type::ContentType;
pub use cseq::CSeq;
pub use date::Date;
pub use event::Event;
pub use name_addr::NameAddr;
pub use rack::RAck;
pub use replaces::Replaces;
pub use scalar::{CallId, ContentLength, Expires, MaxForwards, MinExpires, MinSe, RSeq};
pub use session_expires::{Refresher, SessionExpires};
pub use tags::{Allow, ProxyRequire, Require, Supported, Unsupported};
pub use via::{Rport, Transport, Via};

use crate::header_name::HeaderName;
use crate::params::ParamError;
use crate::uri::UriError;

/// Why a header value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("value is not UTF-8")]
    NotUtf8,
    #[error("empty value")]
    Empty,
    #[error("empty list element")]
    EmptyListElement,
    #[error("{0}")]
    Syntax(&'static str),
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    #[error("bad URI: {0}")]
    Uri(#[from] UriError),
    #[error("bad parameter: {0}")]
    Param(#[from] ParamError),
}

/// A header with a typed form.
pub trait TypedHeader: Sized {
    /// The header this type decodes.
    const NAME: HeaderName;
    /// True for comma-separated list headers: each element decodes to one value.
    const LIST: bool = false;
    /// True for list headers whose value may be empty (`Supported:` with no tags).
    const EMPTY_OK: bool = false;

    /// Decodes one value (one list element for list headers), already unfolded.
    fn decode(value: &str) -> Result<Self, HeaderError>;

    /// Writes the value (one list element for list headers).
    fn encode(&self, out: &mut String);
}
