//! Janus recordings (`.mjr`) written by the real `cardea`, read back by Janus's own
//! post-processor, `janus-pp-rec` (Debian's janus-tools), which shares no code with Cardea:
//!
//! - Streaming: a plain RTP source (this test) sends opus and VP8 to a mountpoint; the
//!   `recording` request starts and stops a recording per mid; its errors are Janus's. A
//!   data stream's datagrams become the frames of a Janus `text` recording.
//! - VideoRoom: a webrtc-rs publisher is recorded with `record`/`filename`, and by
//!   `enable_recording` under the room's `rec_dir` with Janus's default names; a
//!   publisher's data channel becomes a Janus `text` recording, one frame per message (and
//!   its `rtp_forward` copy, one datagram per message).
//!
//! Each file must parse (`janus-pp-rec --json` for the header), hold about as many frames
//! as packets were sent while it recorded, and convert to .opus or .webm.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cardea_tests::mjr::{
    assert_close, fresh_dir, pp_rec_convert, pp_rec_count, pp_rec_header, read_mjr,
};
use cardea_tests::Cardea;
use common::janus::Handle;
use common::peer::{
    apply_answer, local_offer, local_track, opus, peer_connection, rtp, vp8, vp8_frame,
    wait_connected, PeerOptions, PeerState, OPUS_FRAME, OPUS_PT, VP8_PT,
};
use common::STEP;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;

const STREAMING: &str = "janus.plugin.streaming";
const VIDEOROOM: &str = "janus.plugin.videoroom";
const NO_SAMPLE: &str = "plugins:\n  streaming:\n    mountpoints: []\n";
/// How long the writer may take to finish a file after `stop` (it flushes every 100 ms).
const SETTLE: Duration = Duration::from_millis(700);

// ---- the tests -------------------------------------------------------------------------

/// A mountpoint's opus and VP8 streams recorded between `recording start` and `stop`: two
/// `.mjr` files that janus-pp-rec reads and converts, with about every packet sent in between;
/// the request's errors carry Janus's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_recording_writes_mjr_files_janus_pp_rec_reads() {
    timeout(Duration::from_secs(40), streaming_recording())
        .await
        .expect("the streaming recording did not finish within 40 s");
}

/// A VideoRoom publisher recorded with `record: true` and a `filename`, then the whole room
/// with `enable_recording` into its `rec_dir`: one file per stream, `-audio-0` and
/// `-video-1`, each readable by janus-pp-rec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_publisher_recordings_are_janus_mjr_files() {
    timeout(Duration::from_secs(60), videoroom_recording())
        .await
        .expect("the videoroom recording did not finish within 60 s");
}

/// A mountpoint's data stream recorded: each datagram a data frame of a Janus `text`
/// recording (`t: d`), which janus-pp-rec reads and converts to subtitles (.srt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_data_stream_recording_is_a_janus_text_recording() {
    timeout(Duration::from_secs(30), data_recording())
        .await
        .expect("the data recording did not finish within 30 s");
}

// ---- streaming ---------------------------------------------------------------------------

async fn streaming_recording() {
    let dir = fresh_dir("streaming");
    let cardea = Cardea::start(NO_SAMPLE);
    let admin = Handle::attach(&cardea, STREAMING).await;
    let created = sync_data(
        &admin
            .sync_request(json!({
                "request": "create", "type": "rtp", "id": 41, "secret": "s3",
                "media": [
                    {"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"},
                    {"type": "video", "mid": "v", "port": 0, "pt": 100, "codec": "vp8"},
                ]
            }))
            .await,
    );
    assert_eq!(created["streaming"], "created", "{created}");
    let port = |mid: &str| -> SocketAddr {
        let entry = created["stream"]["ports"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p["mid"] == mid))
            .unwrap_or_else(|| panic!("no port for {mid}: {created}"));
        let port = entry["port"].as_u64().expect("a port") as u16;
        SocketAddr::from(([127, 0, 0, 1], port))
    };
    let (audio_port, video_port) = (port("a"), port("v"));

    // Janus's errors, in Janus's order.
    let a = dir.join("a").display().to_string();
    let v = dir.join("v").display().to_string();
    let start = json!({"request": "recording", "action": "start", "id": 41, "secret": "s3",
        "media": [{"mid": "a", "filename": a}, {"mid": "v", "filename": v}]});
    let error_cases = [
        (
            json!({"request": "recording", "id": 41, "secret": "s3"}),
            453,
        ),
        (
            json!({"request": "recording", "action": "pause", "id": 41, "secret": "s3"}),
            454,
        ),
        (
            json!({"request": "recording", "action": "start", "id": 99, "secret": "s3"}),
            455,
        ),
        (
            json!({"request": "recording", "action": "start", "id": 41, "secret": "no"}),
            457,
        ),
        (
            json!({"request": "recording", "action": "start", "id": 41, "secret": "s3"}),
            452,
        ),
        (
            json!({"request": "recording", "action": "start", "id": 41, "secret": "s3",
                "media": [{"mid": "a", "filename": "/proc/cardea-cannot/a"}]}),
            459,
        ),
    ];
    for (body, code) in error_cases {
        let reply = admin.sync_request(body.clone()).await;
        assert_eq!(
            reply["plugindata"]["data"]["error_code"], code,
            "{body} answers {code}: {reply}"
        );
    }

    // Packets before the recording starts are not in it.
    let source = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sender = RtpSender::default();
    sender.send_for(&source, audio_port, video_port, 10).await;
    let ok = sync_data(&admin.sync_request(start.clone()).await);
    assert_eq!(ok, json!({"streaming": "ok"}));
    let again = admin.sync_request(start).await;
    assert_eq!(again["plugindata"]["data"]["error_code"], 452, "{again}");
    let info = sync_data(
        &admin
            .sync_request(json!({"request": "info", "id": 41, "secret": "s3"}))
            .await,
    );
    assert_eq!(info["info"]["media"][0]["recording"], "a.mjr", "{info}");

    let (audio_before, video_before) = (sender.audio, sender.video);
    sender.send_for(&source, audio_port, video_port, 100).await;
    let (audio_sent, video_sent) = (sender.audio - audio_before, sender.video - video_before);
    let stop = json!({"request": "recording", "action": "stop", "id": 41, "secret": "s3",
        "media": [{"mid": "a"}, {"mid": "v"}]});
    assert_eq!(
        sync_data(&admin.sync_request(stop).await),
        json!({"streaming": "ok"})
    );
    // Packets after the stop are not in it either.
    sender.send_for(&source, audio_port, video_port, 10).await;
    sleep(SETTLE).await;

    let audio = dir.join("a.mjr");
    let video = dir.join("v.mjr");
    let (header, frames) = read_mjr(&audio);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("a"), Some("opus"))
    );
    assert_close(frames, audio_sent, "opus frames recorded");
    assert_eq!(
        pp_rec_count(&audio),
        frames,
        "janus-pp-rec counts every frame"
    );
    let (header, frames) = read_mjr(&video);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("v"), Some("vp8"))
    );
    assert_close(frames, video_sent, "VP8 frames recorded");
    assert_eq!(
        pp_rec_count(&video),
        frames,
        "janus-pp-rec counts every frame"
    );
    pp_rec_header(&audio, "a", "opus");
    pp_rec_header(&video, "v", "vp8");
    pp_rec_convert(&audio, &dir.join("a.opus"));
    pp_rec_convert(&video, &dir.join("v.webm"));

    // The deprecated fields: a file per kind, stopped with booleans.
    let legacy = dir.join("legacy").display().to_string();
    let ok = sync_data(
        &admin
            .sync_request(json!({"request": "recording", "action": "start", "id": 41,
                "secret": "s3", "audio": legacy}))
            .await,
    );
    assert_eq!(ok["streaming"], "ok", "{ok}");
    sender.send_for(&source, audio_port, video_port, 20).await;
    let ok = sync_data(
        &admin
            .sync_request(json!({"request": "recording", "action": "stop", "id": 41,
                "secret": "s3", "audio": true}))
            .await,
    );
    assert_eq!(ok["streaming"], "ok", "{ok}");
    sleep(SETTLE).await;
    let (header, frames) = read_mjr(&dir.join("legacy.mjr"));
    assert_eq!(header["c"], "opus");
    assert!(frames > 10, "{frames} frames in legacy.mjr");
    assert!(!dir.join("legacy-video.mjr").exists());

    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

/// A VideoRoom publisher with a data channel, recorded with `record` and a `filename`: its
/// messages become the frames of `<filename>-data-2.mjr`, a Janus `text` recording that
/// janus-pp-rec turns into subtitles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videoroom_data_channel_recording_is_a_janus_text_recording() {
    timeout(Duration::from_secs(40), videoroom_data_recording())
        .await
        .expect("the data channel recording did not finish within 40 s");
}

async fn videoroom_data_recording() {
    let dir = fresh_dir("videoroom-data");
    let cardea = Cardea::start("");
    let admin = Handle::attach(&cardea, VIDEOROOM).await;
    let room = 4322;
    let created = sync_data(
        &admin
            .sync_request(json!({"request": "create", "room": room,
                "rec_dir": dir.display().to_string()}))
            .await,
    );
    assert_eq!(created["videoroom"], "created", "{created}");
    let mut publisher = Publisher::join_with_data(&cardea, room).await;
    let (dc, mut open) = publisher.data.take().expect("a data channel");
    timeout(STEP, open.wait_for(|o| *o))
        .await
        .expect("the data channel did not open")
        .expect("the data channel's events");
    let configured = publisher
        .handle
        .request(
            json!({"request": "configure", "record": true, "filename": "chat"}),
            None,
        )
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    // The data channel is also forwarded (Janus's data forwarder: each message one
    // datagram, as it came).
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let forwarded = sync_data(
        &admin
            .sync_request(json!({"request": "rtp_forward", "room": room,
                "publisher_id": publisher.id, "host": "127.0.0.1",
                "streams": [{"mid": "2", "port": sink.local_addr().unwrap().port()}]}))
            .await,
    );
    let fw = &forwarded["forwarders"][0];
    assert_eq!(fw["type"], "data", "{forwarded}");
    assert!(fw.get("ssrc").is_none(), "{forwarded}");
    sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        dc.send_text(&format!("message {i}"))
            .await
            .expect("send_text");
        sleep(Duration::from_millis(50)).await;
    }
    sleep(Duration::from_millis(300)).await;
    let configured = publisher
        .handle
        .request(json!({"request": "configure", "record": false}), None)
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    sleep(SETTLE).await;
    let mut buf = [0u8; 1500];
    for i in 0..5 {
        let (n, _) = timeout(Duration::from_secs(1), sink.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("forwarded message {i} never came"))
            .unwrap();
        assert_eq!(&buf[..n], format!("message {i}").as_bytes());
    }
    let path = dir.join("chat-data-2.mjr");
    let (header, frames) = read_mjr(&path);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("d"), Some("text")),
        "{header}"
    );
    assert_eq!(frames, 5, "one frame per message");
    pp_rec_header(&path, "d", "text");
    pp_rec_convert(&path, &dir.join("chat.srt"));
    let srt = std::fs::read_to_string(dir.join("chat.srt")).unwrap_or_default();
    assert!(
        (0..5).all(|i| srt.contains(&format!("message {i}"))),
        "janus-pp-rec's subtitles hold every message: {srt}"
    );
    // The audio and video were recorded beside it.
    for name in ["chat-audio-0.mjr", "chat-video-1.mjr"] {
        assert!(dir.join(name).exists(), "{name} in {}", dir.display());
    }
    publisher.close().await;
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

async fn data_recording() {
    let dir = fresh_dir("streaming-data");
    let cardea = Cardea::start(NO_SAMPLE);
    let admin = Handle::attach(&cardea, STREAMING).await;
    let created = sync_data(
        &admin
            .sync_request(json!({
                "request": "create", "type": "rtp", "id": 42, "secret": "s4",
                "media": [{"type": "data", "mid": "d", "port": 0, "datatype": "text"}]
            }))
            .await,
    );
    let port = created["stream"]["ports"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no data port: {created}")) as u16;
    let file = dir.join("chat").display().to_string();
    let start = json!({"request": "recording", "action": "start", "id": 42, "secret": "s4",
        "media": [{"mid": "d", "filename": file}]});
    assert_eq!(
        sync_data(&admin.sync_request(start).await),
        json!({"streaming": "ok"})
    );
    // No pause here: the recorder is on the media shard before the reply comes.
    let source = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..5 {
        let text = format!("line {i}");
        source
            .send_to(text.as_bytes(), ("127.0.0.1", port))
            .await
            .unwrap();
        sleep(Duration::from_millis(30)).await;
    }
    sleep(Duration::from_millis(100)).await;
    let stop = json!({"request": "recording", "action": "stop", "id": 42, "secret": "s4",
        "data": true});
    assert_eq!(
        sync_data(&admin.sync_request(stop).await),
        json!({"streaming": "ok"})
    );
    sleep(SETTLE).await;
    let path = dir.join("chat.mjr");
    let (header, frames) = read_mjr(&path);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("d"), Some("text")),
        "{header}"
    );
    assert_eq!(frames, 5, "one frame per datagram");
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("line 0") && text.contains("line 4"), "{text}");
    pp_rec_header(&path, "d", "text");
    pp_rec_convert(&path, &dir.join("chat.srt"));
    let srt = std::fs::read_to_string(dir.join("chat.srt")).unwrap_or_default();
    assert!(srt.contains("line 4"), "janus-pp-rec's subtitles: {srt}");
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

/// The test's RTP source: opus every 20 ms, VP8 at 25 frames a second (a key frame each
/// second), counting what it sent.
#[derive(Default)]
struct RtpSender {
    audio: usize,
    video: usize,
    ticks: u32,
}

impl RtpSender {
    /// Sends for `ticks` ticks of 20 ms (audio each tick, video every other one).
    async fn send_for(
        &mut self,
        socket: &UdpSocket,
        audio: SocketAddr,
        video: SocketAddr,
        ticks: u32,
    ) {
        let mut every = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..ticks {
            every.tick().await;
            let n = self.ticks;
            let mut payload = OPUS_FRAME.to_vec();
            payload.extend_from_slice(&[0x11; 20]);
            let packet = raw_rtp(111, n as u16, n * 960, 0xa0d10, false, &payload);
            socket.send_to(&packet, audio).await.unwrap();
            self.audio += 1;
            if n.is_multiple_of(2) {
                let frame = n / 2;
                let packets = vp8_frame(frame.is_multiple_of(25), frame);
                let count = packets.len();
                for (i, p) in packets.into_iter().enumerate() {
                    let seq = self.video as u16;
                    let packet = raw_rtp(100, seq, frame * 3600, 0x71de0, i + 1 == count, &p);
                    socket.send_to(&packet, video).await.unwrap();
                    self.video += 1;
                }
            }
            self.ticks += 1;
        }
    }
}

fn raw_rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

// ---- videoroom ---------------------------------------------------------------------------

async fn videoroom_recording() {
    let dir = fresh_dir("videoroom");
    let cardea = Cardea::start("");
    let admin = Handle::attach(&cardea, VIDEOROOM).await;
    let room = 4321;
    let created = sync_data(
        &admin
            .sync_request(json!({"request": "create", "room": room, "secret": "rs",
                "rec_dir": dir.display().to_string(), "publishers": 2}))
            .await,
    );
    assert_eq!(created["videoroom"], "created", "{created}");
    let listed = sync_data(&admin.sync_request(json!({"request": "list"})).await);
    let entry = listed["list"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["room"] == room))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["record"], false, "{listed}");
    assert_eq!(entry["rec_dir"], dir.display().to_string(), "{listed}");

    let mut publisher = Publisher::join(&cardea, room).await;
    sleep(Duration::from_millis(500)).await;

    // The whole room, under Janus's default names in rec_dir.
    let missing = admin
        .sync_request(json!({"request": "enable_recording", "room": room, "secret": "rs"}))
        .await;
    assert_eq!(
        missing["plugindata"]["data"]["error_code"], 429,
        "{missing}"
    );
    let wrong = admin
        .sync_request(
            json!({"request": "enable_recording", "room": room, "record": true,
            "secret": "no"}),
        )
        .await;
    assert_eq!(wrong["plugindata"]["data"]["error_code"], 433, "{wrong}");
    let on = sync_data(
        &admin
            .sync_request(
                json!({"request": "enable_recording", "room": room, "record": true,
                "secret": "rs"}),
            )
            .await,
    );
    assert_eq!(on, json!({"videoroom": "success", "record": true}));
    let before = publisher.sent();
    sleep(Duration::from_secs(2)).await;
    let off = sync_data(
        &admin
            .sync_request(
                json!({"request": "enable_recording", "room": room, "record": false,
                "secret": "rs"}),
            )
            .await,
    );
    assert_eq!(off["record"], false, "{off}");
    let sent = publisher.sent();
    sleep(SETTLE).await;
    let prefix = format!("videoroom-{room}-user-{}-", publisher.id);
    let named = |suffix: &str| -> PathBuf {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&prefix) && name.ends_with(suffix)
            })
            .unwrap_or_else(|| panic!("no {prefix}…{suffix} in {}", dir.display()))
    };
    let audio = named("-audio-0.mjr");
    let video = named("-video-1.mjr");
    check_publisher_files(&audio, &video, (sent.0 - before.0, sent.1 - before.1), &dir);

    // One publisher, with its own file name (in the room's rec_dir, as Janus puts it).
    let configured = publisher
        .handle
        .request(
            json!({"request": "configure", "record": true, "filename": "alice"}),
            None,
        )
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    let before = publisher.sent();
    sleep(Duration::from_secs(2)).await;
    let configured = publisher
        .handle
        .request(json!({"request": "configure", "record": false}), None)
        .await;
    assert_eq!(configured["configured"], "ok", "{configured}");
    let sent = publisher.sent();
    sleep(SETTLE).await;
    check_publisher_files(
        &dir.join("alice-audio-0.mjr"),
        &dir.join("alice-video-1.mjr"),
        (sent.0 - before.0, sent.1 - before.1),
        &dir,
    );

    publisher.close().await;
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

fn check_publisher_files(audio: &Path, video: &Path, sent: (usize, usize), dir: &Path) {
    let (header, frames) = read_mjr(audio);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("a"), Some("opus"))
    );
    assert_close(frames, sent.0, "opus frames of the publisher");
    assert_eq!(
        pp_rec_count(audio),
        frames,
        "janus-pp-rec counts every frame"
    );
    let (header, frames) = read_mjr(video);
    assert_eq!(
        (header["t"].as_str(), header["c"].as_str()),
        (Some("v"), Some("vp8"))
    );
    // A PLI starts the recording: the publisher's packets before its key frame count too.
    assert_close(frames, sent.1, "VP8 frames of the publisher");
    assert_eq!(
        pp_rec_count(video),
        frames,
        "janus-pp-rec counts every frame"
    );
    pp_rec_header(audio, "a", "opus");
    pp_rec_header(video, "v", "vp8");
    pp_rec_convert(audio, &dir.join("out.opus"));
    pp_rec_convert(video, &dir.join("out.webm"));
}

/// A webrtc-rs publisher sending opus (50 packets/s) and VP8 (25 frames/s, a key frame each
/// second) into a room.
struct Publisher {
    id: u64,
    handle: Handle,
    pc: Arc<dyn PeerConnection>,
    stop: Arc<AtomicBool>,
    audio_sent: Arc<AtomicUsize>,
    video_sent: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
    /// The data channel, and whether it is open, when the publisher has one.
    data: Option<(Arc<dyn DataChannel>, tokio::sync::watch::Receiver<bool>)>,
}

impl Publisher {
    async fn join(cardea: &Cardea, room: u64) -> Publisher {
        Self::join_as(cardea, room, false).await
    }

    async fn join_with_data(cardea: &Cardea, room: u64) -> Publisher {
        Self::join_as(cardea, room, true).await
    }

    async fn join_as(cardea: &Cardea, room: u64, with_data: bool) -> Publisher {
        let mut handle = Handle::attach(cardea, VIDEOROOM).await;
        let peer = PeerState::new();
        let pc = peer_connection(cardea, Arc::clone(&peer), PeerOptions::default()).await;
        let audio = local_track("rec", RtpCodecKind::Audio, opus(), 0x5151, None);
        let video = local_track("rec", RtpCodecKind::Video, vp8(), 0x7171, None);
        for track in [&audio, &video] {
            pc.add_track(Arc::clone(track) as Arc<dyn TrackLocal>)
                .await
                .expect("add_track");
        }
        let mut data = None;
        if with_data {
            let dc = pc
                .create_data_channel("chat", None)
                .await
                .expect("create_data_channel");
            let (open_tx, open_rx) = tokio::sync::watch::channel(false);
            let events = Arc::clone(&dc);
            tokio::spawn(async move {
                while let Some(event) = events.poll().await {
                    match event {
                        DataChannelEvent::OnOpen => {
                            open_tx.send_replace(true);
                        }
                        DataChannelEvent::OnClose => break,
                        _ => {}
                    }
                }
            });
            data = Some((dc, open_rx));
        }
        let offer = local_offer(&*pc, &peer, None, "publisher").await;
        let joined = handle
            .request(
                json!({"request": "joinandconfigure", "room": room, "ptype": "publisher",
                    "display": "rec"}),
                Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
            )
            .await;
        assert_eq!(joined["videoroom"], "joined", "{joined}");
        let id = joined["id"].as_u64().expect("an id");
        let answer = joined["jsep"]["sdp"]
            .as_str()
            .expect("an answer")
            .to_owned();
        apply_answer(&*pc, &answer, "publisher").await;
        wait_connected(&peer, STEP, "publisher").await;
        let stop = Arc::new(AtomicBool::new(false));
        let (audio_sent, video_sent) = (Arc::default(), Arc::default());
        let tasks = vec![
            tokio::spawn(send_audio(
                audio,
                Arc::clone(&audio_sent),
                Arc::clone(&stop),
            )),
            tokio::spawn(send_video(
                video,
                Arc::clone(&video_sent),
                Arc::clone(&stop),
            )),
        ];
        Publisher {
            id,
            handle,
            pc,
            stop,
            audio_sent,
            video_sent,
            tasks,
            data,
        }
    }

    /// Packets sent so far: (opus, VP8).
    fn sent(&self) -> (usize, usize) {
        (
            self.audio_sent.load(Ordering::Relaxed),
            self.video_sent.load(Ordering::Relaxed),
        )
    }

    async fn close(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = timeout(Duration::from_secs(3), self.pc.close()).await;
        for t in self.tasks {
            t.abort();
        }
    }
}

async fn send_audio(
    track: Arc<TrackLocalStaticRTP>,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n: u16 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let mut payload = OPUS_FRAME.to_vec();
        payload.extend_from_slice(&[0x22; 20]);
        let packet = rtp(OPUS_PT, n, u32::from(n) * 960, 0x5151, false, payload);
        if track.write_rtp(packet).await.is_err() {
            return;
        }
        n = n.wrapping_add(1);
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

async fn send_video(
    track: Arc<TrackLocalStaticRTP>,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(40));
    let (mut frame, mut seq): (u32, u16) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let packets = vp8_frame(frame.is_multiple_of(25), frame);
        let count = packets.len();
        for (i, p) in packets.into_iter().enumerate() {
            let packet = rtp(VP8_PT, seq, frame * 3600, 0x7171, i + 1 == count, p);
            if track.write_rtp(packet).await.is_err() {
                return;
            }
            seq = seq.wrapping_add(1);
            sent.fetch_add(1, Ordering::Relaxed);
        }
        frame += 1;
    }
}

// ---- reading recordings ------------------------------------------------------------------

fn sync_data(reply: &Value) -> Value {
    assert_eq!(reply["janus"], "success", "{reply}");
    reply["plugindata"]["data"].clone()
}

fn assert_alive(mut cardea: Cardea) {
    assert!(
        cardea.exited().is_none(),
        "cardea exited: {:?}",
        cardea.exited()
    );
}
