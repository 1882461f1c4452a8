//! Simulcast layer choice for one outgoing stream fed by a simulcast publisher: which of the
//! publisher's encodings (rids) the receiver gets. A switch waits for a key frame of the new
//! layer (a receiver cannot decode a delta frame of another encoding); a layer that stops
//! sending (the sender lost bandwidth, or the camera window was hidden) is left for the best
//! lower one after `fallback`, and the wanted layer is taken back when it returns.

use std::time::{Duration, Instant};

use str0m::media::Rid;

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

/// RFC 7741 §4.2: the descriptor, then on a partition start (S=1, PID=0) the VP8 payload
/// header, whose inverse key-frame bit P is 0 on key frames.
fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    if b0 & 0x10 == 0 || b0 & 0x07 != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        i = 2;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1;
        }
        if x & 0x30 != 0 {
            i += 1;
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
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
}

/// Least time between two key-frame requests for the same layer.
const ASK_AGAIN_AFTER: Duration = Duration::from_millis(500);

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    Drop,
}

impl LayerChoice {
    pub fn new(rids: Vec<Rid>, codec: VideoCodec, substream: usize, fallback: Duration) -> Self {
        let n = rids.len();
        Self {
            rids,
            codec,
            wanted: substream.min(n.saturating_sub(1)),
            current: None,
            last_seen: vec![None; n],
            fallback,
            keyframe_wanted: None,
            asked: None,
            first_seen: None,
            switched: false,
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

    fn rids() -> Vec<Rid> {
        vec![Rid::from("l"), Rid::from("m"), Rid::from("h")]
    }

    #[test]
    fn without_the_wanted_layer_a_lower_one_is_taken_after_the_fallback_time() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let l = Rid::from("l");
        let mut c = LayerChoice::new(rids(), VideoCodec::Vp8, 2, DEFAULT_FALLBACK);
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
        let mut c = LayerChoice::new(rids(), VideoCodec::Vp8, 2, DEFAULT_FALLBACK);
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
}
