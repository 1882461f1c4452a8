//! Forwarding tables: which (leg, mid) feeds which (leg, mid). Plugins set edges through
//! `MediaCommand`s; the shard walks them per packet without asking plugin code.

use std::collections::HashMap;

use str0m::media::Mid;

use crate::LegId;

/// Where a packet goes: a leg and the mid it leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub leg: LegId,
    pub mid: Mid,
}

/// The edges of one shard, both ways: forward for media, backward for feedback (PLI/FIR
/// from a receiver goes back to whoever feeds it).
#[derive(Debug, Default)]
pub struct Router {
    forward: HashMap<(LegId, Mid), Vec<Edge>>,
    backward: HashMap<(LegId, Mid), Vec<Edge>>,
}

impl Router {
    /// Connects `from` to `to`; true if they were not connected already.
    pub fn connect(&mut self, from: Edge, to: Edge) -> bool {
        let targets = self.forward.entry((from.leg, from.mid)).or_default();
        let new = !targets.contains(&to);
        if new {
            targets.push(to);
        }
        let sources = self.backward.entry((to.leg, to.mid)).or_default();
        if !sources.contains(&from) {
            sources.push(from);
        }
        new
    }

    pub fn disconnect(&mut self, from: Edge, to: Edge) {
        if let Some(targets) = self.forward.get_mut(&(from.leg, from.mid)) {
            targets.retain(|e| *e != to);
        }
        if let Some(sources) = self.backward.get_mut(&(to.leg, to.mid)) {
            sources.retain(|e| *e != from);
        }
    }

    /// Removes every edge that starts or ends at `leg`.
    pub fn remove_leg(&mut self, leg: LegId) {
        self.forward.retain(|(l, _), _| *l != leg);
        self.backward.retain(|(l, _), _| *l != leg);
        for targets in self.forward.values_mut() {
            targets.retain(|e| e.leg != leg);
        }
        for sources in self.backward.values_mut() {
            sources.retain(|e| e.leg != leg);
        }
    }

    /// Where media arriving on (leg, mid) goes.
    pub fn targets(&self, leg: LegId, mid: Mid) -> &[Edge] {
        self.forward.get(&(leg, mid)).map_or(&[], Vec::as_slice)
    }

    /// Who feeds (leg, mid): where its feedback goes.
    pub fn sources(&self, leg: LegId, mid: Mid) -> &[Edge] {
        self.backward.get(&(leg, mid)).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(leg: u64, mid: &str) -> Edge {
        Edge {
            leg: LegId(leg),
            mid: Mid::from(mid),
        }
    }

    #[test]
    fn fan_out_and_feedback_follow_the_edges() {
        let mut r = Router::default();
        assert!(r.connect(e(1, "0"), e(2, "a")));
        assert!(r.connect(e(1, "0"), e(3, "b")));
        assert!(!r.connect(e(1, "0"), e(3, "b")), "already connected");
        assert_eq!(r.targets(LegId(1), Mid::from("0")), &[e(2, "a"), e(3, "b")]);
        assert_eq!(r.sources(LegId(3), Mid::from("b")), &[e(1, "0")]);
        r.remove_leg(LegId(2));
        assert_eq!(r.targets(LegId(1), Mid::from("0")), &[e(3, "b")]);
        r.disconnect(e(1, "0"), e(3, "b"));
        assert!(r.targets(LegId(1), Mid::from("0")).is_empty());
        assert!(r.sources(LegId(3), Mid::from("b")).is_empty());
    }
}
