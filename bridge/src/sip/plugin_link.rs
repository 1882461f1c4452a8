//! The SIP plugin's way through the shared endpoint: which handle owns which client
//! transaction, Call-ID (dialog) and Contact user, so responses and requests reach the
//! handle's user agent, and everything else (registrar, proxy) stays as it is.
//!
//! A handle registered with Cardea's own registrar sends its requests to Cardea's own
//! listener, and the proxy forks calls for it back to that listener: such requests pass
//! through the endpoint twice, and both passes share a Call-ID. So a request is the handle's
//! only when it is not the handle's own request coming back in (its Via branch is one the
//! handle sent: that pass is the proxy's), and within a Call-ID the To tag (the receiver's
//! local tag) or the INVITE server transaction a CANCEL or ACK matches tells which handle,
//! when two handles talk through the proxy.

use std::collections::{HashMap, HashSet, VecDeque};

use cardea_plugins::{SipIn, SipOut};
use cardea_sip::locate::{locate, Locate, Lookup};
use cardea_sip::transaction::{
    ClientKey, ServerKey, TransactionEvent, TransactionKey, TransactionLayer,
};
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
    /// (Call-ID, the handle's own tag) → handle: tells two handles in one call apart.
    tags: HashMap<(String, String), u64>,
    /// INVITE server transactions handed to a handle (a CANCEL or a non-2xx ACK matching
    /// one is that handle's; matching another is the proxy's).
    server_invites: HashMap<ServerKey, u64>,
    /// Via branches of the requests handles sent lately, oldest first: one of them coming
    /// in again is a handle's request through our own proxy, not a request for a handle.
    sent_branches: HashSet<String>,
    sent_order: VecDeque<String>,
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

/// Branches remembered: requests a handle sends within a few minutes at any call rate a
/// single endpoint sees come back well before they are forgotten.
const SENT_BRANCHES: usize = 65_536;

fn top_branch(request: &Request) -> Option<String> {
    request
        .headers
        .typed::<Via>()
        .ok()
        .flatten()
        .and_then(|v| v.branch().map(str::to_owned))
}

fn tag_of(request: &Request, to: bool) -> Option<String> {
    if to {
        request
            .headers
            .typed::<cardea_sip::typed::To>()
            .ok()
            .flatten()
            .and_then(|t| t.tag().map(str::to_owned))
    } else {
        request
            .headers
            .typed::<cardea_sip::typed::From>()
            .ok()
            .flatten()
            .and_then(|f| f.tag().map(str::to_owned))
    }
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
                // An INVITE (or a SUBSCRIBE) makes a dialog: requests in it come back to the
                // handle.
                let dialog = matches!(method, Method::Invite | Method::Subscribe);
                if dialog && !call_id.is_empty() {
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
                if dialog && !request.has_to_tag() {
                    if let Some(tag) = tag_of(&request, false) {
                        self.tags.insert((call_id.clone(), tag), handle);
                    }
                }
                match layer.send_request(now, request, destination) {
                    Ok(key) => {
                        if let Some(branch) = layer.client_branch(key) {
                            self.remember_branch(branch);
                        }
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
                    if let Some(branch) = top_branch(&request) {
                        self.remember_branch(branch);
                    }
                    layer.send_stateless(Message::Request(request), d);
                }
            }
            SipOut::Respond { key, response } => {
                // The handle's tag in its answers to a request that made a dialog.
                let invite = response
                    .headers
                    .typed::<cardea_sip::typed::CSeq>()
                    .ok()
                    .flatten()
                    .is_some_and(|c| c.method == Method::Invite);
                if invite && response.status > 100 {
                    let to_tag = response
                        .headers
                        .typed::<cardea_sip::typed::To>()
                        .ok()
                        .flatten()
                        .and_then(|t| t.tag().map(str::to_owned));
                    if let (Some(tag), Some(call_id)) = (
                        to_tag,
                        response
                            .headers
                            .typed::<cardea_sip::typed::CallId>()
                            .ok()
                            .flatten()
                            .map(|c| c.0),
                    ) {
                        self.tags.entry((call_id, tag)).or_insert(handle);
                    }
                }
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
                self.tags
                    .retain(|(c, _), h| !(*c == call_id && *h == handle));
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
            TransactionEvent::Terminated(TransactionKey::Server(key))
                if self.server_invites.contains_key(&key) =>
            {
                self.server_invites.remove(&key);
                Some(TransactionEvent::Terminated(TransactionKey::Server(key)))
            }
            // A handle's own request coming back in through our listener: the proxy's.
            TransactionEvent::Request { ref request, .. }
            | TransactionEvent::Merged { ref request, .. }
            | TransactionEvent::Cancel { ref request, .. }
            | TransactionEvent::Ack { ref request, .. }
                if self.is_own(request) =>
            {
                Some(event)
            }
            // A fork of our proxy coming back to a handle: the same From tag, Call-ID and
            // CSeq as the proxy's own server transaction, so the layer calls it merged
            // (§8.2.2.2); for the handle it is a new request.
            TransactionEvent::Merged {
                key,
                request,
                source,
                ..
            } if self.owner(&request, &ours).is_some() => self.intercept(
                TransactionEvent::Request {
                    key,
                    request,
                    source,
                },
                ours,
            ),
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
                        self.server_invites.insert(key, handle);
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
            } => match self.matched_owner(invite, &request) {
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
            } => match self.matched_owner(invite, &request) {
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

    fn remember_branch(&mut self, branch: String) {
        if self.sent_order.len() == SENT_BRANCHES {
            if let Some(old) = self.sent_order.pop_front() {
                self.sent_branches.remove(&old);
            }
        }
        if self.sent_branches.insert(branch.clone()) {
            self.sent_order.push_back(branch);
        }
    }

    /// A request a handle sent, back in through our own listener.
    fn is_own(&self, request: &Request) -> bool {
        !self.sent_branches.is_empty()
            && top_branch(request).is_some_and(|b| self.sent_branches.contains(&b))
    }

    /// The handle of the dialog a request is in: by the receiver's tag (To) when one
    /// handle has it, else by Call-ID.
    fn dialog_owner(&self, request: &Request) -> Option<u64> {
        let call_id = call_id_of(request)?;
        if let Some(tag) = tag_of(request, true) {
            if let Some(h) = self.tags.get(&(call_id.clone(), tag)) {
                return Some(*h);
            }
        }
        self.calls.get(&call_id).copied()
    }

    /// A CANCEL's or ACK's handle: the one whose INVITE server transaction it matches;
    /// one that matches another transaction (the proxy's) is not a handle's; one that
    /// matches none goes by its dialog.
    fn matched_owner(&self, invite: Option<ServerKey>, request: &Request) -> Option<u64> {
        match invite {
            Some(key) => self.server_invites.get(&key).copied(),
            None => self.dialog_owner(request),
        }
    }

    /// The handle a request is for: out of dialog, the handle whose Contact user the
    /// Request-URI names (even when another handle already has the Call-ID: the caller of
    /// a call between two handles); else its dialog's.
    fn owner(&self, request: &Request, ours: &impl Fn(&Uri) -> bool) -> Option<u64> {
        if !request.has_to_tag() && ours(&request.uri) {
            let bound = request
                .uri
                .as_sip()
                .and_then(|u| u.user.as_deref())
                .and_then(|user| self.users.get(user).copied());
            if bound.is_some() {
                return bound;
            }
        }
        self.dialog_owner(request)
    }

    /// Handles, calls and users tracked (for the Admin API and leak tests).
    /// Hands an INVITE the dialplan routed to AudioBridge room `room` to a new handle of
    /// its own (the core attaches it to the AudioBridge); the handle owns the call from now
    /// on (CANCEL, ACK, BYE). Returns the handle id.
    pub fn dial_in(
        &mut self,
        room: u64,
        key: ServerKey,
        request: Request,
        source: cardea_sip::transaction::Destination,
    ) -> u64 {
        // A random id a JavaScript number holds, as Janus's handle ids.
        let handle = loop {
            let id = rand::random::<u64>() & ((1 << 53) - 1);
            if id != 0 && !self.calls.values().any(|h| *h == id) {
                break id;
            }
        };
        if let Some(id) = call_id_of(&request) {
            self.calls.insert(id, handle);
        }
        self.server_invites.insert(key, handle);
        self.events.push((
            handle,
            SipIn::DialIn {
                room,
                key,
                request,
                source,
            },
        ));
        handle
    }

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
