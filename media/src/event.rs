use crate::rtp_leg::RtpLegEvent;
use crate::{LegId, LegStats};

/// Audio or video, as Janus names them in `media` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// What a leg reports to the control plane.
#[derive(Debug)]
pub enum LegEvent {
    /// ICE state changed (names as in the W3C API: "checking", "connected", ...).
    IceState(&'static str),
    /// ICE and DTLS are up: Janus's `webrtcup`.
    Connected,
    /// Media started or stopped arriving on `mid`: Janus's `media` event.
    Receiving {
        mid: String,
        kind: MediaKind,
        receiving: bool,
    },
    /// Many packets lost on a stream in the last second: Janus's `slowlink`.
    SlowLink {
        mid: String,
        kind: MediaKind,
        uplink: bool,
        lost: u64,
    },
    /// The audio level the sender reports (RFC 6464) crossed the talking threshold on
    /// `mid`, averaged over the last packets: `level` is that average in -dBov (0 loudest).
    Talking {
        mid: String,
        talking: bool,
        level: f32,
    },
    /// A stream fed by a simulcast source now forwards another layer (a switch on request,
    /// a fallback, or the wanted layer back), or another temporal cap.
    LayerSwitched {
        mid: String,
        switch: crate::layers::LayerSwitch,
    },
    /// A data-channel message for the plugin.
    Data {
        label: String,
        binary: bool,
        data: Vec<u8>,
    },
    /// The peer connection is gone; the reason is Janus's `hangup` reason.
    Closed { reason: &'static str },
    /// Periodic counters for the Admin API's handle_info.
    Stats(Box<LegStats>),
    /// Something a plain RTP leg toward a SIP peer reports (latching, DTMF, media flow, BYE).
    Rtp(RtpLegEvent),
    /// A plain RTP source's stream started, stopped, or reports its counters (each second
    /// while packets arrive).
    Source(crate::SourceReport),
    /// Something a room's mixer reports (a played file ended).
    Mixer(crate::mixer::MixerEvent),
}

/// A leg event tagged with its leg.
#[derive(Debug)]
pub struct MediaEvent {
    pub leg: LegId,
    pub event: LegEvent,
}
