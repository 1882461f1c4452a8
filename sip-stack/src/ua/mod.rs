//! User-agent pieces (RFC 3261 §8, §10, §13–§15), sans-IO, for the SIP plugin:
//!
//! - [`Registration`]: a REGISTER client (§10.2) with digest retries, refresh before
//!   expiry and unregistration.
//! - [`InviteSession`]: one call, as UAC or UAS (§13–§15): INVITE with SDP, digest retry,
//!   CANCEL, ACK, BYE, re-INVITE both ways, INFO and MESSAGE in the dialog.
//!
//! Neither owns a transaction. The driver sends what they produce through a
//! [`crate::transaction::TransactionLayer`] and hands them what the layer reports:
//!
//! - requests from `poll_request` / [`Outgoing::Request`] go to `send_request`,
//!   [`Outgoing::Stateless`] (the ACK for a 2xx) to `send_stateless`, and
//!   [`Outgoing::Response`] to `respond`;
//! - `TransactionEvent::Response` goes to `handle_response`, `Request` and `Cancel` to
//!   [`InviteSession::handle_request`], `Ack` to [`InviteSession::handle_ack`], and a
//!   `Timeout` / `TransportError` of one of their requests to `handle_failure`;
//! - after any input drain `poll_*`, then call `handle_timeout` at `next_timeout`.

mod error;
mod invite;
mod local;
mod registration;

pub use error::UaError;
pub use invite::{AnswerConfig, CallConfig, InviteSession, Outgoing, SessionEvent, SessionState};
pub use local::{unsupported_requirements, Local, UAS_OPTIONS};
pub use registration::{Registration, RegistrationConfig, RegistrationEvent, RegistrationState};
