//! What an [`super::InviteSession`] hands out: messages to send and events for the caller.

use bytes::Bytes;

use crate::message::{Request, Response};
use crate::transaction::ServerKey;

/// A message for the transaction layer.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// Start a client transaction: `TransactionLayer::send_request`.
    Request(Request),
    /// Send outside any transaction (the ACK for a 2xx, §13.2.2.4):
    /// `TransactionLayer::send_stateless`.
    Stateless(Request),
    /// Answer server transaction `key`: `TransactionLayer::respond`.
    Response { key: ServerKey, response: Response },
}

/// What the caller (the SIP plugin) must hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// 180 (or 181/182) arrived.
    Ringing,
    /// 183 Session Progress, with early media SDP when it carried a body.
    Progress { sdp: Option<Bytes> },
    /// Our INVITE was answered with a 2xx: the dialog is confirmed and ACKed.
    Answered { sdp: Bytes },
    /// Our INVITE got a final error (its real code), or no answer (408). Ends the session.
    Failed { code: u16, reason: String },
    /// The session ended: BYE (either way), CANCEL, or our rejection.
    Terminated {
        by_remote: bool,
        code: u16,
        reason: String,
    },
    /// The peer sent a re-INVITE (hold, unhold, new media): answer it with
    /// [`super::InviteSession::accept_reinvite`] or reject it.
    ReInvite { sdp: Bytes },
    /// Our re-INVITE was accepted (and ACKed).
    ReInviteAnswered { sdp: Bytes },
    /// Our re-INVITE was refused; the session goes on unchanged (RFC 3261 §14.1).
    ReInviteFailed { code: u16, reason: String },
    /// INFO in the dialog (RFC 6086), already answered 200.
    Info {
        content_type: Option<String>,
        body: Bytes,
    },
    /// MESSAGE in the dialog (RFC 3428), already answered 200.
    Message {
        content_type: Option<String>,
        body: Bytes,
    },
    /// REFER in the dialog (RFC 3515), already answered 202 Accepted: the peer asks us to
    /// call `refer_to` (blind transfer; attended when it carries `Replaces`, RFC 3891).
    Refer {
        refer_to: String,
        referred_by: Option<String>,
    },
    /// NOTIFY in the dialog (RFC 6665; for a REFER of ours, `message/sipfrag` progress, RFC
    /// 3515 §2.4.5), already answered 200.
    Notify {
        event: Option<String>,
        subscription_state: Option<String>,
        content_type: Option<String>,
        body: Bytes,
    },
}
