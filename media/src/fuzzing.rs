//! Entry points for the fuzz targets: what reads payloads that only a WebRTC leg (behind
//! DTLS-SRTP) would otherwise hand it.

use std::time::{Duration, Instant};

use str0m::media::Rid;

use crate::layers::{LayerChoice, LayerWant, VideoCodec, DEFAULT_FALLBACK};
use crate::svc::{SvcChoice, SvcWant};

/// Runs `data`, cut into payloads, through a VP8 simulcast and temporal-layer choice and a
/// VP9 SVC choice; a payload starting with 0xf? changes what the receiver wants.
pub fn video_layers(data: &[u8]) {
    let t0 = Instant::now();
    let rids = [Rid::from("l"), Rid::from("h")];
    let mut simulcast = LayerChoice::new(
        rids.to_vec(),
        VideoCodec::Vp8,
        LayerWant {
            substream: 1,
            temporal: 2,
            fallback: DEFAULT_FALLBACK,
        },
    );
    let mut svc = SvcChoice::new(SvcWant {
        spatial: 2,
        temporal: 2,
        fallback: DEFAULT_FALLBACK,
    });
    for (i, payload) in data.chunks(16).enumerate() {
        let at = t0 + Duration::from_millis(i as u64 * 20);
        let first = payload.first().copied().unwrap_or(0);
        if first & 0xf0 == 0xf0 {
            simulcast.want_all(LayerWant {
                substream: usize::from(first & 1),
                temporal: (first >> 1) & 3,
                fallback: DEFAULT_FALLBACK,
            });
            svc.set_want(SvcWant {
                spatial: first & 3,
                temporal: (first >> 2) & 3,
                fallback: DEFAULT_FALLBACK,
            });
        }
        let _ = simulcast.on_packet(Some(rids[usize::from(first & 1)]), payload, at);
        let _ = simulcast.take_switch();
        let _ = simulcast.take_temporal_switch();
        let _ = simulcast.take_keyframe_request();
        let _ = svc.on_packet(payload, at);
        let _ = svc.take_spatial_switch();
        let _ = svc.take_temporal_switch();
        let _ = svc.take_keyframe_request();
        for codec in [
            VideoCodec::Vp8,
            VideoCodec::Vp9,
            VideoCodec::H264,
            VideoCodec::Av1,
        ] {
            let _ = codec.starts_keyframe(payload);
        }
    }
}

/// Takes `data` as a browser's SDP offer to a fresh leg: str0m's parser, then what Cardea
/// reads of the text itself (rejected m-lines, mids and kinds, the data m-line, SSRC
/// simulcast groups) and writes into the answer.
pub fn webrtc_offer(data: &[u8]) {
    static CERT: std::sync::OnceLock<Option<crate::DtlsCert>> = std::sync::OnceLock::new();
    let Some(cert) = CERT.get_or_init(|| crate::generate_dtls_cert().ok()) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = crate::LegConfig {
        ice_lite: true,
        candidates: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 9))],
        cert: cert.clone(),
        slowlink_threshold: 0,
    };
    let mut leg = crate::WebRtcLeg::new(crate::LegId(1), &config, Instant::now());
    let _ = leg.accept_offer(text);
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_payloads_pass_through_the_layer_choices() {
        super::video_layers(&[]);
        super::video_layers(&[0xff; 40]);
        super::video_layers(&(0..=255).collect::<Vec<u8>>());
    }
}
