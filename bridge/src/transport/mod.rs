//! The Janus API transports: HTTP with long poll, and WebSocket. Each decodes bytes into
//! requests for the core and writes its replies and events back; none holds session state.

mod demos;
pub mod http;
pub mod ws;
