//! The plugin boundary (Janus's `plugin.h`, kept narrow) and the plugins themselves.
//!
//! A plugin is sans-IO: the core calls it with a request or a media notification and a
//! [`Ctx`] to fill with [`Command`]s (events to push, media routes to set). Plugins never
//! touch ICE, DTLS, SRTP or sockets; SDP for the browser is made by the WebRTC leg.
#![forbid(unsafe_code)]

mod api;
pub mod audiobridge;
pub(crate) mod codecs;
mod dispatch;
pub mod echotest;
mod fields;
pub mod permanent;
pub mod streaming;
pub mod videoroom;

pub mod sip;
mod srtp_params;

pub use api::{
    pinned_shard, Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, MixCodec,
    MixForward, MixParticipant, OfferCodec, OfferMedia, Plugin, PluginInfo, Ports, RecordSpec,
    RecordTarget, Reoffer, Reply, RtpConfig, RtpPorts, RtspSpec, RtspTrack, SipIn, SipOut,
    SourceInput, SourceIo, SourceReport, SourceSpec, SrtpKeys, SwitchLayers,
};
pub use cardea_media::MediaKind;
pub use permanent::{Permanence, PermanentState, PermanentStore};

/// What plugins learn of the process at start.
#[derive(Debug, Clone, Default)]
pub struct PluginEnv {
    /// The shared SIP endpoint, when enabled.
    pub sip: Option<sip::SipEnv>,
    /// The VideoRoom's rooms from the configuration (`None`: the sample room 1234); they
    /// were checked with [`videoroom::VideoRoom::with_rooms`] when the configuration loaded.
    pub videoroom_rooms: Option<Vec<serde_json::Value>>,
    /// The Streaming plugin's settings (`plugins.streaming`); checked with
    /// [`streaming::Settings::parse`] when the configuration loaded.
    pub streaming: Option<serde_json::Value>,
    /// The AudioBridge's settings (`plugins.audiobridge`); checked with
    /// [`audiobridge::Settings::parse`] when the configuration loaded.
    pub audiobridge: Option<serde_json::Value>,
    /// UDP ports for plain RTP sources, bound by the core.
    pub ports: Option<Ports>,
    /// The URIs of the configured SIP trunks: where AudioBridge `dial` may call.
    pub dial_out: Vec<String>,
    /// The local port of each media shard's socket, in shard order.
    pub media_ports: Vec<u16>,
    /// The state files of permanent objects (`None`: no configuration file, so `permanent`
    /// requests are refused, as Janus refuses them without one).
    pub videoroom_permanent: Option<Permanence>,
    pub streaming_permanent: Option<Permanence>,
    pub audiobridge_permanent: Option<Permanence>,
}

/// Every plugin this build offers, freshly constructed.
pub fn all(env: &PluginEnv) -> Vec<Box<dyn Plugin>> {
    vec![
        Box::new(echotest::EchoTest::default()),
        Box::new(sip::SipPlugin::new(env.sip.clone()).with_ports(env.ports.clone())),
        Box::new(
            videoroom::VideoRoom::configured(
                env.videoroom_rooms.as_deref(),
                env.videoroom_permanent.as_ref(),
            )
            .with_media_ports(env.media_ports.clone()),
        ),
        Box::new(streaming::Streaming::with_permanent(
            env.streaming.as_ref(),
            env.ports.clone(),
            env.streaming_permanent.as_ref(),
        )),
        Box::new(
            audiobridge::AudioBridge::with_permanent(
                env.audiobridge.as_ref(),
                env.ports.clone(),
                env.audiobridge_permanent.as_ref(),
            )
            .with_sip(env.sip.clone())
            .with_dial_out(&env.dial_out),
        ),
    ]
}
