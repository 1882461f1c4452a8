//! VP9 SVC layer choice for one outgoing stream (Janus's `spatial_layer`/`temporal_layer`):
//! a VP9 sender coding several spatial and temporal layers in one RTP stream marks each
//! packet with its layer indices (RFC 9628 §4.2, the L bit). A receiver asking for fewer
//! layers gets the packets of the others left out, the sequence numbers closed up behind
//! them, and the RTP marker set where its picture now ends (the end of the highest spatial
//! layer it receives, since the marker of the full picture is on a layer it does not get).
//!
//! A higher spatial layer is taken at a key frame (it predicts from the lower layers of its
//! own picture and from its own earlier pictures, which the receiver lacks); a lower one at
//! the start of any picture. Temporal layers go down at a picture start and up at a picture
//! that is a switching-up point (U bit) or on the base layer.

use std::time::{Duration, Instant};

use crate::layers::ASK_AGAIN_AFTER;

/// What the payload descriptor says of one VP9 packet's place in the layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp9Layer {
    pub spatial: u8,
    pub temporal: u8,
    /// Switching-up point: later frames of this temporal layer reference none before it of
    /// the same or higher layer.
    pub switch_up: bool,
    /// The first packet of a layer frame.
    pub begins: bool,
    /// The last packet of a layer frame.
    pub ends: bool,
    /// Not predicted from an earlier picture (P=0).
    pub intra: bool,
}

impl Vp9Layer {
    /// The layer indices of a VP9 payload, when its descriptor carries them (L=1).
    pub(crate) fn parse(p: &[u8]) -> Option<Self> {
        let b0 = *p.first()?;
        if b0 & 0x20 == 0 {
            return None;
        }
        let mut i = 1;
        if b0 & 0x80 != 0 {
            i += if p.get(1)? & 0x80 != 0 { 2 } else { 1 };
        }
        let l = *p.get(i)?;
        Some(Self {
            spatial: (l >> 1) & 0x07,
            temporal: l >> 5,
            switch_up: l & 0x10 != 0,
            begins: b0 & 0x08 != 0,
            ends: b0 & 0x04 != 0,
            intra: b0 & 0x40 == 0,
        })
    }

    /// The first packet of a picture's base layer.
    fn picture_start(&self) -> bool {
        self.begins && self.spatial == 0
    }

    /// The start of a key picture.
    fn keyframe(&self) -> bool {
        self.picture_start() && self.intra
    }
}

/// The spatial and temporal layers a receiver wants (Janus's defaults: 2 and 2, all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvcWant {
    pub spatial: u8,
    pub temporal: u8,
    /// Silence after which a spatial layer is taken to have stopped.
    pub fallback: Duration,
}

/// What one packet gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SvcVerdict {
    /// Forward it; `end` sets the marker (the last packet the receiver gets of a picture).
    Forward { end: bool },
    /// Leave it out of the stream (the numbering closes the gap).
    Skip,
}

/// The SVC layer choice of one receiving stream.
#[derive(Debug, Clone)]
pub(crate) struct SvcChoice {
    want: SvcWant,
    spatial: Option<u8>,
    temporal: Option<u8>,
    last_seen: [Option<Instant>; 8],
    /// The first packet: until `fallback` after it, a layer not seen yet may still come
    /// (the layers of a picture arrive lowest first).
    first_seen: Option<Instant>,
    /// A key frame should be asked of the sender (to go up a spatial layer).
    keyframe_wanted: bool,
    asked_at: Option<Instant>,
    spatial_switched: bool,
    temporal_switched: bool,
}

impl SvcChoice {
    pub(crate) fn new(want: SvcWant) -> Self {
        Self {
            want,
            spatial: None,
            temporal: None,
            last_seen: [None; 8],
            first_seen: None,
            keyframe_wanted: false,
            asked_at: None,
            spatial_switched: false,
            temporal_switched: false,
        }
    }

    pub(crate) fn set_want(&mut self, want: SvcWant) {
        self.want = want;
    }

    /// The spatial layer forwarded, if it changed since the last call.
    pub(crate) fn take_spatial_switch(&mut self) -> Option<u8> {
        std::mem::take(&mut self.spatial_switched)
            .then_some(self.spatial)
            .flatten()
    }

    /// The temporal cap, if it changed since the last call.
    pub(crate) fn take_temporal_switch(&mut self) -> Option<u8> {
        std::mem::take(&mut self.temporal_switched)
            .then_some(self.temporal)
            .flatten()
    }

    /// Whether a key frame should be asked for (once per need).
    pub(crate) fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted)
    }

    /// The highest spatial layer at or below the wanted one that is sending.
    fn best_sending(&self, now: Instant) -> u8 {
        (0..=self.want.spatial)
            .rev()
            .find(|&s| {
                let recent = |t: Instant| now.saturating_duration_since(t) < self.want.fallback;
                match self.last_seen[usize::from(s)] {
                    Some(t) => recent(t),
                    None => self.first_seen.is_some_and(recent),
                }
            })
            .unwrap_or(0)
    }

    pub(crate) fn on_packet(&mut self, payload: &[u8], now: Instant) -> SvcVerdict {
        let Some(l) = Vp9Layer::parse(payload) else {
            return SvcVerdict::Forward { end: false };
        };
        self.last_seen[usize::from(l.spatial)] = Some(now);
        self.first_seen.get_or_insert(now);
        if l.picture_start() {
            self.move_spatial(&l, now);
            self.move_temporal(&l);
        }
        let (Some(spatial), Some(temporal)) = (self.spatial, self.temporal) else {
            // Nothing decided before the first picture start: nothing decodable yet either.
            return SvcVerdict::Skip;
        };
        if l.spatial > spatial || l.temporal > temporal {
            return SvcVerdict::Skip;
        }
        SvcVerdict::Forward {
            end: l.ends && l.spatial == spatial,
        }
    }

    fn move_spatial(&mut self, l: &Vp9Layer, now: Instant) {
        let target = self.best_sending(now);
        let next = match self.spatial {
            None => Some(target),
            Some(s) if target < s => Some(target),
            Some(s) if target > s => {
                if l.keyframe() {
                    Some(target)
                } else {
                    let recently = self
                        .asked_at
                        .is_some_and(|t| now.saturating_duration_since(t) < ASK_AGAIN_AFTER);
                    if !recently {
                        self.asked_at = Some(now);
                        self.keyframe_wanted = true;
                    }
                    None
                }
            }
            Some(_) => None,
        };
        if let Some(n) = next {
            self.spatial = Some(n);
            self.spatial_switched = true;
        }
    }

    fn move_temporal(&mut self, l: &Vp9Layer) {
        let want = self.want.temporal;
        let next = match self.temporal {
            None => true,
            Some(t) if want < t => true,
            Some(t) if want > t => l.temporal == 0 || (l.switch_up && l.temporal <= want),
            Some(_) => false,
        };
        if next {
            self.temporal = Some(want);
            self.temporal_switched = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A VP9 packet: descriptor with I (7-bit picture id), L and the layer byte, F=0 and
    /// TL0PICIDX.
    fn vp9(spatial: u8, temporal: u8, begins: bool, ends: bool, intra: bool, up: bool) -> Vec<u8> {
        let b0 = 0x80
            | 0x20
            | if intra { 0 } else { 0x40 }
            | if begins { 0x08 } else { 0 }
            | if ends { 0x04 } else { 0 };
        let layer = temporal << 5 | u8::from(up) << 4 | spatial << 1;
        vec![b0, 0x11, layer, 0x00, 0xaa]
    }

    /// One picture of three spatial layers, one packet each.
    fn picture(c: &mut SvcChoice, temporal: u8, key: bool, at: Instant) -> Vec<SvcVerdict> {
        (0..3)
            .map(|s| c.on_packet(&vp9(s, temporal, true, true, key, temporal > 0), at))
            .collect()
    }

    const FWD: SvcVerdict = SvcVerdict::Forward { end: false };
    const END: SvcVerdict = SvcVerdict::Forward { end: true };
    const SKIP: SvcVerdict = SvcVerdict::Skip;

    #[test]
    fn layer_indices_are_read_from_the_descriptor() {
        let l = Vp9Layer::parse(&vp9(2, 1, true, false, false, true)).unwrap();
        assert_eq!((l.spatial, l.temporal, l.switch_up), (2, 1, true));
        assert!(l.begins && !l.ends && !l.intra && !l.keyframe());
        assert!(Vp9Layer::parse(&vp9(0, 0, true, true, true, false))
            .unwrap()
            .keyframe());
        // 15-bit picture id.
        let l = Vp9Layer::parse(&[0xa8, 0x81, 0x02, 0x22, 0x00]).unwrap();
        assert_eq!((l.spatial, l.temporal), (1, 1));
        assert_eq!(Vp9Layer::parse(&[0x88, 0x11]), None, "no L bit");
        assert_eq!(Vp9Layer::parse(&[0xa0, 0x81]), None, "truncated");
        assert_eq!(Vp9Layer::parse(&[]), None);
    }

    #[test]
    fn spatial_layers_drop_at_once_and_rise_at_a_key_frame_with_the_marker_moved() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let want = |spatial| SvcWant {
            spatial,
            temporal: 2,
            fallback: Duration::from_millis(250),
        };
        let mut c = SvcChoice::new(want(2));
        assert_eq!(
            c.on_packet(&vp9(1, 0, true, true, true, false), ms(0)),
            SKIP,
            "nothing before a picture start"
        );
        assert_eq!(picture(&mut c, 0, true, ms(1)), [FWD, FWD, END]);
        assert_eq!(c.take_spatial_switch(), Some(2));
        assert_eq!(c.take_temporal_switch(), Some(2));
        c.set_want(want(0));
        assert_eq!(picture(&mut c, 0, false, ms(30)), [END, SKIP, SKIP]);
        assert_eq!(c.take_spatial_switch(), Some(0));
        c.set_want(want(1));
        assert_eq!(picture(&mut c, 0, false, ms(60)), [END, SKIP, SKIP]);
        assert!(c.take_keyframe_request(), "going up needs a key frame");
        assert!(!c.take_keyframe_request());
        assert_eq!(picture(&mut c, 0, false, ms(90)), [END, SKIP, SKIP]);
        assert!(!c.take_keyframe_request(), "not asked again so soon");
        assert_eq!(picture(&mut c, 0, true, ms(120)), [FWD, END, SKIP]);
        assert_eq!(c.take_spatial_switch(), Some(1));
        // Layer 2 stops; wanting it then keeps the best that still sends.
        for n in 0..10 {
            let at = ms(150 + 30 * n);
            assert_eq!(c.on_packet(&vp9(0, 0, true, true, false, false), at), FWD);
            assert_eq!(c.on_packet(&vp9(1, 0, true, true, false, false), at), END);
        }
        c.set_want(want(2));
        assert_eq!(
            c.on_packet(&vp9(0, 0, true, true, true, false), ms(450)),
            FWD
        );
        assert_eq!(
            c.on_packet(&vp9(1, 0, true, true, true, false), ms(450)),
            END
        );
        assert_eq!(
            c.take_spatial_switch(),
            None,
            "layer 2 is silent: stays at 1"
        );
        assert!(!c.take_keyframe_request());
        // It comes back: taken at the next key frame.
        assert_eq!(picture(&mut c, 0, false, ms(480)), [FWD, END, SKIP]);
        assert_eq!(picture(&mut c, 0, true, ms(510)), [FWD, FWD, END]);
        assert_eq!(c.take_spatial_switch(), Some(2));
    }

    #[test]
    fn temporal_layers_drop_at_a_picture_start_and_rise_at_a_switching_point() {
        let t0 = Instant::now();
        let mut c = SvcChoice::new(SvcWant {
            spatial: 0,
            temporal: 0,
            fallback: Duration::from_millis(250),
        });
        let pkt = |c: &mut SvcChoice, temporal, up| {
            c.on_packet(&vp9(0, temporal, true, true, false, up), t0)
        };
        assert_eq!(pkt(&mut c, 0, false), END);
        assert_eq!(c.take_temporal_switch(), Some(0));
        assert_eq!(pkt(&mut c, 2, false), SKIP);
        assert_eq!(pkt(&mut c, 1, false), SKIP);
        c.set_want(SvcWant {
            spatial: 0,
            temporal: 2,
            fallback: Duration::from_millis(250),
        });
        assert_eq!(pkt(&mut c, 2, false), SKIP, "not a switching-up point");
        assert_eq!(pkt(&mut c, 1, true), END);
        assert_eq!(c.take_temporal_switch(), Some(2));
        assert_eq!(pkt(&mut c, 2, false), END);
        // A stream without layer indices goes through untouched.
        assert_eq!(c.on_packet(&[0x88, 0x00], t0), FWD);
    }
}
