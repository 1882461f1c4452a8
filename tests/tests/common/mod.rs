//! What the WebRTC test binaries share (`mod common;` in each): the browser stand-in built on
//! webrtc-rs ([`peer`]), SDP reading ([`sdp`]) and the Janus API around a plugin handle
//! ([`janus`]). Each binary uses its own part of it.
#![allow(dead_code)]

pub mod janus;
pub mod peer;
pub mod sdp;

use std::time::Duration;

/// Bound on each wait for a server event or a connection step.
pub const STEP: Duration = Duration::from_secs(10);
