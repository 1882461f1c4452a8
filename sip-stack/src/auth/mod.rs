//! Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760; RFC 2617 for the
//! legacy form without qop), client and server, sans-IO.
//!
//! - [`ClientAuth`]: answers 401/407 challenges for a UA and reports a refused answer with
//!   the server's final code.
//! - [`Authenticator`]: challenges requests with stateless, HMAC-sealed, expiring nonces and
//!   checks credentials against a [`CredentialStore`] holding HA1 values
//!   ([`MemoryCredentials`] in memory); counts failures per source address.
//! - [`DigestChallenge`], [`DigestCredentials`], [`compute_response`]: the header values and
//!   the computation underneath, for tests and other callers.

mod algorithm;
mod challenge;
mod client;
mod credentials;
mod digest;
mod error;
mod failures;
mod nonce;
mod server;
mod store;

pub use algorithm::{Algorithm, HashFn};
pub use challenge::DigestChallenge;
pub use client::{AuthStep, ClientAuth, ClientAuthState, ClientCredentials, FailReason, Secret};
pub use credentials::{DigestCredentials, QopAnswer};
pub use digest::{compute_response, responses_match, DigestInput, Ha1, Qop};
pub use error::DigestError;
pub use failures::FailedAttempts;
pub use server::{Authenticated, Authenticator, AuthenticatorConfig, ChallengeKind, Denial};
pub use store::{CredentialStore, MemoryCredentials};
