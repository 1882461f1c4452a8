//! The VideoRoom with anything clients can send: the input is split into JSON request
//! bodies (one per line) sent in turn by a publisher, a second publisher and a subscriber
//! handle, the last line also as the SDP of every JSEP; then the media-side inputs (offer
//! mids, talking, a PeerConnection going away). Key-frame detection sees the raw bytes as
//! an RTP payload of each codec. Nothing may panic.
#![no_main]
use std::time::Instant;

use cardea_media::VideoCodec;
use cardea_plugins::videoroom::VideoRoom;
use cardea_plugins::{Ctx, Jsep, JsepType, Message, Plugin};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn send(p: &mut VideoRoom, handle: u64, body: serde_json::Value, jsep: Option<Jsep>) {
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
    for codec in ["vp8", "vp9", "h264", "av1"] {
        let _ = VideoCodec::from_name(codec).starts_keyframe(data);
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let sdp = text.lines().last().unwrap_or_default().replace("\\n", "\r\n");
    let jsep = |kind| {
        Some(Jsep {
            kind,
            sdp: sdp.clone(),
            trickle: Some(false),
            update: false,
            e2ee: false,
        })
    };
    let mut p = VideoRoom::default();
    for h in 1..=3 {
        p.create_session(h).unwrap();
    }
    send(
        &mut p,
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": 7}),
        jsep(JsepType::Offer),
    );
    send(
        &mut p,
        3,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": 7}]}),
        None,
    );
    let mut attached = json!({"streams": [{}, {}]});
    p.offered(3, &["0".into(), "1".into()], &mut attached);
    for (i, line) in text.lines().enumerate() {
        let Ok(body) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let handle = (i % 3) as u64 + 1;
        let kind = if handle == 3 {
            JsepType::Answer
        } else {
            JsepType::Offer
        };
        send(&mut p, handle, body, if i % 2 == 0 { jsep(kind) } else { None });
    }
    let mut ctx = Ctx::at(Instant::now());
    p.talking(&mut ctx, 1, "0", true, 3.0);
    p.setup_media(&mut ctx, 3);
    p.handle_timeout(&mut ctx);
    p.hangup_media(&mut ctx, 1);
    for h in 1..=3 {
        let _ = p.query_session(h);
        p.destroy_session(&mut ctx, h);
    }
});
