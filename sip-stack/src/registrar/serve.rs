//! The whole REGISTER path with safe defaults: authenticate, then register. A REGISTER
//! without valid credentials never reaches the location service (RFC 3261 §10.3 step 3,
//! §22.1).

use std::net::IpAddr;
use std::time::Instant;

use crate::auth::{Authenticator, CredentialStore};
use crate::message::{Request, Response};
use crate::registrar::register::Registrar;
use crate::registrar::store::LocationStore;

/// Authenticates `request` with `auth` and, when that succeeds, applies it with
/// `registrar`. Failed attempts are counted against `source` in `auth`
/// ([`Authenticator::failures`]); rate limiting is the caller's.
pub fn serve_register<S: LocationStore>(
    now: Instant,
    source: IpAddr,
    request: &Request,
    auth: &mut Authenticator,
    credentials: &dyn CredentialStore,
    registrar: &mut Registrar<S>,
) -> Response {
    match auth.check(now, source, request, credentials) {
        Ok(user) => registrar.handle_register(now, request, Some(&user.username)),
        Err(denial) => auth.respond(now, request, &denial),
    }
}
