//! `janus.plugin.audiobridge`: an audio conference (MCU). Each room is a mixer on a media
//! shard; each participant sends its audio to the mixer and gets back the mix of everyone
//! else, in its own codec (Opus, µ-law or A-law), over WebRTC or plain RTP. This code keeps
//! the rooms, answers the requests and tells the core what to mix; audio never comes
//! through it.

mod dialin;
mod dialout;
mod error;
mod participant;
mod pin;
mod room;
mod sdp;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::dispatch::push;
use crate::fields::{Fields, SecretCheck};
use crate::permanent::{Keeper, Permanence};
use crate::{Command, Ctx, HandleId, Message, Plugin, PluginInfo, Ports, Reply, RtpPorts};
use error::AbError;
use room::{Participant, Room};

const PACKAGE: &str = "janus.plugin.audiobridge";

/// `plugins.audiobridge` in the configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Needed to `create` rooms (and to list private ones).
    pub admin_key: Option<String>,
    /// The admin key is needed for `rtp_forward` and `stop_rtp_forward` too.
    pub lock_rtp_forward: bool,
    /// The admin key is needed for `play_file` and the other announcement requests too.
    pub lock_play_file: bool,
    /// Rooms as `create` bodies, each with its `room` id; `None`: Janus's sample room 1234.
    pub rooms: Option<Vec<Value>>,
    /// The Ogg/Opus file a dial-in caller hears, in a loop, while it types the PIN of a
    /// room that has one; `None`: callers of such rooms are refused (403).
    pub pin_prompt: Option<String>,
    /// The state file of permanent rooms (read and written by the core).
    pub permanent_file: Option<String>,
}

impl Settings {
    /// Reads and checks the settings: every room must be a valid `create` body with its
    /// own id (the error names the room by position).
    pub fn parse(value: Option<&Value>) -> Result<Self, String> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let f = Fields::new(value).map_err(|_| "should be a mapping".to_owned())?;
        let text = |e: AbError| e.to_string();
        let admin_key = f.str("admin_key").map_err(|e| text(e.into()))?;
        let lock_rtp_forward = f.bool("lock_rtp_forward").map_err(|e| text(e.into()))?;
        let lock_play_file = f.bool("lock_play_file").map_err(|e| text(e.into()))?;
        let pin_prompt = f
            .str("pin_prompt")
            .map_err(|e| text(e.into()))?
            .filter(|p| !p.is_empty());
        let rooms = match f.get("rooms") {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(_) => return Err("rooms should be a list".into()),
        };
        let mut ids = HashSet::new();
        for (i, body) in rooms.iter().flatten().enumerate() {
            let f = Fields::new(body).map_err(|_| format!("rooms[{i}]: not a mapping"))?;
            let id = f
                .required_u64("room")
                .map_err(|e| format!("rooms[{i}]: {}", AbError::from(e)))?;
            if id == 0 || id >= 1 << 53 {
                return Err(format!(
                    "rooms[{i}]: room should be above 0 and below 2^53 (a JavaScript-safe integer)"
                ));
            }
            Room::from_create(id, &f).map_err(|e| format!("rooms[{i}] (room {id}): {e}"))?;
            if !ids.insert(id) {
                return Err(format!("rooms[{i}]: room {id} is used twice"));
            }
        }
        Ok(Self {
            admin_key: admin_key.map(str::to_owned),
            lock_rtp_forward: lock_rtp_forward.unwrap_or(false),
            lock_play_file: lock_play_file.unwrap_or(false),
            rooms,
            pin_prompt: pin_prompt.map(str::to_owned),
            permanent_file: f
                .str("permanent_file")
                .map_err(|e| text(e.into()))?
                .map(str::to_owned),
        })
    }
}

/// What the plugin keeps per handle.
#[derive(Debug, Default)]
struct Session {
    /// The PeerConnection is up (ICE and DTLS).
    started: bool,
    /// We made the last offer (`generate_offer`): the browser answers.
    plugin_offer: bool,
    /// In a room.
    participant: Option<Participant>,
    /// A plain RTP join waits for its ports: the transaction of its `join`.
    pending_rtp: Option<Option<String>>,
    /// The audio of its PeerConnection as negotiated: codec, payload type, audio levels.
    negotiated: Option<(crate::MixCodec, u8, bool)>,
    /// Where the plain RTP participant wants the mix (`rtp.ip`/`rtp.port`).
    rtp_remote: Option<std::net::SocketAddr>,
    /// The ports of its RTP leg, once open.
    rtp_ports: Option<RtpPorts>,
    /// The handle is a SIP caller the dialplan sent to a room.
    dial_in: Option<dialin::DialIn>,
    /// The telephone-event payload type of its plain RTP leg, if any.
    telephone_event: Option<u8>,
    /// A call `dial` placed, waiting for its RTP leg.
    dialing: Option<dialout::Dialing>,
}

pub struct AudioBridge {
    handles: HashSet<HandleId>,
    sessions: HashMap<HandleId, Session>,
    rooms: BTreeMap<u64, Room>,
    admin_key: Option<String>,
    lock_rtp_forward: bool,
    lock_play_file: bool,
    /// What dial-in callers hear while they type a room's PIN.
    pin_prompt: Option<String>,
    /// The trunks `dial` may call.
    dial_out: Vec<dialout::DialTarget>,
    /// Checks files for `play_file`.
    ports: Option<Ports>,
    /// The shared SIP endpoint, for dial-in calls.
    sip: Option<crate::sip::SipEnv>,
    /// Commands from before any request (the configured rooms' mixers).
    queued: Vec<Command>,
    /// The handle whose message is being answered.
    current: HandleId,
    /// The rooms' `create` bodies and the state file of permanent ones.
    permanent: Keeper,
}

impl Default for AudioBridge {
    fn default() -> Self {
        Self::new(None, None)
    }
}

fn error_json(e: &AbError) -> Value {
    json!({ "audiobridge": "event", "error_code": e.code(), "error": e.to_string() })
}

/// Checks `name` in the request against `expected` (Janus's JANUS_CHECK_SECRET).
fn check_secret(f: &Fields<'_>, name: &'static str, expected: Option<&str>) -> Result<(), AbError> {
    match f.secret(name, expected)? {
        SecretCheck::Fine => Ok(()),
        SecretCheck::Missing => Err(AbError::MissingElement(name)),
        SecretCheck::Wrong => Err(AbError::wrong(name)),
    }
}

/// A random id a JavaScript number holds exactly.
fn random_id(taken: impl Fn(u64) -> bool) -> u64 {
    loop {
        let id = rand::random::<u64>() & ((1 << 53) - 1);
        if id != 0 && !taken(id) {
            return id;
        }
    }
}

/// A random UUID (version 4), as Janus names announcements.
fn random_uuid() -> String {
    let b: u128 = rand::random();
    let h = format!("{b:032x}");
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Requests answered at once; the participant's are acknowledged and answered by an event.
const SYNC: [&str; 27] = [
    "dial",
    "create",
    "edit",
    "destroy",
    "enable_recording",
    "enable_mjrs",
    "list",
    "exists",
    "allowed",
    "mute",
    "unmute",
    "mute_room",
    "unmute_room",
    "kick",
    "kick_all",
    "listparticipants",
    "resetdecoder",
    "rtp_forward",
    "stop_rtp_forward",
    "listforwarders",
    "play_file",
    "is_playing",
    "listannouncements",
    "stop_file",
    "stop_all_files",
    "suspend",
    "resume",
];
const ASYNC: [&str; 5] = ["join", "configure", "changeroom", "leave", "hangup"];

impl AudioBridge {
    /// Calls the dialplan routes to rooms are answered through this SIP endpoint.
    pub fn with_sip(mut self, sip: Option<crate::sip::SipEnv>) -> Self {
        self.sip = sip;
        self
    }

    /// The plugin with the configured rooms (`settings` checked by [`Settings::parse`]);
    /// their mixers start with the first request or clock tick. `ports` checks the files
    /// of `play_file`.
    pub fn new(settings: Option<&Value>, ports: Option<Ports>) -> Self {
        Self::with_permanent(settings, ports, None)
    }

    /// As [`AudioBridge::new`], with the rooms of the state file of permanent rooms too
    /// (checked when the configuration loaded; `None`: `permanent` requests are refused).
    pub fn with_permanent(
        settings: Option<&Value>,
        ports: Option<Ports>,
        permanence: Option<&Permanence>,
    ) -> Self {
        let settings = Settings::parse(settings).unwrap_or_else(|e| {
            tracing::warn!("plugins.audiobridge ignored: {e}");
            Settings::default()
        });
        let mut plugin = Self {
            handles: HashSet::new(),
            sessions: HashMap::new(),
            rooms: BTreeMap::new(),
            admin_key: settings.admin_key,
            lock_rtp_forward: settings.lock_rtp_forward,
            lock_play_file: settings.lock_play_file,
            pin_prompt: settings.pin_prompt,
            dial_out: Vec::new(),
            ports,
            sip: None,
            queued: Vec::new(),
            current: 0,
            permanent: Keeper::new("room", &[], None).0,
        };
        let configured = settings.rooms.unwrap_or_else(|| vec![Room::sample()]);
        let (permanent, bodies) = Keeper::new("room", &configured, permanence);
        plugin.permanent = permanent;
        let mut ctx = Ctx::default();
        for body in &bodies {
            let Ok(f) = Fields::new(body) else { continue };
            let id = f.u64("room").ok().flatten().unwrap_or(0);
            if plugin.rooms.contains_key(&id) {
                tracing::warn!(room = id, "room not created: given twice");
                continue;
            }
            match Room::from_create(id, &f) {
                Ok(room) => {
                    plugin.add_room(&mut ctx, room);
                    plugin.permanent.created(id, body, false);
                }
                Err(e) => tracing::warn!(room = id, "room not created: {e}"),
            }
        }
        plugin.queued = ctx.commands;
        plugin
    }

    fn flush(&mut self, ctx: &mut Ctx) {
        ctx.commands.append(&mut self.queued);
    }

    /// Adds a room and starts its mixer.
    fn add_room(&mut self, ctx: &mut Ctx, room: Room) {
        ctx.push(Command::OpenMixer {
            room: room.id,
            key: room::room_key(room.id),
            sampling_rate: room.sampling_rate,
        });
        if room.record {
            ctx.push(Command::MixRecord {
                room: room.id,
                path: Some(room.record_path()),
            });
        }
        tracing::debug!(
            room = room.id,
            rate = room.sampling_rate,
            "audiobridge room created"
        );
        self.rooms.insert(room.id, room);
    }

    fn room(&self, f: &Fields<'_>) -> Result<&Room, AbError> {
        let id = f.required_u64("room")?;
        self.rooms.get(&id).ok_or(AbError::NoSuchRoom(id))
    }

    /// The room named by `room`, after its secret was checked.
    fn managed(&mut self, f: &Fields<'_>) -> Result<&mut Room, AbError> {
        let id = f.required_u64("room")?;
        let room = self.rooms.get_mut(&id).ok_or(AbError::NoSuchRoom(id))?;
        check_secret(f, "secret", room.secret.as_deref())?;
        Ok(room)
    }

    fn participant(&self, handle: HandleId) -> Option<&Participant> {
        self.sessions.get(&handle)?.participant.as_ref()
    }

    fn participant_mut(&mut self, handle: HandleId) -> Option<&mut Participant> {
        self.sessions.get_mut(&handle)?.participant.as_mut()
    }

    /// Pushes `data` to the room's participants but `except` (and those whose events are
    /// paused, unless `even_paused`).
    fn notify(
        &self,
        ctx: &mut Ctx,
        room: u64,
        except: Option<HandleId>,
        data: &Value,
        even_paused: bool,
    ) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        for &h in r.participants.values() {
            if Some(h) == except {
                continue;
            }
            let paused = self.participant(h).is_some_and(|p| p.paused_events);
            if paused && !even_paused {
                continue;
            }
            push(ctx, h, None, data.clone());
        }
    }

    /// The participants of `room` but `except` (and those whose events are paused), as
    /// `joined` and the like list them.
    fn others(&self, room: u64, except: HandleId) -> Vec<Value> {
        let Some(r) = self.rooms.get(&room) else {
            return Vec::new();
        };
        r.participants
            .values()
            .filter(|&&h| h != except)
            .filter_map(|&h| self.participant(h))
            .filter(|p| !p.paused_events)
            .map(|p| p.to_json(r.audiolevel_ext))
            .collect()
    }

    /// Tells the others in the room what changed about the participant on `handle`.
    fn announce_change(&self, ctx: &mut Ctx, handle: HandleId) {
        let Some(p) = self.participant(handle) else {
            return;
        };
        let event = json!({
            "audiobridge": "event",
            "room": p.room,
            "participants": [p.to_json(false)],
        });
        self.notify(ctx, p.room, Some(handle), &event, false);
    }

    /// Sends the mixer the participant's current settings (joining it if needed).
    fn mix_in(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        let Some(p) = session.participant.as_mut() else {
            return;
        };
        let Some(room) = self.rooms.get(&p.room) else {
            return;
        };
        if p.media == room::Media::None || p.media == room::Media::Offered {
            return;
        }
        p.mixing = true;
        ctx.push(Command::MixIn {
            room: room.id,
            handle,
            participant: p.mix(room),
        });
    }

    /// Updates the mixer for the participant if it is in it.
    fn remix(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if self.participant(handle).is_some_and(|p| p.mixing) {
            self.mix_in(ctx, handle);
        }
    }

    /// Takes the participant on `handle` out of its room; `leaving` tells the others.
    /// Returns the room and the participant.
    fn leave_room(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        leaving: bool,
    ) -> Option<Participant> {
        let p = self.sessions.get_mut(&handle)?.participant.take()?;
        if p.mixing {
            ctx.push(Command::MixOut {
                room: p.room,
                handle,
            });
        }
        if let Some(room) = self.rooms.get_mut(&p.room) {
            room.participants.remove(&p.id);
        }
        if leaving {
            let event = json!({ "audiobridge": "event", "room": p.room, "leaving": p.id });
            self.notify(ctx, p.room, Some(handle), &event, false);
        }
        tracing::debug!(
            room = p.room,
            id = p.id,
            handle,
            "audiobridge participant left"
        );
        Some(p)
    }

    /// Ends the media of a participant that was made to go (kick, destroy).
    fn end_media(&mut self, ctx: &mut Ctx, handle: HandleId, p: &Participant) {
        if self.is_dial_in(handle) {
            ctx.push(Command::CloseRtp { handle });
            self.hang_up_dial_in(ctx, handle);
            return;
        }
        if p.media == room::Media::Rtp {
            ctx.push(Command::CloseRtp { handle });
            if let Some(s) = self.sessions.get_mut(&handle) {
                s.rtp_ports = None;
                s.rtp_remote = None;
            }
        } else {
            ctx.push(Command::ClosePc { handle });
        }
    }
}

impl Plugin for AudioBridge {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS AudioBridge plugin",
            description: "An audio conference: each participant hears the mix of the others",
            author: "Cardea",
            version: 12,
            version_string: "0.0.12",
        }
    }

    fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        self.handles.insert(handle);
        self.sessions.entry(handle).or_default();
        Ok(())
    }

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        self.flush(ctx);
        self.current = message.handle;
        if self.handles.contains(&message.handle) && participant::is_rtp_join(&message) {
            return self.join_rtp(ctx, message);
        }
        crate::dispatch::dispatch(self, ctx, message)
    }

    fn jsep_error(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        error: &str,
    ) {
        self.leave_room(ctx, handle, true);
        push(
            ctx,
            handle,
            transaction,
            error_json(&AbError::InvalidSdp(error.to_owned())),
        );
    }

    fn talking(&mut self, ctx: &mut Ctx, handle: HandleId, _mid: &str, talking: bool, _level: f32) {
        let Some(p) = self.participant_mut(handle) else {
            return;
        };
        if p.talking == talking {
            return;
        }
        p.talking = talking;
        let (room, id) = (p.room, p.id);
        let event = json!({
            "audiobridge": if talking { "talking" } else { "stopped-talking" },
            "room": room,
            "id": id,
        });
        // The talker hears it too.
        self.notify(ctx, room, None, &event, false);
    }

    fn setup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        session.started = true;
        let Some(p) = session.participant.as_mut() else {
            return;
        };
        p.setup = true;
        self.announce_change(ctx, handle);
    }

    fn hangup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        session.started = false;
        session.plugin_offer = false;
        session.negotiated = None;
        let rtp = session
            .participant
            .as_ref()
            .is_some_and(|p| p.media == room::Media::Rtp);
        // As Janus does, the participant leaves the room with its PeerConnection.
        if !rtp {
            self.leave_room(ctx, handle, true);
        }
    }

    fn rtp_opened(&mut self, ctx: &mut Ctx, handle: HandleId, ports: Result<RtpPorts, String>) {
        if self
            .sessions
            .get(&handle)
            .is_some_and(|s| s.dialing.is_some())
        {
            self.dial_leg_opened(ctx, handle, ports);
            return;
        }
        if !self.is_dial_in(handle) {
            self.rtp_ready(ctx, handle, ports);
            return;
        }
        match ports {
            Ok(p) if self.in_lobby(handle) => {
                self.open_lobby(ctx, handle, &p);
                self.answer_dial_in(ctx, handle, &p);
            }
            Ok(p) => {
                self.rtp_ready(ctx, handle, Ok(p));
                self.answer_dial_in(ctx, handle, &p);
            }
            Err(e) => {
                tracing::warn!(handle, "dial-in without an RTP leg: {e}");
                self.fail_dial_in(ctx, handle);
                self.leave_room(ctx, handle, true);
            }
        }
    }

    fn incoming_sip(&mut self, ctx: &mut Ctx, handle: HandleId, sip: crate::SipIn) {
        match sip {
            crate::SipIn::DialIn {
                room, key, request, ..
            } => self.dial_in(ctx, handle, room, key, request),
            other => self.dial_in_sip(ctx, handle, other),
        }
    }

    fn rtp_event(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        event: cardea_media::rtp_leg::RtpLegEvent,
    ) {
        if let cardea_media::rtp_leg::RtpLegEvent::Dtmf {
            digit, end: true, ..
        } = event
        {
            self.dial_in_key(ctx, handle, digit);
        }
    }

    fn mix_file_done(&mut self, ctx: &mut Ctx, room: u64, file: &str, error: Option<&str>) {
        if pin::is_lobby(room) {
            if let Some(e) = error {
                tracing::warn!(file, "the PIN prompt could not be played: {e}");
            }
            return;
        }
        let Some(r) = self.rooms.get_mut(&room) else {
            return;
        };
        if r.announcements.remove(file).is_none() {
            return;
        }
        if let Some(e) = error {
            tracing::warn!(room, file, "announcement failed: {e}");
        }
        let event = json!({ "audiobridge": "announcement-stopped", "room": room, "file_id": file });
        self.notify(ctx, room, None, &event, false);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        self.flush(ctx);
        self.dial_in_timers(ctx);
    }

    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if let Some(p) = self.leave_room(ctx, handle, true) {
            if p.media == room::Media::Rtp {
                ctx.push(Command::CloseRtp { handle });
            }
        } else if self
            .sessions
            .get(&handle)
            .is_some_and(|s| s.pending_rtp.is_some() || s.rtp_ports.is_some())
        {
            ctx.push(Command::CloseRtp { handle });
        }
        self.sessions.remove(&handle);
        self.handles.remove(&handle);
    }

    fn query_session(&self, handle: HandleId) -> Value {
        match self.sessions.get(&handle) {
            Some(s) => match &s.participant {
                Some(p) => json!({
                    "state": "inroom",
                    "room": p.room,
                    "id": p.id,
                    "display": p.display,
                    "muted": p.muted,
                    "suspended": p.suspended,
                    "setup": p.setup,
                    "codec": p.codec.name(),
                    "pt": p.pt,
                    "volume_gain": p.volume,
                    "opus-complexity": p.quality,
                    "bitrate": p.bitrate,
                    "expected_loss": p.expected_loss,
                    "plain-rtp": p.media == room::Media::Rtp,
                    "talking": p.talking,
                    "started": s.started,
                }),
                None => json!({ "state": "idle", "started": s.started }),
            },
            None => json!({ "destroyed": true }),
        }
    }
}

crate::dispatch::requests!(AudioBridge, AbError);
