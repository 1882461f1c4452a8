//! Simulcast layer choice for one outgoing stream fed by a simulcast publisher: which of the
//! publisher's encodings (rids) the receiver gets. A switch waits for a key frame of the new
//! layer (a receiver cannot decode a delta frame of another encoding); a layer that stops
//! sending (the sender lost bandwidth, or the camera window was hidden) is left for the best
//! lower one after `fallback`, and the wanted layer is taken back when it returns.
//!
//! Within the chosen layer a VP8 sender may code temporal layers (TID in the payload
//! descriptor, RFC 7741 §4.2): the receiver asks for the frame rate it wants (`temporal`,
//! 0 the lowest), and the frames of the layers above are left out. The cap goes down at the
//! start of any frame and up only where the RFC allows a receiver to join a higher layer:
//! at a base-layer frame or a layer sync (Y) frame.

use std::time::{Duration, Instant};

use str0m::media::Rid;

/// Simulcast by SSRC group (RFC 5576 `a=ssrc-group:SIM`, the layers lowest quality first,
/// as SDP-munged Chrome simulcast and older Janus clients send it) has no rids: its layers
/// go by `sim0`, `sim1`, `sim2` after their place in the group, in the media legs and the
/// plugins alike. Janus takes at most three.
pub fn sim_layer_rid(index: usize) -> String {
    format!("sim{index}")
}

/// The layers of a `SIM` SSRC group (the value of an `a=ssrc-group` attribute), lowest
/// first; `None` for another group, a malformed one, or fewer than two SSRCs.
pub fn sim_group_ssrcs(value: &str) -> Option<Vec<u32>> {
    let mut words = value.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("SIM") {
        return None;
    }
    let ssrcs = words
        .take(3)
        .map(|w| w.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    (ssrcs.len() >= 2).then_some(ssrcs)
}

/// How long a layer may be silent before its receivers fall back (Janus: 250 ms).
pub const DEFAULT_FALLBACK: Duration = Duration::from_millis(250);

/// The codecs whose key frames we can recognise in an RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    Av1,
    /// Every packet is taken as a possible switch point.
    Other,
}

impl VideoCodec {
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "vp8" => Self::Vp8,
            "vp9" => Self::Vp9,
            "h264" => Self::H264,
            "av1" => Self::Av1,
            _ => Self::Other,
        }
    }

    /// Whether the packet starts a key frame.
    pub fn starts_keyframe(self, payload: &[u8]) -> bool {
        match self {
            Self::Vp8 => vp8_keyframe_start(payload),
            Self::Vp9 => vp9_keyframe_start(payload),
            Self::H264 => h264_keyframe(payload),
            Self::Av1 => payload.first().is_some_and(|b| b & 0x08 != 0),
            Self::Other => true,
        }
    }
}

/// What the VP8 payload descriptor (RFC 7741 §4.2) says of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Vp8Descriptor {
    /// The first packet of a frame (S=1, partition 0).
    frame_start: bool,
    /// The temporal layer (TID) and its layer-sync bit (Y: the frame depends only on
    /// base-layer frames), when the descriptor carries them (T=1).
    temporal: Option<(u8, bool)>,
    /// Where the VP8 payload begins (on a frame start, its payload header).
    payload_at: usize,
}

/// Reads the descriptor with its optional X, I (7 or 15-bit PictureID), L and T/K parts;
/// `None` if the packet ends inside it.
fn vp8_descriptor(p: &[u8]) -> Option<Vp8Descriptor> {
    let b0 = *p.first()?;
    let mut i = 1;
    let mut temporal = None;
    if b0 & 0x80 != 0 {
        let x = *p.get(1)?;
        i = 2;
        if x & 0x80 != 0 {
            i += if *p.get(i)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            let t = *p.get(i)?;
            if x & 0x20 != 0 {
                temporal = Some((t >> 6, t & 0x20 != 0));
            }
            i += 1;
        }
    }
    Some(Vp8Descriptor {
        frame_start: b0 & 0x10 != 0 && b0 & 0x07 == 0,
        temporal,
        payload_at: i,
    })
}

/// A frame start whose VP8 payload header has the inverse key-frame bit P at 0.
fn vp8_keyframe_start(p: &[u8]) -> bool {
    vp8_descriptor(p)
        .is_some_and(|d| d.frame_start && p.get(d.payload_at).is_some_and(|h| h & 0x01 == 0))
}

/// RFC 9628 §4.2: not inter-picture predicted (P=0) and the start of a frame (B=1).
fn vp9_keyframe_start(p: &[u8]) -> bool {
    p.first().is_some_and(|b| b & 0x40 == 0 && b & 0x08 != 0)
}

/// RFC 6184: an IDR slice or a sequence parameter set, alone, aggregated (STAP-A) or the
/// first fragment (FU-A).
fn h264_keyframe(p: &[u8]) -> bool {
    let key = |t: u8| t == 5 || t == 7;
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        24 => {
            let mut i = 1;
            while i + 2 < p.len() {
                let size = usize::from(u16::from_be_bytes([p[i], p[i + 1]]));
                if key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => p.get(1).is_some_and(|h| h & 0x80 != 0 && key(h & 0x1f)),
        t => key(t),
    }
}

/// The layer choice of one receiving stream.
#[derive(Debug, Clone)]
pub struct LayerChoice {
    /// The publisher's encodings, lowest quality first.
    rids: Vec<Rid>,
    codec: VideoCodec,
    /// Index into `rids` the receiver asked for.
    wanted: usize,
    /// Layer being forwarded.
    current: Option<usize>,
    /// When each layer was last seen.
    last_seen: Vec<Option<Instant>>,
    fallback: Duration,
    /// A key frame of this layer is needed (and was not asked for yet).
    keyframe_wanted: Option<usize>,
    /// The last key frame asked for: which layer, when.
    asked: Option<(usize, Instant)>,
    /// When the first packet of any layer came: until `fallback` after it, a receiver that
    /// forwards nothing yet waits for the layer it wants rather than take a lower one that
    /// happened to come first.
    first_seen: Option<Instant>,
    /// The forwarded layer changed since [`Self::take_switch`] was last asked.
    switched: bool,
    /// Highest temporal layer the receiver wants (Janus's default: 2, all of them).
    temporal_wanted: u8,
    /// Highest temporal layer forwarded now; `None` until the first frame decides it.
    temporal: Option<u8>,
    /// The temporal cap changed since [`Self::take_temporal_switch`] was last asked.
    temporal_switched: bool,
}

/// The temporal layer a receiver gets unless it asks (Janus: 2, the top of three).
pub const DEFAULT_TEMPORAL: u8 = 2;

/// What a receiver asks of a simulcast source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerWant {
    /// Index into the source's layers, lowest quality first.
    pub substream: usize,
    /// Highest temporal layer.
    pub temporal: u8,
    /// Silence after which a layer is left for a lower one.
    pub fallback: Duration,
}

/// A change in what one receiving stream gets, told to its plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSwitch {
    /// Now forwarding this simulcast layer (rid).
    Substream(String),
    /// Now forwarding temporal layers up to this one.
    Temporal(u8),
    /// VP9 SVC: now forwarding spatial layers up to this one.
    Spatial(u8),
    /// VP9 SVC: now forwarding temporal layers up to this one.
    SvcTemporal(u8),
}

/// Least time between two key-frame requests for the same layer (simulcast or SVC).
pub(crate) const ASK_AGAIN_AFTER: Duration = Duration::from_millis(500);

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Drop,
    /// Dropped from the forwarded stream itself (a temporal layer above the cap): the
    /// renumbering closes the gap so that the receiver sees no loss.
    Skip,
}

impl LayerChoice {
    pub fn new(rids: Vec<Rid>, codec: VideoCodec, want: LayerWant) -> Self {
        let n = rids.len();
        Self {
            rids,
            codec,
            wanted: want.substream.min(n.saturating_sub(1)),
            current: None,
            last_seen: vec![None; n],
            fallback: want.fallback,
            keyframe_wanted: None,
            asked: None,
            first_seen: None,
            switched: false,
            temporal_wanted: want.temporal,
            temporal: None,
            temporal_switched: false,
        }
    }

    pub fn rids(&self) -> &[Rid] {
        &self.rids
    }

    /// The layer now forwarded, if it changed since the last call.
    pub fn take_switch(&mut self) -> Option<Rid> {
        if !std::mem::take(&mut self.switched) {
            return None;
        }
        self.current.map(|i| self.rids[i])
    }

    /// The receiver wants another layer (`configure` substream).
    pub fn want(&mut self, substream: usize) {
        self.wanted = substream.min(self.rids.len().saturating_sub(1));
    }

    /// The receiver wants temporal layers up to `layer` (`configure` temporal).
    pub fn want_temporal(&mut self, layer: u8) {
        self.temporal_wanted = layer;
    }

    /// Applies all of a receiver's wishes.
    pub fn want_all(&mut self, want: LayerWant) {
        self.want(want.substream);
        self.want_temporal(want.temporal);
        self.fallback = want.fallback;
    }

    /// The temporal cap, if it changed since the last call.
    pub fn take_temporal_switch(&mut self) -> Option<u8> {
        if !std::mem::take(&mut self.temporal_switched) {
            return None;
        }
        self.temporal
    }

    /// Whether a packet of the forwarded layer is within the temporal cap; moves the cap
    /// toward the wanted one at frame starts where the decoder can follow.
    fn temporal_verdict(&mut self, payload: &[u8]) -> Verdict {
        if self.codec != VideoCodec::Vp8 {
            return Verdict::Forward;
        }
        let Some((d, (tid, sync))) =
            vp8_descriptor(payload).and_then(|d| d.temporal.map(|t| (d, t)))
        else {
            return Verdict::Forward;
        };
        let want = self.temporal_wanted;
        if d.frame_start {
            let move_to = match self.temporal {
                None => true,
                Some(cap) if want < cap => true,
                Some(cap) if want > cap => tid <= want && (tid == 0 || sync),
                Some(_) => false,
            };
            if move_to {
                self.temporal = Some(want);
                self.temporal_switched = true;
            }
        }
        match self.temporal {
            Some(cap) if tid > cap => Verdict::Skip,
            _ => Verdict::Forward,
        }
    }

    #[cfg(test)]
    pub fn current_rid(&self) -> Option<Rid> {
        self.current.map(|i| self.rids[i])
    }

    /// A key frame the shard should ask the publisher for (once per need).
    pub fn take_keyframe_request(&mut self) -> Option<Rid> {
        self.keyframe_wanted.take().map(|i| self.rids[i])
    }

    /// The best layer at or below the wanted one that is sending.
    fn target(&self, now: Instant) -> Option<usize> {
        let settled = self.current.is_some()
            || self
                .first_seen
                .is_some_and(|t| now.saturating_duration_since(t) >= self.fallback);
        (0..=self.wanted).rev().find(|&i| {
            let sending =
                self.last_seen[i].is_some_and(|t| now.saturating_duration_since(t) < self.fallback);
            sending && (settled || i == self.wanted)
        })
    }

    /// A packet of layer `rid` (None: a stream without rid) arrived at `now`.
    pub fn on_packet(&mut self, rid: Option<Rid>, payload: &[u8], now: Instant) -> Verdict {
        match self.layer_verdict(rid, payload, now) {
            Verdict::Forward => self.temporal_verdict(payload),
            other => other,
        }
    }

    fn layer_verdict(&mut self, rid: Option<Rid>, payload: &[u8], now: Instant) -> Verdict {
        let Some(layer) = rid.and_then(|r| self.rids.iter().position(|x| *x == r)) else {
            return Verdict::Drop;
        };
        self.last_seen[layer] = Some(now);
        self.first_seen.get_or_insert(now);
        let target = self.target(now);
        if self.current == Some(layer) && target == Some(layer) {
            return Verdict::Forward;
        }
        if target == Some(layer) {
            // Switch here only on a key frame of the new layer.
            if self.codec.starts_keyframe(payload) {
                self.current = Some(layer);
                self.switched = true;
                return Verdict::Forward;
            }
            let recently = self.asked.is_some_and(|(l, at)| {
                l == layer && now.saturating_duration_since(at) < ASK_AGAIN_AFTER
            });
            if !recently {
                self.asked = Some((layer, now));
                self.keyframe_wanted = Some(layer);
            }
            // Until then the old layer keeps flowing, if it still does.
            return Verdict::Drop;
        }
        if self.current == Some(layer) {
            // Not the target any more, but nothing replaced it yet: keep the picture going.
            return Verdict::Forward;
        }
        Verdict::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VP8_KEY: [u8; 4] = [0x10, 0x00, 0x9d, 0x01];
    const VP8_DELTA: [u8; 4] = [0x10, 0x01, 0x9d, 0x01];
    const VP8_MIDDLE: [u8; 4] = [0x00, 0x00, 0x00, 0x00];

    /// Janus's defaults but for the substream.
    fn want(substream: usize) -> LayerWant {
        LayerWant {
            substream,
            temporal: DEFAULT_TEMPORAL,
            fallback: DEFAULT_FALLBACK,
        }
    }

    fn rids() -> Vec<Rid> {
        vec![Rid::from("l"), Rid::from("m"), Rid::from("h")]
    }

    #[test]
    fn without_the_wanted_layer_a_lower_one_is_taken_after_the_fallback_time() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let l = Rid::from("l");
        let mut c = LayerChoice::new(rids(), VideoCodec::Vp8, want(2));
        assert_eq!(c.on_packet(Some(l), &VP8_KEY, ms(0)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(l), &VP8_KEY, ms(249)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(l), &VP8_DELTA, ms(250)), Verdict::Drop);
        assert_eq!(c.take_keyframe_request(), Some(l));
        assert_eq!(c.on_packet(Some(l), &VP8_KEY, ms(260)), Verdict::Forward);
    }

    #[test]
    fn keyframes_are_recognised_per_codec() {
        assert!(VideoCodec::Vp8.starts_keyframe(&VP8_KEY));
        assert!(!VideoCodec::Vp8.starts_keyframe(&VP8_DELTA));
        assert!(!VideoCodec::Vp8.starts_keyframe(&VP8_MIDDLE));
        // Extended descriptor: X, I with a 15-bit picture id, then the payload header.
        assert!(VideoCodec::Vp8.starts_keyframe(&[0x90, 0x80, 0x81, 0x02, 0x00]));
        assert!(!VideoCodec::Vp8.starts_keyframe(&[0x90, 0x80, 0x81, 0x02, 0x01]));
        assert!(VideoCodec::H264.starts_keyframe(&[0x65]));
        assert!(!VideoCodec::H264.starts_keyframe(&[0x41]));
        assert!(
            VideoCodec::H264.starts_keyframe(&[0x7c, 0x85]),
            "FU-A start of an IDR"
        );
        assert!(
            VideoCodec::H264.starts_keyframe(&[0x78, 0x00, 0x02, 0x67, 0x42]),
            "STAP-A with SPS"
        );
        assert!(
            !VideoCodec::H264.starts_keyframe(&[0x78, 0x00]),
            "truncated STAP-A"
        );
        assert!(VideoCodec::Vp9.starts_keyframe(&[0x08]));
        assert!(!VideoCodec::Vp9.starts_keyframe(&[0x48]));
        assert!(!VideoCodec::Vp8.starts_keyframe(&[]));
    }

    #[test]
    fn switches_on_a_key_frame_and_falls_back_when_a_layer_stops() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let (l, m, h) = (Rid::from("l"), Rid::from("m"), Rid::from("h"));
        let mut c = LayerChoice::new(rids(), VideoCodec::Vp8, want(2));
        // A lower layer that comes first is not taken while the wanted one may still come.
        assert_eq!(c.on_packet(Some(l), &VP8_KEY, ms(0)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(1)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(l), &VP8_DELTA, ms(1)), Verdict::Drop);
        assert_eq!(c.take_keyframe_request(), Some(h));
        assert_eq!(c.take_keyframe_request(), None, "asked once");
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(2)), Verdict::Drop);
        assert_eq!(c.take_keyframe_request(), None, "not again so soon");
        assert_eq!(c.on_packet(Some(h), &VP8_KEY, ms(2)), Verdict::Forward);
        assert_eq!(c.take_switch(), Some(h));
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(3)), Verdict::Forward);
        assert_eq!(c.take_switch(), None, "reported once");
        assert_eq!(c.on_packet(Some(m), &VP8_KEY, ms(4)), Verdict::Drop);
        // The receiver asks for the low layer: high flows until low has a key frame.
        c.want(0);
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(5)), Verdict::Forward);
        assert_eq!(c.on_packet(Some(l), &VP8_DELTA, ms(6)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(7)), Verdict::Forward);
        assert_eq!(c.on_packet(Some(l), &VP8_KEY, ms(8)), Verdict::Forward);
        assert_eq!(c.on_packet(Some(h), &VP8_KEY, ms(9)), Verdict::Drop);
        assert_eq!(c.current_rid(), Some(l));
        // Back to high; then high stops: after 250 ms medium takes over at its key frame.
        c.want(2);
        assert_eq!(c.on_packet(Some(h), &VP8_KEY, ms(10)), Verdict::Forward);
        assert_eq!(c.on_packet(Some(m), &VP8_DELTA, ms(100)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(m), &VP8_KEY, ms(300)), Verdict::Forward);
        assert_eq!(c.current_rid(), Some(m));
        // High comes back: taken at its next key frame.
        assert_eq!(c.on_packet(Some(h), &VP8_DELTA, ms(400)), Verdict::Drop);
        assert_eq!(c.on_packet(Some(m), &VP8_DELTA, ms(401)), Verdict::Forward);
        assert_eq!(c.on_packet(Some(h), &VP8_KEY, ms(402)), Verdict::Forward);
        assert_eq!(
            c.on_packet(None, &VP8_KEY, ms(403)),
            Verdict::Drop,
            "unknown layer"
        );
    }

    /// A VP8 packet with a temporal layer: the descriptor (X, S on a frame start, T), the
    /// TID byte and the payload header's key-frame bit.
    fn vp8_tl(start: bool, tid: u8, sync: bool, key: bool) -> [u8; 4] {
        [
            if start { 0x90 } else { 0x80 },
            0x20,
            tid << 6 | u8::from(sync) << 5,
            u8::from(!key),
        ]
    }

    #[test]
    fn temporal_layers_above_the_cap_are_skipped_and_the_cap_rises_only_at_a_base_or_sync_frame() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let l = Some(Rid::from("l"));
        let mut c = LayerChoice::new(vec![Rid::from("l")], VideoCodec::Vp8, want(0));
        assert_eq!(
            vp8_descriptor(&vp8_tl(true, 2, true, false)),
            Some(Vp8Descriptor {
                frame_start: true,
                temporal: Some((2, true)),
                payload_at: 3
            })
        );
        assert_eq!(vp8_descriptor(&VP8_KEY).unwrap().temporal, None, "no T bit");
        assert_eq!(vp8_descriptor(&[0x90, 0x20]), None, "truncated");
        assert!(VideoCodec::Vp8.starts_keyframe(&vp8_tl(true, 0, false, true)));
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 0, false, true), ms(0)),
            Verdict::Forward
        );
        assert_eq!(c.take_temporal_switch(), Some(DEFAULT_TEMPORAL));
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 2, false, false), ms(1)),
            Verdict::Forward
        );
        c.want_temporal(0);
        // The frame under way is finished; the cap drops at the next frame.
        assert_eq!(
            c.on_packet(l, &vp8_tl(false, 2, false, false), ms(2)),
            Verdict::Forward
        );
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 1, true, false), ms(3)),
            Verdict::Skip
        );
        assert_eq!(
            c.on_packet(l, &vp8_tl(false, 1, true, false), ms(3)),
            Verdict::Skip
        );
        assert_eq!(c.take_temporal_switch(), Some(0));
        assert_eq!(c.take_temporal_switch(), None, "told once");
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 0, false, false), ms(4)),
            Verdict::Forward
        );
        c.want_temporal(2);
        // Layer 2 and a non-sync layer 1 frame depend on frames that were left out.
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 2, false, false), ms(5)),
            Verdict::Skip
        );
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 1, false, false), ms(6)),
            Verdict::Skip
        );
        assert_eq!(c.take_temporal_switch(), None);
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 1, true, false), ms(7)),
            Verdict::Forward
        );
        assert_eq!(c.take_temporal_switch(), Some(2));
        assert_eq!(
            c.on_packet(l, &vp8_tl(true, 2, false, false), ms(8)),
            Verdict::Forward
        );
        // Other codecs and descriptors without a TID are never skipped.
        let mut h = LayerChoice::new(vec![Rid::from("l")], VideoCodec::H264, want(0));
        h.want_temporal(0);
        assert_eq!(h.on_packet(l, &[0x65], ms(0)), Verdict::Forward);
        assert_eq!(
            h.on_packet(l, &vp8_tl(true, 2, false, false), ms(1)),
            Verdict::Forward
        );
    }
}
