//! Plain RTP forwarders (Janus's `rtp_forward`): a copy of one stream of a leg, sent as RTP
//! to a UDP address under the forwarder's own SSRC and payload type, out of the shard's
//! media socket; SRTP when the forwarder was given a key (`srtp_suite`, `srtp_crypto`). For
//! a simulcast stream, one layer is forwarded.
//!
//! A video forwarder given an RTCP port (Janus's `rtcp_port`) latches there: two RTCP
//! receiver reports go to it from the media socket at the start, so that the receiver
//! learns where to send feedback, and a PLI or FIR that comes back asks the publisher for
//! a key frame.
//!
//! A forwarder of a data channel sends each message as one UDP datagram, as it came.
//!
//! A forwarder of a simulcast stream sends one layer, or, given [`Switching`], acts as a
//! subscriber would (Janus's `simulcast: true`): the best layer that is sending, changing
//! layer at a key frame, renumbered into one continuous stream.
//!
//! What the forwarders send is written into one [`Datagrams`] buffer that the I/O loop
//! drains in `sendmmsg` batches: forwarding a packet allocates nothing.

use std::net::SocketAddr;
use std::ops::Range;

use str0m::media::Rid;
use str0m::rtp::RtpPacket;

use crate::layers::{LayerChoice, LayerWant, Verdict, VideoCodec, DEFAULT_FALLBACK};
use crate::rebase::Rebase;
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
    /// Where the receiver takes RTCP (its key-frame requests come back from there).
    pub rtcp: Option<SocketAddr>,
    /// Forwards the best layer of a simulcast stream, switching as a subscriber does.
    pub switching: Option<Box<Switching>>,
}

/// The layer choice and numbering of a forwarder that switches between simulcast layers.
#[derive(Debug)]
pub struct Switching {
    choice: LayerChoice,
    numbering: Rebase,
}

impl Switching {
    /// Over the layers `rids` (lowest quality first) of a `codec` stream: the top layer
    /// and every temporal layer, falling back as Janus's subscribers do.
    pub fn new(rids: Vec<Rid>, codec: VideoCodec) -> Self {
        let want = LayerWant {
            substream: rids.len().saturating_sub(1),
            temporal: crate::DEFAULT_TEMPORAL,
            fallback: DEFAULT_FALLBACK,
        };
        Self {
            choice: LayerChoice::new(rids, codec, want),
            numbering: Rebase::default(),
        }
    }
}

impl Forwarder {
    /// Writes the datagram for one packet of the source into `out`, unless the packet is
    /// of another simulcast layer than this forwarder's. A switching forwarder may need a
    /// key frame of the layer it moves to: that layer is returned, for the publisher to
    /// be asked.
    pub(crate) fn forward(
        &mut self,
        rid: Option<Rid>,
        pkt: &RtpPacket,
        out: &mut Datagrams,
    ) -> Option<Rid> {
        if self.rid.is_some() && rid != self.rid {
            return None;
        }
        let (mut seq, mut ts) = (pkt.header.sequence_number, pkt.header.timestamp);
        let mut keyframe = None;
        if let Some(s) = self.switching.as_deref_mut() {
            let verdict = s.choice.on_packet(rid, &pkt.payload, pkt.timestamp);
            keyframe = s.choice.take_keyframe_request();
            let source = *pkt.header.ssrc;
            match verdict {
                Verdict::Forward => {
                    let (n, t) =
                        s.numbering
                            .map(source, *pkt.seq_no, ts, pkt.timestamp, VIDEO_CLOCK);
                    (seq, ts) = (n as u16, t);
                }
                Verdict::Skip => {
                    s.numbering.skip(source, *pkt.seq_no);
                    return keyframe;
                }
                Verdict::Drop => return keyframe,
            }
        }
        let header = RtpHeaderOut {
            pt: self.pt.unwrap_or(*pkt.header.payload_type),
            marker: pkt.header.marker,
            seq,
            ts,
            ssrc: self.ssrc,
        };
        out.push_rtp(self.destination, &header, &pkt.payload, self.srtp.as_mut());
        keyframe
    }

    /// A data-channel message of the source, sent as one datagram as it came (Janus's
    /// data forwarders: no RTP header, never SRTP).
    pub(crate) fn forward_data(&self, message: &[u8], out: &mut Datagrams) {
        out.push(self.destination, message);
    }

    /// The RTCP that opens the way back from the receiver's RTCP port: an empty receiver
    /// report from the forwarder's SSRC, sent twice as Janus does (one may be lost).
    pub(crate) fn latch(&self, out: &mut Datagrams) {
        let Some(rtcp) = self.rtcp else { return };
        let rr = crate::rtp_leg::empty_receiver_report(self.ssrc);
        out.push(rtcp, &rr);
        out.push(rtcp, &rr);
    }
}

/// The RTP clock of every video codec simulcast is used with.
const VIDEO_CLOCK: u32 = 90_000;

/// The fixed RTP header a forwarder writes (no CSRCs, no extensions).
pub(crate) struct RtpHeaderOut {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

/// Datagrams for the shard's media socket, kept in one buffer reused from flush to flush.
#[derive(Debug, Default)]
pub struct Datagrams {
    bytes: Vec<u8>,
    items: Vec<(SocketAddr, Range<usize>)>,
    /// SRTP's output before it replaces the plain packet.
    scratch: Vec<u8>,
}

impl Datagrams {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Each datagram with its destination, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.items
            .iter()
            .map(|(to, range)| (*to, &self.bytes[range.clone()]))
    }

    /// Forgets what was sent; the memory stays for the next batch.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }

    pub(crate) fn push(&mut self, destination: SocketAddr, datagram: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.items.push((destination, start..self.bytes.len()));
    }

    /// Moves every datagram of `other` to the end of this one (by swapping the buffers
    /// when this one is empty, as it is between flushes: nothing is copied).
    pub(crate) fn append(&mut self, other: &mut Datagrams) {
        if self.is_empty() {
            std::mem::swap(&mut self.bytes, &mut other.bytes);
            std::mem::swap(&mut self.items, &mut other.items);
            other.clear();
            return;
        }
        for (to, range) in &other.items {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&other.bytes[range.clone()]);
            self.items.push((*to, start..self.bytes.len()));
        }
        other.clear();
    }

    /// One forwarded packet, protected when `srtp` is given (if protecting fails the
    /// packet is dropped, never sent in the clear).
    pub(crate) fn push_rtp(
        &mut self,
        destination: SocketAddr,
        h: &RtpHeaderOut,
        payload: &[u8],
        srtp: Option<&mut ForwardSrtp>,
    ) {
        let start = self.bytes.len();
        self.bytes.push(0x80);
        self.bytes
            .push((h.pt & 0x7f) | if h.marker { 0x80 } else { 0 });
        self.bytes.extend_from_slice(&h.seq.to_be_bytes());
        self.bytes.extend_from_slice(&h.ts.to_be_bytes());
        self.bytes.extend_from_slice(&h.ssrc.to_be_bytes());
        self.bytes.extend_from_slice(payload);
        if let Some(srtp) = srtp {
            self.scratch.clear();
            let protected = srtp.protect(&self.bytes[start..], &mut self.scratch);
            self.bytes.truncate(start);
            if !protected {
                return;
            }
            self.bytes.extend_from_slice(&self.scratch);
        }
        self.items.push((destination, start..self.bytes.len()));
    }
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

    fn protect(&mut self, rtp: &[u8], out: &mut Vec<u8>) -> bool {
        match self.session.protect_rtp(rtp, out) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("forwarder: SRTP protect failed: {e}");
                false
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
        let mut out = Datagrams::default();
        out.push_rtp(to, &h, b"opus", None);
        out.push_rtp(to, &h, b"opus", Some(&mut srtp));
        let sent: Vec<(SocketAddr, Vec<u8>)> = out.iter().map(|(a, b)| (a, b.to_vec())).collect();
        let (plain, protected) = (&sent[0].1, &sent[1].1);
        assert_eq!(sent[0].0, to);
        assert_eq!(&plain[..2], &[0x80, 0x80 | 111]);
        assert_eq!(&plain[12..], b"opus");
        assert_eq!(protected.len(), 12 + 4 + 4, "a 32-bit tag");
        assert_eq!(&protected[..12], &plain[..12]);
        assert_ne!(&protected[12..16], b"opus");
        let mut receiver = SrtpSession::new(&key, &key).unwrap();
        let mut decrypted = Vec::new();
        receiver.unprotect_rtp(protected, &mut decrypted).unwrap();
        assert_eq!(&decrypted, plain);
        // The buffer is reused: cleared, it keeps its memory and takes more.
        let capacity = out.bytes.capacity();
        out.clear();
        assert!(out.is_empty());
        out.push_rtp(to, &h, b"opus", None);
        assert_eq!((out.len(), out.bytes.capacity()), (1, capacity));
    }

    #[test]
    fn a_forwarder_with_an_rtcp_port_latches_there_twice() {
        let rtcp: SocketAddr = "127.0.0.1:5005".parse().unwrap();
        let mut f = Forwarder {
            id: 1,
            destination: "127.0.0.1:5004".parse().unwrap(),
            pt: None,
            ssrc: 0x0102_0304,
            rid: None,
            srtp: None,
            rtcp: None,
            switching: None,
        };
        let mut out = Datagrams::default();
        f.latch(&mut out);
        assert!(out.is_empty(), "no RTCP port, nothing sent");
        f.rtcp = Some(rtcp);
        f.latch(&mut out);
        let sent: Vec<_> = out.iter().collect();
        assert_eq!(sent.len(), 2);
        let sent_rr = [0x80, 201, 0, 1, 1, 2, 3, 4];
        assert_eq!(sent[0], (rtcp, &sent_rr[..]));
        let rr = crate::rtp_leg::parse_compound(sent[0].1, 0).unwrap();
        assert_eq!(rr.sender_ssrc, Some(0x0102_0304));
        // Into an empty buffer the datagrams move whole; into one that has some, after them.
        let mut more = Datagrams::default();
        more.append(&mut out);
        assert_eq!((more.len(), out.len()), (2, 0));
        f.latch(&mut out);
        more.append(&mut out);
        assert_eq!((more.len(), out.len()), (4, 0));
        assert!(more.iter().all(|(to, rr)| to == rtcp && rr == &sent_rr[..]));
    }
}
