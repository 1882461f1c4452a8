//! The proxy core (RFC 3261 §16), stateful and sans-IO, on top of the
//! [`TransactionLayer`].
//!
//! The proxy validates requests (§16.3), preprocesses their route information (§16.4),
//! forwards copies to the targets the core chose (§16.6, parallel and serial forking),
//! picks and forwards responses (§16.7), runs Timer C (§16.8) and handles CANCEL (§16.10).
//! The routing decision itself (the target set, §16.5) comes from outside.
//!
//! # Driving contract
//!
//! The proxy shares the [`TransactionLayer`] with the rest of the endpoint and is handed
//! `&mut` to it on each call:
//!
//! 1. after feeding the layer, pass every [`TransactionLayer::poll_event`] to
//!    [`Proxy::handle_event`];
//! 2. drain [`Proxy::poll_event`]: a [`ProxyEvent::Request`] needs a decision —
//!    [`Proxy::forward`] with the targets, or an answer on its server transaction
//!    ([`TransactionLayer::respond`]); [`ProxyEvent::Other`] is a transaction event that is
//!    not the proxy's (the core's own UA transactions);
//! 3. loop while the layer has events, then drain [`TransactionLayer::poll_transmit`];
//! 4. sleep until the earlier of [`TransactionLayer::next_timeout`] and
//!    [`Proxy::next_timeout`], then call both `handle_timeout`s.
//!
//! In-dialog requests whose next hop is an IP-literal Route value, and the ACK for a 2xx,
//! are forwarded along their Route set without asking the core (§16.4, §16.11 for ACK).

mod branch;
mod config;
mod context;
mod error;
mod forward;
mod process;
mod response;
mod route;
mod stateless;
mod target;
mod validate;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use crate::message::Request;
use crate::transaction::{
    ClientKey, Destination, ServerKey, TransactionEvent, TransactionKey, TransactionLayer,
};
use crate::typed::Transport;

pub use config::{ProxyConfig, TIMER_C};
pub use error::ProxyError;
pub use forward::consume_credentials;
pub use target::{destination_of, Failover, Target, TargetGroup};

use context::{Context, Owned};

/// What the proxy hands to the core.
#[derive(Debug, Clone)]
pub enum ProxyEvent {
    /// A request that passed §16.3 and §16.4 and needs a target set: call
    /// [`Proxy::forward`], or answer it on `key` when it is for this node (`local`: the
    /// Request-URI names the proxy, e.g. a REGISTER for the registrar).
    Request {
        key: ServerKey,
        request: Request,
        source: Destination,
        local: bool,
    },
    /// The final response that went upstream for a forwarded request (the first 2xx, or
    /// the best non-2xx once every branch ended): for call records.
    Final { key: ServerKey, status: u16 },
    /// A transaction event that belongs to no proxy context.
    Other(TransactionEvent),
}

/// The proxy core. See the [module docs](self) for the driving contract.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    /// Requests handed to the core and not forwarded yet, with their §16.6 step 8 hash and
    /// the transport they arrived on.
    pending: HashMap<ServerKey, (Request, String, Transport)>,
    contexts: HashMap<ServerKey, Context>,
    owned: HashMap<ClientKey, Owned>,
    events: VecDeque<ProxyEvent>,
    /// Branch deadlines (Timer C, no-answer), earliest first; an entry may be stale (the
    /// branch answered or moved on) and is then dropped when it comes due.
    deadlines: BinaryHeap<Reverse<(Instant, ServerKey, ClientKey)>>,
}

impl Proxy {
    pub fn new(config: ProxyConfig) -> Proxy {
        Proxy {
            config,
            pending: HashMap::new(),
            contexts: HashMap::new(),
            owned: HashMap::new(),
            events: VecDeque::new(),
            deadlines: BinaryHeap::new(),
        }
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// The request of a [`ProxyEvent::Request`] not forwarded yet, for the core to change
    /// before [`Proxy::forward`] (caller ID, added headers). Its Request-URI is replaced
    /// per target anyway.
    pub fn pending_request_mut(&mut self, key: &ServerKey) -> Option<&mut Request> {
        self.pending.get_mut(key).map(|(r, _, _)| r)
    }

    /// Takes one event of the transaction layer.
    pub fn handle_event(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        event: TransactionEvent,
    ) {
        match event {
            TransactionEvent::Request {
                key,
                request,
                source,
            }
            // §8.2.2.2 merging is a UAS rule; a proxy forwards such a request (§16.3).
            | TransactionEvent::Merged {
                key,
                request,
                source,
                ..
            } => self.on_request(now, layer, key, request, source),
            TransactionEvent::Ack {
                request, source, ..
            } => self.on_ack(layer, request, source),
            TransactionEvent::Cancel {
                key,
                invite: Some(invite),
                request,
                ..
            } if self.contexts.contains_key(&invite) => {
                self.on_cancel(now, layer, key, invite, &request)
            }
            TransactionEvent::Response { key, response } => match self.owned.get(&key) {
                Some(Owned::Branch(server)) => {
                    let server = *server;
                    self.on_response(now, layer, server, key, response)
                }
                Some(Owned::Cancel) => {}
                None => self.other(TransactionEvent::Response { key, response }),
            },
            TransactionEvent::StrayResponse { response, source } => {
                self.on_stray_response(layer, response, source)
            }
            TransactionEvent::Timeout(TransactionKey::Client(key))
            | TransactionEvent::TransportError(TransactionKey::Client(key))
                if self.owned.contains_key(&key) =>
            {
                let status = if matches!(event, TransactionEvent::Timeout(_)) {
                    408
                } else {
                    503
                };
                if let Some(Owned::Branch(server)) = self.owned.get(&key).copied() {
                    self.on_branch_failed(now, layer, server, key, status);
                }
            }
            TransactionEvent::Terminated(TransactionKey::Client(key))
                if self.owned.contains_key(&key) =>
            {
                self.on_client_terminated(now, layer, key)
            }
            TransactionEvent::Terminated(TransactionKey::Server(key))
                if self.contexts.contains_key(&key) || self.pending.contains_key(&key) =>
            {
                self.pending.remove(&key);
                if let Some(ctx) = self.contexts.get_mut(&key) {
                    ctx.server_gone = true;
                    if ctx.is_finished() {
                        self.contexts.remove(&key);
                    }
                }
            }
            other => self.other(other),
        }
    }

    /// The next event for the core.
    pub fn poll_event(&mut self) -> Option<ProxyEvent> {
        self.events.pop_front()
    }

    /// When [`Proxy::handle_timeout`] must be called next (Timer C, no-answer times). May be
    /// early (a deadline that no longer applies): the call then does nothing.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _, _))| *at)
    }

    /// How many requests the proxy is handling (forwarded and not yet finished).
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    fn other(&mut self, event: TransactionEvent) {
        self.events.push_back(ProxyEvent::Other(event));
    }

    /// §16.3, §16.4, then either the Route set decides (in-dialog requests) or the core.
    fn on_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: ServerKey,
        mut request: Request,
        source: Destination,
    ) {
        if let Err(answer) = validate::validate(&self.config, &request) {
            let _ = layer.respond(now, key, answer);
            return;
        }
        // A request that came with a Route set is routed by it (§16.4), not by the core.
        let routed = request
            .headers
            .contains(&crate::header_name::HeaderName::Route);
        let top_via = request.headers.typed::<crate::typed::Via>().ok().flatten();
        let hash = branch::request_hash(&request, top_via.as_ref());
        if route::preprocess(&self.config, &mut request).is_err() {
            let _ = layer.respond(now, key, validate::reply(&request, 400, "Bad Route"));
            return;
        }
        let in_dialog = request
            .headers
            .typed::<crate::typed::To>()
            .ok()
            .flatten()
            .is_some_and(|t| t.tag().is_some());
        let next_hop = route::next_hop(&request).filter(|u| !self.config.is_local(u));
        if in_dialog && routed {
            if let Some(destination) = next_hop.and_then(|u| destination_of(&u)) {
                let fallback = validate::reply(&request, 500, "Server Internal Error");
                let target = Target::new(request.uri.clone(), destination);
                self.pending
                    .insert(key, (request, hash, source.transport.clone()));
                let groups = vec![TargetGroup(vec![target])];
                if self.forward(now, layer, key, groups).is_err() {
                    self.pending.remove(&key);
                    let _ = layer.respond(now, key, fallback);
                }
                return;
            }
        }
        let local = self.config.is_local(&request.uri);
        self.pending
            .insert(key, (request.clone(), hash, source.transport.clone()));
        self.events.push_back(ProxyEvent::Request {
            key,
            request,
            source,
            local,
        });
    }
}
