//! The SIP plugin's way through the shared endpoint: which handle owns which client
//! transaction, Call-ID (dialog) and Contact user, so responses and requests reach the
//! handle's user agent, and everything else (registrar, proxy) stays as it is.

use std::collections::HashMap;

use cardea_plugins::{SipIn, SipOut};
use cardea_sip::locate::{locate, Locate, Lookup};
use cardea_sip::transaction::{ClientKey, TransactionEvent, TransactionKey, TransactionLayer};
use cardea_sip::typed::{Route, Transport, Via};
use cardea_sip::{Message, Method, Request, SipUri, Uri};

/// A request a handle sent: who to tell when it ends.
struct Owned {
    handle: u64,
    call_id: String,
    method: Method,
}

#[derive(Default)]
pub struct PluginLink {
    /// Our listener per transport: the sent-by of the Via of a request that leaves over it.
    listeners: Vec<(Transport, SipUri)>,
    clients: HashMap<ClientKey, Owned>,
    calls: HashMap<String, u64>,
    users: HashMap<String, u64>,
    /// Events for the core, drained by the endpoint's I/O loop.
    pub events: Vec<(u64, SipIn)>,
    /// Requests to names, for the I/O loop to resolve (RFC 3263) and send again with their
    /// destination.
    pub unresolved: Vec<(u64, Request, Lookup)>,
}

fn call_id_of(request: &Request) -> Option<String> {
    request.call_id_value()
}

/// Where a UA's request goes (RFC 3261 §8.1.2): the top Route when there is one, else the
/// Request-URI; a name needs a lookup (RFC 3263).
fn next_hop(request: &Request) -> Option<Locate> {
    let route = request
        .headers
        .typed_all::<Route>()
        .ok()
        .and_then(|r| r.into_iter().next());
    let uri: Uri = match route {
        Some(r) => r.0.uri,
        None => request.uri.clone(),
    };
    locate(&uri)
}

impl PluginLink {
    pub fn with_listeners(listeners: Vec<(Transport, SipUri)>) -> PluginLink {
        PluginLink {
            listeners,
            ..PluginLink::default()
        }
    }

    /// §18.1.1: the top Via names the transport the request leaves over, with our listener
    /// on it (the plugin writes the UDP one).
    fn stamp_via(&self, request: &mut Request, transport: &Transport) {
        let Some((_, listener)) = self.listeners.iter().find(|(t, _)| t == transport) else {
            return;
        };
        let Ok(mut vias) = request.headers.typed_all::<Via>() else {
            return;
        };
        let Some(top) = vias.first_mut() else {
            return;
        };
        if top.transport == *transport {
            return;
        }
        top.transport = transport.clone();
        top.host = listener.host.clone();
        top.port = listener.port;
        request.headers.set_typed_list(&vias);
    }

    /// Runs one plugin command against the transaction layer.
    pub fn command(
        &mut self,
        now: std::time::Instant,
        layer: &mut TransactionLayer,
        handle: u64,
        out: SipOut,
    ) {
        match out {
            SipOut::Request {
                request,
                destination,
            } => {
                let call_id = call_id_of(&request).unwrap_or_default();
                let method = request.method.clone();
                // An INVITE makes a dialog: requests in it come back to the handle.
                if method == Method::Invite && !call_id.is_empty() {
                    self.calls.insert(call_id.clone(), handle);
                }
                let destination = match destination
                    .map(Locate::Direct)
                    .or_else(|| next_hop(&request))
                {
                    Some(Locate::Direct(d)) => Some(d),
                    Some(Locate::Lookup(lookup)) => {
                        self.unresolved.push((handle, request, lookup));
                        return;
                    }
                    None => None,
                };
                let Some(destination) = destination else {
                    tracing::info!(handle, uri = %request.uri, "SIP request has no resolvable next hop");
                    self.events.push((
                        handle,
                        SipIn::Failed {
                            call_id,
                            method,
                            code: 503,
                        },
                    ));
                    return;
                };
                let mut request = request;
                self.stamp_via(&mut request, &destination.transport);
                match layer.send_request(now, request, destination) {
                    Ok(key) => {
                        self.clients.insert(
                            key,
                            Owned {
                                handle,
                                call_id,
                                method,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::warn!(handle, "plugin SIP request not sent: {e}");
                        self.events.push((
                            handle,
                            SipIn::Failed {
                                call_id,
                                method,
                                code: 503,
                            },
                        ));
                    }
                }
            }
            SipOut::Stateless {
                request,
                destination,
            } => {
                let destination = destination.or_else(|| match next_hop(&request) {
                    Some(Locate::Direct(d)) => Some(d),
                    _ => None,
                });
                if let Some(d) = destination {
                    layer.send_stateless(Message::Request(request), d);
                }
            }
            SipOut::Respond { key, response } => {
                if let Err(e) = layer.respond(now, key, response) {
                    tracing::debug!(handle, "plugin SIP response not sent: {e}");
                }
            }
            SipOut::ClaimCall { call_id } => {
                self.calls.insert(call_id, handle);
            }
            SipOut::ReleaseCall { call_id } => {
                if self.calls.get(&call_id) == Some(&handle) {
                    self.calls.remove(&call_id);
                }
            }
            SipOut::Bind { user } => {
                self.users.insert(user, handle);
            }
            SipOut::Unbind { user } => {
                if self.users.get(&user) == Some(&handle) {
                    self.users.remove(&user);
                }
            }
        }
    }

    /// Takes the transaction events that belong to a plugin handle; gives back the rest.
    /// `ours(uri)`: the Request-URI names this endpoint (not one of the registrar's
    /// domains), so a bound Contact user there means the handle.
    pub fn intercept(
        &mut self,
        event: TransactionEvent,
        ours: impl Fn(&Uri) -> bool,
    ) -> Option<TransactionEvent> {
        match event {
            TransactionEvent::Response { key, response } => match self.clients.get(&key) {
                Some(o) => {
                    self.events.push((o.handle, SipIn::Response(response)));
                    None
                }
                None => Some(TransactionEvent::Response { key, response }),
            },
            TransactionEvent::Timeout(TransactionKey::Client(key))
            | TransactionEvent::TransportError(TransactionKey::Client(key))
                if self.clients.contains_key(&key) =>
            {
                let code = if matches!(event, TransactionEvent::Timeout(_)) {
                    408
                } else {
                    503
                };
                if let Some(o) = self.clients.remove(&key) {
                    self.events.push((
                        o.handle,
                        SipIn::Failed {
                            call_id: o.call_id,
                            method: o.method,
                            code,
                        },
                    ));
                }
                None
            }
            TransactionEvent::Terminated(TransactionKey::Client(key))
                if self.clients.contains_key(&key) =>
            {
                self.clients.remove(&key);
                None
            }
            TransactionEvent::Request {
                key,
                request,
                source,
            } => match self.owner(&request, &ours) {
                Some(handle) => {
                    if request.method == Method::Invite && !request.has_to_tag() {
                        if let Some(id) = call_id_of(&request) {
                            self.calls.insert(id, handle);
                        }
                    }
                    self.events.push((
                        handle,
                        SipIn::Request {
                            key,
                            request,
                            source,
                        },
                    ));
                    None
                }
                None => Some(TransactionEvent::Request {
                    key,
                    request,
                    source,
                }),
            },
            TransactionEvent::Cancel {
                key,
                invite,
                request,
                source,
            } => match self.dialog_owner(&request) {
                Some(handle) => {
                    self.events.push((handle, SipIn::Cancel { key, request }));
                    None
                }
                None => Some(TransactionEvent::Cancel {
                    key,
                    invite,
                    request,
                    source,
                }),
            },
            TransactionEvent::Ack {
                invite,
                request,
                source,
            } => match self.dialog_owner(&request) {
                Some(handle) => {
                    self.events.push((handle, SipIn::Ack { request }));
                    None
                }
                None => Some(TransactionEvent::Ack {
                    invite,
                    request,
                    source,
                }),
            },
            other => Some(other),
        }
    }

    fn dialog_owner(&self, request: &Request) -> Option<u64> {
        call_id_of(request).and_then(|id| self.calls.get(&id).copied())
    }

    /// The handle a request is for: its dialog's, or (out of dialog) the handle whose
    /// Contact user the Request-URI names.
    fn owner(&self, request: &Request, ours: &impl Fn(&Uri) -> bool) -> Option<u64> {
        if let Some(h) = self.dialog_owner(request) {
            return Some(h);
        }
        if request.has_to_tag() || !ours(&request.uri) {
            return None;
        }
        let user = request.uri.as_sip()?.user.as_deref()?;
        self.users.get(user).copied()
    }

    /// Handles, calls and users tracked (for the Admin API and leak tests).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.clients.len(), self.calls.len(), self.users.len())
    }
}

/// What a handle hears when the name its request goes to does not resolve: the request
/// fails as unreachable (RFC 3263 §4.3 leaves it to the UA; 503 as for a transport
/// failure, RFC 3261 §8.1.3.1).
pub fn unresolvable(request: &Request) -> SipIn {
    SipIn::Failed {
        call_id: call_id_of(request).unwrap_or_default(),
        method: request.method.clone(),
        code: 503,
    }
}
