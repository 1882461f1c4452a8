//! Dialogs (RFC 3261 §12), sans-IO.
//!
//! A [`Dialog`] is the peer-to-peer relationship an INVITE sets up: its [`DialogId`]
//! (Call-ID, local tag, remote tag), the route set learnt from Record-Route, the remote
//! target learnt from Contact, both CSeq counters and the secure flag.
//!
//! - Created by a UAC from a 1xx with a To tag (early) or a 2xx (confirmed) with
//!   [`Dialog::uac`]; a forked INVITE may create several early dialogs, kept apart by remote
//!   tag in a [`DialogSet`] (§12.1.2, §13.2.2.4).
//! - Created by a UAS from the INVITE it answers with [`Dialog::uas`] (§12.1.1).
//! - [`Dialog::handle_request`] checks an incoming request (CSeq order, target refresh,
//!   BYE); [`Dialog::handle_response`] reads a response to a request we sent in it.
//! - [`Dialog::make_request`] builds in-dialog requests (§12.2.1.1, loose and strict
//!   routing), [`Dialog::make_ack`] the ACK for a 2xx (§13.2.2.4).
//!
//! A dialog owns no transaction: requests it builds go through the
//! [`crate::transaction::TransactionLayer`] (the ACK for a 2xx with `send_stateless`).

mod create;
mod error;
mod id;
mod incoming;
mod outgoing;
mod set;
mod token;

pub use error::DialogError;
pub use id::DialogId;
pub use set::DialogSet;
pub use token::{new_branch, new_call_id, new_tag};

use crate::typed::{NameAddr, Via};
use crate::uri::Uri;

/// Which side of the dialog-creating INVITE we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Uac,
    Uas,
}

/// Why a dialog ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Termination {
    /// We sent BYE (§15.1.1).
    LocalBye,
    /// The peer sent BYE (§15.1.2).
    RemoteBye,
    /// A final response ended it: a non-2xx to the INVITE ends every early dialog
    /// (§12.3), a 481 or 408 to an in-dialog request ends the dialog (§12.2.1.2).
    Final(u16),
    /// Another early dialog of the same INVITE was confirmed (§13.2.2.4).
    Superseded,
    /// No ACK for our 2xx (§13.3.1.4), or the caller gave up.
    Abandoned,
}

/// Where the dialog stands (§12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    Terminated(Termination),
}

/// One dialog. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    /// Our address of record (From of our requests), without tag.
    local_uri: NameAddr,
    /// The peer's address of record (To of our requests), without tag.
    remote_uri: NameAddr,
    /// Our Contact, sent in target refresh requests.
    local_contact: NameAddr,
    /// The peer's Contact URI: the Request-URI of our in-dialog requests.
    remote_target: Uri,
    /// Record-Route values in the order our requests must visit them.
    route_set: Vec<NameAddr>,
    /// `None` until we send a request in a dialog we did not create (UAS, §12.1.1).
    local_seq: Option<u32>,
    /// `None` until the peer sends a request in a dialog it did not create (UAC, §12.1.2).
    remote_seq: Option<u32>,
    /// Set when the dialog-creating request went over TLS to a SIPS URI (§12.1.1, §12.1.2).
    secure: bool,
    /// Our top Via, without branch: each request gets a fresh one.
    via: Via,
}

impl Dialog {
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn state(&self) -> &DialogState {
        &self.state
    }

    pub fn is_early(&self) -> bool {
        self.state == DialogState::Early
    }

    pub fn is_confirmed(&self) -> bool {
        self.state == DialogState::Confirmed
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, DialogState::Terminated(_))
    }

    pub fn local_uri(&self) -> &NameAddr {
        &self.local_uri
    }

    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote_uri
    }

    pub fn local_contact(&self) -> &NameAddr {
        &self.local_contact
    }

    /// Changes the Contact sent in our next target refresh requests (a new address after a
    /// network change: the peer learns it from the re-INVITE, §12.2.1.1).
    pub fn set_local_contact(&mut self, contact: NameAddr) {
        self.local_contact = contact;
    }

    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// A 2xx was sent or received for the dialog-creating INVITE.
    pub fn confirm(&mut self) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
    }

    pub fn terminate(&mut self, why: Termination) {
        if !self.is_terminated() {
            self.state = DialogState::Terminated(why);
        }
    }
}
