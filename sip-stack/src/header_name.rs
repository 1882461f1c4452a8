//! Header field names: case-insensitive (RFC 3261 §7.3.1) with compact forms
//! (§7.3.3, §20; RFC 3515, 3841, 3892, 4028, 4474, 6665).

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $canonical:literal $(, $compact:literal)? ;)*) => {
        /// A header name. Known names are variants; anything else keeps its spelling.
        #[derive(Debug, Clone, Eq)]
        pub enum HeaderName {
            $( $variant, )*
            /// An extension header, spelled as received (a `token`).
            Other(String),
        }

        impl HeaderName {
            /// Maps a name as written (any case, compact or long) to a `HeaderName`.
            pub fn parse(name: &str) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($canonical) {
                        return HeaderName::$variant;
                    }
                    $( if name.eq_ignore_ascii_case($compact) {
                        return HeaderName::$variant;
                    } )?
                )*
                HeaderName::Other(name.to_owned())
            }

            /// The long form, as RFC 3261 spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(s) => s,
                }
            }

            /// The compact form, when the name has one.
            pub fn compact(&self) -> Option<&'static str> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept";
    AcceptContact => "Accept-Contact", "a";
    Allow => "Allow";
    AllowEvents => "Allow-Events", "u";
    Authorization => "Authorization";
    CallId => "Call-ID", "i";
    Contact => "Contact", "m";
    ContentDisposition => "Content-Disposition";
    ContentEncoding => "Content-Encoding", "e";
    ContentLength => "Content-Length", "l";
    ContentType => "Content-Type", "c";
    CSeq => "CSeq";
    Date => "Date";
    Event => "Event", "o";
    Expires => "Expires";
    From => "From", "f";
    IdentityInfo => "Identity-Info", "n";
    Identity => "Identity", "y";
    MaxForwards => "Max-Forwards";
    MinExpires => "Min-Expires";
    MinSe => "Min-SE";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyRequire => "Proxy-Require";
    RAck => "RAck";
    RecordRoute => "Record-Route";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    RejectContact => "Reject-Contact", "j";
    Replaces => "Replaces";
    RequestDisposition => "Request-Disposition", "d";
    Require => "Require";
    RetryAfter => "Retry-After";
    Route => "Route";
    RSeq => "RSeq";
    SessionExpires => "Session-Expires", "x";
    Subject => "Subject", "s";
    Supported => "Supported", "k";
    Timestamp => "Timestamp";
    To => "To", "t";
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Via => "Via", "v";
    Warning => "Warning";
    WwwAuthenticate => "WWW-Authenticate";
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_mixed_case_names_map_to_the_same_header() {
        for n in ["Via", "v", "V", "vIA"] {
            assert_eq!(HeaderName::parse(n), HeaderName::Via);
        }
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("o"), HeaderName::Event);
        assert_eq!(HeaderName::parse("x"), HeaderName::SessionExpires);
    }

    #[test]
    fn escaped_looking_name_is_an_extension_header() {
        // RFC 4475 §3.1.1.5: C%6Fntact is not Contact.
        assert_eq!(
            HeaderName::parse("C%6Fntact"),
            HeaderName::Other("c%6fntact".into())
        );
    }
}
