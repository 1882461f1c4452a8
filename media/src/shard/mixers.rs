//! The shard's AudioBridge mixers: participants' audio packets go into their room's mixer
//! instead of along router edges, and each 20 ms tick's mixes go out on the participants'
//! legs, WebRTC or plain RTP.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::Shard;
use crate::leg::Forward;
use crate::mixer::{MixParticipant, Mixer, Outgoing};
use crate::rtp_leg::OutboundRtp;
use crate::{LegEvent, LegId, MediaEvent, MediaKind};

impl Shard {
    pub(super) fn add_mixer(&mut self, now: Instant, mixer: Mixer) {
        let id = mixer.id();
        if self.legs.contains_key(&id) || self.rtp_legs.contains_key(&id) {
            tracing::warn!(leg = %id, "mixer not added: a leg has its id");
            return;
        }
        self.remove_mixer(id);
        self.mixers.insert(id, mixer);
        self.settle_mixer(now, id);
    }

    /// Forgets a mixer and who was in it; false if there was none.
    pub(super) fn remove_mixer(&mut self, id: LegId) -> bool {
        if self.mixers.remove(&id).is_none() {
            return false;
        }
        self.mix_of.retain(|_, m| *m != id);
        true
    }

    /// Mixers on this shard.
    pub fn mixer_count(&self) -> usize {
        self.mixers.len()
    }

    pub(super) fn mix_in(&mut self, now: Instant, mixer: LegId, leg: LegId, p: MixParticipant) {
        if let Some(old) = self.mix_of.get(&leg).copied().filter(|m| *m != mixer) {
            if let Some(m) = self.mixers.get_mut(&old) {
                m.leave(leg);
            }
            self.settle_mixer(now, old);
        }
        let Some(m) = self.mixers.get_mut(&mixer) else {
            tracing::debug!(%mixer, %leg, "MixIn for an unknown mixer ignored");
            return;
        };
        match m.join(now, leg, p) {
            Ok(()) => {
                self.mix_of.insert(leg, mixer);
            }
            Err(e) => tracing::warn!(%mixer, %leg, "participant not mixed: {e}"),
        }
        self.settle_mixer(now, mixer);
    }

    pub(super) fn mix_out(&mut self, now: Instant, mixer: LegId, leg: LegId) {
        if let Some(m) = self.mixers.get_mut(&mixer) {
            m.leave(leg);
        }
        if self.mix_of.get(&leg) == Some(&mixer) {
            self.mix_of.remove(&leg);
        }
        self.settle_mixer(now, mixer);
    }

    /// A leg that goes leaves its mixer.
    pub(super) fn leave_mixer(&mut self, leg: LegId) {
        if let Some(mixer) = self.mix_of.remove(&leg) {
            if let Some(m) = self.mixers.get_mut(&mixer) {
                m.leave(leg);
            }
        }
    }

    /// An audio packet of a participant: into its mixer. False if the leg mixes nothing
    /// (the packet goes on as usual).
    pub(super) fn mix_packet(
        &mut self,
        leg: LegId,
        pt: u8,
        seq: u64,
        payload: &[u8],
        level: Option<i8>,
    ) -> bool {
        let Some(mixer) = self.mix_of.get(&leg) else {
            return false;
        };
        if let Some(m) = self.mixers.get_mut(mixer) {
            m.push(leg, pt, seq, payload, level);
        }
        true
    }

    /// Mixes the frames that are due and sends them.
    pub(super) fn tick_mixer(&mut self, now: Instant, id: LegId) {
        let Some(mixer) = self.mixers.get_mut(&id) else {
            return;
        };
        mixer.handle_timeout(now);
        self.forwarded.append(mixer.forwarded());
        let mut out = std::mem::take(&mut self.mix_out);
        out.extend(mixer.drain_outgoing());
        let mut failed = Vec::new();
        for o in &out {
            if o.rtp {
                self.send_mix_rtp(now, o);
                continue;
            }
            let Some(leg) = self.legs.get_mut(&o.leg) else {
                continue;
            };
            let Some(mid) = leg.first_mid(MediaKind::Audio) else {
                continue;
            };
            let fwd = Forward {
                ssrc: o.ssrc,
                seq: o.seq,
                ts: o.ts,
                clock: o.clock,
                pt: o.pt.into(),
                marker: o.marker,
                payload: &o.payload,
                ext: Default::default(),
                at: now,
            };
            // str0m is a dependency that may panic: only that participant's leg fails.
            match catch_unwind(AssertUnwindSafe(|| leg.write_rtp(mid, None, &fwd))) {
                Ok(_) => self.pending.push(o.leg),
                Err(_) => failed.push(o.leg),
            }
        }
        out.clear();
        self.mix_out = out;
        for leg in failed {
            self.pending.retain(|l| *l != leg);
            self.fail_leg(leg);
        }
        self.settle_mixer(now, id);
        self.drive_pending(now);
    }

    fn send_mix_rtp(&mut self, now: Instant, o: &Outgoing) {
        let Some(slot) = self.rtp_legs.get_mut(&o.leg) else {
            return;
        };
        let pkt = OutboundRtp {
            pt: o.pt,
            ssrc: o.ssrc,
            seq: o.seq as u16,
            ts: o.ts,
            marker: o.marker,
            payload: &o.payload,
        };
        if let Err(e) = slot.leg.write_rtp(now, MediaKind::Audio, &pkt) {
            tracing::trace!(leg = %o.leg, "mix not sent to the RTP participant: {e}");
        }
        self.settle_rtp(o.leg);
    }

    /// After any input to a mixer: its reports go to the control plane, its tick into the
    /// deadline set.
    pub(super) fn settle_mixer(&mut self, _now: Instant, id: LegId) {
        let Some(mixer) = self.mixers.get_mut(&id) else {
            return;
        };
        for event in mixer.drain_events() {
            self.events.push(MediaEvent {
                leg: id,
                event: LegEvent::Mixer(event),
            });
        }
        match mixer.next_timeout() {
            Some(at) => self.set_deadline(id, at),
            None => self.clear_deadline(id),
        }
    }
}
