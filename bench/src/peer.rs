//! One WebRTC peer of the load: a str0m `Rtc` in RTP mode that offers audio (and video),
//! sends probe-carrying packets on a schedule and books the echoes in its [`Ledger`].
//!
//! The peer is sans-IO like str0m itself, except for the UDP socket it owns: its local port
//! is what tells its datagrams apart from the other peers' (the server may send everything
//! from one port). The media loop drives it: [`Peer::receive`], [`Peer::tick`], and after
//! either the peer drains `poll_output` until str0m hands back its next timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::payload::{self, Vp8Packet};
use crate::probe::{Ledger, Probe};

/// Audio packets per second (20 ms frames, janus-api.md §4.1 clients send the same).
pub const AUDIO_PPS: u32 = 50;
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);

/// The one audio codec a peer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// Opus, 48 kHz clock: what browsers send to the EchoTest.
    Opus,
    /// G.711 µ-law, static payload type 0, 8 kHz clock: what a SIP call carries without
    /// transcoding.
    Pcmu,
}

impl AudioCodec {
    /// RTP clock ticks per 20 ms packet.
    fn ticks(self) -> u32 {
        match self {
            AudioCodec::Opus => 960,
            AudioCodec::Pcmu => 160,
        }
    }

    fn codec(self) -> Codec {
        match self {
            AudioCodec::Opus => Codec::Opus,
            AudioCodec::Pcmu => Codec::PCMU,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AudioCodec::Opus => "opus",
            AudioCodec::Pcmu => "PCMU",
        }
    }
}
/// Video frames per second, at most; each frame spans `pps / fps` packets.
const VIDEO_MAX_FPS: u32 = 30;
/// A peer that fell this far behind its schedule (a saturated client) skips ahead rather
/// than bursting the backlog into the server.
const MAX_LAG: Duration = Duration::from_millis(200);

/// What every peer sends.
#[derive(Debug, Clone)]
pub struct MediaPlan {
    /// The audio codec offered (and nothing else for audio).
    pub audio_codec: AudioCodec,
    /// Audio payload size, bytes.
    pub audio_size: usize,
    /// VP8, if any.
    pub video: Option<VideoPlan>,
}

/// The VP8 stream of a peer.
#[derive(Debug, Clone)]
pub struct VideoPlan {
    /// RTP packets per second.
    pub pps: u32,
    /// Payload size of every packet, bytes.
    pub size: usize,
    /// A key frame at least this often (and whenever the server asks with PLI/FIR).
    pub keyframe_interval: Duration,
}

/// Why a peer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("binding a UDP socket on {0}: {1}")]
    Bind(IpAddr, std::io::Error),
    #[error("str0m: {0}")]
    Rtc(#[from] str0m::RtcError),
    #[error("host candidate: {0}")]
    Candidate(#[from] str0m::error::IceError),
    #[error("bad SDP answer: {0}")]
    Answer(String),
    #[error("bad SDP offer: {0}")]
    Offer(String),
    #[error("the answer has no {0} payload type we offered")]
    NoPayloadType(&'static str),
}

/// What the peers share: one crypto provider and one DTLS certificate for all of them
/// (generating a certificate per peer would cost milliseconds each).
#[derive(Clone)]
pub struct PeerKit {
    pub crypto: Arc<CryptoProvider>,
    pub cert: DtlsCert,
    pub bind: IpAddr,
    pub plan: MediaPlan,
}

impl MediaPlan {
    /// Opus, and VP8 at `video_pps` packets/s (none at 0).
    pub fn opus_vp8(
        audio_size: usize,
        video_pps: u32,
        video_size: usize,
        keyframe_interval: Duration,
    ) -> Self {
        Self {
            audio_codec: AudioCodec::Opus,
            audio_size,
            video: (video_pps > 0).then_some(VideoPlan {
                pps: video_pps,
                size: video_size,
                keyframe_interval,
            }),
        }
    }
}

impl PeerKit {
    /// The kit of one run: a DTLS certificate from the built-in crypto provider, shared by
    /// every peer; `None` when none could be generated.
    pub fn new(bind: IpAddr, plan: MediaPlan) -> Option<Self> {
        let crypto = Arc::new(str0m::crypto::from_feature_flags());
        let cert = crypto.dtls_provider.generate_certificate()?;
        Some(Self {
            crypto,
            cert,
            bind,
            plan,
        })
    }
}

/// A peer that has made its offer and waits for the answer.
pub struct Offerer {
    index: u32,
    rtc: Rtc,
    pending: SdpPendingOffer,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    audio_mid: Mid,
    video_mid: Option<Mid>,
    plan: MediaPlan,
}

impl Offerer {
    /// Binds the peer's socket and makes the SDP offer (host candidate inside, no trickle).
    pub fn new(kit: &PeerKit, index: u32, now: Instant) -> Result<(Offerer, String), PeerError> {
        let socket = mio::net::UdpSocket::bind(SocketAddr::new(kit.bind, 0))
            .map_err(|e| PeerError::Bind(kit.bind, e))?;
        let local = socket
            .local_addr()
            .map_err(|e| PeerError::Bind(kit.bind, e))?;
        let video = kit.plan.video.is_some();
        let builder = Rtc::builder()
            .set_crypto_provider(Arc::clone(&kit.crypto))
            .set_dtls_cert(kit.cert.clone())
            .set_rtp_mode(true)
            .clear_codecs();
        let builder = match kit.plan.audio_codec {
            AudioCodec::Opus => builder.enable_opus(true, false),
            AudioCodec::Pcmu => builder.enable_pcmu(true, false),
        };
        let mut rtc = builder
            .enable_vp8(video)
            .set_stats_interval(None)
            .build(now);
        let candidate = Candidate::host(local, "udp")?;
        rtc.add_local_candidate(candidate);
        let mut sdp = rtc.sdp_api();
        let audio_mid = sdp.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video_mid =
            video.then(|| sdp.add_media(MediaKind::Video, Direction::SendRecv, None, None, None));
        let (offer, pending) = sdp
            .apply()
            .expect("adding media is a change, so apply() yields an offer");
        let offer = offer.to_sdp_string();
        Ok((
            Offerer {
                index,
                rtc,
                pending,
                socket,
                local,
                audio_mid,
                video_mid,
                plan: kit.plan.clone(),
            },
            offer,
        ))
    }

    /// Applies the server's answer; the peer is then ready for the media loop.
    pub fn accept(mut self, answer_sdp: &str, start: Instant) -> Result<Peer, PeerError> {
        let answer =
            SdpAnswer::from_sdp_string(answer_sdp).map_err(|e| PeerError::Answer(e.to_string()))?;
        self.rtc.sdp_api().accept_answer(self.pending, answer)?;
        let codec = self.plan.audio_codec;
        let audio_pt = negotiated_pt(&self.rtc, self.audio_mid, codec.codec())
            .ok_or(PeerError::NoPayloadType(codec.name()))?;
        let audio = Some(AudioTrack {
            mid: self.audio_mid,
            pt: audio_pt,
            codec,
            size: self.plan.audio_size,
            rtp_seq: 0,
            rtp_time: 0,
            next_at: None,
        });
        let video = match (self.video_mid, &self.plan.video) {
            (Some(mid), Some(plan)) => {
                let pt = negotiated_pt(&self.rtc, mid, Codec::Vp8)
                    .ok_or(PeerError::NoPayloadType("VP8"))?;
                Some(VideoTrack::new(mid, pt, plan))
            }
            _ => None,
        };
        Ok(Peer::new(
            self.index,
            self.rtc,
            self.socket,
            self.local,
            start,
            audio,
            video,
            None,
        ))
    }
}

/// A receive-only peer answering the server's offer: a VideoRoom subscriber. It sends no
/// media (str0m still sends its RTCP receiver reports and NACKs) and books every packet
/// carrying a probe of peer `source` (the publisher) in its ledger.
pub fn answerer(
    kit: &PeerKit,
    index: u32,
    source: u32,
    offer_sdp: &str,
    start: Instant,
) -> Result<(Peer, String), PeerError> {
    let socket = mio::net::UdpSocket::bind(SocketAddr::new(kit.bind, 0))
        .map_err(|e| PeerError::Bind(kit.bind, e))?;
    let local = socket
        .local_addr()
        .map_err(|e| PeerError::Bind(kit.bind, e))?;
    let offer =
        SdpOffer::from_sdp_string(offer_sdp).map_err(|e| PeerError::Offer(e.to_string()))?;
    let mut rtc = Rtc::builder()
        .set_crypto_provider(Arc::clone(&kit.crypto))
        .set_dtls_cert(kit.cert.clone())
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(None)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let answer = rtc.sdp_api().accept_offer(offer)?.to_sdp_string();
    let peer = Peer::new(index, rtc, socket, local, start, None, None, Some(source));
    Ok((peer, answer))
}

/// The payload type the answer kept for `codec` on `mid` (the answerer echoes the offer's
/// numbers, so it is one of ours).
fn negotiated_pt(rtc: &Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let config = rtc.codec_config();
    media.remote_pts().iter().copied().find(|pt| {
        config
            .find(|p| p.pt() == *pt)
            .is_some_and(|p| p.spec().codec == codec)
    })
}

struct AudioTrack {
    mid: Mid,
    pt: Pt,
    codec: AudioCodec,
    size: usize,
    rtp_seq: u64,
    rtp_time: u32,
    next_at: Option<Instant>,
}

struct VideoTrack {
    mid: Mid,
    pt: Pt,
    size: usize,
    interval: Duration,
    packets_per_frame: u32,
    keyframe_interval: Duration,
    rtp_seq: u64,
    next_at: Option<Instant>,
    /// Index of the next packet within its frame.
    in_frame: u32,
    picture_id: u16,
    frame_rtp_time: u32,
    frame_is_key: bool,
    keyframe_due: bool,
    last_keyframe: Option<Instant>,
}

impl VideoTrack {
    fn new(mid: Mid, pt: Pt, plan: &VideoPlan) -> VideoTrack {
        let pps = plan.pps.max(1);
        let packets_per_frame = pps.div_ceil(VIDEO_MAX_FPS);
        VideoTrack {
            mid,
            pt,
            size: plan.size,
            interval: Duration::from_secs(1) / pps,
            packets_per_frame,
            keyframe_interval: plan.keyframe_interval,
            rtp_seq: 0,
            next_at: None,
            in_frame: 0,
            picture_id: 0,
            frame_rtp_time: 0,
            frame_is_key: true,
            keyframe_due: true,
            last_keyframe: None,
        }
    }
}

/// A negotiated peer, owned by the media loop.
pub struct Peer {
    pub index: u32,
    rtc: Rtc,
    socket: mio::net::UdpSocket,
    local: SocketAddr,
    start: Instant,
    next_timeout: Instant,
    audio: Option<AudioTrack>,
    video: Option<VideoTrack>,
    sending: bool,
    /// Whose probes this peer receives: `None` for its own echoes, `Some(publisher)` for a
    /// receive-only subscriber.
    source: Option<u32>,
    /// When ICE and DTLS came up (str0m `Connected`).
    pub connected_at: Option<Instant>,
    /// When the first RTP packet carrying a probe arrived.
    pub first_rtp_at: Option<Instant>,
    /// Key frame requests (PLI/FIR) the server sent us, and key frames we sent.
    pub keyframe_requests: u64,
    pub keyframes_sent: u64,
    /// Why the peer stopped, if it did (ICE disconnected, DTLS closed, str0m error).
    pub failure: Option<String>,
    pub ledger: Ledger,
    /// Datagrams the socket refused (full send buffer): the client's own loss.
    pub send_errors: u64,
    /// Packets skipped because the loop lagged more than [`MAX_LAG`].
    pub skipped: u64,
}

impl Peer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        index: u32,
        rtc: Rtc,
        socket: mio::net::UdpSocket,
        local: SocketAddr,
        start: Instant,
        audio: Option<AudioTrack>,
        video: Option<VideoTrack>,
        source: Option<u32>,
    ) -> Peer {
        Peer {
            index,
            rtc,
            socket,
            local,
            start,
            next_timeout: Instant::now(),
            sending: audio.is_some() || video.is_some(),
            audio,
            video,
            source,
            connected_at: None,
            first_rtp_at: None,
            keyframe_requests: 0,
            keyframes_sent: 0,
            failure: None,
            ledger: Ledger::default(),
            send_errors: 0,
            skipped: 0,
        }
    }

    /// The socket, to register with the media loop's poll.
    pub fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    /// The local UDP port: it identifies this peer's socket in `/proc/net/udp`.
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }

    pub fn is_alive(&self) -> bool {
        self.failure.is_none() && self.rtc.is_alive()
    }

    /// Stops scheduling new packets (echoes are still received).
    pub fn stop_sending(&mut self) {
        self.sending = false;
    }

    /// The next instant this peer needs [`Peer::tick`].
    pub fn deadline(&self) -> Instant {
        let mut at = self.next_timeout;
        if self.sending {
            for next in [
                self.audio.as_ref().and_then(|a| a.next_at),
                self.video.as_ref().and_then(|v| v.next_at),
            ]
            .into_iter()
            .flatten()
            {
                at = at.min(next);
            }
        }
        at
    }

    /// Reads every datagram waiting on the socket (the poll is edge-triggered) and feeds it
    /// to str0m. `buf` is scratch space of at least 2000 bytes.
    pub fn receive(&mut self, buf: &mut [u8]) {
        loop {
            let (n, source) = match self.socket.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable and the like surface here on Linux; ICE decides.
                Err(_) => return,
            };
            if !self.is_alive() {
                continue;
            }
            let now = Instant::now();
            // Not STUN, DTLS, RTP or RTCP (RFC 7983): nothing str0m can use.
            let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, &buf[..n]) else {
                continue;
            };
            if let Err(e) = self.rtc.handle_input(Input::Receive(now, receive)) {
                self.fail(format!("handle_input: {e}"));
                return;
            }
            self.drain(now);
        }
    }

    /// Sends what is due and advances str0m's timers.
    pub fn tick(&mut self, now: Instant) {
        if !self.is_alive() {
            return;
        }
        if self.sending && self.connected_at.is_some() {
            self.send_audio(now);
            self.send_video(now);
        }
        if now >= self.next_timeout {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                self.fail(format!("timeout: {e}"));
                return;
            }
        }
        self.drain(now);
    }

    /// Drains str0m's output until it names its next timeout (the str0m driving contract).
    fn drain(&mut self, now: Instant) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    if self.socket.send_to(&t.contents, t.destination).is_err() {
                        self.send_errors += 1;
                    }
                }
                Ok(Output::Event(event)) => self.on_event(event, now),
                Err(e) => {
                    self.fail(format!("poll_output: {e}"));
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Connected => {
                self.connected_at = Some(now);
                // Spread the peers over one audio interval so their packets do not all
                // leave in the same millisecond.
                let phase = AUDIO_INTERVAL * (self.index % 20) / 20;
                if let Some(a) = &mut self.audio {
                    a.next_at = Some(now + phase);
                }
                if let Some(v) = &mut self.video {
                    v.next_at = Some(now + phase);
                }
            }
            Event::RtpPacket(packet) => {
                if let Some(probe) = Probe::read_tail(&packet.payload) {
                    let arrived = self.micros(packet.timestamp);
                    if self.first_rtp_at.is_none() {
                        self.first_rtp_at = Some(packet.timestamp);
                    }
                    match self.source {
                        None => self.ledger.echoed(self.index, probe, arrived),
                        Some(source) => self.ledger.received(source, probe, arrived),
                    }
                }
            }
            Event::KeyframeRequest(req) => {
                self.keyframe_requests += 1;
                if let Some(v) = &mut self.video {
                    if v.mid == req.mid {
                        v.keyframe_due = true;
                    }
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail("ICE disconnected".into());
            }
            Event::Closed => self.fail("DTLS closed by the server".into()),
            _ => {}
        }
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            self.failure = Some(why);
        }
        self.rtc.disconnect();
    }

    fn micros(&self, t: Instant) -> u32 {
        t.saturating_duration_since(self.start).as_micros() as u32
    }

    fn send_audio(&mut self, now: Instant) {
        loop {
            let Some(a) = self.audio.as_mut() else { return };
            let Some(at) = a.next_at.filter(|at| *at <= now) else {
                return;
            };
            let (mid, pt, codec, size, rtp_seq, rtp_time) =
                (a.mid, a.pt, a.codec, a.size, a.rtp_seq, a.rtp_time);
            a.rtp_time = a.rtp_time.wrapping_add(a.codec.ticks());
            a.next_at = Some(at + AUDIO_INTERVAL);
            if now - at > MAX_LAG {
                self.skipped += 1;
                continue;
            }
            a.rtp_seq += 1;
            let sent_us = self.micros(now);
            let seq = self.ledger.next_sent(sent_us);
            let probe = Probe {
                peer: self.index,
                seq,
                sent_us,
            };
            let payload = match codec {
                AudioCodec::Opus => payload::opus(size, probe),
                AudioCodec::Pcmu => payload::pcmu(size, probe),
            };
            let write = RtpWrite::new(pt, rtp_seq.into(), rtp_time, now, payload);
            self.write(mid, write);
        }
    }

    fn send_video(&mut self, now: Instant) {
        loop {
            let Some(v) = self.video.as_mut() else { return };
            let Some(at) = v.next_at.filter(|at| *at <= now) else {
                return;
            };
            if v.in_frame == 0 {
                // A new frame: RTP time from the schedule, key frame if asked or due.
                v.frame_rtp_time =
                    (at.saturating_duration_since(self.start).as_micros() * 90 / 1000) as u32;
                v.picture_id = (v.picture_id + 1) & 0x7fff;
                let periodic = v
                    .last_keyframe
                    .is_none_or(|k| now.saturating_duration_since(k) >= v.keyframe_interval);
                v.frame_is_key = v.keyframe_due || periodic;
                if v.frame_is_key {
                    v.keyframe_due = false;
                    v.last_keyframe = Some(now);
                }
            }
            let frame_start = v.in_frame == 0;
            v.in_frame += 1;
            let marker = v.in_frame == v.packets_per_frame;
            if marker {
                v.in_frame = 0;
            }
            v.next_at = Some(at + v.interval);
            let lagging = now - at > MAX_LAG;
            let (mid, pt, size, rtp_seq, rtp_time) =
                (v.mid, v.pt, v.size, v.rtp_seq, v.frame_rtp_time);
            let packet = Vp8Packet {
                frame_start,
                keyframe: v.frame_is_key,
                picture_id: v.picture_id,
            };
            if lagging {
                // Keep the frame structure; only the packet is not sent (and not counted).
                self.skipped += 1;
                continue;
            }
            v.rtp_seq += 1;
            if frame_start && v.frame_is_key {
                self.keyframes_sent += 1;
            }
            let sent_us = self.micros(now);
            let seq = self.ledger.next_sent_video(sent_us);
            let probe = Probe {
                peer: self.index,
                seq,
                sent_us,
            };
            let payload = payload::vp8(size, packet, probe);
            let write = RtpWrite::new(pt, rtp_seq.into(), rtp_time, now, payload).marker(marker);
            self.write(mid, write);
        }
    }

    fn write(&mut self, mid: Mid, write: RtpWrite) {
        let mut api = self.rtc.direct_api();
        match api.stream_tx_by_mid(mid, None) {
            Some(tx) => tx.write_rtp(write),
            None => self.fail(format!("no send stream for mid {mid}")),
        }
    }
}
