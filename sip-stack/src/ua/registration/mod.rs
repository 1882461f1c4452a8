//! A REGISTER client (RFC 3261 §10.2), sans-IO.
//!
//! [`Registration::register`] queues a REGISTER; the driver takes it with
//! [`Registration::poll_request`] and sends it through the transaction layer, then hands
//! every response back with [`Registration::handle_response`]. A 401/407 is answered with
//! Digest once per challenge ([`ClientAuth`]); a 423 is retried with the Min-Expires asked
//! (§10.2.8). Success is refreshed before expiry ([`Registration::next_timeout`]), and
//! [`Registration::unregister`] sends `Expires: 0` (§10.2.2). Failures report the
//! registrar's real final code and reason (Janus reports 904 for a wrong password).

mod request;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::auth::{AuthStep, ClientAuth, ClientCredentials};
use crate::dialog::{new_call_id, new_tag};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::status::default_reason;
use crate::typed::{CSeq, Contact, Expires, MinExpires, NameAddr};
use crate::uri::Uri;

use super::local::Local;

/// What a registration needs.
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// The Request-URI: the registrar's domain (§10.2).
    pub registrar: Uri,
    /// The address of record, in From and To (a display name is kept).
    pub aor: NameAddr,
    /// Our Contact, with its display name and parameters.
    pub contact: NameAddr,
    /// The registration interval we ask for, in seconds (Janus's `register_ttl`).
    pub expires: u32,
    pub local: Local,
    /// `None`: a challenge fails the registration with its own code.
    pub credentials: Option<ClientCredentials>,
}

/// What the caller hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// The first REGISTER of a registration went out.
    Registering,
    /// The registrar accepted; the binding lasts `expires` seconds.
    Registered { expires: u32 },
    /// The registrar's real final code and reason (or 408 when no answer came).
    Failed { code: u16, reason: String },
    /// The binding was removed.
    Unregistered,
}

/// Where the registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationState {
    Idle,
    /// REGISTER `cseq` is out; `refresh` when a binding is already in place.
    Registering {
        cseq: u32,
        refresh: bool,
    },
    Registered {
        expires: u32,
        refresh_at: Instant,
    },
    /// REGISTER `cseq` with `Expires: 0` is out.
    Unregistering {
        cseq: u32,
    },
    Unregistered,
    Failed {
        code: u16,
        reason: String,
    },
}

/// One AOR's registration with one registrar. See the [module docs](self).
#[derive(Debug)]
pub struct Registration {
    config: RegistrationConfig,
    call_id: String,
    from_tag: String,
    /// The CSeq of the last REGISTER built (§10.2: increments by one each time).
    cseq: u32,
    /// The interval currently asked for (raised by a 423).
    expires: u32,
    auth: Option<ClientAuth>,
    state: RegistrationState,
    requests: VecDeque<Request>,
    events: VecDeque<RegistrationEvent>,
}

impl Registration {
    pub fn new(config: RegistrationConfig) -> Registration {
        Registration {
            call_id: new_call_id(&config.local.host.to_string()),
            from_tag: new_tag(),
            cseq: 0,
            expires: config.expires,
            auth: config.credentials.clone().map(ClientAuth::new),
            state: RegistrationState::Idle,
            requests: VecDeque::new(),
            events: VecDeque::new(),
            config,
        }
    }

    pub fn state(&self) -> &RegistrationState {
        &self.state
    }

    /// Stable across refreshes (§10.2).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn config(&self) -> &RegistrationConfig {
        &self.config
    }

    /// Starts (or restarts, after a failure) the registration.
    pub fn register(&mut self) {
        if let Some(a) = &mut self.auth {
            if matches!(self.state, RegistrationState::Failed { .. }) {
                a.reset();
            }
        }
        self.expires = self.config.expires;
        let cseq = self.send(self.expires);
        self.state = RegistrationState::Registering {
            cseq,
            refresh: false,
        };
        self.events.push_back(RegistrationEvent::Registering);
    }

    /// Removes our binding (§10.2.2: `Expires: 0`).
    pub fn unregister(&mut self) {
        let cseq = self.send(0);
        self.state = RegistrationState::Unregistering { cseq };
    }

    /// A response to one of our REGISTERs; responses to older ones are ignored.
    pub fn handle_response(&mut self, now: Instant, response: &Response) {
        let Some(cseq) = response.headers.typed::<CSeq>().ok().flatten() else {
            return;
        };
        let (pending, unregistering) = match self.state {
            RegistrationState::Registering { cseq, .. } => (cseq, false),
            RegistrationState::Unregistering { cseq } => (cseq, true),
            _ => return,
        };
        if cseq.method != Method::Register || cseq.seq != pending || response.status < 200 {
            return;
        }
        if let Some(auth) = &mut self.auth {
            match auth.on_response(response) {
                AuthStep::Retry => return self.resend(unregistering),
                AuthStep::Failed { status, .. } => {
                    return self.fail(status, reason_of(response, status))
                }
                AuthStep::Proceed => {}
            }
        }
        let status = response.status;
        if status == 423 && !unregistering {
            // §10.2.8: retry with at least the registrar's Min-Expires.
            if let Some(MinExpires(min)) = response.headers.typed().ok().flatten() {
                if min > self.expires {
                    self.expires = min;
                    return self.resend(false);
                }
            }
        }
        if !(200..300).contains(&status) {
            return self.fail(status, reason_of(response, status));
        }
        if unregistering {
            self.state = RegistrationState::Unregistered;
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        let expires = self.granted_expires(response);
        if expires == 0 {
            self.state = RegistrationState::Unregistered;
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        self.state = RegistrationState::Registered {
            expires,
            refresh_at: now + refresh_after(expires),
        };
        self.events
            .push_back(RegistrationEvent::Registered { expires });
    }

    /// The REGISTER in flight failed in the transaction layer: timer F (408) or the
    /// transport (503) (§8.1.3.1).
    pub fn handle_failure(&mut self, code: u16) {
        if matches!(
            self.state,
            RegistrationState::Registering { .. } | RegistrationState::Unregistering { .. }
        ) {
            self.fail(code, default_reason(code).to_owned());
        }
    }

    /// Refreshes the binding when its time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let RegistrationState::Registered { refresh_at, .. } = self.state {
            if now >= refresh_at {
                let cseq = self.send(self.expires);
                self.state = RegistrationState::Registering {
                    cseq,
                    refresh: true,
                };
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            RegistrationState::Registered { refresh_at, .. } => Some(refresh_at),
            _ => None,
        }
    }

    /// The next REGISTER to send through the transaction layer.
    pub fn poll_request(&mut self) -> Option<Request> {
        self.requests.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// Builds, authorizes and queues a REGISTER with the next CSeq; returns its CSeq.
    fn send(&mut self, expires: u32) -> u32 {
        self.cseq = self.cseq.wrapping_add(1);
        let mut r = request::register_request(
            &self.config,
            &self.call_id,
            &self.from_tag,
            self.cseq,
            expires,
        );
        if let Some(auth) = &mut self.auth {
            auth.authorize(&mut r, &mut rand::rng());
        }
        self.requests.push_back(r);
        self.cseq
    }

    /// The same request again with a new CSeq (§10.2.4 after a challenge, §10.2.8 after
    /// a 423).
    fn resend(&mut self, unregistering: bool) {
        let expires = if unregistering { 0 } else { self.expires };
        let cseq = self.send(expires);
        self.state = match &self.state {
            RegistrationState::Registering { refresh, .. } => RegistrationState::Registering {
                cseq,
                refresh: *refresh,
            },
            _ => RegistrationState::Unregistering { cseq },
        };
    }

    fn fail(&mut self, code: u16, reason: String) {
        self.state = RegistrationState::Failed {
            code,
            reason: reason.clone(),
        };
        self.events
            .push_back(RegistrationEvent::Failed { code, reason });
    }

    /// §10.2.4: our Contact's `expires` in the 2xx, else its Expires header, else what we
    /// asked for.
    fn granted_expires(&self, response: &Response) -> u32 {
        let contacts = response.headers.typed_all::<Contact>().unwrap_or_default();
        let ours = contacts.iter().find(|c| {
            c.address()
                .is_some_and(|a| a.uri == self.config.contact.uri)
        });
        if let Some(e) = ours.and_then(Contact::expires) {
            return e;
        }
        if let Some(Expires(e)) = response.headers.typed().ok().flatten() {
            return e;
        }
        self.expires
    }
}

fn reason_of(response: &Response, status: u16) -> String {
    if response.status == status && !response.reason.is_empty() {
        response.reason.clone()
    } else {
        default_reason(status).to_owned()
    }
}

/// When to refresh a binding of `expires` seconds: at 90 % of it, or 5 s before it ends
/// when that comes first, and never sooner than 1 s.
pub(crate) fn refresh_after(expires: u32) -> Duration {
    let ms = u64::from(expires) * 1000;
    let at = (ms * 9 / 10).min(ms.saturating_sub(5000)).max(1000);
    Duration::from_millis(at.min(ms.max(1000)))
}
