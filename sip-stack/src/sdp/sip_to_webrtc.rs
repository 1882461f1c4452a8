//! An incoming call: the SIP answer built from the browser's answer (what the Janus SIP
//! plugin does on `accept`). The PBX's offer is read with [`super::read_sip_offer`].

use super::attributes::{sip_fmtp, Codec, Direction};
use super::error::SdpError;
use super::model::{Connection, SessionDescription};
use super::sip_media::{PtPair, SipMedia};
use super::webrtc_to_sip::{rejected_section, rtp_section, LocalMedia, LocalSdp};

/// What the caller decides for a SIP answer (the same choices as for an offer).
pub type SipAnswerConfig = LocalSdp;

/// One m-line of the SIP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerMapping {
    pub sip_index: usize,
    /// The browser m-line carried here, when accepted.
    pub browser_index: Option<usize>,
    pub accepted: bool,
    /// Browser PT → SIP PT, for the RTP leg's `PtMap::new`.
    pub pt_map: Vec<PtPair>,
    /// The SIP side's telephone-event PT, when both sides have it.
    pub telephone_event: Option<u8>,
    pub rtcp_mux: bool,
}

/// The SIP answer and how its m-lines map to the browser's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAnswer {
    pub sdp: SessionDescription,
    pub media: Vec<AnswerMapping>,
}

/// Builds the answer to a PBX's offer from the browser's answer (RFC 3264 §6): one m-line
/// per offered m-line, in order; the k-th active audio (video) m-line of the offer is carried
/// by the k-th audio (video) m-line of the browser's answer, and only the first of each kind
/// (one RTP port per kind). Codecs are the browser's choice, in its order, under the PBX's
/// payload types (§6.1); anything else is rejected with port 0.
pub fn sip_answer_from_webrtc(
    sip_offer: &SessionDescription,
    browser_answer: &SessionDescription,
    config: &SipAnswerConfig,
) -> Result<SipAnswer, SdpError> {
    let mut sdp = SessionDescription::new(&config.origin, "-");
    sdp.set_connection(&Connection::from_ip(config.address));
    let mut mappings = Vec::new();
    let mut used_kinds: Vec<String> = Vec::new();
    for (index, offered) in sip_offer.media().iter().enumerate() {
        let kind = offered.media().to_ascii_lowercase();
        let local = match kind.as_str() {
            "audio" => config.audio.as_ref(),
            "video" => config.video.as_ref(),
            _ => None,
        };
        let carried = local
            .filter(|_| offered.is_rtp() && !offered.is_rejected())
            .filter(|_| !used_kinds.contains(&kind))
            .and_then(|local| {
                let b = browser_answer
                    .media()
                    .iter()
                    .position(|m| m.media().eq_ignore_ascii_case(&kind))?;
                Some((local, b))
            });
        let reject = |sdp: &mut SessionDescription, mappings: &mut Vec<AnswerMapping>| {
            sdp.push_media(rejected_section(
                offered.media(),
                offered.proto(),
                offered.formats().iter().cloned(),
            ));
            mappings.push(AnswerMapping {
                sip_index: index,
                browser_index: None,
                accepted: false,
                pt_map: Vec::new(),
                telephone_event: None,
                rtcp_mux: false,
            });
        };
        let Some((local, browser_index)) = carried else {
            reject(&mut sdp, &mut mappings);
            continue;
        };
        used_kinds.push(kind.clone());
        let sip = SipMedia::read(sip_offer, index)?;
        let browser_m = &browser_answer.media()[browser_index];
        if browser_m.is_rejected() {
            reject(&mut sdp, &mut mappings);
            continue;
        }
        if sip.is_secure() && local.crypto.is_none() {
            return Err(SdpError::MissingCrypto { index });
        }
        let (codecs, pt_map) = answer_codecs(&sip.codecs, &browser_m.codecs()?);
        if !codecs.iter().any(Codec::is_media) {
            reject(&mut sdp, &mut mappings);
            continue;
        }
        let browser_direction = browser_m
            .direction()
            .or(browser_answer.session_direction())
            .unwrap_or_default();
        let direction = Direction::answer_to(sip.direction, browser_direction);
        let rtcp_mux = config.rtcp_mux && sip.rtcp_mux;
        // The answer keeps the offer's proto (RFC 3264 §6); keys only where SRTP was offered.
        let local = LocalMedia {
            port: local.port,
            crypto: local.crypto.clone().filter(|_| sip.is_secure()),
        };
        let mut section = rtp_section(&kind, &local, &codecs, direction, rtcp_mux);
        if section.proto() != offered.proto() {
            section.set_proto(offered.proto());
        }
        sdp.push_media(section);
        mappings.push(AnswerMapping {
            sip_index: index,
            browser_index: Some(browser_index),
            accepted: true,
            telephone_event: codecs.iter().find(|c| c.is_telephone_event()).map(|c| c.pt),
            pt_map,
            rtcp_mux,
        });
    }
    Ok(SipAnswer {
        sdp,
        media: mappings,
    })
}

/// The browser's codecs, in its order, renamed to the offer's payload types (same PT and
/// codec first, then same codec), with the offer's fmtp.
fn answer_codecs(offered: &[Codec], browser: &[Codec]) -> (Vec<Codec>, Vec<PtPair>) {
    let mut codecs: Vec<Codec> = Vec::new();
    let mut pairs: Vec<PtPair> = Vec::new();
    for b in browser {
        let hit = offered
            .iter()
            .find(|o| o.pt == b.pt && o.same_codec(b))
            .or_else(|| offered.iter().find(|o| o.same_codec(b)));
        let Some(o) = hit else { continue };
        if pairs.iter().any(|p| p.webrtc == b.pt || p.sip == o.pt) {
            continue;
        }
        pairs.push(PtPair {
            webrtc: b.pt,
            sip: o.pt,
        });
        codecs.push(Codec {
            fmtp: sip_fmtp(o),
            ..o.clone()
        });
    }
    (codecs, pairs)
}
