//! Errors of the transaction layer.

use crate::typed::HeaderError;

/// Why the layer refused a message or a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// The message has no Via; neither side can match or route it (§17.1.3, §17.2.3).
    #[error("message has no Via header")]
    MissingVia,
    #[error("message has no CSeq header")]
    MissingCSeq,
    #[error("message has no Call-ID header")]
    MissingCallId,
    #[error("bad header: {0}")]
    Header(#[from] HeaderError),
    /// ACK is never a client transaction: an ACK for a 2xx is sent by the TU
    /// ([`super::TransactionLayer::send_stateless`]), one for a non-2xx by the INVITE client
    /// transaction itself (§17.1.1.3).
    #[error("ACK does not start a client transaction")]
    AckIsNotATransaction,
    /// The CSeq method differs from the request method (§8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    /// A client transaction with this branch and method exists already (§17.1.3).
    #[error("a client transaction with this branch and method exists")]
    DuplicateBranch,
    /// The key names no live transaction (it terminated, or never existed).
    #[error("no such transaction")]
    UnknownTransaction,
    /// The response's status is outside 100..=699.
    #[error("status {0} is not a response status")]
    BadStatus(u16),
    /// The transaction's state does not accept this response from the TU (e.g. a final
    /// response after a non-2xx final response, §17.2.1).
    #[error("the transaction cannot send a {status} response in state {state:?}")]
    InvalidState {
        status: u16,
        state: super::TransactionState,
    },
}
