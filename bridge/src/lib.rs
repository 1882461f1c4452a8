//! Cardea's bridge: configuration, the core loop, the Janus API transports, the Admin API
//! and the media shard threads. The only crate that does I/O.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod core;
pub mod logging;
pub mod net;
pub mod permanent;
pub mod server;
pub mod sip;
pub mod transport;
