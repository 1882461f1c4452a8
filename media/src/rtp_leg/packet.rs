//! RTP fixed header (RFC 3550 §5.1), read in place and written into a reused buffer, and the
//! RTP/RTCP split on a muxed port (RFC 5761 §4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers  (CC × 32)  |
//! |     header extension (X: 16-bit profile, 16-bit length in words, words)
//! ```

use super::error::PacketError;

/// Size of the fixed RTP header, without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// The fields of an RTP packet the leg uses, and where its payload lies in the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    /// Byte offset of the payload (after CSRCs and extension).
    pub payload_start: usize,
    /// Byte offset where the payload ends (before any padding).
    pub payload_end: usize,
}

impl RtpHeader {
    /// Reads the header of `packet`. With `check_padding` false the padding bit is ignored:
    /// under SRTP the padding count sits in the encrypted part.
    pub fn parse(packet: &[u8], check_padding: bool) -> Result<Self, PacketError> {
        if packet.len() < RTP_HEADER_LEN {
            return Err(PacketError::TooShort(packet.len()));
        }
        let version = packet[0] >> 6;
        if version != 2 {
            return Err(PacketError::Version(version));
        }
        let padding = packet[0] & 0x20 != 0;
        let extension = packet[0] & 0x10 != 0;
        let csrcs = usize::from(packet[0] & 0x0f);
        let mut start = RTP_HEADER_LEN + 4 * csrcs;
        if extension {
            let ext = packet
                .get(start..start + 4)
                .ok_or(PacketError::HeaderOverrun)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            start += 4 + 4 * words;
        }
        if start > packet.len() {
            return Err(PacketError::HeaderOverrun);
        }
        let mut end = packet.len();
        if padding && check_padding {
            // RFC 3550 §5.1: the last octet counts the padding, itself included.
            let count = packet[packet.len() - 1];
            if count == 0 || usize::from(count) > end - start {
                return Err(PacketError::Padding(count));
            }
            end -= usize::from(count);
        }
        Ok(Self {
            marker: packet[1] & 0x80 != 0,
            pt: packet[1] & 0x7f,
            seq: u16::from_be_bytes([packet[2], packet[3]]),
            ts: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
            payload_start: start,
            payload_end: end,
        })
    }
}

/// Appends a 12-byte RTP header (no CSRC, no extension, no padding) to `out`.
pub fn write_header(out: &mut Vec<u8>, marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    out.push(0x80);
    out.push(if marker { 0x80 } else { 0 } | (pt & 0x7f));
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
}

/// RFC 5761 §4: on a muxed port, an RTCP packet type (192..=223 in the second octet, where
/// RTP would carry marker + payload type) makes the datagram RTCP.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[0] >> 6 == 2 && (192..=223).contains(&datagram[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrips_and_payload_is_located() {
        let mut buf = Vec::new();
        write_header(&mut buf, true, 96, 0xfffe, 123_456, 0xdead_beef);
        buf.extend_from_slice(b"opus");
        let h = RtpHeader::parse(&buf, true).unwrap();
        assert!(h.marker);
        assert_eq!(
            (h.pt, h.seq, h.ts, h.ssrc),
            (96, 0xfffe, 123_456, 0xdead_beef)
        );
        assert_eq!(&buf[h.payload_start..h.payload_end], b"opus");
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut buf = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        buf.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        buf.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        buf.extend_from_slice(b"ab");
        buf.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let h = RtpHeader::parse(&buf, true).unwrap();
        assert_eq!(&buf[h.payload_start..h.payload_end], b"ab");
    }

    #[test]
    fn truncated_packets_are_errors_not_panics() {
        let mut buf = vec![
            0xb1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0xff, 0xff,
        ];
        for cut in 0..buf.len() {
            assert!(RtpHeader::parse(&buf[..cut], true).is_err());
        }
        buf[0] = 0xa0;
        buf.truncate(12);
        buf.push(200);
        assert_eq!(RtpHeader::parse(&buf, true), Err(PacketError::Padding(200)));
    }

    #[test]
    fn muxed_rtcp_is_told_from_rtp() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 201]));
        assert!(!is_rtcp(&[0x80, 0x80 | 96]));
        assert!(!is_rtcp(&[0x80, 0]));
        assert!(!is_rtcp(&[0x80]));
    }
}
