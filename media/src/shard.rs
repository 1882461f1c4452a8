//! The sans-IO core of one media shard: its legs, the demultiplexer that finds a datagram's
//! leg, the router between legs, and the timers. `bridge` owns the socket and the thread.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use str0m::media::Mid;
use str0m::net::Transmit;

use crate::leg::Routed;
use crate::{
    stun_local_ufrag, DatagramKind, Edge, LegId, MediaError, MediaEvent, MediaKind, Router,
    WebRtcLeg,
};

/// What the control plane asks of a shard.
pub enum MediaCommand {
    /// A negotiated leg joins the shard (built off-thread with `WebRtcLeg::new`).
    AddLeg(Box<WebRtcLeg>),
    /// A new offer on a leg that is already up (renegotiation, ICE restart): answered on
    /// the shard, since the leg lives there; `reply` gets the answer SDP.
    Renegotiate {
        leg: LegId,
        offer: String,
        reply: Box<dyn FnOnce(Result<String, MediaError>) + Send>,
    },
    /// Drops a leg; `close` sends DTLS close_notify first (a hangup) rather than vanishing.
    RemoveLeg {
        leg: LegId,
        close: bool,
    },
    /// Connects (or disconnects) every mid of `kind` on `from` to the mid of the same kind at
    /// the same position on `to`. EchoTest routes a leg to itself.
    Route {
        from: LegId,
        to: LegId,
        kind: MediaKind,
        enabled: bool,
    },
    AddRemoteCandidate {
        leg: LegId,
        candidate: String,
    },
    SendData {
        leg: LegId,
        label: Option<String>,
        binary: bool,
        data: Vec<u8>,
    },
    SetRembCap {
        leg: LegId,
        bps: Option<u64>,
    },
    RequestKeyframe {
        leg: LegId,
    },
}

pub struct Shard {
    legs: HashMap<LegId, WebRtcLeg>,
    by_ufrag: HashMap<String, LegId>,
    by_addr: HashMap<SocketAddr, LegId>,
    router: Router,
    deadlines: BTreeSet<(Instant, LegId)>,
    deadline_of: HashMap<LegId, Instant>,
    transmits: Vec<Transmit>,
    events: Vec<MediaEvent>,
    routed: Routed,
    pending: Vec<LegId>,
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
        }
    }

    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    pub fn handle_command(&mut self, now: Instant, command: MediaCommand) {
        match command {
            MediaCommand::AddLeg(leg) => {
                let id = leg.id();
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
                        self.router.connect(f, t);
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
                }
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

    fn remove(&mut self, leg: LegId) {
        if self.legs.remove(&leg).is_none() {
            return;
        }
        self.by_ufrag.retain(|_, l| *l != leg);
        self.by_addr.retain(|_, l| *l != leg);
        self.router.remove_leg(leg);
        if let Some(t) = self.deadline_of.remove(&leg) {
            self.deadlines.remove(&(t, leg));
        }
    }

    /// A datagram arrived on the shard's socket from `source`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let owner = match DatagramKind::of(datagram) {
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
        let Some(id) = owner else { return };
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
            if let Some(leg) = self.legs.get_mut(&id) {
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    leg.handle_timeout(now)
                }))
                .is_ok();
                if !ok {
                    self.fail_leg(id);
                    continue;
                }
                self.drive(id, now);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Datagrams to send; the I/O loop sends them in batches and clears the list.
    pub fn pending_transmits(&mut self) -> &mut Vec<Transmit> {
        &mut self.transmits
    }

    pub fn drain_events(&mut self) -> std::vec::Drain<'_, MediaEvent> {
        self.events.drain(..)
    }

    /// Polls `first` to its timeout and forwards what it produced along the router's edges,
    /// then polls each leg that was written to.
    fn drive(&mut self, first: LegId, now: Instant) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.push(first);
        while let Some(id) = pending.pop() {
            let Some(leg) = self.legs.get_mut(&id) else {
                continue;
            };
            let (transmits, events, routed) =
                (&mut self.transmits, &mut self.events, &mut self.routed);
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                leg.poll(now, transmits, events, routed)
            }));
            let Ok(deadline) = polled else {
                self.routed.rtp.clear();
                self.routed.keyframe_requests.clear();
                self.fail_leg(id);
                continue;
            };
            let closed = leg.is_closed();
            self.set_deadline(id, deadline);
            for (mid, pkt) in self.routed.rtp.drain(..) {
                for edge in self.router.targets(id, mid) {
                    if let Some(target) = self.legs.get_mut(&edge.leg) {
                        target.write_rtp(edge.mid, &pkt);
                        if !pending.contains(&edge.leg) {
                            pending.push(edge.leg);
                        }
                    }
                }
            }
            for (mid, kind) in self.routed.keyframe_requests.drain(..) {
                for edge in self.router.sources(id, mid) {
                    if let Some(source) = self.legs.get_mut(&edge.leg) {
                        source.request_keyframe(edge.mid, kind);
                        if !pending.contains(&edge.leg) {
                            pending.push(edge.leg);
                        }
                    }
                }
            }
            if closed {
                // Leave it in the table until the control plane removes it, but stop routing.
                self.router.remove_leg(id);
            }
        }
        self.pending = pending;
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
}
