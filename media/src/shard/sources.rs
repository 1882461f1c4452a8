//! The shard's plain RTP sources (Streaming mountpoints): found by the local address a
//! datagram arrived on, forwarded along the router's edges to viewers' WebRTC legs with no
//! plugin code per packet, and their last key frame replayed to each new viewer.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use str0m::media::Mid;

use super::{Local, Shard};
use crate::router::Edge;
use crate::source::Kept;
use crate::{LegId, RtpSource};

impl Shard {
    pub(super) fn add_source(&mut self, source: RtpSource) {
        let id = source.id();
        if self.legs.contains_key(&id) || self.rtp_legs.contains_key(&id) {
            tracing::warn!(leg = %id, "source not added: a leg has its id");
            return;
        }
        // Adding a source again replaces it, addresses included.
        self.remove(id);
        for addr in source.local_addrs() {
            if let Some(other) = self.by_local.insert(addr, Local::Source(id)) {
                tracing::warn!(leg = %id, "{addr} was {other:?}'s; it is now this source's");
            }
        }
        self.sources.insert(id, source);
        self.settle_source(id);
    }

    /// Forgets a source and the addresses that still point at it; false if there was none.
    pub(super) fn remove_source(&mut self, id: LegId) -> bool {
        let Some(source) = self.sources.remove(&id) else {
            return false;
        };
        for addr in source.local_addrs() {
            if self.by_local.get(&addr) == Some(&Local::Source(id)) {
                self.by_local.remove(&addr);
            }
        }
        true
    }

    /// Sources on this shard.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// A datagram on one of source `id`'s ports: on to every viewer of that stream.
    pub(super) fn source_datagram(
        &mut self,
        now: Instant,
        id: LegId,
        from: SocketAddr,
        local: SocketAddr,
        datagram: &[u8],
    ) {
        let Some(source) = self.sources.get_mut(&id) else {
            return;
        };
        if source.rtcp_datagram(local, from) {
            return;
        }
        if let Some((mid, binary)) = source.data_datagram(now, local, datagram) {
            self.settle_source(id);
            if !self.recorders.is_empty() {
                self.record_data(now, id, mid, datagram);
            }
            self.send_data_from_source(id, mid, binary, datagram);
            self.drive_pending(now);
            return;
        }
        let forwarded = source.handle_datagram(now, local, datagram);
        self.settle_source(id);
        if let Some((mid, kept)) = forwarded {
            self.forward_from_source(id, mid, &kept);
        }
        self.drive_pending(now);
    }

    /// Payloads of a source's files that are due.
    pub(super) fn play_source(&mut self, now: Instant, id: LegId) {
        while let Some((mid, kept)) = self.sources.get_mut(&id).and_then(|s| s.next_due(now)) {
            self.forward_from_source(id, mid, &kept);
        }
        self.settle_source(id);
        self.drive_pending(now);
    }

    /// One packet of stream `mid` of source `id` to every viewer's leg (polled after).
    fn forward_from_source(&mut self, id: LegId, mid: Mid, kept: &Kept) {
        let Some((clock, rid)) = self
            .sources
            .get(&id)
            .map(|s| (s.clock_of(mid), s.rid_of(mid)))
        else {
            return;
        };
        let fwd = kept.forward(clock);
        if !self.recorders.is_empty() {
            let rec = crate::RecordedRtp {
                ssrc: fwd.ssrc,
                // The low 16 bits are the wire's sequence number.
                seq: fwd.seq as u16,
                ts: fwd.ts,
                pt: *fwd.pt,
                marker: fwd.marker,
                payload: fwd.payload,
            };
            self.record(id, mid, None, fwd.at, &rec);
        }
        let mut failed = Vec::new();
        let mut keyframe = false;
        for edge in self.router.targets(id, mid) {
            let Some(target) = self.legs.get_mut(&edge.leg) else {
                continue;
            };
            // str0m is a dependency that may panic: only that viewer's leg fails. A
            // viewer waiting for a key frame gets the next one; the sender is asked for
            // it when it has an RTCP port.
            match catch_unwind(AssertUnwindSafe(|| target.write_rtp(edge.mid, rid, &fwd))) {
                Ok(need) => {
                    keyframe |= need.is_some();
                    self.pending.push(edge.leg);
                }
                Err(_) => failed.push(edge.leg),
            }
        }
        if keyframe {
            self.source_keyframe_request(id, mid, fwd.at);
        }
        self.after_fan_out(failed);
    }

    /// After a source's packet or message went to every viewer: a viewer fed by two
    /// streams of the source is polled once (no scan of the list per viewer: with hundreds
    /// of viewers that would cost more than the sends), and a viewer whose leg panicked
    /// fails alone.
    fn after_fan_out(&mut self, failed: Vec<LegId>) {
        self.pending.sort_unstable();
        self.pending.dedup();
        for leg in failed {
            self.pending.retain(|l| *l != leg);
            self.fail_leg(leg);
        }
    }

    /// One message of data stream `mid` of source `id` to every viewer's data channel.
    fn send_data_from_source(&mut self, id: LegId, mid: Mid, binary: bool, data: &[u8]) {
        let mut failed = Vec::new();
        for edge in self.router.targets(id, mid) {
            let Some(target) = self.legs.get_mut(&edge.leg) else {
                continue;
            };
            match catch_unwind(AssertUnwindSafe(|| target.send_data(None, binary, data))) {
                Ok(_) => self.pending.push(edge.leg),
                Err(_) => failed.push(edge.leg),
            }
        }
        self.after_fan_out(failed);
    }

    /// A new viewer of stream `mid` of source `id` starts with the source's last key frame
    /// (or, for a data stream that keeps it, its last message).
    pub(super) fn replay_keyframe(&mut self, now: Instant, id: LegId, mid: Mid, to: Edge) {
        let (Some(source), Some(target)) = (self.sources.get(&id), self.legs.get_mut(&to.leg))
        else {
            return;
        };
        if let Some((binary, data)) = source.last_data(mid) {
            if catch_unwind(AssertUnwindSafe(|| {
                target.send_data_when_open(binary, data)
            }))
            .is_err()
            {
                self.fail_leg(to.leg);
                return;
            }
            self.drive(to.leg, now);
            return;
        }
        let mut replayed = false;
        let mut failed = false;
        let rid = source.rid_of(mid);
        for fwd in source.keyframe(mid) {
            if catch_unwind(AssertUnwindSafe(|| target.write_rtp(to.mid, rid, &fwd))).is_err() {
                failed = true;
                break;
            }
            replayed = true;
        }
        if failed {
            self.fail_leg(to.leg);
            return;
        }
        if replayed {
            self.drive(to.leg, now);
        }
    }

    /// Asks the sender of source `id`'s stream `mid` for a key frame, if it can be asked.
    pub(super) fn source_keyframe_request(&mut self, id: LegId, mid: Mid, now: Instant) {
        if let Some(source) = self.sources.get_mut(&id) {
            self.source_rtcp.extend(source.keyframe_request(mid, now));
        }
    }

    /// After any input to a source: its reports go to the control plane, its timer into
    /// the deadline set.
    pub(super) fn settle_source(&mut self, id: LegId) {
        let Some(source) = self.sources.get_mut(&id) else {
            return;
        };
        source.drain_events(id, &mut self.events);
        match source.next_timeout() {
            Some(at) => self.set_deadline(id, at),
            None => self.clear_deadline(id),
        }
    }
}
