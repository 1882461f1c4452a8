//! The registrar (RFC 3261 §10.3): applies a REGISTER to the location service and answers it.
//! Sans-IO: every call takes `now`; expiry happens in [`Registrar::handle_timeout`].

use std::time::Instant;

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::registrar::aor::{may_register, Aor};
use crate::registrar::binding::Binding;
use crate::registrar::request::{read, Action, RegisterError, RegisterRequest, SUPPORTED};
use crate::registrar::store::LocationStore;
use crate::typed::{Contact, MinExpires, Require, Supported, Unsupported};

/// Registrar settings.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Shorter nonzero requests get 423 with Min-Expires (§10.3 step 7, §20.23). Default 60.
    pub min_expires: u32,
    /// Longer requests are shortened to this (§10.3 step 7). Default 3600.
    pub max_expires: u32,
    /// Used when neither the Contact nor the request gives an expiry. Default 3600 (§10.2.1.1
    /// suggests one hour).
    pub default_expires: u32,
    /// Bindings one AOR may hold; a REGISTER that would exceed it gets 403. Default 16.
    pub max_bindings_per_aor: usize,
    /// Domains (host of the Request-URI and of the AOR, port ignored) this registrar serves;
    /// empty serves any (§10.3 step 1 and step 5: others get 404).
    pub domains: Vec<String>,
    /// Only the user named like the AOR may change its bindings ([`may_register`]). Turn
    /// off when the caller applies its own policy first.
    pub require_owner: bool,
    /// This registrar's own addresses (`host` or `host:port` of its listeners): a
    /// Request-URI naming one is for the registrar as much as one naming a served domain
    /// (a UA configured with the registrar's address puts it there). The AOR's domain must
    /// still be served.
    pub local_hosts: Vec<String>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_aor: 16,
            domains: Vec::new(),
            local_hosts: Vec::new(),
            require_owner: true,
        }
    }
}

/// The registrar over a location store.
#[derive(Debug)]
pub struct Registrar<S> {
    config: RegistrarConfig,
    store: S,
}

/// How a REGISTER ended: the response to send and, for a caller's logs and events, what
/// happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// 200 OK: bindings changed (or were listed).
    Ok { aor: Aor, bindings: usize },
    /// Any other answer, with the reason.
    Refused { status: u16, reason: String },
}

impl<S: LocationStore> Registrar<S> {
    pub fn new(config: RegistrarConfig, store: S) -> Self {
        Registrar { config, store }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Handles a REGISTER. `authenticated_user` is the Digest user name the request was
    /// authenticated as; `None` (an unauthenticated request) is refused with 403: challenge
    /// first (see [`crate::registrar::serve_register`]).
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &Request,
        authenticated_user: Option<&str>,
    ) -> Response {
        self.register(now, request, authenticated_user).0
    }

    /// [`Registrar::handle_register`], also saying what happened.
    pub fn register(
        &mut self,
        now: Instant,
        request: &Request,
        authenticated_user: Option<&str>,
    ) -> (Response, RegisterOutcome) {
        let refuse = |status: u16, reason: &str| {
            let resp = request.make_response_with_reason(status, reason);
            let outcome = RegisterOutcome::Refused {
                status,
                reason: reason.to_owned(),
            };
            (resp, outcome)
        };
        let reg = match read(request, self.config.default_expires) {
            Ok(r) => r,
            Err(e) => {
                let (mut resp, out) = refuse(e.status(), &reason(&e));
                if let RegisterError::Unsupported(tag) = &e {
                    resp.headers.push_typed(&Unsupported(tag.clone()));
                }
                return (resp, out);
            }
        };
        if !self.serves(request, &reg.aor) {
            return refuse(404, "Not Found (domain not served here)");
        }
        let Some(user) = authenticated_user else {
            return refuse(403, "Forbidden (not authenticated)");
        };
        if self.config.require_owner && !may_register(user, &reg.aor) {
            return refuse(403, "Forbidden (not your address of record)");
        }
        if let Action::Update(updates) = &reg.action {
            // Step 7: one interval too brief refuses the whole request (§21.4.17).
            let min = self.config.min_expires;
            if updates.iter().any(|u| u.expires > 0 && u.expires < min) {
                let (mut resp, out) = refuse(423, "Interval Too Brief");
                resp.headers.push_typed(&MinExpires(min));
                return (resp, out);
            }
        }
        let bindings = match self.apply(now, &reg) {
            Ok(b) => b,
            Err((status, why)) => return refuse(status, why),
        };
        let resp = self.ok(now, request, &reg, &bindings);
        let outcome = RegisterOutcome::Ok {
            aor: reg.aor,
            bindings: bindings.len(),
        };
        (resp, outcome)
    }

    fn serves(&self, request: &Request, aor: &Aor) -> bool {
        if self.config.domains.is_empty() {
            return true;
        }
        let ours = |d: &str| {
            self.config
                .domains
                .iter()
                .any(|x| x.eq_ignore_ascii_case(d))
        };
        let ruri = request.uri.as_sip();
        let ruri_host = ruri.map(|u| u.host.to_string());
        let local = ruri.is_some_and(|u| {
            let host = u.host.to_string();
            let with_port = format!("{host}:{}", u.port.unwrap_or(5060));
            self.config
                .local_hosts
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&host) || l.eq_ignore_ascii_case(&with_port))
        });
        ours(aor.domain()) && (local || ruri_host.as_deref().is_some_and(ours))
    }

    /// Steps 6–7, all or nothing: the new binding list, or (status, reason) with nothing
    /// changed.
    fn apply(
        &mut self,
        now: Instant,
        reg: &RegisterRequest,
    ) -> Result<Vec<Binding>, (u16, &'static str)> {
        let mut list: Vec<Binding> = self
            .store
            .get(&reg.aor)
            .into_iter()
            .filter(|b| b.is_live(now))
            .collect();
        // A binding set by this Call-ID may change only with a higher CSeq; otherwise the
        // request is out of order and fails (§10.3 steps 6 and 7).
        let in_order = |b: &Binding| b.call_id != reg.call_id || reg.cseq > b.cseq;
        const OUT_OF_ORDER: (u16, &str) = (500, "Server Internal Error (CSeq out of order)");
        match &reg.action {
            Action::Query => return Ok(sorted(list)),
            Action::RemoveAll => {
                if !list.iter().all(in_order) {
                    return Err(OUT_OF_ORDER);
                }
                list.clear();
            }
            Action::Update(updates) => {
                for u in updates {
                    let pos = list.iter().position(|b| b.key() == u.key);
                    if let Some(i) = pos {
                        if !in_order(&list[i]) {
                            return Err(OUT_OF_ORDER);
                        }
                        list.remove(i);
                    }
                    if u.expires == 0 {
                        continue;
                    }
                    let secs = u.expires.min(self.config.max_expires);
                    list.push(Binding {
                        contact: u.contact.clone(),
                        expires_at: Binding::lifetime(now, secs),
                        q: u.q,
                        call_id: reg.call_id.clone(),
                        cseq: reg.cseq,
                        path: reg.path.clone(),
                        instance: u.instance.clone(),
                        reg_id: u.reg_id,
                        updated_at: now,
                    });
                }
                if list.len() > self.config.max_bindings_per_aor {
                    return Err((403, "Forbidden (too many contacts)"));
                }
            }
        }
        self.store.put(&reg.aor, list.clone());
        Ok(sorted(list))
    }

    /// 200 OK listing every binding with its remaining time (§10.3 step 8), the Path when the
    /// UA supports it (RFC 3327 §5.3) and `Require: outbound` when a flow was registered
    /// (RFC 5626 §6).
    fn ok(
        &self,
        now: Instant,
        request: &Request,
        reg: &RegisterRequest,
        b: &[Binding],
    ) -> Response {
        let mut resp = request.make_response(200);
        let contacts: Vec<Contact> = b
            .iter()
            .map(|b| {
                let mut c = b.contact.clone();
                let secs = b.remaining_secs(now).to_string();
                c.params.set("expires", Some(&secs));
                Contact::Address(c)
            })
            .collect();
        resp.headers.set_typed_list(&contacts);
        if reg.supports_path && !reg.path.is_empty() {
            resp.headers
                .push(Header::new(HeaderName::parse("Path"), &reg.path.join(", ")));
        }
        let outbound =
            matches!(&reg.action, Action::Update(u) if u.iter().any(|u| u.reg_id.is_some()));
        if outbound {
            resp.headers.push_typed(&Require("outbound".to_owned()));
        }
        let supported: Vec<Supported> = SUPPORTED
            .iter()
            .map(|s| Supported((*s).to_owned()))
            .collect();
        resp.headers.set_typed_list(&supported);
        resp
    }

    /// Live bindings of `aor` for routing: highest q first, then the most recently refreshed.
    pub fn bindings(&self, aor: &Aor, now: Instant) -> Vec<Binding> {
        sorted(
            self.store
                .get(aor)
                .into_iter()
                .filter(|b| b.is_live(now))
                .collect(),
        )
    }

    /// Removes expired bindings; returns how many went.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        self.store.purge(now)
    }

    /// Same as [`Registrar::handle_timeout`].
    pub fn purge(&mut self, now: Instant) -> usize {
        self.handle_timeout(now)
    }

    /// When [`Registrar::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.store.next_expiry()
    }
}

fn sorted(mut list: Vec<Binding>) -> Vec<Binding> {
    list.sort_by(Binding::routing_order);
    list
}

fn reason(e: &RegisterError) -> String {
    let base = crate::default_reason(e.status());
    format!("{base} ({e})")
}
