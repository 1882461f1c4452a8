//! Token-list headers: Allow (RFC 3261 §20.5), Supported (§20.37), Require (§20.32),
//! Proxy-Require (§20.29), Unsupported (§20.40). Each element is one value.

use crate::header_name::HeaderName;
use crate::lex::is_token;
use crate::method::Method;
use crate::typed::{HeaderError, TypedHeader};

/// One method of an `Allow` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow(pub Method);

impl TypedHeader for Allow {
    const NAME: HeaderName = HeaderName::Allow;
    const LIST: bool = true;
    const EMPTY_OK: bool = true;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        Method::parse(value)
            .map(Allow)
            .ok_or(HeaderError::Syntax("method is not a token"))
    }

    fn encode(&self, out: &mut String) {
        out.push_str(self.0.as_str());
    }
}

macro_rules! option_tag_header {
    ($(#[$doc:meta])* $ty:ident, $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub String);

        impl TypedHeader for $ty {
            const NAME: HeaderName = HeaderName::$name;
            const LIST: bool = true;
            const EMPTY_OK: bool = true;

            fn decode(value: &str) -> Result<Self, HeaderError> {
                if is_token(value) {
                    Ok($ty(value.to_owned()))
                } else {
                    Err(HeaderError::Syntax("option tag is not a token"))
                }
            }

            fn encode(&self, out: &mut String) {
                out.push_str(&self.0);
            }
        }
    };
}

option_tag_header!(
    /// One option tag the sender supports.
    Supported, Supported
);
option_tag_header!(
    /// One option tag the receiver must support.
    Require, Require
);
option_tag_header!(
    /// One option tag proxies must support.
    ProxyRequire, ProxyRequire
);
option_tag_header!(
    /// One option tag that was not supported.
    Unsupported, Unsupported
);
