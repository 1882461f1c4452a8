//! WebRTC⇄RTP bridges: which WebRTC leg and which plain RTP leg feed each other, and the
//! numbering the WebRTC side needs for packets that come from the SIP peer.

use std::collections::HashMap;

use crate::LegId;

/// The bridges of one shard, both ways. A leg is in one bridge at a time.
#[derive(Debug, Default)]
pub(crate) struct Bridges {
    by_webrtc: HashMap<LegId, LegId>,
    by_rtp: HashMap<LegId, LegId>,
}

impl Bridges {
    /// Bridges `webrtc` and `rtp`, ending any bridge either was in.
    pub fn connect(&mut self, webrtc: LegId, rtp: LegId) {
        self.remove_leg(webrtc);
        self.remove_leg(rtp);
        self.by_webrtc.insert(webrtc, rtp);
        self.by_rtp.insert(rtp, webrtc);
    }

    /// Ends the bridge between `webrtc` and `rtp`, if that is the one they are in.
    pub fn disconnect(&mut self, webrtc: LegId, rtp: LegId) {
        if self.by_webrtc.get(&webrtc) == Some(&rtp) {
            self.by_webrtc.remove(&webrtc);
            self.by_rtp.remove(&rtp);
        }
    }

    /// Ends the bridge `leg` is in, on either side.
    pub fn remove_leg(&mut self, leg: LegId) {
        if let Some(rtp) = self.by_webrtc.remove(&leg) {
            self.by_rtp.remove(&rtp);
        }
        if let Some(webrtc) = self.by_rtp.remove(&leg) {
            self.by_webrtc.remove(&webrtc);
        }
    }

    /// The RTP leg a WebRTC leg's media goes to.
    pub fn rtp_of(&self, webrtc: LegId) -> Option<LegId> {
        self.by_webrtc.get(&webrtc).copied()
    }

    /// The WebRTC leg an RTP leg's media goes to.
    pub fn webrtc_of(&self, rtp: LegId) -> Option<LegId> {
        self.by_rtp.get(&rtp).copied()
    }
}

/// Extends the 16-bit sequence numbers of one outgoing stream to the 64-bit index str0m
/// wants. Its upper bits are the SRTP rollover counter (RFC 3711 §3.3.1), which the browser
/// assumes starts at 0, so the first packet has index `seq` and every later one the index
/// nearest the highest seen so far (RFC 3711 §3.3.1, Appendix A).
#[derive(Debug, Default)]
pub(crate) struct SeqExtender {
    highest: Option<u64>,
}

impl SeqExtender {
    /// The extended index of `seq`; `None` for a late packet from before the first one,
    /// which would need a negative rollover counter.
    pub fn extend(&mut self, seq: u16) -> Option<u64> {
        const HALF: u64 = 1 << 15;
        const CYCLE: u64 = 1 << 16;
        let seq = u64::from(seq);
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            return Some(seq);
        };
        let mut index = (highest & !(CYCLE - 1)) | seq;
        if index + HALF < highest {
            index += CYCLE;
        } else if index > highest + HALF {
            index = index.checked_sub(CYCLE)?;
        }
        if index > highest {
            self.highest = Some(index);
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leg_is_in_one_bridge_at_a_time() {
        let (w1, w2, r1, r2) = (LegId(1), LegId(2), LegId(11), LegId(12));
        let mut b = Bridges::default();
        b.connect(w1, r1);
        assert_eq!((b.rtp_of(w1), b.webrtc_of(r1)), (Some(r1), Some(w1)));
        b.connect(w1, r2);
        assert_eq!(b.webrtc_of(r1), None, "the old RTP leg is unbridged");
        b.connect(w2, r2);
        assert_eq!(b.rtp_of(w1), None, "the old WebRTC leg is unbridged");
        b.disconnect(w1, r2);
        assert_eq!(b.rtp_of(w2), Some(r2), "a bridge that is not theirs stays");
        b.remove_leg(r2);
        assert_eq!((b.rtp_of(w2), b.webrtc_of(r2)), (None, None));
    }

    #[test]
    fn sequence_numbers_roll_over_and_start_at_rollover_zero() {
        let mut s = SeqExtender::default();
        assert_eq!(s.extend(65_534), Some(65_534));
        assert_eq!(s.extend(65_535), Some(65_535));
        assert_eq!(s.extend(0), Some(65_536));
        assert_eq!(s.extend(65_535), Some(65_535), "reordered across the wrap");
        assert_eq!(s.extend(1), Some(65_537));
        let mut late = SeqExtender::default();
        assert_eq!(late.extend(3), Some(3));
        assert_eq!(late.extend(65_530), None, "before the first packet");
        assert_eq!(late.extend(4), Some(4), "the late packet moved nothing");
    }
}
