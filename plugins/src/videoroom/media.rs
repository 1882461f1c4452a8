//! The SDP side of the room: which codec each of a publisher's m-lines carries (the room's
//! preference among what the browser offers: one codec per stream, as Janus answers, so
//! every subscriber can be offered exactly that codec under the same payload type and
//! packets cross without being touched), and the offer made to a subscriber.

use cardea_sip::sdp::{Codec, Direction, SessionDescription};
use serde_json::{json, Value};

use super::error::VrError;
use crate::codecs::canonical;
use crate::{MediaKind, OfferCodec, OfferMedia};

/// One m-line of a publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubStream {
    pub mindex: usize,
    pub mid: String,
    /// `None`: a data channel.
    pub kind: Option<MediaKind>,
    /// The codec the room settled on; `None` when the stream carries nothing we forward.
    pub codec: Option<OfferCodec>,
    pub description: Option<String>,
    /// Simulcast layers (rids) the publisher sends, lowest quality first; empty without
    /// simulcast.
    pub rids: Vec<String>,
    /// The playout delay the publisher's `configure` asked its subscribers' video to carry
    /// (`min_delay`, `max_delay` in 10 ms units, -1 unset, as Janus keeps them).
    pub playout: (i16, i16),
}

impl PubStream {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Some(MediaKind::Audio) => "audio",
            Some(MediaKind::Video) => "video",
            None => "data",
        }
    }

    /// The feed's data channel (no audio or video kind).
    pub fn is_data(&self) -> bool {
        self.kind.is_none()
    }

    pub fn disabled(&self) -> bool {
        self.kind.is_some() && self.codec.is_none()
    }

    pub fn codec_name(&self) -> Option<String> {
        self.codec.as_ref().map(|c| c.name.to_ascii_lowercase())
    }

    /// The stream as `publishers` and `configured` list it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "type": self.type_name(),
            "mindex": self.mindex,
            "mid": self.mid,
        });
        if self.disabled() {
            v["disabled"] = true.into();
        }
        if let Some(codec) = self.codec_name() {
            v["codec"] = codec.into();
        }
        if let Some(d) = &self.description {
            v["description"] = d.clone().into();
        }
        if !self.rids.is_empty() {
            v["simulcast"] = true.into();
        }
        v
    }

    /// The m-line offered to a subscriber of this stream: only we send, the codec under
    /// Cardea's own payload type for it (see [`canonical`](crate::codecs::canonical)).
    pub fn offer_media(&self) -> Option<OfferMedia> {
        Some(OfferMedia {
            kind: self.kind?,
            codecs: vec![canonical(&self.codec_name()?)?],
            send_only: true,
        })
    }
}

/// Every codec a room allows, so that a subscriber's PeerConnection can later take any
/// feed of the room (a leg's codec set is fixed when it is built).
pub fn room_codecs(audio: &[String], video: &[String]) -> Vec<OfferMedia> {
    [(MediaKind::Audio, audio), (MediaKind::Video, video)]
        .into_iter()
        .map(|(kind, names)| OfferMedia {
            kind,
            codecs: names.iter().filter_map(|n| canonical(n)).collect(),
            send_only: true,
        })
        .filter(|m| !m.codecs.is_empty())
        .collect()
}

/// The room's first preferred codec that the m-line offers (for H.264, packetization mode
/// 1 first, as browsers need).
fn choose<'a>(codecs: &'a [Codec], preferred: &[String]) -> Option<&'a Codec> {
    preferred.iter().find_map(|name| {
        let mut matching = codecs
            .iter()
            .filter(|c| c.encoding.eq_ignore_ascii_case(name));
        if name == "h264" {
            let all: Vec<&Codec> = matching.collect();
            all.iter()
                .find(|c| {
                    c.fmtp
                        .as_deref()
                        .is_some_and(|f| f.contains("packetization-mode=1"))
                })
                .or(all.first())
                .copied()
        } else {
            matching.next()
        }
    })
}

/// The retransmission payload types (`rtx` with `apt=<pt>`) that go with `pt`.
fn rtx_of(codecs: &[Codec], pt: u8) -> impl Iterator<Item = u8> + '_ {
    let apt = format!("apt={pt}");
    codecs
        .iter()
        .filter(move |c| {
            c.encoding.eq_ignore_ascii_case("rtx")
                && c.fmtp
                    .as_deref()
                    .is_some_and(|f| f.split(';').any(|p| p.trim() == apt))
        })
        .map(|c| c.pt)
}

/// The simulcast layers of an m-line (`a=simulcast:send` with its `a=rid` names), lowest
/// quality first. Names tell the order when they are the usual ones (l/m/h as janus.js
/// sends, q/h/f as other SDKs do); otherwise the list is taken as highest first, the order
/// browsers' encodings are usually given in. Without `a=simulcast`, an SSRC group
/// `a=ssrc-group:SIM` (lowest first) gives the layers, named as the media legs name them.
fn simulcast_rids(m: &cardea_sip::sdp::MediaSection) -> Vec<String> {
    let Some(value) = m.attribute("simulcast").and_then(|a| a.value) else {
        let sim = m
            .attributes()
            .filter(|a| a.name.eq_ignore_ascii_case("ssrc-group"))
            .find_map(|a| cardea_media::sim_group_ssrcs(a.value.unwrap_or_default()));
        return sim.map_or_else(Vec::new, |ssrcs| {
            (0..ssrcs.len()).map(cardea_media::sim_layer_rid).collect()
        });
    };
    let mut words = value.split_whitespace();
    let mut listed: Vec<String> = Vec::new();
    while let Some(dir) = words.next() {
        let Some(list) = words.next() else { break };
        if dir == "send" {
            listed = list
                .split(';')
                .filter_map(|alt| alt.split(',').next())
                .map(|r| r.trim_start_matches('~').to_owned())
                .filter(|r| !r.is_empty())
                .collect();
        }
    }
    let rank = |order: &[&str]| -> Option<Vec<String>> {
        let mut ranked: Vec<(usize, String)> = Vec::new();
        for r in &listed {
            ranked.push((order.iter().position(|o| o == r)?, r.clone()));
        }
        ranked.sort();
        Some(ranked.into_iter().map(|(_, r)| r).collect())
    };
    let has = |name: &str| listed.iter().any(|r| r == name);
    let known = if has("q") || has("f") {
        rank(&["q", "h", "f"])
    } else {
        rank(&["l", "m", "h"])
    };
    known.unwrap_or_else(|| listed.iter().rev().cloned().collect())
}

/// A publisher's offer restricted to one codec per stream (plus its retransmission type),
/// and the streams it publishes. `audio`/`video` are the codec preferences, best first.
pub fn restrict_publisher_offer(
    offer: &str,
    audio: &[String],
    video: &[String],
) -> Result<(String, Vec<PubStream>), VrError> {
    let mut sdp = SessionDescription::parse(offer.as_bytes())
        .map_err(|e| VrError::InvalidSdp(e.to_string()))?;
    let mut streams = Vec::new();
    for (mindex, m) in sdp.media_mut().iter_mut().enumerate() {
        let mid = m
            .attribute("mid")
            .and_then(|a| a.value)
            .map_or_else(|| mindex.to_string(), str::to_owned);
        let kind = match m.media() {
            "audio" => Some(MediaKind::Audio),
            "video" => Some(MediaKind::Video),
            "application" => None,
            _ => {
                m.set_port(0);
                continue;
            }
        };
        let Some(kind) = kind else {
            if !m.is_rejected() {
                streams.push(PubStream {
                    mindex,
                    mid,
                    kind: None,
                    codec: None,
                    description: None,
                    rids: Vec::new(),
                    playout: (-1, -1),
                });
            }
            continue;
        };
        let codecs = m.codecs().map_err(|e| VrError::InvalidSdp(e.to_string()))?;
        let preferred = match kind {
            MediaKind::Audio => audio,
            MediaKind::Video => video,
        };
        let sends = m.direction().is_none_or(Direction::sends);
        let chosen = (!m.is_rejected() && sends)
            .then(|| choose(&codecs, preferred))
            .flatten();
        let codec = match chosen {
            Some(c) => {
                let rtx = rtx_of(&codecs, c.pt).next();
                let mut keep = vec![c.pt];
                keep.extend(rtx);
                m.retain_formats(&keep);
                Some(OfferCodec {
                    pt: c.pt,
                    name: c.encoding.clone(),
                    clock_rate: c.clock_rate,
                    channels: c.channels,
                    fmtp: c.fmtp.clone(),
                    // Subscribers get the same retransmission type, so they can NACK.
                    rtx,
                })
            }
            None => {
                if !m.is_rejected() {
                    m.set_port(0);
                }
                None
            }
        };
        let rids = if codec.is_some() && kind == MediaKind::Video {
            simulcast_rids(m)
        } else {
            Vec::new()
        };
        streams.push(PubStream {
            mindex,
            mid,
            kind: Some(kind),
            codec,
            description: None,
            rids,
            playout: (-1, -1),
        });
    }
    if !streams
        .iter()
        .any(|s| s.codec.is_some() || s.kind.is_none())
    {
        return Err(VrError::InvalidSdp(
            "no stream of the offer carries a codec the room allows".into(),
        ));
    }
    Ok((sdp.to_text(), streams))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0\r\na=rtpmap:103 H264/90000\r\na=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n";

    fn prefs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_codec_per_stream_with_its_rtx_and_simulcast_layers() {
        let (sdp, streams) =
            restrict_publisher_offer(CHROME_OFFER, &prefs(&["opus"]), &prefs(&["vp8"])).unwrap();
        assert!(sdp.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert!(sdp.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"));
        assert!(!sdp.contains("H264") && !sdp.contains("G722"));
        assert!(sdp.contains("a=simulcast:send h;l"));
        assert_eq!(streams[1].rids, vec!["l", "h"]);
        assert_eq!(streams[1].to_json()["simulcast"], true);
        assert_eq!(streams[1].codec.as_ref().unwrap().rtx, Some(97));
        assert!(sdp.contains("a=fmtp:111 minptime=10;useinbandfec=1"));
        assert_eq!(streams.len(), 3);
        assert_eq!(streams[0].codec_name().as_deref(), Some("opus"));
        assert_eq!(streams[1].codec.as_ref().unwrap().pt, 96);
        assert_eq!(streams[2].type_name(), "data");
        let offered = streams[1].offer_media().unwrap();
        assert!(offered.send_only);
        assert_eq!(offered.codecs[0].name, "VP8");
        assert_eq!(
            (offered.codecs[0].pt, offered.codecs[0].rtx),
            (96, Some(97))
        );
        let all = room_codecs(&prefs(&["opus", "pcmu"]), &prefs(&["h264"]));
        assert_eq!(all[0].codecs.len(), 2);
        assert_eq!(all[1].codecs[0].pt, 102);
    }

    #[test]
    fn simulcast_layers_are_ordered_lowest_first() {
        let offer = |line: &str| CHROME_OFFER.replace("a=simulcast:send h;l", line);
        let rids = |line: &str| {
            restrict_publisher_offer(&offer(line), &prefs(&["opus"]), &prefs(&["vp8"]))
                .unwrap()
                .1[1]
                .rids
                .clone()
        };
        assert_eq!(rids("a=simulcast:send h;m;l"), vec!["l", "m", "h"]);
        assert_eq!(rids("a=simulcast:send q;h;f"), vec!["q", "h", "f"]);
        assert_eq!(rids("a=simulcast:send 2;1;~0"), vec!["0", "1", "2"]);
        assert_eq!(rids("a=simulcast:recv x send a,b;c"), vec!["c", "a"]);
        // Simulcast by SSRC group: the group's order, named as the media legs name it.
        let sim = "a=ssrc-group:FID 11 12\r\na=ssrc-group:SIM 11 21 31\r\na=ssrc:11 cname:x";
        let no_rids = |sdp: String| sdp.replace("a=rid:h send\r\na=rid:l send\r\n", "");
        let (_, streams) =
            restrict_publisher_offer(&no_rids(offer(sim)), &prefs(&["opus"]), &prefs(&["vp8"]))
                .unwrap();
        assert_eq!(streams[1].rids, vec!["sim0", "sim1", "sim2"]);
        assert_eq!(streams[1].to_json()["simulcast"], true);
        // A lone FID group is no simulcast.
        let (_, streams) = restrict_publisher_offer(
            &no_rids(offer("a=ssrc-group:FID 11 12")),
            &prefs(&["opus"]),
            &prefs(&["vp8"]),
        )
        .unwrap();
        assert!(streams[1].rids.is_empty());
    }

    #[test]
    fn preferences_pick_among_offered_codecs_and_h264_mode_1_first() {
        let (_, streams) = restrict_publisher_offer(
            CHROME_OFFER,
            &prefs(&["pcma", "g722"]),
            &prefs(&["av1", "h264"]),
        )
        .unwrap();
        assert_eq!(streams[0].codec_name().as_deref(), Some("g722"));
        assert_eq!(streams[1].codec.as_ref().unwrap().pt, 103);
    }

    #[test]
    fn a_stream_without_an_allowed_codec_is_rejected_and_none_at_all_is_an_error() {
        let (sdp, streams) =
            restrict_publisher_offer(CHROME_OFFER, &prefs(&["opus"]), &prefs(&["av1"])).unwrap();
        assert!(sdp.contains("m=video 0 "));
        assert!(streams[1].disabled());
        assert_eq!(streams[1].to_json()["disabled"], true);
        let audio_only = CHROME_OFFER.split("m=video").next().unwrap();
        let e =
            restrict_publisher_offer(audio_only, &prefs(&["pcma"]), &prefs(&["vp8"])).unwrap_err();
        assert_eq!(e.code(), 437);
        assert_eq!(
            restrict_publisher_offer("garbage", &[], &[])
                .unwrap_err()
                .code(),
            437
        );
    }
}
