//! The transaction layer (RFC 3261 §17, with the RFC 6026 corrections), sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction of an endpoint. It is driven
//! by three inputs, each taking the current time:
//!
//! - [`TransactionLayer::send_request`] starts a client transaction,
//!   [`TransactionLayer::respond`] answers a server transaction;
//! - [`TransactionLayer::handle_message`] takes a parsed message from the network;
//! - [`TransactionLayer::handle_timeout`] fires the timers that are due.
//!
//! After any input, drain [`TransactionLayer::poll_transmit`] (messages to put on the wire)
//! and [`TransactionLayer::poll_event`] (what the transaction user must know), then sleep
//! until [`TransactionLayer::next_timeout`].
//!
//! Retransmission timers (A, E, G) run only on unreliable transports, and the wait timers
//! D, I, J, K are zero on reliable ones (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).

mod cancel;
mod entry;
mod error;
mod event;
mod invite_client;
mod invite_server;
mod layer;
mod matching;
mod non_invite_client;
mod non_invite_server;
mod output;
mod timers;

pub use error::TransactionError;
pub use event::{
    ClientKey, Destination, ServerKey, TransactionEvent, TransactionKey, TransactionState, Transmit,
};
pub use layer::TransactionLayer;
pub use timers::Timers;
