//! Branch parameters of forwarded requests and loop detection (RFC 3261 §16.6 step 8,
//! §16.3 step 4).
//!
//! A branch is `z9hG4bK` + `P` + a hash of the fields that identify the request as
//! received + `.` + a per-copy counter. A request that comes back with one of our Vias
//! whose hash equals the hash of the request as it is now has looped; a different hash
//! means the request was retargeted downstream and is spiralling (§16.3 step 4).

use sha2::{Digest, Sha256};

use crate::message::Request;
use crate::typed::{CallId, ProxyAuthorization, ProxyRequire, TypedHeader, Via};

use super::config::ProxyConfig;

const PREFIX: &str = "z9hG4bKP";

/// The hash of the fields §16.6 step 8 names: To tag, From tag, Call-ID, the Request-URI
/// as received, the previous hop's Via, the CSeq number, Proxy-Require and
/// Proxy-Authorization. Route is left out: loose routing changes it along a loop.
pub(crate) fn request_hash(request: &Request, previous_hop: Option<&Via>) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update(s.as_bytes());
        h.update([0]);
    };
    let tag = |t: Option<&str>| t.unwrap_or_default().to_owned();
    let to = request.headers.typed::<crate::typed::To>().ok().flatten();
    let from = request.headers.typed::<crate::typed::From>().ok().flatten();
    field(&tag(to.as_ref().and_then(|t| t.tag())));
    field(&tag(from.as_ref().and_then(|f| f.tag())));
    let call_id = request.headers.typed::<CallId>().ok().flatten();
    field(call_id.as_ref().map_or("", |c| c.0.as_str()));
    field(&request.uri.to_string());
    field(&previous_hop.map(encode).unwrap_or_default());
    let cseq = request.headers.typed::<crate::typed::CSeq>().ok().flatten();
    field(&cseq.map(|c| c.seq.to_string()).unwrap_or_default());
    for p in request
        .headers
        .typed_all::<ProxyRequire>()
        .unwrap_or_default()
    {
        field(&p.0);
    }
    for a in request
        .headers
        .typed_all::<ProxyAuthorization>()
        .unwrap_or_default()
    {
        field(&encode(&a));
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The branch of copy `n` of a request whose hash is `hash`.
pub(crate) fn branch(hash: &str, n: usize) -> String {
    format!("{PREFIX}{hash}.{n}")
}

/// §16.3 step 4: whether one of our Vias carries the hash this request has now.
pub(crate) fn has_looped(config: &ProxyConfig, request: &Request, vias: &[Via]) -> bool {
    vias.iter().enumerate().any(|(i, via)| {
        if !config.is_our_via(&via.host, via.port) {
            return false;
        }
        let Some(hash) = via
            .branch()
            .and_then(|b| b.strip_prefix(PREFIX))
            .and_then(|b| b.split('.').next())
        else {
            return false;
        };
        hash == request_hash(request, vias.get(i + 1))
    })
}

fn encode<T: TypedHeader>(value: &T) -> String {
    let mut s = String::new();
    value.encode(&mut s);
    s
}
