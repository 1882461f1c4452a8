//! The Streaming plugin and its plain RTP sources with anything the network or a client can
//! send: the input is fed as datagrams to a source on a media shard (audio and VP8 video
//! ports), then split into JSON request bodies (one per line) sent in turn by an admin and
//! two viewer handles, and read as an RTSP server's SDP. Nothing may panic.
#![no_main]
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardea_media::{LegId, MediaCommand, MediaKind, Mid, RtpSource, Shard, SourceStream, VideoCodec};
use cardea_plugins::streaming::Streaming;
use cardea_plugins::{Ctx, Jsep, JsepType, Message, Plugin, SourceIo, Ports};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// Ports without sockets.
struct NoSockets;

impl SourceIo for NoSockets {
    fn bind(&self, port: u16, _iface: Option<&str>) -> Result<SocketAddr, String> {
        if port == 9 {
            return Err("Address already in use".into());
        }
        Ok(SocketAddr::from(([127, 0, 0, 1], port.max(30_000))))
    }
    fn release(&self, _: SocketAddr) {}
    fn check_file(&self, path: &str, _: &str) -> Result<(), String> {
        path.is_empty().then_some(()).ok_or_else(|| "no files here".into())
    }
    fn create_recording(&self, path: &str) -> Result<(), String> {
        path.is_empty().then_some(()).ok_or_else(|| "no files here".into())
    }
}

fn send(p: &mut Streaming, handle: u64, body: serde_json::Value, jsep: Option<Jsep>) {
    let mut ctx = Ctx::at(Instant::now());
    p.handle_message(
        &mut ctx,
        Message {
            handle,
            transaction: Some("t".into()),
            body,
            jsep,
        },
    );
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let audio: SocketAddr = "127.0.0.1:5002".parse().unwrap();
    let video: SocketAddr = "127.0.0.1:5004".parse().unwrap();
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut shard = Shard::new();
    let streams = vec![
        SourceStream {
            mid: Mid::from("a"),
            kind: MediaKind::Audio,
            local: Some(audio),
            file: None,
            srtp: None,
            pt: Some(111),
            clock_rate: 48_000,
            codec: None,
            data: None,
            rid: None,
            rtcp: None,
        },
        SourceStream {
            mid: Mid::from("v"),
            kind: MediaKind::Video,
            local: Some(video),
            file: None,
            srtp: None,
            pt: None,
            clock_rate: 90_000,
            codec: Some(VideoCodec::Vp8),
            data: None,
            rid: None,
            rtcp: None,
        },
    ];
    shard.handle_command(t0, MediaCommand::AddSource(Box::new(RtpSource::new(LegId(1 << 61), streams, t0))));
    for (i, chunk) in data.chunks(64).enumerate() {
        let at = t0 + Duration::from_millis(i as u64 * 300);
        shard.handle_datagram(at, from, if i % 2 == 0 { video } else { audio }, chunk);
        shard.handle_timeout(at);
    }
    let _ = shard.drain_events().count();

    for codec in ["opus", "pcmu"] {
        let _ = cardea_media::MediaFile::parse(codec, data);
    }
    // An RTSP server's SDP.
    let pt = data.first().map_or(96, |b| b & 0x7f);
    for index in 0..3 {
        let _ = cardea_plugins::streaming::rtsp_fmtp(data, index, pt);
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let settings = json!({ "mountpoints": [] });
    let mut p = Streaming::new(Some(&settings), Some(Ports(Arc::new(NoSockets))));
    for h in 1..=3 {
        p.create_session(h).unwrap();
    }
    send(
        &mut p,
        1,
        json!({"request": "create", "type": "rtp", "id": 5, "media": [
            {"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"},
            {"type": "video", "mid": "v", "port": 0, "pt": 100, "codec": "vp8"}]}),
        None,
    );
    send(&mut p, 2, json!({"request": "watch", "id": 5}), None);
    p.offered(2, &["0".into(), "1".into()], &mut json!({}));
    let answer = Jsep {
        kind: JsepType::Answer,
        sdp: text.lines().last().unwrap_or_default().to_owned(),
        trickle: Some(false),
        update: false,
        e2ee: false,
    };
    for (i, line) in text.lines().enumerate() {
        let Ok(body) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let handle = (i % 3) as u64 + 1;
        send(&mut p, handle, body, (i % 2 == 0).then(|| answer.clone()));
    }
    let mut ctx = Ctx::at(Instant::now());
    p.setup_media(&mut ctx, 2);
    p.handle_timeout(&mut ctx);
    p.hangup_media(&mut ctx, 2);
    for h in 1..=3 {
        let _ = p.query_session(h);
        p.destroy_session(&mut ctx, h);
    }
});
