//! The browser's offer as the room accepts it: its first audio m-line with the
//! participant's codec only; every other m-line (video, data, more audio) is rejected.

use cardea_sip::sdp::SessionDescription;

use super::error::AbError;
use crate::MixCodec;

/// The URI of the RTP header extension that carries audio levels (RFC 6464).
const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// What is left of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restricted {
    pub sdp: String,
    /// The codec's payload type in the offer.
    pub pt: u8,
    /// The offer carries audio levels (talking can be detected).
    pub level_ext: bool,
}

fn encoding(codec: MixCodec) -> &'static str {
    match codec {
        MixCodec::Opus => "opus",
        MixCodec::Pcmu => "PCMU",
        MixCodec::Pcma => "PCMA",
    }
}

/// Restricts `offer` to one audio stream in `codec`.
pub fn restrict_offer(offer: &str, codec: MixCodec) -> Result<Restricted, AbError> {
    let mut sdp = SessionDescription::parse(offer.as_bytes())
        .map_err(|e| AbError::InvalidSdp(format!("Error parsing offer: {e}")))?;
    let mut chosen: Option<(u8, bool)> = None;
    for m in sdp.media_mut().iter_mut() {
        if chosen.is_some() || m.media() != "audio" || m.is_rejected() {
            if !m.is_rejected() {
                m.set_port(0);
            }
            continue;
        }
        let codecs = m
            .codecs()
            .map_err(|e| AbError::InvalidSdp(format!("Error parsing offer: {e}")))?;
        let wanted = encoding(codec);
        let Some(c) = codecs
            .iter()
            .find(|c| c.encoding.eq_ignore_ascii_case(wanted))
        else {
            m.set_port(0);
            continue;
        };
        let pt = c.pt;
        m.retain_formats(&[pt]);
        let level_ext = m
            .attributes()
            .any(|a| a.name == "extmap" && a.value.is_some_and(|v| v.contains(AUDIO_LEVEL)));
        chosen = Some((pt, level_ext));
    }
    let Some((pt, level_ext)) = chosen else {
        return Err(AbError::InvalidSdp(format!(
            "The offer has no audio stream in {}",
            codec.name()
        )));
    };
    Ok(Restricted {
        sdp: sdp.to_text(),
        pt,
        level_ext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=rtpmap:109 opus/48000/2\r\n\
a=fmtp:109 minptime=10;useinbandfec=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn keeps_the_codec_of_the_first_audio_line_and_rejects_the_rest() {
        let r = restrict_offer(OFFER, MixCodec::Opus).unwrap();
        assert_eq!(r.pt, 109);
        assert!(r.level_ext);
        assert!(r.sdp.contains("m=audio 9 UDP/TLS/RTP/SAVPF 109\r\n"));
        assert!(r.sdp.contains("m=video 0 "));
        let r = restrict_offer(OFFER, MixCodec::Pcma).unwrap();
        assert_eq!(r.pt, 8);
        assert!(r.sdp.contains("m=audio 9 UDP/TLS/RTP/SAVPF 8\r\n"));
    }

    #[test]
    fn an_offer_without_the_codec_or_audio_is_refused() {
        let video_only = OFFER.replace("m=audio", "m=text");
        assert_eq!(
            restrict_offer(&video_only, MixCodec::Opus)
                .unwrap_err()
                .code(),
            493
        );
        let no_opus = OFFER.replace("opus/48000/2", "iLBC/8000");
        assert_eq!(
            restrict_offer(&no_opus, MixCodec::Opus).unwrap_err().code(),
            493
        );
        assert_eq!(
            restrict_offer("junk", MixCodec::Opus).unwrap_err().code(),
            493
        );
    }
}
