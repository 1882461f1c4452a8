//! Address headers built on [`NameAddr`]: From and To (RFC 3261 §20.20, §20.39), Route and
//! Record-Route (§20.34, §20.30), Refer-To (RFC 3515 §2.1).

use std::ops::{Deref, DerefMut};

use crate::header_name::HeaderName;
use crate::typed::{HeaderError, NameAddr, TypedHeader};

macro_rules! address_header {
    ($(#[$doc:meta])* $ty:ident, $name:ident, $list:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub NameAddr);

        impl TypedHeader for $ty {
            const NAME: HeaderName = HeaderName::$name;
            const LIST: bool = $list;

            fn decode(value: &str) -> Result<Self, HeaderError> {
                NameAddr::parse(value).map($ty)
            }

            fn encode(&self, out: &mut String) {
                self.0.encode(out)
            }
        }

        impl Deref for $ty {
            type Target = NameAddr;
            fn deref(&self) -> &NameAddr {
                &self.0
            }
        }

        impl DerefMut for $ty {
            fn deref_mut(&mut self) -> &mut NameAddr {
                &mut self.0
            }
        }
    };
}

address_header!(
    /// `From` (§20.20): the request's originator and its tag.
    From, From, false
);
address_header!(
    /// `To` (§20.39): the logical recipient and, in dialogs, its tag.
    To, To, false
);
address_header!(
    /// One `Route` entry (§20.34).
    Route, Route, true
);
address_header!(
    /// One `Record-Route` entry (§20.30).
    RecordRoute, RecordRoute, true
);
address_header!(
    /// `Refer-To` (RFC 3515 §2.1).
    ReferTo, ReferTo, false
);
