//! The browser stand-in: a webrtc-rs PeerConnection on loopback next to Cardea's media
//! socket, for opus and VP8 (with RTX or the audio level extension when asked), that records
//! its ICE gathering and connection states and every RTP packet it receives; non-trickle
//! offers and answers; local tracks and RTP packets to write on them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cardea_tests::Cardea;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_OPUS, MIME_TYPE_PCMU, MIME_TYPE_RTX, MIME_TYPE_VP8, MIME_TYPE_VP9,
};
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RTCRtpRtxParameters, RtpCodecKind,
};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

use super::STEP;

pub const OPUS_PT: u8 = 111;
/// G.711 µ-law, registered only with [`PeerOptions::pcmu`].
pub const PCMU_PT: u8 = 0;
pub const VP8_PT: u8 = 96;
/// The payload type of VP9 where a peer takes it ([`PeerOptions::vp9`]).
pub const VP9_PT: u8 = 98;
/// RTX for VP8, registered only with [`PeerOptions::video_rtx`].
pub const RTX_PT: u8 = 97;
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// An opus payload's TOC byte 0xf8 (CELT fullband 20 ms, mono, one frame) and two bytes of
/// frame.
pub const OPUS_FRAME: [u8; 3] = [0xf8, 0xff, 0xfe];

/// What a PeerConnection observed: ICE gathering, connection state, received RTP.
pub struct PeerState {
    pub gathering: watch::Sender<RTCIceGatheringState>,
    pub connection: watch::Sender<RTCPeerConnectionState>,
    /// Every connection state reported, in order.
    pub history: Mutex<Vec<RTCPeerConnectionState>>,
    pub got: Mutex<HashMap<RtpCodecKind, Vec<Got>>>,
    /// PLI and FIR about a local track that webrtc-rs handed to a remote track instead
    /// ([`PeerOptions::keyframe_requests`]). It routes inbound RTCP by track id, remote tracks
    /// first; an answer that repeats the offer's msid (str0m's answers do) gives the track
    /// coming back the local track's id, so the requests about the local track go there.
    pub remote_track_keyframe_requests: Mutex<Vec<KeyframeRequest>>,
}

impl PeerState {
    pub fn new() -> Arc<PeerState> {
        Arc::new(PeerState {
            gathering: watch::channel(RTCIceGatheringState::New).0,
            connection: watch::channel(RTCPeerConnectionState::New).0,
            history: Mutex::new(Vec::new()),
            got: Mutex::new(HashMap::new()),
            remote_track_keyframe_requests: Mutex::new(Vec::new()),
        })
    }

    /// The RTP packets received so far on the remote tracks of `kind`, in arrival order.
    pub fn received(&self, kind: RtpCodecKind) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .get(&kind)
            .cloned()
            .unwrap_or_default()
    }

    /// How many RTP packets of `kind` were received so far.
    pub fn count(&self, kind: RtpCodecKind) -> usize {
        self.got.lock().unwrap().get(&kind).map_or(0, Vec::len)
    }
}

/// One RTP packet the peer received.
#[derive(Clone, Debug)]
pub struct Got {
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub pt: u8,
    pub payload: Bytes,
    pub at: Instant,
}

/// Bytes at the end of every payload the tests send: the sender's tag, then the packet's
/// index (big endian).
pub const TRAILER: usize = 3;

impl Got {
    /// The packet's index in the stream it was sent in: every payload the tests send ends
    /// with it (big endian); the server may rewrite the header but not the payload.
    pub fn index(&self) -> Option<u16> {
        let p = &self.payload;
        (p.len() >= 2).then(|| u16::from_be_bytes([p[p.len() - 2], p[p.len() - 1]]))
    }

    /// The sender's tag in the trailer (its index there is [`Got::index`]).
    pub fn tag(&self) -> Option<u8> {
        let p = &self.payload;
        (p.len() >= TRAILER).then(|| p[p.len() - TRAILER])
    }

    /// Whether the packet begins a VP8 key frame.
    pub fn keyframe_start(&self) -> bool {
        vp8_keyframe_start(&self.payload)
    }

    /// The VP8 temporal layer (TID) its descriptor carries, if any (RFC 7741 §4.2).
    pub fn vp8_tid(&self) -> Option<u8> {
        let p = &self.payload;
        let (b0, x) = (*p.first()?, *p.get(1)?);
        if b0 & 0x80 == 0 || x & 0x20 == 0 {
            return None;
        }
        let mut i = 2;
        if x & 0x80 != 0 {
            i += if p.get(2)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        Some(p.get(i)? >> 6)
    }
}

/// RFC 7741 §4.2: the payload descriptor (with its optional X, I, L, T/K extensions), then on
/// the start of partition 0 the payload header, whose inverse key frame bit P is 0 on a key
/// frame. (The tests' own reading, independent of the server's.)
pub fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    if b0 & 0x10 == 0 || b0 & 0x07 != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        i = 2;
        if x & 0x80 != 0 {
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

struct PeerHandler(Arc<PeerState>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.0.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.0.history.lock().unwrap().push(state);
        self.0.connection.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let peer = Arc::clone(&self.0);
        tokio::spawn(async move {
            let kind = track.kind().await;
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        peer.got.lock().unwrap().entry(kind).or_default().push(Got {
                            seq: packet.header.sequence_number,
                            ts: packet.header.timestamp,
                            ssrc: packet.header.ssrc,
                            pt: packet.header.payload_type,
                            payload: packet.payload.clone(),
                            at: Instant::now(),
                        });
                    }
                    TrackRemoteEvent::OnRtcpPacket(packets) => {
                        let requests = packets
                            .iter()
                            .filter_map(|p| KeyframeRequest::of(p.as_ref()));
                        peer.remote_track_keyframe_requests
                            .lock()
                            .unwrap()
                            .extend(requests);
                    }
                    _ => {}
                }
            }
        });
    }
}

/// What a PeerConnection offers beyond opus and VP8.
#[derive(Clone, Copy, Default)]
pub struct PeerOptions {
    /// RTX for VP8 ([`RTX_PT`]).
    pub video_rtx: bool,
    /// The RFC 6464 audio level header extension on audio (the default interceptors add the
    /// mid and rid extensions on video, which simulcast needs).
    pub audio_level: bool,
    /// Inbound PLI and FIR handed to the local tracks' `poll`, as an encoder hears them
    /// ([`KeyframeRequestsToApp`]).
    pub keyframe_requests: bool,
    /// PCMU ([`PCMU_PT`]) offered on audio after opus.
    pub pcmu: bool,
    /// VP9 ([`VP9_PT`]) taken on video after VP8.
    pub vp9: bool,
}

/// A PeerConnection for opus and VP8 reporting to `peer`, bound to the IP of Cardea's first
/// media socket.
pub async fn peer_connection(
    cardea: &Cardea,
    peer: Arc<PeerState>,
    options: PeerOptions,
) -> Arc<dyn PeerConnection> {
    let ip = loopback_ip_of(&cardea.listeners.media[0]);
    let mut media_engine = MediaEngine::default();
    media_engine
        .register_codec(opus(), RtpCodecKind::Audio)
        .expect("register opus");
    if options.pcmu {
        media_engine
            .register_codec(pcmu(), RtpCodecKind::Audio)
            .expect("register PCMU");
    }
    media_engine
        .register_codec(vp8(), RtpCodecKind::Video)
        .expect("register VP8");
    if options.vp9 {
        let mut vp9 = vp8();
        vp9.rtp_codec.mime_type = MIME_TYPE_VP9.to_owned();
        vp9.rtp_codec.sdp_fmtp_line = "profile-id=0".to_owned();
        vp9.payload_type = VP9_PT;
        media_engine
            .register_codec(vp9, RtpCodecKind::Video)
            .expect("register VP9");
    }
    if options.video_rtx {
        media_engine
            .register_codec(vp8_rtx(), RtpCodecKind::Video)
            .expect("register RTX for VP8");
    }
    if options.audio_level {
        media_engine
            .register_header_extension(
                RTCRtpHeaderExtensionCapability {
                    uri: AUDIO_LEVEL_URI.to_owned(),
                },
                RtpCodecKind::Audio,
                None,
            )
            .expect("register the audio level extension");
    }
    let mut registry =
        register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
    if options.keyframe_requests {
        registry = registry.with(Slot::from(14_000), KeyframeRequestsToApp::default());
    }
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(PeerHandler(peer)))
        // An explicit loopback IP: a wildcard bind skips loopback interfaces.
        .with_udp_addrs(vec![format!("{ip}:0")])
        .build()
        .await
        .expect("build the PeerConnection");
    Arc::new(pc)
}

/// The IP of a media socket, which must be a loopback address: the peer binds next to it.
/// (127.0.0.1 for Cardea; the EchoTest test also passes against Janus 1.1.2 in a network
/// namespace whose libnice only gathers a 127.0.0.2 on a veth.)
pub fn loopback_ip_of(media: &str) -> String {
    let addr: std::net::SocketAddr = media
        .parse()
        .unwrap_or_else(|e| panic!("media address {media:?}: {e}"));
    assert!(
        addr.ip().is_loopback(),
        "tests use loopback only, media is on {addr}"
    );
    addr.ip().to_string()
}

/// Creates and applies an offer (an ICE restart with `options` asking so), waits for
/// gathering (non-trickle) and returns its SDP.
pub async fn local_offer(
    pc: &dyn PeerConnection,
    peer: &PeerState,
    options: Option<RTCOfferOptions>,
    what: &str,
) -> String {
    let restart = options.is_some_and(|o| o.ice_restart);
    let mut gathering = peer.gathering.subscribe();
    gathering.mark_unchanged();
    let offer = pc.create_offer(options).await.expect("create_offer");
    pc.set_local_description(offer)
        .await
        .expect("set_local_description");
    if restart {
        // A restart gathers again: wait for it to start (if it reports so) before waiting for
        // the end, so that a stale "complete" does not count.
        let _ = timeout(Duration::from_secs(2), gathering.changed()).await;
    }
    wait_gathered(&mut gathering, what).await;
    pc.local_description()
        .await
        .expect("a local description")
        .sdp
}

/// Applies the remote `offer_sdp`, creates and applies the answer, waits for gathering
/// (non-trickle) and returns the answer's SDP.
pub async fn local_answer(
    pc: &dyn PeerConnection,
    peer: &PeerState,
    offer_sdp: &str,
    what: &str,
) -> String {
    pc.set_remote_description(
        RTCSessionDescription::offer(offer_sdp.to_owned()).expect("offer SDP"),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: set_remote_description: {e}\n{offer_sdp}"));
    let mut gathering = peer.gathering.subscribe();
    gathering.mark_unchanged();
    let answer = pc.create_answer(None).await.expect("create_answer");
    pc.set_local_description(answer)
        .await
        .expect("set_local_description");
    wait_gathered(&mut gathering, what).await;
    pc.local_description()
        .await
        .expect("a local description")
        .sdp
}

/// Applies the remote `answer_sdp`.
pub async fn apply_answer(pc: &dyn PeerConnection, answer_sdp: &str, what: &str) {
    pc.set_remote_description(
        RTCSessionDescription::answer(answer_sdp.to_owned()).expect("answer SDP"),
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: set_remote_description: {e}\n{answer_sdp}"));
}

async fn wait_gathered(gathering: &mut watch::Receiver<RTCIceGatheringState>, what: &str) {
    timeout(
        STEP,
        gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await
    .unwrap_or_else(|_| panic!("ICE gathering for {what} did not complete"))
    .expect("gathering watch closed");
}

/// Waits up to `within` for the peer to report connected; panics should it report failed
/// first or the time run out, with `context`.
pub async fn wait_connected(peer: &PeerState, within: Duration, context: &str) {
    let mut connection = peer.connection.subscribe();
    timeout(
        within,
        connection.wait_for(|s| {
            assert_ne!(
                *s,
                RTCPeerConnectionState::Failed,
                "ICE/DTLS failed: {context}"
            );
            *s == RTCPeerConnectionState::Connected
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not connected within {within:?} (states {:?}): {context}",
            peer.history.lock().unwrap()
        )
    })
    .expect("connection watch closed");
}

pub fn opus() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        },
        payload_type: OPUS_PT,
    }
}

/// G.711 µ-law at 8 kHz ([`PeerOptions::pcmu`]).
pub fn pcmu() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_PCMU.to_owned(),
            clock_rate: 8000,
            // 0, not 1: `a=rtpmap:0 PCMU/8000`, as browsers write it.
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        },
        payload_type: PCMU_PT,
    }
}

pub fn vp8() -> RTCRtpCodecParameters {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![
                feedback("goog-remb", ""),
                feedback("ccm", "fir"),
                feedback("nack", ""),
                feedback("nack", "pli"),
            ],
        },
        payload_type: VP8_PT,
    }
}

/// RTX (RFC 4588) for [`vp8`].
pub fn vp8_rtx() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_RTX.to_owned(),
            clock_rate: 90000,
            channels: 0,
            sdp_fmtp_line: format!("apt={VP8_PT}"),
            rtcp_feedback: vec![],
        },
        payload_type: RTX_PT,
    }
}

/// A local track `<stream>-<kind>` in media stream `stream`, sending `encodings`.
pub fn local_track_with(
    stream: &str,
    kind: RtpCodecKind,
    encodings: Vec<RTCRtpEncodingParameters>,
) -> Arc<TrackLocalStaticRTP> {
    let id = format!("{stream}-{kind}");
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream.to_owned(),
        id.clone(),
        id,
        kind,
        encodings,
    )))
}

/// An active encoding of `codec` on `ssrc`, with an RTX SSRC when `rtx` names one (announced
/// as `a=ssrc-group:FID ssrc rtx`); with a non-empty `rid`, the simulcast layer of that rid.
pub fn encoding(
    codec: &RTCRtpCodecParameters,
    ssrc: u32,
    rtx: Option<u32>,
    rid: &str,
) -> RTCRtpEncodingParameters {
    RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            rid: rid.to_owned(),
            ssrc: Some(ssrc),
            rtx: rtx.map(|ssrc| RTCRtpRtxParameters { ssrc }),
            ..Default::default()
        },
        codec: codec.rtp_codec.clone(),
        // The default is inactive: nothing would be sent.
        active: true,
        ..Default::default()
    }
}

/// A local track `<stream>-<kind>` sending `codec` on `ssrc` (and on the RTX SSRC `rtx`).
pub fn local_track(
    stream: &str,
    kind: RtpCodecKind,
    codec: RTCRtpCodecParameters,
    ssrc: u32,
    rtx: Option<u32>,
) -> Arc<TrackLocalStaticRTP> {
    local_track_with(stream, kind, vec![encoding(&codec, ssrc, rtx, "")])
}

/// An RTP packet with no header extension.
pub fn rtp(
    payload_type: u8,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    marker: bool,
    payload: Vec<u8>,
) -> rtc::rtp::Packet {
    rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            ..Default::default()
        },
        payload: Bytes::from(payload),
    }
}

/// A PLI or FIR the peer received.
#[derive(Clone, Debug)]
pub struct KeyframeRequest {
    /// "PLI" or "FIR".
    pub what: &'static str,
    /// The media SSRC of a PLI, the SSRCs of a FIR's entries.
    pub ssrcs: Vec<u32>,
    pub at: Instant,
}

impl KeyframeRequest {
    /// `packet`, received now, if it asks for a key frame.
    pub fn of(packet: &dyn rtc::rtcp::Packet) -> Option<KeyframeRequest> {
        let any = packet.as_any();
        let (what, ssrcs) = if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
            ("PLI", vec![pli.media_ssrc])
        } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
            ("FIR", fir.fir.iter().map(|e| e.ssrc).collect())
        } else {
            return None;
        };
        Some(KeyframeRequest {
            what,
            ssrcs,
            at: Instant::now(),
        })
    }
}

/// Whether an RTCP packet asks for a key frame.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    KeyframeRequest::of(packet).is_some()
}

/// Hands inbound PLI and FIR to the application (through `TrackLocal::poll`), as an encoder
/// would hear them; every other inbound RTCP packet stays with the interceptors. Last in the
/// chain, so the others see everything first.
#[derive(Default)]
pub struct KeyframeRequestsToApp {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestsToApp {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = std::time::Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestsToApp {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// The payloads (a test's trailer still to add) of VP8 frame number `frame` (RFC 7741): a
/// key frame is three packets (S=1, PID=0 and the key frame header P=0, start code,
/// 320x240; then two continuations S=0), an inter frame one (P=1); a 15-bit PictureID in
/// every descriptor.
pub fn vp8_frame(key: bool, frame: u32) -> Vec<Vec<u8>> {
    vp8_frame_in_layer(key, frame, None)
}

/// [`vp8_frame`] of temporal layer `tid` (the T bit and TID byte in every descriptor), as
/// a sender coding several frame rates marks them.
pub fn vp8_frame_in_layer(key: bool, frame: u32, tid: Option<u8>) -> Vec<Vec<u8>> {
    let picture_id = (frame & 0x7fff) as u16;
    let descriptor = |start: bool| -> Vec<u8> {
        let mut d = vec![
            if start { 0x90 } else { 0x80 },
            if tid.is_some() { 0xa0 } else { 0x80 },
            0x80 | (picture_id >> 8) as u8,
            picture_id as u8,
        ];
        if let Some(t) = tid {
            d.push(t << 6);
        }
        d
    };
    let mut packets: Vec<Vec<u8>> = Vec::new();
    if key {
        let mut first = descriptor(true);
        first.extend_from_slice(&[0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
        first.extend_from_slice(&[0xaa; 40]);
        packets.push(first);
        for _ in 0..2 {
            let mut more = descriptor(false);
            more.extend_from_slice(&[0xbb; 60]);
            packets.push(more);
        }
    } else {
        let mut only = descriptor(true);
        only.extend_from_slice(&[0x51, 0x01, 0x00]);
        only.extend_from_slice(&[0xcc; 20]);
        packets.push(only);
    }
    packets
}
