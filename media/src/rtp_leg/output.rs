//! What a leg hands back: datagrams to send (in one reused arena, so steady-state forwarding
//! allocates nothing), events for the control plane, and packets for the WebRTC side.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use crate::MediaKind;

/// A datagram to send from the caller's socket at `source` to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub payload: &'a [u8],
}

/// Datagrams waiting to be sent, back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct TransmitQueue {
    arena: Vec<u8>,
    items: Vec<(SocketAddr, SocketAddr, Range<usize>)>,
}

impl TransmitQueue {
    /// Appends one datagram written by `write` (which appends to the buffer it is given).
    /// If `write` fails, nothing is queued.
    pub fn push_with<E>(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.arena.len();
        match write(&mut self.arena) {
            Ok(()) => {
                self.items
                    .push((source, destination, start..self.arena.len()));
                Ok(())
            }
            Err(e) => {
                self.arena.truncate(start);
                Err(e)
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Transmit<'_>> {
        self.items.iter().map(|(s, d, r)| Transmit {
            source: *s,
            destination: *d,
            payload: &self.arena[r.clone()],
        })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
    }
}

/// What an RTP leg reports to the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpLegEvent {
    /// The send address moved to where the peer's packets really come from.
    Latched {
        kind: MediaKind,
        addr: SocketAddr,
        rtcp: bool,
    },
    /// An RFC 4733 key press from the SIP peer: once when it starts (`end: false`, unless that
    /// packet was lost) and once when it ends.
    Dtmf {
        digit: char,
        duration: Duration,
        end: bool,
    },
    /// Media started arriving, or stopped for longer than the no-media timeout.
    Receiving { kind: MediaKind, receiving: bool },
    /// The peer said RTCP BYE on this stream (RFC 3550 §6.6).
    Bye { kind: MediaKind },
}

/// A packet from the SIP peer, numbered and typed for the WebRTC side: what its `write_rtp`
/// needs. `seq` and `ts` are continuous across the peer's SSRC changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundRtp<'a> {
    pub kind: MediaKind,
    /// The browser's payload type.
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub payload: &'a [u8],
}

/// A packet from the WebRTC side to forward to the SIP peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundRtp<'a> {
    /// The browser's payload type; mapped to the SIP side's.
    pub pt: u8,
    /// The input's own numbering; rewritten into the SIP stream's.
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub payload: &'a [u8],
}
