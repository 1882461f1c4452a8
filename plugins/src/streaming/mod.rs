//! `janus.plugin.streaming`: mountpoints fed by plain RTP (ffmpeg, GStreamer, a camera)
//! fanned out to WebRTC viewers. The source and its viewers' PeerConnections share a media
//! shard; each watched stream is a router edge from the source to the viewer, so packets
//! never come through this code. Cardea makes the offer to each viewer, as Janus does.

mod error;
mod mountpoint;
mod recording;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::dispatch::push;
use crate::fields::{same_secret, Fields, SecretCheck};
use crate::{
    Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, Plugin, PluginInfo, Ports, Reply,
    SourceInput, SourceReport, SourceSpec,
};
use error::StError;
use mountpoint::{Feed, Mountpoint};

const PACKAGE: &str = "janus.plugin.streaming";

/// `plugins.streaming` in the configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Needed to `create` (and to list private mountpoints).
    pub admin_key: Option<String>,
    /// Mountpoints as `create` bodies; `None`: Janus's sample mountpoint 1.
    pub mountpoints: Option<Vec<Value>>,
}

impl Settings {
    /// Reads and checks the settings: every mountpoint must be a valid `create` body with
    /// its own id (the error names the mountpoint by position).
    pub fn parse(value: Option<&Value>) -> Result<Self, String> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let f = Fields::new(value).map_err(|_| "should be a mapping".to_owned())?;
        let admin_key = f
            .str("admin_key")
            .map_err(|e| StError::from(e).to_string())?
            .map(str::to_owned);
        let mountpoints = match f.get("mountpoints") {
            None => None,
            Some(Value::Array(list)) => Some(list.clone()),
            Some(_) => return Err("mountpoints should be a list".into()),
        };
        let mut ids = HashSet::new();
        for (i, body) in mountpoints.iter().flatten().enumerate() {
            let f = Fields::new(body).map_err(|_| format!("mountpoints[{i}]: not a mapping"))?;
            let id = f
                .required_u64("id")
                .map_err(|e| format!("mountpoints[{i}]: {}", StError::from(e)))?;
            Mountpoint::parse(&f, id).map_err(|e| format!("mountpoints[{i}] (id {id}): {e}"))?;
            if !ids.insert(id) {
                return Err(format!("mountpoints[{i}]: id {id} is used twice"));
            }
        }
        Ok(Self {
            admin_key,
            mountpoints,
        })
    }
}

/// One stream a viewer watches.
#[derive(Debug, Clone)]
struct Watched {
    /// The mountpoint's mid.
    source_mid: String,
    kind: crate::MediaKind,
    codec: String,
    /// The m-line's mid in the viewer's PeerConnection, once offered.
    mid: Option<String>,
    send: bool,
}

#[derive(Debug, Default)]
struct Viewer {
    mountpoint: Option<u64>,
    streams: Vec<Watched>,
    /// The answer came (`start` with JSEP).
    started: bool,
    paused: bool,
    /// ICE and DTLS are up.
    up: bool,
    /// `stop` was asked: the PeerConnection's end says `stopped`.
    stopping: bool,
    /// An on-demand mountpoint's playback of its file for this viewer alone.
    own_source: Option<u64>,
}

pub struct Streaming {
    handles: HashSet<HandleId>,
    viewers: HashMap<HandleId, Viewer>,
    mountpoints: BTreeMap<u64, Mountpoint>,
    ports: Option<Ports>,
    admin_key: Option<String>,
    next_source: u64,
    /// Commands from before any request (the configured mountpoints' sources).
    queued: Vec<Command>,
}

impl Default for Streaming {
    fn default() -> Self {
        Self::new(None, None)
    }
}

fn error_json(e: &StError) -> Value {
    json!({ "streaming": "event", "error_code": e.code(), "error": e.to_string() })
}

fn status(text: &str) -> Value {
    json!({ "streaming": "event", "result": { "status": text } })
}

/// Checks `name` in the request against `expected` (Janus's JANUS_CHECK_SECRET).
fn check_secret(f: &Fields<'_>, name: &'static str, expected: Option<&str>) -> Result<(), StError> {
    match f.secret(name, expected)? {
        SecretCheck::Fine => Ok(()),
        SecretCheck::Missing => Err(StError::MissingElement(name)),
        SecretCheck::Wrong => Err(StError::Unauthorized(name)),
    }
}

/// Requests answered at once; the viewer's are acknowledged and answered by an event.
const SYNC: [&str; 10] = [
    "list",
    "info",
    "create",
    "edit",
    "destroy",
    "enable",
    "disable",
    "kick_all",
    "recording",
    "exists",
];
const ASYNC: [&str; 6] = ["watch", "start", "pause", "configure", "switch", "stop"];

impl Streaming {
    /// The plugin with the configured mountpoints (`settings` checked by
    /// [`Settings::parse`]); their ports are bound through `ports` now, their sources start
    /// with the first request or clock tick. A mountpoint whose ports are taken is left out,
    /// with a warning, as Janus does.
    pub fn new(settings: Option<&Value>, ports: Option<Ports>) -> Self {
        let settings = Settings::parse(settings).unwrap_or_else(|e| {
            tracing::warn!("plugins.streaming ignored: {e}");
            Settings::default()
        });
        let mut plugin = Self {
            handles: HashSet::new(),
            viewers: HashMap::new(),
            mountpoints: BTreeMap::new(),
            ports,
            admin_key: settings.admin_key,
            next_source: 1,
            queued: Vec::new(),
        };
        let bodies = settings
            .mountpoints
            .unwrap_or_else(|| vec![mountpoint::sample()]);
        let mut ctx = Ctx::default();
        for body in &bodies {
            let Ok(f) = Fields::new(body) else { continue };
            let id = f.u64("id").ok().flatten().unwrap_or(0);
            if let Err(e) = plugin.create_mountpoint(&mut ctx, &f, Some(id)) {
                tracing::warn!(mountpoint = id, "mountpoint not created: {e}");
            }
        }
        plugin.queued = ctx.commands;
        plugin
    }

    fn flush(&mut self, ctx: &mut Ctx) {
        ctx.commands.append(&mut self.queued);
    }

    fn mountpoint(&self, f: &Fields<'_>) -> Result<&Mountpoint, StError> {
        let id = f.required_u64("id")?;
        self.mountpoints
            .get(&id)
            .ok_or_else(|| StError::NoSuchMountpoint(id.to_string()))
    }

    /// The mountpoint named by `id`, after its secret was checked.
    fn managed(&mut self, f: &Fields<'_>) -> Result<&mut Mountpoint, StError> {
        let id = f.required_u64("id")?;
        let mp = self
            .mountpoints
            .get_mut(&id)
            .ok_or_else(|| StError::NoSuchMountpoint(id.to_string()))?;
        check_secret(f, "secret", mp.secret.as_deref())?;
        Ok(mp)
    }

    fn fresh_id(&self) -> u64 {
        loop {
            let id = rand::random::<u64>() & ((1 << 53) - 1);
            if id != 0 && !self.mountpoints.contains_key(&id) {
                return id;
            }
        }
    }

    fn release(&self, mp: &Mountpoint) {
        if let Some(ports) = &self.ports {
            for local in mp.streams.iter().filter_map(|s| s.local) {
                ports.0.release(local);
            }
        }
    }

    /// Parses, binds and starts a mountpoint; `id` `Some(0)` or `None` picks one.
    fn create_mountpoint(
        &mut self,
        ctx: &mut Ctx,
        f: &Fields<'_>,
        id: Option<u64>,
    ) -> Result<u64, StError> {
        let id = match id.filter(|id| *id != 0) {
            Some(id) if self.mountpoints.contains_key(&id) => {
                return Err(StError::CantCreate(
                    "A stream with the provided ID already exists".into(),
                ))
            }
            Some(id) if id >= 1 << 53 => {
                return Err(StError::InvalidElement(
                    "id should be below 2^53 (a JavaScript-safe integer)".into(),
                ))
            }
            Some(id) => id,
            None => self.fresh_id(),
        };
        let mut mp = Mountpoint::parse(f, id)?;
        let Some(ports) = self.ports.clone() else {
            return Err(StError::CantCreate(
                "Can't create mountpoint: no media I/O in this process".into(),
            ));
        };
        if let Some(file) = mp.filename() {
            let codec = &mp.streams[0].codec;
            ports
                .0
                .check_file(file, codec)
                .map_err(|e| StError::CantCreate(format!("Can't create mountpoint: {e}")))?;
        }
        if mp.feed == Feed::Rtp {
            for i in 0..mp.streams.len() {
                match ports.0.bind(mp.streams[i].port) {
                    Ok(local) => mp.streams[i].local = Some(local),
                    Err(e) => {
                        self.release(&mp);
                        let s = &mp.streams[i];
                        return Err(StError::CantCreate(format!(
                            "Can't create mountpoint: port {} of stream '{}': {e}",
                            s.port, s.mid
                        )));
                    }
                }
            }
        }
        mp.source = self.fresh_source();
        if !matches!(mp.feed, Feed::OnDemand(_)) {
            self.open_source(ctx, &mp, mp.source);
        }
        self.mountpoints.insert(id, mp);
        Ok(id)
    }

    /// The viewer on `handle`, if it watches a mountpoint; else error 455 with `error`.
    fn watching(&mut self, handle: HandleId, error: &str) -> Result<&mut Viewer, StError> {
        self.viewers
            .get_mut(&handle)
            .filter(|v| v.mountpoint.is_some())
            .ok_or_else(|| StError::NotWatching(error.to_owned()))
    }

    fn fresh_source(&mut self) -> u64 {
        let source = self.next_source;
        self.next_source += 1;
        source
    }

    /// Starts `source` with the mountpoint's streams: its ports, or a playback of its file.
    fn open_source(&self, ctx: &mut Ctx, mp: &Mountpoint, source: u64) {
        let streams = mp
            .streams
            .iter()
            .filter_map(|s| {
                let input = match mp.filename() {
                    Some(file) => SourceInput::File(file.to_owned()),
                    None => SourceInput::Udp(s.local?),
                };
                Some(SourceSpec {
                    mid: s.mid.clone(),
                    kind: s.kind,
                    input,
                    pt: Some(s.pt),
                    clock_rate: s.clock_rate(),
                    codec: s.codec.clone(),
                    srtp: mp.srtp.clone(),
                })
            })
            .collect();
        ctx.push(Command::OpenSource {
            source,
            key: mp.shard_key(),
            streams,
        });
    }

    // ---- synchronous requests ------------------------------------------------------

    fn answer_now(
        &mut self,
        ctx: &mut Ctx,
        request: &str,
        f: &Fields<'_>,
    ) -> Result<Value, StError> {
        match request {
            "list" => {
                let admin = match (&self.admin_key, f.str("admin_key")?) {
                    (Some(key), Some(given)) => {
                        if !same_secret(given, key) {
                            return Err(StError::Unauthorized("admin_key"));
                        }
                        true
                    }
                    _ => false,
                };
                let list: Vec<Value> = self
                    .mountpoints
                    .values()
                    .filter(|mp| admin || !mp.is_private)
                    .map(|mp| mp.list_entry(ctx.now))
                    .collect();
                Ok(json!({ "streaming": "list", "list": list }))
            }
            "info" => {
                let mp = self.mountpoint(f)?;
                let admin = match (&mp.secret, f.str("secret")?) {
                    (None, _) => true,
                    (Some(s), Some(given)) => same_secret(s, given),
                    (Some(_), None) => false,
                };
                Ok(json!({ "streaming": "info", "info": mp.info(admin, ctx.now) }))
            }
            "exists" => {
                let id = f.required_u64("id")?;
                Ok(json!({
                    "streaming": "exists", "id": id, "exists": self.mountpoints.contains_key(&id)
                }))
            }
            "create" => {
                if let Some(key) = &self.admin_key {
                    check_secret(f, "admin_key", Some(key))?;
                }
                let id = f.u64("id")?;
                let id = self.create_mountpoint(ctx, f, id)?;
                Ok(self.mountpoints[&id].created())
            }
            "edit" => {
                let mp = self.managed(f)?;
                if let Some(d) = f.str("new_description")? {
                    mp.description = d.to_owned();
                }
                if let Some(m) = f.str("new_metadata")? {
                    mp.metadata = Some(m.to_owned());
                }
                if let Some(s) = f.str("new_secret")? {
                    mp.secret = Some(s.to_owned());
                }
                if let Some(p) = f.str("new_pin")? {
                    mp.pin = Some(p.to_owned()).filter(|p| !p.is_empty());
                }
                if let Some(p) = f.bool("new_is_private")? {
                    mp.is_private = p;
                }
                Ok(json!({ "streaming": "edited", "id": mp.id, "permanent": false }))
            }
            "destroy" => {
                let id = self.managed(f)?.id;
                self.end_viewers(ctx, id, "stopped");
                if let Some(mp) = self.mountpoints.remove(&id) {
                    ctx.push(Command::CloseSource { source: mp.source });
                }
                Ok(json!({ "streaming": "destroyed", "destroyed": id }))
            }
            "enable" | "disable" => {
                let enabled = request == "enable";
                let stop_recording = f.bool("stop_recording")?.unwrap_or(true);
                let mp = self.managed(f)?;
                let (id, was) = (mp.id, mp.enabled);
                mp.enabled = enabled;
                if !enabled && stop_recording {
                    // Janus closes a disabled mountpoint's recordings unless told not to.
                    let target = crate::RecordTarget::Source(mp.source);
                    for s in &mut mp.streams {
                        if s.recording.take().is_some() {
                            let mid = s.mid.clone();
                            ctx.push(Command::StopRecord { target, mid });
                        }
                    }
                }
                if was != enabled {
                    let viewers: Vec<HandleId> = mp.viewers.iter().copied().collect();
                    for v in viewers {
                        self.route_viewer(ctx, v, enabled);
                    }
                }
                tracing::debug!(mountpoint = id, enabled, "mountpoint switched");
                Ok(json!({ "streaming": "ok" }))
            }
            "kick_all" => {
                let id = self.managed(f)?.id;
                self.end_viewers(ctx, id, "kicked_all");
                Ok(json!({ "streaming": "kicked_all" }))
            }
            "recording" => self.recording(ctx, f),
            _ => Err(StError::InvalidRequest(request.to_owned())),
        }
    }

    /// Every viewer of mountpoint `id` gets `status` and loses its PeerConnection.
    fn end_viewers(&mut self, ctx: &mut Ctx, id: u64, text: &str) {
        let Some(mp) = self.mountpoints.get_mut(&id) else {
            return;
        };
        let viewers = std::mem::take(&mut mp.viewers);
        for v in viewers {
            self.route_viewer(ctx, v, false);
            if let Some(viewer) = self.viewers.get_mut(&v) {
                if let Some(source) = viewer.own_source.take() {
                    ctx.push(Command::CloseSource { source });
                }
                // The PeerConnection's end then says nothing more.
                *viewer = Viewer::default();
            }
            push(ctx, v, None, status(text));
            ctx.push(Command::ClosePc { handle: v });
        }
    }

    // ---- viewers ---------------------------------------------------------------------

    /// Sets (or removes) the edges from the viewer's mountpoint to its PeerConnection.
    fn route_viewer(&self, ctx: &mut Ctx, handle: HandleId, enabled: bool) {
        let Some(viewer) = self.viewers.get(&handle) else {
            return;
        };
        let Some(mp) = viewer.mountpoint.and_then(|id| self.mountpoints.get(&id)) else {
            return;
        };
        let on = enabled && mp.enabled && viewer.started && !viewer.paused;
        let source = match mp.feed {
            Feed::OnDemand(_) => match viewer.own_source {
                Some(s) => s,
                None => return,
            },
            _ => mp.source,
        };
        for w in &viewer.streams {
            let Some(mid) = &w.mid else { continue };
            let send = on && w.send;
            if send {
                let video = w.kind == crate::MediaKind::Video;
                ctx.push(Command::ForwardPt {
                    handle,
                    mid: mid.clone(),
                    pt: crate::codecs::canonical_pt(&w.codec),
                    codec: video.then(|| w.codec.clone()),
                });
            }
            ctx.push(Command::RouteSource {
                source,
                mid: w.source_mid.clone(),
                to: handle,
                to_mid: mid.clone(),
                enabled: send,
            });
        }
    }

    fn watch(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), StError> {
        if jsep.is_some() {
            return Err(StError::InvalidSdp(
                "Viewers get an offer from the plugin: watch takes no JSEP".into(),
            ));
        }
        let mp = self.mountpoint(f)?;
        check_secret(f, "pin", mp.pin.as_deref())?;
        if let Some(current) = self.viewers.get(&handle).and_then(|v| v.mountpoint) {
            return Err(StError::InvalidState(format!(
                "Already watching mountpoint {current}"
            )));
        }
        let mids = f.strings("media")?.unwrap_or_default();
        let (audio, video) = (f.bool("offer_audio")?, f.bool("offer_video")?);
        let chosen: Vec<&mountpoint::Stream> = mp
            .streams
            .iter()
            .filter(|s| mids.is_empty() || mids.contains(&s.mid))
            .filter(|s| match s.kind {
                crate::MediaKind::Audio => audio != Some(false),
                crate::MediaKind::Video => video != Some(false),
            })
            .collect();
        let media: Vec<_> = chosen.iter().filter_map(|s| s.offer_media()).collect();
        if media.is_empty() {
            return Err(StError::InvalidElement(
                "none of the mountpoint's streams was asked for".into(),
            ));
        }
        let streams = chosen
            .iter()
            .map(|s| Watched {
                source_mid: s.mid.clone(),
                kind: s.kind,
                codec: s.codec.clone(),
                mid: None,
                send: true,
            })
            .collect();
        let (id, key) = (mp.id, mp.shard_key());
        self.viewers.insert(
            handle,
            Viewer {
                mountpoint: Some(id),
                streams,
                ..Viewer::default()
            },
        );
        if let Some(mp) = self.mountpoints.get_mut(&id) {
            mp.viewers.insert(handle);
        }
        ctx.push(Command::PinShard { handle, key });
        let offer = JsepAction::Offer {
            media,
            later: Vec::new(),
        };
        Ok((status("preparing"), Some(offer)))
    }

    fn start(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        jsep: Option<Jsep>,
    ) -> Result<Value, StError> {
        let viewer = self.watching(handle, "Can't start: no mountpoint set")?;
        match jsep {
            Some(j) if j.kind == JsepType::Answer => {
                ctx.push(Command::AcceptAnswer {
                    handle,
                    answer: j.sdp,
                });
            }
            Some(_) => {
                return Err(StError::InvalidSdp(
                    "Viewers answer the plugin's offer: start takes an answer".into(),
                ))
            }
            None if !viewer.started => {
                return Err(StError::InvalidState(
                    "Can't start: answer the offer first (start with JSEP)".into(),
                ))
            }
            None => {}
        }
        viewer.started = true;
        viewer.paused = false;
        let text = if viewer.up { "started" } else { "starting" };
        let needs_source = viewer.own_source.is_none();
        let on_demand = viewer
            .mountpoint
            .filter(|id| matches!(self.mountpoints.get(id), Some(mp) if matches!(mp.feed, Feed::OnDemand(_))));
        if let (Some(id), true) = (on_demand, needs_source) {
            // Each viewer of an on-demand mountpoint hears the file from its start.
            let source = self.fresh_source();
            if let Some(mp) = self.mountpoints.get(&id) {
                self.open_source(ctx, mp, source);
            }
            if let Some(v) = self.viewers.get_mut(&handle) {
                v.own_source = Some(source);
            }
        }
        self.route_viewer(ctx, handle, true);
        Ok(status(text))
    }

    fn configure(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, StError> {
        let viewer = self.watching(handle, "Can't configure: not on a mountpoint")?;
        let mut changes: Vec<(Option<String>, Option<bool>)> = Vec::new();
        match f.objects("streams")? {
            Some(list) => {
                for s in &list {
                    changes.push((s.str("mid")?.map(str::to_owned), s.bool("send")?));
                }
            }
            None => changes.push((f.str("mid")?.map(str::to_owned), f.bool("send")?)),
        }
        // The deprecated audio/video switches.
        for (name, kind) in [
            ("audio", crate::MediaKind::Audio),
            ("video", crate::MediaKind::Video),
        ] {
            let on = match f.get(name) {
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => Some(s == "true"),
                _ => None,
            };
            if let Some(on) = on {
                for w in viewer.streams.iter_mut().filter(|w| w.kind == kind) {
                    w.send = on;
                }
            }
        }
        for (mid, send) in changes {
            let Some(send) = send else { continue };
            for w in viewer.streams.iter_mut() {
                let hit = mid
                    .as_deref()
                    .is_none_or(|m| w.mid.as_deref() == Some(m) || w.source_mid == m);
                if hit {
                    w.send = send;
                }
            }
        }
        self.route_viewer(ctx, handle, true);
        Ok(json!({ "streaming": "event", "result": { "event": "configured" } }))
    }

    fn switch(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, StError> {
        let target = self.mountpoint(f)?;
        let target_id = target.id;
        let Some(current) = self.viewers.get(&handle).and_then(|v| v.mountpoint) else {
            return Err(StError::NotWatching(
                "Can't switch: not on a mountpoint".into(),
            ));
        };
        let Some(old) = self.mountpoints.get(&current) else {
            return Err(StError::NoSuchMountpoint(current.to_string()));
        };
        if old.feed != Feed::Rtp || target.feed != Feed::Rtp {
            return Err(StError::CantSwitch(
                "Can't switch: only RTP mountpoints can be switched between".into(),
            ));
        }
        if !old.same_shape(target) {
            return Err(StError::CantSwitch(format!(
                "Can't switch to mountpoint {target_id}: its streams differ from mountpoint {current}'s"
            )));
        }
        check_secret(f, "pin", target.pin.as_deref())?;
        let new_mids: Vec<String> = target.streams.iter().map(|s| s.mid.clone()).collect();
        let old_mids: Vec<String> = old.streams.iter().map(|s| s.mid.clone()).collect();
        self.route_viewer(ctx, handle, false);
        if let Some(mp) = self.mountpoints.get_mut(&current) {
            mp.viewers.remove(&handle);
        }
        if let Some(mp) = self.mountpoints.get_mut(&target_id) {
            mp.viewers.insert(handle);
        }
        if let Some(viewer) = self.viewers.get_mut(&handle) {
            viewer.mountpoint = Some(target_id);
            for w in &mut viewer.streams {
                if let Some(i) = old_mids.iter().position(|m| *m == w.source_mid) {
                    w.source_mid = new_mids[i].clone();
                }
            }
        }
        self.route_viewer(ctx, handle, true);
        Ok(json!({ "streaming": "event", "result": { "switched": "ok", "id": target_id } }))
    }

    /// The viewer leaves its mountpoint (stop, a hangup, a detach).
    fn leave(&mut self, ctx: &mut Ctx, handle: HandleId) -> Option<u64> {
        self.route_viewer(ctx, handle, false);
        let viewer = self.viewers.get_mut(&handle)?;
        let id = viewer.mountpoint.take()?;
        let stopping = viewer.stopping;
        if let Some(source) = viewer.own_source.take() {
            ctx.push(Command::CloseSource { source });
        }
        *viewer = Viewer {
            stopping,
            ..Viewer::default()
        };
        if let Some(mp) = self.mountpoints.get_mut(&id) {
            mp.viewers.remove(&handle);
        }
        Some(id)
    }

    fn answer_later(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        request: &str,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), StError> {
        match request {
            "watch" => self.watch(ctx, handle, f, jsep),
            "start" => self.start(ctx, handle, jsep).map(|v| (v, None)),
            "pause" => {
                let viewer = self.watching(handle, "Can't pause: no mountpoint set")?;
                viewer.paused = true;
                self.route_viewer(ctx, handle, false);
                Ok((status("pausing"), None))
            }
            "configure" => self.configure(ctx, handle, f).map(|v| (v, None)),
            "switch" => self.switch(ctx, handle, f).map(|v| (v, None)),
            "stop" => {
                let watching = self
                    .viewers
                    .get(&handle)
                    .is_some_and(|v| v.mountpoint.is_some());
                if !watching {
                    return Ok((status("idle"), None));
                }
                if let Some(v) = self.viewers.get_mut(&handle) {
                    v.stopping = true;
                }
                self.leave(ctx, handle);
                ctx.push(Command::ClosePc { handle });
                Ok((status("stopping"), None))
            }
            _ => Err(StError::InvalidRequest(request.to_owned())),
        }
    }
}

impl Plugin for Streaming {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS Streaming plugin",
            description: "Plain RTP mountpoints fanned out to WebRTC viewers",
            author: "Cardea",
            version: 10,
            version_string: "0.0.10",
        }
    }

    fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        self.handles.insert(handle);
        Ok(())
    }

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        self.flush(ctx);
        crate::dispatch::dispatch(self, ctx, message)
    }

    fn jsep_error(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        error: &str,
    ) {
        self.leave(ctx, handle);
        push(
            ctx,
            handle,
            transaction,
            error_json(&StError::InvalidSdp(error.to_owned())),
        );
    }

    fn offered(&mut self, handle: HandleId, mids: &[String], _data: &mut Value) {
        let Some(viewer) = self.viewers.get_mut(&handle) else {
            return;
        };
        for (w, mid) in viewer.streams.iter_mut().zip(mids) {
            w.mid = Some(mid.clone());
        }
    }

    fn setup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(viewer) = self.viewers.get_mut(&handle) else {
            return;
        };
        if viewer.mountpoint.is_none() {
            return;
        }
        viewer.up = true;
        push(ctx, handle, None, status("started"));
    }

    fn hangup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let was_stopping = self.viewers.get(&handle).is_some_and(|v| v.stopping);
        let left = self.leave(ctx, handle);
        if left.is_some() || was_stopping {
            push(ctx, handle, None, status("stopped"));
        }
        if let Some(v) = self.viewers.get_mut(&handle) {
            v.stopping = false;
        }
    }

    fn source_report(&mut self, ctx: &mut Ctx, source: u64, report: &SourceReport) {
        let Some(mp) = self.mountpoints.values_mut().find(|m| m.source == source) else {
            return;
        };
        let Some(stream) = mp.streams.iter_mut().find(|s| s.mid == report.mid) else {
            return;
        };
        let changed = stream.receiving != report.receiving;
        stream.receiving = report.receiving;
        stream.last_packet = report.last_packet;
        stream.packets = report.packets;
        if !changed {
            return;
        }
        let viewers: Vec<HandleId> = mp.viewers.iter().copied().collect();
        for v in viewers {
            let Some(viewer) = self.viewers.get(&v) else {
                continue;
            };
            for w in viewer.streams.iter().filter(|w| w.source_mid == report.mid) {
                if let Some(mid) = &w.mid {
                    ctx.push(Command::MediaState {
                        handle: v,
                        mid: mid.clone(),
                        kind: w.kind,
                        receiving: report.receiving,
                    });
                }
            }
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        self.flush(ctx);
    }

    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId) {
        self.leave(ctx, handle);
        self.viewers.remove(&handle);
        self.handles.remove(&handle);
    }

    fn query_session(&self, handle: HandleId) -> Value {
        match self.viewers.get(&handle) {
            Some(v) => json!({
                "state": if v.mountpoint.is_some() { "watching" } else { "idle" },
                "mountpoint": v.mountpoint,
                "started": v.started,
                "paused": v.paused,
                "streams": v.streams.iter().map(|w| json!({
                    "mid": w.mid, "source_mid": w.source_mid, "type": w.kind.as_str(),
                    "codec": w.codec, "send": w.send,
                })).collect::<Vec<_>>(),
            }),
            None if self.handles.contains(&handle) => json!({ "state": "idle" }),
            None => json!({ "destroyed": true }),
        }
    }
}

crate::dispatch::requests!(Streaming, StError);
