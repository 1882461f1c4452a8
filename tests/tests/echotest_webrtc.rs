//! EchoTest against a WebRTC peer that shares no code with the server: webrtc-rs (the `webrtc`
//! crate) stands in for a browser, negotiates over the Janus HTTP API exactly as janus.js would
//! (non-trickle), sends synthetic opus and VP8 RTP plus a data-channel text, and counts what
//! comes back. The expectations are what Janus 1.x does (shared/reference/webrtc-test-peer.md).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cardea_tests::{transaction, Cardea, EventStream};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
};

const PLUGIN: &str = "janus.plugin.echotest";
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
const AUDIO_SSRC: u32 = 0x1111_1111;
const VIDEO_SSRC: u32 = 0x2222_2222;
const SEND_FOR: Duration = Duration::from_secs(5);
const DATA_TEXT: &str = "hello-echotest";
/// Bound on each wait for a server event or a connection step.
const STEP: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_echoes_opus_vp8_and_data_back_to_an_independent_peer() {
    timeout(Duration::from_secs(50), echo_opus_vp8_and_data())
        .await
        .expect("the whole EchoTest exchange did not finish within 50 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echotest_bitrate_request_answers_ok() {
    timeout(Duration::from_secs(30), async {
        let cardea = Cardea::start("");
        let janus = cardea.janus();
        let session = janus.create().await;
        let handle = janus.attach(session, PLUGIN).await;
        let mut events = janus.events(session);

        let tx = transaction();
        let reply = janus
            .message(session, handle, &tx, json!({"bitrate": 128000}), None)
            .await;
        assert_eq!(
            reply["janus"], "ack",
            "EchoTest answers a message asynchronously: {reply}"
        );
        assert_eq!(reply["transaction"], tx.as_str(), "{reply}");

        let event = events
            .wait_for("the EchoTest event for the bitrate request", STEP, |e| {
                e["janus"] == "event" && e["transaction"] == tx.as_str()
            })
            .await;
        assert_eq!(event["sender"], handle, "{event}");
        assert_eq!(event["session_id"], session, "{event}");
        assert_eq!(event["plugindata"]["plugin"], PLUGIN, "{event}");
        assert_eq!(event["plugindata"]["data"]["echotest"], "event", "{event}");
        assert_eq!(event["plugindata"]["data"]["result"], "ok", "{event}");
        assert!(
            event.get("jsep").is_none(),
            "no SDP was offered, none may come back: {event}"
        );
        drop(events);
        drop(cardea);
    })
    .await
    .expect("the bitrate exchange did not finish within 30 s");
}

async fn echo_opus_vp8_and_data() {
    let cardea = Cardea::start("");
    let janus = cardea.janus();
    let session = janus.create().await;
    let handle = janus.attach(session, PLUGIN).await;
    let mut events = janus.events(session);

    // The browser stand-in: opus + VP8 send/recv and one data channel.
    let peer = Peer::new();
    let pc = peer_connection(
        Arc::clone(&peer),
        &loopback_ip_of(&cardea.listeners.media[0]),
    )
    .await;
    let audio = local_track(RtpCodecKind::Audio, opus(), AUDIO_SSRC);
    let video = local_track(RtpCodecKind::Video, vp8(), VIDEO_SSRC);
    for track in [&audio, &video] {
        pc.add_track(Arc::clone(track) as Arc<dyn TrackLocal>)
            .await
            .expect("add_track");
    }
    let dc = pc
        .create_data_channel("wpc", None)
        .await
        .expect("create_data_channel");
    let (mut dc_open_rx, mut dc_reply_rx) = run_data_channel(Arc::clone(&dc));

    // Non-trickle offer: every candidate in the SDP.
    let offer = pc.create_offer(None).await.expect("create_offer");
    pc.set_local_description(offer)
        .await
        .expect("set_local_description");
    let mut gathering = peer.gathering.subscribe();
    timeout(
        STEP,
        gathering.wait_for(|s| *s == RTCIceGatheringState::Complete),
    )
    .await
    .expect("ICE gathering did not complete")
    .expect("gathering watch closed");
    let offer_sdp = pc
        .local_description()
        .await
        .expect("a local description")
        .sdp;

    let tx = transaction();
    let reply = janus
        .message(
            session,
            handle,
            &tx,
            json!({"audio": true, "video": true}),
            Some(json!({"type": "offer", "sdp": &offer_sdp, "trickle": false})),
        )
        .await;
    assert_eq!(
        reply["janus"], "ack",
        "EchoTest answers a message asynchronously: {reply}"
    );
    assert_eq!(reply["transaction"], tx.as_str(), "{reply}");

    let event = events
        .wait_for("the EchoTest event with the jsep answer", STEP, |e| {
            e["janus"] == "event" && e["transaction"] == tx.as_str()
        })
        .await;
    assert_eq!(event["sender"], handle, "{event}");
    assert_eq!(event["plugindata"]["plugin"], PLUGIN, "{event}");
    assert_eq!(event["plugindata"]["data"]["echotest"], "event", "{event}");
    assert_eq!(event["plugindata"]["data"]["result"], "ok", "{event}");
    assert_eq!(event["jsep"]["type"], "answer", "{event}");
    let answer_sdp = event["jsep"]["sdp"]
        .as_str()
        .unwrap_or_else(|| panic!("no jsep.sdp: {event}"));
    assert!(
        host_candidates(answer_sdp)
            .iter()
            .any(|c| cardea.listeners.media.contains(c)),
        "the non-trickle answer carries a host candidate on a media socket {:?}:\n{answer_sdp}",
        cardea.listeners.media
    );

    pc.set_remote_description(
        RTCSessionDescription::answer(answer_sdp.to_owned()).expect("answer SDP"),
    )
    .await
    .unwrap_or_else(|e| panic!("set_remote_description: {e}\n{answer_sdp}"));
    let mut connection = peer.connection.subscribe();
    timeout(
        STEP,
        connection.wait_for(|s| {
            assert_ne!(*s, RTCPeerConnectionState::Failed, "ICE/DTLS failed");
            *s == RTCPeerConnectionState::Connected
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("ICE+DTLS did not connect; offer:\n{offer_sdp}\nanswer:\n{answer_sdp}")
    })
    .expect("connection watch closed");

    // Media: 5 s of opus at 50 packets/s and VP8 at 30 frames/s, both at once.
    let audio_sender = tokio::spawn(send_rtp(Arc::clone(&audio), Media::Audio));
    let video_sender = tokio::spawn(send_rtp(Arc::clone(&video), Media::Video));

    timeout(STEP, dc_open_rx.wait_for(|open| *open))
        .await
        .expect("the data channel did not open")
        .expect("data channel watch closed");
    dc.send_text(DATA_TEXT).await.expect("send_text");
    let dc_reply = timeout(STEP, dc_reply_rx.recv())
        .await
        .expect("no data-channel reply")
        .expect("data channel closed before replying");
    assert!(
        dc_reply.contains(DATA_TEXT),
        "the data-channel reply {dc_reply:?} should contain the text sent, {DATA_TEXT:?}"
    );

    let audio_sent = audio_sender.await.expect("audio sender task");
    let video_sent = video_sender.await.expect("video sender task");
    assert_eq!(audio_sent, 250, "opus packets written in 5 s");
    assert_eq!(video_sent, 150, "VP8 frames written in 5 s");

    // Let the last echoes in.
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < settle
        && (peer.echoed(RtpCodecKind::Audio).distinct < audio_sent
            || peer.echoed(RtpCodecKind::Video).distinct < video_sent)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let audio_back = peer.echoed(RtpCodecKind::Audio);
    let video_back = peer.echoed(RtpCodecKind::Video);
    eprintln!("audio sent {audio_sent}, echoed {audio_back:?}; video sent {video_sent}, echoed {video_back:?}");
    assert!(
        audio_back.distinct * 100 >= audio_sent * 95,
        "opus: {} of {audio_sent} packets echoed ({audio_back:?})",
        audio_back.distinct
    );
    assert!(
        video_back.distinct * 100 >= video_sent * 95,
        "VP8: {} of {video_sent} frames echoed ({video_back:?})",
        video_back.distinct
    );
    assert_eq!(
        audio_back.payload_types,
        BTreeSet::from([OPUS_PT]),
        "audio echoed with the negotiated PT"
    );
    assert_eq!(
        video_back.payload_types,
        BTreeSet::from([VP8_PT]),
        "video echoed with the negotiated PT"
    );

    // What the long poll said meanwhile.
    let up = events
        .wait_for("webrtcup", STEP, |e| e["janus"] == "webrtcup")
        .await;
    assert_eq!(up["sender"], handle, "{up}");
    assert_eq!(up["session_id"], session, "{up}");
    for kind in ["audio", "video"] {
        let media = events
            .wait_for(
                &format!("a media event (type {kind}, receiving true)"),
                STEP,
                |e| e["janus"] == "media" && e["type"] == kind && e["receiving"] == true,
            )
            .await;
        assert_eq!(media["sender"], handle, "{media}");
        assert_eq!(media["session_id"], session, "{media}");
        assert!(
            media["mid"].is_string(),
            "media events name the m-line by mid: {media}"
        );
    }
    assert_no_errors(&mut events);

    // Hang up the PeerConnection, then drop the handle.
    let reply = janus.handle_request(session, handle, "hangup").await;
    assert_eq!(reply["janus"], "success", "{reply}");
    let hangup = events
        .wait_for("hangup", STEP, |e| e["janus"] == "hangup")
        .await;
    assert_eq!(hangup["sender"], handle, "{hangup}");
    assert_eq!(hangup["session_id"], session, "{hangup}");
    assert!(
        hangup["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "a hangup event says why: {hangup}"
    );
    // The plugin reports the end of the PeerConnection too (Janus 1.1.2 sends this just before
    // the hangup event; the order is not part of the contract).
    let done = events
        .wait_for("the EchoTest event with result done", STEP, |e| {
            e["janus"] == "event" && e["plugindata"]["data"]["result"] == "done"
        })
        .await;
    assert_eq!(done["sender"], handle, "{done}");
    assert_eq!(done["plugindata"]["data"]["echotest"], "event", "{done}");

    let reply = janus.handle_request(session, handle, "detach").await;
    assert_eq!(reply["janus"], "success", "{reply}");
    let detached = events
        .wait_for("detached", STEP, |e| e["janus"] == "detached")
        .await;
    assert_eq!(detached["sender"], handle, "{detached}");
    assert_eq!(detached["session_id"], session, "{detached}");

    eprintln!("events of session {session}:\n{}", events.describe());
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    drop(events);
    drop(cardea);
}

/// `ip:port` of every `typ host` candidate in an SDP.
fn host_candidates(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.strip_prefix("a=candidate:"))
        .filter_map(|candidate| {
            // foundation component transport priority address port typ type ...
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            (fields.len() >= 8 && fields[6] == "typ" && fields[7] == "host")
                .then(|| format!("{}:{}", fields[4], fields[5]))
        })
        .collect()
}

fn assert_no_errors(events: &mut EventStream) {
    let seen = events.drain();
    let errors: Vec<&Value> = seen.iter().filter(|e| e["janus"] == "error").collect();
    assert!(
        errors.is_empty(),
        "the long poll reported errors: {errors:?}"
    );
}

/// What the peer observed: ICE gathering, connection state, echoed RTP.
struct Peer {
    gathering: watch::Sender<RTCIceGatheringState>,
    connection: watch::Sender<RTCPeerConnectionState>,
    echoes: Mutex<HashMap<RtpCodecKind, Echoed>>,
}

/// The RTP that came back on one remote track.
#[derive(Clone, Default)]
struct Echoed {
    /// Packets received, retransmissions included.
    packets: usize,
    /// Distinct packets (by the index written into each payload).
    distinct: usize,
    indices: HashSet<u16>,
    payload_types: BTreeSet<u8>,
}

impl std::fmt::Debug for Echoed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} distinct of {} packets, payload types {:?}",
            self.distinct, self.packets, self.payload_types
        )
    }
}

impl Peer {
    fn new() -> Arc<Peer> {
        Arc::new(Peer {
            gathering: watch::channel(RTCIceGatheringState::New).0,
            connection: watch::channel(RTCPeerConnectionState::New).0,
            echoes: Mutex::new(HashMap::new()),
        })
    }

    fn echoed(&self, kind: RtpCodecKind) -> Echoed {
        self.echoes
            .lock()
            .unwrap()
            .get(&kind)
            .cloned()
            .unwrap_or_default()
    }

    fn count(&self, kind: RtpCodecKind, packet: &rtc::rtp::Packet) {
        let mut echoes = self.echoes.lock().unwrap();
        let echoed = echoes.entry(kind).or_default();
        echoed.packets += 1;
        echoed.payload_types.insert(packet.header.payload_type);
        // Each payload ends with the big-endian index it was sent with; the server may rewrite
        // the header (SSRC, sequence numbers) but forwards the payload untouched.
        let p = &packet.payload;
        if p.len() >= 2 {
            echoed
                .indices
                .insert(u16::from_be_bytes([p[p.len() - 2], p[p.len() - 1]]));
            echoed.distinct = echoed.indices.len();
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.0.gathering.send_replace(state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.0.connection.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let peer = Arc::clone(&self.0);
        tokio::spawn(async move {
            let kind = track.kind().await;
            while let Some(event) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                    peer.count(kind, &packet);
                }
            }
        });
    }
}

struct PeerHandler(Arc<Peer>);

/// The IP of a media socket, which must be a loopback address: the peer binds next to it.
/// (127.0.0.1 for Cardea; the same test passes against Janus 1.1.2 in a network namespace
/// whose libnice only gathers a 127.0.0.2 on a veth.)
fn loopback_ip_of(media: &str) -> String {
    let addr: std::net::SocketAddr = media
        .parse()
        .unwrap_or_else(|e| panic!("media address {media:?}: {e}"));
    assert!(
        addr.ip().is_loopback(),
        "tests use loopback only, media is on {addr}"
    );
    addr.ip().to_string()
}

async fn peer_connection(peer: Arc<Peer>, ip: &str) -> impl PeerConnection {
    let mut media_engine = MediaEngine::default();
    media_engine
        .register_codec(opus(), RtpCodecKind::Audio)
        .expect("register opus");
    media_engine
        .register_codec(vp8(), RtpCodecKind::Video)
        .expect("register VP8");
    let registry =
        register_default_interceptors(Registry::new(), &mut media_engine).expect("interceptors");
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(PeerHandler(peer)))
        // An explicit loopback IP: a wildcard bind skips loopback interfaces.
        .with_udp_addrs(vec![format!("{ip}:0")])
        .build()
        .await
        .expect("build the PeerConnection")
}

fn opus() -> RTCRtpCodecParameters {
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

fn vp8() -> RTCRtpCodecParameters {
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

fn local_track(
    kind: RtpCodecKind,
    codec: RTCRtpCodecParameters,
    ssrc: u32,
) -> Arc<TrackLocalStaticRTP> {
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "cardea-tests".to_owned(),
        format!("cardea-tests-{kind}"),
        format!("cardea-tests-{kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec.rtp_codec,
            // The default is inactive: nothing would be sent.
            active: true,
            ..Default::default()
        }],
    )))
}

/// Opens the channel's event loop: a watch that turns true on open, and the texts received.
fn run_data_channel(
    dc: Arc<dyn DataChannel>,
) -> (watch::Receiver<bool>, mpsc::UnboundedReceiver<String>) {
    let (open_tx, open_rx) = watch::channel(false);
    let (text_tx, text_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = dc.poll().await {
            match event {
                DataChannelEvent::OnOpen => {
                    open_tx.send_replace(true);
                }
                DataChannelEvent::OnMessage(message) => {
                    let _ = text_tx.send(String::from_utf8_lossy(&message.data).into_owned());
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
    });
    (open_rx, text_rx)
}

#[derive(Clone, Copy)]
enum Media {
    Audio,
    Video,
}

/// Sends synthetic RTP for [`SEND_FOR`]; returns how many packets were written. Every payload
/// ends with its big-endian index so echoes can be told apart.
async fn send_rtp(track: Arc<TrackLocalStaticRTP>, media: Media) -> usize {
    let (period, packets, ssrc, payload_type, clock_step) = match media {
        // 20 ms opus frames at 48 kHz.
        Media::Audio => (
            Duration::from_millis(20),
            SEND_FOR.as_millis() as usize / 20,
            AUDIO_SSRC,
            OPUS_PT,
            960u32,
        ),
        // 30 fps VP8, one packet per frame, at 90 kHz.
        Media::Video => (
            Duration::from_nanos(1_000_000_000 / 30),
            SEND_FOR.as_millis() as usize * 30 / 1000,
            VIDEO_SSRC,
            VP8_PT,
            3000u32,
        ),
    };
    let mut tick = tokio::time::interval(period);
    let mut sent = 0;
    for index in 0..packets as u16 {
        tick.tick().await;
        let mut payload: Vec<u8> = match media {
            // TOC 0xf8: CELT fullband 20 ms, mono, one frame.
            Media::Audio => vec![0xf8, 0xff, 0xfe],
            // Payload descriptor 0x10 (start of partition 0), then a key frame every 30 frames
            // (frame tag with the key bit clear, start code, 320x240) or an inter frame.
            Media::Video if index % 30 == 0 => {
                vec![
                    0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00,
                ]
            }
            Media::Video => vec![0x10, 0x51, 0x01, 0x00],
        };
        payload.extend_from_slice(&index.to_be_bytes());
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker: matches!(media, Media::Video),
                payload_type,
                sequence_number: 1000u16.wrapping_add(index),
                timestamp: 90_000u32.wrapping_add(clock_step.wrapping_mul(index as u32)),
                ssrc,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        };
        track.write_rtp(packet).await.expect("write_rtp");
        sent += 1;
    }
    sent
}
