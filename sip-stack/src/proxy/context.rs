//! The proxy's state for one request: its branches and its response context (RFC 3261
//! §16.6, §16.7).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::message::Request;
use crate::transaction::{ClientKey, Destination, ServerKey};
use crate::typed::Transport;

use super::response::Final;
use super::target::TargetGroup;

/// Where the search for a final response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No final response sent; further target groups may still be tried.
    Searching,
    /// A 6xx arrived or the UAC cancelled: no new branches, and the best response goes up
    /// once every branch has ended (§16.7 step 5, §16.10).
    Winding,
    /// A 2xx went upstream: only further 2xx follow (§16.7 step 5).
    Accepted,
    /// A final non-2xx response went upstream.
    Answered,
}

/// One client transaction of the context.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub request: Request,
    pub destination: Destination,
    pub state: BranchState,
    /// When the branch is abandoned if still [`BranchState::Trying`].
    pub no_answer: Option<Instant>,
}

/// A branch's progress. `timer_c` runs for INVITE branches only (§16.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchState {
    /// Sent, nothing heard. `cancel`: send a CANCEL once a provisional arrives (§9.1).
    Trying {
        timer_c: Option<Instant>,
        cancel: bool,
    },
    /// A provisional response arrived.
    Proceeding { timer_c: Option<Instant> },
    /// A CANCEL is out; waiting for the final response (normally 487).
    Cancelling { timer_c: Option<Instant> },
    /// A final response arrived, or the proxy acted as if one had (§16.8).
    Done,
    /// Given up for not answering in time ([`super::Target::no_answer`]): counted as a 408;
    /// a provisional that still comes gets a CANCEL, a final is dropped (a 2xx still goes
    /// upstream, as every 2xx must).
    Abandoned,
}

impl BranchState {
    pub fn is_pending(&self) -> bool {
        !matches!(self, BranchState::Done | BranchState::Abandoned)
    }

    pub fn timer_c(&self) -> Option<Instant> {
        match *self {
            BranchState::Trying { timer_c, .. }
            | BranchState::Proceeding { timer_c }
            | BranchState::Cancelling { timer_c } => timer_c,
            BranchState::Done | BranchState::Abandoned => None,
        }
    }
}

/// A forwarded request: the server transaction it came on and its client transactions.
#[derive(Debug)]
pub(crate) struct Context {
    /// The request after §16.4, before any per-target change.
    pub request: Request,
    /// The §16.6 step 8 hash of the request as received.
    pub hash: String,
    /// The transport the request arrived on: the side of the previous hop (RFC 5658).
    pub incoming: Transport,
    /// Copies made so far (each copy's branch ends with its number).
    pub copies: usize,
    /// Groups not tried yet (serial forking).
    pub groups: VecDeque<TargetGroup>,
    pub branches: BTreeMap<ClientKey, Branch>,
    pub finals: Vec<Final>,
    pub phase: Phase,
    /// The server transaction has terminated.
    pub server_gone: bool,
    /// 3xx responses recursed on so far, and the Request-URIs tried (no target twice).
    pub recursions: u8,
    pub tried: Vec<crate::uri::Uri>,
    pub failover: super::Failover,
}

impl Context {
    pub fn has_pending(&self) -> bool {
        self.branches.values().any(|b| b.state.is_pending())
    }

    /// Whether the context can be dropped: nothing can arrive for it any more.
    pub fn is_finished(&self) -> bool {
        self.server_gone && self.branches.is_empty()
    }
}

/// Which context a client transaction belongs to, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owned {
    Branch(ServerKey),
    /// A CANCEL the proxy sent for a branch (§16.10, §16.8).
    Cancel,
}
