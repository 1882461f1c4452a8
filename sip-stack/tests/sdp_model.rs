//! The SDP model: faithful round trips, typed views, re-offers.

mod sdp_support;

use cardea_sip::sdp::{sip_offer_from_webrtc, Direction, Line, SdpError, SessionDescription};
use proptest::prelude::*;
use sdp_support::*;

#[test]
fn unknown_lines_survive_a_roundtrip() {
    // Mixed line ends, odd spacing, attributes nobody knows, i=/u=/e=/b=/k= lines and a
    // body without a final line break: all written back exactly.
    let text = "v=0\r\no=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\ns=SDP Seminar\n\
                i=A Seminar on the session description protocol\r\nu=http://www.example.com/seminars/sdp.pdf\r\n\
                e=j.doe@example.com (Jane Doe)\r\nc=IN IP4 224.2.17.12/127\r\nb=AS:64\r\nt=2873397496 2873404696\r\n\
                a=x-vendor-thing:  spaced   value \r\nm=audio 49170 RTP/AVP 0\r\nb=TIAS:64000\r\n\
                a=x-unknown\r\nk=prompt\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
                a=sctp-port:5000";
    let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(sdp.to_text(), text);
    assert_eq!(sdp.media().len(), 2);
    assert_eq!(sdp.media()[0].lines()[1].text(), "a=x-unknown");
    assert!(sdp
        .session_attributes()
        .any(|a| a.name == "x-vendor-thing" && a.value == Some("  spaced   value ")));
    assert_eq!(sdp.media()[1].codecs().unwrap(), vec![]);
}

#[test]
fn hold_sets_sendonly_and_bumps_origin_version() {
    let mut sdp = sip_offer_from_webrtc(
        &SessionDescription::parse(CHROMIUM_OFFER.as_bytes()).unwrap(),
        &offer_config(),
    )
    .unwrap()
    .sdp;
    let before = sdp.origin().unwrap();
    let formats = sdp.media()[0].formats().to_vec();
    assert_eq!(sdp.hold().unwrap(), before.version + 1);
    let after = sdp.origin().unwrap();
    assert_eq!(after.session_id, before.session_id);
    assert_eq!(sdp.media()[0].direction(), Some(Direction::SendOnly));
    assert_eq!(sdp.media()[0].formats(), formats.as_slice());
    assert_eq!(
        sdp.media()[0]
            .attributes()
            .filter(|a| Direction::from_name(a.name).is_some())
            .count(),
        1
    );
    assert_eq!(sdp.resume().unwrap(), before.version + 2);
    assert_eq!(sdp.media()[0].direction(), Some(Direction::SendRecv));
    // A hold of a recvonly stream is inactive (RFC 3264 §8.4).
    sdp.media_mut()[0].set_direction(Direction::RecvOnly);
    sdp.hold().unwrap();
    assert_eq!(sdp.media()[0].direction(), Some(Direction::Inactive));
}

#[test]
fn version_overflow_is_an_error_not_a_wrap() {
    let text = "v=0\r\no=- 1 18446744073709551615 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n";
    let mut sdp = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(sdp.bump_version(), Err(SdpError::VersionOverflow));
}

#[test]
fn malformed_bodies_get_typed_errors() {
    let cases: [(&str, SdpError); 6] = [
        ("", SdpError::Empty),
        ("s=-\r\n", SdpError::BadVersion),
        ("v=0\r\ns=-\r\n", SdpError::MissingOrigin),
        ("v=0\r\no=- x 1 IN IP4 a\r\n", SdpError::BadOrigin),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nnonsense\r\n",
            SdpError::BadLine { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 99999 RTP/AVP 0\r\n",
            SdpError::BadMediaLine { line: 3 },
        ),
    ];
    for (text, err) in cases {
        assert_eq!(
            SessionDescription::parse(text.as_bytes()),
            Err(err),
            "{text:?}"
        );
    }
    let bad_rtpmap = "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 opus\r\n";
    let sdp = SessionDescription::parse(bad_rtpmap.as_bytes()).unwrap();
    assert!(matches!(
        sdp.media()[0].codecs(),
        Err(SdpError::BadRtpmap(_))
    ));
}

#[test]
fn edits_touch_only_the_edited_lines() {
    let mut sdp = SessionDescription::parse(PBX_OFFER.as_bytes()).unwrap();
    sdp.media_mut()[0].set_port(4100);
    sdp.media_mut()[0].push_line(Line::attribute("x-added", Some("1")));
    let text = sdp.to_text();
    assert_eq!(
        text,
        format!(
            "{}a=x-added:1\r\n",
            PBX_OFFER.replace("m=audio 4000", "m=audio 4100")
        )
    );
}

fn attr_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "a=[a-z][a-z0-9-]{0,10}",
        "a=[a-z][a-z0-9-]{0,10}:[ -~]{0,30}",
        "[bikuepz]=[ -~]{0,30}",
        (0u8..128, "[A-Za-z0-9-]{1,10}", 1u32..100_000)
            .prop_map(|(pt, e, c)| format!("a=rtpmap:{pt} {e}/{c}")),
        prop::sample::select(vec!["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"])
            .prop_map(str::to_owned),
    ]
}

fn media() -> impl Strategy<Value = Vec<String>> {
    (
        prop::sample::select(vec!["audio", "video", "application"]),
        any::<u16>(),
        prop::sample::select(vec!["RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF"]),
        prop::collection::vec(0u8..128, 1..6),
        prop::collection::vec(attr_line(), 0..8),
    )
        .prop_map(|(kind, port, proto, pts, attrs)| {
            let fmts: Vec<String> = pts.iter().map(u8::to_string).collect();
            let mut lines = vec![format!("m={kind} {port} {proto} {}", fmts.join(" "))];
            lines.extend(attrs);
            lines
        })
}

proptest! {
    #[test]
    fn parse_then_write_is_the_identity(
        session in prop::collection::vec(attr_line(), 0..6),
        sections in prop::collection::vec(media(), 0..4),
        lf in any::<bool>(),
        final_break in any::<bool>(),
    ) {
        let mut lines = vec!["v=0".to_owned(), "o=- 1 2 IN IP4 192.0.2.1".into(), "s=-".into(), "t=0 0".into()];
        lines.extend(session);
        lines.extend(sections.into_iter().flatten());
        let eol = if lf { "\n" } else { "\r\n" };
        let mut text = lines.join(eol);
        if final_break { text.push_str(eol); }
        let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(sdp.to_text(), text.clone());
        let again = SessionDescription::parse(sdp.to_text().as_bytes()).unwrap();
        prop_assert_eq!(again, sdp);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(sdp) = SessionDescription::parse(&bytes) {
            let written = sdp.to_text();
            prop_assert_eq!(written.as_bytes(), &bytes[..]);
            for m in sdp.media() {
                let _ = m.codecs();
                let _ = m.crypto();
                let _ = m.rtcp();
            }
            let _ = cardea_sip::sdp::read_sip_offer(&sdp);
        }
    }
}
