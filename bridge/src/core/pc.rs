//! The WebRTC side of handles: running plugin commands against the media shards, and
//! turning shard events into Janus events (`webrtcup`, `media`, `hangup`).

use std::time::Instant;

use cardea_media::{LegEvent, LegId, MediaCommand, MediaEvent, Mid, Rid, VideoCodec, WebRtcLeg};
use cardea_plugins::{Command, Ctx, JsepAction};
use serde_json::{json, Map, Value};

use super::Core;

impl Core {
    /// Runs queued plugin commands in order (a command may queue more).
    pub(super) fn run_deferred(&mut self) {
        while let Some(command) = self.pending.pop_front() {
            self.run_command(command);
        }
        self.flush_outbox();
    }

    pub(super) fn run_command(&mut self, command: Command) {
        match command {
            Command::PushEvent {
                handle,
                transaction,
                data,
                jsep,
            } => self.push_plugin_event(handle, transaction, data, jsep),
            Command::Route {
                from,
                to,
                kind,
                enabled,
            } => {
                let shard = self.shard_for(from);
                self.media(
                    shard,
                    MediaCommand::Route {
                        from: LegId(from),
                        to: LegId(to),
                        kind,
                        enabled,
                    },
                );
            }
            Command::RouteMid {
                from,
                from_mid,
                to,
                to_mid,
                enabled,
            } => {
                let shard = self.shard_for(from);
                if shard != self.shard_for(to) {
                    tracing::warn!(from, to, "no route between handles on different shards");
                    return;
                }
                self.media(
                    shard,
                    MediaCommand::RouteMid {
                        from: LegId(from),
                        from_mid: Mid::from(from_mid.as_str()),
                        to: LegId(to),
                        to_mid: Mid::from(to_mid.as_str()),
                        enabled,
                    },
                );
            }
            Command::SelectLayer {
                handle,
                mid,
                rids,
                codec,
                substream,
                temporal,
                fallback,
            } => {
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SelectLayer {
                        leg: LegId(handle),
                        mid: Mid::from(mid.as_str()),
                        rids: rids.iter().map(|r| Rid::from(r.as_str())).collect(),
                        codec: VideoCodec::from_name(&codec),
                        want: cardea_media::LayerWant {
                            substream,
                            temporal,
                            fallback: fallback.unwrap_or(cardea_media::DEFAULT_FALLBACK),
                        },
                    },
                );
            }
            Command::SelectSvc {
                handle,
                mid,
                spatial,
                temporal,
                fallback,
            } => {
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SelectSvc {
                        leg: LegId(handle),
                        mid: Mid::from(mid.as_str()),
                        want: Some(cardea_media::SvcWant {
                            spatial,
                            temporal,
                            fallback: fallback.unwrap_or(cardea_media::DEFAULT_FALLBACK),
                        }),
                    },
                );
            }
            Command::PlayoutDelay { handle, mid, delay } => {
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SetPlayoutDelay {
                        leg: LegId(handle),
                        mid: Mid::from(mid.as_str()),
                        delay,
                    },
                );
            }
            Command::ForwardPt {
                handle,
                mid,
                pt,
                codec,
            } => {
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SetForwardPt {
                        leg: LegId(handle),
                        mid: Mid::from(mid.as_str()),
                        pt,
                        keyframe_gate: codec.as_deref().map(VideoCodec::from_name),
                    },
                );
            }
            Command::WatchTalking {
                handle,
                packets,
                threshold,
            } => {
                self.media(
                    self.shard_for(handle),
                    MediaCommand::WatchTalking {
                        leg: LegId(handle),
                        packets,
                        threshold,
                    },
                );
            }
            Command::ForwardRtp {
                handle,
                mid,
                id,
                destination,
                pt,
                ssrc,
                rid,
                srtp,
                rtcp,
                switching,
            } => {
                let switching = switching.map(|s| {
                    let rids = s.rids.iter().map(|r| Rid::from(r.as_str())).collect();
                    let codec = cardea_media::VideoCodec::from_name(&s.codec);
                    Box::new(cardea_media::Switching::new(rids, codec))
                });
                let srtp = match srtp
                    .as_ref()
                    .map(cardea_media::ForwardSrtp::new)
                    .transpose()
                {
                    Ok(srtp) => srtp,
                    Err(e) => {
                        tracing::warn!(handle, forwarder = id, "forwarder SRTP failed: {e}");
                        return;
                    }
                };
                let forwarder = cardea_media::Forwarder {
                    id,
                    destination,
                    pt,
                    ssrc,
                    rid: rid.as_deref().map(Rid::from),
                    srtp,
                    rtcp,
                    switching,
                };
                self.media(
                    self.shard_for(handle),
                    MediaCommand::AddForwarder {
                        leg: LegId(handle),
                        mid: Mid::from(mid.as_str()),
                        forwarder,
                    },
                );
            }
            Command::StopForward { handle, id } => {
                self.media(self.shard_for(handle), MediaCommand::RemoveForwarder { id });
            }
            Command::PinShard { handle, key } => {
                let shard = cardea_plugins::pinned_shard(key, self.shards.len());
                if let Some(h) = self.handles.get_mut(&handle) {
                    h.shard = Some(shard);
                }
            }
            Command::SetBitrateCap { handle, bps } => {
                let leg = LegId(handle);
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SetRembCap { leg, bps },
                );
            }
            Command::RequestKeyframe { handle } => {
                let leg = LegId(handle);
                self.media(
                    self.shard_for(handle),
                    MediaCommand::RequestKeyframe { leg },
                );
            }
            Command::RequestPeerKeyframe { handle } => self.peer_keyframe(handle),
            Command::SendData {
                handle,
                label,
                binary,
                data,
            } => {
                let leg = LegId(handle);
                self.media(
                    self.shard_for(handle),
                    MediaCommand::SendData {
                        leg,
                        label,
                        binary,
                        data,
                    },
                );
            }
            Command::ClosePc { handle } => self.hangup_pc(handle, "Close PC"),
            Command::Sip { handle, out } => self.send_sip(handle, out),
            Command::OpenRtp { handle, video } => self.open_rtp(handle, video),
            Command::AttachSipHandle { handle } => {
                if self.handles.contains_key(&handle) {
                    tracing::warn!(handle, "SIP handle not attached: the id is taken");
                } else {
                    self.attach_dial_in(handle);
                }
            }
            Command::ConfigureRtp { handle, config } => self.configure_rtp(handle, config),
            Command::RetargetRtp {
                handle,
                kind,
                remote_rtp,
                remote_rtcp,
            } => self.retarget_rtp(handle, kind, remote_rtp, remote_rtcp),
            Command::BridgeRtp { handle, enabled } => self.bridge_rtp(handle, enabled),
            Command::SendDtmf {
                handle,
                digit,
                duration,
            } => self.send_dtmf(handle, digit, duration),
            Command::CloseRtp { handle } => self.close_rtp(handle),
            Command::AcceptAnswer { handle, answer } => self.accept_answer(handle, answer),
            Command::OpenSource {
                source,
                key,
                streams,
            } => self.open_source(source, key, streams),
            Command::CloseSource { source } => self.close_source(source),
            Command::OpenRtsp { source, spec } => self.open_rtsp(source, spec),
            Command::CloseRtsp { source } => {
                if let Some(task) = self.rtsp.remove(&source) {
                    task.abort();
                }
            }
            Command::RouteSource {
                source,
                mid,
                to,
                to_mid,
                enabled,
            } => self.route_source(source, mid, to, to_mid, enabled),
            Command::MediaState {
                handle,
                mid,
                kind,
                receiving,
            } => self.media_state(handle, mid, kind, receiving),
            c @ (Command::OpenMixer { .. }
            | Command::CloseMixer { .. }
            | Command::MixIn { .. }
            | Command::MixOut { .. }
            | Command::MixPlayFile { .. }
            | Command::MixStopFile { .. }
            | Command::MixForward { .. }
            | Command::MixRecord { .. }
            | Command::MixStopForward { .. }) => self.mixer_command(c),
            Command::Record { target, mid, spec } => self.record(target, mid, spec),
            Command::StopRecord { target, mid } => self.stop_record(target, mid),
            Command::PauseRecord {
                target,
                mid,
                paused,
            } => self.pause_record(target, mid, paused),
        }
    }

    fn push_plugin_event(
        &mut self,
        hid: u64,
        transaction: Option<String>,
        data: Value,
        jsep: Option<JsepAction>,
    ) {
        let Some(handle) = self.handles.get(&hid) else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        let package = self.plugins[plugin].info().package;
        let mut event = Map::new();
        event.insert("janus".into(), "event".into());
        event.insert("session_id".into(), sid.into());
        event.insert("sender".into(), hid.into());
        if let Some(t) = &transaction {
            event.insert("transaction".into(), t.clone().into());
        }
        let mut data = data;
        if let Some(JsepAction::Reoffer(change)) = jsep {
            self.reoffer(hid, transaction, event, data, change);
            return;
        }
        if let Some(JsepAction::Offer {
            media,
            later,
            data: with_data,
        }) = &jsep
        {
            match self.make_offer(hid, media, later, *with_data) {
                Ok(offer) => {
                    let mids = offer_mids(&offer);
                    self.plugins[plugin].offered(hid, &mids, &mut data);
                    event.insert("jsep".into(), json!({ "type": "offer", "sdp": offer }));
                }
                Err(e) => {
                    tracing::warn!(handle = hid, "offer failed: {e}");
                    let mut ctx = Ctx::default();
                    self.plugins[plugin].jsep_error(&mut ctx, hid, transaction, &e.to_string());
                    self.pending.extend(ctx.commands);
                    return;
                }
            }
        }
        event.insert(
            "plugindata".into(),
            json!({ "plugin": package, "data": data }),
        );
        if let Some(JsepAction::AnswerOffer { offer }) = jsep {
            if self.has_live_pc(hid) {
                // Renegotiation: the leg answers on its shard; the event leaves when the
                // answer comes back (CoreInput::Renegotiated).
                self.renegotiate(hid, transaction, event, offer);
                return;
            }
            match self.negotiate(hid, &offer) {
                Ok(answer) => {
                    event.insert("jsep".into(), json!({ "type": "answer", "sdp": answer }));
                }
                Err(e) => {
                    tracing::warn!(handle = hid, "negotiation failed: {e}");
                    let mut ctx = Ctx::default();
                    self.plugins[plugin].jsep_error(&mut ctx, hid, transaction, &e.to_string());
                    self.pending.extend(ctx.commands);
                    return;
                }
            }
        }
        self.push(sid, Value::Object(event));
    }

    fn has_live_pc(&self, hid: u64) -> bool {
        self.handles
            .get(&hid)
            .and_then(|h| h.pc.as_ref())
            .is_some_and(|pc| pc.local_sdp.is_some())
    }

    fn renegotiate(
        &mut self,
        hid: u64,
        transaction: Option<String>,
        event: Map<String, Value>,
        offer: String,
    ) {
        let Some(core) = self.self_tx.clone() else {
            return;
        };
        let shard = self.shard_for(hid);
        let remote = offer.clone();
        self.media(
            shard,
            MediaCommand::Renegotiate {
                leg: LegId(hid),
                offer,
                reply: Box::new(move |result| {
                    let _ = core.send(super::CoreInput::Renegotiated {
                        handle: hid,
                        transaction,
                        event,
                        offer: remote,
                        result: result.map_err(|e| e.to_string()),
                    });
                }),
            },
        );
    }

    /// The shard answered a renegotiation: send the plugin's event with the answer.
    pub(super) fn on_renegotiated(
        &mut self,
        hid: u64,
        transaction: Option<String>,
        mut event: Map<String, Value>,
        offer: String,
        result: Result<String, String>,
    ) {
        let Some(handle) = self.handles.get_mut(&hid) else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        match result {
            Ok(answer) => {
                if let Some(pc) = handle.pc.as_mut() {
                    pc.local_sdp = Some(answer.clone());
                    pc.remote_sdp = Some(offer);
                }
                event.insert("jsep".into(), json!({ "type": "answer", "sdp": answer }));
                self.push(sid, Value::Object(event));
            }
            Err(e) => {
                tracing::warn!(handle = hid, "renegotiation failed: {e}");
                let mut ctx = Ctx::default();
                self.plugins[plugin].jsep_error(&mut ctx, hid, transaction, &e);
                self.pending.extend(ctx.commands);
            }
        }
        self.run_deferred();
    }

    /// Builds the handle's WebRTC leg from the client's offer and places it on its shard.
    fn negotiate(&mut self, hid: u64, offer: &str) -> Result<String, cardea_media::MediaError> {
        let shard = self.shard_for(hid);
        let mut config = self
            .leg_config(shard)
            .ok_or(cardea_media::MediaError::NoSuchLeg(LegId(hid)))?
            .clone();
        config.slowlink_threshold = self.slowlink_threshold;
        let mut leg = WebRtcLeg::new(LegId(hid), &config, Instant::now());
        let answer = leg.accept_offer(offer)?;
        self.media(shard, MediaCommand::AddLeg(Box::new(leg)));
        if let Some(h) = self.handles.get_mut(&hid) {
            let pc = h.pc.get_or_insert_with(Default::default);
            pc.shard = shard;
            pc.local_sdp = Some(answer.clone());
            pc.remote_sdp = Some(offer.to_owned());
            pc.webrtc_up = false;
        }
        Ok(answer)
    }

    /// Builds the handle's WebRTC leg as offerer (a SIP peer calls the browser) and places
    /// it on its shard; the browser's answer comes with [`Core::accept_answer`].
    fn make_offer(
        &mut self,
        hid: u64,
        media: &[cardea_media::OfferMedia],
        later: &[cardea_media::OfferMedia],
        data: bool,
    ) -> Result<String, cardea_media::MediaError> {
        // A previous PeerConnection of the handle goes first.
        self.drop_pc(hid, None);
        let shard = self.shard_for(hid);
        let mut config = self
            .leg_config(shard)
            .ok_or(cardea_media::MediaError::NoSuchLeg(LegId(hid)))?
            .clone();
        config.slowlink_threshold = self.slowlink_threshold;
        let (leg, offer) =
            WebRtcLeg::new_offer(LegId(hid), &config, Instant::now(), media, later, data)?;
        self.media(shard, MediaCommand::AddLeg(Box::new(leg)));
        if let Some(h) = self.handles.get_mut(&hid) {
            let pc = h.pc.get_or_insert_with(Default::default);
            pc.shard = shard;
            pc.local_sdp = Some(offer.clone());
            pc.remote_sdp = None;
            pc.webrtc_up = false;
        }
        Ok(offer)
    }

    /// A new offer on the handle's live leg, made on its shard; the plugin's event leaves
    /// with it when it comes back ([`Core::on_reoffered`]).
    fn reoffer(
        &mut self,
        hid: u64,
        transaction: Option<String>,
        event: Map<String, Value>,
        data: Value,
        change: cardea_plugins::Reoffer,
    ) {
        let Some(core) = self.self_tx.clone() else {
            return;
        };
        if self.handles.get(&hid).is_none_or(|h| h.pc.is_none()) {
            let result = Err("no PeerConnection to renegotiate".to_owned());
            self.on_reoffered(hid, transaction, event, data, result);
            return;
        }
        let inactive = change
            .inactive
            .iter()
            .map(|m| Mid::from(m.as_str()))
            .collect();
        self.media(
            self.shard_for(hid),
            MediaCommand::Reoffer {
                leg: LegId(hid),
                add: change.add,
                inactive,
                ice_restart: change.ice_restart,
                data: change.data,
                reply: Box::new(move |result| {
                    let _ = core.send(super::CoreInput::Reoffered {
                        handle: hid,
                        transaction,
                        event,
                        data,
                        result: result.map_err(|e| e.to_string()),
                    });
                }),
            },
        );
    }

    /// The shard made the new offer: the plugin learns its mids, the event leaves with it.
    pub(super) fn on_reoffered(
        &mut self,
        hid: u64,
        transaction: Option<String>,
        mut event: Map<String, Value>,
        mut data: Value,
        result: Result<String, String>,
    ) {
        let Some(handle) = self.handles.get_mut(&hid) else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        match result {
            Ok(offer) => {
                if let Some(pc) = handle.pc.as_mut() {
                    // Our offer now awaits the browser's answer.
                    pc.local_sdp = Some(offer.clone());
                    pc.remote_sdp = None;
                }
                let mids = offer_mids(&offer);
                self.plugins[plugin].offered(hid, &mids, &mut data);
                let package = self.plugins[plugin].info().package;
                event.insert(
                    "plugindata".into(),
                    json!({ "plugin": package, "data": data }),
                );
                event.insert("jsep".into(), json!({ "type": "offer", "sdp": offer }));
                self.push(sid, Value::Object(event));
            }
            Err(e) => {
                tracing::warn!(handle = hid, "new offer failed: {e}");
                let mut ctx = Ctx::default();
                self.plugins[plugin].jsep_error(&mut ctx, hid, transaction, &e);
                self.pending.extend(ctx.commands);
            }
        }
        self.run_deferred();
    }

    /// The browser's answer to our offer, applied on the leg's shard.
    pub(super) fn accept_answer(&mut self, hid: u64, answer: String) {
        let Some(core) = self.self_tx.clone() else {
            return;
        };
        let Some(shard) = self
            .handles
            .get(&hid)
            .and_then(|h| h.pc.as_ref())
            .map(|pc| pc.shard)
        else {
            tracing::debug!(
                handle = hid,
                "an answer for a handle without PeerConnection"
            );
            return;
        };
        let sdp = answer.clone();
        self.media(
            shard,
            MediaCommand::AcceptAnswer {
                leg: LegId(hid),
                answer,
                reply: Box::new(move |result| {
                    let _ = core.send(super::CoreInput::AnswerApplied {
                        handle: hid,
                        answer: sdp,
                        result: result.map_err(|e| e.to_string()),
                    });
                }),
            },
        );
    }

    /// The shard applied (or refused) the browser's answer.
    pub(super) fn on_answer_applied(
        &mut self,
        hid: u64,
        answer: String,
        result: Result<(), String>,
    ) {
        let Some(handle) = self.handles.get_mut(&hid) else {
            return;
        };
        let plugin = handle.plugin;
        match result {
            Ok(()) => {
                if let Some(pc) = handle.pc.as_mut() {
                    pc.remote_sdp = Some(answer);
                }
            }
            Err(e) => {
                tracing::warn!(handle = hid, "the browser's answer was refused: {e}");
                let mut ctx = Ctx::default();
                self.plugins[plugin].jsep_error(&mut ctx, hid, None, &e);
                self.pending.extend(ctx.commands);
            }
        }
        self.run_deferred();
    }

    pub(super) fn add_remote_candidate(&mut self, hid: u64, candidate: &str) {
        if let Some(h) = self.handles.get_mut(&hid) {
            h.trickles += 1;
        }
        let leg = LegId(hid);
        self.media(
            self.shard_for(hid),
            MediaCommand::AddRemoteCandidate {
                leg,
                candidate: candidate.to_owned(),
            },
        );
    }

    /// Closes the handle's PeerConnection; sends `hangup` with `reason` if there was one.
    pub(super) fn hangup_pc(&mut self, hid: u64, reason: &'static str) {
        self.drop_pc(hid, Some(reason));
    }

    /// Removes the handle's leg. With a reason, the client and the plugin are told.
    pub(super) fn drop_pc(&mut self, hid: u64, reason: Option<&'static str>) {
        let Some(handle) = self.handles.get_mut(&hid) else {
            return;
        };
        let Some(pc) = handle.pc.take() else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        self.media(
            pc.shard,
            MediaCommand::RemoveLeg {
                leg: LegId(hid),
                close: true,
            },
        );
        if let Some(reason) = reason {
            if pc.local_sdp.is_some() {
                self.push(
                    sid,
                    json!({ "janus": "hangup", "session_id": sid, "sender": hid, "reason": reason }),
                );
                let mut ctx = Ctx::default();
                self.plugins[plugin].hangup_media(&mut ctx, hid);
                self.pending.extend(ctx.commands);
            }
        }
    }

    pub(super) fn on_media_event(&mut self, e: MediaEvent) {
        if let Some(room) = super::mixers::room_of_leg(e.leg) {
            if let LegEvent::Mixer(event) = e.event {
                self.on_mixer_event(room, event);
            }
            return;
        }
        if let Some(source) = super::sources::source_of_leg(e.leg) {
            if let LegEvent::Source(report) = e.event {
                self.on_source_report(source, report);
            }
            return;
        }
        if let Some(handle) = super::sip::handle_of_rtp_leg(e.leg) {
            if let LegEvent::Rtp(event) = e.event {
                self.on_rtp_event(handle, event);
            }
            return;
        }
        let hid = e.leg.0;
        let Some(handle) = self.handles.get_mut(&hid) else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        let Some(pc) = handle.pc.as_mut() else {
            return;
        };
        match e.event {
            LegEvent::IceState(state) => pc.ice_state = state,
            LegEvent::Connected => {
                pc.webrtc_up = true;
                self.push(
                    sid,
                    json!({ "janus": "webrtcup", "session_id": sid, "sender": hid }),
                );
                let mut ctx = Ctx::default();
                self.plugins[plugin].setup_media(&mut ctx, hid);
                self.pending.extend(ctx.commands);
            }
            LegEvent::Receiving {
                mid,
                kind,
                receiving,
            } => {
                self.push(
                    sid,
                    json!({
                        "janus": "media", "session_id": sid, "sender": hid,
                        "mid": mid, "type": kind.as_str(), "receiving": receiving
                    }),
                );
            }
            LegEvent::Data {
                label,
                binary,
                data,
            } => {
                let mut ctx = Ctx::default();
                self.plugins[plugin].incoming_data(&mut ctx, hid, &label, binary, &data);
                self.pending.extend(ctx.commands);
            }
            LegEvent::Talking {
                mid,
                talking,
                level,
            } => {
                let mut ctx = Ctx::default();
                self.plugins[plugin].talking(&mut ctx, hid, &mid, talking, level);
                self.pending.extend(ctx.commands);
            }
            LegEvent::LayerSwitched { mid, switch } => {
                let mut ctx = Ctx::default();
                self.plugins[plugin].layer_switched(&mut ctx, hid, &mid, &switch);
                self.pending.extend(ctx.commands);
            }
            LegEvent::Closed { reason } => self.hangup_pc(hid, reason),
            LegEvent::Stats(stats) => pc.stats = Some(stats),
            LegEvent::Rtp(_) | LegEvent::Source(_) | LegEvent::Mixer(_) => {}
            LegEvent::SlowLink {
                mid,
                kind,
                uplink,
                lost,
            } => {
                self.push(
                    sid,
                    json!({
                        "janus": "slowlink", "session_id": sid, "sender": hid,
                        "mid": mid, "media": kind.as_str(), "uplink": uplink, "lost": lost
                    }),
                );
            }
        }
        self.run_deferred();
    }
}

/// The mids of an SDP's m-lines, in order.
fn offer_mids(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=mid:"))
        .map(|m| m.trim().to_owned())
        .collect()
}
