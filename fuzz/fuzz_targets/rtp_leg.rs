//! Arbitrary datagrams into a plain RTP leg (muxed and not, with and without SRTP): every
//! outcome must be a value or a typed error, never a panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cardea_media::rtp_leg::{
    CryptoAttribute, CryptoSuite, LatchMode, OutboundRtp, PtMap, RtpLeg, RtpLegConfig,
    RtpStreamConfig, SrtpKey, SrtpSession,
};
use cardea_media::{LegId, MediaKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = CryptoAttribute::parse(text);
    }
    let t0 = Instant::now();
    let local: SocketAddr = "192.0.2.1:20000".parse().unwrap();
    let rtcp: SocketAddr = "192.0.2.1:20001".parse().unwrap();
    let map = PtMap::new(&[(111, 96), (0, 0), (126, 101)]).unwrap();
    let mut stream = RtpStreamConfig::new(MediaKind::Audio, local, map, 8000);
    stream.remote_rtp = Some("10.0.0.5:4000".parse().unwrap());
    stream.telephone_event = Some(101);
    if control & 1 != 0 {
        stream.local_rtcp = Some(rtcp);
    }
    let latch = if control & 2 != 0 {
        LatchMode::Strict
    } else {
        LatchMode::FollowSsrc
    };
    let config = RtpLegConfig {
        latch,
        ..Default::default()
    };
    let mut leg = RtpLeg::new(LegId(1), config, vec![stream], t0);
    if control & 4 != 0 {
        let suite = CryptoSuite::ALL[usize::from(control >> 3) % 3];
        let key =
            SrtpKey::from_bytes(suite, &[7; 30][..suite.key_len() + suite.salt_len()]).unwrap();
        leg.set_srtp(
            MediaKind::Audio,
            Some(Box::new(SrtpSession::new(&key, &key).unwrap())),
        )
        .unwrap();
    }
    let sources: [SocketAddr; 2] = [
        "203.0.113.9:31000".parse().unwrap(),
        "198.51.100.1:5000".parse().unwrap(),
    ];
    // Split the input into several datagrams so latching and DTMF state get exercised.
    for (i, chunk) in body.split(|&b| b == 0xa5).enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        let destination = if i % 3 == 2 { rtcp } else { local };
        let _ = leg.handle_datagram(now, sources[i % 2], destination, chunk);
        let _ = leg.write_rtp(
            now,
            MediaKind::Audio,
            &OutboundRtp {
                pt: chunk.first().copied().unwrap_or(0) & 0x7f,
                ssrc: i as u32,
                seq: i as u16,
                ts: 160 * i as u32,
                marker: false,
                payload: chunk,
            },
        );
        if i % 7 == 0 {
            let _ = leg.send_dtmf(now, '1', Duration::from_millis(60));
        }
        leg.handle_timeout(now + Duration::from_secs(3));
        leg.clear_transmits();
        while leg.poll_event().is_some() {}
    }
});
