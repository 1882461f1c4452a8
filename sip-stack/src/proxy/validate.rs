//! Request validation (RFC 3261 §16.3): the checks a proxy makes before routing a request.
//! Each failure is the response to send back.

use crate::message::{Request, Response};
use crate::method::Method;
use crate::typed::{MaxForwards, ProxyRequire, Unsupported, Via};

use super::branch::has_looped;
use super::config::ProxyConfig;

/// Checks steps 3 to 5 of §16.3 (steps 1, 2 and 6 belong to the message layer and the
/// core's policy). `Err` holds the answer: 483, 482, 420, 400, or a 200 to an OPTIONS with
/// Max-Forwards 0 that names this proxy (§16.3 step 3, §11).
pub(crate) fn validate(config: &ProxyConfig, request: &Request) -> Result<(), Response> {
    // Step 3: Max-Forwards.
    match request.headers.typed::<MaxForwards>() {
        Err(_) => return Err(reply(request, 400, "Bad Max-Forwards")),
        Ok(Some(MaxForwards(0))) => {
            if request.method == Method::Options && config.is_local(&request.uri) {
                return Err(reply(request, 200, "OK"));
            }
            return Err(reply(request, 483, "Too Many Hops"));
        }
        Ok(_) => {}
    }
    // Step 4: loops.
    let vias = request
        .headers
        .typed_all::<Via>()
        .map_err(|_| reply(request, 400, "Bad Via"))?;
    if has_looped(config, request, &vias) {
        return Err(reply(request, 482, "Loop Detected"));
    }
    // Step 5: Proxy-Require.
    let required = request
        .headers
        .typed_all::<ProxyRequire>()
        .map_err(|_| reply(request, 400, "Bad Proxy-Require"))?;
    let unknown: Vec<Unsupported> = required
        .into_iter()
        .filter(|p| {
            !config
                .supported
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&p.0))
        })
        .map(|p| Unsupported(p.0))
        .collect();
    if !unknown.is_empty() {
        let mut r = reply(request, 420, "Bad Extension");
        r.headers.set_typed_list(&unknown);
        return Err(r);
    }
    Ok(())
}

/// A response the proxy makes itself, as a UAS would: with a To tag (§8.2.6.2, §16.7
/// step 6 for generated responses).
pub(crate) fn reply(request: &Request, status: u16, reason: &str) -> Response {
    let mut r = request.make_response_with_reason(status, reason);
    // A To header that does not decode gets no tag; the response still names the request.
    let _ = r.set_to_tag(&format!("{:016x}", rand::random::<u64>()));
    r
}
