//! The client side of Digest (RFC 3261 §22.2, §22.3; RFC 7616 §3.4; RFC 8760 §2.4): answer
//! 401/407 challenges, keep answering later requests with the same nonce (`nc` counting up,
//! a fresh `cnonce` each time), retry once per challenge, and fail with the server's real
//! final code when it refuses an answer.
//!
//! Driving contract for a UA: call [`ClientAuth::authorize`] on every request before sending
//! it, and [`ClientAuth::on_response`] on every final response. On [`AuthStep::Retry`], build
//! the request again (new CSeq, same Call-ID for REGISTER, RFC 3261 §10.2.4) and authorize it.

use std::fmt;

use rand::RngCore;

use crate::auth::algorithm::to_hex;
use crate::auth::challenge::DigestChallenge;
use crate::auth::credentials::{DigestCredentials, QopAnswer};
use crate::auth::digest::{compute_response, DigestInput, Ha1, Qop};
use crate::auth::server::ChallengeKind;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::typed::{
    AuthValue, Authorization, ProxyAuthenticate, ProxyAuthorization, WwwAuthenticate,
};

/// The user's secret.
#[derive(Clone)]
pub enum Secret {
    Password(String),
    /// A precomputed HA1: only challenges using its hash function can be answered.
    Ha1(Ha1),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(..)"),
            Secret::Ha1(h) => write!(f, "{h:?}"),
        }
    }
}

/// Who we are to servers that challenge us.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The Digest user name (often, not always, the user part of the AOR).
    pub username: String,
    pub secret: Secret,
    /// Answer only challenges of this realm; `None` answers any realm.
    pub realm: Option<String>,
}

/// Where the client's authentication stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuthState {
    /// No challenge seen yet: requests go out without credentials.
    Unchallenged,
    /// Credentials are attached to requests (after a challenge, and on later requests).
    Answering,
    /// The server refused our answer (401/407 again without `stale`, or 403), or challenged
    /// in a way we cannot answer. `status` is the real final code to report.
    Failed { status: u16, reason: FailReason },
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailReason {
    /// The server challenged the answer again (wrong user name or password).
    Rejected,
    /// 403 after we answered a challenge.
    Forbidden,
    /// No challenge in the response that we can answer (scheme, algorithm, qop, realm, or
    /// a hash that our stored HA1 does not use).
    Unanswerable,
    /// The server kept asking for a new nonce.
    TooManyStale,
}

/// What the UA should do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send the request again, authorized.
    Retry,
    /// Authentication failed: give up with this final status.
    Failed { status: u16, reason: FailReason },
    /// Not an authentication matter: handle the response as usual.
    Proceed,
}

/// A challenge being answered.
#[derive(Debug, Clone)]
struct Answer {
    kind: ChallengeKind,
    challenge: DigestChallenge,
    nc: u32,
    /// Received in the latest response and not yet answered.
    pending: bool,
    /// Answered in the last request sent after it arrived: a second challenge for the same
    /// realm means the answer was refused.
    just_answered: bool,
}

/// Consecutive `stale=true` challenges tolerated before giving up (a server that never
/// accepts its own nonces must not make us loop).
const MAX_STALE_RETRIES: u8 = 3;

/// Digest state of one client (a registration, or a UA's requests to one server).
#[derive(Debug, Clone)]
pub struct ClientAuth {
    credentials: ClientCredentials,
    answers: Vec<Answer>,
    stale_retries: u8,
    failed: Option<(u16, FailReason)>,
}

impl ClientAuth {
    pub fn new(credentials: ClientCredentials) -> ClientAuth {
        ClientAuth {
            credentials,
            answers: Vec::new(),
            stale_retries: 0,
            failed: None,
        }
    }

    pub fn state(&self) -> ClientAuthState {
        match (&self.failed, self.answers.is_empty()) {
            (Some((status, reason)), _) => ClientAuthState::Failed {
                status: *status,
                reason: reason.clone(),
            },
            (None, true) => ClientAuthState::Unchallenged,
            (None, false) => ClientAuthState::Answering,
        }
    }

    /// Forgets challenges and failure (new credentials, or the user asked to try again).
    pub fn reset(&mut self) {
        self.answers.clear();
        self.stale_retries = 0;
        self.failed = None;
    }

    /// Attaches credentials for every challenge known, replacing any already on the request.
    /// `uri` is the Request-URI (RFC 3261 §22.4); `rng` draws the cnonce.
    pub fn authorize(&mut self, request: &mut Request, rng: &mut dyn RngCore) {
        request.headers.remove_all(&HeaderName::Authorization);
        request.headers.remove_all(&HeaderName::ProxyAuthorization);
        let uri = request.uri.to_string();
        let method = request.method.as_str().to_owned();
        for a in &mut self.answers {
            let Some(value) = answer(&self.credentials, a, &uri, &method, rng) else {
                continue;
            };
            a.just_answered = a.pending;
            a.pending = false;
            match a.kind {
                ChallengeKind::Origin => request.headers.push_typed(&Authorization(value)),
                ChallengeKind::Proxy => request.headers.push_typed(&ProxyAuthorization(value)),
            }
        }
    }

    /// Reads a final response to a request that went through [`ClientAuth::authorize`].
    pub fn on_response(&mut self, response: &Response) -> AuthStep {
        let step = self.step(response);
        if let AuthStep::Failed { status, reason } = &step {
            self.failed = Some((*status, reason.clone()));
        }
        step
    }

    fn step(&mut self, response: &Response) -> AuthStep {
        let answered = self.answers.iter().any(|a| a.just_answered);
        let kind = match response.status {
            100..=199 => return AuthStep::Proceed,
            401 => ChallengeKind::Origin,
            407 => ChallengeKind::Proxy,
            403 if answered => {
                return AuthStep::Failed {
                    status: 403,
                    reason: FailReason::Forbidden,
                }
            }
            _ => {
                if (200..300).contains(&response.status) {
                    self.stale_retries = 0;
                }
                self.answers
                    .iter_mut()
                    .for_each(|a| a.just_answered = false);
                return AuthStep::Proceed;
            }
        };
        let fail = |reason| AuthStep::Failed {
            status: response.status,
            reason,
        };
        let chosen = self.usable_challenges(response, kind);
        if chosen.is_empty() {
            return fail(FailReason::Unanswerable);
        }
        let mut any_stale = false;
        for c in &chosen {
            let prior = self
                .answers
                .iter()
                .find(|a| a.kind == kind && a.challenge.realm == c.realm);
            if prior.is_some_and(|a| a.just_answered) {
                if !c.stale {
                    return fail(FailReason::Rejected);
                }
                any_stale = true;
            }
        }
        if any_stale {
            self.stale_retries += 1;
            if self.stale_retries > MAX_STALE_RETRIES {
                return fail(FailReason::TooManyStale);
            }
        }
        self.answers
            .iter_mut()
            .for_each(|a| a.just_answered = false);
        for c in chosen {
            self.answers
                .retain(|a| !(a.kind == kind && a.challenge.realm == c.realm));
            self.answers.push(Answer {
                kind,
                challenge: c,
                nc: 0,
                pending: true,
                just_answered: false,
            });
        }
        AuthStep::Retry
    }

    /// One challenge per realm: the strongest algorithm we can answer.
    fn usable_challenges(&self, response: &Response, kind: ChallengeKind) -> Vec<DigestChallenge> {
        let values: Vec<AuthValue> = match kind {
            ChallengeKind::Origin => all_values::<WwwAuthenticate>(response, |h| h.0),
            ChallengeKind::Proxy => all_values::<ProxyAuthenticate>(response, |h| h.0),
        };
        let mut chosen: Vec<DigestChallenge> = Vec::new();
        for c in values
            .iter()
            .filter_map(|v| DigestChallenge::from_auth(v).ok())
        {
            if !self.can_answer(&c) {
                continue;
            }
            match chosen.iter_mut().find(|k| k.realm == c.realm) {
                Some(k) if c.algorithm.strength() > k.algorithm.strength() => *k = c,
                Some(_) => {}
                None => chosen.push(c),
            }
        }
        chosen
    }

    fn can_answer(&self, c: &DigestChallenge) -> bool {
        if self
            .credentials
            .realm
            .as_ref()
            .is_some_and(|r| r != &c.realm)
        {
            return false;
        }
        if c.algorithm.is_session() && !c.qop_auth {
            return false;
        }
        match &self.credentials.secret {
            Secret::Password(_) => true,
            Secret::Ha1(h) => h.hash_fn() == c.algorithm.hash_fn(),
        }
    }
}

/// Each header's values decoded; undecodable fields are skipped (another may be usable).
fn all_values<T: crate::typed::TypedHeader>(
    response: &Response,
    into: impl Fn(T) -> AuthValue,
) -> Vec<AuthValue> {
    response
        .headers
        .get_all(&T::NAME)
        .filter_map(|h| h.decode::<T>().ok())
        .flatten()
        .map(into)
        .collect()
}

fn answer(
    creds: &ClientCredentials,
    a: &mut Answer,
    uri: &str,
    method: &str,
    rng: &mut dyn RngCore,
) -> Option<AuthValue> {
    let c = &a.challenge;
    let ha1 = match &creds.secret {
        Secret::Password(p) => {
            Ha1::from_password(c.algorithm.hash_fn(), &creds.username, &c.realm, p)
        }
        Secret::Ha1(h) => h.clone(),
    };
    let qop = if c.qop_auth {
        a.nc = a.nc.wrapping_add(1).max(1);
        let mut raw = [0u8; 16];
        rng.fill_bytes(&mut raw);
        Some(QopAnswer {
            qop: Qop::Auth,
            cnonce: to_hex(&raw),
            nc_text: format!("{:08x}", a.nc),
            nc: a.nc,
        })
    } else {
        None
    };
    let response = compute_response(
        &ha1,
        &DigestInput {
            algorithm: c.algorithm,
            nonce: &c.nonce,
            qop: qop
                .as_ref()
                .map(|q| (q.qop, q.cnonce.as_str(), q.nc_text.as_str())),
            method,
            uri,
        },
    )?;
    Some(
        DigestCredentials {
            username: creds.username.clone(),
            realm: c.realm.clone(),
            nonce: c.nonce.clone(),
            uri: uri.to_owned(),
            response,
            algorithm: c.algorithm,
            qop,
            opaque: c.opaque.clone(),
        }
        .to_auth(),
    )
}
