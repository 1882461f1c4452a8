//! Symmetric RTP (RFC 4961) as Asterisk and rtpengine practise it: send to where the peer's
//! packets really come from, not only to what its SDP claims (phones behind NAT, multi-homed
//! hosts). One [`Latch`] per component (RTP, and RTCP when not muxed).

use std::net::SocketAddr;

/// How firmly a latched stream holds on to its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchMode {
    /// Once latched, only the latched address is heard; everything else is dropped.
    Strict,
    /// As `Strict`, except that the latched SSRC arriving from a new address moves the latch
    /// there (a NAT rebinding its port mid-call). rtpengine's default behaviour.
    #[default]
    FollowSsrc,
    /// Never latch: send to the SDP address, accept from anywhere (Janus with no checks).
    Off,
}

/// What to do with a packet, decided before SRTP authentication and committed after, so a
/// forged packet can never move the latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// From the current source: take it.
    Accept,
    /// Take it and latch (or re-latch) to its source.
    Latch,
    /// Drop it.
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Sending to the SDP address; the first valid packet from anywhere latches.
    Unlatched,
    /// Sending to `addr`, the real source of `ssrc`.
    Latched { addr: SocketAddr, ssrc: u32 },
}

/// The send address of one component and the rules that move it.
#[derive(Debug, Clone)]
pub struct Latch {
    mode: LatchMode,
    /// The address in the peer's SDP (c= and m=, or a=rtcp). Unspecified IP = on hold.
    signalled: Option<SocketAddr>,
    /// The last SDP address that was not a hold, to recognise a resume to the same place.
    last_active: Option<SocketAddr>,
    state: State,
}

impl Latch {
    pub fn new(mode: LatchMode, signalled: Option<SocketAddr>) -> Self {
        Self {
            mode,
            signalled,
            last_active: signalled,
            state: State::Unlatched,
        }
    }

    /// Where packets go now: the latched source, else the SDP address. `None` while the
    /// peer's SDP says hold (`c=0.0.0.0`, RFC 3264 §8.4) or names no address.
    pub fn destination(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched { addr, .. } => Some(addr),
            State::Unlatched => self.signalled.filter(|a| !a.ip().is_unspecified()),
        }
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched { addr, .. } => Some(addr),
            State::Unlatched => None,
        }
    }

    /// The peer's SDP changed (re-INVITE). A new address drops the latch, so the first packet
    /// after it latches afresh; the same address keeps it; a hold address (unspecified IP)
    /// keeps the latch too, since old-style hold only means "stop sending".
    pub fn set_signalled(&mut self, signalled: Option<SocketAddr>) {
        let hold = signalled.is_some_and(|a| a.ip().is_unspecified());
        if !hold {
            if signalled != self.last_active {
                self.state = State::Unlatched;
            }
            self.last_active = signalled;
        }
        self.signalled = signalled;
    }

    pub fn signalled(&self) -> Option<SocketAddr> {
        self.signalled
    }

    /// Judges a packet from `source` carrying `ssrc`.
    pub fn check(&self, source: SocketAddr, ssrc: u32) -> Verdict {
        match (self.mode, self.state) {
            (LatchMode::Off, _) => Verdict::Accept,
            (_, State::Unlatched) => Verdict::Latch,
            (_, State::Latched { addr, .. }) if addr == source => Verdict::Accept,
            (LatchMode::FollowSsrc, State::Latched { ssrc: latched, .. }) if latched == ssrc => {
                Verdict::Latch
            }
            _ => Verdict::Reject,
        }
    }

    /// Applies a `Verdict::Latch` after the packet proved genuine. Returns the new address
    /// when the send address moved.
    pub fn commit(&mut self, source: SocketAddr, ssrc: u32) -> Option<SocketAddr> {
        if self.mode == LatchMode::Off {
            return None;
        }
        let moved = self.latched() != Some(source);
        self.state = State::Latched { addr: source, ssrc };
        moved.then_some(source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_packet_latches_then_foreign_sources_are_rejected() {
        let mut l = Latch::new(LatchMode::Strict, Some(a("10.0.0.5:4000")));
        assert_eq!(l.destination(), Some(a("10.0.0.5:4000")));
        assert_eq!(l.check(a("203.0.113.9:31000"), 7), Verdict::Latch);
        assert_eq!(
            l.commit(a("203.0.113.9:31000"), 7),
            Some(a("203.0.113.9:31000"))
        );
        assert_eq!(l.destination(), Some(a("203.0.113.9:31000")));
        assert_eq!(l.check(a("203.0.113.9:31000"), 7), Verdict::Accept);
        assert_eq!(l.check(a("198.51.100.1:5000"), 7), Verdict::Reject);
    }

    #[test]
    fn follow_ssrc_moves_with_a_nat_rebinding_only() {
        let mut l = Latch::new(LatchMode::FollowSsrc, Some(a("10.0.0.5:4000")));
        l.commit(a("203.0.113.9:31000"), 7);
        assert_eq!(l.check(a("203.0.113.9:31002"), 7), Verdict::Latch);
        assert_eq!(l.check(a("198.51.100.1:5000"), 8), Verdict::Reject);
    }

    #[test]
    fn reinvite_to_a_new_address_unlatches_but_hold_does_not() {
        let mut l = Latch::new(LatchMode::Strict, Some(a("10.0.0.5:4000")));
        l.commit(a("203.0.113.9:31000"), 7);
        l.set_signalled(Some(a("0.0.0.0:4000")));
        assert_eq!(l.latched(), Some(a("203.0.113.9:31000")));
        l.set_signalled(Some(a("10.0.0.5:4000")));
        assert_eq!(
            l.latched(),
            Some(a("203.0.113.9:31000")),
            "resumed to the same address"
        );
        l.set_signalled(Some(a("10.0.0.6:4002")));
        assert_eq!(l.latched(), None);
        assert_eq!(l.destination(), Some(a("10.0.0.6:4002")));
        assert_eq!(l.check(a("198.51.100.1:5000"), 9), Verdict::Latch);
    }

    #[test]
    fn an_unspecified_address_sends_nowhere_until_latched() {
        let l = Latch::new(LatchMode::Strict, Some(a("0.0.0.0:4000")));
        assert_eq!(l.destination(), None);
    }
}
