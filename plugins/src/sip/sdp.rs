//! The SDP glue of a bridged call: what the WebRTC leg must answer the browser, and how
//! the RTP leg is configured, from the SIP peer's answer (RFC 3264). The SIP-side SDP
//! itself is made by `cardea_sip::sdp`.

use cardea_media::rtp_leg::PtMap;
use cardea_sip::sdp::{BrowserAnswerConstraints, SessionDescription, SipMediaAnswer};

use crate::api::RtpConfig;
use crate::MediaKind;

/// The browser's offer with each carried m-line restricted to the payload types the SIP
/// peer accepted, so that the WebRTC leg's answer picks the same codec on both sides (no
/// transcoding). Other m-lines (data channels) are left as they are.
pub fn restrict_offer(
    browser_offer: &str,
    constraints: &[&BrowserAnswerConstraints],
) -> Result<String, String> {
    let mut sdp = SessionDescription::parse(browser_offer.as_bytes()).map_err(|e| e.to_string())?;
    for c in constraints {
        let Some(m) = sdp.media_mut().get_mut(c.browser_index) else {
            continue;
        };
        if c.keep_pts.is_empty() {
            // Rejected by the peer: the browser's answer rejects it too.
            m.set_port(0);
            continue;
        }
        m.retain_formats(&c.keep_pts);
    }
    Ok(sdp.to_text())
}

/// One RTP leg stream per accepted m-line of the SIP peer's answer.
pub fn rtp_configs(answer: &SipMediaAnswer) -> Vec<RtpConfig> {
    answer
        .media
        .iter()
        .filter(|m| m.accepted)
        .filter_map(|m| {
            let kind = media_kind(&m.sip.kind)?;
            let pairs: Vec<(u8, u8)> = m.pt_map.iter().map(|p| p.as_tuple()).collect();
            let pt_map = PtMap::new(&pairs).ok()?;
            let clock_rate = m.sip.main_codec().map_or(8000, |c| c.clock_rate);
            Some(RtpConfig {
                kind,
                remote_rtp: m.sip.remote_rtp,
                remote_rtcp: m.sip.remote_rtcp,
                pt_map,
                telephone_event: m.sip.telephone_event,
                clock_rate,
                srtp: None,
            })
        })
        .collect()
}

pub fn media_kind(kind: &str) -> Option<MediaKind> {
    if kind.eq_ignore_ascii_case("audio") {
        Some(MediaKind::Audio)
    } else if kind.eq_ignore_ascii_case("video") {
        Some(MediaKind::Video)
    } else {
        None
    }
}

/// Whether the browser's offer carries a video m-line we would bridge.
pub fn offers_video(browser_offer: &str) -> bool {
    SessionDescription::parse(browser_offer.as_bytes()).is_ok_and(|s| {
        s.media()
            .iter()
            .any(|m| m.media().eq_ignore_ascii_case("video") && !m.is_rejected())
    })
}
