//! Messages per second per core for cardea-sip's message layer: parse only, parse + validate,
//! parse + serialize, over three realistic messages from `/work/shared/reference/sip-sample-trace.txt`
//! (the digest REGISTER and the INVITE with SDP that Janus 1.1.2 sends, and a 200 OK with SDP
//! relayed through Kamailio). Plain timing loop (`harness = false`), no extra dependencies:
//!
//! ```sh
//! CARGO_TARGET_DIR=~/.cache/cardea-target taskset -c 1 cargo bench -p cardea-sip --bench parse
//! ```
//!
//! Optional arguments after `--`: a substring filter on the case name, and `--secs N` (time
//! per case, default 2). Each case runs 0.3 s of warm-up, then batches of 1000 iterations until
//! the time is up; the figure is the best of 5 equal slices (less noise from a shared host), and
//! the mean over all slices is printed too.
//!
//! The parse input is a `Bytes` clone of the datagram, as `bridge/src/sip/service.rs` does
//! (`Message::parse_bytes`, zero copy); serialize writes into a reused `Vec` (`write_to`), and
//! `to_bytes` (a fresh allocation) is measured separately.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_sip::Message;

const REGISTER: &str = concat!(
    "REGISTER sip:127.0.0.1:45060 SIP/2.0\r\n",
    "Via: SIP/2.0/UDP 127.0.0.1:50475;rport;branch=z9hG4bKct16v3Ztg865p\r\n",
    "Max-Forwards: 70\r\n",
    "From: <sip:alice@127.0.0.1>;tag=BHp8ay83Sa3gm\r\n",
    "To: <sip:alice@127.0.0.1>\r\n",
    "Call-ID: 4d2dc0ce-653f-1240-3c96-a683c1649808\r\n",
    "CSeq: 1001199530 REGISTER\r\n",
    "Contact: Alice <sip:alice@127.0.0.1:50475;transport=udp>\r\n",
    "Expires: 3600\r\n",
    "User-Agent: Janus WebRTC Server SIP Plugin 1.1.2\r\n",
    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, MESSAGE, INFO, NOTIFY\r\n",
    "Supported: replaces, path\r\n",
    "Authorization: Digest username=\"alice\", realm=\"sipp.test\", nonce=\"n0nce24262x1\", cnonce=\"TS3tb2U/EkCWPKaDwWSYCA\", algorithm=MD5, uri=\"sip:127.0.0.1:45060\", response=\"d7372ec2e041c0431125c0ef14c940e6\", qop=auth, nc=00000001\r\n",
    "Content-Length: 0\r\n",
    "\r\n",
);

const INVITE: &str = concat!(
    "INVITE sip:echo@127.0.0.1:45062 SIP/2.0\r\n",
    "Via: SIP/2.0/UDP 127.0.0.1:37153;rport;branch=z9hG4bKBppD4mav8maFr\r\n",
    "Max-Forwards: 70\r\n",
    "From: \"Alice Guest\" <sip:alice@127.0.0.1>;tag=BpH485tQStv3S\r\n",
    "To: <sip:echo@127.0.0.1:45062>\r\n",
    "Call-ID: Y3BebXNrzCOfBrN0Lvx1m2N\r\n",
    "CSeq: 1001199532 INVITE\r\n",
    "Contact: <sip:alice@127.0.0.1:37153;transport=udp>\r\n",
    "User-Agent: Janus WebRTC Server SIP Plugin 1.1.2\r\n",
    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, MESSAGE, INFO, NOTIFY\r\n",
    "Supported: replaces\r\n",
    "Content-Type: application/sdp\r\n",
    "Content-Disposition: session\r\n",
    "Content-Length: 418\r\n",
    "\r\n",
    "v=0\r\n",
    "o=- 6666975373717607009 7066348843509762186 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "t=0 0\r\n",
    "m=audio 40988 RTP/AVP 96 9 0 8\r\n",
    "c=IN IP4 127.0.0.1\r\n",
    "a=rtpmap:96 opus/48000/2\r\n",
    "a=rtpmap:9 G722/8000\r\n",
    "a=rtpmap:0 PCMU/8000\r\n",
    "a=rtpmap:8 PCMA/8000\r\n",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n",
    "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
    "a=mid:0\r\n",
    "a=msid:dffa22e4-710f-467d-a50e-26d8afa62687 13dfc3d4-4f20-4f89-bccd-6970eccedf64\r\n",
);

const OK_200: &str = concat!(
    "SIP/2.0 200 OK\r\n",
    "Via: SIP/2.0/UDP 127.0.0.1:45064;branch=z9hG4bK-25037-1-0\r\n",
    "Record-Route: <sip:127.0.0.1:45070;lr=on;ftag=25037SIPpTag001>\r\n",
    "From: \"PBX caller\" <sip:pbx@127.0.0.1:45064>;tag=25037SIPpTag001\r\n",
    "To: <sip:alice@127.0.0.1:45070>;tag=0BF90gca27D7j\r\n",
    "Call-ID: 1-25037@127.0.0.1\r\n",
    "CSeq: 1 INVITE\r\n",
    "Contact: Alice <sip:alice@127.0.0.1:56063;transport=udp>\r\n",
    "User-Agent: Janus WebRTC Server SIP Plugin 1.1.2\r\n",
    "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, REFER, MESSAGE, INFO, NOTIFY\r\n",
    "Supported: replaces\r\n",
    "Content-Type: application/sdp\r\n",
    "Content-Disposition: session\r\n",
    "Content-Length: 236\r\n",
    "\r\n",
    "v=0\r\n",
    "o=- 443623079779634677 1896107365500837788 IN IP4 127.0.0.1\r\n",
    "s=-\r\n",
    "t=0 0\r\n",
    "m=audio 40684 RTP/AVP 0\r\n",
    "c=IN IP4 127.0.0.1\r\n",
    "a=rtpmap:0 PCMU/8000\r\n",
    "a=mid:0\r\n",
    "a=msid:915570c9-4859-4be6-b89c-016b8adf7fa7 381ed10e-ed1d-4322-bc8d-0147897dbc8a\r\n",
);

/// A named measurement.
type Case<'a> = (&'a str, Box<dyn FnMut() + 'a>);
fn run_case(name: &str, secs: f64, mut f: impl FnMut()) {
    const BATCH: u64 = 1000;
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        for _ in 0..BATCH {
            f();
        }
    }
    let total = Duration::from_secs_f64(secs);
    let slice = total / 5;
    let mut best_ns = f64::INFINITY;
    let mut all_iters = 0u64;
    let mut all_time = Duration::ZERO;
    for _ in 0..5 {
        let start = Instant::now();
        let mut iters = 0u64;
        while start.elapsed() < slice {
            for _ in 0..BATCH {
                f();
            }
            iters += BATCH;
        }
        let took = start.elapsed();
        all_iters += iters;
        all_time += took;
        best_ns = best_ns.min(took.as_nanos() as f64 / iters as f64);
    }
    let mean_ns = all_time.as_nanos() as f64 / all_iters as f64;
    println!(
        "{name:<28} {best_ns:>9.0} ns/msg (best) {:>11.0} msg/s   mean {mean_ns:>9.0} ns/msg {:>11.0} msg/s",
        1e9 / best_ns,
        1e9 / mean_ns
    );
}

fn main() {
    let mut filter = String::new();
    let mut secs = 2.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--secs" => secs = args.next().and_then(|s| s.parse().ok()).expect("--secs N"),
            other if other.starts_with("--") => {}
            other => filter = other.to_string(),
        }
    }
    let messages: [(&str, &str); 3] = [
        ("register", REGISTER),
        ("invite_sdp", INVITE),
        ("200ok_sdp", OK_200),
    ];
    println!("case                         (bytes)");
    for (name, text) in messages {
        let bytes = Bytes::from_static(text.as_bytes());
        // Sanity: every message parses, validates and serializes back byte for byte.
        let parsed = Message::parse_bytes(bytes.clone()).expect("parse");
        parsed.validate().expect("validate");
        assert_eq!(
            parsed.to_bytes(),
            text.as_bytes(),
            "{name}: serialize round trip"
        );
        println!("{name:<28} ({} bytes)", text.len());
        let cases: [Case; 5] = [
            (
                "parse",
                Box::new({
                    let bytes = bytes.clone();
                    move || {
                        black_box(Message::parse_bytes(black_box(bytes.clone())).unwrap());
                    }
                }),
            ),
            (
                "parse+validate",
                Box::new({
                    let bytes = bytes.clone();
                    move || {
                        let m = Message::parse_bytes(black_box(bytes.clone())).unwrap();
                        black_box(m.validate().is_ok());
                        black_box(m);
                    }
                }),
            ),
            (
                "parse+serialize",
                Box::new({
                    let bytes = bytes.clone();
                    let mut out = Vec::with_capacity(2048);
                    move || {
                        let m = Message::parse_bytes(black_box(bytes.clone())).unwrap();
                        out.clear();
                        m.write_to(&mut out);
                        black_box(&out);
                    }
                }),
            ),
            (
                "parse+validate+to_bytes",
                Box::new({
                    let bytes = bytes.clone();
                    move || {
                        let m = Message::parse_bytes(black_box(bytes.clone())).unwrap();
                        m.validate().unwrap();
                        black_box(m.to_bytes());
                    }
                }),
            ),
            (
                "serialize only",
                Box::new({
                    let m = parsed.clone();
                    let mut out = Vec::with_capacity(2048);
                    move || {
                        out.clear();
                        black_box(&m).write_to(&mut out);
                        black_box(&out);
                    }
                }),
            ),
        ];
        for (case, mut f) in cases {
            let full = format!("{name}/{case}");
            if full.contains(&filter) {
                run_case(&format!("  {case}"), secs, &mut *f);
            }
        }
    }
}
