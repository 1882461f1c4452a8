//! `janus.plugin.streaming`: mountpoints fed by plain RTP (ffmpeg, GStreamer, a camera)
//! fanned out to WebRTC viewers. The source and its viewers' PeerConnections share a media
//! shard; each watched stream is a router edge from the source to the viewer, so packets
//! never come through this code. Cardea makes the offer to each viewer, as Janus does.

mod error;
mod mountpoint;
mod recording;
mod rtsp;
#[cfg(test)]
mod tests;

pub use rtsp::{codec_of as rtsp_codec, fmtp_of as rtsp_fmtp};

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::dispatch::push;
use crate::fields::{same_secret, Fields, SecretCheck};
use crate::permanent::{Keeper, Permanence};
use crate::{
    Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, Plugin, PluginInfo, Ports, Reply,
    RtspSpec, RtspTrack, SourceInput, SourceReport, SourceSpec,
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
    /// The state file of permanent mountpoints (read and written by the core).
    pub permanent_file: Option<String>,
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
        let permanent_file = f
            .str("permanent_file")
            .map_err(|e| StError::from(e).to_string())?
            .map(str::to_owned);
        Ok(Self {
            admin_key,
            mountpoints,
            permanent_file,
        })
    }
}

/// One stream a viewer watches.
#[derive(Debug, Clone)]
struct Watched {
    /// The mountpoint's mid.
    source_mid: String,
    kind: crate::MediaKind,
    /// A data stream (its mid is the data channel's m-line's).
    data: bool,
    /// The source stream's simulcast layers (empty: not simulcast), and the one wanted.
    layers: Vec<String>,
    substream: usize,
    /// Wanted VP8 temporal layers (0-2) of a simulcast stream.
    temporal: u8,
    /// Silence (µs) after which a layer is left for a lower one (`None`: 250 ms).
    fallback: Option<u64>,
    /// A VP9 SVC stream: the spatial and temporal layers wanted (Janus: 2 and 2), and
    /// those forwarded now (from the media's reports).
    svc: bool,
    spatial: u8,
    svc_temporal: u8,
    got_spatial: Option<u8>,
    got_svc_temporal: Option<u8>,
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
    /// `create`s of `rtsp` mountpoints waiting for the server, by source.
    rtsp_waiting: HashMap<u64, RtspWaiting>,
    /// The mountpoints' `create` bodies and the state file of permanent ones.
    permanent: Keeper,
}

/// Who asked for an `rtsp` mountpoint, with what, and whether it is to be permanent.
#[derive(Debug)]
struct RtspWaiting {
    handle: HandleId,
    transaction: Option<String>,
    body: Value,
    permanent: bool,
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
        Self::with_permanent(settings, ports, None)
    }

    /// As [`Streaming::new`], with the mountpoints of the state file of permanent ones too
    /// (checked when the configuration loaded; `None`: `permanent` requests are refused).
    pub fn with_permanent(
        settings: Option<&Value>,
        ports: Option<Ports>,
        permanence: Option<&Permanence>,
    ) -> Self {
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
            rtsp_waiting: HashMap::new(),
            permanent: Keeper::new("id", &[], None).0,
        };
        let configured = settings
            .mountpoints
            .unwrap_or_else(|| vec![mountpoint::sample()]);
        let (permanent, bodies) = Keeper::new("id", &configured, permanence);
        plugin.permanent = permanent;
        let mut ctx = Ctx::default();
        for body in &bodies {
            let Ok(f) = Fields::new(body) else { continue };
            let id = f.u64("id").ok().flatten().unwrap_or(0);
            match plugin.create_mountpoint(&mut ctx, &f, Some(id)) {
                Ok(id) => {
                    plugin.permanent.created(id, body, false);
                }
                Err(e) => tracing::warn!(mountpoint = id, "mountpoint not created: {e}"),
            }
        }
        plugin.queued = ctx.commands;
        plugin
    }

    /// Whether the request asks for a permanent change; refused without a state file, as
    /// Janus refuses it without a configuration file.
    fn wants_permanent(&self, f: &Fields<'_>, what: &str) -> Result<bool, StError> {
        let asked = f.bool("permanent")?;
        self.permanent.wants(asked, what).map_err(StError::Unknown)
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
            let locals = mp.streams.iter().flat_map(|s| {
                std::iter::once(s.local)
                    .chain(s.layer_locals)
                    .chain([s.rtcp_local])
            });
            for local in locals.flatten() {
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
        if mp.on_ports() {
            for i in 0..mp.streams.len() {
                let st = &mp.streams[i];
                let bound = match st.mcast {
                    Some(group) => ports.0.bind_multicast(st.port, group, st.iface.as_deref()),
                    None => ports.0.bind(st.port, st.iface.as_deref()),
                };
                match bound {
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
                if let Some(port) = mp.streams[i].rtcpport {
                    match ports.0.bind(port, mp.streams[i].iface.as_deref()) {
                        Ok(local) => mp.streams[i].rtcp_local = Some(local),
                        Err(e) => {
                            self.release(&mp);
                            return Err(StError::CantCreate(format!(
                                "Can't create mountpoint: RTCP port {port} of stream '{}': {e}",
                                mp.streams[i].mid
                            )));
                        }
                    }
                }
                // The other simulcast layers' ports.
                let Some(asked) = mp.streams[i].simulcast else {
                    continue;
                };
                for (layer, port) in asked.into_iter().enumerate() {
                    match ports.0.bind(port, mp.streams[i].iface.as_deref()) {
                        Ok(local) => mp.streams[i].layer_locals[layer] = Some(local),
                        Err(e) => {
                            self.release(&mp);
                            return Err(StError::CantCreate(format!(
                                "Can't create mountpoint: port {port} of stream '{}' (simulcast layer {}): {e}",
                                mp.streams[i].mid,
                                layer + 1
                            )));
                        }
                    }
                }
            }
        }
        mp.source = self.fresh_source();
        match &mp.feed {
            Feed::OnDemand(_) => {}
            // The source starts once the server has described its tracks.
            Feed::Rtsp(feed) => {
                let local = |kind| {
                    mp.streams
                        .iter()
                        .find(|s| s.kind == kind)
                        .and_then(|s| s.local)
                };
                ctx.push(Command::OpenRtsp {
                    source: mp.source,
                    spec: RtspSpec {
                        url: feed.url.clone(),
                        credentials: feed.credentials.clone(),
                        audio: local(crate::MediaKind::Audio),
                        video: local(crate::MediaKind::Video),
                        reconnect_delay: std::time::Duration::from_secs(feed.reconnect_delay),
                        timeout: std::time::Duration::from_secs(feed.timeout),
                    },
                });
            }
            _ => self.open_source(ctx, &mp, mp.source),
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

    /// Stops a removed mountpoint's source (and its RTSP client) and frees its ports.
    fn remove_source(&mut self, ctx: &mut Ctx, mp: &Mountpoint) {
        ctx.push(Command::CloseSource { source: mp.source });
        if let Feed::Rtsp(_) = mp.feed {
            ctx.push(Command::CloseRtsp { source: mp.source });
            self.rtsp_waiting.remove(&mp.source);
            // Ports of a source that never started are still parked.
            self.release(mp);
        }
    }

    /// A `create` of an `rtsp` mountpoint with `rtsp_failcheck` (the default): acknowledged
    /// now, answered once the server has described the presentation (or refused it).
    fn create_rtsp_later(&mut self, ctx: &mut Ctx, message: &Message) -> Option<Reply> {
        let f = Fields::new(&message.body).ok()?;
        let deferred = f.str("request").ok()?? == "create"
            && f.str("type").ok()?? == "rtsp"
            && f.bool("rtsp_failcheck").ok()? != Some(false);
        if !deferred || !self.handles.contains(&message.handle) {
            return None;
        }
        let created = (|| {
            if let Some(key) = &self.admin_key {
                check_secret(&f, "admin_key", Some(key))?;
            }
            let permanent = self.wants_permanent(&f, "create permanent mountpoint")?;
            let id = f.u64("id")?;
            self.create_mountpoint(ctx, &f, id)
                .map(|id| (id, permanent))
        })();
        match created {
            Ok((id, permanent)) => {
                let source = self.mountpoints[&id].source;
                let waiting = RtspWaiting {
                    handle: message.handle,
                    transaction: message.transaction.clone(),
                    body: message.body.clone(),
                    permanent,
                };
                self.rtsp_waiting.insert(source, waiting);
                Some(Reply::Ack)
            }
            Err(e) => Some(Reply::Sync(error_json(&e))),
        }
    }

    /// Starts `source` with the mountpoint's streams: its ports, or a playback of its file.
    fn open_source(&self, ctx: &mut Ctx, mp: &Mountpoint, source: u64) {
        let streams = mp
            .streams
            .iter()
            // An RTSP track Cardea cannot relay has no codec.
            .filter(|s| !s.codec.is_empty())
            // Each simulcast layer is a stream of the source.
            .flat_map(|s| {
                let locals = std::iter::once(s.local).chain(s.layer_locals);
                s.layer_mids()
                    .into_iter()
                    .zip(locals)
                    .enumerate()
                    .map(move |(layer, (mid, local))| (s, layer, mid, local))
            })
            .filter_map(|(s, layer, mid, local)| {
                let input = match mp.filename() {
                    Some(file) => SourceInput::File(file.to_owned()),
                    None => SourceInput::Udp(local?),
                };
                Some(SourceSpec {
                    mid,
                    kind: s.kind,
                    input,
                    pt: s.data.is_none().then_some(s.pt),
                    clock_rate: s.clock_rate(),
                    codec: s.codec.clone(),
                    srtp: mp.srtp.clone(),
                    data: s.data,
                    rid: s.simulcast.map(|_| layer.to_string()),
                    // The first layer's sender is the one asked for key frames.
                    rtcp: if layer == 0 { s.rtcp_local } else { None },
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
                let permanent = self.wants_permanent(f, "create permanent mountpoint")?;
                let id = f.u64("id")?;
                let id = self.create_mountpoint(ctx, f, id)?;
                let saved = self
                    .permanent
                    .created(id, &Value::Object(f.0.clone()), permanent);
                let mut created = self.mountpoints[&id].created();
                created["permanent"] = saved.into();
                Ok(created)
            }
            "edit" => {
                let permanent = self.wants_permanent(f, "edit mountpoint permanently")?;
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
                let (id, fields) = (mp.id, mp.edit_fields());
                let saved = self.permanent.edited(id, fields, permanent);
                Ok(json!({ "streaming": "edited", "id": id, "permanent": saved }))
            }
            "destroy" => {
                let permanent = self.wants_permanent(f, "destroy mountpoint permanently")?;
                let id = self.managed(f)?.id;
                self.end_viewers(ctx, id, "stopped");
                if let Some(mp) = self.mountpoints.remove(&id) {
                    self.remove_source(ctx, &mp);
                }
                // Janus's answer does not say whether it was saved.
                self.permanent.destroyed(id, permanent);
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
            if send && !w.data {
                let video = w.kind == crate::MediaKind::Video;
                ctx.push(Command::ForwardPt {
                    handle,
                    mid: mid.clone(),
                    pt: crate::codecs::canonical_pt(&w.codec),
                    codec: video.then(|| w.codec.clone()),
                });
            }
            if send && !w.layers.is_empty() {
                ctx.push(Command::SelectLayer {
                    handle,
                    mid: mid.clone(),
                    rids: (0..w.layers.len()).map(|l| l.to_string()).collect(),
                    codec: w.codec.clone(),
                    substream: w.substream,
                    temporal: w.temporal,
                    fallback: w.fallback.map(std::time::Duration::from_micros),
                });
            }
            if send && w.svc {
                ctx.push(Command::SelectSvc {
                    handle,
                    mid: mid.clone(),
                    spatial: w.spatial,
                    temporal: w.svc_temporal,
                    fallback: w.fallback.map(std::time::Duration::from_micros),
                });
            }
            let single = [w.source_mid.clone()];
            let layers = if w.layers.is_empty() {
                &single[..]
            } else {
                &w.layers[..]
            };
            for layer in layers {
                ctx.push(Command::RouteSource {
                    source,
                    mid: layer.clone(),
                    to: handle,
                    to_mid: mid.clone(),
                    enabled: send,
                });
            }
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
        if matches!(&mp.feed, Feed::Rtsp(r) if !r.described) {
            return Err(StError::InvalidState(
                "The RTSP server has not described the stream yet".into(),
            ));
        }
        if let Some(current) = self.viewers.get(&handle).and_then(|v| v.mountpoint) {
            return Err(StError::InvalidState(format!(
                "Already watching mountpoint {current}"
            )));
        }
        let mids = f.strings("media")?.unwrap_or_default();
        let (audio, video, data) = (
            f.bool("offer_audio")?,
            f.bool("offer_video")?,
            f.bool("offer_data")?,
        );
        // The streams offered: media m-lines in the mountpoint's order, then the data
        // channel (a stream whose codec no browser takes is left out).
        let chosen: Vec<&mountpoint::Stream> = mp
            .streams
            .iter()
            .filter(|s| mids.is_empty() || mids.contains(&s.mid))
            .filter(|s| match (s.data, s.kind) {
                (Some(_), _) => data != Some(false),
                (None, crate::MediaKind::Audio) => audio != Some(false),
                (None, crate::MediaKind::Video) => video != Some(false),
            })
            .filter(|s| s.data.is_some() || s.offer_media().is_some())
            .collect();
        let media: Vec<_> = chosen.iter().filter_map(|s| s.offer_media()).collect();
        let with_data = chosen.iter().any(|s| s.data.is_some());
        if media.is_empty() && !with_data {
            return Err(StError::InvalidElement(
                "none of the mountpoint's streams was asked for".into(),
            ));
        }
        let streams = chosen
            .iter()
            .map(|s| Watched {
                source_mid: s.mid.clone(),
                kind: s.kind,
                data: s.data.is_some(),
                layers: if s.simulcast.is_some() {
                    s.layer_mids()
                } else {
                    Vec::new()
                },
                substream: 2,
                temporal: cardea_media::DEFAULT_TEMPORAL,
                fallback: None,
                svc: s.svc,
                spatial: 2,
                svc_temporal: 2,
                got_spatial: None,
                got_svc_temporal: None,
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
            data: with_data,
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
        struct Change {
            mid: Option<String>,
            send: Option<bool>,
            substream: Option<u64>,
            temporal: Option<u64>,
            fallback: Option<u64>,
            spatial_layer: Option<u64>,
            temporal_layer: Option<u64>,
        }
        let read = |s: &Fields<'_>| -> Result<Change, StError> {
            Ok(Change {
                mid: s.str("mid")?.map(str::to_owned),
                send: s.bool("send")?,
                substream: s.u64("substream")?,
                temporal: s.u64("temporal")?,
                fallback: s.u64("fallback")?,
                spatial_layer: s.u64("spatial_layer")?,
                temporal_layer: s.u64("temporal_layer")?,
            })
        };
        let changes = match f.objects("streams")? {
            Some(list) => list.iter().map(read).collect::<Result<Vec<_>, _>>()?,
            None => vec![read(f)?],
        };
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
                for w in viewer
                    .streams
                    .iter_mut()
                    .filter(|w| w.kind == kind && !w.data)
                {
                    w.send = on;
                }
            }
        }
        let mut already = Vec::new();
        for change in changes {
            let Change {
                mid,
                send,
                substream,
                temporal,
                fallback,
                spatial_layer,
                temporal_layer,
            } = change;
            if substream.is_some_and(|l| l > 2) || temporal.is_some_and(|l| l > 2) {
                return Err(StError::InvalidElement(
                    "substream and temporal should be 0, 1 or 2".into(),
                ));
            }
            if spatial_layer.is_some_and(|l| l > 2) || temporal_layer.is_some_and(|l| l > 2) {
                return Err(StError::InvalidElement(
                    "spatial_layer and temporal_layer should be 0, 1 or 2".into(),
                ));
            }
            for w in viewer.streams.iter_mut() {
                let hit = mid
                    .as_deref()
                    .is_none_or(|m| w.mid.as_deref() == Some(m) || w.source_mid == m);
                if !hit {
                    continue;
                }
                if let Some(send) = send {
                    w.send = send;
                }
                if !w.layers.is_empty() {
                    if let Some(l) = substream {
                        w.substream = l as usize;
                    }
                    if let Some(t) = temporal {
                        w.temporal = t as u8;
                    }
                    if fallback.is_some() {
                        w.fallback = fallback;
                    }
                }
                if w.svc {
                    // Asking for what is forwarded already is answered at once, as Janus.
                    if let Some(s) = spatial_layer {
                        w.spatial = s as u8;
                        if w.got_spatial == Some(w.spatial) {
                            already.push(json!({ "mid": w.source_mid, "spatial_layer": s }));
                        }
                    }
                    if let Some(t) = temporal_layer {
                        w.svc_temporal = t as u8;
                        if w.got_svc_temporal == Some(w.svc_temporal) {
                            already.push(json!({ "mid": w.source_mid, "temporal_layer": t }));
                        }
                    }
                    if fallback.is_some() {
                        w.fallback = fallback;
                    }
                }
            }
        }
        for result in already {
            push(
                ctx,
                handle,
                None,
                json!({ "streaming": "event", "result": result }),
            );
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
        if !old.on_ports() || !target.on_ports() {
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
        let new_mids: Vec<(String, Vec<String>)> = target
            .streams
            .iter()
            .map(|s| {
                let layers = if s.simulcast.is_some() {
                    s.layer_mids()
                } else {
                    Vec::new()
                };
                (s.mid.clone(), layers)
            })
            .collect();
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
                    (w.source_mid, w.layers) = new_mids[i].clone();
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
        if let Some(reply) = self.create_rtsp_later(ctx, &message) {
            return reply;
        }
        crate::dispatch::dispatch(self, ctx, message)
    }

    fn rtsp_described(&mut self, ctx: &mut Ctx, source: u64, tracks: Result<&[RtspTrack], &str>) {
        let Some(mp) = self.mountpoints.values_mut().find(|m| m.source == source) else {
            return;
        };
        let id = mp.id;
        let mut waiting = self.rtsp_waiting.remove(&source);
        let described = matches!(&mp.feed, Feed::Rtsp(f) if f.described);
        let failure = match tracks {
            Ok(_) if described => {
                tracing::info!(mountpoint = id, "RTSP source connected again");
                None
            }
            Ok(tracks) => {
                if mp.describe(tracks) {
                    tracing::info!(mountpoint = id, "RTSP source described and playing");
                    let mp = mp.clone();
                    self.open_source(ctx, &mp, source);
                    if let Some(w) = waiting.take() {
                        let saved = self.permanent.created(id, &w.body, w.permanent);
                        let mut created = mp.created();
                        created["permanent"] = saved.into();
                        push(ctx, w.handle, w.transaction, created);
                    }
                    None
                } else {
                    Some("the server has no track Cardea can relay".to_owned())
                }
            }
            Err(e) => Some(e.to_owned()),
        };
        let Some(failure) = failure else { return };
        match waiting {
            Some(RtspWaiting {
                handle,
                transaction,
                ..
            }) => {
                if let Some(mp) = self.mountpoints.remove(&id) {
                    self.remove_source(ctx, &mp);
                }
                let e = StError::CantCreate(format!("Error creating 'rtsp' stream: {failure}"));
                push(ctx, handle, transaction, error_json(&e));
            }
            None => tracing::warn!(mountpoint = id, "RTSP source: {failure}; trying again"),
        }
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
        // Media m-lines come first, in order; the data channel's m-line last.
        let mut media_mids = mids.iter();
        for w in viewer.streams.iter_mut().filter(|w| !w.data) {
            w.mid = media_mids.next().cloned();
        }
        let data_mid = media_mids.next().cloned();
        for w in viewer.streams.iter_mut().filter(|w| w.data) {
            w.mid = data_mid.clone();
        }
    }

    fn layer_switched(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        mid: &str,
        switch: &cardea_media::LayerSwitch,
    ) {
        let Some(viewer) = self.viewers.get_mut(&handle) else {
            return;
        };
        let Some(w) = viewer
            .streams
            .iter_mut()
            .find(|w| w.mid.as_deref() == Some(mid))
        else {
            return;
        };
        let (key, value) = match switch {
            cardea_media::LayerSwitch::Substream(rid) => {
                let Ok(substream) = rid.parse::<u64>() else {
                    return;
                };
                ("substream", substream)
            }
            cardea_media::LayerSwitch::Temporal(t) => ("temporal", u64::from(*t)),
            cardea_media::LayerSwitch::Spatial(s) => {
                w.got_spatial = Some(*s);
                ("spatial_layer", u64::from(*s))
            }
            cardea_media::LayerSwitch::SvcTemporal(t) => {
                w.got_svc_temporal = Some(*t);
                ("temporal_layer", u64::from(*t))
            }
        };
        push(
            ctx,
            handle,
            None,
            json!({ "streaming": "event", "result": { "mid": w.source_mid, key: value } }),
        );
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
            // Janus's `media` events are about audio and video.
            for w in viewer
                .streams
                .iter()
                .filter(|w| w.source_mid == report.mid && !w.data)
            {
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
                    "mid": w.mid, "source_mid": w.source_mid,
                    "type": if w.data { "data" } else { w.kind.as_str() },
                    "codec": w.codec, "send": w.send,
                })).collect::<Vec<_>>(),
            }),
            None if self.handles.contains(&handle) => json!({ "state": "idle" }),
            None => json!({ "destroyed": true }),
        }
    }
}

crate::dispatch::requests!(Streaming, StError);
