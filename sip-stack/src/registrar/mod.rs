//! The registrar and its location service (RFC 3261 §10.3; Path, RFC 3327; outbound
//! instance and reg-id, RFC 5626 §6), sans-IO.
//!
//! - [`Registrar::handle_register`] applies a REGISTER (already authenticated) and returns
//!   the response; [`serve_register`] puts digest authentication in front of it.
//! - [`Registrar::bindings`] is the lookup for routing; [`Registrar::handle_timeout`] expires.
//! - [`LocationStore`] is the storage seam ([`MemoryLocationStore`] in memory).

mod aor;
mod binding;
mod register;
mod request;
mod serve;
mod store;

pub use aor::{may_register, Aor};
pub use binding::{Binding, BindingKey};
pub use register::{RegisterOutcome, Registrar, RegistrarConfig};
pub use request::{RegisterError, SUPPORTED};
pub use serve::serve_register;
pub use store::{LocationStore, MemoryLocationStore};
