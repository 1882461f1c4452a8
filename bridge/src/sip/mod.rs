//! The SIP endpoint: one shared SIP stack on the configured ports (UDP, TCP, TLS, WS, WSS) serving the
//! registrar (users from the configuration, digest auth) and OPTIONS. Routing of calls
//! (proxy, dialplan, the SIP plugin) plugs in here as it lands.

mod net;
mod plugin_link;
mod service;
pub(crate) mod tls;
mod ws;

pub use net::{spawn_sip, SipLink, SipListeners};
pub use service::SipService;
