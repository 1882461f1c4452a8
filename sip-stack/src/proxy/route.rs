//! Route information: preprocessing of a received request (RFC 3261 §16.4) and the strict
//! routing fix-up of a forwarded copy (§16.6 step 6).

use crate::message::Request;
use crate::typed::{HeaderError, NameAddr, Route};

use super::config::ProxyConfig;

/// §16.4: when the Request-URI is a URI of ours and Route values follow, the previous hop
/// was a strict router: the real Request-URI is the last Route value. Then our own top
/// Route values (loose routing) are removed: every consecutive one, as double
/// record-routing (RFC 5658 §3.2) leaves two of ours in a row.
pub(crate) fn preprocess(config: &ProxyConfig, request: &mut Request) -> Result<(), HeaderError> {
    let mut routes = request.headers.typed_all::<Route>()?;
    let before = routes.len();
    if config.is_local(&request.uri) {
        if let Some(last) = routes.pop() {
            request.uri = last.0.uri;
        }
    }
    let ours = routes
        .iter()
        .take_while(|r| config.is_local(&r.uri))
        .count();
    routes.drain(..ours);
    if routes.len() != before {
        request.headers.set_typed_list(&routes);
    }
    Ok(())
}

/// §16.6 step 6: when the next hop is a strict router (its Route URI has no `lr`), the
/// Request-URI goes to the end of the Route set and the first Route value becomes the
/// Request-URI.
pub(crate) fn postprocess(request: &mut Request) -> Result<(), HeaderError> {
    let mut routes = request.headers.typed_all::<Route>()?;
    let strict = routes
        .first()
        .is_some_and(|r| r.uri.as_sip().is_some_and(|u| !u.is_loose_route()));
    if strict {
        let next = routes.remove(0);
        let uri = std::mem::replace(&mut request.uri, next.0.uri);
        routes.push(Route(NameAddr::new(uri)));
        request.headers.set_typed_list(&routes);
    }
    Ok(())
}

/// The URI of the next hop: the top Route value, else the Request-URI (§16.6 step 7).
pub(crate) fn next_hop(request: &Request) -> Option<crate::uri::Uri> {
    match request.headers.typed::<Route>() {
        Ok(Some(r)) => Some(r.0.uri),
        Ok(None) => Some(request.uri.clone()),
        Err(_) => None,
    }
}
