//! Shared SDP fixtures: a Chromium offer and Asterisk-like answers and offers.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use cardea_sip::sdp::{LocalMedia, Origin, SipOfferConfig};

/// What Chromium offers for `getUserMedia({audio: true})`, with candidates (lines CRLF).
pub const CHROMIUM_OFFER: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS 1d3c8c4b-5f2a-4f0e-9d45-6a7e0b2c1f11\r
m=audio 54321 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r
c=IN IP4 192.0.2.10\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=candidate:1467250027 1 udp 2122260223 192.0.2.10 54321 typ host generation 0 network-id 1\r
a=candidate:435653019 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active generation 0 network-id 1\r
a=end-of-candidates\r
a=ice-ufrag:Xk3v\r
a=ice-pwd:Lq9b2d7f3Jr8tT1wM0aZp4Yc\r
a=ice-options:trickle\r
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r
a=setup:actpass\r
a=mid:0\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=sendrecv\r
a=msid:1d3c8c4b-5f2a-4f0e-9d45-6a7e0b2c1f11 8c2f0d5e-3b1a-4c6d-a7e9-0f4b2d6c8a13\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1;x-google-experiment=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:13 CN/8000\r
a=rtpmap:110 telephone-event/48000\r
a=rtpmap:126 telephone-event/8000\r
a=ssrc:3735928559 cname:Zx8uL2kP9qR4sT1v\r
a=ssrc:3735928559 msid:1d3c8c4b-5f2a-4f0e-9d45-6a7e0b2c1f11 8c2f0d5e-3b1a-4c6d-a7e9-0f4b2d6c8a13\r
";

/// Asterisk answering the mirrored offer with PCMU and telephone-event at 8 kHz, renumbered
/// to 101 (as Asterisk does), no rtcp-mux.
pub const ASTERISK_ANSWER: &str = "v=0\r
o=- 1834512 1834514 IN IP4 203.0.113.5\r
s=Asterisk\r
c=IN IP4 203.0.113.5\r
t=0 0\r
m=audio 17822 RTP/AVP 0 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=maxptime:150\r
a=sendrecv\r
";

/// A PBX calling in with G.711 and telephone-event.
pub const PBX_OFFER: &str = "v=0\r
o=root 2113730110 2113730110 IN IP4 198.51.100.7\r
s=Asterisk PBX 18.10.0\r
c=IN IP4 198.51.100.7\r
t=0 0\r
m=audio 4000 RTP/AVP 0 8 101\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-16\r
a=ptime:20\r
a=sendrecv\r
";

pub fn local_ip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
}

pub fn offer_config() -> SipOfferConfig {
    SipOfferConfig {
        origin: Origin::new(6666975373717607009, 1, local_ip()),
        address: local_ip(),
        audio: Some(LocalMedia {
            port: 40988,
            crypto: None,
        }),
        video: None,
        rtcp_mux: false,
    }
}
