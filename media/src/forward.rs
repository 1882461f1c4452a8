//! Plain RTP forwarders (Janus's `rtp_forward`): a copy of one stream of a leg, sent as RTP
//! to a UDP address under the forwarder's own SSRC and payload type, out of the shard's
//! media socket; SRTP when the forwarder was given a key (`srtp_suite`, `srtp_crypto`). For
//! a simulcast stream, one layer is forwarded.

use std::net::SocketAddr;

use str0m::media::Rid;
use str0m::net::{Protocol, Transmit};
use str0m::rtp::RtpPacket;

use crate::rtp_leg::{CryptoError, SrtpKey, SrtpSession, SrtpTransform};

#[derive(Debug)]
pub struct Forwarder {
    pub id: u32,
    pub destination: SocketAddr,
    /// Payload type on the wire; `None` keeps the source's.
    pub pt: Option<u8>,
    pub ssrc: u32,
    /// The simulcast layer forwarded (`None`: the stream has none, or any).
    pub rid: Option<Rid>,
    /// Protects what is sent, when the forwarder is SRTP.
    pub srtp: Option<ForwardSrtp>,
}

impl Forwarder {
    /// The datagram for one packet of the source (`None`: not this forwarder's layer).
    pub(crate) fn transmit(&mut self, rid: Option<Rid>, pkt: &RtpPacket) -> Option<Transmit> {
        if self.rid.is_some() && rid != self.rid {
            return None;
        }
        let header = RtpHeaderOut {
            pt: self.pt.unwrap_or(*pkt.header.payload_type),
            marker: pkt.header.marker,
            seq: pkt.header.sequence_number,
            ts: pkt.header.timestamp,
            ssrc: self.ssrc,
        };
        forwarded(self.destination, &header, &pkt.payload, self.srtp.as_mut())
    }
}

/// The fixed RTP header a forwarder writes (no CSRCs, no extensions).
pub(crate) struct RtpHeaderOut {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

/// One forwarded packet as a datagram for the shard's media socket, protected when `srtp`
/// is given (`None` if protecting failed: the packet is dropped, not sent in the clear).
pub(crate) fn forwarded(
    destination: SocketAddr,
    h: &RtpHeaderOut,
    payload: &[u8],
    srtp: Option<&mut ForwardSrtp>,
) -> Option<Transmit> {
    let mut datagram = Vec::with_capacity(12 + payload.len());
    datagram.push(0x80);
    datagram.push((h.pt & 0x7f) | if h.marker { 0x80 } else { 0 });
    datagram.extend_from_slice(&h.seq.to_be_bytes());
    datagram.extend_from_slice(&h.ts.to_be_bytes());
    datagram.extend_from_slice(&h.ssrc.to_be_bytes());
    datagram.extend_from_slice(payload);
    if let Some(srtp) = srtp {
        datagram = srtp.protect(&datagram)?;
    }
    Some(Transmit {
        proto: Protocol::Udp,
        // The I/O loop sends these from the shard's media socket, whatever the source.
        source: SocketAddr::from(([0, 0, 0, 0], 0)),
        destination,
        contents: datagram.into(),
    })
}

/// SRTP for what one forwarder sends: every packet protected with the one master key its
/// receiver was given (Janus's `srtp_crypto`, with the tag length of `srtp_suite`).
pub struct ForwardSrtp {
    session: SrtpSession,
}

impl std::fmt::Debug for ForwardSrtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwardSrtp")
    }
}

impl ForwardSrtp {
    pub fn new(key: &SrtpKey) -> Result<Self, CryptoError> {
        // Nothing comes back on a forwarder: the receiving side's key is never used.
        Ok(Self {
            session: SrtpSession::new(key, key)?,
        })
    }

    fn protect(&mut self, rtp: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(rtp.len() + 16);
        match self.session.protect_rtp(rtp, &mut out) {
            Ok(()) => Some(out),
            Err(e) => {
                tracing::debug!("forwarder: SRTP protect failed: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp_leg::CryptoSuite;

    #[test]
    fn an_srtp_forwarder_sends_what_its_key_decrypts() {
        let key = SrtpKey::from_bytes(CryptoSuite::AesCm128HmacSha1_32, &[7; 30]).unwrap();
        let mut srtp = ForwardSrtp::new(&key).unwrap();
        let to: SocketAddr = "127.0.0.1:5004".parse().unwrap();
        let h = RtpHeaderOut {
            pt: 111,
            marker: true,
            seq: 9,
            ts: 960,
            ssrc: 0x1234,
        };
        let plain = forwarded(to, &h, b"opus", None).unwrap();
        assert_eq!(&plain.contents[..2], &[0x80, 0x80 | 111]);
        assert_eq!(&plain.contents[12..], b"opus");
        let protected = forwarded(to, &h, b"opus", Some(&mut srtp)).unwrap();
        assert_eq!(protected.contents.len(), 12 + 4 + 4, "a 32-bit tag");
        assert_eq!(&protected.contents[..12], &plain.contents[..12]);
        assert_ne!(&protected.contents[12..16], b"opus");
        let mut receiver = SrtpSession::new(&key, &key).unwrap();
        let mut out = Vec::new();
        receiver
            .unprotect_rtp(&protected.contents, &mut out)
            .unwrap();
        assert_eq!(out.as_slice(), &*plain.contents);
    }
}
