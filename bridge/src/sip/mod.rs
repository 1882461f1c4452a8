//! The SIP endpoint: one shared SIP stack on the configured port (UDP and TCP) serving the
//! registrar (users from the configuration, digest auth) and OPTIONS. Routing of calls
//! (proxy, dialplan, the SIP plugin) plugs in here as it lands.

mod net;
mod plugin_link;
mod service;
mod ws;

pub use net::{spawn_sip, SipLink, SipListeners};
pub use service::SipService;
