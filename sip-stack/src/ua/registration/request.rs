//! Building a REGISTER (RFC 3261 §10.2).

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::Request;
use crate::method::Method;
use crate::typed::{CSeq, CallId, Contact, Expires, From, MaxForwards, To};

use super::RegistrationConfig;

/// One REGISTER (§10.2): Request-URI = the registrar, From and To = the AOR (From tagged),
/// the registration's stable Call-ID (§10.2: the same for every refresh), CSeq `seq`, our
/// Contact and `Expires: expires` (0 unregisters, §10.2.2).
pub(super) fn register_request(
    config: &RegistrationConfig,
    call_id: &str,
    from_tag: &str,
    seq: u32,
    expires: u32,
) -> Request {
    let mut r = Request::new(Method::Register, config.registrar.clone());
    r.headers.push_typed(&config.local.via());
    r.headers.push_typed(&MaxForwards(70));
    let mut from = config.aor.clone();
    from.params.remove("tag");
    let to = from.clone();
    from.set_tag(from_tag);
    r.headers.push_typed(&From(from));
    r.headers.push_typed(&To(to));
    r.headers.push_typed(&CallId(call_id.to_owned()));
    r.headers.push_typed(&CSeq {
        seq,
        method: Method::Register,
    });
    r.headers
        .push_typed(&Contact::Address(config.contact.clone()));
    r.headers.push_typed(&Expires(expires));
    r.headers.push(Header::new(HeaderName::ContentLength, "0"));
    config.local.add_common(&mut r.headers);
    r
}
