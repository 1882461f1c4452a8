//! One live transaction as the layer stores it: the state machine, its peer, the keys it is
//! indexed under and the deadline it is filed at.

use std::time::Instant;

use super::event::{Destination, TransactionState};
use super::invite_client::InviteClient;
use super::invite_server::InviteServer;
use super::matching::{ClientMatch, MergeKey, ServerMatch};
use super::non_invite_client::NonInviteClient;
use super::non_invite_server::NonInviteServer;
use super::output::Output;

#[derive(Debug)]
pub(crate) enum ClientMachine {
    Invite(InviteClient),
    NonInvite(NonInviteClient),
}

#[derive(Debug)]
pub(crate) enum ServerMachine {
    Invite(InviteServer),
    NonInvite(NonInviteServer),
}

#[derive(Debug)]
pub(crate) struct ClientEntry {
    pub machine: ClientMachine,
    pub destination: Destination,
    pub matching: ClientMatch,
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct ServerEntry {
    pub machine: ServerMachine,
    /// Where the request came from; responses go back there (§18.2.2: the driver applies
    /// `received`/`rport` rules and connection reuse).
    pub source: Destination,
    pub matching: ServerMatch,
    pub merge: Option<MergeKey>,
    pub deadline: Option<Instant>,
}

impl ClientMachine {
    pub fn state(&self) -> TransactionState {
        match self {
            ClientMachine::Invite(t) => t.state(),
            ClientMachine::NonInvite(t) => t.state(),
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match self {
            ClientMachine::Invite(t) => t.next_timeout(),
            ClientMachine::NonInvite(t) => t.next_timeout(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        match self {
            ClientMachine::Invite(t) => t.handle_timeout(now, out),
            ClientMachine::NonInvite(t) => t.handle_timeout(now, out),
        }
    }

    pub fn terminate(&mut self) {
        match self {
            ClientMachine::Invite(t) => t.terminate(),
            ClientMachine::NonInvite(t) => t.terminate(),
        }
    }
}

impl ServerMachine {
    pub fn state(&self) -> TransactionState {
        match self {
            ServerMachine::Invite(t) => t.state(),
            ServerMachine::NonInvite(t) => t.state(),
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match self {
            ServerMachine::Invite(t) => t.next_timeout(),
            ServerMachine::NonInvite(t) => t.next_timeout(),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        match self {
            ServerMachine::Invite(t) => t.handle_timeout(now, out),
            ServerMachine::NonInvite(t) => t.handle_timeout(now),
        }
    }

    pub fn terminate(&mut self) {
        match self {
            ServerMachine::Invite(t) => t.terminate(),
            ServerMachine::NonInvite(t) => t.terminate(),
        }
    }
}
