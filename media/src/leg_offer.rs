//! The bridge as offerer (RFC 3264 §5): when a SIP peer calls a browser, the WebRTC leg
//! offers exactly the peer's codecs under the peer's payload types, so media crosses the
//! bridge without transcoding; the browser's answer comes back later.

use std::num::NonZeroU32;
use std::time::Instant;

use str0m::change::SdpAnswer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, Mid, Pt};

use super::WebRtcLeg;
use crate::{LegConfig, LegId, MediaError, MediaKind};

/// One m-line of an offer to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferMedia {
    pub kind: MediaKind,
    /// In order of preference, with the payload types the browser should use.
    pub codecs: Vec<OfferCodec>,
    /// We only send on this m-line (an SFU subscriber's stream); otherwise send and receive.
    pub send_only: bool,
}

/// A codec of an offered m-line, as rtpmap/fmtp give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferCodec {
    pub pt: u8,
    /// Encoding name (`opus`, `PCMU`, `G722`, `telephone-event`, `VP8`...).
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    pub fmtp: Option<String>,
    /// A retransmission payload type (RFC 4588) for this codec: with it the leg answers
    /// the browser's NACKs from its send buffer.
    pub rtx: Option<u8>,
}

impl WebRtcLeg {
    /// A leg that offers `media` to the browser; returns the leg and its offer SDP (ICE
    /// credentials, candidates and fingerprint included). Codecs a WebRTC stack does not
    /// know are left out; an offer without any media codec (or data channel) is an error.
    /// With `data`, a data channel follows the media m-lines.
    /// `later` lists codecs the leg must be able to offer in a later renegotiation
    /// ([`Self::reoffer`]) without an m-line now: a codec set is fixed when a leg is built.
    pub fn new_offer(
        id: LegId,
        config: &LegConfig,
        now: Instant,
        media: &[OfferMedia],
        later: &[OfferMedia],
        data: bool,
    ) -> Result<(Self, String), MediaError> {
        let usable: Vec<(&OfferMedia, Vec<&OfferCodec>)> = media
            .iter()
            .chain(later)
            .map(|m| {
                let codecs = m
                    .codecs
                    .iter()
                    .filter(|c| Codec::from(c.name.as_str()) != Codec::Unknown)
                    .collect();
                (m, codecs)
            })
            .collect();
        let has_media_codec = usable.iter().any(|(_, codecs)| {
            codecs
                .iter()
                .any(|c| !matches!(Codec::from(c.name.as_str()), Codec::Tele | Codec::CN))
        });
        if !has_media_codec && !data {
            return Err(MediaError::Negotiation(
                "no codec a browser can take in the offer".into(),
            ));
        }
        let mut leg = Self::build(id, config, now, |mut rtc| {
            rtc = rtc.clear_codecs();
            let codec_config = rtc.codec_config();
            // Several m-lines may carry the same codec: each payload type is set up once.
            let mut configured: Vec<u8> = Vec::new();
            for (_, codecs) in &usable {
                for c in codecs {
                    let Some(clock) = NonZeroU32::new(c.clock_rate) else {
                        continue;
                    };
                    if configured.contains(&c.pt) || c.rtx.is_some_and(|r| configured.contains(&r))
                    {
                        continue;
                    }
                    configured.push(c.pt);
                    configured.extend(c.rtx);
                    codec_config.add_config(
                        Pt::from(c.pt),
                        c.rtx.map(Pt::from),
                        Codec::from(c.name.as_str()),
                        Frequency::from_nonzero(clock),
                        c.channels.and_then(|n| u8::try_from(n).ok()),
                        c.fmtp
                            .as_deref()
                            .map(FormatParams::parse_line)
                            .unwrap_or_default(),
                    );
                }
            }
            rtc
        });
        let mut api = leg.rtc.sdp_api();
        for (m, _) in usable.iter().take(media.len()) {
            add_m_line(&mut api, m);
        }
        if data {
            api.add_channel(JANUS_CHANNEL_LABEL.into());
        }
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| MediaError::Negotiation("nothing to offer".into()))?;
        leg.pending_offer = Some(pending);
        Ok((leg, offer.to_sdp_string()))
    }

    /// A new offer on a leg that is up (an SFU subscription that grows or shrinks): `add`
    /// become new m-lines (with the codecs the leg was built with), `inactive` mids stop.
    /// The browser's answer comes back through [`Self::accept_answer`].
    /// With `ice_restart`, the offer carries new ICE credentials (the browser's side of the
    /// path changed or failed).
    pub fn reoffer(
        &mut self,
        add: &[OfferMedia],
        inactive: &[Mid],
        ice_restart: bool,
        data: bool,
    ) -> Result<String, MediaError> {
        let mut api = self.rtc.sdp_api();
        if ice_restart {
            api.ice_restart(true);
        }
        for mid in inactive {
            api.set_direction(*mid, Direction::Inactive);
        }
        for m in add {
            add_m_line(&mut api, m);
        }
        if data {
            // After the media, as in a first offer.
            api.add_channel(JANUS_CHANNEL_LABEL.into());
        }
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| MediaError::Negotiation("nothing changed to offer".into()))?;
        self.pending_offer = Some(pending);
        self.local_ufrag = self.rtc.direct_api().local_ice_credentials().ufrag;
        Ok(offer.to_sdp_string())
    }

    /// The browser's answer to our offer: the streams it accepted are set up.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), MediaError> {
        let pending = self
            .pending_offer
            .take()
            .ok_or_else(|| MediaError::Negotiation("no offer awaits an answer".into()))?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| MediaError::InvalidSdp(e.to_string()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| MediaError::Negotiation(e.to_string()))?;
        self.set_streams_from(sdp);
        Ok(())
    }
}

/// The label Janus gives the data channels it opens.
const JANUS_CHANNEL_LABEL: &str = "JanusDataChannel";

/// One m-line of an offer we make: the kind, and whether only we send.
fn add_m_line(api: &mut str0m::change::SdpApi<'_>, m: &OfferMedia) {
    let kind = match m.kind {
        MediaKind::Audio => str0m::media::MediaKind::Audio,
        MediaKind::Video => str0m::media::MediaKind::Video,
    };
    let direction = if m.send_only {
        Direction::SendOnly
    } else {
        Direction::SendRecv
    };
    api.add_media(kind, direction, None, None, None);
}
