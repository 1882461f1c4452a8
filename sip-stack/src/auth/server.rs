//! The server side of Digest (RFC 3261 §22.1, §22.3; RFC 7616 §3.3, §3.5): challenges with
//! stateless sealed nonces, verification against a [`CredentialStore`], nonce expiry
//! (`stale=true`), `nc` replay protection and failure counting per source address.
//!
//! Outcomes, chosen to be safe and unambiguous for the client:
//! - no credentials for our realm → 401/407 with a fresh challenge (not a failure);
//! - right password but an expired, replayed, forgotten or foreign nonce → 401/407
//!   `stale=true` (the client retries without asking its user; an attacker replaying a
//!   captured header learns nothing);
//! - unknown user or wrong password → 403, the same answer for both (no user enumeration,
//!   and a dummy digest is computed for unknown users so timing tells nothing either);
//!   a fresh 401 would only invite a guessing loop;
//! - unusable credentials (missing parameters, unsupported algorithm or qop, `uri` that is not
//!   the Request-URI) → 400.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::auth::algorithm::Algorithm;
use crate::auth::challenge::DigestChallenge;
use crate::auth::credentials::DigestCredentials;
use crate::auth::digest::Ha1;
use crate::auth::error::DigestError;
use crate::auth::failures::FailedAttempts;
use crate::auth::nonce::{NcCheck, NcTracker, NonceInfo, NonceKey};
use crate::auth::store::CredentialStore;
use crate::message::{Request, Response};
use crate::typed::{
    AuthValue, Authorization, ProxyAuthenticate, ProxyAuthorization, WwwAuthenticate,
};
use crate::uri::Uri;

/// Who challenges: the request's target (401, `WWW-Authenticate`, registrars and UAS) or a
/// proxy on the way (407, `Proxy-Authenticate`), RFC 3261 §22.1, §22.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    Origin,
    Proxy,
}

impl ChallengeKind {
    pub fn status(self) -> u16 {
        match self {
            ChallengeKind::Origin => 401,
            ChallengeKind::Proxy => 407,
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct AuthenticatorConfig {
    pub realm: String,
    /// Challenges offered, one header each, most preferred first (RFC 8760 §2.4). Default:
    /// MD5 only, because older SIP phones take the first challenge even when they cannot
    /// answer it; add SHA-256 first where clients are known to cope.
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce may be used (RFC 7616 §5.5). Default 300 s.
    pub nonce_lifetime: Duration,
    pub kind: ChallengeKind,
    /// Credentials whose `uri` is not the Request-URI are refused (RFC 2617 §3.2.2.5).
    /// Turn off behind a proxy that rewrites the Request-URI.
    pub check_uri: bool,
    /// Nonces whose `nc` is tracked at once; older ones are answered `stale=true`.
    pub nc_capacity: usize,
    pub failure_window: Duration,
    pub failure_capacity: usize,
}

impl AuthenticatorConfig {
    pub fn new(realm: &str) -> Self {
        AuthenticatorConfig {
            realm: realm.to_owned(),
            algorithms: vec![Algorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
            kind: ChallengeKind::Origin,
            check_uri: true,
            nc_capacity: 16_384,
            failure_window: Duration::from_secs(600),
            failure_capacity: 16_384,
        }
    }
}

/// A request whose credentials were right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub username: String,
    pub realm: String,
    pub algorithm: Algorithm,
}

/// Why a request was not authenticated, and so what to answer ([`Denial::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("no credentials for this realm")]
    NoCredentials,
    #[error("nonce expired or already used")]
    Stale,
    #[error("unknown user or wrong password")]
    Forbidden,
    #[error("credentials uri is not the Request-URI")]
    UriMismatch,
    #[error("unusable credentials: {0}")]
    Malformed(#[from] DigestError),
}

impl Denial {
    pub fn status(&self, kind: ChallengeKind) -> u16 {
        match self {
            Denial::NoCredentials | Denial::Stale => kind.status(),
            Denial::Forbidden => 403,
            Denial::UriMismatch | Denial::Malformed(_) => 400,
        }
    }

    /// True for the outcomes counted as failed attempts.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Denial::NoCredentials | Denial::Stale)
    }
}

/// Issues challenges and checks credentials. One per realm; owns no clock: `now` is passed in
/// and nonce times are counted from the `now` given to [`Authenticator::new`]. Nonces are valid
/// only for this value and its secret: after a restart, clients get `stale=true` and retry.
#[derive(Debug)]
pub struct Authenticator {
    config: AuthenticatorConfig,
    key: NonceKey,
    epoch: Instant,
    next_serial: u64,
    nc: NcTracker,
    failures: FailedAttempts,
}

impl Authenticator {
    /// `secret` should be 32 random bytes drawn when the process starts.
    pub fn new(config: AuthenticatorConfig, secret: [u8; 32], now: Instant) -> Authenticator {
        Authenticator {
            key: NonceKey::new(&secret, &config.realm),
            nc: NcTracker::new(config.nc_capacity),
            failures: FailedAttempts::new(config.failure_window, config.failure_capacity),
            epoch: now,
            next_serial: 0,
            config,
        }
    }

    pub fn config(&self) -> &AuthenticatorConfig {
        &self.config
    }

    fn secs(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// A fresh nonce (RFC 7616 §3.3).
    pub fn issue_nonce(&mut self, now: Instant) -> String {
        let info = NonceInfo {
            issued_secs: self.secs(now),
            serial: self.next_serial,
        };
        self.next_serial += 1;
        self.key.seal(info)
    }

    /// Checks the request's credentials. Failures (see [`Denial::is_failure`]) are counted
    /// against `source`.
    pub fn check(
        &mut self,
        now: Instant,
        source: IpAddr,
        request: &Request,
        store: &dyn CredentialStore,
    ) -> Result<Authenticated, Denial> {
        let result = self.verify(now, request, store);
        if let Err(d) = &result {
            if d.is_failure() {
                self.failures.record(now, source);
            }
        }
        result
    }

    fn verify(
        &mut self,
        now: Instant,
        request: &Request,
        store: &dyn CredentialStore,
    ) -> Result<Authenticated, Denial> {
        let Some(value) = self.our_credentials(request)? else {
            return Err(Denial::NoCredentials);
        };
        let creds = DigestCredentials::from_auth(&value)?;
        if !self.config.algorithms.contains(&creds.algorithm) {
            return Err(DigestError::UnsupportedAlgorithm(creds.algorithm.as_str().into()).into());
        }
        if self.config.check_uri && !same_uri(&creds.uri, &request.uri) {
            return Err(Denial::UriMismatch);
        }
        let method = request.method.as_str();
        let right = match store.ha1(&creds.username, &self.config.realm, creds.algorithm) {
            Some(ha1) => creds.verify(&ha1, method),
            None => {
                // Same work as for a known user, so response time does not reveal the user.
                let dummy = Ha1::from_password(creds.algorithm.hash_fn(), "", "", "");
                let _ = creds.verify(&dummy, method);
                false
            }
        };
        if !right {
            return Err(Denial::Forbidden);
        }
        // The password is right; now the nonce must be ours, young enough and not replayed.
        let info = self.key.open(&creds.nonce).ok_or(Denial::Stale)?;
        let now_secs = self.secs(now);
        let lifetime = self.config.nonce_lifetime.as_secs();
        if info.issued_secs > now_secs || now_secs - info.issued_secs > lifetime {
            return Err(Denial::Stale);
        }
        let nc = creds.qop.as_ref().map_or(1, |q| q.nc);
        match self.nc.check(info, nc) {
            NcCheck::Fresh => Ok(Authenticated {
                username: creds.username,
                realm: creds.realm,
                algorithm: creds.algorithm,
            }),
            NcCheck::Replay | NcCheck::Forgotten => Err(Denial::Stale),
        }
    }

    /// The credentials addressed to our realm, if any (a request may carry several, one per
    /// realm, RFC 3261 §22.3).
    fn our_credentials(&self, request: &Request) -> Result<Option<AuthValue>, Denial> {
        let values: Vec<AuthValue> = match self.config.kind {
            ChallengeKind::Origin => request
                .headers
                .typed_all::<Authorization>()
                .map(|v| v.into_iter().map(|a| a.0).collect()),
            ChallengeKind::Proxy => request
                .headers
                .typed_all::<ProxyAuthorization>()
                .map(|v| v.into_iter().map(|a| a.0).collect()),
        }
        .map_err(|_| Denial::Malformed(DigestError::NotDigest))?;
        Ok(values.into_iter().find(|v| {
            v.scheme.eq_ignore_ascii_case("Digest")
                && v.param("realm").as_deref() == Some(self.config.realm.as_str())
        }))
    }

    /// The answer to a denied request: a challenge (with `stale=true` for [`Denial::Stale`]),
    /// 403 or 400.
    pub fn respond(&mut self, now: Instant, request: &Request, denial: &Denial) -> Response {
        match denial {
            Denial::NoCredentials => self.challenge(now, request, false),
            Denial::Stale => self.challenge(now, request, true),
            Denial::Forbidden => request.make_response(403),
            Denial::UriMismatch | Denial::Malformed(_) => {
                request.make_response_with_reason(400, &format!("Bad Request ({denial})"))
            }
        }
    }

    /// A 401/407 with one challenge per configured algorithm.
    pub fn challenge(&mut self, now: Instant, request: &Request, stale: bool) -> Response {
        let mut resp = request.make_response(self.config.kind.status());
        let nonce = self.issue_nonce(now);
        for &algorithm in &self.config.algorithms {
            let c = DigestChallenge {
                realm: self.config.realm.clone(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm,
                qop_auth: true,
                stale,
            };
            match self.config.kind {
                ChallengeKind::Origin => resp.headers.push_typed(&WwwAuthenticate(c.to_auth())),
                ChallengeKind::Proxy => resp.headers.push_typed(&ProxyAuthenticate(c.to_auth())),
            }
        }
        resp
    }

    /// Failed attempts from `source` in the current window.
    pub fn failures(&self, now: Instant, source: IpAddr) -> u32 {
        self.failures.count(now, source)
    }

    pub fn failed_attempts_mut(&mut self) -> &mut FailedAttempts {
        &mut self.failures
    }

    /// Drops expired nonce records and failure counts. Call now and then (every nonce
    /// lifetime is plenty).
    pub fn handle_timeout(&mut self, now: Instant) {
        let lifetime = self.config.nonce_lifetime.as_secs();
        self.nc.purge(self.secs(now).saturating_sub(lifetime));
        self.failures.purge(now);
    }
}

/// `uri` names the Request-URI: the same text, or the same URI once parsed.
fn same_uri(uri: &str, request_uri: &Uri) -> bool {
    uri == request_uri.to_string() || Uri::parse(uri).is_ok_and(|u| &u == request_uri)
}
