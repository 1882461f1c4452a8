//! The participant's requests (join, configure, changeroom, leave, hangup), the SDP that
//! goes with them, and plain RTP participants (an `rtp` object in `join`).

use std::net::SocketAddr;

use serde_json::{json, Value};

use super::error::AbError;
use super::room::{room_key, Media, Participant, Room};
use super::sdp::restrict_offer;
use super::{check_secret, error_json, push, random_id, AudioBridge};
use crate::fields::Fields;
use crate::{
    Command, Ctx, HandleId, Jsep, JsepAction, JsepType, MediaKind, Message, MixCodec, OfferMedia,
    Reoffer, Reply, RtpConfig, RtpPorts,
};

/// Janus's default Opus complexity.
const DEFAULT_QUALITY: u8 = 4;
/// The payload type of Opus from a plain RTP participant that names none (Janus's).
const DEFAULT_RTP_OPUS_PT: u8 = 100;

/// What `join` and `changeroom` ask for.
struct JoinOpts {
    room: u64,
    id: Option<u64>,
    display: Option<String>,
    muted: bool,
    suspended: bool,
    pause_events: bool,
    codec: MixCodec,
    bitrate: Option<u64>,
    quality: u8,
    expected_loss: Option<u8>,
    volume: u16,
    audio_active_packets: Option<u32>,
    audio_level_average: Option<u8>,
    generate_offer: bool,
}

fn check_quality(q: u64) -> Result<u8, AbError> {
    if !(1..=10).contains(&q) {
        return Err(AbError::InvalidElement(
            "Invalid element (quality should be a positive integer between 1 and 10)".into(),
        ));
    }
    Ok(q as u8)
}

fn check_loss(l: u64) -> Result<u8, AbError> {
    if l > 20 {
        return Err(AbError::InvalidElement(
            "Invalid element (expected_loss should be a positive integer between 0 and 20)".into(),
        ));
    }
    Ok(l as u8)
}

/// A bitrate Opus takes, else the room's default.
fn bitrate(asked: Option<u64>, room: &Room) -> u32 {
    match asked {
        Some(b) if (500..=512_000).contains(&b) => b as u32,
        _ => room.default_bitrate,
    }
}

fn refuse_recording(f: &Fields<'_>) -> Result<(), AbError> {
    if f.bool("record")? == Some(true) {
        return Err(AbError::Unknown(
            "Recording participants is not supported by this server".into(),
        ));
    }
    f.str("filename")?;
    Ok(())
}

fn parse_join(f: &Fields<'_>) -> Result<JoinOpts, AbError> {
    for name in ["token", "group", "secret", "pin"] {
        f.str(name)?;
    }
    f.bool("denoise")?;
    f.u64("spatial_position")?;
    refuse_recording(f)?;
    let room = f.required_u64("room")?;
    let codec = match f.str("codec")? {
        None => MixCodec::Opus,
        Some(name) => MixCodec::from_name(name).ok_or_else(|| {
            AbError::InvalidElement("Invalid element (codec must opus, pcmu or pcma)".into())
        })?,
    };
    Ok(JoinOpts {
        room,
        id: f.u64("id")?.filter(|id| *id != 0),
        display: f.str("display")?.map(str::to_owned),
        muted: f.bool("muted")?.unwrap_or(false),
        suspended: f.bool("suspended")?.unwrap_or(false),
        pause_events: f.bool("pause_events")?.unwrap_or(false),
        codec,
        bitrate: f.u64("bitrate")?,
        quality: match f.u64("quality")? {
            Some(q) => check_quality(q)?,
            None => DEFAULT_QUALITY,
        },
        expected_loss: f.u64("expected_loss")?.map(check_loss).transpose()?,
        volume: f
            .u64("volume")?
            .map_or(100, |v| v.min(u64::from(u16::MAX)) as u16),
        audio_active_packets: f
            .u64("audio_active_packets")?
            .filter(|p| *p > 0)
            .map(|p| p.min(u64::from(u32::MAX)) as u32),
        audio_level_average: f
            .u64("audio_level_average")?
            .filter(|a| *a > 0)
            .map(|a| a.min(127) as u8),
        generate_offer: f.bool("generate_offer")?.unwrap_or(false),
    })
}

/// Where a plain RTP participant wants the mix, and the payload type of its Opus.
type RtpAsk = (Option<SocketAddr>, Option<u8>);

/// The `rtp` object of a plain RTP participant.
fn parse_rtp(f: &Fields<'_>) -> Result<Option<RtpAsk>, AbError> {
    let Some(v) = f.get("rtp") else {
        return Ok(None);
    };
    let rtp = Fields::new(v).map_err(|_| AbError::InvalidType("rtp should be an object".into()))?;
    let ip = rtp.str("ip")?;
    let port = rtp.u64("port")?.filter(|p| *p > 0);
    let pt = rtp.u64("payload_type")?;
    rtp.u64("audiolevel_ext")?;
    rtp.bool("fec")?;
    let remote = match (ip, port) {
        (Some(ip), Some(port)) => {
            let port = u16::try_from(port)
                .map_err(|_| AbError::InvalidElement(format!("Invalid port number ({port})")))?;
            let ip: std::net::IpAddr = ip.parse().map_err(|_| {
                AbError::InvalidElement(format!(
                    "Invalid element (rtp.ip should be an IP address: {ip})"
                ))
            })?;
            Some(SocketAddr::new(ip, port))
        }
        _ => None,
    };
    let pt = pt.filter(|pt| (1..128).contains(pt)).map(|pt| pt as u8);
    Ok(Some((remote, pt)))
}

/// Whether `message` is a plain RTP `join` (an `rtp` object and no JSEP), whose answer
/// waits for the ports of its RTP leg.
pub(super) fn is_rtp_join(message: &Message) -> bool {
    message.jsep.is_none()
        && message.body.get("request").and_then(Value::as_str) == Some("join")
        && message.body.get("rtp").is_some_and(|v| !v.is_null())
}

/// The m-line offered for `codec` (Cardea's payload type for it).
fn offer_media(codec: MixCodec) -> OfferMedia {
    OfferMedia {
        kind: MediaKind::Audio,
        codecs: crate::codecs::canonical(codec.name()).into_iter().collect(),
        send_only: false,
    }
}

impl AudioBridge {
    pub(super) fn answer_later(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        request: &str,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), AbError> {
        match request {
            "join" => self.join(ctx, handle, f, jsep),
            "configure" => self.configure(ctx, handle, f, jsep),
            "changeroom" => self.changeroom(ctx, handle, f).map(|v| (v, None)),
            "leave" => {
                let Some(p) = self.leave_room(ctx, handle, true) else {
                    return Err(AbError::NotJoined("Can't leave (not in a room)".into()));
                };
                if p.media == Media::Rtp {
                    self.close_rtp(ctx, handle);
                }
                Ok((
                    json!({ "audiobridge": "left", "room": p.room, "id": p.id }),
                    None,
                ))
            }
            "hangup" => {
                let rtp = self
                    .participant(handle)
                    .is_some_and(|p| p.media == Media::Rtp);
                if rtp {
                    // No PeerConnection to close: the RTP leg goes, and with it the room.
                    self.leave_room(ctx, handle, true);
                    self.close_rtp(ctx, handle);
                } else {
                    ctx.push(Command::ClosePc { handle });
                }
                Ok((json!({ "audiobridge": "hangingup" }), None))
            }
            _ => Err(AbError::InvalidRequest(request.to_owned())),
        }
    }

    fn close_rtp(&mut self, ctx: &mut Ctx, handle: HandleId) {
        ctx.push(Command::CloseRtp { handle });
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.rtp_ports = None;
            s.rtp_remote = None;
            s.pending_rtp = None;
        }
    }

    /// The checks of entering `room`: pin, allowed tokens, an admin's secret, the group.
    /// Returns whether the participant is an admin, and its group.
    fn entry(room: &Room, f: &Fields<'_>, rtp: bool) -> Result<(bool, Option<String>), AbError> {
        if rtp && !room.allow_rtp_participants {
            return Err(AbError::Unauthorized(
                "Plain RTP participants not allowed in this room".into(),
            ));
        }
        check_secret(f, "pin", room.pin.as_deref())?;
        if room.check_tokens {
            let ok = f.str("token")?.is_some_and(|t| room.allowed.contains(t));
            if !ok {
                return Err(AbError::Unauthorized(
                    "Unauthorized (not in the allowed list)".into(),
                ));
            }
        }
        let admin = match f.get("secret") {
            Some(_) => {
                check_secret(f, "secret", room.secret.as_deref())?;
                true
            }
            None => false,
        };
        let group = room.group(f, true)?;
        Ok((admin, group))
    }

    /// Puts the participant in its room (checks done); returns it, not yet announced.
    fn enter(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        o: &JoinOpts,
        rtp: bool,
    ) -> Result<(), AbError> {
        let room = self.rooms.get(&o.room).ok_or(AbError::NoSuchRoom(o.room))?;
        let (admin, group) = Self::entry(room, f, rtp)?;
        let id = match o.id {
            Some(id) if room.participants.contains_key(&id) => {
                return Err(AbError::IdExists(format!("User ID {id} already exists")))
            }
            Some(id) => id,
            None => random_id(|id| room.participants.contains_key(&id)),
        };
        let started = self.sessions.get(&handle).is_some_and(|s| s.started);
        let p = Participant {
            room: room.id,
            id,
            display: o.display.clone(),
            muted: o.muted,
            suspended: o.suspended,
            paused_events: o.suspended && o.pause_events,
            admin,
            codec: o.codec,
            pt: crate::codecs::canonical_pt(o.codec.name()).unwrap_or(0),
            volume: o.volume,
            bitrate: bitrate(o.bitrate, room),
            quality: o.quality,
            expected_loss: o.expected_loss.unwrap_or(room.default_expectedloss),
            group,
            audio_active_packets: o.audio_active_packets,
            audio_level_average: o.audio_level_average,
            setup: started,
            talking: false,
            level_ext: false,
            media: Media::None,
            mixing: false,
        };
        let key = room_key(room.id);
        if let Some(room) = self.rooms.get_mut(&o.room) {
            room.participants.insert(id, handle);
        }
        self.sessions.entry(handle).or_default().participant = Some(p);
        // A PeerConnection that exists stays where it is (see `changeroom`).
        let live = self
            .sessions
            .get(&handle)
            .is_some_and(|s| s.started || s.negotiated.is_some() || s.rtp_ports.is_some());
        if !live {
            ctx.push(Command::PinShard { handle, key });
        }
        tracing::debug!(room = o.room, id, handle, "audiobridge participant joined");
        Ok(())
    }

    /// Tells the others in the room about the newcomer on `handle`; returns its `joined`.
    fn announce_join(&self, ctx: &mut Ctx, handle: HandleId, word: &str) -> Value {
        let Some(p) = self.participant(handle) else {
            return Value::Null;
        };
        let mut me = p.to_json(false);
        // The others hear of it before its media is up.
        me["setup"] = false.into();
        let news = json!({ "audiobridge": "joined", "room": p.room, "participants": [me] });
        self.notify(ctx, p.room, Some(handle), &news, false);
        let mut event = json!({
            "audiobridge": word,
            "room": p.room,
            "id": p.id,
            "participants": self.others(p.room, handle),
        });
        if let Some(d) = &p.display {
            event["display"] = d.clone().into();
        }
        event
    }

    /// Answers the browser's offer with the participant's codec; the mixer takes it in
    /// once the answer is on its way.
    fn accept_offer(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        jsep: &Jsep,
    ) -> Result<JsepAction, AbError> {
        let Some(p) = self.participant(handle) else {
            return Err(AbError::NotJoined(
                "Can't handle SDP (not in a room)".into(),
            ));
        };
        let restricted = restrict_offer(&jsep.sdp, p.codec)?;
        let Some(p) = self.participant_mut(handle) else {
            return Err(AbError::NotJoined(
                "Can't handle SDP (not in a room)".into(),
            ));
        };
        p.pt = restricted.pt;
        p.level_ext = restricted.level_ext;
        p.media = Media::Answered;
        let negotiated = (p.codec, p.pt, p.level_ext);
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.negotiated = Some(negotiated);
        }
        self.mix_in(ctx, handle);
        self.watch_talking(ctx, handle);
        Ok(JsepAction::AnswerOffer {
            offer: restricted.sdp,
        })
    }

    /// Talking detection, when the room reports it.
    fn watch_talking(&self, ctx: &mut Ctx, handle: HandleId) {
        let Some(p) = self.participant(handle) else {
            return;
        };
        let Some(room) = self.rooms.get(&p.room) else {
            return;
        };
        if !(room.audiolevel_event && room.audiolevel_ext && p.level_ext) {
            return;
        }
        ctx.push(Command::WatchTalking {
            handle,
            packets: p.audio_active_packets.unwrap_or(room.audio_active_packets),
            threshold: p.audio_level_average.unwrap_or(room.audio_level_average),
        });
    }

    /// Checks a JSEP against who made the last offer (Janus's wording).
    fn check_jsep(
        &self,
        handle: HandleId,
        jsep: Option<&Jsep>,
        offering: bool,
    ) -> Result<(), AbError> {
        if jsep.is_some_and(|j| j.e2ee) {
            // The mixer decodes what it mixes: end-to-end encrypted frames are noise to it.
            return Err(AbError::InvalidElement(
                "Media encryption unsupported by this plugin".into(),
            ));
        }
        let plugin_offer = offering || self.sessions.get(&handle).is_some_and(|s| s.plugin_offer);
        match jsep.map(|j| j.kind) {
            Some(JsepType::Offer) if plugin_offer => Err(AbError::InvalidSdp(
                "Received an offer on a plugin-offered session".into(),
            )),
            Some(JsepType::Answer) if !plugin_offer => Err(AbError::InvalidSdp(
                "Received an answer when we didn't send an offer".into(),
            )),
            _ => Ok(()),
        }
    }

    fn join(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), AbError> {
        if self.participant(handle).is_some() {
            return Err(AbError::AlreadyJoined(
                "Already in a room (use changeroom to join another one)".into(),
            ));
        }
        let o = parse_join(f)?;
        // With a JSEP, any `rtp` object is ignored, as in Janus.
        if jsep.is_none() {
            parse_rtp(f)?;
        }
        self.check_jsep(handle, jsep.as_ref(), o.generate_offer)?;
        if let Some(j) = &jsep {
            // Refuse an unusable offer before joining.
            restrict_offer(&j.sdp, o.codec)?;
        }
        self.enter(ctx, handle, f, &o, false)?;
        let event = self.announce_join(ctx, handle, "joined");
        let action = if let Some(j) = jsep {
            Some(self.accept_offer(ctx, handle, &j)?)
        } else if o.generate_offer {
            self.offer(handle, false)
        } else {
            // Joined again on a PeerConnection that is still up: the mixer takes it back.
            let kept = self.sessions.get(&handle).and_then(|s| s.negotiated);
            if let (Some((codec, pt, level_ext)), Some(p)) = (kept, self.participant_mut(handle)) {
                if codec == p.codec {
                    p.pt = pt;
                    p.level_ext = level_ext;
                    p.media = Media::Answered;
                }
            }
            self.mix_in(ctx, handle);
            self.watch_talking(ctx, handle);
            None
        };
        Ok((event, action))
    }

    /// Our offer to the browser (`generate_offer`), or a new one on a live PeerConnection.
    fn offer(&mut self, handle: HandleId, ice_restart: bool) -> Option<JsepAction> {
        let session = self.sessions.get_mut(&handle)?;
        let p = session.participant.as_mut()?;
        session.plugin_offer = true;
        if p.media != Media::None {
            return Some(JsepAction::Reoffer(Reoffer {
                ice_restart,
                ..Reoffer::default()
            }));
        }
        p.media = Media::Offered;
        p.pt = crate::codecs::canonical_pt(p.codec.name()).unwrap_or(0);
        // Cardea's offers carry the audio-level extension.
        p.level_ext = true;
        Some(JsepAction::Offer {
            media: vec![offer_media(p.codec)],
            later: Vec::new(),
            data: false,
        })
    }

    fn configure(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), AbError> {
        let Some(p) = self.participant(handle) else {
            return Err(AbError::NotJoined("Can't configure (not in a room)".into()));
        };
        let room_id = p.room;
        let rtp_participant = p.media == Media::Rtp;
        let muted = f.bool("muted")?;
        let display = f.str("display")?.map(str::to_owned);
        let volume = f.u64("volume")?;
        let asked_bitrate = f.u64("bitrate")?;
        let quality = f.u64("quality")?.map(check_quality).transpose()?;
        let loss = f.u64("expected_loss")?.map(check_loss).transpose()?;
        f.u64("spatial_position")?;
        f.bool("denoise")?;
        let generate_offer = f.bool("generate_offer")?.unwrap_or(false);
        let update = f.bool("update")?.unwrap_or(false);
        refuse_recording(f)?;
        let rtp = parse_rtp(f)?;
        let room = self
            .rooms
            .get(&room_id)
            .ok_or(AbError::NoSuchRoom(room_id))?;
        let group = match f.str("group")? {
            Some(_) if !room.groups.is_empty() => Some(room.group(f, false)?),
            _ => None,
        };
        self.check_jsep(handle, jsep.as_ref(), false)?;
        let announce = muted.is_some() || display.is_some();
        let Some(p) = self.participant_mut(handle) else {
            return Err(AbError::NotJoined("Can't configure (not in a room)".into()));
        };
        if let Some(v) = volume {
            p.volume = v.min(u64::from(u16::MAX)) as u16;
        }
        if let Some(b) = asked_bitrate {
            // Out of range: libopus chooses, as in Janus.
            p.bitrate = if (500..=512_000).contains(&b) {
                b as u32
            } else {
                0
            };
        }
        if let Some(q) = quality {
            p.quality = q;
        }
        if let Some(l) = loss {
            p.expected_loss = l;
        }
        if let Some(g) = group {
            p.group = g;
        }
        if let Some(m) = muted {
            p.muted = m;
        }
        if let Some(d) = display {
            p.display = Some(d);
        }
        if announce {
            self.announce_change(ctx, handle);
        }
        let action = match jsep {
            Some(j) if j.kind == JsepType::Offer => Some(self.accept_offer(ctx, handle, &j)?),
            Some(j) => {
                ctx.push(Command::AcceptAnswer {
                    handle,
                    answer: j.sdp,
                });
                if let Some(p) = self.participant_mut(handle) {
                    if p.media == Media::Offered {
                        p.media = Media::Accepted;
                    }
                    let negotiated = (p.codec, p.pt, p.level_ext);
                    if let Some(s) = self.sessions.get_mut(&handle) {
                        s.negotiated = Some(negotiated);
                    }
                }
                self.mix_in(ctx, handle);
                self.watch_talking(ctx, handle);
                None
            }
            None if rtp_participant => {
                if let Some((Some(remote), _)) = rtp {
                    self.retarget(ctx, handle, remote);
                }
                self.remix(ctx, handle);
                None
            }
            None => {
                self.remix(ctx, handle);
                let plugin_offer = self.sessions.get(&handle).is_some_and(|s| s.plugin_offer);
                if generate_offer || (update && plugin_offer) {
                    self.offer(handle, update)
                } else {
                    None
                }
            }
        };
        Ok((json!({ "audiobridge": "event", "result": "ok" }), action))
    }

    fn changeroom(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, AbError> {
        let o = parse_join(f)?;
        let Some(old) = self.participant(handle) else {
            return Err(AbError::NotJoined(
                "Can't change room (not in a room in the first place)".into(),
            ));
        };
        if old.room == o.room {
            return Err(AbError::AlreadyJoined("Already in this room".into()));
        }
        let rtp = old.media == Media::Rtp;
        let room = self.rooms.get(&o.room).ok_or(AbError::NoSuchRoom(o.room))?;
        Self::entry(room, f, rtp)?;
        if let Some(id) = o.id.filter(|id| room.participants.contains_key(id)) {
            return Err(AbError::IdExists(format!("User ID {id} already exists")));
        }
        let Some(old) = self.leave_room(ctx, handle, true) else {
            return Err(AbError::NotJoined("Can't change room".into()));
        };
        let o = JoinOpts {
            codec: old.codec,
            ..o
        };
        self.enter(ctx, handle, f, &o, rtp)?;
        if let Some(p) = self.participant_mut(handle) {
            // The media stays as negotiated.
            p.pt = old.pt;
            p.level_ext = old.level_ext;
            p.media = old.media;
            p.setup = old.setup;
        }
        let event = self.announce_join(ctx, handle, "roomchanged");
        self.mix_in(ctx, handle);
        self.watch_talking(ctx, handle);
        Ok(event)
    }

    // ---- plain RTP participants --------------------------------------------------------

    /// A plain RTP `join`: acknowledged now, answered once its RTP leg has ports.
    pub(super) fn join_rtp(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        let Message {
            handle,
            transaction,
            body,
            ..
        } = message;
        let result = Fields::new(&body)
            .map_err(AbError::from)
            .and_then(|f| self.admit_rtp(ctx, handle, &f, true));
        match result {
            Ok(()) => {
                if let Some(s) = self.sessions.get_mut(&handle) {
                    s.pending_rtp = Some(transaction);
                }
                ctx.push(Command::OpenRtp {
                    handle,
                    video: false,
                });
            }
            Err(e) => push(ctx, handle, transaction, error_json(&e)),
        }
        Reply::Ack
    }

    /// Admits a plain RTP participant (`checked`: only where the room allows them; a call
    /// the dialplan sends is let in regardless).
    pub(super) fn admit_rtp(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        checked: bool,
    ) -> Result<(), AbError> {
        if self.participant(handle).is_some()
            || self
                .sessions
                .get(&handle)
                .is_some_and(|s| s.pending_rtp.is_some())
        {
            return Err(AbError::AlreadyJoined(
                "Already in a room (use changeroom to join another one)".into(),
            ));
        }
        let o = parse_join(f)?;
        let Some((remote, pt)) = parse_rtp(f)? else {
            return Err(AbError::MissingElement("rtp"));
        };
        self.enter(ctx, handle, f, &o, checked)?;
        let session = self.sessions.entry(handle).or_default();
        session.rtp_remote = remote;
        if let Some(p) = session.participant.as_mut() {
            p.media = Media::Rtp;
            p.pt = match p.codec {
                MixCodec::Opus => pt.unwrap_or(DEFAULT_RTP_OPUS_PT),
                MixCodec::Pcmu => 0,
                MixCodec::Pcma => 8,
            };
        }
        Ok(())
    }

    /// The RTP leg of a plain RTP participant is open (or could not be).
    pub(super) fn rtp_ready(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        ports: Result<RtpPorts, String>,
    ) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            ctx.push(Command::CloseRtp { handle });
            return;
        };
        let Some(transaction) = session.pending_rtp.take() else {
            // Nobody waits for it any more (the participant left meanwhile).
            ctx.push(Command::CloseRtp { handle });
            return;
        };
        let ports = match ports {
            Ok(p) if session.participant.is_some() => p,
            Ok(_) => {
                ctx.push(Command::CloseRtp { handle });
                return;
            }
            Err(e) => {
                self.leave_room(ctx, handle, false);
                let e = AbError::Unknown(format!("Couldn't open a plain RTP leg: {e}"));
                push(ctx, handle, transaction, error_json(&e));
                return;
            }
        };
        session.rtp_ports = Some(ports);
        let remote = session.rtp_remote;
        let telephone_event = session.telephone_event;
        let Some(p) = session.participant.as_mut() else {
            return;
        };
        p.setup = true;
        let (codec, pt) = (p.codec, p.pt);
        let pt_map = match cardea_media::rtp_leg::PtMap::new(&[(pt, pt)]) {
            Ok(m) => m,
            Err(e) => {
                self.leave_room(ctx, handle, false);
                let e = AbError::Unknown(format!("Invalid payload type {pt}: {e:?}"));
                push(ctx, handle, transaction, error_json(&e));
                return;
            }
        };
        ctx.push(Command::ConfigureRtp {
            handle,
            config: RtpConfig {
                kind: MediaKind::Audio,
                remote_rtp: remote,
                remote_rtcp: None,
                pt_map,
                telephone_event,
                clock_rate: codec.clock_rate(),
                srtp: None,
            },
        });
        let mut event = self.announce_join(ctx, handle, "joined");
        event["rtp"] = json!({
            "ip": ports.ip.to_string(),
            "port": ports.audio.0.port(),
            "payload_type": pt,
        });
        push(ctx, handle, transaction, event);
        self.mix_in(ctx, handle);
        // Its media is up as far as the room is concerned, as Janus does for plain RTP.
        self.announce_change(ctx, handle);
    }

    /// The plain RTP participant wants the mix somewhere else (`configure` with `rtp`).
    fn retarget(&mut self, ctx: &mut Ctx, handle: HandleId, remote: SocketAddr) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.rtp_remote = Some(remote);
        }
        ctx.push(Command::RetargetRtp {
            handle,
            kind: MediaKind::Audio,
            remote_rtp: Some(remote),
            remote_rtcp: None,
        });
    }
}
