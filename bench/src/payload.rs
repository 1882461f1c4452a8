//! Synthetic RTP payloads: well-formed codec headers, zero filler, the probe at the tail.
//!
//! The server under test never decodes media in the echo test, but it may read codec headers:
//! Janus inspects the VP8 payload descriptor to rewrite picture ids and to spot key frames.
//! So the headers are valid and only the body is filler.

use crate::probe::{Probe, PROBE_LEN};

/// Opus TOC byte (RFC 6716 §3.1): config 31 (CELT-only, fullband, 20 ms), mono, one frame.
const OPUS_TOC: u8 = 31 << 3;

/// Bytes of the VP8 payload descriptor we write: the required byte, the extension byte and
/// a 15-bit picture id (what browsers send).
const VP8_DESCRIPTOR_LEN: usize = 4;
/// A key frame's VP8 payload header: 3-byte frame tag, start code, width, height.
const VP8_KEY_HEADER_LEN: usize = 10;

/// Smallest audio payload: the TOC byte and the probe.
pub const MIN_AUDIO_SIZE: usize = 1 + PROBE_LEN;
/// G.711 µ-law silence (ITU-T G.711: the code of level zero is 0xFF).
const PCMU_SILENCE: u8 = 0xFF;
/// Smallest video payload: a key frame's first packet with its probe.
pub const MIN_VIDEO_SIZE: usize = VP8_DESCRIPTOR_LEN + VP8_KEY_HEADER_LEN + PROBE_LEN;

/// Frame size announced in key frames.
const WIDTH: u16 = 640;
const HEIGHT: u16 = 360;

/// An opus packet of `size` bytes carrying `probe`.
pub fn opus(size: usize, probe: Probe) -> Vec<u8> {
    let mut payload = vec![0u8; size.max(MIN_AUDIO_SIZE)];
    payload[0] = OPUS_TOC;
    probe.write_tail(&mut payload);
    payload
}

/// A G.711 µ-law packet of `size` bytes (160 for 20 ms at 8 kHz) carrying `probe`: silence,
/// with the probe in the last bytes. G.711 has no header; the SIP side echoes it unchanged.
pub fn pcmu(size: usize, probe: Probe) -> Vec<u8> {
    let mut payload = vec![PCMU_SILENCE; size.max(PROBE_LEN)];
    probe.write_tail(&mut payload);
    payload
}

/// Where a VP8 RTP packet sits in its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Packet {
    /// First packet of the frame: the descriptor's S bit is set and the VP8 payload header
    /// follows the descriptor (RFC 7741 §4.2, §4.3).
    pub frame_start: bool,
    /// The frame is a key frame (P bit clear, start code and dimensions present).
    pub keyframe: bool,
    /// 15-bit picture id, one per frame.
    pub picture_id: u16,
}

/// A VP8 packet of `size` bytes carrying `probe`.
pub fn vp8(size: usize, packet: Vp8Packet, probe: Probe) -> Vec<u8> {
    let mut payload = vec![0u8; size.max(MIN_VIDEO_SIZE)];
    // RFC 7741 §4.2: X | R | N | S | R | PID(3); partition index 0.
    payload[0] = 0x80 | if packet.frame_start { 0x10 } else { 0 };
    // I: a picture id follows.
    payload[1] = 0x80;
    // M: the picture id is 15 bits.
    let pid = packet.picture_id & 0x7fff;
    payload[2] = 0x80 | (pid >> 8) as u8;
    payload[3] = pid as u8;

    if packet.frame_start {
        let header = &mut payload[VP8_DESCRIPTOR_LEN..];
        // RFC 7741 §4.3 / RFC 6386 §9.1 frame tag: size0(3) | show_frame(1) | version(3) | P(1),
        // then the first partition size continues in the next two bytes. The size only has
        // to be plausible: nobody decodes it.
        let first_partition = (size / 2) as u32;
        let inter = if packet.keyframe { 0 } else { 1 };
        header[0] = ((first_partition & 0x7) << 5) as u8 | 0x10 | inter;
        header[1] = (first_partition >> 3) as u8;
        header[2] = (first_partition >> 11) as u8;
        if packet.keyframe {
            // RFC 6386 §9.1: start code, then 14-bit width and height (scale bits 0).
            header[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
            header[6..8].copy_from_slice(&WIDTH.to_le_bytes());
            header[8..10].copy_from_slice(&HEIGHT.to_le_bytes());
        }
    }
    probe.write_tail(&mut payload);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: Probe = Probe {
        peer: 3,
        seq: 9,
        sent_us: 1234,
    };

    #[test]
    fn key_frame_start_sets_s_bit_clears_p_bit_and_has_start_code() {
        let p = vp8(
            1100,
            Vp8Packet {
                frame_start: true,
                keyframe: true,
                picture_id: 0x1234,
            },
            PROBE,
        );
        assert_eq!(p.len(), 1100);
        assert_eq!(p[0], 0x90);
        assert_eq!(&p[1..4], &[0x80, 0x80 | 0x12, 0x34]);
        assert_eq!(p[4] & 0x01, 0, "P bit clear on a key frame");
        assert_eq!(p[4] & 0x10, 0x10, "show_frame");
        assert_eq!(&p[7..10], &[0x9d, 0x01, 0x2a]);
        assert_eq!(u16::from_le_bytes([p[10], p[11]]), WIDTH);
        assert_eq!(Probe::read_tail(&p), Some(PROBE));
    }

    #[test]
    fn continuation_packet_has_only_the_descriptor() {
        let p = vp8(
            200,
            Vp8Packet {
                frame_start: false,
                keyframe: true,
                picture_id: 5,
            },
            PROBE,
        );
        assert_eq!(p[0], 0x80);
        assert!(p[4..188].iter().all(|b| *b == 0));
    }

    #[test]
    fn inter_frame_start_sets_the_p_bit() {
        let p = vp8(
            200,
            Vp8Packet {
                frame_start: true,
                keyframe: false,
                picture_id: 5,
            },
            PROBE,
        );
        assert_eq!(p[4] & 0x01, 1);
        assert_ne!(&p[7..10], &[0x9d, 0x01, 0x2a]);
    }

    #[test]
    fn pcmu_packet_is_silence_then_the_probe() {
        let p = pcmu(160, PROBE);
        assert_eq!(p.len(), 160);
        assert!(p[..148].iter().all(|b| *b == 0xFF));
        assert_eq!(Probe::read_tail(&p), Some(PROBE));
    }

    #[test]
    fn opus_packet_starts_with_its_toc_and_ends_with_the_probe() {
        let p = opus(100, PROBE);
        assert_eq!((p.len(), p[0]), (100, 0xF8));
        assert_eq!(Probe::read_tail(&p), Some(PROBE));
    }
}
