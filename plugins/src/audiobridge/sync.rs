//! The requests answered at once: rooms (create, edit, destroy, list...), moderation
//! (mute, kick, suspend...), announcements (play_file...) and what this server does not do
//! (recording, forwarding the mix).

use serde_json::{json, Value};

use super::error::AbError;
use super::room::{Announcement, Room};
use super::{check_secret, random_id, random_uuid, AudioBridge};
use crate::fields::same_secret;
use crate::fields::Fields;
use crate::{Command, Ctx, HandleId, MixCodec, MixForward};

impl AudioBridge {
    pub(super) fn answer_now(
        &mut self,
        ctx: &mut Ctx,
        request: &str,
        f: &Fields<'_>,
    ) -> Result<Value, AbError> {
        match request {
            "create" => self.create(ctx, f),
            "dial" => self.dial(ctx, f),
            "edit" => {
                for name in [
                    "new_description",
                    "new_secret",
                    "new_pin",
                    "new_record_dir",
                    "new_mjrs_dir",
                ] {
                    f.str(name)?;
                }
                f.bool("new_is_private")?;
                let permanent = self.wants_permanent(f, "edit room permanently")?;
                let room = self.managed(f)?;
                if let Some(d) = f.str("new_description")?.filter(|d| !d.is_empty()) {
                    room.description = d.to_owned();
                }
                if let Some(p) = f.bool("new_is_private")? {
                    room.is_private = p;
                }
                if let Some(s) = f.str("new_secret")?.filter(|s| !s.is_empty()) {
                    room.secret = Some(s.to_owned());
                }
                if let Some(p) = f.str("new_pin")? {
                    room.pin = Some(p.to_owned()).filter(|p| !p.is_empty());
                }
                if let Some(d) = f.str("new_record_dir")? {
                    room.record_dir = Some(d.to_owned());
                }
                let (id, fields) = (room.id, room.edit_fields());
                let saved = self.permanent.edited(id, fields, permanent);
                Ok(json!({ "audiobridge": "edited", "room": id, "permanent": saved }))
            }
            "destroy" => {
                let permanent = self.wants_permanent(f, "destroy room permanently")?;
                let id = self.managed(f)?.id;
                self.destroy(ctx, id);
                let saved = self.permanent.destroyed(id, permanent);
                Ok(json!({ "audiobridge": "destroyed", "room": id, "permanent": saved }))
            }
            "exists" => {
                let id = f.required_u64("room")?;
                Ok(json!({
                    "audiobridge": "success", "room": id, "exists": self.rooms.contains_key(&id)
                }))
            }
            "list" => {
                let mut admin = false;
                if let (Some(key), Some(given)) = (&self.admin_key, f.str("admin_key")?) {
                    if !given.is_empty() {
                        if !same_secret(given, key) {
                            return Err(AbError::wrong("admin_key"));
                        }
                        admin = true;
                    }
                }
                let list: Vec<Value> = self
                    .rooms
                    .values()
                    .filter(|r| admin || !r.is_private)
                    .map(Room::list_entry)
                    .collect();
                Ok(json!({ "audiobridge": "success", "list": list }))
            }
            "allowed" => self.allowed(f),
            "listparticipants" => {
                let room = self.room(f)?;
                let list: Vec<Value> = room
                    .participants
                    .values()
                    .filter_map(|&h| self.participant(h))
                    .map(|p| p.to_json(room.audiolevel_ext))
                    .collect();
                Ok(json!({ "audiobridge": "participants", "room": room.id, "participants": list }))
            }
            "mute" | "unmute" => self.mute(ctx, f, request == "mute"),
            "mute_room" | "unmute_room" => self.mute_room(ctx, f, request == "mute_room"),
            "kick" => self.kick(ctx, f),
            "kick_all" => {
                f.str("secret")?;
                let room = self.managed(f)?;
                let id = room.id;
                let members: Vec<HandleId> = room.participants.values().copied().collect();
                for h in members {
                    if let Some(p) = self.leave_room(ctx, h, false) {
                        let event =
                            json!({ "audiobridge": "event", "room": id, "kicked_all": p.id });
                        crate::dispatch::push(ctx, h, None, event);
                        self.end_media(ctx, h, &p);
                    }
                }
                Ok(json!({ "audiobridge": "success" }))
            }
            "resetdecoder" => {
                // The mixer's decoders recover by themselves: nothing to reset here.
                if self.participant(self.current).is_none() {
                    return Err(AbError::NotJoined("Can't reset (not in a room)".into()));
                }
                Ok(json!({ "audiobridge": "success" }))
            }
            "suspend" | "resume" => self.suspend(ctx, f, request == "suspend"),
            "enable_recording" => {
                let record = f.bool("record")?.ok_or(AbError::MissingElement("record"))?;
                let file = f.str("record_file")?.map(str::to_owned);
                let dir = f.str("record_dir")?.map(str::to_owned);
                let room = self.managed(f)?;
                if record != room.record {
                    room.record = record;
                    if record {
                        room.record_file = file.or(room.record_file.take());
                        room.record_dir = dir.or(room.record_dir.take());
                    }
                    ctx.push(Command::MixRecord {
                        room: room.id,
                        path: record.then(|| room.record_path()),
                    });
                }
                Ok(json!({ "audiobridge": "success", "record": record }))
            }
            "enable_mjrs" => {
                let mjrs = f.bool("mjrs")?.ok_or(AbError::MissingElement("mjrs"))?;
                f.str("mjrs_dir")?;
                self.managed(f)?;
                if mjrs {
                    return Err(AbError::Unknown(
                        "Recording participants is not supported by this server".into(),
                    ));
                }
                Ok(json!({ "audiobridge": "success", "mjrs": false }))
            }
            "rtp_forward" => self.rtp_forward(ctx, f),
            "stop_rtp_forward" => {
                let stream_id = f.required_u64("stream_id")?;
                self.check_forward(f)?;
                let room = self.managed(f)?;
                let id = room.id;
                if let Some(stream) = u32::try_from(stream_id)
                    .ok()
                    .filter(|s| room.forwarders.remove(s).is_some())
                {
                    ctx.push(Command::MixStopForward {
                        room: id,
                        id: stream,
                    });
                }
                // Stopping one that is not there succeeds too, as in Janus.
                Ok(json!({ "audiobridge": "success", "room": id, "stream_id": stream_id }))
            }
            "listforwarders" => {
                let room = self.managed(f)?;
                let list: Vec<Value> = room.forwarders.values().cloned().collect();
                Ok(json!({ "audiobridge": "forwarders", "room": room.id, "rtp_forwarders": list }))
            }
            "play_file" => self.play_file(ctx, f),
            "is_playing" => {
                self.check_play(f)?;
                let file = f.required_str("file_id")?;
                let room = self.managed(f)?;
                Ok(json!({
                    "audiobridge": "success", "room": room.id, "file_id": file,
                    "playing": room.announcements.contains_key(file),
                }))
            }
            "listannouncements" => {
                let room = self.managed(f)?;
                let list: Vec<Value> = room
                    .announcements
                    .iter()
                    .map(|(id, a)| {
                        let mut v = json!({
                            "file_id": id, "filename": a.filename, "playing": true, "loop": a.looped,
                        });
                        if let Some(g) = &a.group {
                            v["group"] = g.clone().into();
                        }
                        v
                    })
                    .collect();
                Ok(
                    json!({ "audiobridge": "announcements", "room": room.id, "announcements": list }),
                )
            }
            "stop_file" => {
                self.check_play(f)?;
                let file = f.required_str("file_id")?.to_owned();
                let room = self.managed(f)?;
                let id = room.id;
                if room.announcements.remove(&file).is_some() {
                    ctx.push(Command::MixStopFile {
                        room: id,
                        file: file.clone(),
                    });
                    let event = json!({
                        "audiobridge": "announcement-stopped", "room": id, "file_id": file,
                    });
                    self.notify(ctx, id, None, &event, false);
                }
                Ok(json!({ "audiobridge": "success", "room": id, "file_id": file }))
            }
            "stop_all_files" => {
                self.check_play(f)?;
                let room = self.managed(f)?;
                let id = room.id;
                let files: Vec<String> = std::mem::take(&mut room.announcements)
                    .into_keys()
                    .collect();
                for file in &files {
                    ctx.push(Command::MixStopFile {
                        room: id,
                        file: file.clone(),
                    });
                    let event = json!({
                        "audiobridge": "announcement-stopped", "room": id, "file_id": file,
                    });
                    self.notify(ctx, id, None, &event, false);
                }
                Ok(json!({ "audiobridge": "success", "room": id, "file_id_list": files }))
            }
            _ => Err(AbError::InvalidRequest(request.to_owned())),
        }
    }

    /// Whether the request asks for a permanent change; refused without a state file, as
    /// Janus refuses it without a configuration file.
    fn wants_permanent(&self, f: &Fields<'_>, what: &str) -> Result<bool, AbError> {
        let asked = f.bool("permanent")?;
        self.permanent.wants(asked, what).map_err(AbError::Unknown)
    }

    fn create(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, AbError> {
        let asked = f.u64("room")?;
        Room::from_create(0, f)?;
        if let Some(key) = &self.admin_key {
            check_secret(f, "admin_key", Some(key))?;
        }
        let permanent = self.wants_permanent(f, "create permanent room")?;
        let id = match asked.filter(|id| *id != 0) {
            Some(id) if self.rooms.contains_key(&id) => return Err(AbError::RoomExists(id)),
            Some(id) if id >= 1 << 53 => {
                return Err(AbError::InvalidElement(
                    "Invalid element (room should be below 2^53, a JavaScript-safe integer)".into(),
                ))
            }
            Some(id) => id,
            None => random_id(|id| self.rooms.contains_key(&id)),
        };
        let room = Room::from_create(id, f)?;
        self.add_room(ctx, room);
        let saved = self
            .permanent
            .created(id, &Value::Object(f.0.clone()), permanent);
        Ok(json!({ "audiobridge": "created", "room": id, "permanent": saved }))
    }

    /// Removes room `id`: its participants hear `destroyed` and lose their media.
    fn destroy(&mut self, ctx: &mut Ctx, id: u64) {
        let Some(room) = self.rooms.get(&id) else {
            return;
        };
        let members: Vec<HandleId> = room.participants.values().copied().collect();
        let event = json!({ "audiobridge": "destroyed", "room": id });
        for h in members {
            if let Some(p) = self.leave_room(ctx, h, false) {
                crate::dispatch::push(ctx, h, None, event.clone());
                self.end_media(ctx, h, &p);
            }
        }
        self.hang_up_lobby(ctx, id);
        self.rooms.remove(&id);
        ctx.push(Command::CloseMixer { room: id });
        tracing::debug!(room = id, "audiobridge room destroyed");
    }

    fn allowed(&mut self, f: &Fields<'_>) -> Result<Value, AbError> {
        f.str("secret")?;
        let action = f.required_str("action")?;
        let tokens = match f.get("allowed") {
            None => None,
            Some(Value::Array(items)) => Some(items),
            Some(_) => return Err(AbError::InvalidType("allowed should be an array".into())),
        };
        if !["enable", "disable", "add", "remove"].contains(&action) {
            return Err(AbError::InvalidElement(format!(
                "Unsupported action '{action}' (allowed)"
            )));
        }
        let room = self.managed(f)?;
        let tokens: Vec<String> = match tokens {
            Some(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    AbError::InvalidElement(
                        "Invalid element in the allowed array (not a string)".into(),
                    )
                })?,
            None => Vec::new(),
        };
        match action {
            "enable" => room.check_tokens = true,
            "disable" => room.check_tokens = false,
            "add" => room.allowed.extend(tokens),
            _ => {
                for t in &tokens {
                    room.allowed.remove(t);
                }
            }
        }
        let mut answer = json!({ "audiobridge": "success", "room": room.id });
        if action != "disable" {
            answer["allowed"] = room.allowed.iter().cloned().collect::<Vec<_>>().into();
        }
        Ok(answer)
    }

    fn mute(&mut self, ctx: &mut Ctx, f: &Fields<'_>, muted: bool) -> Result<Value, AbError> {
        f.str("secret")?;
        let room_id = f.required_u64("room")?;
        let user = f.required_u64("id")?;
        let room = self.managed(f)?;
        let handle = *room.participants.get(&user).ok_or(AbError::NoSuchUser {
            user,
            room: room_id,
        })?;
        let Some(p) = self.participant_mut(handle) else {
            return Err(AbError::NoSuchUser {
                user,
                room: room_id,
            });
        };
        if p.muted == muted {
            return Ok(json!({ "audiobridge": "success" }));
        }
        p.muted = muted;
        let event = json!({
            "audiobridge": "event", "room": room_id, "participants": [p.to_json(false)],
        });
        self.remix(ctx, handle);
        // Everyone hears it, the participant too.
        self.notify(ctx, room_id, None, &event, false);
        Ok(json!({ "audiobridge": "success", "room": room_id }))
    }

    fn mute_room(&mut self, ctx: &mut Ctx, f: &Fields<'_>, muted: bool) -> Result<Value, AbError> {
        f.str("secret")?;
        let room = self.managed(f)?;
        let id = room.id;
        if room.muted == muted {
            return Ok(json!({ "audiobridge": "success" }));
        }
        room.muted = muted;
        let members: Vec<HandleId> = room.participants.values().copied().collect();
        for h in members {
            self.remix(ctx, h);
        }
        let event = json!({ "audiobridge": "event", "room": id, "muted": muted });
        self.notify(ctx, id, None, &event, false);
        Ok(json!({ "audiobridge": "success", "room": id }))
    }

    fn kick(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, AbError> {
        f.str("secret")?;
        let room_id = f.required_u64("room")?;
        let user = f.required_u64("id")?;
        let room = self.managed(f)?;
        let Some(&handle) = room.participants.get(&user) else {
            // A callee `dial` is still calling: the call is given up.
            if self.hang_up_dialing(ctx, room_id, user) {
                return Ok(json!({ "audiobridge": "success" }));
            }
            return Err(AbError::NoSuchUser {
                user,
                room: room_id,
            });
        };
        let event = json!({ "audiobridge": "event", "room": room_id, "kicked": user });
        self.notify(ctx, room_id, None, &event, true);
        // Out of the room now (the others hear `leaving`, as when its PeerConnection
        // goes), then its media goes too.
        if let Some(p) = self.leave_room(ctx, handle, true) {
            self.end_media(ctx, handle, &p);
        }
        Ok(json!({ "audiobridge": "success" }))
    }

    fn suspend(&mut self, ctx: &mut Ctx, f: &Fields<'_>, suspend: bool) -> Result<Value, AbError> {
        f.str("secret")?;
        let room_id = f.required_u64("room")?;
        let user = f.required_u64("id")?;
        let room = self
            .rooms
            .get(&room_id)
            .ok_or(AbError::NoSuchRoom(room_id))?;
        let handle = *room.participants.get(&user).ok_or(AbError::NoSuchUser {
            user,
            room: room_id,
        })?;
        if handle != self.current {
            check_secret(f, "secret", room.secret.as_deref())?;
        }
        if suspend {
            f.bool("pause_events")?;
            f.bool("stop_record")?;
        } else {
            f.bool("record")?;
            f.str("filename")?;
        }
        let pause = f.bool("pause_events")?.unwrap_or(false);
        let Some(p) = self.participant_mut(handle) else {
            return Err(AbError::NoSuchUser {
                user,
                room: room_id,
            });
        };
        if p.suspended == suspend {
            return Ok(json!({ "audiobridge": "success" }));
        }
        p.suspended = suspend;
        let mut recap = false;
        if suspend {
            p.paused_events = pause;
        } else if p.paused_events {
            // Its events were paused: it gets the room as it is now.
            p.paused_events = false;
            recap = true;
        }
        self.remix(ctx, handle);
        let word = if suspend { "suspended" } else { "resumed" };
        if recap {
            let event = json!({
                "audiobridge": "event", "room": room_id, "resumed": user,
                "participants": self.others(room_id, handle),
            });
            crate::dispatch::push(ctx, handle, None, event);
        }
        let event = json!({ "audiobridge": "event", "room": room_id, word: user });
        self.notify(ctx, room_id, Some(handle), &event, false);
        if !recap {
            // The participant hears it even with its events paused.
            crate::dispatch::push(ctx, handle, None, event);
        }
        Ok(json!({ "audiobridge": "success" }))
    }

    /// With `lock_rtp_forward`, the forwarding requests need the admin key.
    fn check_forward(&self, f: &Fields<'_>) -> Result<(), AbError> {
        if self.lock_rtp_forward {
            if let Some(key) = &self.admin_key {
                check_secret(f, "admin_key", Some(key))?;
            }
        }
        Ok(())
    }

    /// With `lock_play_file`, the announcement requests need the admin key.
    fn check_play(&self, f: &Fields<'_>) -> Result<(), AbError> {
        if self.lock_play_file {
            if let Some(key) = &self.admin_key {
                check_secret(f, "admin_key", Some(key))?;
            }
        }
        Ok(())
    }

    /// A plain RTP copy of the room's whole mix to `host:port` (an IP address: names are
    /// not resolved here).
    fn rtp_forward(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, AbError> {
        self.check_forward(f)?;
        let group = f.str("group")?.map(str::to_owned);
        let ssrc = f.u64("ssrc")?;
        let codec = match f.str("codec")? {
            None => MixCodec::Opus,
            Some(name) => MixCodec::from_name(name)
                .ok_or_else(|| AbError::InvalidElement(format!("Unsupported codec ({name})")))?,
        };
        let default_pt = match codec {
            MixCodec::Opus => 100,
            MixCodec::Pcmu => 0,
            MixCodec::Pcma => 8,
        };
        let pt = match f.u64("ptype")? {
            None => default_pt,
            Some(p) if p < 128 => p as u8,
            Some(_) => return Err(AbError::InvalidElement("Invalid ptype (0-127)".into())),
        };
        let port = f.required_u64("port")?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| AbError::InvalidElement("Invalid port".into()))?;
        let host = f.required_str("host")?.to_owned();
        let ip: std::net::IpAddr = host.parse().map_err(|_| {
            AbError::InvalidElement(format!(
                "Invalid host address ({host}): an IP address is needed"
            ))
        })?;
        let srtp = crate::srtp_params::srtp_key(f.u64("srtp_suite")?, f.str("srtp_crypto")?)
            .map_err(|e| {
                e.into_plugin(
                    ("srtp_suite", "srtp_crypto"),
                    AbError::MissingElement,
                    AbError::InvalidElement,
                )
            })?;
        let always_on = f.bool("always_on")?.unwrap_or(false);
        let room = self.managed(f)?;
        if let Some(g) = &group {
            if !room.groups.is_empty() && !room.groups.contains(g) {
                return Err(AbError::NoSuchGroup(format!("No such group ({g})")));
            }
        }
        let stream_id = loop {
            let id = rand::random::<u32>() >> 1;
            if id != 0 && !room.forwarders.contains_key(&id) {
                break id;
            }
        };
        let ssrc = ssrc.map_or(stream_id, |s| s as u32);
        let mut entry = json!({
            "stream_id": stream_id, "ip": ip.to_string(), "port": port, "ssrc": ssrc,
            "codec": codec.name(), "ptype": pt, "srtp": srtp.is_some(), "always_on": always_on,
        });
        if let Some(g) = &group {
            entry["group"] = g.clone().into();
        }
        room.forwarders.insert(stream_id, entry);
        let id = room.id;
        ctx.push(Command::MixForward {
            room: id,
            forward: MixForward {
                id: stream_id,
                destination: std::net::SocketAddr::new(ip, port),
                codec,
                pt,
                ssrc,
                always_on,
                srtp,
            },
        });
        let mut answer = json!({
            "audiobridge": "success", "room": id, "stream_id": stream_id,
            "host": host, "port": port,
        });
        if let Some(g) = group {
            answer["group"] = g.into();
        }
        Ok(answer)
    }

    fn play_file(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, AbError> {
        f.required_u64("room")?;
        let filename = f.required_str("filename")?.to_owned();
        let asked = f.str("file_id")?.map(str::to_owned);
        f.str("group")?;
        let looped = f.bool("loop")?.unwrap_or(false);
        self.check_play(f)?;
        let room = self.managed(f)?;
        let group = room.group(f, true)?;
        let file_id = match asked {
            Some(id) if room.announcements.contains_key(&id) => {
                return Err(AbError::IdExists(format!("File ID exists ({id})")))
            }
            Some(id) => id,
            None => loop {
                let id = random_uuid();
                if !room.announcements.contains_key(&id) {
                    break id;
                }
            },
        };
        let id = room.id;
        if let Some(ports) = &self.ports {
            if let Err(e) = ports.0.check_file(&filename, "opus") {
                tracing::warn!(room = id, file = %filename, "can't play: {e}");
                return Err(AbError::Unknown("Error opening file".into()));
            }
        }
        if let Some(room) = self.rooms.get_mut(&id) {
            room.announcements.insert(
                file_id.clone(),
                Announcement {
                    filename: filename.clone(),
                    looped,
                    group,
                },
            );
        }
        ctx.push(Command::MixPlayFile {
            room: id,
            file: file_id.clone(),
            path: filename,
            looped,
        });
        let event = json!({
            "audiobridge": "announcement-started", "room": id, "file_id": file_id,
        });
        self.notify(ctx, id, None, &event, false);
        Ok(json!({ "audiobridge": "success", "room": id, "file_id": file_id }))
    }
}
