//! WebRTC ⇄ SIP offer/answer: what the SIP side sees of a browser call and what the
//! bridge learns from the PBX.

mod sdp_support;

use std::net::SocketAddr;

use cardea_sip::sdp::{
    read_sip_offer, sip_answer_from_webrtc, sip_offer_from_webrtc, Crypto, Direction, LocalMedia,
    Origin, PtPair, SdpError, SessionDescription, SipAnswerConfig, WEBRTC_ONLY_ATTRIBUTES,
};
use sdp_support::*;

fn parse(s: &str) -> SessionDescription {
    SessionDescription::parse(s.as_bytes()).expect("fixture parses")
}

fn pairs(p: &[PtPair]) -> Vec<(u8, u8)> {
    p.iter().map(|p| p.as_tuple()).collect()
}

#[test]
fn webrtc_offer_becomes_clean_rtp_avp_with_mirrored_codecs() {
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &offer_config()).unwrap();
    let text = offer.sdp.to_text();
    assert_eq!(
        text,
        "v=0\r\n\
         o=- 6666975373717607009 1 IN IP4 10.0.0.2\r\n\
         s=-\r\n\
         c=IN IP4 10.0.0.2\r\n\
         t=0 0\r\n\
         m=audio 40988 RTP/AVP 111 9 0 8 13 110 126\r\n\
         a=rtpmap:111 opus/48000/2\r\n\
         a=fmtp:111 minptime=10;useinbandfec=1\r\n\
         a=rtpmap:9 G722/8000\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:13 CN/8000\r\n\
         a=rtpmap:110 telephone-event/48000\r\n\
         a=rtpmap:126 telephone-event/8000\r\n\
         a=sendrecv\r\n"
    );
    assert_eq!(offer.media.len(), 1);
    assert_eq!(offer.media[0].browser_index, 0);
    assert_eq!(
        pairs(&offer.media[0].pt_map),
        vec![
            (111, 111),
            (9, 9),
            (0, 0),
            (8, 8),
            (13, 13),
            (110, 110),
            (126, 126)
        ]
    );
    // What we write parses again to the same thing.
    assert_eq!(parse(&text), offer.sdp);
}

#[test]
fn no_webrtc_only_attributes_leak_into_sip_sdp() {
    let mut config = offer_config();
    config.rtcp_mux = false;
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &config).unwrap();
    let sdp = &offer.sdp;
    let names: Vec<String> = sdp
        .session_attributes()
        .chain(sdp.media().iter().flat_map(|m| m.attributes()))
        .map(|a| a.name.to_ascii_lowercase())
        .collect();
    for bad in WEBRTC_ONLY_ATTRIBUTES.iter().chain(&["rtcp-mux", "rtcp"]) {
        assert!(!names.iter().any(|n| n == bad), "a={bad} leaked");
    }
    let text = sdp.to_text();
    for bad in ["red/", "x-google", "SAVPF", "UDP/TLS", "candidate", "ssrc"] {
        assert!(!text.contains(bad), "{bad} leaked into {text}");
    }
    // rtcp-mux only when asked.
    config.rtcp_mux = true;
    let muxed = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &config).unwrap();
    assert!(muxed.sdp.media()[0].rtcp_mux());
}

#[test]
fn sdes_offer_uses_rtp_savp_with_one_crypto_line() {
    let mut config = offer_config();
    let crypto =
        Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:xxl2wQy06GB/Ys+wUDLc8IHXuMFSJPqmfT0xLSwi")
            .unwrap();
    config.audio = Some(LocalMedia {
        port: 40512,
        crypto: Some(crypto.clone()),
    });
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &config).unwrap();
    let m = &offer.sdp.media()[0];
    assert_eq!(m.proto(), "RTP/SAVP");
    assert_eq!(m.crypto().unwrap(), vec![crypto]);
    assert_eq!(offer.sdp.to_text().matches("a=crypto:").count(), 1);

    // An answer without keys to an SRTP offer is refused.
    let plain = ASTERISK_ANSWER.replace("RTP/AVP", "RTP/SAVP");
    assert_eq!(
        offer.read_answer(&parse(&plain)),
        Err(SdpError::MissingCrypto { index: 0 })
    );
    let keyed = format!(
        "{plain}a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
    );
    let answer = offer.read_answer(&parse(&keyed)).unwrap();
    assert_eq!(
        answer.media[0].sip.crypto[0].suite,
        "AES_CM_128_HMAC_SHA1_80"
    );
    assert!(answer.media[0].sip.crypto[0]
        .key_params
        .starts_with("inline:WVNf"));
}

#[test]
fn pbx_answer_gives_remote_address_codec_and_pt_map() {
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &offer_config()).unwrap();
    let answer = offer.read_answer(&parse(ASTERISK_ANSWER)).unwrap();
    let a = &answer.media[0];
    assert!(a.accepted);
    assert_eq!(
        a.sip.remote_rtp,
        Some("203.0.113.5:17822".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(
        a.sip.remote_rtcp,
        Some("203.0.113.5:17823".parse::<SocketAddr>().unwrap())
    );
    assert!(!a.sip.rtcp_mux);
    assert_eq!(a.sip.main_codec().unwrap().encoding, "PCMU");
    assert_eq!(a.sip.telephone_event, Some(101));
    assert_eq!(a.sip.direction, Direction::SendRecv);
    assert_eq!(a.sip.ptime, Some(20));
    // telephone-event/8000 was offered as 126 and answered as 101.
    assert_eq!(pairs(&a.pt_map), vec![(0, 0), (126, 101)]);
    assert_eq!(a.browser.keep_pts, vec![0, 126]);
    assert_eq!(a.browser.direction, Direction::SendRecv);
}

#[test]
fn pbx_answer_without_a_common_codec_or_with_wrong_m_line_count_is_refused() {
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &offer_config()).unwrap();
    let g729 = ASTERISK_ANSWER
        .replace("RTP/AVP 0 101", "RTP/AVP 18")
        .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000");
    assert_eq!(
        offer.read_answer(&parse(&g729)),
        Err(SdpError::NoCommonCodec { index: 0 })
    );
    let two = format!("{ASTERISK_ANSWER}m=video 0 RTP/AVP 96\r\n");
    assert_eq!(
        offer.read_answer(&parse(&two)),
        Err(SdpError::MediaCountMismatch {
            offer: 1,
            answer: 2
        })
    );
}

#[test]
fn rtcp_attribute_overrides_port_plus_one() {
    let offer = sip_offer_from_webrtc(&parse(CHROMIUM_OFFER), &offer_config()).unwrap();
    let with_port = ASTERISK_ANSWER.replace("a=ptime:20\r\n", "a=ptime:20\r\na=rtcp:17900\r\n");
    let a = offer.read_answer(&parse(&with_port)).unwrap();
    assert_eq!(
        a.media[0].sip.remote_rtcp,
        Some("203.0.113.5:17900".parse().unwrap())
    );
    let with_addr = ASTERISK_ANSWER.replace(
        "a=ptime:20\r\n",
        "a=ptime:20\r\na=rtcp:53020 IN IP4 203.0.113.9\r\n",
    );
    let a = offer.read_answer(&parse(&with_addr)).unwrap();
    assert_eq!(
        a.media[0].sip.remote_rtcp,
        Some("203.0.113.9:53020".parse().unwrap())
    );
    let muxed = ASTERISK_ANSWER.replace("a=ptime:20\r\n", "a=ptime:20\r\na=rtcp-mux\r\n");
    let a = offer.read_answer(&parse(&muxed)).unwrap();
    assert!(a.media[0].sip.rtcp_mux);
    assert_eq!(a.media[0].sip.remote_rtcp, None);
}

#[test]
fn pbx_offer_g711_with_telephone_event_is_understood() {
    let media = read_sip_offer(&parse(PBX_OFFER)).unwrap();
    assert_eq!(media.len(), 1);
    let m = &media[0];
    assert_eq!(m.kind, "audio");
    assert_eq!(m.remote_rtp, Some("198.51.100.7:4000".parse().unwrap()));
    assert_eq!(m.remote_rtcp, Some("198.51.100.7:4001".parse().unwrap()));
    let names: Vec<(u8, &str, u32)> = m
        .codecs
        .iter()
        .map(|c| (c.pt, c.encoding.as_str(), c.clock_rate))
        .collect();
    assert_eq!(
        names,
        vec![
            (0, "PCMU", 8000),
            (8, "PCMA", 8000),
            (101, "telephone-event", 8000)
        ]
    );
    assert_eq!(m.telephone_event, Some(101));
    assert_eq!(m.direction, Direction::SendRecv);
    assert!(!m.is_secure());
}

/// The browser's answer to the bridge's `UDP/TLS/RTP/SAVPF 0 101` offer.
const BROWSER_ANSWER: &str = "v=0\r
o=- 8394621037712 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=audio 9 UDP/TLS/RTP/SAVPF 0 101\r
c=IN IP4 0.0.0.0\r
a=ice-ufrag:aB3d\r
a=ice-pwd:q1w2e3r4t5y6u7i8o9p0a1s2\r
a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00\r
a=setup:active\r
a=mid:0\r
a=sendrecv\r
a=rtcp-mux\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=ssrc:1111 cname:abc\r
";

#[test]
fn sip_answer_from_browser_answer_keeps_pbx_payload_types_and_our_address() {
    let config = SipAnswerConfig {
        origin: Origin::new(42, 1, local_ip()),
        address: local_ip(),
        audio: Some(LocalMedia {
            port: 30000,
            crypto: None,
        }),
        video: None,
        rtcp_mux: true,
    };
    let answer =
        sip_answer_from_webrtc(&parse(PBX_OFFER), &parse(BROWSER_ANSWER), &config).unwrap();
    assert_eq!(
        answer.sdp.to_text(),
        "v=0\r\n\
         o=- 42 1 IN IP4 10.0.0.2\r\n\
         s=-\r\n\
         c=IN IP4 10.0.0.2\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=sendrecv\r\n"
    );
    let m = &answer.media[0];
    assert!(m.accepted && !m.rtcp_mux, "rtcp-mux was not offered");
    assert_eq!(pairs(&m.pt_map), vec![(0, 0), (101, 101)]);
    assert_eq!(m.telephone_event, Some(101));

    // A PBX putting us on hold (sendonly) gets recvonly; an extra video m-line is rejected.
    let hold = format!(
        "{}m=video 4002 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\n",
        PBX_OFFER.replace("a=sendrecv", "a=sendonly")
    );
    let answer = sip_answer_from_webrtc(&parse(&hold), &parse(BROWSER_ANSWER), &config).unwrap();
    assert_eq!(answer.sdp.media()[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(answer.sdp.media().len(), 2);
    assert!(answer.sdp.media()[1].is_rejected());
    assert!(!answer.media[1].accepted);
}

#[test]
fn audio_only_caller_rejects_browser_video_with_port_zero() {
    let with_video = format!(
        "{CHROMIUM_OFFER}m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r
c=IN IP4 0.0.0.0\r
a=mid:1\r
a=rtpmap:96 VP8/90000\r
a=rtcp-fb:96 nack pli\r
a=rtpmap:97 rtx/90000\r
a=fmtp:97 apt=96\r
a=rtpmap:102 H264/90000\r
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r
a=sendrecv\r
"
    );
    let offer = sip_offer_from_webrtc(&parse(&with_video), &offer_config()).unwrap();
    let video = &offer.sdp.media()[1];
    assert_eq!(video.media_line().text(), "m=video 0 RTP/AVP 96 102");
    assert!(video.lines().is_empty());

    let mut config = offer_config();
    config.video = Some(LocalMedia {
        port: 40990,
        crypto: None,
    });
    let offer = sip_offer_from_webrtc(&parse(&with_video), &config).unwrap();
    let video = &offer.sdp.media()[1];
    assert_eq!(video.media_line().text(), "m=video 40990 RTP/AVP 96 102");
    assert_eq!(
        video.fmtp(102).unwrap().unwrap().params,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"
    );
    assert!(!video.has_attribute("rtcp-fb"));
}
