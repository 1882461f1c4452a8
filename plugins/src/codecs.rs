//! The payload types Cardea offers browsers for each codec it forwards (Chrome's numbers),
//! shared by the plugins that make offers: VideoRoom subscribers, Streaming viewers.

use crate::OfferCodec;

/// The payload types Cardea gives each codec in its offers to subscribers (the numbers
/// Chrome uses). Publishers may number their codecs otherwise (Firefox does): forwarded
/// packets are renumbered, so feeds from any browser share one subscriber PeerConnection
/// and a renegotiation always finds the codec the leg was built with.
pub fn canonical(name: &str) -> Option<OfferCodec> {
    let (pt, encoding, clock_rate, channels, fmtp, rtx): (
        u8,
        &str,
        u32,
        Option<u16>,
        Option<&str>,
        Option<u8>,
    ) = match name {
        "opus" => (
            111,
            "opus",
            48_000,
            Some(2),
            Some("minptime=10;useinbandfec=1"),
            None,
        ),
        "g722" => (9, "G722", 8000, None, None, None),
        "pcmu" => (0, "PCMU", 8000, None, None, None),
        "pcma" => (8, "PCMA", 8000, None, None, None),
        "vp8" => (96, "VP8", 90_000, None, None, Some(97)),
        "vp9" => (98, "VP9", 90_000, None, Some("profile-id=0"), Some(99)),
        "h264" => (
            102,
            "H264",
            90_000,
            None,
            Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
            Some(103),
        ),
        "av1" => (45, "AV1", 90_000, None, None, Some(46)),
        _ => return None,
    };
    Some(OfferCodec {
        pt,
        name: encoding.to_owned(),
        clock_rate,
        channels,
        fmtp: fmtp.map(str::to_owned),
        rtx,
    })
}

/// The payload type of [`canonical`].
pub fn canonical_pt(name: &str) -> Option<u8> {
    canonical(name).map(|c| c.pt)
}
