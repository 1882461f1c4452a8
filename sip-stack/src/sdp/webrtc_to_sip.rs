//! A browser's offer turned into the SIP offer (what the Janus SIP plugin does on `call`),
//! and the PBX's answer read back into what both legs need.
//!
//! The SIP SDP is built fresh rather than edited from the browser's: only what a plain RTP
//! peer understands is copied (rtpmap, fmtp, ptime, maxptime, direction), so ICE, DTLS,
//! rtcp-fb, extmap, mid, msid, ssrc, rid and simulcast lines cannot leak.

use std::net::IpAddr;

use super::attributes::{is_webrtc_only_encoding, sip_fmtp, Codec, Crypto, Direction};
use super::error::SdpError;
use super::model::{Connection, Line, MediaSection, Origin, SessionDescription};
use super::sip_media::{PtPair, SipMedia};

/// Attributes of a browser SDP that have no meaning on a plain RTP leg (RFC 8839 ICE,
/// RFC 8842 DTLS, RFC 4585 feedback, RFC 8285 header extensions, RFC 8843 BUNDLE, RFC 8830
/// msid, RFC 5576 ssrc, RFC 8851/8853 rid and simulcast). None reaches a SIP SDP.
pub const WEBRTC_ONLY_ATTRIBUTES: [&str; 20] = [
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "fingerprint",
    "setup",
    "mid",
    "msid",
    "msid-semantic",
    "ssrc",
    "ssrc-group",
    "extmap",
    "extmap-allow-mixed",
    "rtcp-fb",
    "rid",
    "simulcast",
    "group",
    "candidate",
    "end-of-candidates",
    "rtcp-rsize",
];

/// Our side of one SIP m-line: the RTP leg's port and, for SDES, our `a=crypto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub port: u16,
    /// `Some` makes the m-line `RTP/SAVP` with this one `a=crypto` (RFC 4568 §5).
    pub crypto: Option<Crypto>,
}

/// Our side of a SIP offer or answer: what the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSdp {
    /// Our `o=`; keep the session id and bump the version for re-offers (RFC 3264 §8).
    pub origin: Origin,
    /// The RTP leg's address, written in `c=`.
    pub address: IpAddr,
    /// `None`: audio is offered, or the offered audio answered, with port 0.
    pub audio: Option<LocalMedia>,
    /// `None`: video likewise with port 0 (audio-only calls).
    pub video: Option<LocalMedia>,
    /// Offer `a=rtcp-mux`, or accept it when offered (RFC 5761 §5.1.1); many PBXs do not
    /// support it.
    pub rtcp_mux: bool,
}

/// What the caller decides for a SIP offer.
pub type SipOfferConfig = LocalSdp;

/// One m-line of the SIP offer and the browser m-line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedMedia {
    pub sip_index: usize,
    pub browser_index: usize,
    pub kind: String,
    /// Offered with port 0.
    pub rejected: bool,
    /// The codecs offered, with the SIP payload types.
    pub codecs: Vec<Codec>,
    /// Browser PT → SIP PT; identical numbers since the offer mirrors the browser's.
    pub pt_map: Vec<PtPair>,
    pub secure: bool,
}

/// The SIP offer and how it maps to the browser's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipOffer {
    pub sdp: SessionDescription,
    pub media: Vec<OfferedMedia>,
}

/// Which browser m-lines are carried: the first active audio and the first active video.
/// Others (data channels, further audio/video m-lines) are left out of the SIP offer.
fn carried(browser: &SessionDescription) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    for kind in ["audio", "video"] {
        let found = browser.media().iter().position(|m| {
            m.media().eq_ignore_ascii_case(kind)
                && m.is_rtp()
                && (!m.is_rejected() || m.has_attribute("bundle-only"))
        });
        if let Some(i) = found {
            out.push((i, kind));
        }
    }
    out.sort_unstable();
    out
}

/// Builds the SIP offer from a browser's offer (RFC 3264 §5): `RTP/AVP` (or `RTP/SAVP` with
/// one `a=crypto`), our address and ports, the browser's codecs in its order with rtpmap
/// and fmtp (minus redundancy/retransmission/FEC formats and non-RFC 7587 opus parameters),
/// telephone-event, the browser's direction.
pub fn sip_offer_from_webrtc(
    browser: &SessionDescription,
    config: &SipOfferConfig,
) -> Result<SipOffer, SdpError> {
    let mut sdp = SessionDescription::new(&config.origin, "-");
    sdp.set_connection(&Connection::from_ip(config.address));
    let mut media = Vec::new();
    for (browser_index, kind) in carried(browser) {
        let m = &browser.media()[browser_index];
        let codecs: Vec<Codec> = m
            .codecs()?
            .into_iter()
            .filter(|c| !is_webrtc_only_encoding(c))
            .map(|c| Codec {
                fmtp: sip_fmtp(&c),
                ..c
            })
            .collect();
        if !codecs.iter().any(Codec::is_media) {
            continue;
        }
        let local = if kind == "audio" {
            config.audio.as_ref()
        } else {
            config.video.as_ref()
        };
        let direction = m
            .direction()
            .or(browser.session_direction())
            .unwrap_or_default();
        let section = match local {
            Some(local) => {
                let mut s = rtp_section(kind, local, &codecs, direction, config.rtcp_mux);
                for name in ["ptime", "maxptime"] {
                    if let Some(v) = m.attribute(name).and_then(|a| a.value) {
                        s.push_line(Line::attribute(name, Some(v)));
                    }
                }
                s
            }
            None => rejected_section(kind, "RTP/AVP", codecs.iter().map(|c| c.pt.to_string())),
        };
        media.push(OfferedMedia {
            sip_index: sdp.media().len(),
            browser_index,
            kind: kind.into(),
            rejected: local.is_none(),
            pt_map: codecs
                .iter()
                .map(|c| PtPair {
                    webrtc: c.pt,
                    sip: c.pt,
                })
                .collect(),
            secure: local.is_some_and(|l| l.crypto.is_some()),
            codecs,
        });
        sdp.push_media(section);
    }
    if media.iter().all(|m| m.rejected) {
        return Err(SdpError::NoMedia);
    }
    Ok(SipOffer { sdp, media })
}

/// A SIP m-line carrying `codecs` on `local`'s port.
pub(crate) fn rtp_section(
    kind: &str,
    local: &LocalMedia,
    codecs: &[Codec],
    direction: Direction,
    rtcp_mux: bool,
) -> MediaSection {
    let proto = if local.crypto.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    let formats = codecs.iter().map(|c| c.pt.to_string()).collect();
    let mut s = MediaSection::new(kind, local.port, proto, formats);
    for c in codecs {
        s.push_line(Line::attribute("rtpmap", Some(&c.rtpmap().to_string())));
        if let Some(f) = &c.fmtp {
            s.push_line(Line::attribute("fmtp", Some(&format!("{} {f}", c.pt))));
        }
    }
    if rtcp_mux {
        s.push_line(Line::attribute("rtcp-mux", None));
    }
    if let Some(crypto) = &local.crypto {
        s.push_line(Line::attribute("crypto", Some(&crypto.to_string())));
    }
    s.push_line(Line::attribute(direction.name(), None));
    s
}

/// `m=<kind> 0 <proto> <formats>` with nothing under it (RFC 3264 §5.1, §6).
pub(crate) fn rejected_section(
    kind: &str,
    proto: &str,
    formats: impl Iterator<Item = String>,
) -> MediaSection {
    let mut formats: Vec<String> = formats.collect();
    if formats.is_empty() {
        formats.push("0".into());
    }
    MediaSection::new(kind, 0, proto, formats)
}

/// The codecs to keep in the answer the WebRTC leg sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserAnswerConstraints {
    pub browser_index: usize,
    /// Browser payload types, in the PBX's order of preference; empty when rejected.
    pub keep_pts: Vec<u8>,
    /// The PBX's answer direction: the bridge's answer to the browser says the same.
    pub direction: Direction,
}

/// One m-line of the PBX's answer, read against our offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredMedia {
    pub sip: SipMedia,
    /// Accepted by both (non-zero port in offer and answer).
    pub accepted: bool,
    /// For the RTP leg's `PtMap::new` (pairs are `(webrtc, sip)` there).
    pub pt_map: Vec<PtPair>,
    pub browser: BrowserAnswerConstraints,
}

/// The PBX's answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMediaAnswer {
    pub media: Vec<AnsweredMedia>,
}

impl SipOffer {
    /// Reads the PBX's answer to this offer: per m-line the remote address, chosen codecs,
    /// telephone-event, direction and keys, the PT map, and what to keep in the browser's
    /// answer. Answer codecs are matched to ours by payload type, then by name and clock,
    /// since peers may renumber dynamic types.
    pub fn read_answer(&self, answer: &SessionDescription) -> Result<SipMediaAnswer, SdpError> {
        if answer.media().len() != self.sdp.media().len() {
            return Err(SdpError::MediaCountMismatch {
                offer: self.sdp.media().len(),
                answer: answer.media().len(),
            });
        }
        let mut media = Vec::new();
        for offered in &self.media {
            let sip = SipMedia::read(answer, offered.sip_index)?;
            let accepted = !offered.rejected && !sip.is_rejected();
            let pt_map = if accepted {
                match_codecs(&sip.codecs, &offered.codecs, &offered.pt_map)
            } else {
                Vec::new()
            };
            if accepted && !pt_map.iter().any(|p| is_media_pt(&sip.codecs, p.sip)) {
                return Err(SdpError::NoCommonCodec {
                    index: offered.sip_index,
                });
            }
            if accepted && offered.secure && sip.crypto.is_empty() {
                return Err(SdpError::MissingCrypto {
                    index: offered.sip_index,
                });
            }
            media.push(AnsweredMedia {
                browser: BrowserAnswerConstraints {
                    browser_index: offered.browser_index,
                    keep_pts: pt_map.iter().map(|p| p.webrtc).collect(),
                    direction: if accepted {
                        sip.direction
                    } else {
                        Direction::Inactive
                    },
                },
                accepted,
                pt_map,
                sip,
            });
        }
        Ok(SipMediaAnswer { media })
    }
}

fn is_media_pt(codecs: &[Codec], pt: u8) -> bool {
    codecs.iter().any(|c| c.pt == pt && c.is_media())
}

/// Pairs each codec of `chosen` (in its order) with an offered one: same PT and codec
/// first, then the same codec under another PT. `offered_map` gives the other side's PT of
/// each offered codec. Each PT appears at most once per side.
pub(crate) fn match_codecs(
    chosen: &[Codec],
    offered: &[Codec],
    offered_map: &[PtPair],
) -> Vec<PtPair> {
    let mut out: Vec<PtPair> = Vec::new();
    for c in chosen {
        let hit = offered
            .iter()
            .find(|o| o.pt == c.pt && o.same_codec(c))
            .or_else(|| offered.iter().find(|o| o.same_codec(c)));
        let Some(o) = hit else { continue };
        let Some(other) = offered_map.iter().find(|p| p.sip == o.pt) else {
            continue;
        };
        let pair = PtPair {
            webrtc: other.webrtc,
            sip: c.pt,
        };
        if out
            .iter()
            .all(|p| p.webrtc != pair.webrtc && p.sip != pair.sip)
        {
            out.push(pair);
        }
    }
    out
}
