//! What the control plane asks of a media shard. Commands travel on a channel to the shard
//! thread, so every one of them is `Send`.

use std::net::SocketAddr;
use std::time::Duration;

use str0m::media::Mid;
use str0m::media::Rid;

use crate::mixer::{MixForward, MixParticipant, Mixer};
use crate::rtp_leg::{PtMap, RtpLeg, SrtpTransform};
use crate::{
    Forwarder, LegId, MediaError, MediaFile, MediaKind, OfferMedia, Recorder, RtpSource,
    VideoCodec, WebRtcLeg,
};

// `ConfigureRtp` carries a 256-byte `PtMap` by value; commands are rare (signalling, not
// packets), so the enum's size costs nothing worth an indirection in the API.
#[allow(clippy::large_enum_variant)]
pub enum MediaCommand {
    /// A negotiated leg joins the shard (built off-thread with `WebRtcLeg::new`).
    AddLeg(Box<WebRtcLeg>),
    /// A new offer on a leg that is already up (renegotiation, ICE restart): answered on
    /// the shard, since the leg lives there; `reply` gets the answer SDP.
    Renegotiate {
        leg: LegId,
        offer: String,
        reply: Box<dyn FnOnce(Result<String, MediaError>) + Send>,
    },
    /// The browser's answer to an offer the leg made (`WebRtcLeg::new_offer`); `reply`
    /// hears whether it was accepted.
    AcceptAnswer {
        leg: LegId,
        answer: String,
        reply: Box<dyn FnOnce(Result<(), MediaError>) + Send>,
    },
    /// Drops a leg, WebRTC or plain RTP, with its router edges and bridge; `close` sends
    /// DTLS close_notify first (a hangup) rather than vanishing.
    RemoveLeg {
        leg: LegId,
        close: bool,
    },
    /// Connects (or disconnects) every mid of `kind` on `from` to the mid of the same kind at
    /// the same position on `to`. EchoTest routes a leg to itself.
    Route {
        from: LegId,
        to: LegId,
        kind: MediaKind,
        enabled: bool,
    },
    /// Connects (or disconnects) one stream to one stream: media arriving on `from_mid` of
    /// `from` leaves on `to_mid` of `to` (an SFU subscription), feedback goes back. A new
    /// video edge asks the source for a key frame so the receiver can start decoding.
    RouteMid {
        from: LegId,
        from_mid: Mid,
        to: LegId,
        to_mid: Mid,
        enabled: bool,
    },
    /// Which simulcast layer of its source stream `mid` of `leg` forwards: `rids` are the
    /// source's layers, lowest quality first (empty: no choice, forward everything);
    /// `want.substream` indexes them. Switches wait for a key frame of `codec`.
    SelectLayer {
        leg: LegId,
        mid: Mid,
        rids: Vec<Rid>,
        codec: VideoCodec,
        want: crate::layers::LayerWant,
    },
    /// Which spatial and temporal layers of a VP9 SVC source stream `mid` of `leg`
    /// forwards (`None`: all of them).
    SelectSvc {
        leg: LegId,
        mid: Mid,
        want: Option<crate::svc::SvcWant>,
    },
    /// The playout delay (min, max, in 10 ms units) video forwarded out of `mid` of `leg`
    /// tells the receiver; `None`: what the source says, if anything.
    SetPlayoutDelay {
        leg: LegId,
        mid: Mid,
        delay: Option<(u16, u16)>,
    },
    /// The payload type forwarded packets leave `mid` of `leg` with (the receiver's number
    /// for the source's codec); `None` keeps the source's.
    /// With `keyframe_gate`, video forwarded there starts on a key frame of that codec
    /// after each change of source (a late joiner, a switch).
    SetForwardPt {
        leg: LegId,
        mid: Mid,
        pt: Option<u8>,
        keyframe_gate: Option<VideoCodec>,
    },
    /// A new offer on a leg that is up: `add` become new m-lines, `inactive` mids stop;
    /// `reply` gets the offer SDP. The browser's answer comes with `AcceptAnswer`.
    Reoffer {
        leg: LegId,
        add: Vec<OfferMedia>,
        inactive: Vec<Mid>,
        ice_restart: bool,
        /// Add a data channel m-line (the leg has none yet).
        data: bool,
        reply: Box<dyn FnOnce(Result<String, MediaError>) + Send>,
    },
    /// Reports `LegEvent::Talking` for the audio streams of `leg`: every `packets` packets
    /// the average RFC 6464 level is compared with `threshold` (-dBov; lower is louder).
    /// `packets` 0 stops it.
    WatchTalking {
        leg: LegId,
        packets: u32,
        threshold: u8,
    },
    /// Sends a copy of stream `mid` of `leg` to a plain RTP receiver (`rtp_forward`); a
    /// forwarder with the same id is replaced.
    AddForwarder {
        leg: LegId,
        mid: Mid,
        forwarder: Forwarder,
    },
    /// Records stream `mid` of `leg` (a WebRTC leg or a source) with `recorder`; its
    /// bytes come out of [`Shard::drain_recorded`](crate::Shard::drain_recorded). The leg
    /// need not be on the shard yet: its packets are recorded once it is.
    Record {
        leg: LegId,
        mid: Mid,
        recorder: Box<Recorder>,
    },
    /// Ends recording `id`: its last bytes come out marked `last`.
    StopRecord {
        id: u64,
    },
    /// Pauses recording `id` (packets are left out) or resumes it (the numbering of what
    /// follows continues the file's, so the pause leaves no gap to play).
    PauseRecord {
        id: u64,
        paused: bool,
    },
    /// Stops forwarder `id` (`stop_rtp_forward`).
    RemoveForwarder {
        id: u32,
    },
    AddRemoteCandidate {
        leg: LegId,
        candidate: String,
    },
    SendData {
        leg: LegId,
        label: Option<String>,
        binary: bool,
        data: Vec<u8>,
    },
    SetRembCap {
        leg: LegId,
        bps: Option<u64>,
    },
    /// Asks the sender of `leg`'s video for a key frame: the browser of a WebRTC leg, the
    /// SIP peer of an RTP leg.
    RequestKeyframe {
        leg: LegId,
    },
    /// A plain RTP leg toward a SIP peer joins the shard. Its id is the caller's choice and
    /// must not collide with a WebRTC leg's (the bridge sets bit 62 of the handle id). The
    /// shard routes datagrams that arrive on the leg's local addresses to it; the sockets
    /// behind those addresses are the I/O loop's.
    AddRtpLeg(Box<RtpLeg>),
    /// The SIP peer's new addresses for one stream (a re-INVITE): sending goes there until
    /// its packets latch elsewhere.
    RetargetRtp {
        leg: LegId,
        kind: MediaKind,
        remote_rtp: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    },
    /// What an offer/answer with the SIP peer settled for one stream of an RTP leg: where
    /// to send, the payload-type map, telephone-event and SRTP (`None` = plain RTP).
    ConfigureRtp {
        leg: LegId,
        kind: MediaKind,
        remote_rtp: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
        pt_map: PtMap,
        telephone_event: Option<u8>,
        clock_rate: u32,
        srtp: Option<Box<dyn SrtpTransform + Send>>,
    },
    /// Bridges (or unbridges) a WebRTC leg and an RTP leg without transcoding: the first
    /// audio mid (and first video mid, if the RTP leg has video) of `webrtc` and the RTP
    /// leg's streams of the same kind feed each other. A leg is in one bridge at a time;
    /// a new bridge replaces the old one.
    Bridge {
        webrtc: LegId,
        rtp: LegId,
        enabled: bool,
    },
    /// A plain RTP source (a Streaming mountpoint) joins the shard; datagrams arriving on
    /// its streams' local addresses go to it, and from it along the router's edges. Its id
    /// must collide with no leg's; `RemoveLeg` removes it.
    AddSource(Box<RtpSource>),
    /// A room's mixer joins the shard (its id must collide with no leg's; `RemoveLeg`
    /// removes it, and its participants stop hearing it).
    AddMixer(Box<Mixer>),
    /// Leg `leg` (a WebRTC leg, or a plain RTP leg with `participant.rtp`) takes part in
    /// mixer `mixer`: its audio is mixed, the others' mix is sent to it. Again for a leg
    /// already in: its settings change. A leg is in one mixer at a time.
    MixIn {
        mixer: LegId,
        leg: LegId,
        participant: MixParticipant,
    },
    MixOut {
        mixer: LegId,
        leg: LegId,
    },
    /// Plays an Ogg/Opus file into mixer `mixer`; `LegEvent::Mixer` reports its end.
    MixPlay {
        mixer: LegId,
        file: String,
        media: MediaFile,
        looped: bool,
    },
    MixStop {
        mixer: LegId,
        file: String,
    },
    /// Starts or stops recording mixer `mixer`'s whole mix (`LegEvent::Mixer` carries the
    /// samples).
    MixRecord {
        mixer: LegId,
        on: bool,
    },
    /// Sends a plain RTP copy of mixer `mixer`'s whole mix (`rtp_forward`).
    MixForward {
        mixer: LegId,
        forward: MixForward,
    },
    MixStopForward {
        mixer: LegId,
        id: u32,
    },
    /// Sends a key press to the SIP peer as RFC 4733 telephone-events.
    SendDtmf {
        leg: LegId,
        digit: char,
        duration: Duration,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_cross_threads() {
        fn send<T: Send>() {}
        send::<super::MediaCommand>();
    }
}
