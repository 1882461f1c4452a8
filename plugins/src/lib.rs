//! The plugin boundary (Janus's `plugin.h`, kept narrow) and the plugins themselves.
//!
//! A plugin is sans-IO: the core calls it with a request or a media notification and a
//! [`Ctx`] to fill with [`Command`]s (events to push, media routes to set). Plugins never
//! touch ICE, DTLS, SRTP or sockets; SDP for the browser is made by the WebRTC leg.
#![forbid(unsafe_code)]

mod api;
pub mod echotest;

pub use api::{
    Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, Plugin, PluginInfo, Reply,
};
pub use cardea_media::MediaKind;

/// Every plugin this build offers, freshly constructed.
pub fn all() -> Vec<Box<dyn Plugin>> {
    vec![Box::new(echotest::EchoTest::default())]
}
