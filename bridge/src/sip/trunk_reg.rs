//! Cardea registering with its trunks (carriers and PBXs that want their peers registered):
//! one [`Registration`] (sans-IO, digest, refresh before expiry) per trunk with a
//! `register` section, driven by the endpoint; a failed one is tried again a minute later.
//! The trunks' state (probes and registrations) is published for the Admin API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cardea_sip::auth::{ClientCredentials, Secret};
use cardea_sip::transaction::{ClientKey, Destination, TransactionLayer};
use cardea_sip::typed::NameAddr;
use cardea_sip::ua::{
    Local, Registration, RegistrationConfig, RegistrationEvent, RegistrationState,
};
use cardea_sip::{Response, SipUri, Uri};
use serde_json::{json, Value};

use super::routing::Trunk;

/// How long a failed registration waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

struct TrunkRegistration {
    registration: Registration,
    destination: Destination,
    /// What it was made from: a reload that changes it starts a new one.
    made_from: (String, String, String, u32, Destination),
    retry_at: Option<Instant>,
}

/// Every trunk registration, and the client transactions of their REGISTERs.
#[derive(Default)]
pub struct TrunkRegistrations {
    by_trunk: HashMap<String, TrunkRegistration>,
    keys: HashMap<ClientKey, String>,
    /// What `list_trunks` shows, refreshed on every change.
    pub status: TrunkStatus,
}

/// The trunks as the Admin API lists them.
#[derive(Clone, Default)]
pub struct TrunkStatus(Arc<Mutex<Vec<Value>>>);

impl TrunkStatus {
    pub fn get(&self) -> Vec<Value> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, list: Vec<Value>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = list;
    }
}

fn describe(state: &RegistrationState) -> Value {
    match state {
        RegistrationState::Idle => json!({"state": "idle"}),
        RegistrationState::Registering { .. } => json!({"state": "registering"}),
        RegistrationState::Registered { expires, .. } => {
            json!({"state": "registered", "expires": expires})
        }
        RegistrationState::Unregistering { .. } => json!({"state": "unregistering"}),
        RegistrationState::Unregistered => json!({"state": "unregistered"}),
        RegistrationState::Failed { code, reason } => {
            json!({"state": "failed", "code": code, "reason": reason})
        }
    }
}

impl TrunkRegistrations {
    /// Starts a registration for every trunk that asks for one and has none (or whose
    /// account changed); drops those of trunks gone or no longer registering.
    pub fn sync(
        &mut self,
        trunks: &[Trunk],
        local: &SipUri,
        transport_of: impl Fn(&Trunk) -> Local,
    ) {
        self.by_trunk.retain(|name, r| {
            trunks.iter().any(|t| {
                &t.name == name
                    && t.register.as_ref().is_some_and(|reg| {
                        r.made_from
                            == (
                                reg.username.clone(),
                                reg.password.clone(),
                                reg.domain.clone().unwrap_or_default(),
                                reg.expires,
                                t.destination.clone(),
                            )
                    })
            })
        });
        self.keys.retain(|_, name| self.by_trunk.contains_key(name));
        for t in trunks {
            let Some(reg) = &t.register else { continue };
            if self.by_trunk.contains_key(&t.name) {
                continue;
            }
            let domain = reg.domain.clone().unwrap_or_else(|| t.uri.host.to_string());
            let parse = |s: String| Uri::parse(&s).ok();
            let (Some(registrar), Some(aor), Some(contact)) = (
                parse(format!("sip:{domain}")),
                parse(format!("sip:{}@{domain}", reg.username)),
                parse(format!(
                    "sip:{}@{}:{}",
                    reg.username,
                    local.host,
                    local.port.unwrap_or(5060)
                )),
            ) else {
                tracing::warn!(trunk = %t.name, "trunk registration: bad username or domain");
                continue;
            };
            let mut registration = Registration::new(RegistrationConfig {
                registrar,
                aor: NameAddr::new(aor),
                contact: NameAddr::new(contact),
                expires: reg.expires,
                local: transport_of(t),
                credentials: Some(ClientCredentials {
                    username: reg.username.clone(),
                    secret: Secret::Password(reg.password.clone()),
                    realm: None,
                }),
            });
            registration.register();
            self.by_trunk.insert(
                t.name.clone(),
                TrunkRegistration {
                    registration,
                    destination: t.destination.clone(),
                    made_from: (
                        reg.username.clone(),
                        reg.password.clone(),
                        reg.domain.clone().unwrap_or_default(),
                        reg.expires,
                        t.destination.clone(),
                    ),
                    retry_at: None,
                },
            );
        }
    }

    /// Refreshes and retries that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        for r in self.by_trunk.values_mut() {
            r.registration.handle_timeout(now);
            if r.retry_at.is_some_and(|t| t <= now) {
                r.retry_at = None;
                r.registration.register();
            }
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.by_trunk
            .values()
            .flat_map(|r| [r.registration.next_timeout(), r.retry_at])
            .flatten()
            .min()
    }

    /// A response for one of our REGISTERs (`false`: not ours).
    pub fn handle_response(&mut self, now: Instant, key: &ClientKey, response: &Response) -> bool {
        let Some(name) = self.keys.get(key) else {
            return false;
        };
        if response.status >= 200 {
            let name = name.clone();
            self.keys.remove(key);
            if let Some(r) = self.by_trunk.get_mut(&name) {
                r.registration.handle_response(now, response);
            }
        }
        true
    }

    /// A REGISTER that timed out or could not be sent (`false`: not ours).
    pub fn handle_failure(&mut self, key: &ClientKey, code: u16) -> bool {
        let Some(name) = self.keys.remove(key) else {
            return false;
        };
        if let Some(r) = self.by_trunk.get_mut(&name) {
            r.registration.handle_failure(code);
        }
        true
    }

    /// Sends what the registrations queued, logs what happened to them, and publishes the
    /// trunks' state.
    pub fn pump(&mut self, now: Instant, layer: &mut TransactionLayer, trunks: &[Trunk]) {
        let mut changed = false;
        for (name, r) in &mut self.by_trunk {
            while let Some(request) = r.registration.poll_request() {
                match layer.send_request(now, request, r.destination.clone()) {
                    Ok(key) => {
                        self.keys.insert(key, name.clone());
                    }
                    Err(e) => {
                        tracing::warn!(trunk = %name, "trunk REGISTER not sent: {e}");
                        r.registration.handle_failure(503);
                    }
                }
            }
            while let Some(event) = r.registration.poll_event() {
                changed = true;
                match event {
                    RegistrationEvent::Registered { expires } => {
                        tracing::info!(trunk = %name, expires, "registered with the SIP trunk")
                    }
                    RegistrationEvent::Failed { code, reason } => {
                        tracing::warn!(trunk = %name, code, %reason, "registration with the SIP trunk failed; trying again in a minute");
                        r.retry_at = Some(now + RETRY_AFTER);
                    }
                    RegistrationEvent::Registering | RegistrationEvent::Unregistered => {}
                }
            }
        }
        if changed {
            self.publish(trunks);
        }
    }

    /// Puts the trunks' current state where the Admin API reads it.
    pub fn publish(&self, trunks: &[Trunk]) {
        let list = trunks
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "uri": t.uri.to_string(),
                    "destination": format!("{}:{}", t.destination.transport.as_str().to_ascii_lowercase(), t.destination.addr),
                    "inbound": t.inbound.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                    "probing": t.probe.map(|p| p.as_secs()),
                    "up": t.up,
                    "registration": self.by_trunk.get(&t.name).map(|r| describe(r.registration.state())),
                })
            })
            .collect();
        self.status.set(list);
    }
}
