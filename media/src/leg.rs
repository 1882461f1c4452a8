//! One WebRTC PeerConnection as seen by the bridge: a str0m `Rtc` in RTP mode plus the
//! bookkeeping Janus reports about it (`webrtcup`, `media`, `hangup`, handle_info counters).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::channel::ChannelId;
use str0m::format::{Codec, FormatParams};
use str0m::media::Rid;
use str0m::media::{Frequency, KeyframeRequestKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{Extension, ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

#[path = "leg_offer.rs"]
mod offer;

pub use offer::{OfferCodec, OfferMedia};

use crate::bridge::SeqExtender;
use crate::layers::{LayerChoice, LayerSwitch, LayerWant, Verdict, VideoCodec};
use crate::rebase::Rebase;
use crate::rtp_leg::InboundRtp;
use crate::svc::{SvcChoice, SvcVerdict, SvcWant};
use crate::{DtlsCert, LegEvent, LegId, LegStats, MediaError, MediaEvent, MediaKind, StreamStats};

/// How long ICE may stay disconnected before the leg is declared failed (Janus: "ICE failed").
const ICE_FAILED_AFTER: Duration = Duration::from_secs(10);
/// Packets of outgoing video kept for answering NACKs.
const VIDEO_SEND_BUFFER: usize = 300;
/// The REMB that lifts a cap (what Janus sends for `bitrate: 0`).
const UNCAPPED_BPS: u64 = 10_000_000;
/// Least time between two receivers' key-frame requests passed on to one sender.
const RELAYED_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);
/// How often counters go to the control plane and a REMB cap is repeated.
const STATS_EVERY: Duration = Duration::from_secs(1);
/// The header-extension id offered for playout delay (Chrome offers it as 5 too).
const PLAYOUT_DELAY_EXT_ID: u8 = 5;

/// What every leg of a shard shares: where it is reachable and its DTLS identity.
#[derive(Clone)]
pub struct LegConfig {
    pub ice_lite: bool,
    /// Host candidates to advertise (the shard's port on each advertised address).
    pub candidates: Vec<SocketAddr>,
    pub cert: DtlsCert,
    /// NACKed packets per second on one stream that make a `slowlink` event; 0 = never
    /// (Janus's default).
    pub slowlink_threshold: u32,
}

/// Turns str0m's cumulative NACK counters into Janus's per-second `slowlink` reports.
#[derive(Debug, Default)]
struct SlowLink {
    threshold: u32,
    /// Last cumulative count seen, per (mid, uplink).
    seen: Vec<(Mid, bool, u64)>,
}

impl SlowLink {
    /// Records a cumulative NACK count; returns the packets lost since the last report when
    /// that reaches the threshold.
    fn observe(&mut self, mid: Mid, uplink: bool, cumulative: u64) -> Option<u64> {
        let index = match self
            .seen
            .iter()
            .position(|(m, u, _)| *m == mid && *u == uplink)
        {
            Some(i) => i,
            None => {
                self.seen.push((mid, uplink, 0));
                self.seen.len() - 1
            }
        };
        let last = &mut self.seen[index].2;
        let delta = cumulative.saturating_sub(*last);
        *last = cumulative;
        (self.threshold > 0 && delta >= u64::from(self.threshold)).then_some(delta)
    }
}

struct Stream {
    mid: Mid,
    kind: MediaKind,
    receiving: bool,
    stats: StreamStats,
    /// Numbering of packets from a bridged RTP leg sent on this mid.
    bridged_seq: SeqExtender,
    /// Numbering of packets forwarded to this mid along router edges.
    forwarded: Rebase,
    /// Simulcast layers the peer sends on this mid (as seen so far).
    rids: Vec<Rid>,
    /// The layers of simulcast by SSRC group (`a=ssrc-group:SIM`), which come without
    /// rids: each SSRC with the name its layer goes by (`layers::sim_layer_rid`).
    sim: Vec<(Ssrc, Rid)>,
    /// Which layer of a simulcast source this mid forwards, when fed by one.
    layers: Option<LayerChoice>,
    /// Which spatial and temporal layers of a VP9 SVC source this mid forwards.
    svc: Option<SvcChoice>,
    /// Video forwarded here starts on a key frame of this codec, after every change of
    /// source (a late joiner, a switch): what comes before cannot be decoded.
    keyframe_gate: Option<VideoCodec>,
    /// The source the gate let through (it closes when another source comes).
    gate_open_for: Option<u32>,
    /// When a receiver's key-frame request was last passed on to this stream's sender.
    last_relayed_keyframe_request: Option<Instant>,
    /// When a key frame of each simulcast layer was last asked for.
    layer_keyframe_requests: Vec<(Rid, Instant)>,
    /// Audio levels summed since the last talking decision, and how many.
    level_sum: u32,
    level_count: u32,
    talking: bool,
    /// The payload type forwarded packets leave with (the receiver's number for the
    /// source's codec); `None` keeps the source's.
    forward_pt: Option<Pt>,
    /// The playout delay (min, max, in 10 ms) forwarded video tells the receiver, over
    /// what the source's packets say (Janus's `min_delay`/`max_delay`).
    playout_delay: Option<(u16, u16)>,
}

/// A packet on its way out of legs along router edges, from a WebRTC leg or a plain RTP
/// source: made once per packet in, read by every target.
pub(crate) struct Forward<'a> {
    pub ssrc: u32,
    /// The sequence number extended past its wraps.
    pub seq: u64,
    pub ts: u32,
    /// The source codec's RTP clock (8 kHz for G.711, 48 kHz for opus, 90 kHz for video).
    pub clock: u32,
    pub pt: Pt,
    pub marker: bool,
    pub payload: &'a std::sync::Arc<[u8]>,
    /// Extensions worth passing on (audio level, voice activity, orientation, playout
    /// delay).
    pub ext: ExtensionValues,
    /// When it arrived.
    pub at: Instant,
}

impl<'a> From<&'a RtpPacket> for Forward<'a> {
    fn from(pkt: &'a RtpPacket) -> Self {
        Self {
            ssrc: *pkt.header.ssrc,
            seq: *pkt.seq_no,
            ts: pkt.header.timestamp,
            clock: pkt.time.frequency().get(),
            pt: pkt.header.payload_type,
            marker: pkt.header.marker,
            payload: &pkt.payload,
            ext: ExtensionValues {
                audio_level: pkt.header.ext_vals.audio_level,
                voice_activity: pkt.header.ext_vals.voice_activity,
                video_orientation: pkt.header.ext_vals.video_orientation,
                play_delay_min: pkt.header.ext_vals.play_delay_min,
                play_delay_max: pkt.header.ext_vals.play_delay_max,
                ..Default::default()
            },
            at: pkt.timestamp,
        }
    }
}

/// A receiver waits for a key frame from the source of a forwarded packet (of this
/// simulcast layer, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyframeNeed(pub Option<Rid>);

/// Output a leg produced that the shard must route: packets and keyframe requests.
#[derive(Default)]
pub(crate) struct Routed {
    /// Packets by the mid (and simulcast layer) they arrived on.
    pub rtp: Vec<(Mid, Option<Rid>, RtpPacket)>,
    pub keyframe_requests: Vec<(Mid, KeyframeRequestKind)>,
}

pub struct WebRtcLeg {
    id: LegId,
    rtc: Rtc,
    local_ufrag: String,
    streams: Vec<Stream>,
    channels: Vec<(ChannelId, String)>,
    /// A message for the first data channel that opens (a Streaming data stream's last
    /// message, for a viewer that joins).
    data_on_open: Option<(bool, Vec<u8>)>,
    ice_state: &'static str,
    connected: bool,
    disconnected_since: Option<Instant>,
    closed: bool,
    remb_cap: Option<u64>,
    /// The mid of the data channel m-line, once negotiated (its messages are recorded
    /// under it).
    data_mid: Option<Mid>,
    /// On the shard's list of legs to poll (so that it is put there once).
    queued: bool,
    next_stats: Instant,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    data_in: u64,
    data_out: u64,
    slowlink: SlowLink,
    /// Our offer awaiting the browser's answer (see [`offer`]).
    pending_offer: Option<str0m::change::SdpPendingOffer>,
    /// A key frame was asked for before DTLS was up: asked again at the first video packet
    /// after it is.
    keyframe_on_connect: bool,
    /// Talking detection: (packets per decision, threshold in -dBov).
    talking: Option<(u32, u8)>,
    /// Simulcast layers this leg's streams switched to, reported at the next poll.
    layer_switches: Vec<(Mid, LayerSwitch)>,
}

impl WebRtcLeg {
    /// A leg that will answer a browser's offer. Built off the shard thread (key material
    /// and SDP work take milliseconds), then handed to the shard with `MediaCommand::AddLeg`.
    pub fn new(id: LegId, config: &LegConfig, now: Instant) -> Self {
        Self::build(id, config, now, |mut c| {
            // RFC 4733 telephone-events, so DTMF crosses a SIP bridge (str0m configures none
            // by default); Chrome's usual payload types, free in str0m's table.
            for (pt, clock) in [
                (126, Frequency::EIGHT_KHZ),
                (110, Frequency::FORTY_EIGHT_KHZ),
            ] {
                c.codec_config().add_config(
                    Pt::from(pt),
                    None,
                    Codec::Tele,
                    clock,
                    None,
                    FormatParams::default(),
                );
            }
            c
        })
    }

    /// A leg built from an `RtcConfig` that `adjust` may change (the codecs of an offer).
    fn build(
        id: LegId,
        config: &LegConfig,
        now: Instant,
        adjust: impl FnOnce(RtcConfig) -> RtcConfig,
    ) -> Self {
        let rtc_config = RtcConfig::new()
            .set_rtp_mode(true)
            .set_ice_lite(config.ice_lite)
            .set_dtls_cert(config.cert.clone())
            // The playout-delay extension (webrtc.org's, as browsers and Janus use it), at
            // Chrome's usual id: a subscriber's video can carry `min_delay`/`max_delay`.
            .set_extension(PLAYOUT_DELAY_EXT_ID, Extension::PlayoutDelay)
            // Telephony codecs, so a SIP call can use G.711/G.722 end to end without
            // transcoding (str0m offers opus and video codecs by default).
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .enable_g722(true, false)
            // About a second of video for retransmissions (str0m keeps 1000 packets by
            // default, ~1.2 MB per stream; Janus keeps 200 ms).
            .set_send_buffer_video(VIDEO_SEND_BUFFER)
            // Per-second stream stats feed `slowlink`; without a threshold they cost nothing.
            .set_stats_interval((config.slowlink_threshold > 0).then_some(Duration::from_secs(1)));
        let mut rtc = adjust(rtc_config).build(now);
        for addr in &config.candidates {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        let local_ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        Self {
            id,
            rtc,
            local_ufrag,
            streams: Vec::new(),
            channels: Vec::new(),
            data_on_open: None,
            ice_state: "new",
            connected: false,
            disconnected_since: None,
            closed: false,
            remb_cap: None,
            data_mid: None,
            queued: false,
            next_stats: now + STATS_EVERY,
            remote_addr: None,
            local_addr: None,
            data_in: 0,
            data_out: 0,
            slowlink: SlowLink {
                threshold: config.slowlink_threshold,
                seen: Vec::new(),
            },
            pending_offer: None,
            keyframe_on_connect: false,
            talking: None,
            layer_switches: Vec::new(),
        }
    }

    /// Starts (or with `packets` 0 stops) talking detection on the audio streams.
    pub fn watch_talking(&mut self, packets: u32, threshold: u8) {
        self.talking = (packets > 0).then_some((packets, threshold));
        for s in &mut self.streams {
            s.level_sum = 0;
            s.level_count = 0;
        }
    }

    pub fn id(&self) -> LegId {
        self.id
    }

    pub fn local_ufrag(&self) -> &str {
        &self.local_ufrag
    }

    /// Accepts the browser's offer and returns our answer (ICE credentials, candidates and
    /// fingerprint included: they come from here, never from plugin code).
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, MediaError> {
        let offer_text = sdp;
        let offer = SdpOffer::from_sdp_string(&crate::answer_sdp::tidy_offer(sdp))
            .map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::Negotiation(e.to_string()))?;
        let sdp = crate::answer_sdp::keep_rejections(offer_text, answer.to_sdp_string());
        // An ICE restart in a renegotiation brings new local credentials.
        self.local_ufrag = self.rtc.direct_api().local_ice_credentials().ufrag;
        self.set_streams_from(&sdp);
        for (mid, ssrcs) in sim_groups(offer_text) {
            if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
                stream.sim = ssrcs
                    .into_iter()
                    .enumerate()
                    .map(|(i, ssrc)| {
                        (
                            Ssrc::from(ssrc),
                            Rid::from(crate::layers::sim_layer_rid(i).as_str()),
                        )
                    })
                    .collect();
            }
        }
        Ok(sdp)
    }

    /// Marks the leg as on the shard's poll list; false if it was already.
    pub(crate) fn enqueue(&mut self) -> bool {
        !std::mem::replace(&mut self.queued, true)
    }

    /// The leg was taken off the shard's poll list.
    pub(crate) fn dequeue(&mut self) {
        self.queued = false;
    }

    /// The mid of the negotiated data channel m-line, if any.
    pub fn data_mid(&self) -> Option<Mid> {
        self.data_mid
    }

    /// A trickled remote candidate (`candidate:...` with or without the `a=` prefix).
    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), MediaError> {
        let text = candidate.trim().trim_start_matches("a=");
        let c = Candidate::from_sdp_string(text)
            .map_err(|e| MediaError::InvalidCandidate(e.to_string()))?;
        self.rtc.add_remote_candidate(c);
        Ok(())
    }

    /// The mids of this leg of one kind, in SDP order.
    pub fn mids(&self, kind: MediaKind) -> impl Iterator<Item = Mid> + '_ {
        self.streams
            .iter()
            .filter(move |s| s.kind == kind)
            .map(|s| s.mid)
    }

    /// The kind of the stream on `mid`, if the leg has one.
    pub fn kind_of(&self, mid: Mid) -> Option<MediaKind> {
        self.streams.iter().find(|s| s.mid == mid).map(|s| s.kind)
    }

    /// The first mid of `kind` in SDP order: where a bridge to an RTP leg attaches.
    pub fn first_mid(&self, kind: MediaKind) -> Option<Mid> {
        self.mids(kind).next()
    }

    /// The streams (and data m-line) of a negotiated SDP are known from now on.
    pub(crate) fn set_streams_from(&mut self, sdp: &str) {
        if self.data_mid.is_none() {
            self.data_mid = negotiated_data_mid(sdp);
        }
        for (mid, kind) in negotiated_media(sdp) {
            if self.streams.iter().any(|s| s.mid == mid) {
                continue;
            }
            self.streams.push(Stream {
                mid,
                kind,
                receiving: false,
                stats: StreamStats {
                    mid: mid.to_string(),
                    kind: kind.as_str(),
                    ..Default::default()
                },
                bridged_seq: SeqExtender::default(),
                forwarded: Rebase::default(),
                rids: Vec::new(),
                sim: Vec::new(),
                layers: None,
                svc: None,
                forward_pt: None,
                playout_delay: None,
                level_sum: 0,
                level_count: 0,
                talking: false,
                last_relayed_keyframe_request: None,
                layer_keyframe_requests: Vec::new(),
                keyframe_gate: None,
                gate_open_for: None,
            });
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let Ok(receive) = Receive::new(Protocol::Udp, source, destination, datagram) else {
            return;
        };
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, receive)) {
            tracing::debug!(leg = %self.id, "input rejected: {e}");
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!(leg = %self.id, "timeout failed: {e}");
        }
    }

    /// Forwards one packet out of this leg on `mid` (a router edge ends here); `rid` is the
    /// simulcast layer it came on. Returns a layer of the source that a key frame is needed
    /// from (this stream waits to switch to it).
    pub(crate) fn write_rtp(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        pkt: &Forward<'_>,
    ) -> Option<KeyframeNeed> {
        let stream = self.streams.iter_mut().find(|s| s.mid == mid)?;
        let mut keyframe = None;
        if let Some(layers) = &mut stream.layers {
            let verdict = layers.on_packet(rid, pkt.payload, pkt.at);
            keyframe = layers
                .take_keyframe_request()
                .map(|r| KeyframeNeed(Some(r)));
            if let Some(rid) = layers.take_switch() {
                self.layer_switches
                    .push((mid, LayerSwitch::Substream(rid.to_string())));
            }
            if let Some(t) = layers.take_temporal_switch() {
                self.layer_switches.push((mid, LayerSwitch::Temporal(t)));
            }
            match verdict {
                Verdict::Forward => {}
                Verdict::Drop => return keyframe,
                Verdict::Skip => {
                    stream.forwarded.skip(pkt.ssrc, pkt.seq);
                    return keyframe;
                }
            }
        }
        let mut marker = pkt.marker;
        if let Some(svc) = &mut stream.svc {
            let verdict = svc.on_packet(pkt.payload, pkt.at);
            if svc.take_keyframe_request() {
                keyframe = Some(KeyframeNeed(rid));
            }
            if let Some(s) = svc.take_spatial_switch() {
                self.layer_switches.push((mid, LayerSwitch::Spatial(s)));
            }
            if let Some(t) = svc.take_temporal_switch() {
                self.layer_switches.push((mid, LayerSwitch::SvcTemporal(t)));
            }
            match verdict {
                SvcVerdict::Forward { end } => marker |= end,
                SvcVerdict::Skip => {
                    stream.forwarded.skip(pkt.ssrc, pkt.seq);
                    return keyframe;
                }
            }
        }
        if let Some(codec) = stream.keyframe_gate {
            if stream.gate_open_for != Some(pkt.ssrc) {
                if !codec.starts_keyframe(pkt.payload) {
                    return keyframe.or(Some(KeyframeNeed(rid)));
                }
                stream.gate_open_for = Some(pkt.ssrc);
            }
        }
        stream.stats.packets_out += 1;
        stream.stats.bytes_out += pkt.payload.len() as u64;
        let video = stream.kind == MediaKind::Video;
        let pt = stream.forward_pt.unwrap_or(pkt.pt);
        let (seq, ts) = stream
            .forwarded
            .map(pkt.ssrc, pkt.seq, pkt.ts, pkt.at, pkt.clock);
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return keyframe;
        };
        let mut ext = pkt.ext.clone();
        if let Some((min, max)) = stream.playout_delay {
            ext.play_delay_min = Some(MediaTime::new(u64::from(min), Frequency::HUNDREDTHS));
            ext.play_delay_max = Some(MediaTime::new(u64::from(max), Frequency::HUNDREDTHS));
        }
        tx.write_rtp(
            RtpWrite::new(pt, SeqNo::from(seq), ts, pkt.at, pkt.payload.clone())
                .marker(marker)
                .ext_vals(ext)
                .nackable(video),
        );
        keyframe
    }

    /// Stream `mid` is fed again along an edge that was off: what comes next continues the
    /// numbering without a gap and, for video, starts on a key frame.
    pub fn restart_forwarded(&mut self, mid: Mid) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
            stream.forwarded.restart();
            stream.gate_open_for = None;
        }
    }

    /// The playout delay (min, max, in 10 ms units) video forwarded out of `mid` carries
    /// in the playout-delay extension; `None`: what the source's packets carry, if any.
    pub fn set_playout_delay(&mut self, mid: Mid, delay: Option<(u16, u16)>) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
            if stream.kind == MediaKind::Video {
                stream.playout_delay = delay;
            }
        }
    }

    /// Video forwarded out of `mid` waits for a key frame of `codec` after each change of
    /// source (`None`: forwarded as it comes).
    pub fn set_keyframe_gate(&mut self, mid: Mid, codec: Option<VideoCodec>) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
            if stream.kind == MediaKind::Video {
                stream.keyframe_gate = codec;
            }
        }
    }

    /// The payload type packets forwarded out of `mid` carry (`None`: the source's).
    pub fn set_forward_pt(&mut self, mid: Mid, pt: Option<Pt>) {
        if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
            stream.forward_pt = pt;
        }
    }

    /// Chooses which simulcast layer of its source `mid` forwards (`rids` lowest quality
    /// first; empty: forward whatever comes), and which of its temporal layers. A new
    /// choice over the same layers only changes the wanted ones.
    pub fn select_layer(&mut self, mid: Mid, rids: Vec<Rid>, codec: VideoCodec, want: LayerWant) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) else {
            return;
        };
        if rids.is_empty() {
            stream.layers = None;
            return;
        }
        match &mut stream.layers {
            Some(l) if l.rids() == rids.as_slice() => l.want_all(want),
            _ => stream.layers = Some(LayerChoice::new(rids, codec, want)),
        }
    }

    /// Chooses which spatial and temporal layers of a VP9 SVC source `mid` forwards
    /// (`None`: everything, as it comes).
    pub fn select_svc(&mut self, mid: Mid, want: Option<SvcWant>) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) else {
            return;
        };
        match (&mut stream.svc, want) {
            (_, None) => stream.svc = None,
            (Some(svc), Some(want)) => svc.set_want(want),
            (None, Some(want)) => stream.svc = Some(SvcChoice::new(want)),
        }
    }

    /// Sends a packet from a bridged plain RTP leg out on this leg's first mid of its kind.
    /// The RTP leg already made `seq` and `ts` continuous; here `seq` is extended to the
    /// index whose upper bits are the SRTP rollover counter. Returns whether it was queued.
    pub fn write_bridged_rtp(&mut self, now: Instant, pkt: &InboundRtp<'_>) -> bool {
        let Some(stream) = self.streams.iter_mut().find(|s| s.kind == pkt.kind) else {
            return false;
        };
        let Some(index) = stream.bridged_seq.extend(pkt.seq) else {
            return false;
        };
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(stream.mid, None) else {
            return false;
        };
        stream.stats.packets_out += 1;
        stream.stats.bytes_out += pkt.payload.len() as u64;
        tx.write_rtp(
            RtpWrite::new(
                Pt::from(pkt.pt),
                SeqNo::from(index),
                pkt.ts,
                now,
                pkt.payload,
            )
            .marker(pkt.marker)
            .nackable(pkt.kind == MediaKind::Video),
        );
        true
    }

    /// Asks the sender on `mid` for a key frame (PLI or FIR as the requester asked), on
    /// every simulcast layer it sends there. Before DTLS is up nothing can be sent (str0m
    /// drops the request): it is asked again when the first video packet comes after that,
    /// which shows the peer's SRTP is up too (a PLI sent the moment our side of the
    /// handshake ends can reach a peer still finishing its own, which drops it).
    pub fn request_keyframe(&mut self, mid: Mid, kind: KeyframeRequestKind) {
        let Some(stream) = self.streams.iter().find(|s| s.mid == mid) else {
            return;
        };
        if !self.connected {
            self.keyframe_on_connect = true;
        }
        let mut api = self.rtc.direct_api();
        if !stream.sim.is_empty() {
            // Every layer of the SSRC group, whether it has sent yet or not.
            for (ssrc, _) in &stream.sim {
                if let Some(rx) = api.stream_rx(ssrc) {
                    rx.request_keyframe(kind);
                }
            }
            return;
        }
        if let Some(rx) = api.stream_rx_by_mid(mid, None) {
            rx.request_keyframe(kind);
        }
        for rid in &stream.rids {
            if let Some(rx) = api.stream_rx_by_mid(mid, Some(*rid)) {
                rx.request_keyframe(kind);
            }
        }
    }

    /// Passes a receiver's key-frame request on to the sender of `mid`, at most one every
    /// `RELAYED_KEYFRAME_INTERVAL`: hundreds of subscribers joining or losing packets at
    /// once must not flood a publisher (whose next key frame serves them all).
    pub(crate) fn relay_keyframe_request(
        &mut self,
        mid: Mid,
        kind: KeyframeRequestKind,
        now: Instant,
    ) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) else {
            return;
        };
        if stream
            .last_relayed_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < RELAYED_KEYFRAME_INTERVAL)
        {
            return;
        }
        stream.last_relayed_keyframe_request = Some(now);
        self.request_keyframe(mid, kind);
    }

    /// Asks for a key frame of one simulcast layer (a receiver waits to switch to it), at
    /// most one per layer every `RELAYED_KEYFRAME_INTERVAL`.
    pub(crate) fn request_layer_keyframe(&mut self, mid: Mid, rid: Rid, now: Instant) {
        let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) else {
            return;
        };
        let last = stream
            .layer_keyframe_requests
            .iter_mut()
            .find(|(r, _)| *r == rid);
        match last {
            Some((_, at)) if now.saturating_duration_since(*at) < RELAYED_KEYFRAME_INTERVAL => {
                return
            }
            Some((_, at)) => *at = now,
            None => stream.layer_keyframe_requests.push((rid, now)),
        }
        let mut api = self.rtc.direct_api();
        if let Some(rx) = layer_rx(&mut api, mid, rid, &stream.sim) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
    }

    /// Asks the browser for a key frame on every video stream it sends.
    pub fn request_keyframes(&mut self) {
        let mids: Vec<Mid> = self.mids(MediaKind::Video).collect();
        for mid in mids {
            self.request_keyframe(mid, KeyframeRequestKind::Pli);
        }
    }

    /// Caps what the browser sends, with REMB (repeated every second while set). Lifting
    /// the cap sends one generous REMB: a browser keeps obeying the last one it got.
    pub fn set_remb_cap(&mut self, bps: Option<u64>) {
        self.remb_cap = bps;
        match bps {
            Some(_) => self.send_remb(),
            None => self.remb(UNCAPPED_BPS),
        }
    }

    fn send_remb(&mut self) {
        if let Some(bps) = self.remb_cap {
            self.remb(bps);
        }
    }

    fn remb(&mut self, bps: u64) {
        let mids: Vec<Mid> = self.mids(MediaKind::Video).collect();
        for mid in mids {
            if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(mid, None) {
                rx.request_remb(Bitrate::bps(bps));
            }
        }
    }

    /// Sends a data-channel message on the channel labelled `label`, or the first open one.
    pub fn send_data(&mut self, label: Option<&str>, binary: bool, data: &[u8]) -> bool {
        let id = match label {
            Some(l) => self.channels.iter().find(|(_, name)| name == l),
            None => None,
        }
        .or(self.channels.first())
        .map(|(id, _)| *id);
        let Some(id) = id else { return false };
        let Some(mut channel) = self.rtc.channel(id) else {
            return false;
        };
        let sent = channel.write(binary, data).unwrap_or(false);
        if sent {
            self.data_out += 1;
        }
        sent
    }

    /// Sends a data-channel message now if a channel is open, else as soon as one opens
    /// (only the latest such message waits).
    pub fn send_data_when_open(&mut self, binary: bool, data: &[u8]) {
        if !self.send_data(None, binary, data) {
            self.data_on_open = Some((binary, data.to_vec()));
        }
    }

    /// Closes the PeerConnection (DTLS close_notify goes out on the next poll).
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.rtc.close();
        }
    }

    /// Drains str0m until it asks for a timeout, as its driving contract requires.
    /// Returns the instant at which this leg wants `handle_timeout`.
    pub(crate) fn poll(
        &mut self,
        now: Instant,
        transmits: &mut Vec<Transmit>,
        events: &mut Vec<MediaEvent>,
        routed: &mut Routed,
    ) -> Instant {
        let mut deadline = loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    self.local_addr = Some(t.source);
                    self.remote_addr = Some(t.destination);
                    transmits.push(t);
                }
                Ok(Output::Event(e)) => self.on_event(e, now, events, routed),
                Err(e) => {
                    tracing::warn!(leg = %self.id, "leg failed: {e}");
                    self.fail("DTLS-SRTP stack error", events);
                    break now + Duration::from_secs(3600);
                }
            }
        };
        for (mid, switch) in self.layer_switches.drain(..) {
            events.push(MediaEvent {
                leg: self.id,
                event: LegEvent::LayerSwitched {
                    mid: mid.to_string(),
                    switch,
                },
            });
        }
        if !self.rtc.is_alive() && !self.closed {
            self.fail("Close PC", events);
        }
        if let Some(since) = self.disconnected_since {
            let limit = since + ICE_FAILED_AFTER;
            if now >= limit {
                self.disconnected_since = None;
                self.fail("ICE failed", events);
            } else {
                deadline = deadline.min(limit);
            }
        }
        if now >= self.next_stats {
            self.next_stats = now + STATS_EVERY;
            self.send_remb();
            events.push(MediaEvent {
                leg: self.id,
                event: LegEvent::Stats(Box::new(self.stats())),
            });
        }
        deadline.min(self.next_stats)
    }

    fn fail(&mut self, reason: &'static str, events: &mut Vec<MediaEvent>) {
        if self.closed {
            return;
        }
        self.closed = true;
        events.push(MediaEvent {
            leg: self.id,
            event: LegEvent::Closed { reason },
        });
    }

    fn on_event(
        &mut self,
        event: Event,
        now: Instant,
        events: &mut Vec<MediaEvent>,
        routed: &mut Routed,
    ) {
        let leg = self.id;
        match event {
            Event::RtpPacket(pkt) => {
                let mut asked_before_connect = false;
                let Some((mid, mut rid)) = self
                    .rtc
                    .direct_api()
                    .stream_rx(&pkt.header.ssrc)
                    .map(|rx| (rx.mid(), rx.rid()))
                else {
                    return;
                };
                if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == mid) {
                    if self.keyframe_on_connect && self.connected && stream.kind == MediaKind::Video
                    {
                        self.keyframe_on_connect = false;
                        asked_before_connect = true;
                    }
                    if rid.is_none() && !stream.sim.is_empty() {
                        rid = stream
                            .sim
                            .iter()
                            .find(|(ssrc, _)| *ssrc == pkt.header.ssrc)
                            .map(|(_, r)| *r);
                    }
                    if let Some(rid) = rid {
                        if !stream.rids.contains(&rid) {
                            stream.rids.push(rid);
                        }
                    }
                    if let (Some((packets, threshold)), Some(level)) =
                        (self.talking, pkt.header.ext_vals.audio_level)
                    {
                        stream.level_sum += u32::from(level.unsigned_abs());
                        stream.level_count += 1;
                        if stream.level_count >= packets {
                            let avg = stream.level_sum as f32 / stream.level_count as f32;
                            stream.level_sum = 0;
                            stream.level_count = 0;
                            let talking = avg < f32::from(threshold);
                            if talking != stream.talking {
                                stream.talking = talking;
                                events.push(MediaEvent {
                                    leg,
                                    event: LegEvent::Talking {
                                        mid: mid.to_string(),
                                        talking,
                                        level: avg,
                                    },
                                });
                            }
                        }
                    }
                    stream.stats.packets_in += 1;
                    stream.stats.bytes_in += pkt.payload.len() as u64;
                    if !stream.receiving {
                        stream.receiving = true;
                        events.push(MediaEvent {
                            leg,
                            event: LegEvent::Receiving {
                                mid: mid.to_string(),
                                kind: stream.kind,
                                receiving: true,
                            },
                        });
                    }
                }
                routed.rtp.push((mid, rid, pkt));
                if asked_before_connect {
                    self.request_keyframes();
                }
            }
            Event::KeyframeRequest(req) => {
                if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == req.mid) {
                    stream.stats.keyframe_requests_in += 1;
                }
                routed.keyframe_requests.push((req.mid, req.kind));
            }
            Event::StreamPaused(p) => {
                if let Some(stream) = self.streams.iter_mut().find(|s| s.mid == p.mid) {
                    let receiving = !p.paused;
                    if stream.receiving != receiving {
                        stream.receiving = receiving;
                        events.push(MediaEvent {
                            leg,
                            event: LegEvent::Receiving {
                                mid: p.mid.to_string(),
                                kind: stream.kind,
                                receiving,
                            },
                        });
                    }
                }
            }
            Event::IceConnectionStateChange(state) => {
                self.ice_state = match state {
                    IceConnectionState::New => "new",
                    IceConnectionState::Checking => "checking",
                    IceConnectionState::Connected => "connected",
                    IceConnectionState::Completed => "completed",
                    IceConnectionState::Disconnected => "disconnected",
                };
                self.disconnected_since =
                    (state == IceConnectionState::Disconnected).then_some(now);
                events.push(MediaEvent {
                    leg,
                    event: LegEvent::IceState(self.ice_state),
                });
            }
            Event::Connected => {
                self.connected = true;

                events.push(MediaEvent {
                    leg,
                    event: LegEvent::Connected,
                });
            }
            Event::ChannelOpen(id, label) => {
                self.channels.push((id, label));
                if let Some((binary, data)) = self.data_on_open.take() {
                    self.send_data(None, binary, &data);
                }
            }
            Event::ChannelClose(id) => self.channels.retain(|(c, _)| *c != id),
            Event::ChannelData(data) => {
                self.data_in += 1;
                let label = self
                    .channels
                    .iter()
                    .find(|(c, _)| *c == data.id)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default();
                events.push(MediaEvent {
                    leg,
                    event: LegEvent::Data {
                        label,
                        binary: data.binary,
                        data: data.data,
                    },
                });
            }
            Event::Closed => self.fail("DTLS alert", events),
            // Janus's POV: uplink = what the browser sends us lost packets (we NACK them);
            // downlink = what we send it (it NACKs us).
            Event::MediaIngressStats(s) => self.slow_link(s.mid, true, s.nacks, events),
            Event::MediaEgressStats(s) => self.slow_link(s.mid, false, s.nacks, events),
            _ => {}
        }
    }

    fn slow_link(&mut self, mid: Mid, uplink: bool, nacks: u64, events: &mut Vec<MediaEvent>) {
        let Some(lost) = self.slowlink.observe(mid, uplink, nacks) else {
            return;
        };
        let Some(kind) = self.streams.iter().find(|s| s.mid == mid).map(|s| s.kind) else {
            return;
        };
        events.push(MediaEvent {
            leg: self.id,
            event: LegEvent::SlowLink {
                mid: mid.to_string(),
                kind,
                uplink,
                lost,
            },
        });
    }

    pub fn stats(&self) -> LegStats {
        LegStats {
            ice_state: self.ice_state,
            dtls_connected: self.connected,
            local_ufrag: self.local_ufrag.clone(),
            remote_addr: self.remote_addr,
            local_addr: self.local_addr,
            streams: self.streams.iter().map(|s| s.stats.clone()).collect(),
            data_messages_in: self.data_in,
            data_messages_out: self.data_out,
            remb_cap_bps: self.remb_cap,
        }
    }
}

/// The receiving end of one simulcast layer: by its rid, or by its SSRC for a layer of an
/// SSRC group (`sim`).
fn layer_rx<'a>(
    api: &'a mut str0m::change::DirectApi<'_>,
    mid: Mid,
    rid: Rid,
    sim: &[(Ssrc, Rid)],
) -> Option<&'a mut str0m::rtp::StreamRx> {
    match sim.iter().find(|(_, r)| *r == rid) {
        Some((ssrc, _)) => api.stream_rx(ssrc),
        None => api.stream_rx_by_mid(mid, Some(rid)),
    }
}

/// The `a=ssrc-group:SIM` of each m-line of an SDP that has one and no `a=simulcast`
/// (rid simulcast, which takes precedence, as str0m gives it).
fn sim_groups(sdp: &str) -> Vec<(Mid, Vec<u32>)> {
    let mut found = Vec::new();
    // The m-line being read: its mid, SIM group, and whether it has a=simulcast.
    let mut current: (Option<Mid>, Option<Vec<u32>>, bool) = (None, None, false);
    let mut end_of_section = |c: &mut (Option<Mid>, Option<Vec<u32>>, bool)| {
        if let (Some(mid), Some(ssrcs), false) = std::mem::take(c) {
            found.push((mid, ssrcs));
        }
    };
    for line in sdp.lines() {
        let line = line.trim_end();
        if line.starts_with("m=") {
            end_of_section(&mut current);
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            current.0 = Some(Mid::from(mid.trim()));
        } else if let Some(group) = line.strip_prefix("a=ssrc-group:") {
            if current.1.is_none() {
                current.1 = crate::layers::sim_group_ssrcs(group);
            }
        } else if line.starts_with("a=simulcast:") {
            current.2 = true;
        }
    }
    end_of_section(&mut current);
    found
}

/// The mid of an SDP's data channel (`m=application`) m-line.
fn negotiated_data_mid(sdp: &str) -> Option<Mid> {
    let mut in_data = false;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            in_data = m.starts_with("application ");
        } else if let (true, Some(mid)) = (in_data, line.strip_prefix("a=mid:")) {
            return Some(Mid::from(mid.trim()));
        }
    }
    None
}

fn negotiated_media(sdp: &str) -> Vec<(Mid, MediaKind)> {
    let mut found = Vec::new();
    let mut kind = None;
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            kind = match m.split(' ').next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
        } else if let (Some(k), Some(mid)) = (kind, line.strip_prefix("a=mid:")) {
            found.push((Mid::from(mid.trim()), k));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssrc_group_sim_gives_the_layers_of_its_m_line_unless_rids_do() {
        let sdp = "v=0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ssrc:5 cname:x\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\n\
            a=ssrc-group:FID 10 11\r\na=ssrc-group:SIM 10 20 30 40\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=ssrc-group:SIM 50 60\r\n\
            a=simulcast:send h;l\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc-group:SIM 70 x\r\na=mid:3\r\n";
        // Janus takes three layers at most; rids win over a group; a bad group is none.
        assert_eq!(sim_groups(sdp), vec![(Mid::from("1"), vec![10, 20, 30])]);
        assert_eq!(crate::layers::sim_group_ssrcs("SIM 1"), None);
        assert_eq!(crate::layers::sim_group_ssrcs("sim 1 2"), Some(vec![1, 2]));
        assert_eq!(crate::layers::sim_group_ssrcs("FID 1 2"), None);
    }

    #[test]
    fn slowlink_reports_per_interval_losses_at_the_threshold() {
        let mut s = SlowLink {
            threshold: 4,
            seen: Vec::new(),
        };
        let mid = Mid::from("1");
        assert_eq!(s.observe(mid, true, 3), None);
        assert_eq!(s.observe(mid, true, 9), Some(6));
        assert_eq!(s.observe(mid, true, 10), None);
        assert_eq!(s.observe(mid, false, 5), Some(5), "directions count apart");
        let mut off = SlowLink::default();
        assert_eq!(
            off.observe(mid, true, 1000),
            None,
            "threshold 0 never reports"
        );
    }

    #[test]
    fn negotiated_media_reads_mids_in_order() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n";
        assert_eq!(negotiated_data_mid(sdp), Some(Mid::from("2")));
        assert_eq!(
            negotiated_data_mid("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"),
            None
        );
        let found = negotiated_media(sdp);
        assert_eq!(
            found,
            vec![
                (Mid::from("0"), MediaKind::Audio),
                (Mid::from("1"), MediaKind::Video)
            ]
        );
    }
}
