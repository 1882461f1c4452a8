//! Payload-type translation between the browser's numbering and the SIP peer's, both ways
//! (e.g. opus 111 ↔ 96, PCMU 0 ↔ 0, telephone-event 126 ↔ 101). RTP payload types are 7 bits
//! (RFC 3550 §5.1), so two 128-entry tables answer in O(1) without allocation.

use super::error::PtMapError;

const NONE: u8 = 0xff;

#[derive(Clone, PartialEq, Eq)]
pub struct PtMap {
    to_sip: [u8; 128],
    to_webrtc: [u8; 128],
}

impl std::fmt::Debug for PtMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                (0u8..128)
                    .filter(|&pt| self.to_sip[usize::from(pt)] != NONE)
                    .map(|pt| (pt, self.to_sip[usize::from(pt)])),
            )
            .finish()
    }
}

impl Default for PtMap {
    fn default() -> Self {
        Self {
            to_sip: [NONE; 128],
            to_webrtc: [NONE; 128],
        }
    }
}

impl PtMap {
    /// Builds the map from `(webrtc_pt, sip_pt)` pairs. Each side may name a type once.
    pub fn new(pairs: &[(u8, u8)]) -> Result<Self, PtMapError> {
        let mut map = Self::default();
        for &(webrtc, sip) in pairs {
            for pt in [webrtc, sip] {
                if pt > 127 {
                    return Err(PtMapError::OutOfRange(pt));
                }
            }
            if map.to_sip[usize::from(webrtc)] != NONE {
                return Err(PtMapError::Duplicate(webrtc));
            }
            if map.to_webrtc[usize::from(sip)] != NONE {
                return Err(PtMapError::Duplicate(sip));
            }
            map.to_sip[usize::from(webrtc)] = sip;
            map.to_webrtc[usize::from(sip)] = webrtc;
        }
        Ok(map)
    }

    /// The SIP side's payload type for a browser payload type.
    pub fn to_sip(&self, webrtc_pt: u8) -> Option<u8> {
        let pt = *self.to_sip.get(usize::from(webrtc_pt))?;
        (pt != NONE).then_some(pt)
    }

    /// The browser's payload type for a SIP payload type.
    pub fn to_webrtc(&self, sip_pt: u8) -> Option<u8> {
        let pt = *self.to_webrtc.get(usize::from(sip_pt))?;
        (pt != NONE).then_some(pt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_answer_both_ways_and_refuse_conflicts() {
        let m = PtMap::new(&[(111, 96), (0, 0), (126, 101)]).unwrap();
        assert_eq!(m.to_sip(111), Some(96));
        assert_eq!(m.to_webrtc(101), Some(126));
        assert_eq!(m.to_sip(8), None);
        assert_eq!(m.to_webrtc(255), None);
        assert_eq!(
            PtMap::new(&[(111, 96), (112, 96)]),
            Err(PtMapError::Duplicate(96))
        );
        assert_eq!(PtMap::new(&[(128, 0)]), Err(PtMapError::OutOfRange(128)));
    }
}
