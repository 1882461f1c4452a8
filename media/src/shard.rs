//! The sans-IO core of one media shard: its legs (WebRTC, and plain RTP toward SIP peers),
//! the demultiplexer that finds a datagram's leg, the router between legs, the WebRTC⇄RTP
//! bridges, and the timers. `bridge` owns the sockets and the thread.

#[cfg(test)]
mod bridge_tests;
mod mixers;
mod recordings;
mod rtp;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::Mid;
use str0m::net::Transmit;

use crate::bridge::Bridges;
use crate::forward::Datagrams;
use crate::leg::{Forward, KeyframeNeed, Routed};
use crate::{
    stun_local_ufrag, DatagramKind, Edge, Forwarder, LegId, MediaCommand, MediaError, MediaEvent,
    MediaKind, Router, RtpSource, WebRtcLeg,
};
use str0m::media::KeyframeRequestKind;

use crate::mixer::{Mixer, Outgoing};
use rtp::RtpSlot;

pub struct Shard {
    legs: HashMap<LegId, WebRtcLeg>,
    by_ufrag: HashMap<String, LegId>,
    by_addr: HashMap<SocketAddr, LegId>,
    router: Router,
    /// Timers of both kinds of leg (their ids do not collide).
    deadlines: BTreeSet<(Instant, LegId)>,
    deadline_of: HashMap<LegId, Instant>,
    transmits: Vec<Transmit>,
    events: Vec<MediaEvent>,
    routed: Routed,
    pending: Vec<LegId>,
    rtp_legs: HashMap<LegId, RtpSlot>,
    /// Who listens on a local address other than the main socket: an RTP leg (RTP and
    /// RTCP ports of its streams) or a source.
    by_local: HashMap<SocketAddr, Local>,
    /// Plain RTP sources (Streaming mountpoints).
    sources: HashMap<LegId, RtpSource>,
    /// RTP legs with queued datagrams, each once.
    rtp_dirty: Vec<LegId>,
    /// RTCP from sources' ports to their senders (key-frame requests): from, to, packet.
    source_rtcp: Vec<(SocketAddr, SocketAddr, [u8; 12])>,
    bridges: Bridges,
    /// Plain RTP copies of streams, by the (leg, mid) they copy.
    forwarders: HashMap<(LegId, Mid), Vec<Forwarder>>,
    /// What the forwarders (and the mixers' forwarders) send, out of the main socket.
    forwarded: Datagrams,
    /// AudioBridge rooms' mixers.
    mixers: HashMap<LegId, Mixer>,
    /// The mixer each mixed leg is in.
    mix_of: HashMap<LegId, LegId>,
    /// A tick's packets, kept for their capacity.
    mix_out: Vec<Outgoing>,
    /// Recordings, by the (leg or source, mid) they record.
    recorders: HashMap<(LegId, Mid), Vec<crate::Recorder>>,
    /// Recorded bytes waiting for the writer.
    recorded: Vec<crate::RecordChunk>,
}

/// The owner of a local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Rtp(LegId),
    Source(LegId),
}

impl Default for Shard {
    fn default() -> Self {
        Self::new()
    }
}

impl Shard {
    pub fn new() -> Self {
        Self {
            legs: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            router: Router::default(),
            deadlines: BTreeSet::new(),
            deadline_of: HashMap::new(),
            transmits: Vec::with_capacity(256),
            events: Vec::new(),
            routed: Routed::default(),
            pending: Vec::new(),
            rtp_legs: HashMap::new(),
            by_local: HashMap::new(),
            sources: HashMap::new(),
            rtp_dirty: Vec::new(),
            source_rtcp: Vec::new(),
            bridges: Bridges::default(),
            forwarders: HashMap::new(),
            forwarded: Datagrams::default(),
            mixers: HashMap::new(),
            mix_of: HashMap::new(),
            mix_out: Vec::new(),
            recorders: HashMap::new(),
            recorded: Vec::new(),
        }
    }

    /// WebRTC legs on this shard.
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Plain RTP legs on this shard.
    pub fn rtp_leg_count(&self) -> usize {
        self.rtp_legs.len()
    }

    pub fn handle_command(&mut self, now: Instant, command: MediaCommand) {
        match command {
            MediaCommand::AddLeg(leg) => {
                let id = leg.id();
                if self.rtp_legs.contains_key(&id) {
                    tracing::warn!(leg = %id, "WebRTC leg not added: an RTP leg has its id");
                    return;
                }
                self.by_ufrag.insert(leg.local_ufrag().to_owned(), id);
                self.legs.insert(id, *leg);
                self.drive(id, now);
            }
            MediaCommand::Renegotiate { leg, offer, reply } => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    reply(Err(MediaError::NoSuchLeg(leg)));
                    return;
                };
                let answer = l.accept_offer(&offer);
                let ufrag = l.local_ufrag().to_owned();
                self.by_ufrag.retain(|_, id| *id != leg);
                self.by_ufrag.insert(ufrag, leg);
                self.drive(leg, now);
                reply(answer);
            }
            MediaCommand::AcceptAnswer { leg, answer, reply } => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    reply(Err(MediaError::NoSuchLeg(leg)));
                    return;
                };
                let result = l.accept_answer(&answer);
                self.drive(leg, now);
                reply(result);
            }
            MediaCommand::RemoveLeg { leg, close } => {
                if close {
                    if let Some(l) = self.legs.get_mut(&leg) {
                        l.close();
                        // Flush the close_notify before the leg goes.
                        let _ = l.poll(
                            now,
                            &mut self.transmits,
                            &mut Vec::new(),
                            &mut Routed::default(),
                        );
                    }
                }
                self.remove(leg);
            }
            MediaCommand::Route {
                from,
                to,
                kind,
                enabled,
            } => {
                let (Some(src), Some(dst)) = (self.legs.get(&from), self.legs.get(&to)) else {
                    return;
                };
                let pairs: Vec<(Mid, Mid)> = src.mids(kind).zip(dst.mids(kind)).collect();
                for (a, b) in pairs {
                    let (f, t) = (Edge { leg: from, mid: a }, Edge { leg: to, mid: b });
                    if enabled {
                        if self.router.connect(f, t) {
                            if let Some(target) = self.legs.get_mut(&to) {
                                target.restart_forwarded(b);
                            }
                        }
                    } else {
                        self.router.disconnect(f, t);
                    }
                }
                if enabled && kind == MediaKind::Video {
                    if let Some(l) = self.legs.get_mut(&from) {
                        l.request_keyframes();
                        self.drive(from, now);
                    }
                }
            }
            MediaCommand::RouteMid {
                from,
                from_mid,
                to,
                to_mid,
                enabled,
            } => {
                let (f, t) = (
                    Edge {
                        leg: from,
                        mid: from_mid,
                    },
                    Edge {
                        leg: to,
                        mid: to_mid,
                    },
                );
                if !enabled {
                    self.router.disconnect(f, t);
                    return;
                }
                if self.router.connect(f, t) {
                    if let Some(target) = self.legs.get_mut(&to) {
                        target.restart_forwarded(to_mid);
                    }
                }
                if self.sources.contains_key(&from) {
                    self.replay_keyframe(now, from, from_mid, t);
                    self.source_keyframe_request(from, from_mid, now);
                    return;
                }
                if let Some(l) = self.legs.get_mut(&from) {
                    if l.kind_of(from_mid) == Some(MediaKind::Video) {
                        l.request_keyframe(from_mid, str0m::media::KeyframeRequestKind::Pli);
                        self.drive(from, now);
                    }
                }
            }
            MediaCommand::SelectLayer {
                leg,
                mid,
                rids,
                codec,
                want,
            } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.select_layer(mid, rids, codec, want);
                }
            }
            MediaCommand::SelectSvc { leg, mid, want } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.select_svc(mid, want);
                }
            }
            MediaCommand::SetPlayoutDelay { leg, mid, delay } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.set_playout_delay(mid, delay);
                }
            }
            MediaCommand::SetForwardPt {
                leg,
                mid,
                pt,
                keyframe_gate,
            } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.set_forward_pt(mid, pt.map(str0m::media::Pt::from));
                    l.set_keyframe_gate(mid, keyframe_gate);
                }
            }
            MediaCommand::Reoffer {
                leg,
                add,
                inactive,
                ice_restart,
                data,
                reply,
            } => {
                let Some(l) = self.legs.get_mut(&leg) else {
                    reply(Err(MediaError::NoSuchLeg(leg)));
                    return;
                };
                let offer = l.reoffer(&add, &inactive, ice_restart, data);
                // Checks may come with the old credentials or the new ones: both find the leg.
                self.by_ufrag.insert(l.local_ufrag().to_owned(), leg);
                self.drive(leg, now);
                reply(offer);
            }
            MediaCommand::WatchTalking {
                leg,
                packets,
                threshold,
            } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.watch_talking(packets, threshold);
                }
            }
            MediaCommand::AddForwarder {
                leg,
                mid,
                forwarder,
            } => {
                self.remove_forwarder(forwarder.id);
                if self.legs.contains_key(&leg) {
                    forwarder.latch(&mut self.forwarded);
                    self.forwarders
                        .entry((leg, mid))
                        .or_default()
                        .push(forwarder);
                }
            }
            MediaCommand::RemoveForwarder { id } => self.remove_forwarder(id),
            MediaCommand::Record { leg, mid, recorder } => {
                self.add_recorder(now, leg, mid, *recorder)
            }
            MediaCommand::StopRecord { id } => self.stop_recorder(id),
            MediaCommand::PauseRecord { id, paused } => self.pause_recorder(id, paused),
            MediaCommand::AddRemoteCandidate { leg, candidate } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    if let Err(e) = l.add_remote_candidate(&candidate) {
                        tracing::debug!(%leg, "trickled candidate ignored: {e}");
                    }
                    self.drive(leg, now);
                }
            }
            MediaCommand::SendData {
                leg,
                label,
                binary,
                data,
            } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.send_data(label.as_deref(), binary, &data);
                    self.drive(leg, now);
                }
            }
            MediaCommand::SetRembCap { leg, bps } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.set_remb_cap(bps);
                    self.drive(leg, now);
                }
            }
            MediaCommand::RequestKeyframe { leg } => {
                if let Some(l) = self.legs.get_mut(&leg) {
                    l.request_keyframes();
                    self.drive(leg, now);
                } else {
                    self.rtp_keyframe(now, leg);
                }
            }
            MediaCommand::AddRtpLeg(leg) => self.add_rtp_leg(*leg),
            MediaCommand::AddSource(source) => self.add_source(*source),
            MediaCommand::AddMixer(mixer) => self.add_mixer(now, *mixer),
            MediaCommand::MixIn {
                mixer,
                leg,
                participant,
            } => self.mix_in(now, mixer, leg, participant),
            MediaCommand::MixOut { mixer, leg } => self.mix_out(now, mixer, leg),
            MediaCommand::MixPlay {
                mixer,
                file,
                media,
                looped,
            } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    m.play(now, file, media, looped);
                }
                self.settle_mixer(now, mixer);
            }
            MediaCommand::MixRecord { mixer, on } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    m.record(now, on);
                }
                self.settle_mixer(now, mixer);
            }
            MediaCommand::MixForward { mixer, forward } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    m.forward(now, forward);
                }
                self.settle_mixer(now, mixer);
            }
            MediaCommand::MixStopForward { mixer, id } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    m.stop_forward(id);
                }
                self.settle_mixer(now, mixer);
            }
            MediaCommand::MixStop { mixer, file } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    m.stop(&file);
                }
                self.settle_mixer(now, mixer);
            }
            MediaCommand::RetargetRtp {
                leg,
                kind,
                remote_rtp,
                remote_rtcp,
            } => {
                let Some(slot) = self.rtp_legs.get_mut(&leg) else {
                    return;
                };
                if let Err(e) = slot.leg.set_remote(kind, remote_rtp, remote_rtcp) {
                    tracing::debug!(%leg, "RetargetRtp ignored: {e}");
                }
            }
            MediaCommand::ConfigureRtp {
                leg,
                kind,
                remote_rtp,
                remote_rtcp,
                pt_map,
                telephone_event,
                clock_rate,
                srtp,
            } => {
                let Some(slot) = self.rtp_legs.get_mut(&leg) else {
                    tracing::debug!(%leg, "ConfigureRtp for an unknown RTP leg ignored");
                    return;
                };
                let l = &mut slot.leg;
                let configured = l
                    .set_remote(kind, remote_rtp, remote_rtcp)
                    .and_then(|()| l.set_pt_map(kind, pt_map, telephone_event, clock_rate))
                    .and_then(|()| l.set_srtp(kind, srtp.map(|s| s as _)));
                if let Err(e) = configured {
                    tracing::debug!(%leg, "ConfigureRtp ignored: {e}");
                }
                self.settle_rtp(leg);
            }
            MediaCommand::Bridge {
                webrtc,
                rtp,
                enabled,
            } => self.set_bridge(now, webrtc, rtp, enabled),
            MediaCommand::SendDtmf {
                leg,
                digit,
                duration,
            } => {
                let Some(slot) = self.rtp_legs.get_mut(&leg) else {
                    tracing::debug!(%leg, "SendDtmf for an unknown RTP leg ignored");
                    return;
                };
                if let Err(e) = slot.leg.send_dtmf(now, digit, duration) {
                    tracing::debug!(%leg, "DTMF {digit:?} not sent: {e}");
                }
                self.settle_rtp(leg);
            }
        }
    }

    /// A leg whose str0m instance panicked: it is dropped and the control plane told, so
    /// the client gets a `hangup`.
    fn fail_leg(&mut self, id: LegId) {
        tracing::error!(leg = %id, "BUG: a WebRTC leg panicked; it is closed, the shard goes on");
        self.remove(id);
        self.events.push(MediaEvent {
            leg: id,
            event: crate::LegEvent::Closed {
                reason: "DTLS-SRTP stack error",
            },
        });
    }

    /// RTCP from the RTCP port of a forwarder's receiver: a PLI or FIR asks the publisher
    /// of the stream forwarded for a key frame (as a subscriber's request would be, at most
    /// one per interval). The request goes to the forwarder whose SSRC it names, or to all
    /// those latched to that port when it names none of them.
    fn forwarder_feedback(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Some(asked) = crate::rtp_leg::parse_compound(datagram, 0)
            .ok()
            .and_then(|s| s.keyframe_for)
        else {
            return;
        };
        let there: Vec<(LegId, Mid, u32)> = self
            .forwarders
            .iter()
            .flat_map(|(&(leg, mid), list)| {
                list.iter()
                    .filter(|f| f.rtcp == Some(from))
                    .map(move |f| (leg, mid, f.ssrc))
            })
            .collect();
        let named = there.iter().any(|&(_, _, ssrc)| ssrc == asked);
        for (leg, mid, ssrc) in there {
            if named && ssrc != asked {
                continue;
            }
            if let Some(l) = self.legs.get_mut(&leg) {
                tracing::debug!(%leg, %mid, %from, "key frame asked for by a forwarder's receiver");
                l.relay_keyframe_request(mid, KeyframeRequestKind::Pli, now);
                self.drive(leg, now);
            }
        }
    }

    fn remove_forwarder(&mut self, id: u32) {
        self.forwarders.retain(|_, list| {
            list.retain(|f| f.id != id);
            !list.is_empty()
        });
    }

    /// Plain RTP forwarders on this shard.
    pub fn forwarder_count(&self) -> usize {
        self.forwarders.values().map(Vec::len).sum()
    }

    /// Forgets a leg of either kind: its addresses, edges, bridge and timer.
    fn remove(&mut self, leg: LegId) {
        self.stop_recorders_of(leg);
        if !self.mix_of.is_empty() {
            self.leave_mixer(leg);
        }
        if self.remove_mixer(leg) {
            self.clear_deadline(leg);
            return;
        }
        if self.legs.remove(&leg).is_some() {
            self.forwarders.retain(|(l, _), _| *l != leg);
            self.by_ufrag.retain(|_, l| *l != leg);
            self.by_addr.retain(|_, l| *l != leg);
            self.router.remove_leg(leg);
        } else if self.remove_source(leg) {
            self.router.remove_leg(leg);
        } else if !self.remove_rtp_leg(leg) {
            return;
        }
        self.bridges.remove_leg(leg);
        self.clear_deadline(leg);
    }

    /// A datagram from `source` arrived on local address `destination`: an RTP leg's port
    /// (that leg takes it), else the main socket (STUN ufrag or 5-tuple finds the leg).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        match self.by_local.get(&destination) {
            Some(&Local::Rtp(rtp)) => {
                self.rtp_datagram(now, rtp, source, destination, datagram);
                return;
            }
            Some(&Local::Source(id)) => {
                self.source_datagram(now, id, source, destination, datagram);
                return;
            }
            None => {}
        }
        let kind = DatagramKind::of(datagram);
        let owner = match kind {
            DatagramKind::Stun => {
                let by_ufrag = stun_local_ufrag(datagram)
                    .and_then(|u| std::str::from_utf8(u).ok())
                    .and_then(|u| self.by_ufrag.get(u).copied());
                if let Some(leg) = by_ufrag {
                    // The peer's 5-tuple now points at this leg (ICE-lite learns it here).
                    if self.by_addr.get(&source) != Some(&leg) {
                        self.by_addr.insert(source, leg);
                    }
                }
                by_ufrag.or_else(|| self.by_addr.get(&source).copied())
            }
            DatagramKind::Dtls | DatagramKind::Rtp => self.by_addr.get(&source).copied(),
            DatagramKind::Unknown => None,
        };
        let Some(id) = owner else {
            if kind == DatagramKind::Rtp && !self.forwarders.is_empty() {
                self.forwarder_feedback(now, source, datagram);
            }
            return;
        };
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        // str0m is a dependency that may panic on input we did not foresee: the leg fails,
        // the shard and every other leg go on.
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            leg.handle_datagram(now, source, destination, datagram)
        }))
        .is_ok();
        if !ok {
            self.fail_leg(id);
            return;
        }
        self.drive(id, now);
    }

    /// Fires every leg timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.deadline_of.remove(&id);
            if id == recordings::FLUSH_TICK {
                self.flush_recorders(now);
            } else if let Some(leg) = self.legs.get_mut(&id) {
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    leg.handle_timeout(now)
                }))
                .is_ok();
                if !ok {
                    self.fail_leg(id);
                    continue;
                }
                self.drive(id, now);
            } else if let Some(slot) = self.rtp_legs.get_mut(&id) {
                slot.leg.handle_timeout(now);
                self.settle_rtp(id);
            } else if let Some(source) = self.sources.get_mut(&id) {
                source.handle_timeout(now);
                self.play_source(now, id);
            } else if self.mixers.contains_key(&id) {
                self.tick_mixer(now, id);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Datagrams of the WebRTC legs, all from the shard's main socket; the I/O loop sends
    /// them in batches and clears the list. RTP legs' go through [`Self::drain_rtp_transmits`].
    pub fn pending_transmits(&mut self) -> &mut Vec<Transmit> {
        &mut self.transmits
    }

    /// What the forwarders wrote since the last flush, for the main media socket too; the
    /// I/O loop sends them and clears the buffer (its memory is kept).
    pub fn forwarded_datagrams(&mut self) -> &mut Datagrams {
        &mut self.forwarded
    }

    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MediaEvent> {
        self.events.drain(..)
    }

    /// Polls `first` to its timeout and forwards what it produced along the router's edges
    /// and its bridge, then polls each leg that was written to.
    fn drive(&mut self, first: LegId, now: Instant) {
        self.pending.push(first);
        self.drive_pending(now);
    }

    /// Polls every leg on the pending list, and those they forward to, until none is left.
    fn drive_pending(&mut self, now: Instant) {
        let mut pending = std::mem::take(&mut self.pending);
        let mut routed = std::mem::take(&mut self.routed);
        while let Some(id) = pending.pop() {
            let Some(leg) = self.legs.get_mut(&id) else {
                continue;
            };
            leg.dequeue();
            let events_before = self.events.len();
            let (transmits, events) = (&mut self.transmits, &mut self.events);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                leg.poll(now, transmits, events, &mut routed)
            }));
            let Ok(deadline) = polled else {
                routed.rtp.clear();
                routed.keyframe_requests.clear();
                self.fail_leg(id);
                continue;
            };
            let closed = leg.is_closed();
            let reported = self.events.len() > events_before;
            if reported && (!self.recorders.is_empty() || !self.forwarders.is_empty()) {
                if let Some(mid) = leg.data_mid() {
                    self.leg_data_out(now, id, mid, events_before);
                }
            }
            let Some(leg) = self.legs.get(&id) else {
                continue;
            };
            let bridge = self.bridges.rtp_of(id).map(|rtp| {
                let mids = [MediaKind::Audio, MediaKind::Video].map(|k| (leg.first_mid(k), k));
                (rtp, mids)
            });
            let mixed = !self.mix_of.is_empty() && self.mix_of.contains_key(&id);
            let audio_mid = if mixed {
                self.legs
                    .get(&id)
                    .and_then(|l| l.first_mid(MediaKind::Audio))
            } else {
                None
            };
            self.set_deadline(id, deadline);
            let mut keyframes: Vec<(Mid, Option<str0m::media::Rid>)> = Vec::new();
            let mixed_mid = mixed.then_some(audio_mid).flatten();
            for (mid, rid, pkt) in routed.rtp.drain(..) {
                if Some(mid) == mixed_mid {
                    // A participant's audio goes into its room's mix, nowhere else.
                    let (pt, seq) = (*pkt.header.payload_type, *pkt.seq_no);
                    let level = pkt.header.ext_vals.audio_level;
                    self.mix_packet(id, pt, seq, &pkt.payload, level);
                    continue;
                }
                if let Some((rtp, mids)) = bridge {
                    if let Some(&(_, kind)) = mids.iter().find(|(m, _)| *m == Some(mid)) {
                        self.bridge_to_rtp(now, rtp, kind, &pkt);
                        if !self.recorders.is_empty() {
                            // A SIP call's recordings are keyed on its RTP leg.
                            let user = Mid::from(crate::rtp_leg::recorded_mid(kind, false));
                            self.record(rtp, user, None, pkt.timestamp, &recorded(&pkt));
                        }
                    }
                }
                if !self.recorders.is_empty() {
                    self.record(id, mid, rid, pkt.timestamp, &recorded(&pkt));
                }
                // No hashing per packet unless some stream is forwarded at all.
                let forwarded = (!self.forwarders.is_empty())
                    .then(|| self.forwarders.get_mut(&(id, mid)))
                    .flatten();
                if let Some(list) = forwarded {
                    for f in list {
                        if let Some(layer) = f.forward(rid, &pkt, &mut self.forwarded) {
                            if !keyframes.contains(&(mid, Some(layer))) {
                                keyframes.push((mid, Some(layer)));
                            }
                        }
                    }
                }
                let fwd = Forward::from(&pkt);
                for edge in self.router.targets(id, mid) {
                    if let Some(target) = self.legs.get_mut(&edge.leg) {
                        if let Some(KeyframeNeed(layer)) = target.write_rtp(edge.mid, rid, &fwd) {
                            if !keyframes.contains(&(mid, layer)) {
                                keyframes.push((mid, layer));
                            }
                        }
                        // A flag on the leg, not a scan of the list: with hundreds of
                        // subscribers a scan per edge would cost N² per packet.
                        if target.enqueue() {
                            pending.push(edge.leg);
                        }
                    }
                }
            }
            if !keyframes.is_empty() {
                if let Some(source) = self.legs.get_mut(&id) {
                    for (mid, layer) in keyframes {
                        match layer {
                            Some(rid) => source.request_layer_keyframe(mid, rid, now),
                            None => {
                                source.relay_keyframe_request(mid, KeyframeRequestKind::Pli, now)
                            }
                        }
                    }
                    if source.enqueue() {
                        pending.push(id);
                    }
                }
            }
            for (mid, kind) in routed.keyframe_requests.drain(..) {
                if let Some((rtp, mids)) = bridge {
                    // The browser cannot decode the SIP peer's video: the peer is asked.
                    if mids.contains(&(Some(mid), MediaKind::Video)) {
                        self.rtp_keyframe(now, rtp);
                    }
                }
                for edge in self.router.sources(id, mid) {
                    if let Some(source) = self.sources.get_mut(&edge.leg) {
                        self.source_rtcp
                            .extend(source.keyframe_request(edge.mid, now));
                        continue;
                    }
                    if let Some(source) = self.legs.get_mut(&edge.leg) {
                        source.relay_keyframe_request(edge.mid, kind, now);
                        if source.enqueue() {
                            pending.push(edge.leg);
                        }
                    }
                }
            }
            if closed {
                // Leave it in the table until the control plane removes it, but stop routing.
                self.router.remove_leg(id);
                self.bridges.remove_leg(id);
            }
        }
        self.pending = pending;
        self.routed = routed;
    }

    fn set_deadline(&mut self, id: LegId, at: Instant) {
        if let Some(old) = self.deadline_of.insert(id, at) {
            if old == at {
                return;
            }
            self.deadlines.remove(&(old, id));
        }
        self.deadlines.insert((at, id));
    }

    fn clear_deadline(&mut self, id: LegId) {
        if let Some(t) = self.deadline_of.remove(&id) {
            self.deadlines.remove(&(t, id));
        }
    }
}

/// What a recording keeps of a packet a WebRTC leg received.
fn recorded(pkt: &str0m::rtp::RtpPacket) -> crate::RecordedRtp<'_> {
    crate::RecordedRtp {
        ssrc: *pkt.header.ssrc,
        seq: pkt.header.sequence_number,
        ts: pkt.header.timestamp,
        pt: *pkt.header.payload_type,
        marker: pkt.header.marker,
        payload: &pkt.payload,
    }
}
