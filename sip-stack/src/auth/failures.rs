//! Failed authentications per source address, for the caller's rate limiting (RFC 3261 §26.3.2
//! asks servers to resist guessing; the policy is the caller's). Bounded: when full, the entry
//! idle longest is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Counts failures per address within a sliding-reset window.
#[derive(Debug)]
pub struct FailedAttempts {
    entries: HashMap<IpAddr, Entry>,
    window: Duration,
    capacity: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    last: Instant,
}

impl FailedAttempts {
    /// A count is forgotten `window` after its last failure.
    pub fn new(window: Duration, capacity: usize) -> FailedAttempts {
        FailedAttempts {
            entries: HashMap::new(),
            window,
            capacity: capacity.max(1),
        }
    }

    /// Records one failure from `source`; returns the count now.
    pub fn record(&mut self, now: Instant, source: IpAddr) -> u32 {
        if !self.entries.contains_key(&source) && self.entries.len() >= self.capacity {
            self.purge(now);
            if self.entries.len() >= self.capacity {
                let idlest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(a, _)| *a);
                if let Some(a) = idlest {
                    self.entries.remove(&a);
                }
            }
        }
        let window = self.window;
        let e = self.entries.entry(source).or_insert(Entry {
            count: 0,
            last: now,
        });
        if now.saturating_duration_since(e.last) > window {
            e.count = 0;
        }
        e.count = e.count.saturating_add(1);
        e.last = now;
        e.count
    }

    /// Failures from `source` within the window.
    pub fn count(&self, now: Instant, source: IpAddr) -> u32 {
        self.entries
            .get(&source)
            .filter(|e| now.saturating_duration_since(e.last) <= self.window)
            .map_or(0, |e| e.count)
    }

    /// Forgets `source` (an operator's unblock).
    pub fn clear(&mut self, source: IpAddr) {
        self.entries.remove(&source);
    }

    /// Drops counts whose window has passed.
    pub fn purge(&mut self, now: Instant) {
        let window = self.window;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last) <= window);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
