//! The SIP-side SDP parser and offer/answer readers: any body from a PBX or a browser. A body
//! that parses writes back byte for byte, and reading it as a SIP offer or answer never
//! panics.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};

use cardea_sip::sdp::{
    read_sip_offer, sip_answer_from_webrtc, sip_offer_from_webrtc, LocalMedia, Origin,
    SessionDescription, SipAnswerConfig, SipOfferConfig,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse(data) else {
        return;
    };
    assert_eq!(
        sdp.to_text().as_bytes(),
        data,
        "unchanged SDP written back as read"
    );
    let _ = read_sip_offer(&sdp);
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let local = Some(LocalMedia {
        port: 40000,
        crypto: None,
    });
    let offer_config = SipOfferConfig {
        origin: Origin::new(1, 1, ip),
        address: ip,
        audio: local.clone(),
        video: local.clone(),
        rtcp_mux: true,
    };
    if let Ok(offer) = sip_offer_from_webrtc(&sdp, &offer_config) {
        let written = offer.sdp.to_text();
        SessionDescription::parse(written.as_bytes()).expect("our SIP offer parses");
        let _ = offer.read_answer(&sdp);
    }
    let answer_config = SipAnswerConfig {
        origin: Origin::new(1, 1, ip),
        address: ip,
        audio: local.clone(),
        video: local,
        rtcp_mux: true,
    };
    if let Ok(answer) = sip_answer_from_webrtc(&sdp, &sdp, &answer_config) {
        SessionDescription::parse(answer.sdp.to_text().as_bytes()).expect("our answer parses");
    }
});
