//! What the control plane asks of a media shard. Commands travel on a channel to the shard
//! thread, so every one of them is `Send`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::rtp_leg::{PtMap, RtpLeg, SrtpTransform};
use crate::{LegId, MediaError, MediaKind, WebRtcLeg};

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
