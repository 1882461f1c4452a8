//! Timer values (RFC 3261 §17.1.1.1, Table 4 in §A) and the retransmission back-off.

use std::time::{Duration, Instant};

/// The base timer values of the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms by default (§17.1.1.1).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Longest time a message stays in the network, 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// When an INVITE server transaction sends `100 Trying` if the TU has not answered (§17.2.1).
pub(crate) const TRYING_DELAY: Duration = Duration::from_millis(200);

impl Timers {
    /// 64·T1: timers B, F, H, J (§17) and L, M (RFC 6026 §8.4, §8.6).
    pub(crate) fn transaction_timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones (§17.1.1.2).
    /// It is kept at 64·T1 when that is longer so that it outlives the server's timer H.
    pub(crate) fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.transaction_timeout())
        }
    }

    /// Timer J: 64·T1 on unreliable transports, zero on reliable ones (§17.2.2).
    pub(crate) fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.transaction_timeout()
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones (§17.2.1, §17.1.2.2).
    pub(crate) fn timer_i_k(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }

    /// The first retransmission (timers A, E, G): T1 on unreliable transports, none on
    /// reliable ones.
    pub(crate) fn first_retransmit(&self, now: Instant, reliable: bool) -> Option<Retransmit> {
        (!reliable).then(|| Retransmit::new(now, self.t1))
    }
}

/// A retransmission timer: when it fires next and the interval that led there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub at: Instant,
    pub interval: Duration,
}

/// An interval never shorter than this, so a zero T1 cannot spin the timer loop.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl Retransmit {
    pub fn new(now: Instant, interval: Duration) -> Retransmit {
        let interval = interval.max(MIN_INTERVAL);
        Retransmit {
            at: now + interval,
            interval,
        }
    }

    /// The next firing after one at `now`: the interval doubles, up to `cap` when given
    /// (timer A has no cap; E and G stop at T2).
    pub fn backoff(self, now: Instant, cap: Option<Duration>) -> Retransmit {
        let doubled = self.interval * 2;
        let interval = cap.map_or(doubled, |c| doubled.min(c));
        Retransmit::new(now, interval)
    }

    /// The next firing at a fixed interval (timer E in Proceeding fires every T2).
    pub fn fixed(now: Instant, interval: Duration) -> Retransmit {
        Retransmit::new(now, interval)
    }
}

/// The earliest of some optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_at_the_cap() {
        let t0 = Instant::now();
        let t = Timers::default();
        let a = t.first_retransmit(t0, false).unwrap();
        assert_eq!(a.at, t0 + t.t1);
        let mut e = a;
        let mut seen = Vec::new();
        for _ in 0..5 {
            e = e.backoff(e.at, Some(t.t2));
            seen.push(e.interval.as_millis());
        }
        assert_eq!(seen, [1000, 2000, 4000, 4000, 4000]);
        assert_eq!(a.backoff(a.at, None).backoff(t0, None).interval, t.t1 * 4);
    }

    #[test]
    fn reliable_transports_get_no_retransmit_and_zero_waits() {
        let t = Timers::default();
        assert!(t.first_retransmit(Instant::now(), true).is_none());
        assert!(t.timer_d(true).is_zero() && t.timer_j(true).is_zero());
        assert!(t.timer_i_k(true).is_zero());
        assert_eq!(t.timer_d(false), Duration::from_secs(32));
    }

    #[test]
    fn zero_t1_cannot_spin_the_timer_loop() {
        let t0 = Instant::now();
        assert!(Retransmit::new(t0, Duration::ZERO).at > t0);
    }
}
