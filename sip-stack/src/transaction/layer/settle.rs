//! After each step of a transaction: its outputs become transmits and events, its deadline
//! is refiled, and a terminated transaction leaves every index.

use std::collections::BTreeSet;
use std::time::Instant;

use super::TransactionLayer;
use crate::transaction::event::{
    ClientKey, ServerKey, TransactionEvent, TransactionKey, TransactionState, Transmit,
};
use crate::transaction::output::Output;

impl TransactionLayer {
    /// Turns a client transaction's outputs into transmits and events, then refiles its
    /// deadline or removes it when it has terminated.
    pub(super) fn settle_client(&mut self, key: ClientKey, out: Vec<Output>) {
        let Some(entry) = self.clients.get_mut(&key) else {
            return;
        };
        let tkey = TransactionKey::Client(key);
        for o in out {
            match o {
                Output::Transmit(message) => self.transmits.push_back(Transmit {
                    key: Some(tkey),
                    destination: entry.destination.clone(),
                    message,
                }),
                Output::Response(response) => self
                    .events
                    .push_back(TransactionEvent::Response { key, response }),
                Output::Timeout => self.events.push_back(TransactionEvent::Timeout(tkey)),
                // Client transactions receive no ACK.
                Output::Ack(_) => {}
            }
        }
        let next = entry.machine.next_timeout();
        let old = std::mem::replace(&mut entry.deadline, next);
        let terminated = entry.machine.state() == TransactionState::Terminated;
        refile(&mut self.deadlines, tkey, old, next);
        if terminated {
            if let Some(entry) = self.clients.remove(&key) {
                self.client_index.remove(&entry.matching);
                if let Some(at) = entry.deadline {
                    self.deadlines.remove(&(at, tkey));
                }
            }
            self.events.push_back(TransactionEvent::Terminated(tkey));
        }
    }

    /// The server-side twin of [`Self::settle_client`].
    pub(super) fn settle_server(&mut self, key: ServerKey, out: Vec<Output>) {
        let Some(entry) = self.servers.get_mut(&key) else {
            return;
        };
        let tkey = TransactionKey::Server(key);
        for o in out {
            match o {
                Output::Transmit(message) => self.transmits.push_back(Transmit {
                    key: Some(tkey),
                    destination: entry.source.clone(),
                    message,
                }),
                Output::Ack(request) => self.events.push_back(TransactionEvent::Ack {
                    invite: Some(key),
                    request,
                    source: entry.source.clone(),
                }),
                Output::Timeout => self.events.push_back(TransactionEvent::Timeout(tkey)),
                // Server transactions receive no responses.
                Output::Response(_) => {}
            }
        }
        let next = entry.machine.next_timeout();
        let old = std::mem::replace(&mut entry.deadline, next);
        let terminated = entry.machine.state() == TransactionState::Terminated;
        refile(&mut self.deadlines, tkey, old, next);
        if terminated {
            if let Some(entry) = self.servers.remove(&key) {
                self.server_index.remove(&entry.matching);
                if let Some(m) = &entry.merge {
                    if self.merge_index.get(m) == Some(&key) {
                        self.merge_index.remove(m);
                    }
                }
                if let Some(at) = entry.deadline {
                    self.deadlines.remove(&(at, tkey));
                }
            }
            self.events.push_back(TransactionEvent::Terminated(tkey));
        }
    }
}

fn refile(
    deadlines: &mut BTreeSet<(Instant, TransactionKey)>,
    key: TransactionKey,
    old: Option<Instant>,
    new: Option<Instant>,
) {
    if old == new {
        return;
    }
    if let Some(at) = old {
        deadlines.remove(&(at, key));
    }
    if let Some(at) = new {
        deadlines.insert((at, key));
    }
}
