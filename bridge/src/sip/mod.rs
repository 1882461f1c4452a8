//! The SIP endpoint: one shared SIP stack on the configured ports (UDP, TCP, TLS, WS, WSS)
//! serving the registrar (users from the configuration, digest auth), OPTIONS, the proxy
//! for authenticated local users, and every handle of the SIP plugin.

mod dns;
pub mod echo;
mod net;
mod plugin_link;
pub mod records;
pub mod routing;
mod service;
pub(crate) mod tls;
pub mod trunk_reg;
mod ws;

pub use net::{spawn_sip, EchoMedia, SipLink, SipListeners};
pub use service::SipService;
