//! `cardea-load`: a load generator that speaks the Janus API and runs many WebRTC peers
//! cheaply, to load Cardea and Janus alike.
//!
//! Every peer is a sans-IO str0m `Rtc` (RTP mode) and all of them run on one media thread
//! (a mio loop over one UDP socket per peer); signalling is the Janus API over HTTP (long
//! polls) or one WebSocket (`--server ws://…`) on a few blocking threads. Every packet carries a probe (peer, sequence, send time) at the end of
//! its payload, so each echo tells loss, duplication and round-trip time.
//!
//! The scenarios are library functions ([`echotest::run`], [`sip::run`], [`videoroom::run`],
//! [`streaming::run`], [`audiobridge::run`]) so tests can call them in-process; the
//! `cardea-load` binary wraps them in a CLI and prints the report ([`Report`], [`SipReport`],
//! [`VideoroomReport`], which `streaming` shares, [`AudiobridgeReport`]) as one JSON line.

pub mod audiobridge;
pub mod echotest;
mod fanout;
mod janus;
mod janus_ws;
mod media;
mod payload;
mod peer;
mod probe;
mod procfs;
mod report;
mod setup;
pub mod sip;
mod sip_call;
pub mod streaming;
pub mod videoroom;

pub use audiobridge::{run as run_audiobridge, AudiobridgeConfig, AudiobridgeReport};
pub use echotest::{run as run_echotest, EchotestConfig, LoadError};
pub use report::Report;
pub use sip::{run as run_sip, SipConfig, SipReport};
pub use streaming::{run as run_streaming, StreamingConfig, StreamingReport};
pub use videoroom::{run as run_videoroom, VideoroomConfig, VideoroomReport};
