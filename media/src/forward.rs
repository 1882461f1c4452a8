//! Plain RTP forwarders (Janus's `rtp_forward`): a copy of one stream of a leg, sent as
//! unencrypted RTP to a UDP address under the forwarder's own SSRC and payload type, out
//! of the shard's media socket. For a simulcast stream, one layer is forwarded.

use std::net::SocketAddr;

use str0m::media::Rid;
use str0m::net::{Protocol, Transmit};
use str0m::rtp::RtpPacket;

#[derive(Debug, Clone)]
pub struct Forwarder {
    pub id: u32,
    pub destination: SocketAddr,
    /// Payload type on the wire; `None` keeps the source's.
    pub pt: Option<u8>,
    pub ssrc: u32,
    /// The simulcast layer forwarded (`None`: the stream has none, or any).
    pub rid: Option<Rid>,
}

impl Forwarder {
    /// The datagram for one packet of the source (`None`: not this forwarder's layer).
    pub(crate) fn transmit(&self, rid: Option<Rid>, pkt: &RtpPacket) -> Option<Transmit> {
        if self.rid.is_some() && rid != self.rid {
            return None;
        }
        let pt = self.pt.unwrap_or(*pkt.header.payload_type) & 0x7f;
        let mut datagram = Vec::with_capacity(12 + pkt.payload.len());
        datagram.push(0x80);
        datagram.push(pt | if pkt.header.marker { 0x80 } else { 0 });
        datagram.extend_from_slice(&pkt.header.sequence_number.to_be_bytes());
        datagram.extend_from_slice(&pkt.header.timestamp.to_be_bytes());
        datagram.extend_from_slice(&self.ssrc.to_be_bytes());
        datagram.extend_from_slice(&pkt.payload);
        Some(Transmit {
            proto: Protocol::Udp,
            // The I/O loop sends these from the shard's media socket, whatever the source.
            source: SocketAddr::from(([0, 0, 0, 0], 0)),
            destination: self.destination,
            contents: datagram.into(),
        })
    }
}
