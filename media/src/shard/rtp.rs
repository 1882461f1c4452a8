//! The shard's plain RTP legs toward SIP peers: found by the local address a datagram
//! arrived on, bridged to a WebRTC leg without transcoding, their timers and events, and
//! their datagrams handed to the I/O loop straight from each leg's arena.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use str0m::media::{KeyframeRequestKind, Mid};
use str0m::rtp::RtpPacket;

use super::recordings::record_into;
use super::Shard;
use crate::rtp_leg::{OutboundRtp, RtpLeg};
use crate::{LegEvent, LegId, MediaEvent, MediaKind, RecordedRtp};

/// An RTP leg and whether it is on the shard's list of legs with datagrams to send.
pub(super) struct RtpSlot {
    pub leg: RtpLeg,
    queued: bool,
}

impl Shard {
    pub(super) fn add_rtp_leg(&mut self, leg: RtpLeg) {
        let id = leg.id();
        if self.legs.contains_key(&id) {
            tracing::warn!(leg = %id, "RTP leg not added: a WebRTC leg has its id");
            return;
        }
        // Adding a leg again replaces it, addresses included.
        self.remove(id);
        for addr in leg.local_addrs() {
            if let Some(other) = self.by_local.insert(addr, super::Local::Rtp(id)) {
                tracing::warn!(leg = %id, "{addr} was {other:?}'s; it is now this RTP leg's");
            }
        }
        self.rtp_legs.insert(id, RtpSlot { leg, queued: false });
        self.settle_rtp(id);
    }

    /// Forgets an RTP leg and the addresses that still point at it; false if there was none.
    /// Datagrams it had queued are dropped with it.
    pub(super) fn remove_rtp_leg(&mut self, id: LegId) -> bool {
        let Some(slot) = self.rtp_legs.remove(&id) else {
            return false;
        };
        for addr in slot.leg.local_addrs() {
            if self.by_local.get(&addr) == Some(&super::Local::Rtp(id)) {
                self.by_local.remove(&addr);
            }
        }
        true
    }

    pub(super) fn set_bridge(&mut self, now: Instant, webrtc: LegId, rtp: LegId, enabled: bool) {
        if !enabled {
            self.bridges.disconnect(webrtc, rtp);
            return;
        }
        let Some(slot) = self.rtp_legs.get(&rtp) else {
            tracing::debug!(leg = %rtp, "Bridge to an unknown RTP leg ignored");
            return;
        };
        let video = slot.leg.has_stream(MediaKind::Video);
        let Some(leg) = self.legs.get_mut(&webrtc) else {
            tracing::debug!(leg = %webrtc, "Bridge of an unknown WebRTC leg ignored");
            return;
        };
        self.bridges.connect(webrtc, rtp);
        if video {
            // The SIP peer can decode nothing before a key frame.
            leg.request_keyframes();
            self.drive(webrtc, now);
        }
    }

    /// A datagram that arrived on one of RTP leg `id`'s local addresses. Media goes on to
    /// the bridged WebRTC leg; what the leg rejects (malformed, foreign source, SRTP
    /// failure) is dropped here.
    pub(super) fn rtp_datagram(
        &mut self,
        now: Instant,
        id: LegId,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let Some(slot) = self.rtp_legs.get_mut(&id) else {
            return;
        };
        let target = self.bridges.webrtc_of(id);
        let mut written = None;
        let mut failed = None;
        let mixer = self.mix_of.get(&id).and_then(|m| self.mixers.get_mut(m));
        match slot.leg.handle_datagram(now, source, destination, datagram) {
            Ok(Some(pkt)) if mixer.is_some() => {
                // A participant of an AudioBridge room: its audio goes into the mix.
                if let Some(m) = mixer {
                    if pkt.kind == MediaKind::Audio {
                        m.push_rtp(id, pkt.pt, pkt.seq, pkt.payload);
                    }
                }
            }
            Ok(Some(pkt)) => {
                if !self.recorders.is_empty() {
                    let mid = Mid::from(crate::rtp_leg::recorded_mid(pkt.kind, true));
                    let rec = RecordedRtp {
                        // The call's own source: the peer's may change with a re-INVITE,
                        // the numbering below is continuous across it.
                        ssrc: id.0 as u32,
                        seq: pkt.seq,
                        ts: pkt.ts,
                        pt: pkt.pt,
                        marker: pkt.marker,
                        payload: pkt.payload,
                    };
                    let key = (id, mid);
                    record_into(
                        &mut self.recorders,
                        &mut self.recorded,
                        key,
                        None,
                        now,
                        &rec,
                    );
                }
                if let Some((w, leg)) = target.and_then(|w| Some((w, self.legs.get_mut(&w)?))) {
                    // str0m is a dependency that may panic: only that leg fails.
                    match catch_unwind(AssertUnwindSafe(|| leg.write_bridged_rtp(now, &pkt))) {
                        Ok(true) => written = Some(w),
                        Ok(false) => {}
                        Err(_) => failed = Some(w),
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::trace!(leg = %id, %source, "RTP datagram dropped: {e}"),
        }
        let keyframe = slot.leg.take_keyframe_request();
        self.settle_rtp(id);
        if let Some(w) = failed {
            self.fail_leg(w);
            return;
        }
        // The SIP peer cannot decode the browser's video: the browser is asked.
        let asked = keyframe
            .then(|| target.and_then(|w| Some((w, self.legs.get_mut(&w)?))))
            .flatten()
            .and_then(|(w, leg)| {
                let mid = leg.first_mid(MediaKind::Video)?;
                leg.relay_keyframe_request(mid, KeyframeRequestKind::Pli, now);
                Some(w)
            });
        if let Some(w) = written.or(asked) {
            self.drive(w, now);
        }
    }

    /// Asks the SIP peer of RTP leg `id` for a video key frame.
    pub(super) fn rtp_keyframe(&mut self, now: Instant, id: LegId) {
        if let Some(slot) = self.rtp_legs.get_mut(&id) {
            slot.leg.request_keyframe(now);
            self.settle_rtp(id);
        }
    }

    /// A packet from a WebRTC leg's first mid of `kind`, on to its bridged RTP leg.
    pub(super) fn bridge_to_rtp(
        &mut self,
        now: Instant,
        rtp: LegId,
        kind: MediaKind,
        pkt: &RtpPacket,
    ) {
        let Some(slot) = self.rtp_legs.get_mut(&rtp) else {
            return;
        };
        if !slot.leg.has_stream(kind) {
            return;
        }
        let out = OutboundRtp {
            pt: *pkt.header.payload_type,
            ssrc: *pkt.header.ssrc,
            seq: pkt.header.sequence_number,
            ts: pkt.header.timestamp,
            marker: pkt.header.marker,
            payload: &pkt.payload,
        };
        if let Err(e) = slot.leg.write_rtp(now, kind, &out) {
            tracing::trace!(leg = %rtp, "packet not bridged to SIP: {e}");
        }
        self.settle_rtp(rtp);
    }

    /// After any input to an RTP leg: its events go to the control plane, its datagrams on
    /// the send list, its timer into the deadline set.
    pub(super) fn settle_rtp(&mut self, id: LegId) {
        let Some(slot) = self.rtp_legs.get_mut(&id) else {
            return;
        };
        while let Some(event) = slot.leg.poll_event() {
            self.events.push(MediaEvent {
                leg: id,
                event: LegEvent::Rtp(event),
            });
        }
        if !slot.queued && slot.leg.pending_transmits() > 0 {
            slot.queued = true;
            self.rtp_dirty.push(id);
        }
        match slot.leg.next_timeout() {
            Some(at) => self.set_deadline(id, at),
            None => self.clear_deadline(id),
        }
    }

    /// Hands every datagram the RTP legs queued to `send(source, destination, bytes)`, then
    /// forgets them. `source` is the local address of the socket to send from (the leg's
    /// RTP or RTCP port). The bytes live in each leg's arena: nothing is allocated.
    pub fn drain_rtp_transmits(&mut self, mut send: impl FnMut(SocketAddr, SocketAddr, &[u8])) {
        for (from, to, packet) in self.source_rtcp.drain(..) {
            send(from, to, &packet);
        }
        for id in self.rtp_dirty.drain(..) {
            let Some(slot) = self.rtp_legs.get_mut(&id) else {
                continue;
            };
            for t in slot.leg.transmits() {
                send(t.source, t.destination, t.payload);
            }
            slot.leg.clear_transmits();
            slot.queued = false;
        }
    }

    /// Whether [`Self::drain_rtp_transmits`] has anything to send.
    pub fn has_rtp_transmits(&self) -> bool {
        !self.rtp_dirty.is_empty() || !self.source_rtcp.is_empty()
    }
}
