//! What one m-line of a SIP peer's SDP (offer or answer) tells the RTP leg: where to send,
//! which codecs, DTMF, direction, RTCP and keys.

use std::net::{IpAddr, SocketAddr};

use super::attributes::{Codec, Crypto, Direction};
use super::error::SdpError;
use super::model::SessionDescription;

/// One browser payload type and the SIP side's number for the same codec. `(webrtc, sip)` is
/// the pair order of the media crate's `PtMap::new`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtPair {
    pub webrtc: u8,
    pub sip: u8,
}

impl PtPair {
    pub fn as_tuple(self) -> (u8, u8) {
        (self.webrtc, self.sip)
    }
}

/// One m-line of a SIP peer's SDP, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMedia {
    /// Position of the m-line in its SDP.
    pub index: usize,
    /// `audio`, `video`, …
    pub kind: String,
    pub proto: String,
    /// 0 when rejected (RFC 3264 §6).
    pub port: u16,
    /// From `c=` (media level over session level, RFC 8866 §5.7) and the `m=` port; `None`
    /// when rejected, when there is no address, when it is a FQDN, or when it is
    /// `0.0.0.0` (the old hold of RFC 2543, RFC 3264 §8.4).
    pub remote_rtp: Option<SocketAddr>,
    /// `a=rtcp` (RFC 3605 §2.1), else the RTP port + 1 (RFC 3550 §11); `None` when muxed.
    pub remote_rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    pub rtcp_mux: bool,
    /// Payload types in the peer's order of preference, telephone-event and CN included.
    pub codecs: Vec<Codec>,
    /// The telephone-event payload type (RFC 4733 §7.1.1) of the main codec's clock if
    /// offered, else the first.
    pub telephone_event: Option<u8>,
    /// Media level over session level, else sendrecv (RFC 3264 §5.1).
    pub direction: Direction,
    pub crypto: Vec<Crypto>,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
}

impl SipMedia {
    /// Reads m-line `index` of `sdp`.
    pub fn read(sdp: &SessionDescription, index: usize) -> Result<Self, SdpError> {
        let m = sdp.media().get(index).ok_or(SdpError::MediaCountMismatch {
            offer: index + 1,
            answer: sdp.media().len(),
        })?;
        let connection = match m.connection()? {
            Some(c) => Some(c),
            None => sdp.connection()?,
        };
        let ip = connection
            .as_ref()
            .and_then(|c| c.ip())
            .filter(|ip| !ip.is_unspecified());
        let port = m.port();
        let remote_rtp = ip.filter(|_| port != 0).map(|ip| SocketAddr::new(ip, port));
        let rtcp_mux = m.rtcp_mux();
        let remote_rtcp = match (remote_rtp, rtcp_mux) {
            (None, _) | (_, true) => None,
            (Some(rtp), false) => match m.rtcp()? {
                Some(r) => {
                    let ip: IpAddr = r
                        .connection
                        .as_ref()
                        .and_then(|c| c.ip())
                        .unwrap_or(rtp.ip());
                    Some(SocketAddr::new(ip, r.port))
                }
                None => rtp
                    .port()
                    .checked_add(1)
                    .map(|p| SocketAddr::new(rtp.ip(), p)),
            },
        };
        let codecs = m.codecs()?;
        let main_clock = codecs.iter().find(|c| c.is_media()).map(|c| c.clock_rate);
        let events = || codecs.iter().filter(|c| c.is_telephone_event());
        let telephone_event = events()
            .find(|c| Some(c.clock_rate) == main_clock)
            .or_else(|| events().next())
            .map(|c| c.pt);
        Ok(Self {
            index,
            kind: m.media().into(),
            proto: m.proto().into(),
            port,
            remote_rtp,
            remote_rtcp,
            rtcp_mux,
            telephone_event,
            direction: m
                .direction()
                .or(sdp.session_direction())
                .unwrap_or_default(),
            crypto: m.crypto()?,
            ptime: m.ptime()?,
            codecs,
        })
    }

    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The first codec that carries media (not telephone-event or CN): the one the peer
    /// will send (RFC 3264 §6.1).
    pub fn main_codec(&self) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.is_media())
    }

    /// `RTP/SAVP` or `RTP/SAVPF`: SDES keys expected.
    pub fn is_secure(&self) -> bool {
        self.proto.to_ascii_uppercase().contains("SAVP")
    }
}

/// Every m-line of a SIP offer, read: what the bridge needs to build the browser offer
/// (an incoming call from a PBX).
pub fn read_sip_offer(sdp: &SessionDescription) -> Result<Vec<SipMedia>, SdpError> {
    (0..sdp.media().len())
        .map(|i| SipMedia::read(sdp, i))
        .collect()
}
