//! What one transaction asks of the layer after an input.

use crate::message::{Message, Request, Response};

/// One effect of a state machine step; the layer adds the key and the destination.
#[derive(Debug)]
pub(crate) enum Output {
    /// Put this on the wire, to the transaction's peer.
    Transmit(Message),
    /// A response for the TU (client transactions).
    Response(Response),
    /// An ACK for the TU (INVITE server in Accepted, RFC 6026 §7.1).
    Ack(Request),
    /// The transaction failed for lack of an answer (timers B, F, H).
    Timeout,
}
