//! Which protocol a datagram carries, by its first byte (RFC 7983 §7), and which leg a STUN
//! request is for, by the local ufrag in its USERNAME (RFC 8445 §7.2.2).
//!
//! ```text
//!                  +----------------+
//!                  |        [0..3] -+--> STUN
//!                  |      [20..63] -+--> DTLS
//!   packet -->     |    [128..191] -+--> RTP/RTCP
//!                  +----------------+
//! ```

/// The protocol of a datagram on the media port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    Stun,
    Dtls,
    Rtp,
    Unknown,
}

impl DatagramKind {
    pub fn of(datagram: &[u8]) -> Self {
        match datagram.first() {
            Some(0..=3) => Self::Stun,
            Some(20..=63) => Self::Dtls,
            Some(128..=191) => Self::Rtp,
            _ => Self::Unknown,
        }
    }
}

const STUN_HEADER: usize = 20;
const STUN_MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// The local (receiver's) ufrag of a STUN binding request: the part of USERNAME before ':'.
/// Returns `None` for anything that is not a well-formed STUN message with a USERNAME.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<&[u8]> {
    if datagram.len() < STUN_HEADER || datagram[4..8] != STUN_MAGIC {
        return None;
    }
    let declared = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    let body = datagram.get(STUN_HEADER..STUN_HEADER + declared)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let value = rest.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            return Some(&value[..end]);
        }
        // Attributes are padded to a multiple of four bytes (RFC 8489 §14).
        let padded = (len + 3) & !3;
        rest = rest.get(4 + padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &[u8]) -> Vec<u8> {
        let mut attrs = vec![0x00, 0x06];
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut msg = vec![0x00, 0x01];
        msg.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        msg.extend_from_slice(&STUN_MAGIC);
        msg.extend_from_slice(&[7; 12]);
        msg.extend_from_slice(&attrs);
        msg
    }

    #[test]
    fn ufrag_is_the_part_before_the_colon() {
        let msg = binding_request(b"abcd:wxyz");
        assert_eq!(stun_local_ufrag(&msg), Some(&b"abcd"[..]));
    }

    #[test]
    fn truncated_or_foreign_datagrams_have_no_ufrag() {
        let msg = binding_request(b"abcd:wxyz");
        for cut in 0..msg.len() {
            let _ = stun_local_ufrag(&msg[..cut]);
        }
        assert_eq!(stun_local_ufrag(&msg[..msg.len() - 8]), None);
        assert_eq!(stun_local_ufrag(&[0x80; 40]), None);
    }

    #[test]
    fn first_byte_classifies_rfc7983() {
        assert_eq!(DatagramKind::of(&[0]), DatagramKind::Stun);
        assert_eq!(DatagramKind::of(&[22]), DatagramKind::Dtls);
        assert_eq!(DatagramKind::of(&[0x80]), DatagramKind::Rtp);
        assert_eq!(DatagramKind::of(&[]), DatagramKind::Unknown);
        assert_eq!(DatagramKind::of(&[255]), DatagramKind::Unknown);
    }
}
