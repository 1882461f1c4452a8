//! The SIP plugin's plumbing in the core: its SIP goes to the shared endpoint, its plain
//! RTP legs are opened on the handle's media shard (ports bound here, on the control
//! plane), configured and bridged to the handle's WebRTC leg.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cardea_media::rtp_leg::{RtpLeg, RtpLegConfig, RtpLegEvent, RtpStreamConfig, SrtpSession};
use cardea_media::{LegId, MediaCommand, MediaKind};
use cardea_plugins::{Ctx, RtpConfig, RtpPorts, SipIn};

use super::Core;

/// RTP legs live beside WebRTC legs on the same shard under the handle id with this bit
/// set (Janus handle ids have 53 bits).
const RTP_LEG_BIT: u64 = 1 << 62;

pub fn rtp_leg_id(handle: u64) -> LegId {
    LegId(handle | RTP_LEG_BIT)
}

/// The handle an RTP leg belongs to, if `leg` is one.
pub fn handle_of_rtp_leg(leg: LegId) -> Option<u64> {
    (leg.0 & RTP_LEG_BIT != 0).then_some(leg.0 & !RTP_LEG_BIT)
}

/// An open RTP leg as the core tracks it (it outlives the handle until closed).
pub struct RtpLegState {
    pub shard: usize,
    pub locals: Vec<SocketAddr>,
}

impl Core {
    /// SIP for a handle from the endpoint.
    pub(super) fn on_sip(&mut self, handle: u64, event: SipIn) {
        if matches!(event, SipIn::DialIn { .. }) && !self.handles.contains_key(&handle) {
            self.attach_dial_in(handle);
        }
        let Some(plugin) = self.handles.get(&handle).map(|h| h.plugin) else {
            return;
        };
        let mut ctx = Ctx::default();
        self.plugins[plugin].incoming_sip(&mut ctx, handle, event);
        self.pending.extend(ctx.commands);
        self.run_deferred();
    }

    /// A call the dialplan sent to a room gets a handle of the AudioBridge that no session
    /// owns (session 0); it goes when the plugin releases the call.
    pub(super) fn attach_dial_in(&mut self, handle: u64) {
        let Some(plugin) = self
            .plugins
            .iter()
            .position(|p| p.info().package == "janus.plugin.audiobridge")
        else {
            return;
        };
        if let Err(e) = self.plugins[plugin].create_session(handle) {
            tracing::warn!(handle, "dial-in handle refused: {e}");
            return;
        }
        self.handles.insert(
            handle,
            super::session::Handle {
                session: 0,
                plugin,
                opaque_id: Some("dial-in".into()),
                created: std::time::Instant::now(),
                pc: None,
                trickles: 0,
                shard: None,
            },
        );
    }

    pub(super) fn send_sip(&mut self, handle: u64, out: cardea_plugins::SipOut) {
        let released = matches!(out, cardea_plugins::SipOut::ReleaseCall { .. });
        let dial_in = self.handles.get(&handle).is_some_and(|h| h.session == 0);
        match &self.sip {
            Some(link) => link.send(handle, out),
            None => tracing::debug!(handle, "SIP endpoint disabled: plugin SIP dropped"),
        }
        if released && dial_in {
            self.close_rtp(handle);
            self.handles.remove(&handle);
        }
    }

    /// Binds the RTP (and RTCP) ports of a handle's leg, places the leg on the handle's
    /// shard and tells the plugin.
    pub(super) fn open_rtp(&mut self, handle: u64, video: bool) {
        let result = self.bind_rtp_leg(handle, video);
        let Some(plugin) = self.handles.get(&handle).map(|h| h.plugin) else {
            self.close_rtp(handle);
            return;
        };
        let mut ctx = Ctx::default();
        self.plugins[plugin].rtp_opened(&mut ctx, handle, result);
        self.pending.extend(ctx.commands);
    }

    fn bind_rtp_leg(&mut self, handle: u64, video: bool) -> Result<RtpPorts, String> {
        self.close_rtp(handle);
        let shard = self.shard_for(handle);
        let ip = self.config.media.bind;
        let range = self.rtp_port_range;
        let mut sockets = Vec::new();
        let mut streams = Vec::new();
        let mut pairs = Vec::new();
        let kinds: &[MediaKind] = if video {
            &[MediaKind::Audio, MediaKind::Video]
        } else {
            &[MediaKind::Audio]
        };
        for kind in kinds {
            let (rtp, rtcp) = crate::net::bind_rtp_pair(ip, range)
                .map_err(|e| format!("no free RTP port pair in {}-{}: {e}", range.0, range.1))?;
            let rtp_addr = rtp.local_addr().map_err(|e| e.to_string())?;
            let rtcp_addr = rtcp.local_addr().map_err(|e| e.to_string())?;
            sockets.push(rtp);
            sockets.push(rtcp);
            pairs.push((rtp_addr, rtcp_addr));
            let (clock, pt_map) = match kind {
                MediaKind::Audio => (8000, Default::default()),
                MediaKind::Video => (90_000, Default::default()),
            };
            let mut stream = RtpStreamConfig::new(*kind, rtp_addr, pt_map, clock);
            stream.local_rtcp = Some(rtcp_addr);
            streams.push(stream);
        }
        let wall_clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let config = RtpLegConfig {
            wall_clock,
            ..RtpLegConfig::default()
        };
        let leg = RtpLeg::new(rtp_leg_id(handle), config, streams, Instant::now());
        let locals: Vec<SocketAddr> = pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
        if let Some(s) = self.shards.get(shard) {
            s.add_sockets(sockets);
        }
        self.media(shard, MediaCommand::AddRtpLeg(Box::new(leg)));
        self.rtp_legs.insert(handle, RtpLegState { shard, locals });
        // The address peers reach us at: the advertised one when bound to a wildcard.
        let advertised = if ip.is_unspecified() {
            self.config.advertised().first().copied().unwrap_or(ip)
        } else {
            ip
        };
        Ok(RtpPorts {
            ip: advertised,
            audio: pairs[0],
            video: pairs.get(1).copied(),
        })
    }

    pub(super) fn configure_rtp(&mut self, handle: u64, config: RtpConfig) {
        let Some(state) = self.rtp_legs.get(&handle) else {
            return;
        };
        let srtp = match &config.srtp {
            Some(keys) => match SrtpSession::new(&keys.local, &keys.remote) {
                Ok(s) => Some(Box::new(s) as _),
                Err(e) => {
                    tracing::warn!(handle, "SRTP keys refused: {e}");
                    None
                }
            },
            None => None,
        };
        let shard = state.shard;
        self.media(
            shard,
            MediaCommand::ConfigureRtp {
                leg: rtp_leg_id(handle),
                kind: config.kind,
                remote_rtp: config.remote_rtp,
                remote_rtcp: config.remote_rtcp,
                pt_map: config.pt_map,
                telephone_event: config.telephone_event,
                clock_rate: config.clock_rate,
                srtp,
            },
        );
    }

    pub(super) fn bridge_rtp(&mut self, handle: u64, enabled: bool) {
        let Some(state) = self.rtp_legs.get(&handle) else {
            return;
        };
        let shard = state.shard;
        self.media(
            shard,
            MediaCommand::Bridge {
                webrtc: LegId(handle),
                rtp: rtp_leg_id(handle),
                enabled,
            },
        );
    }

    pub(super) fn peer_keyframe(&mut self, handle: u64) {
        if let Some(state) = self.rtp_legs.get(&handle) {
            let leg = rtp_leg_id(handle);
            self.media(state.shard, MediaCommand::RequestKeyframe { leg });
        }
    }

    pub(super) fn send_dtmf(&mut self, handle: u64, digit: char, duration: Duration) {
        if let Some(state) = self.rtp_legs.get(&handle) {
            let shard = state.shard;
            self.media(
                shard,
                MediaCommand::SendDtmf {
                    leg: rtp_leg_id(handle),
                    digit,
                    duration,
                },
            );
        }
    }

    pub(super) fn close_rtp(&mut self, handle: u64) {
        let Some(state) = self.rtp_legs.remove(&handle) else {
            return;
        };
        // The shard ends the call's recordings with its leg.
        self.forget_recordings(cardea_plugins::RecordTarget::SipCall(handle));
        self.media(
            state.shard,
            MediaCommand::RemoveLeg {
                leg: rtp_leg_id(handle),
                close: false,
            },
        );
        if let Some(s) = self.shards.get(state.shard) {
            s.remove_sockets(state.locals);
        }
    }

    /// The SIP peer re-INVITEd with new addresses.
    pub(super) fn retarget_rtp(
        &mut self,
        handle: u64,
        kind: MediaKind,
        remote_rtp: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    ) {
        if let Some(state) = self.rtp_legs.get(&handle) {
            let shard = state.shard;
            self.media(
                shard,
                MediaCommand::RetargetRtp {
                    leg: rtp_leg_id(handle),
                    kind,
                    remote_rtp,
                    remote_rtcp,
                },
            );
        }
    }

    /// An event of a handle's RTP leg, for its plugin.
    pub(super) fn on_rtp_event(&mut self, handle: u64, event: RtpLegEvent) {
        let Some(plugin) = self.handles.get(&handle).map(|h| h.plugin) else {
            return;
        };
        let mut ctx = Ctx::default();
        self.plugins[plugin].rtp_event(&mut ctx, handle, event);
        self.pending.extend(ctx.commands);
        self.run_deferred();
    }

    /// RTP legs open (Admin API, leak checks).
    pub(super) fn rtp_leg_count(&self) -> usize {
        self.rtp_legs.len()
    }
}
