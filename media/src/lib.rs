//! Cardea's media core, sans-IO: WebRTC legs on str0m (RTP mode), plain RTP legs toward SIP
//! peers, the demultiplexer that tells which leg owns a datagram, the router that forwards
//! packets along edges, and the WebRTC⇄RTP bridges.
//!
//! The driving contract follows str0m: every call takes `now`; after any input the caller
//! drains [`Shard::pending_transmits`], [`Shard::drain_rtp_transmits`] and
//! [`Shard::drain_events`], then waits until [`Shard::next_deadline`] or the next datagram.
//! The I/O loop around it lives in `bridge`.
#![forbid(unsafe_code)]

mod answer_sdp;
mod bridge;
mod command;
mod demux;
mod error;
mod event;
mod forward;
#[doc(hidden)]
pub mod fuzzing;
mod layers;
mod leg;
mod media_file;
pub mod mixer;
mod rebase;
mod recorder;
mod router;
pub mod rtp_leg;
mod shard;
mod source;
mod stats;
mod svc;

pub use command::MediaCommand;
pub use demux::{stun_local_ufrag, DatagramKind};
pub use error::MediaError;
pub use event::{LegEvent, MediaEvent, MediaKind};
pub use forward::{Datagrams, ForwardSrtp, Forwarder, Switching};
pub use layers::{
    sim_group_ssrcs, sim_layer_rid, LayerSwitch, LayerWant, VideoCodec, DEFAULT_FALLBACK,
    DEFAULT_TEMPORAL,
};
pub use leg::{LegConfig, OfferCodec, OfferMedia, WebRtcLeg};
pub use media_file::{opus_samples, MediaFile, MediaFileError};
pub use mixer::{MixCodec, MixForward, MixParticipant};
pub use recorder::{MjrInfo, RecordChunk, RecordedKind, RecordedRtp, Recorder, FLUSH_BYTES};
pub use router::{Edge, Router};
pub use shard::Shard;
pub use source::{DataMode, RtpSource, SourceReport, SourceStream};
pub use stats::{LegStats, StreamStats};
pub use svc::SvcWant;

/// The identity of a leg across the whole bridge: the Janus handle id that owns it (a plain
/// RTP leg's is chosen by its owner so as not to collide, e.g. the handle id with bit 62 set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl std::fmt::Display for LegId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The DTLS certificate shared by every leg of the process.
pub use str0m::config::DtlsCert;

/// A media stream's identification in SDP (`a=mid`).
pub use str0m::media::{Mid, Rid};

/// Generates a fresh self-signed DTLS certificate with the built-in crypto provider.
pub fn generate_dtls_cert() -> Result<DtlsCert, MediaError> {
    str0m::crypto::from_feature_flags()
        .dtls_provider
        .generate_certificate()
        .ok_or(MediaError::Certificate)
}

/// Checks that an SDP offer parses, so the API can answer 465 before any plugin runs.
pub fn check_offer(sdp: &str) -> Result<(), MediaError> {
    str0m::change::SdpOffer::from_sdp_string(sdp)
        .map(|_| ())
        .map_err(|e| MediaError::InvalidSdp(e.to_string()))
}
