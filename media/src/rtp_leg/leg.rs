//! [`RtpLeg`]: the SIP peer's side of a WebRTC⇄SIP bridge, as a sans-IO value.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::error::RtpLegError;
use super::latch::LatchMode;
use super::output::{InboundRtp, OutboundRtp, RtpLegEvent, Transmit, TransmitQueue};
use super::packet::is_rtcp;
use super::pt_map::PtMap;
use super::srtp::SrtpTransform;
use super::stream::{RtpStream, RtpStreamConfig, RtpStreamStats, Shared, Sink};
use crate::{LegId, MediaKind};

/// Settings of a leg that do not come from SDP.
#[derive(Debug, Clone)]
pub struct RtpLegConfig {
    pub latch: LatchMode,
    /// Silence longer than this reports `Receiving { receiving: false }` (Janus: 1 s).
    pub no_media_timeout: Duration,
    /// RTCP report interval (RFC 3550 §6.2 minimum is 5 s).
    pub report_interval: Duration,
    /// Our RTCP CNAME (RFC 3550 §6.5.1).
    pub cname: String,
    /// Wall-clock time since the Unix epoch at the `now` given to [`RtpLeg::new`], for the
    /// NTP timestamps of sender reports (the leg reads no clock itself).
    pub wall_clock: Duration,
}

impl Default for RtpLegConfig {
    fn default() -> Self {
        Self {
            latch: LatchMode::default(),
            no_media_timeout: Duration::from_secs(1),
            report_interval: Duration::from_secs(5),
            cname: "cardea".to_owned(),
            wall_clock: Duration::ZERO,
        }
    }
}

/// Which of a stream's components a local address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Rtp,
    Rtcp,
}

/// One SIP call's media: an audio stream and optionally a video one, each on the caller's
/// ports. Driving contract (as str0m): feed [`handle_datagram`](Self::handle_datagram),
/// [`write_rtp`](Self::write_rtp) and [`handle_timeout`](Self::handle_timeout) with `now`;
/// after each, send [`transmits`](Self::transmits) then [`clear_transmits`](Self::clear_transmits),
/// drain [`poll_event`](Self::poll_event), and call `handle_timeout` at
/// [`next_timeout`](Self::next_timeout).
pub struct RtpLeg {
    id: LegId,
    config: RtpLegConfig,
    epoch: Instant,
    streams: Vec<RtpStream>,
    transmits: TransmitQueue,
    events: VecDeque<RtpLegEvent>,
    /// The peer asked for a video key frame since the shard last looked.
    keyframe_asked: bool,
    /// Plaintext of the last SRTP packet received (what `InboundRtp::payload` points into).
    plain: Vec<u8>,
    /// A packet being built before SRTP protection.
    scratch: Vec<u8>,
}

impl RtpLeg {
    pub fn new(
        id: LegId,
        config: RtpLegConfig,
        streams: Vec<RtpStreamConfig>,
        now: Instant,
    ) -> Self {
        // The first report goes out soon (RFC 3550 §6.2: half the interval at start).
        let first = config.report_interval / 2;
        let streams = streams
            .into_iter()
            .map(|s| RtpStream::new(s, config.latch, now, first))
            .collect();
        Self {
            id,
            config,
            epoch: now,
            streams,
            transmits: TransmitQueue::default(),
            events: VecDeque::new(),
            keyframe_asked: false,
            plain: Vec::with_capacity(1500),
            scratch: Vec::with_capacity(1500),
        }
    }

    pub fn id(&self) -> LegId {
        self.id
    }

    /// Which stream and component a datagram that arrived on local address `destination`
    /// belongs to, if any: how the shard tells this leg's ports from others'.
    pub fn component_of(&self, destination: SocketAddr) -> Option<(MediaKind, Component)> {
        self.streams.iter().find_map(|s| {
            if s.config.local_rtp == destination {
                Some((s.config.kind, Component::Rtp))
            } else if s.config.local_rtcp == Some(destination) {
                Some((s.config.kind, Component::Rtcp))
            } else {
                None
            }
        })
    }

    /// Every local address of the leg (each stream's RTP port, and its RTCP port unless
    /// muxed): the shard routes datagrams that arrive on them here.
    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.streams
            .iter()
            .flat_map(|s| std::iter::once(s.config.local_rtp).chain(s.config.local_rtcp))
    }

    pub fn has_stream(&self, kind: MediaKind) -> bool {
        self.streams.iter().any(|s| s.config.kind == kind)
    }

    fn stream_mut(&mut self, kind: MediaKind) -> Result<&mut RtpStream, RtpLegError> {
        self.streams
            .iter_mut()
            .find(|s| s.config.kind == kind)
            .ok_or(RtpLegError::NoStream(kind.as_str()))
    }

    /// A datagram from `source` arrived on our local address `destination`. RTP comes back
    /// as an [`InboundRtp`] for the WebRTC side; RTCP and telephone-events update counters and
    /// events. Errors say why a datagram was dropped (bad packet, foreign source, SRTP).
    pub fn handle_datagram<'a>(
        &'a mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<Option<InboundRtp<'a>>, RtpLegError> {
        let shared = shared(&self.config, self.epoch);
        let Some(stream) = self.streams.iter_mut().find(|s| {
            s.config.local_rtp == destination || s.config.local_rtcp == Some(destination)
        }) else {
            return Err(RtpLegError::NotOurAddress(destination));
        };
        let rtcp =
            stream.config.local_rtcp == Some(destination) || (stream.muxed() && is_rtcp(datagram));
        if rtcp {
            self.keyframe_asked |= stream.receive_rtcp(
                now,
                source,
                datagram,
                &mut self.plain,
                &shared,
                &mut self.events,
            )?;
            return Ok(None);
        }
        stream
            .receive_rtp(
                now,
                source,
                datagram,
                &mut self.plain,
                &shared,
                &mut self.events,
            )
            .map(Some)
    }

    /// Forwards a packet from the WebRTC side to the SIP peer on the `kind` stream: payload
    /// type mapped, SSRC/seq/timestamp rewritten into one continuous stream, SRTP applied.
    pub fn write_rtp(
        &mut self,
        now: Instant,
        kind: MediaKind,
        pkt: &OutboundRtp<'_>,
    ) -> Result<(), RtpLegError> {
        let Self {
            streams,
            transmits,
            events,
            scratch,
            ..
        } = self;
        let stream = streams
            .iter_mut()
            .find(|s| s.config.kind == kind)
            .ok_or(RtpLegError::NoStream(kind.as_str()))?;
        stream.send(
            now,
            pkt,
            &mut Sink {
                transmits,
                events,
                scratch,
            },
        )
    }

    /// Sends a key press as RFC 4733 telephone-events on the audio stream. Forwarded audio
    /// pauses until its end packets are out.
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
    ) -> Result<(), RtpLegError> {
        self.stream_mut(MediaKind::Audio)?
            .start_dtmf(now, digit, duration)?;
        self.handle_timeout(now);
        Ok(())
    }

    /// Asks the SIP peer for a video key frame (an RTCP PLI), if the leg has video and the
    /// peer has sent some; rate-limited per stream.
    pub fn request_keyframe(&mut self, now: Instant) {
        self.each_stream(|s, shared, sink| {
            if s.config.kind == MediaKind::Video {
                s.request_keyframe(now, shared, sink);
            }
        });
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.each_stream(|s, shared, sink| s.handle_timeout(now, shared, sink));
    }

    /// Runs `f` on every stream with the leg's shared settings and output.
    fn each_stream(&mut self, mut f: impl FnMut(&mut RtpStream, &Shared<'_>, &mut Sink<'_>)) {
        let shared = shared(&self.config, self.epoch);
        let mut sink = Sink {
            transmits: &mut self.transmits,
            events: &mut self.events,
            scratch: &mut self.scratch,
        };
        for s in &mut self.streams {
            f(s, &shared, &mut sink);
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        let shared = shared(&self.config, self.epoch);
        self.streams.iter().map(|s| s.next_timeout(&shared)).min()
    }

    /// Datagrams to send, in order. Call [`Self::clear_transmits`] once they are out.
    pub fn transmits(&self) -> impl Iterator<Item = Transmit<'_>> {
        self.transmits.iter()
    }

    pub fn clear_transmits(&mut self) {
        self.transmits.clear();
    }

    /// Moves the queued datagrams into `out` as `(source, destination, bytes)` (allocates per
    /// datagram; the shard's hot path uses [`Self::transmits`]).
    pub fn drain_transmits(&mut self, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) {
        out.extend(
            self.transmits
                .iter()
                .map(|t| (t.source, t.destination, t.payload.to_vec())),
        );
        self.transmits.clear();
    }

    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    pub fn poll_event(&mut self) -> Option<RtpLegEvent> {
        self.events.pop_front()
    }

    /// Whether the peer asked for a video key frame (RTCP PLI or FIR) since the last call:
    /// the browser it is bridged to is to be asked.
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_asked)
    }

    /// The peer's SDP changed (re-INVITE): new addresses re-latch on the next packet.
    /// `rtcp` is `a=rtcp` (RFC 3605), else RTP port + 1.
    pub fn set_remote(
        &mut self,
        kind: MediaKind,
        rtp: Option<SocketAddr>,
        rtcp: Option<SocketAddr>,
    ) -> Result<(), RtpLegError> {
        self.stream_mut(kind)?.set_remote(rtp, rtcp);
        Ok(())
    }

    /// The payload types agreed in a new offer/answer.
    pub fn set_pt_map(
        &mut self,
        kind: MediaKind,
        pt_map: PtMap,
        telephone_event: Option<u8>,
        clock_rate: u32,
    ) -> Result<(), RtpLegError> {
        let s = self.stream_mut(kind)?;
        s.config.pt_map = pt_map;
        s.config.telephone_event = telephone_event;
        s.set_clock_rate(clock_rate);
        // A new negotiation may bring a new source toward the peer that reuses an SSRC
        // with a numbering of its own (an AudioBridge caller moved from its PIN lobby's
        // mixer to its room's): the next packet re-anchors right after the last one sent,
        // so the peer's jitter buffer sees no step back.
        s.restart_to_sip();
        Ok(())
    }

    /// Turns SRTP on (keys from `a=crypto`) or off for a stream.
    pub fn set_srtp(
        &mut self,
        kind: MediaKind,
        srtp: Option<Box<dyn SrtpTransform>>,
    ) -> Result<(), RtpLegError> {
        self.stream_mut(kind)?.srtp = srtp;
        Ok(())
    }

    pub fn stats(&self, kind: MediaKind) -> Option<RtpStreamStats> {
        self.streams
            .iter()
            .find(|s| s.config.kind == kind)
            .map(RtpStream::stats)
    }
}

fn shared(config: &RtpLegConfig, epoch: Instant) -> Shared<'_> {
    Shared {
        no_media_timeout: config.no_media_timeout,
        report_interval: config.report_interval,
        cname: &config.cname,
        epoch,
        wall_at_epoch: config.wall_clock,
    }
}
