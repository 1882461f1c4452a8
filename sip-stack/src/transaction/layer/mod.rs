//! The endpoint's transaction layer: creates transactions, routes messages to them
//! (§17.1.3, §17.2.3), files their timers and collects what they emit.

mod incoming;
mod settle;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::typed::{CSeq, Via};

use super::entry::{ClientEntry, ClientMachine, ServerEntry, ServerMachine};
use super::error::TransactionError;
use super::event::{
    ClientKey, Destination, ServerKey, TransactionEvent, TransactionKey, TransactionState, Transmit,
};
use super::invite_client::InviteClient;
use super::matching::{self, ClientMatch, MergeKey, ServerMatch};
use super::non_invite_client::NonInviteClient;
use super::timers::Timers;

/// Every transaction of one endpoint. See the [module docs](super) for the driving contract.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    timers: Timers,
    next_id: u64,
    clients: HashMap<ClientKey, ClientEntry>,
    servers: HashMap<ServerKey, ServerEntry>,
    client_index: HashMap<ClientMatch, ClientKey>,
    server_index: HashMap<ServerMatch, ServerKey>,
    merge_index: HashMap<MergeKey, ServerKey>,
    /// Each live transaction's next deadline, earliest first.
    deadlines: BTreeSet<(Instant, TransactionKey)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransactionEvent>,
}

impl TransactionLayer {
    pub fn new(timers: Timers) -> TransactionLayer {
        TransactionLayer {
            timers,
            ..TransactionLayer::default()
        }
    }

    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Starts a client transaction and sends `request` (§17.1). The request must carry its
    /// top Via; when that Via has no branch, a fresh RFC 3261 branch is set.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: Destination,
    ) -> Result<ClientKey, TransactionError> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        let cseq = matching::cseq(request.headers.typed::<CSeq>()?)?;
        if cseq.method != request.method {
            return Err(TransactionError::CSeqMethodMismatch);
        }
        let mut vias = request.headers.typed_all::<Via>()?;
        let branch = match matching::top_via(vias.first().cloned())?.branch() {
            Some(b) if !b.is_empty() => b.to_owned(),
            _ => {
                let b = matching::new_branch();
                vias[0].params.set("branch", Some(&b));
                request.headers.set_typed_list(&vias);
                b
            }
        };
        let matching = ClientMatch {
            branch,
            method: request.method.clone(),
        };
        if self.client_index.contains_key(&matching) {
            return Err(TransactionError::DuplicateBranch);
        }
        let key = ClientKey(self.fresh_id());
        let reliable = destination.is_reliable();
        let mut out = Vec::new();
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(InviteClient::start(
                now,
                request,
                reliable,
                self.timers,
                &mut out,
            ))
        } else {
            ClientMachine::NonInvite(NonInviteClient::start(
                now,
                request,
                reliable,
                self.timers,
                &mut out,
            ))
        };
        self.client_index.insert(matching.clone(), key);
        self.clients.insert(
            key,
            ClientEntry {
                machine,
                destination,
                matching,
                deadline: None,
            },
        );
        self.settle_client(key, out);
        Ok(key)
    }

    /// The Via branch of client transaction `key` (the one generated when the request had
    /// none), while the transaction lives.
    pub fn client_branch(&self, key: ClientKey) -> Option<String> {
        self.clients.get(&key).map(|e| e.matching.branch.clone())
    }

    /// Sends a response on server transaction `key` (§17.2.1, §17.2.2).
    pub fn respond(
        &mut self,
        now: Instant,
        key: ServerKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        if !(100..=699).contains(&response.status) {
            return Err(TransactionError::BadStatus(response.status));
        }
        let entry = self
            .servers
            .get_mut(&key)
            .ok_or(TransactionError::UnknownTransaction)?;
        let mut out = Vec::new();
        match &mut entry.machine {
            ServerMachine::Invite(t) => t.respond(now, response, &mut out)?,
            ServerMachine::NonInvite(t) => t.respond(now, response, &mut out)?,
        }
        self.settle_server(key, out);
        Ok(())
    }

    /// Queues a message outside any transaction: the ACK for a 2xx (§13.2.2.4), a stateless
    /// response, a stateless proxy's forward.
    pub fn send_stateless(&mut self, message: Message, destination: Destination) {
        self.transmits.push_back(Transmit {
            key: None,
            destination,
            message,
        });
    }

    /// A message from the network, parsed and validated ([`Message::validate`]). An error
    /// means the message names no transaction (no Via, no CSeq…) and was dropped.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: Message,
        source: Destination,
    ) -> Result<(), TransactionError> {
        match message {
            Message::Response(r) => self.handle_response(now, r, source),
            Message::Request(r) => self.handle_request(now, r, source),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.deadlines.first() {
            if at > now {
                break;
            }
            let mut out = Vec::new();
            match key {
                TransactionKey::Client(k) => {
                    if let Some(e) = self.clients.get_mut(&k) {
                        e.machine.handle_timeout(now, &mut out);
                    }
                    self.settle_client(k, out);
                }
                TransactionKey::Server(k) => {
                    if let Some(e) = self.servers.get_mut(&k) {
                        e.machine.handle_timeout(now, &mut out);
                    }
                    self.settle_server(k, out);
                }
            }
            // Every firing moves the deadline past `now` or ends the transaction; a deadline
            // still filed here unchanged would spin, so drop it.
            if self.deadlines.first() == Some(&(at, key)) {
                self.deadlines.remove(&(at, key));
            }
        }
    }

    /// The driver could not send for transaction `key`: it fails and ends (§17.1.4,
    /// §17.2.4).
    pub fn handle_transport_error(&mut self, key: TransactionKey) -> Result<(), TransactionError> {
        match key {
            TransactionKey::Client(k) => self
                .clients
                .get_mut(&k)
                .ok_or(TransactionError::UnknownTransaction)?
                .machine
                .terminate(),
            TransactionKey::Server(k) => self
                .servers
                .get_mut(&k)
                .ok_or(TransactionError::UnknownTransaction)?
                .machine
                .terminate(),
        }
        self.events.push_back(TransactionEvent::TransportError(key));
        match key {
            TransactionKey::Client(k) => self.settle_client(k, Vec::new()),
            TransactionKey::Server(k) => self.settle_server(k, Vec::new()),
        }
        Ok(())
    }

    /// The next message to put on the wire.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] must be called next.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// The state of a live transaction; `None` once it has terminated.
    pub fn state(&self, key: impl Into<TransactionKey>) -> Option<TransactionState> {
        match key.into() {
            TransactionKey::Client(k) => self.clients.get(&k).map(|e| e.machine.state()),
            TransactionKey::Server(k) => self.servers.get(&k).map(|e| e.machine.state()),
        }
    }

    /// How many transactions are alive.
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}
