//! `janus.plugin.videoroom`: the SFU. Publishers send one PeerConnection each; subscribers
//! get an offer from us with the streams of the feeds they chose (several feeds in one
//! PeerConnection). The plugin only decides who feeds whom: each subscribed stream is a
//! router edge from the publisher's mid to the subscriber's mid on the room's media shard,
//! and packets never come through this code.

mod error;
mod media;
mod recording;
mod room;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fields::Fields;
use crate::permanent::{Keeper, Permanence};
use crate::{
    Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, Plugin, PluginInfo, Reoffer, Reply,
};
use error::VrError;
use media::PubStream;
use room::Room;

const PACKAGE: &str = "janus.plugin.videoroom";

#[derive(Debug)]
struct Publisher {
    room: u64,
    id: u64,
    private_id: u32,
    display: Option<String>,
    streams: Vec<PubStream>,
    published: bool,
    bitrate: Option<u64>,
    last_keyframe_request: Option<Instant>,
    talking: bool,
    /// Mids a moderator muted for subscribers.
    moderated: Vec<String>,
    /// Mids the publisher asked not to be relayed (`send: false` in `configure`).
    stopped: Vec<String>,
    forwarders: Vec<RtpForward>,
    /// The feed is to be recorded (the room's `record`, or the publisher's).
    recording_active: bool,
    /// `filename`: the start of the recordings' names.
    recording_base: Option<String>,
    /// Mids being recorded now.
    recorded: Vec<String>,
}

/// A plain RTP copy of one of a publisher's streams (`rtp_forward`).
#[derive(Debug, Clone)]
struct RtpForward {
    stream_id: u32,
    mid: String,
    kind: &'static str,
    destination: std::net::SocketAddr,
    host: String,
    ssrc: u32,
    pt: Option<u8>,
    substream: Option<usize>,
    srtp: bool,
    /// The receiver's RTCP port (`rtcp_port`), where the forwarder latches.
    rtcp_port: Option<u16>,
    /// Where the receiver's RTCP comes back to: the port of the room's media shard, which
    /// the forwarder's packets leave from (Janus's `local_rtcp_port`).
    local_rtcp_port: Option<u16>,
    /// Sends the best simulcast layer, switching as a subscriber does (`simulcast: true`).
    switching: bool,
}

impl RtpForward {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "stream_id": self.stream_id,
            "type": self.kind,
            "mid": self.mid,
            "host": self.host,
            "port": self.destination.port(),
        });
        if self.kind == "data" {
            // Messages go out as they came: no RTP, no SSRC, no SRTP.
            return v;
        }
        v["ssrc"] = self.ssrc.into();
        v["srtp"] = self.srtp.into();
        if let Some(pt) = self.pt {
            v["pt"] = pt.into();
        }
        if self.switching {
            v["simulcast"] = true.into();
        } else if let Some(s) = self.substream {
            v["substream"] = s.into();
        }
        if let Some(port) = self.local_rtcp_port {
            v["local_rtcp_port"] = port.into();
        }
        if let Some(port) = self.rtcp_port {
            v["remote_rtcp_port"] = port.into();
        }
        v
    }
}

/// One forwarder asked for in `rtp_forward`.
struct WantedForward {
    mid: String,
    host: String,
    port: u64,
    ssrc: Option<u64>,
    pt: Option<u64>,
    substream: Option<u64>,
    rtcp_port: Option<u64>,
    /// `simulcast: true`: one stream that moves between the layers.
    switching: bool,
}

/// The forwarders of a simulcast stream's higher layers, each to its own port: `names`
/// are the port, SSRC and payload type fields of layers 1 and 2.
fn higher_layers(
    f: &Fields<'_>,
    names: [[&'static str; 3]; 2],
    mid: &str,
    host: &str,
    wanted: &mut Vec<WantedForward>,
) -> Result<(), VrError> {
    for (layer, [port, ssrc, pt]) in (1..).zip(names) {
        if let Some(port) = f.u64(port)? {
            wanted.push(WantedForward {
                mid: mid.to_owned(),
                host: host.to_owned(),
                port,
                ssrc: f.u64(ssrc)?,
                pt: f.u64(pt)?,
                substream: Some(layer),
                rtcp_port: None,
                switching: false,
            });
        }
    }
    Ok(())
}

/// A forwarding destination: an IP address (or `localhost`) and a port.
fn forward_destination(host: &str, port: u64) -> Result<std::net::SocketAddr, VrError> {
    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().map_err(|_| {
            VrError::InvalidElement(format!("host should be an IP address, not {host:?}"))
        })?
    };
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| VrError::InvalidElement("port should be 1-65535".into()))?;
    Ok(std::net::SocketAddr::new(ip, port))
}

impl Publisher {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "streams": self
                .streams
                .iter()
                .map(|st| {
                    let mut v = st.to_json();
                    if self.moderated.contains(&st.mid) {
                        v["moderated"] = true.into();
                    }
                    v
                })
                .collect::<Vec<_>>(),
            "talking": self.talking,
        });
        if let Some(d) = &self.display {
            v["display"] = d.clone().into();
        }
        for (key, kind) in [
            ("audio_codec", crate::MediaKind::Audio),
            ("video_codec", crate::MediaKind::Video),
        ] {
            if let Some(c) = self
                .streams
                .iter()
                .find(|s| s.kind == Some(kind))
                .and_then(PubStream::codec_name)
            {
                v[key] = c.into();
            }
        }
        v
    }

    fn stream(&self, mid: &str) -> Option<&PubStream> {
        self.streams.iter().find(|s| s.mid == mid)
    }

    /// The publisher turns stream `mid` on or off for its subscribers (`send`); `changed`
    /// gets the mid if that changed anything.
    fn set_send(&mut self, mid: &str, send: bool, changed: &mut Vec<String>) {
        let was = !self.stopped.iter().any(|m| m == mid);
        if send {
            self.stopped.retain(|m| m != mid);
        } else if was {
            self.stopped.push(mid.to_owned());
        }
        if was != send && !changed.iter().any(|m| m == mid) {
            changed.push(mid.to_owned());
        }
    }

    /// One `streams[]` entry of `configure`, but its key frame: `send` for its mid, the
    /// playout delay for its video stream (every video stream without a mid); `changed`
    /// gets the mids it changed.
    fn apply(&mut self, ask: &StreamAsk, changed: &mut Vec<String>) {
        if let (Some(mid), Some(send)) = (&ask.mid, ask.send) {
            self.set_send(mid, send, changed);
        }
        if ask.min_delay.is_none() && ask.max_delay.is_none() {
            return;
        }
        for s in self.streams.iter_mut().filter(|s| {
            s.kind == Some(crate::MediaKind::Video) && ask.mid.as_deref().is_none_or(|m| m == s.mid)
        }) {
            ask_playout_delay(&mut s.playout, ask.min_delay, ask.max_delay);
            if !changed.contains(&s.mid) {
                changed.push(s.mid.clone());
            }
        }
    }

    /// Whether stream `mid` goes to subscribers: neither a moderator nor the publisher
    /// stopped it.
    fn relays(&self, mid: &str) -> bool {
        !self.moderated.iter().any(|m| m == mid) && !self.stopped.iter().any(|m| m == mid)
    }
}

/// One stream of a subscriber's PeerConnection and the feed stream that fills it.
#[derive(Debug, Clone)]
struct SubStream {
    mindex: usize,
    /// Known once our offer is made.
    mid: Option<String>,
    feed: u64,
    feed_mid: String,
    stream: PubStream,
    send: bool,
    active: bool,
    /// Wanted simulcast layer (0 = lowest), when the feed stream is simulcast.
    substream: usize,
    /// Wanted temporal layers (0-2) of a simulcast VP8 feed stream.
    temporal: u8,
    /// Silence (µs) after which a layer is left for a lower one; `None`: Janus's 250 ms.
    fallback: Option<u64>,
    /// The layer and temporal cap forwarded now, as the media shard last told.
    got_substream: Option<usize>,
    got_temporal: Option<u8>,
    /// Wanted VP9 SVC layers (`spatial_layer`, `temporal_layer`), and those forwarded now.
    spatial: u8,
    svc_temporal: u8,
    got_spatial: Option<u8>,
    got_svc_temporal: Option<u8>,
    /// Playout delay asked of the receiver (`min_delay`, `max_delay`, 10 ms units; -1
    /// unset, as Janus keeps them): told in forwarded video once both are set.
    min_delay: i16,
    max_delay: i16,
    /// The room negotiates the playout-delay extension (`playoutdelay_ext`, default true):
    /// without it no delay is told.
    playout_ext: bool,
}

/// A playout delay kept as Janus keeps it (two bounds, -1 unset): set once both are.
fn playout_delay((min, max): (i16, i16)) -> Option<(u16, u16)> {
    Some((u16::try_from(min).ok()?, u16::try_from(max).ok()?))
}

/// Janus's rules for a `min_delay`/`max_delay` change: a bound set past the other moves
/// the other with it; a negative one clears both.
fn ask_playout_delay(delay: &mut (i16, i16), min: Option<i16>, max: Option<i16>) {
    if let Some(d) = min {
        *delay = if d < 0 { (-1, -1) } else { (d, delay.1.max(d)) };
    }
    if let Some(d) = max {
        *delay = if d < 0 { (-1, -1) } else { (delay.0.min(d), d) };
    }
}

impl SubStream {
    /// The playout delay forwarded video carries: the subscriber's own, else the one its
    /// publisher asked for (Janus's order), once both bounds are set.
    fn playout_delay(&self) -> Option<(u16, u16)> {
        if !self.playout_ext {
            return None;
        }
        playout_delay((self.min_delay, self.max_delay))
            .or_else(|| playout_delay(self.stream.playout))
    }

    /// The feed's data channel: its messages are relayed over the subscriber's one data
    /// channel m-line, as Janus does.
    fn is_data(&self) -> bool {
        self.stream.kind.is_none()
    }

    /// A VP9 feed stream: its layers are chosen per subscriber when it codes SVC.
    fn is_svc(&self) -> bool {
        self.stream.codec_name().as_deref() == Some("vp9")
    }

    fn to_json(&self, room: &VideoRoom, room_id: u64) -> Value {
        let mut v = json!({
            "mindex": self.mindex,
            "mid": self.mid.clone().unwrap_or_default(),
            "type": self.stream.type_name(),
            "active": self.active,
            "feed_id": self.feed,
            "feed_mid": self.feed_mid,
            "send": self.send,
            "ready": false,
        });
        if let Some(c) = self.stream.codec_name() {
            v["codec"] = c.into();
        }
        if !self.stream.rids.is_empty() {
            // As Janus: -1 until the first layer is forwarded.
            let mut sim = json!({
                "substream": self.got_substream.map_or(-1, |n| n as i64),
                "substream-target": self.substream,
                "temporal-layer": self.got_temporal.map_or(-1, i64::from),
                "temporal-layer-target": self.temporal,
            });
            if let Some(us) = self.fallback {
                sim["fallback"] = us.into();
            }
            v["simulcast"] = sim;
        }
        if let Some((min, max)) = playout_delay((self.min_delay, self.max_delay)) {
            v["playout-delay"] = json!({ "min-delay": min, "max-delay": max });
        }
        if self.is_svc() {
            v["svc"] = json!({
                "spatial-layer": self.got_spatial.map_or(-1, i64::from),
                "target-spatial-layer": self.spatial,
                "temporal-layer": self.got_svc_temporal.map_or(-1, i64::from),
                "target-temporal-layer": self.svc_temporal,
            });
        }
        if let Some(d) = room
            .publisher_of(room_id, self.feed)
            .and_then(|(_, p)| p.display.clone())
        {
            v["feed_display"] = d.into();
        }
        v
    }
}

#[derive(Debug)]
struct Subscriber {
    room: u64,
    streams: Vec<SubStream>,
    started: bool,
    paused: bool,
}

#[derive(Debug)]
enum Role {
    Publisher(Publisher),
    Subscriber(Subscriber),
}

#[derive(Debug)]
pub struct VideoRoom {
    rooms: BTreeMap<u64, Room>,
    roles: HashMap<HandleId, Role>,
    handles: std::collections::HashSet<HandleId>,
    /// The rooms' `create` bodies and the state file of permanent ones.
    permanent: Keeper,
    /// The local port of each media shard's socket, in shard order (empty: not known).
    media_ports: Vec<u16>,
}

impl Default for VideoRoom {
    /// The sample room 1234, and no permanent rooms.
    fn default() -> Self {
        Self::configured(None, None)
    }
}

fn error_json(e: &VrError) -> Value {
    json!({ "videoroom": "event", "error_code": e.code(), "error": e.to_string() })
}

/// What a subscriber asks of a simulcast stream: `substream`, `temporal` and `fallback`
/// (µs); of any video stream, a playout delay; what it leaves out stays as it was.
#[derive(Debug, Clone, Copy, Default)]
struct LayerAsk {
    substream: Option<u64>,
    temporal: Option<u8>,
    fallback: Option<u64>,
    /// VP9 SVC: `spatial_layer`, `temporal_layer`.
    spatial: Option<u8>,
    svc_temporal: Option<u8>,
    /// `min_delay`, `max_delay` (10 ms units; negative: none).
    min_delay: Option<i16>,
    max_delay: Option<i16>,
}

/// One `streams[]` entry of a publisher's `configure`.
#[derive(Debug)]
struct StreamAsk {
    /// `None`: every stream (for `keyframe` and the playout delay).
    mid: Option<String>,
    send: Option<bool>,
    keyframe: bool,
    min_delay: Option<i16>,
    max_delay: Option<i16>,
}

impl StreamAsk {
    fn read(f: &Fields<'_>) -> Result<Self, VrError> {
        Ok(Self {
            mid: f.str("mid")?.map(str::to_owned),
            send: f.bool("send")?,
            keyframe: f.bool("keyframe")?.unwrap_or(false),
            min_delay: delay_field(f, "min_delay")?,
            max_delay: delay_field(f, "max_delay")?,
        })
    }
}

/// The largest playout delay the extension carries (12 bits of 10 ms: 40.95 s).
const MAX_PLAYOUT_DELAY: i64 = 4095;

/// A `min_delay` or `max_delay`: negative clears the delay, as in Janus; above what the
/// extension can carry is refused (Janus would send it wrapped).
fn delay_field(f: &Fields<'_>, name: &'static str) -> Result<Option<i16>, VrError> {
    match f.i64(name)? {
        Some(d) if d > MAX_PLAYOUT_DELAY => Err(VrError::InvalidElement(format!(
            "{name} should be at most {MAX_PLAYOUT_DELAY} (in 10 ms units)"
        ))),
        Some(d) => Ok(Some(d.max(-1) as i16)),
        None => Ok(None),
    }
}

impl LayerAsk {
    /// As `configure` takes them: a layer above the top means the top.
    fn read(f: &Fields<'_>) -> Result<Self, VrError> {
        Ok(Self {
            substream: f.u64("substream")?,
            // VP8 has four temporal layers at most (a 2-bit TID).
            temporal: f.u64("temporal")?.map(|n| n.min(3) as u8),
            fallback: f.u64("fallback")?,
            // VP9 has up to eight spatial and eight temporal layers (3-bit indices).
            spatial: f.u64("spatial_layer")?.map(|n| n.min(7) as u8),
            svc_temporal: f.u64("temporal_layer")?.map(|n| n.min(7) as u8),
            min_delay: delay_field(f, "min_delay")?,
            max_delay: delay_field(f, "max_delay")?,
        })
    }

    /// As a subscription takes them: each layer 0, 1 or 2, as Janus checks.
    fn read_checked(f: &Fields<'_>) -> Result<Self, VrError> {
        let ask = Self::read(f)?;
        if ask.substream.is_some_and(|n| n > 2) || ask.temporal.is_some_and(|n| n > 2) {
            return Err(VrError::InvalidElement(
                "substream and temporal should be 0, 1 or 2".into(),
            ));
        }
        if ask.spatial.is_some_and(|n| n > 2) || ask.svc_temporal.is_some_and(|n| n > 2) {
            return Err(VrError::InvalidElement(
                "spatial_layer and temporal_layer should be 0, 1 or 2".into(),
            ));
        }
        Ok(ask)
    }

    /// Applies the ask to a subscriber stream.
    fn apply(&self, st: &mut SubStream) {
        if self.substream.is_some() {
            st.substream = layer_index(&st.stream.rids, self.substream);
        }
        if let Some(t) = self.temporal {
            st.temporal = t;
        }
        if self.fallback.is_some() {
            st.fallback = self.fallback;
        }
        if let Some(s) = self.spatial {
            st.spatial = s;
        }
        if let Some(t) = self.svc_temporal {
            st.svc_temporal = t;
        }
        self.apply_delay(st);
    }

    /// Applies the playout delay asked for to a video stream, by Janus's rules: a bound
    /// set past the other moves the other with it; a negative one clears both.
    fn apply_delay(&self, st: &mut SubStream) {
        if st.stream.kind != Some(crate::MediaKind::Video) {
            return;
        }
        let mut delay = (st.min_delay, st.max_delay);
        ask_playout_delay(&mut delay, self.min_delay, self.max_delay);
        (st.min_delay, st.max_delay) = delay;
    }
}

/// A stream a subscriber asks for: feed, its mid (all its streams if none), layers.
type Wanted = (u64, Option<String>, LayerAsk);

fn wanted_streams(list: &[Fields<'_>]) -> Result<Vec<Wanted>, VrError> {
    list.iter()
        .map(|s| {
            Ok((
                s.required_u64("feed")?,
                s.str("mid")?.map(str::to_owned),
                LayerAsk::read_checked(s)?,
            ))
        })
        .collect()
}

/// A publisher's requested bitrate (0: none) under the room's cap, when it has one.
fn capped(bps: u64, cap: Option<u64>) -> Option<u64> {
    match (bps, cap) {
        (0, cap) => cap,
        (b, Some(cap)) => Some(b.min(cap)),
        (b, None) => Some(b),
    }
}

/// A requested substream as an index into `rids` (lowest first); none asked: the best.
fn layer_index(rids: &[String], substream: Option<u64>) -> usize {
    let top = rids.len().saturating_sub(1);
    substream.map_or(top, |n| usize::try_from(n).unwrap_or(top).min(top))
}

/// The edge feeding one subscriber stream, with its simulcast layer choice first.
fn route_stream(ctx: &mut Ctx, from: HandleId, to: HandleId, st: &SubStream, enabled: bool) {
    let Some(mid) = &st.mid else { return };
    if st.is_data() {
        // Data goes through the plugin (see `incoming_data`), not along media routes.
        return;
    }
    if enabled && !st.stream.rids.is_empty() {
        ctx.push(Command::SelectLayer {
            handle: to,
            mid: mid.clone(),
            rids: st.stream.rids.clone(),
            codec: st.stream.codec_name().unwrap_or_default(),
            substream: st.substream,
            temporal: st.temporal,
            fallback: st.fallback.map(std::time::Duration::from_micros),
        });
    }
    if enabled && st.is_svc() {
        ctx.push(Command::SelectSvc {
            handle: to,
            mid: mid.clone(),
            spatial: st.spatial,
            temporal: st.svc_temporal,
            fallback: st.fallback.map(std::time::Duration::from_micros),
        });
    }
    if enabled && st.stream.kind == Some(crate::MediaKind::Video) {
        ctx.push(Command::PlayoutDelay {
            handle: to,
            mid: mid.clone(),
            delay: st.playout_delay(),
        });
    }
    if enabled {
        if let Some(c) = st.stream.codec_name() {
            ctx.push(Command::ForwardPt {
                handle: to,
                mid: mid.clone(),
                pt: crate::codecs::canonical_pt(&c),
                codec: Some(c),
            });
        }
    }
    ctx.push(Command::RouteMid {
        from,
        from_mid: st.feed_mid.clone(),
        to,
        to_mid: mid.clone(),
        enabled,
    });
}

fn room_event(room: u64, key: &str, value: Value) -> Value {
    json!({ "videoroom": "event", "room": room, key: value })
}

fn push(ctx: &mut Ctx, handle: HandleId, transaction: Option<String>, data: Value) {
    ctx.push(Command::PushEvent {
        handle,
        transaction,
        data,
        jsep: None,
    });
}

/// Requests answered at once; the others are acknowledged and answered by an event.
const SYNC: [&str; 15] = [
    "create",
    "edit",
    "destroy",
    "exists",
    "list",
    "listparticipants",
    "allowed",
    "kick",
    "moderate",
    "listforwarders",
    "enable_recording",
    "rtp_forward",
    "stop_rtp_forward",
    "listremotes",
    "add_remote_publisher",
];
const ASYNC: [&str; 12] = [
    "join",
    "joinandconfigure",
    "configure",
    "publish",
    "unpublish",
    "start",
    "pause",
    "switch",
    "leave",
    "subscribe",
    "unsubscribe",
    "update",
];

impl VideoRoom {
    /// A VideoRoom whose rooms are given as `create` request bodies (from the
    /// configuration); the error names the room at fault.
    pub fn with_rooms(rooms: &[Value]) -> Result<Self, String> {
        let (permanent, _) = Keeper::new("room", rooms, None);
        let mut vr = Self::empty(permanent);
        for (i, body) in rooms.iter().enumerate() {
            vr.add_body(body)
                .map_err(|e| format!("room #{}: {e}", i + 1))?;
        }
        Ok(vr)
    }

    /// The plugin with the configured rooms (`None`: the sample room 1234) and those of
    /// its state file of permanent rooms, both checked with [`VideoRoom::with_rooms`] when
    /// the configuration loaded (a room that fails now is left out, with a warning).
    pub fn configured(rooms: Option<&[Value]>, permanence: Option<&Permanence>) -> Self {
        let sample = [Room::sample()];
        let (permanent, bodies) = Keeper::new("room", rooms.unwrap_or(&sample), permanence);
        let mut vr = Self::empty(permanent);
        for body in &bodies {
            if let Err(e) = vr.add_body(body) {
                tracing::warn!("videoroom: room not created: {e}");
            }
        }
        vr
    }

    fn empty(permanent: Keeper) -> Self {
        Self {
            rooms: BTreeMap::new(),
            roles: HashMap::new(),
            handles: Default::default(),
            permanent,
            media_ports: Vec::new(),
        }
    }

    /// The local port of each media shard's socket, in shard order: a room's forwarders
    /// send from (and hear RTCP on) its shard's (see [`crate::pinned_shard`]).
    pub fn with_media_ports(mut self, ports: Vec<u16>) -> Self {
        self.media_ports = ports;
        self
    }

    /// Adds a room from a `create` body with its `room` id (configured or permanent).
    fn add_body(&mut self, body: &Value) -> Result<(), VrError> {
        let f = Fields::new(body)?;
        let id = f.required_u64("room")?;
        if id == 0 || self.rooms.contains_key(&id) {
            return Err(VrError::InvalidElement(format!(
                "room {id} is zero or given twice"
            )));
        }
        let room = Room::from_create(id, &f)?;
        self.rooms.insert(id, room);
        self.permanent.created(id, body, false);
        Ok(())
    }

    fn room(&self, id: u64) -> Result<&Room, VrError> {
        self.rooms.get(&id).ok_or(VrError::NoSuchRoom(id))
    }

    fn room_mut(&mut self, id: u64) -> Result<&mut Room, VrError> {
        self.rooms.get_mut(&id).ok_or(VrError::NoSuchRoom(id))
    }

    fn publisher_of(&self, room: u64, feed: u64) -> Option<(HandleId, &Publisher)> {
        let handle = *self.rooms.get(&room)?.participants.get(&feed)?;
        match self.roles.get(&handle) {
            Some(Role::Publisher(p)) => Some((handle, p)),
            _ => None,
        }
    }

    /// The bitrate publishers of the handle's room may not exceed (`bitrate_cap`).
    fn room_cap(&self, handle: HandleId) -> Option<u64> {
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return None;
        };
        let room = self.rooms.get(&p.room)?;
        room.bitrate_cap.then_some(room.bitrate).filter(|b| *b > 0)
    }

    fn publisher_mut(&mut self, handle: HandleId) -> Option<&mut Publisher> {
        match self.roles.get_mut(&handle) {
            Some(Role::Publisher(p)) => Some(p),
            _ => None,
        }
    }

    /// Pushes `data` to every publisher-side participant of the room but `except`.
    fn notify(&self, ctx: &mut Ctx, room: u64, except: Option<HandleId>, data: &Value) {
        let Some(r) = self.rooms.get(&room) else {
            return;
        };
        for &h in r.participants.values() {
            if Some(h) != except {
                push(ctx, h, None, data.clone());
            }
        }
    }

    fn fresh_id(&self, room: &Room) -> u64 {
        loop {
            let id = rand::random::<u64>() & ((1 << 53) - 1);
            if id != 0 && !room.participants.contains_key(&id) {
                return id;
            }
        }
    }

    // ---- synchronous requests ------------------------------------------------------

    fn answer_now(
        &mut self,
        ctx: &mut Ctx,
        request: &str,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        match request {
            "create" => self.create(f),
            "edit" => {
                let permanent = self.wants_permanent(f, "edit room permanently")?;
                let id = f.required_u64("room")?;
                let room = self.room_mut(id)?;
                room.check_secret(f)?;
                room.edit(f)?;
                let fields = room.edit_fields();
                let saved = self.permanent.edited(id, fields, permanent);
                Ok(json!({ "videoroom": "edited", "room": id, "permanent": saved }))
            }
            "destroy" => self.destroy(ctx, f),
            "exists" => {
                let id = f.required_u64("room")?;
                Ok(
                    json!({ "videoroom": "success", "room": id, "exists": self.rooms.contains_key(&id) }),
                )
            }
            "list" => {
                let list: Vec<Value> = self
                    .rooms
                    .values()
                    .filter(|r| !r.is_private)
                    .map(Room::info)
                    .collect();
                Ok(json!({ "videoroom": "success", "list": list }))
            }
            "listparticipants" => {
                let id = f.required_u64("room")?;
                let room = self.room(id)?;
                let participants: Vec<Value> = room
                    .participants
                    .values()
                    .filter_map(|h| match self.roles.get(h) {
                        Some(Role::Publisher(p)) => {
                            let mut v =
                                json!({ "id": p.id, "publisher": p.published, "talking": false });
                            if let Some(d) = &p.display {
                                v["display"] = d.clone().into();
                            }
                            Some(v)
                        }
                        _ => None,
                    })
                    .collect();
                Ok(json!({ "videoroom": "participants", "room": id, "participants": participants }))
            }
            "allowed" => self.allowed(f),
            "kick" => self.kick(ctx, f),
            "moderate" => self.moderate(ctx, f),
            "rtp_forward" => self.rtp_forward(ctx, f),
            "enable_recording" => self.enable_recording(ctx, f),
            "stop_rtp_forward" => {
                let id = f.required_u64("room")?;
                let feed = f.required_u64("publisher_id")?;
                let stream_id = f.required_u64("stream_id")?;
                self.room(id)?.check_secret(f)?;
                let handle = self.publisher_of(id, feed).map(|(h, _)| h);
                let p = handle
                    .and_then(|h| self.publisher_mut(h))
                    .ok_or_else(|| VrError::NoSuchFeed(format!("No such publisher ({feed})")))?;
                let before = p.forwarders.len();
                p.forwarders
                    .retain(|fw| u64::from(fw.stream_id) != stream_id);
                if p.forwarders.len() == before {
                    return Err(VrError::NoSuchFeed(format!("No such stream ({stream_id})")));
                }
                if let Some(handle) = handle {
                    ctx.push(Command::StopForward {
                        handle,
                        id: stream_id as u32,
                    });
                }
                Ok(
                    json!({ "videoroom": "stop_rtp_forward", "room": id, "publisher_id": feed, "stream_id": stream_id }),
                )
            }
            "listforwarders" => {
                let id = f.required_u64("room")?;
                let room = self.room(id)?;
                room.check_secret(f)?;
                let publishers: Vec<Value> = room
                    .participants
                    .values()
                    .filter_map(|h| match self.roles.get(h) {
                        Some(Role::Publisher(p)) if !p.forwarders.is_empty() => Some(json!({
                            "publisher_id": p.id,
                            "display": p.display,
                            "forwarders": p.forwarders.iter().map(RtpForward::to_json).collect::<Vec<_>>(),
                        })),
                        _ => None,
                    })
                    .collect();
                Ok(json!({ "videoroom": "forwarders", "room": id, "publishers": publishers }))
            }
            other => Err(VrError::Unknown(format!(
                "'{other}' is not supported by Cardea's VideoRoom yet"
            ))),
        }
    }

    /// Whether the request asks for a permanent change; refused without a state file, as
    /// Janus refuses it without a configuration file.
    fn wants_permanent(&self, f: &Fields<'_>, what: &str) -> Result<bool, VrError> {
        let asked = f.bool("permanent")?;
        self.permanent.wants(asked, what).map_err(VrError::Unknown)
    }

    fn create(&mut self, f: &Fields<'_>) -> Result<Value, VrError> {
        let permanent = self.wants_permanent(f, "create permanent room")?;
        let id = match f.u64("room")? {
            Some(0) => {
                return Err(VrError::InvalidElement(
                    "room should be a positive integer".into(),
                ))
            }
            Some(id) => id,
            None => loop {
                let id = rand::random::<u64>() & ((1 << 53) - 1);
                if id != 0 && !self.rooms.contains_key(&id) {
                    break id;
                }
            },
        };
        if self.rooms.contains_key(&id) {
            return Err(VrError::RoomExists(id));
        }
        let room = Room::from_create(id, f)?;
        self.rooms.insert(id, room);
        let saved = self
            .permanent
            .created(id, &Value::Object(f.0.clone()), permanent);
        tracing::info!(room = id, permanent = saved, "videoroom created");
        Ok(json!({ "videoroom": "created", "room": id, "permanent": saved }))
    }

    fn destroy(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, VrError> {
        let permanent = self.wants_permanent(f, "destroy room permanently")?;
        let id = f.required_u64("room")?;
        self.room(id)?.check_secret(f)?;
        let Some(room) = self.rooms.remove(&id) else {
            return Err(VrError::NoSuchRoom(id));
        };
        let gone = json!({ "videoroom": "destroyed", "room": id });
        for h in room.participants.values().chain(room.subscribers.iter()) {
            self.roles.remove(h);
            push(ctx, *h, None, gone.clone());
            ctx.push(Command::ClosePc { handle: *h });
        }
        let saved = self.permanent.destroyed(id, permanent);
        tracing::info!(room = id, permanent = saved, "videoroom destroyed");
        Ok(json!({ "videoroom": "destroyed", "room": id, "permanent": saved }))
    }

    fn allowed(&mut self, f: &Fields<'_>) -> Result<Value, VrError> {
        let id = f.required_u64("room")?;
        let action = f.required_str("action")?;
        let list = f.strings("allowed")?;
        let room = self.room_mut(id)?;
        room.check_secret(f)?;
        match action {
            "enable" => {
                room.allowed.get_or_insert_with(Default::default);
            }
            "disable" => room.allowed = None,
            "add" | "remove" => {
                let list = list.ok_or(VrError::MissingElement("allowed"))?;
                let set = room.allowed.get_or_insert_with(Default::default);
                for token in list {
                    if action == "add" {
                        set.insert(token);
                    } else {
                        set.remove(&token);
                    }
                }
            }
            _ => {
                return Err(VrError::InvalidElement(
                    "action should be enable, disable, add or remove".into(),
                ))
            }
        }
        let allowed: Vec<&String> = room.allowed.iter().flatten().collect();
        Ok(json!({ "videoroom": "success", "room": id, "allowed": allowed }))
    }

    fn kick(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, VrError> {
        let id = f.required_u64("room")?;
        let feed = f.required_u64("id")?;
        let room = self.room(id)?;
        room.check_secret(f)?;
        let Some(&handle) = room.participants.get(&feed) else {
            return Err(VrError::NoSuchFeed(format!(
                "No such user {feed} in room {id}"
            )));
        };
        // The room hears `kicked` alone (not `unpublished` too), as from Janus.
        self.end_feed(ctx, handle);
        if let Some(r) = self.rooms.get_mut(&id) {
            r.participants.remove(&feed);
        }
        self.roles.remove(&handle);
        let mut bye = room_event(id, "leaving", "ok".into());
        bye["reason"] = "kicked".into();
        push(ctx, handle, None, bye);
        ctx.push(Command::ClosePc { handle });
        self.notify(ctx, id, None, &room_event(id, "kicked", feed.into()));
        Ok(json!({ "videoroom": "success" }))
    }

    // ---- publishers ----------------------------------------------------------------

    fn join_publisher(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        let room_id = f.required_u64("room")?;
        let room = self.room(room_id)?;
        room.check_join(f)?;
        let display = f.str("display")?.map(str::to_owned);
        let id = match f.u64("id")? {
            Some(0) => {
                return Err(VrError::InvalidElement(
                    "id should be a positive integer".into(),
                ))
            }
            Some(id) if room.participants.contains_key(&id) => return Err(VrError::IdExists(id)),
            Some(id) => id,
            None => self.fresh_id(room),
        };
        let publishers: Vec<Value> = room
            .participants
            .values()
            .filter_map(|h| match self.roles.get(h) {
                Some(Role::Publisher(p)) if p.published => Some(p.to_json()),
                _ => None,
            })
            .collect();
        let mut joined = json!({
            "videoroom": "joined",
            "room": room_id,
            "description": room.description,
            "id": id,
            "private_id": 0,
            "publishers": publishers,
        });
        if room.notify_joining {
            let attendees: Vec<Value> = room
                .participants
                .values()
                .filter_map(|h| match self.roles.get(h) {
                    Some(Role::Publisher(p)) if !p.published => {
                        Some(json!({ "id": p.id, "display": p.display }))
                    }
                    _ => None,
                })
                .collect();
            joined["attendees"] = attendees.into();
            let mut who = json!({ "id": id });
            if let Some(d) = &display {
                who["display"] = d.clone().into();
            }
            self.notify(ctx, room_id, None, &room_event(room_id, "joining", who));
        }
        let private_id = rand::random::<u32>() >> 1;
        joined["private_id"] = private_id.into();
        self.rooms
            .get_mut(&room_id)
            .map(|r| r.participants.insert(id, handle));
        self.roles.insert(
            handle,
            Role::Publisher(Publisher {
                room: room_id,
                id,
                private_id,
                display,
                streams: Vec::new(),
                published: false,
                bitrate: None,
                last_keyframe_request: None,
                talking: false,
                moderated: Vec::new(),
                stopped: Vec::new(),
                forwarders: Vec::new(),
                recording_active: false,
                recording_base: None,
                recorded: Vec::new(),
            }),
        );
        ctx.push(Command::PinShard {
            handle,
            key: room_id,
        });
        tracing::debug!(room = room_id, id, handle, "publisher joined");
        Ok(joined)
    }

    /// `publish`, or `configure` with an offer: answers the offer restricted to the room's
    /// codecs. Returns the event to send with the answer; the caller pushes it.
    fn publish(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, JsepAction), VrError> {
        let jsep = jsep.ok_or(VrError::MissingElement("jsep"))?;
        if jsep.kind != JsepType::Offer {
            return Err(VrError::InvalidSdpType(jsep.kind.as_str().into()));
        }
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return Err(VrError::JoinFirst);
        };
        let room = self.room(p.room)?;
        let renegotiation = p.published;
        if !renegotiation {
            let published = room
                .participants
                .values()
                .filter(|h| matches!(self.roles.get(h), Some(Role::Publisher(q)) if q.published))
                .count();
            if published >= room.publishers {
                return Err(VrError::PublishersFull(room.publishers));
            }
        }
        let pick = |name: &'static str, room_list: &[String]| -> Result<Vec<String>, VrError> {
            match f.str(name)? {
                None => Ok(room_list.to_vec()),
                Some(c) if room_list.iter().any(|r| r.eq_ignore_ascii_case(c)) => {
                    Ok(vec![c.to_ascii_lowercase()])
                }
                Some(c) => Err(VrError::InvalidElement(format!(
                    "{name} {c} is not allowed in this room"
                ))),
            }
        };
        let mut audio = pick("audiocodec", &room.audiocodec)?;
        let mut video = pick("videocodec", &room.videocodec)?;
        if renegotiation {
            // Subscribers were offered these codecs: keep them.
            for (list, kind) in [
                (&mut audio, crate::MediaKind::Audio),
                (&mut video, crate::MediaKind::Video),
            ] {
                if let Some(c) = p
                    .streams
                    .iter()
                    .find(|s| s.kind == Some(kind))
                    .and_then(PubStream::codec_name)
                {
                    list.insert(0, c);
                }
            }
        }
        let room_id = room.id;
        let room_bitrate = room.bitrate;
        let room_cap = room.bitrate_cap.then_some(room.bitrate).filter(|b| *b > 0);
        let talking_watch = room
            .audiolevel_event
            .then_some((room.audio_active_packets, room.audio_level_average));
        let (offer, mut streams) = media::restrict_publisher_offer(&jsep.sdp, &audio, &video)?;
        if let Some(descriptions) = f.objects("descriptions")? {
            for d in descriptions {
                let mid = d.required_str("mid")?;
                let text = d.required_str("description")?;
                if let Some(s) = streams.iter_mut().find(|s| s.mid == mid) {
                    s.description = Some(text.to_owned());
                }
            }
        }
        let display = f.str("display")?.map(str::to_owned);
        let bitrate = f.u64("bitrate")?;
        let Some(p) = self.publisher_mut(handle) else {
            return Err(VrError::JoinFirst);
        };
        p.streams = streams;
        p.published = true;
        if display.is_some() {
            p.display = display;
        }
        if let Some(b) = bitrate {
            p.bitrate = capped(b, room_cap);
        }
        let mut event = room_event(room_id, "configured", "ok".into());
        let info = p.to_json();
        for key in ["audio_codec", "video_codec", "streams"] {
            if let Some(v) = info.get(key) {
                event[key] = v.clone();
            }
        }
        let cap = p.bitrate.or((room_bitrate > 0).then_some(room_bitrate));
        if !renegotiation {
            tracing::debug!(room = room_id, id = p.id, handle, "publisher published");
            let news = json!({ "videoroom": "event", "room": room_id, "publishers": [info] });
            self.notify(ctx, room_id, Some(handle), &news);
        }
        // After the event (which creates the PeerConnection), so the leg exists.
        if let Some((packets, threshold)) = talking_watch {
            ctx.push(Command::WatchTalking {
                handle,
                packets,
                threshold,
            });
        }
        if let Some(bps) = cap {
            ctx.push(Command::SetBitrateCap {
                handle,
                bps: Some(bps),
            });
        }
        self.record_if_wanted(ctx, handle);
        Ok((event, JsepAction::AnswerOffer { offer }))
    }

    /// What a publisher leaving the stage means for its subscribers: their streams of it
    /// go inactive (an `updated` event tells them). Returns the room and feed id if it
    /// was published; the caller tells the room.
    fn end_feed(&mut self, ctx: &mut Ctx, handle: HandleId) -> Option<(u64, u64)> {
        if !self.publisher_mut(handle)?.published {
            return None;
        }
        self.stop_recorders(ctx, handle);
        let p = self.publisher_mut(handle)?;
        p.published = false;
        p.streams.clear();
        for fw in p.forwarders.drain(..) {
            ctx.push(Command::StopForward {
                handle,
                id: fw.stream_id,
            });
        }
        let (room_id, feed) = (p.room, p.id);
        let subscribers = self.subscribers_of(room_id);
        for sh in subscribers {
            let Some(Role::Subscriber(s)) = self.roles.get_mut(&sh) else {
                continue;
            };
            let mut changed = false;
            let mut inactive = Vec::new();
            let started = s.started;
            for st in s
                .streams
                .iter_mut()
                .filter(|st| st.feed == feed && st.active)
            {
                st.active = false;
                changed = true;
                // The data m-line is shared by every feed's data stream: it stays.
                if !st.is_data() {
                    inactive.extend(st.mid.clone());
                }
                if let Some(mid) = &st.mid {
                    ctx.push(Command::RouteMid {
                        from: handle,
                        from_mid: st.feed_mid.clone(),
                        to: sh,
                        to_mid: mid.clone(),
                        enabled: false,
                    });
                }
            }
            if changed {
                // A PeerConnection that is up gets a new offer without those streams.
                let streams = self.subscriber_streams(sh);
                ctx.push(Command::PushEvent {
                    handle: sh,
                    transaction: None,
                    data: json!({ "videoroom": "updated", "room": room_id, "streams": streams }),
                    jsep: (started && !inactive.is_empty()).then_some(JsepAction::Reoffer(
                        Reoffer {
                            inactive,
                            ..Reoffer::default()
                        },
                    )),
                });
            }
        }
        Some((room_id, feed))
    }

    /// `unpublish` (or a PeerConnection that went away): the room hears `unpublished`.
    fn unpublish_state(&mut self, ctx: &mut Ctx, handle: HandleId) -> bool {
        let Some((room_id, feed)) = self.end_feed(ctx, handle) else {
            return false;
        };
        self.notify(
            ctx,
            room_id,
            Some(handle),
            &room_event(room_id, "unpublished", feed.into()),
        );
        true
    }

    fn subscriber_streams(&self, handle: HandleId) -> Vec<Value> {
        match self.roles.get(&handle) {
            Some(Role::Subscriber(s)) => s
                .streams
                .iter()
                .map(|st| st.to_json(self, s.room))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn configure_publisher(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        let mut keyframe = f.bool("keyframe")?.unwrap_or(false);
        let bitrate = f.u64("bitrate")?;
        let display = f.str("display")?.map(str::to_owned);
        // Per stream (`mid`; none: every stream), as Janus 1.x takes them.
        let asks = f
            .objects("streams")?
            .unwrap_or_default()
            .iter()
            .map(StreamAsk::read)
            .collect::<Result<Vec<_>, _>>()?;
        // Older clients: `audio`, `video`, `data` turn every stream of that kind on or off.
        let by_kind = [
            (Some(crate::MediaKind::Audio), f.bool("audio")?),
            (Some(crate::MediaKind::Video), f.bool("video")?),
            (None, f.bool("data")?),
        ];
        let room_cap = self.room_cap(handle);
        let Some(p) = self.publisher_mut(handle) else {
            return Err(VrError::JoinFirst);
        };
        let room_id = p.room;
        if let Some(mid) = asks
            .iter()
            .filter_map(|a| a.mid.as_deref())
            .find(|m| p.published && p.stream(m).is_none())
        {
            return Err(VrError::NoSuchFeed(format!("No such mid '{mid}'")));
        }
        // The streams whose relaying or playout delay changed.
        let mut changed: Vec<String> = Vec::new();
        for (kind, send) in by_kind {
            let Some(send) = send else { continue };
            let mids: Vec<String> = p
                .streams
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.mid.clone())
                .collect();
            for mid in mids {
                p.set_send(&mid, send, &mut changed);
            }
        }
        for ask in &asks {
            keyframe |= ask.keyframe;
            p.apply(ask, &mut changed);
        }
        if let Some(b) = bitrate {
            p.bitrate = capped(b, room_cap);
            ctx.push(Command::SetBitrateCap {
                handle,
                bps: p.bitrate,
            });
        }
        if keyframe {
            ctx.push(Command::RequestKeyframe { handle });
        }
        let published = p.published;
        if published {
            for mid in &changed {
                self.reroute_feed_stream(ctx, handle, mid);
            }
        }
        let Some(p) = self.publisher_mut(handle) else {
            return Err(VrError::JoinFirst);
        };
        if let Some(d) = display {
            p.display = Some(d);
            if p.published {
                let news =
                    json!({ "videoroom": "event", "room": room_id, "publishers": [p.to_json()] });
                self.notify(ctx, room_id, Some(handle), &news);
            }
        }
        Ok(room_event(room_id, "configured", "ok".into()))
    }

    /// The publisher leaves the room (its feed ends); the room hears `leaving`.
    fn leave_publisher(&mut self, ctx: &mut Ctx, handle: HandleId) -> Option<u64> {
        self.end_feed(ctx, handle);
        let Some(Role::Publisher(p)) = self.roles.remove(&handle) else {
            return None;
        };
        if let Some(r) = self.rooms.get_mut(&p.room) {
            r.participants.remove(&p.id);
        }
        self.notify(
            ctx,
            p.room,
            None,
            &room_event(p.room, "leaving", p.id.into()),
        );
        Some(p.room)
    }

    // ---- subscribers ---------------------------------------------------------------

    fn join_subscriber(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<(Value, JsepAction), VrError> {
        let room_id = f.required_u64("room")?;
        let room = self.room(room_id)?;
        room.check_join(f)?;
        if room.require_pvtid {
            let pvt = f.u64("private_id")?;
            let known = room.participants.values().any(|h| {
                matches!(self.roles.get(h), Some(Role::Publisher(p)) if Some(u64::from(p.private_id)) == pvt)
            });
            if !known {
                return Err(VrError::Unauthorized(
                    "this room requires a valid private_id",
                ));
            }
        }
        let legacy_feed = f.u64("feed")?;
        let wanted = match (f.objects("streams")?, legacy_feed) {
            (Some(list), _) => wanted_streams(&list)?,
            (None, Some(feed)) => vec![(feed, None, LayerAsk::read_checked(f)?)],
            (None, None) => return Err(VrError::MissingElement("streams")),
        };
        let streams = self.resolve_streams(room_id, &wanted, 0)?;
        let media: Vec<_> = streams
            .iter()
            .filter_map(|s| s.stream.offer_media())
            .collect();
        let data = streams.iter().any(SubStream::is_data);
        if media.is_empty() && !data {
            return Err(VrError::NoSuchFeed("No stream to subscribe to".into()));
        }
        let later = media::room_codecs(&room.audiocodec, &room.videocodec);
        let subscriber = Subscriber {
            room: room_id,
            streams,
            started: false,
            paused: false,
        };
        let list: Vec<Value> = subscriber
            .streams
            .iter()
            .map(|s| s.to_json(self, room_id))
            .collect();
        let mut attached = json!({ "videoroom": "attached", "room": room_id, "streams": list });
        if let (Some(feed), None) = (legacy_feed, f.objects("streams")?) {
            attached["id"] = feed.into();
            if let Some((_, p)) = self.publisher_of(room_id, feed) {
                attached["display"] = p.display.clone().into();
            }
        }
        self.rooms
            .get_mut(&room_id)
            .map(|r| r.subscribers.insert(handle));
        self.roles.insert(handle, Role::Subscriber(subscriber));
        ctx.push(Command::PinShard {
            handle,
            key: room_id,
        });
        Ok((attached, JsepAction::Offer { media, later, data }))
    }

    /// The subscriber streams for `wanted` (feed, mid, layers) of published feeds,
    /// numbered from `first`.
    fn resolve_streams(
        &self,
        room_id: u64,
        wanted: &[Wanted],
        first: usize,
    ) -> Result<Vec<SubStream>, VrError> {
        let mut streams = Vec::new();
        let playout_ext = self.rooms.get(&room_id).is_none_or(|r| r.playoutdelay_ext);
        for (feed, mid, ask) in wanted {
            let feed = *feed;
            let Some((_, p)) = self
                .publisher_of(room_id, feed)
                .filter(|(_, p)| p.published)
            else {
                return Err(VrError::NoSuchFeed(format!("No such feed ({feed})")));
            };
            let chosen: Vec<&PubStream> = match mid {
                Some(m) => vec![p.stream(m).ok_or_else(|| {
                    VrError::NoSuchFeed(format!("No such mid '{m}' in feed {feed}"))
                })?],
                None => p.streams.iter().collect(),
            };
            for s in chosen
                .into_iter()
                .filter(|s| s.codec.is_some() || s.kind.is_none())
            {
                let mut st = SubStream {
                    mindex: first + streams.len(),
                    mid: None,
                    feed,
                    feed_mid: s.mid.clone(),
                    stream: s.clone(),
                    send: true,
                    active: true,
                    substream: layer_index(&s.rids, None),
                    temporal: cardea_media::DEFAULT_TEMPORAL,
                    fallback: None,
                    got_substream: None,
                    got_temporal: None,
                    spatial: 2,
                    svc_temporal: 2,
                    got_spatial: None,
                    got_svc_temporal: None,
                    min_delay: -1,
                    max_delay: -1,
                    playout_ext,
                };
                ask.apply(&mut st);
                streams.push(st);
            }
        }
        Ok(streams)
    }

    /// `subscribe`, `unsubscribe` and `update`: streams are added and removed on the
    /// subscriber's PeerConnection, and a new offer goes with `updated`.
    fn update_subscription(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        add: &[Wanted],
        remove: &[Fields<'_>],
    ) -> Result<(Value, Option<JsepAction>), VrError> {
        let Some(Role::Subscriber(s)) = self.roles.get(&handle) else {
            return Err(VrError::JoinFirst);
        };
        let room_id = s.room;
        let new = self.resolve_streams(room_id, add, s.streams.len())?;
        // Which of its streams go: by sub_mid, or by feed (and mid).
        let mut gone = Vec::new();
        for r in remove {
            let sub_mid = r.str("sub_mid")?;
            let feed = r.u64("feed")?;
            let mid = r.str("mid")?;
            if sub_mid.is_none() && feed.is_none() {
                return Err(VrError::MissingElement("feed"));
            }
            for (i, st) in s.streams.iter().enumerate() {
                let hit = st.active
                    && sub_mid.is_none_or(|m| st.mid.as_deref() == Some(m))
                    && feed.is_none_or(|f| st.feed == f)
                    && mid.is_none_or(|m| st.feed_mid == m);
                if hit && !gone.contains(&i) {
                    gone.push(i);
                }
            }
        }
        let from_of: Vec<Option<HandleId>> = gone
            .iter()
            .map(|&i| {
                self.publisher_of(room_id, s.streams[i].feed)
                    .map(|(h, _)| h)
            })
            .collect();
        let add_media: Vec<_> = new
            .iter()
            .filter_map(|st| st.stream.offer_media())
            .collect();
        let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
            return Err(VrError::JoinFirst);
        };
        let mut inactive = Vec::new();
        for (&i, from) in gone.iter().zip(from_of) {
            let st = &mut s.streams[i];
            st.active = false;
            if let Some(from) = from {
                route_stream(ctx, from, handle, st, false);
            }
            // The data m-line is shared by every feed's data stream: it stays.
            if !st.is_data() {
                inactive.extend(st.mid.clone());
            }
        }
        // New data streams share the data m-line if there is one; else the offer adds it.
        let data_mid = s
            .streams
            .iter()
            .find(|st| st.is_data())
            .and_then(|st| st.mid.clone());
        let mut new = new;
        let mut add_data = false;
        for st in new.iter_mut().filter(|st| st.is_data()) {
            st.mid.clone_from(&data_mid);
            add_data |= data_mid.is_none();
        }
        let changed = !add_media.is_empty() || !inactive.is_empty() || add_data;
        s.streams.extend(new);
        let event = json!({
            "videoroom": "updated",
            "room": room_id,
            "streams": self.subscriber_streams(handle),
        });
        let jsep = changed.then_some(JsepAction::Reoffer(Reoffer {
            add: add_media,
            inactive,
            ice_restart: false,
            data: add_data,
        }));
        Ok((event, jsep))
    }

    /// The subscribers' handles in room `room_id` (none if there is no such room).
    fn subscribers_of(&self, room_id: u64) -> Vec<HandleId> {
        self.rooms
            .get(&room_id)
            .map(|r| r.subscribers.iter().copied().collect())
            .unwrap_or_default()
    }

    /// After a change to stream `mid` of the publisher on `handle` (moderation, its own
    /// `send`, its playout delay): every subscriber of that stream gets its edge turned on
    /// or off again, with the publisher's playout delay.
    fn reroute_feed_stream(&mut self, ctx: &mut Ctx, handle: HandleId, mid: &str) {
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return;
        };
        let (room_id, feed, relayed) = (p.room, p.id, p.relays(mid));
        let playout = p.stream(mid).map_or((-1, -1), |s| s.playout);
        let subscribers = self.subscribers_of(room_id);
        for sh in subscribers {
            if let Some(Role::Subscriber(s)) = self.roles.get_mut(&sh) {
                let live = s.started && !s.paused;
                for st in s
                    .streams
                    .iter_mut()
                    .filter(|st| st.feed == feed && st.feed_mid == mid)
                {
                    st.stream.playout = playout;
                    route_stream(ctx, handle, sh, st, live && st.send && st.active && relayed);
                }
            }
        }
    }

    /// Turns the edges of a subscriber's streams on or off (only streams it wants sent and
    /// whose feed is still there are turned on).
    fn route_subscriber(&self, ctx: &mut Ctx, handle: HandleId, enabled: bool) {
        let Some(Role::Subscriber(s)) = self.roles.get(&handle) else {
            return;
        };
        for st in &s.streams {
            if let Some((from, p)) = self.publisher_of(s.room, st.feed) {
                let relayed = p.relays(&st.feed_mid);
                route_stream(
                    ctx,
                    from,
                    handle,
                    st,
                    enabled && st.send && st.active && relayed,
                );
            }
        }
    }

    /// `rtp_forward`: plain RTP copies of a publisher's streams, per stream (`streams`) or
    /// in the older form (`audio_port`, `video_port`...).
    fn rtp_forward(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, VrError> {
        let id = f.required_u64("room")?;
        let feed = f.required_u64("publisher_id")?;
        self.room(id)?.check_secret(f)?;
        let host = f.str("host")?;
        // One key for every stream forwarded, as Janus takes it.
        let srtp = crate::srtp_params::srtp_key(f.u64("srtp_suite")?, f.str("srtp_crypto")?)
            .map_err(|e| {
                e.into_plugin(
                    ("srtp_suite", "srtp_crypto"),
                    VrError::MissingElement,
                    VrError::InvalidElement,
                )
            })?;
        let Some((handle, p)) = self.publisher_of(id, feed).filter(|(_, p)| p.published) else {
            return Err(VrError::NoSuchFeed(format!("No such publisher ({feed})")));
        };
        let mut wanted = Vec::new();
        if let Some(list) = f.objects("streams")? {
            for s in list {
                let mid = s.required_str("mid")?.to_owned();
                let host = s
                    .str("host")?
                    .or(host)
                    .ok_or(VrError::MissingElement("host"))?
                    .to_owned();
                let switching = s.bool("simulcast")? == Some(true);
                wanted.push(WantedForward {
                    mid: mid.clone(),
                    host: host.clone(),
                    port: s.required_u64("port")?,
                    ssrc: s.u64("ssrc")?,
                    pt: s.u64("pt")?,
                    substream: s.u64("substream")?,
                    rtcp_port: s.u64("rtcp_port")?,
                    switching,
                });
                // The higher layers, each to its own port, unless the one forwarder
                // switches between them.
                if !switching {
                    let names = [["port_2", "ssrc_2", "pt_2"], ["port_3", "ssrc_3", "pt_3"]];
                    higher_layers(&s, names, &mid, &host, &mut wanted)?;
                }
            }
        } else {
            for (kind, port, ssrc, pt, rtcp) in [
                (
                    crate::MediaKind::Audio,
                    "audio_port",
                    "audio_ssrc",
                    "audio_pt",
                    "audio_rtcp_port",
                ),
                (
                    crate::MediaKind::Video,
                    "video_port",
                    "video_ssrc",
                    "video_pt",
                    "video_rtcp_port",
                ),
            ] {
                let Some(port) = f.u64(port)? else { continue };
                let mid = p
                    .streams
                    .iter()
                    .find(|s| s.kind == Some(kind) && s.codec.is_some())
                    .map(|s| s.mid.clone())
                    .ok_or_else(|| {
                        VrError::NoSuchFeed(format!("No {} stream to forward", kind.as_str()))
                    })?;
                let host = host.ok_or(VrError::MissingElement("host"))?.to_owned();
                wanted.push(WantedForward {
                    mid: mid.clone(),
                    host: host.clone(),
                    port,
                    ssrc: f.u64(ssrc)?,
                    pt: f.u64(pt)?,
                    substream: f.u64("substream")?,
                    rtcp_port: f.u64(rtcp)?,
                    switching: false,
                });
                if kind == crate::MediaKind::Video {
                    let names = [
                        ["video_port_2", "video_ssrc_2", "video_pt_2"],
                        ["video_port_3", "video_ssrc_3", "video_pt_3"],
                    ];
                    higher_layers(f, names, &mid, &host, &mut wanted)?;
                }
            }
            if let Some(port) = f.u64("data_port")? {
                let mid = p
                    .streams
                    .iter()
                    .find(|s| s.is_data())
                    .map(|s| s.mid.clone())
                    .ok_or_else(|| VrError::NoSuchFeed("No data stream to forward".into()))?;
                wanted.push(WantedForward {
                    mid,
                    host: host.ok_or(VrError::MissingElement("host"))?.to_owned(),
                    port,
                    ssrc: None,
                    pt: None,
                    substream: None,
                    rtcp_port: None,
                    switching: false,
                });
            }
        }
        if wanted.is_empty() {
            return Err(VrError::MissingElement("streams"));
        }
        // The room's participants are pinned to one shard by its id.
        let local_rtcp_port = self
            .media_ports
            .get(crate::pinned_shard(id, self.media_ports.len()))
            .copied();
        let mut created = Vec::new();
        for w in wanted {
            let WantedForward {
                mid,
                host,
                port,
                ssrc,
                pt,
                substream,
                rtcp_port,
                switching,
            } = w;
            let Some(stream) = p.stream(&mid).filter(|s| s.codec.is_some() || s.is_data()) else {
                return Err(VrError::NoSuchFeed(format!(
                    "No such mid '{mid}' in feed {feed}"
                )));
            };
            let destination = forward_destination(&host, port)?;
            if substream.is_some_and(|l| l as usize >= stream.rids.len().max(1)) {
                return Err(VrError::InvalidElement(format!(
                    "stream '{mid}' has no simulcast layer {}",
                    substream.unwrap_or(0)
                )));
            }
            // Key-frame requests only make sense for video; Janus ignores the port of
            // other streams too.
            let rtcp = rtcp_port
                .filter(|_| stream.kind == Some(crate::MediaKind::Video))
                .map(|p| {
                    forward_destination(&host, p)
                        .map(|a| a.port())
                        .map_err(|_| VrError::InvalidElement("rtcp_port should be 1-65535".into()))
                })
                .transpose()?;
            let pt = pt
                .map(|n| u8::try_from(n).ok().filter(|n| *n < 128))
                .map(|n| n.ok_or_else(|| VrError::InvalidElement("pt should be 0-127".into())))
                .transpose()?;
            // Without layers there is nothing to switch between: a plain forwarder.
            let switching = switching && !stream.rids.is_empty();
            let layer = (!stream.rids.is_empty() && !switching)
                .then(|| substream.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
            let fw = RtpForward {
                stream_id: rand::random::<u32>() >> 1,
                mid,
                kind: stream.type_name(),
                destination,
                host,
                ssrc: ssrc.map_or_else(rand::random::<u32>, |s| s as u32),
                pt,
                substream: layer,
                srtp: srtp.is_some() && !stream.is_data(),
                rtcp_port: rtcp,
                local_rtcp_port: rtcp.and(local_rtcp_port),
                switching,
            };
            ctx.push(Command::ForwardRtp {
                handle,
                mid: fw.mid.clone(),
                id: fw.stream_id,
                destination: fw.destination,
                pt: fw.pt,
                ssrc: fw.ssrc,
                rid: layer.map(|i| stream.rids[i].clone()),
                // Data messages go out as they came.
                srtp: srtp.clone().filter(|_| !stream.is_data()),
                rtcp: rtcp.map(|p| std::net::SocketAddr::new(destination.ip(), p)),
                switching: switching.then(|| crate::SwitchLayers {
                    rids: stream.rids.clone(),
                    codec: stream.codec_name().unwrap_or_default(),
                }),
            });
            created.push(fw);
        }
        let list: Vec<Value> = created.iter().map(RtpForward::to_json).collect();
        if let Some(p) = self.publisher_mut(handle) {
            p.forwarders.extend(created);
        }
        tracing::info!(room = id, feed, forwarders = list.len(), "rtp_forward");
        Ok(
            json!({ "videoroom": "rtp_forward", "room": id, "publisher_id": feed, "forwarders": list }),
        )
    }

    /// `moderate`: a publisher's stream is muted (or unmuted) for every subscriber.
    fn moderate(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, VrError> {
        let id = f.required_u64("room")?;
        let feed = f.required_u64("id")?;
        let mid = f.required_str("mid")?;
        let mute = f.bool("mute")?.ok_or(VrError::MissingElement("mute"))?;
        let room = self.room(id)?;
        room.check_secret(f)?;
        let Some(&handle) = room.participants.get(&feed) else {
            return Err(VrError::NoSuchFeed(format!(
                "No such user {feed} in room {id}"
            )));
        };
        let Some(p) = self.publisher_mut(handle) else {
            return Err(VrError::NoSuchFeed(format!(
                "No such user {feed} in room {id}"
            )));
        };
        if p.published && p.stream(mid).is_none() {
            return Err(VrError::NoSuchFeed(format!(
                "No such mid '{mid}' in feed {feed}"
            )));
        }
        if mute {
            if !p.moderated.iter().any(|m| m == mid) {
                p.moderated.push(mid.to_owned());
            }
        } else {
            p.moderated.retain(|m| m != mid);
        }
        self.reroute_feed_stream(ctx, handle, mid);
        let mut event = room_event(id, "id", feed.into());
        event["mid"] = mid.into();
        event["moderation"] = if mute { "muted" } else { "unmuted" }.into();
        push(ctx, handle, None, event.clone());
        self.notify(ctx, id, Some(handle), &event);
        Ok(json!({ "videoroom": "success" }))
    }

    fn start(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        jsep: Option<Jsep>,
    ) -> Result<Value, VrError> {
        let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
            return Err(VrError::JoinFirst);
        };
        match jsep {
            Some(j) if j.kind == JsepType::Answer => {
                ctx.push(Command::AcceptAnswer {
                    handle,
                    answer: j.sdp,
                });
            }
            Some(j) => return Err(VrError::InvalidSdpType(j.kind.as_str().into())),
            None if !s.started => return Err(VrError::MissingElement("jsep")),
            None => {}
        }
        s.started = true;
        s.paused = false;
        let room_id = s.room;
        self.route_subscriber(ctx, handle, true);
        Ok(room_event(room_id, "started", "ok".into()))
    }

    fn configure_subscriber(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        let changes = f.objects("streams")?.unwrap_or_default();
        let mut wanted = Vec::new();
        for c in &changes {
            wanted.push((
                c.required_str("mid")?.to_owned(),
                c.bool("send")?,
                LayerAsk::read(c)?,
            ));
        }
        // Older clients: one substream and temporal layer for every simulcast stream.
        let for_all = LayerAsk::read(f)?;
        let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
            return Err(VrError::JoinFirst);
        };
        let mut asked = Vec::new();
        for st in &mut s.streams {
            if !st.stream.rids.is_empty() || st.is_svc() {
                for_all.apply(st);
                asked.push((st.mid.clone(), for_all));
            } else {
                // A top-level playout delay is for every video stream.
                for_all.apply_delay(st);
            }
        }
        for (mid, send, ask) in wanted {
            let Some(st) = s
                .streams
                .iter_mut()
                .find(|st| st.mid.as_deref() == Some(&mid))
            else {
                return Err(VrError::NoSuchFeed(format!("No such mid '{mid}'")));
            };
            if let Some(send) = send {
                st.send = send;
            }
            ask.apply(st);
            asked.push((st.mid.clone(), ask));
        }
        // Asking for what is already forwarded is answered at once, as Janus does; other
        // changes are told when the shard makes them.
        for (mid, ask) in asked {
            let Some(st) = s.streams.iter().find(|st| st.mid == mid) else {
                continue;
            };
            let Some(mid) = mid else { continue };
            if ask.substream.is_some() && st.got_substream == Some(st.substream) {
                let mut event = room_event(s.room, "mid", mid.clone().into());
                event["substream"] = st.substream.into();
                push(ctx, handle, None, event);
            }
            let already = [
                ("temporal", ask.temporal, st.got_temporal),
                ("spatial_layer", ask.spatial, st.got_spatial),
                ("temporal_layer", ask.svc_temporal, st.got_svc_temporal),
            ];
            for (key, asked, got) in already {
                if asked.is_some() && got == asked {
                    let mut event = room_event(s.room, "mid", mid.clone().into());
                    event[key] = asked.into();
                    push(ctx, handle, None, event);
                }
            }
        }
        let (room_id, live) = (s.room, s.started && !s.paused);
        if live {
            self.route_subscriber(ctx, handle, true);
        }
        Ok(room_event(room_id, "configured", "ok".into()))
    }

    fn switch(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        let list = f
            .objects("streams")?
            .ok_or(VrError::MissingElement("streams"))?;
        let Some(Role::Subscriber(s)) = self.roles.get(&handle) else {
            return Err(VrError::JoinFirst);
        };
        let room_id = s.room;
        // Check every change before making any.
        let mut plan = Vec::new();
        for c in &list {
            let feed = c.required_u64("feed")?;
            let mid = c.required_str("mid")?;
            let sub_mid = c.required_str("sub_mid")?;
            let Some(index) = s
                .streams
                .iter()
                .position(|st| st.mid.as_deref() == Some(sub_mid))
            else {
                return Err(VrError::NoSuchFeed(format!(
                    "No such subscription mid '{sub_mid}'"
                )));
            };
            let Some((from, p)) = self
                .publisher_of(room_id, feed)
                .filter(|(_, p)| p.published)
            else {
                return Err(VrError::NoSuchFeed(format!("No such feed ({feed})")));
            };
            let Some(source) = p.stream(mid) else {
                return Err(VrError::NoSuchFeed(format!(
                    "No such mid '{mid}' in feed {feed}"
                )));
            };
            let current = &s.streams[index].stream;
            let same = source.kind == current.kind && source.codec_name() == current.codec_name();
            if !same {
                return Err(VrError::InvalidFeed(format!(
                    "Can't switch mid '{sub_mid}' to feed {feed} mid '{mid}': not the same codec"
                )));
            }
            plan.push((index, from, feed, source.clone()));
        }
        let live = s.started && !s.paused;
        for (index, from, feed, source) in plan {
            let (old_from, old_mid, to_mid) = {
                let Some(Role::Subscriber(s)) = self.roles.get(&handle) else {
                    break;
                };
                let st = &s.streams[index];
                (
                    self.publisher_of(room_id, st.feed).map(|(h, _)| h),
                    st.feed_mid.clone(),
                    st.mid.clone().unwrap_or_default(),
                )
            };
            if let Some(old) = old_from {
                ctx.push(Command::RouteMid {
                    from: old,
                    from_mid: old_mid,
                    to: handle,
                    to_mid,
                    enabled: false,
                });
            }
            if let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) {
                let st = &mut s.streams[index];
                st.feed = feed;
                st.feed_mid = source.mid.clone();
                st.stream = source;
                st.active = true;
                let on = live && st.send;
                route_stream(ctx, from, handle, st, on);
            }
        }
        let streams = self.subscriber_streams(handle);
        let mut event = room_event(room_id, "switched", "ok".into());
        event["changes"] = list.len().into();
        event["streams"] = streams.into();
        Ok(event)
    }

    fn leave_subscriber(&mut self, ctx: &mut Ctx, handle: HandleId) -> Option<u64> {
        self.route_subscriber(ctx, handle, false);
        let Some(Role::Subscriber(s)) = self.roles.remove(&handle) else {
            return None;
        };
        if let Some(r) = self.rooms.get_mut(&s.room) {
            r.subscribers.remove(&handle);
        }
        Some(s.room)
    }

    // ---- dispatch ------------------------------------------------------------------

    /// An asynchronous request; `Ok` is the event (and JSEP) that answers it.
    fn answer_later(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        request: &str,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), VrError> {
        let role = self.roles.get(&handle);
        let is_publisher = matches!(role, Some(Role::Publisher(_)));
        let is_subscriber = matches!(role, Some(Role::Subscriber(_)));
        match request {
            "join" | "joinandconfigure" => {
                if let Some(r) = role {
                    let what = if matches!(r, Role::Publisher(_)) {
                        "publisher"
                    } else {
                        "subscriber"
                    };
                    return Err(VrError::AlreadyJoined(what));
                }
                let ptype = f.required_str("ptype")?;
                match ptype {
                    "publisher" => {
                        let mut joined = self.join_publisher(ctx, handle, f)?;
                        if request == "joinandconfigure" {
                            if let Err(e) = self.record_fields(ctx, handle, f) {
                                self.leave_publisher(ctx, handle);
                                return Err(e);
                            }
                        }
                        if request == "join" || jsep.is_none() {
                            return Ok((joined, None));
                        }
                        match self.publish(ctx, handle, f, jsep) {
                            Ok((configured, answer)) => {
                                for key in ["audio_codec", "video_codec", "streams"] {
                                    if let Some(v) = configured.get(key) {
                                        joined[key] = v.clone();
                                    }
                                }
                                Ok((joined, Some(answer)))
                            }
                            Err(e) => {
                                self.leave_publisher(ctx, handle);
                                Err(e)
                            }
                        }
                    }
                    "subscriber" | "listener" => {
                        let (attached, offer) = self.join_subscriber(ctx, handle, f)?;
                        Ok((attached, Some(offer)))
                    }
                    other => Err(VrError::InvalidElement(format!(
                        "ptype should be publisher or subscriber, not {other}"
                    ))),
                }
            }
            "publish" | "configure" if is_publisher => {
                let published = matches!(role, Some(Role::Publisher(p)) if p.published);
                if request == "publish" && published {
                    return Err(VrError::AlreadyPublished);
                }
                self.record_fields(ctx, handle, f)?;
                if request == "publish" || jsep.is_some() {
                    let (event, answer) = self.publish(ctx, handle, f, jsep)?;
                    Ok((event, Some(answer)))
                } else {
                    Ok((self.configure_publisher(ctx, handle, f)?, None))
                }
            }
            "unpublish" if is_publisher => {
                if !self.unpublish_state(ctx, handle) {
                    return Err(VrError::NotPublished);
                }
                ctx.push(Command::ClosePc { handle });
                let room = self.publisher_mut(handle).map_or(0, |p| p.room);
                Ok((room_event(room, "unpublished", "ok".into()), None))
            }
            "leave" if is_publisher => {
                let room = self.leave_publisher(ctx, handle).unwrap_or_default();
                ctx.push(Command::ClosePc { handle });
                Ok((room_event(room, "leaving", "ok".into()), None))
            }
            "start" if is_subscriber => Ok((self.start(ctx, handle, jsep)?, None)),
            "configure" if is_subscriber => {
                let restart = f.bool("restart")?.unwrap_or(false);
                let configured = self.configure_subscriber(ctx, handle, f)?;
                // `restart`: a new offer with new ICE credentials, answered with `start`.
                let jsep = restart.then_some(JsepAction::Reoffer(Reoffer {
                    ice_restart: true,
                    ..Reoffer::default()
                }));
                Ok((configured, jsep))
            }
            "pause" if is_subscriber => {
                self.route_subscriber(ctx, handle, false);
                let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
                    return Err(VrError::JoinFirst);
                };
                s.paused = true;
                Ok((room_event(s.room, "paused", "ok".into()), None))
            }
            "switch" if is_subscriber => Ok((self.switch(ctx, handle, f)?, None)),
            "leave" if is_subscriber => {
                let room = self.leave_subscriber(ctx, handle).unwrap_or_default();
                ctx.push(Command::ClosePc { handle });
                Ok((room_event(room, "left", "ok".into()), None))
            }
            "subscribe" | "unsubscribe" | "update" if is_subscriber => {
                let (add_key, remove_key) = match request {
                    "subscribe" => ("streams", ""),
                    "unsubscribe" => ("", "streams"),
                    _ => ("subscribe", "unsubscribe"),
                };
                let add = match add_key {
                    "" => Vec::new(),
                    key => wanted_streams(&f.objects(key)?.unwrap_or_default())?,
                };
                let remove = match remove_key {
                    "" => Vec::new(),
                    key => f.objects(key)?.unwrap_or_default(),
                };
                if add.is_empty() && remove.is_empty() {
                    return Err(VrError::MissingElement(if request == "update" {
                        "subscribe"
                    } else {
                        "streams"
                    }));
                }
                self.update_subscription(ctx, handle, &add, &remove)
            }
            _ if role.is_none() => Err(VrError::JoinFirst),
            _ => Err(VrError::InvalidRequest(request.to_owned())),
        }
    }
}

impl Plugin for VideoRoom {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS VideoRoom plugin",
            description: "A videoconferencing SFU: publishers and subscribers in rooms",
            author: "Cardea",
            version: 20,
            version_string: "0.0.20",
        }
    }

    fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        self.handles.insert(handle);
        Ok(())
    }

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        crate::dispatch::dispatch(self, ctx, message)
    }

    fn jsep_error(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        error: &str,
    ) {
        if matches!(self.roles.get(&handle), Some(Role::Publisher(p)) if p.published) {
            self.unpublish_state(ctx, handle);
        }
        push(
            ctx,
            handle,
            transaction,
            error_json(&VrError::InvalidSdp(error.to_owned())),
        );
    }

    fn offered(&mut self, handle: HandleId, mids: &[String], data: &mut Value) {
        let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
            return;
        };
        // New m-lines come after the ones already there, in the order they were asked for;
        // the data channel's, shared by every data stream, after the media.
        let used: Vec<String> = s.streams.iter().filter_map(|st| st.mid.clone()).collect();
        let data_mid = s
            .streams
            .iter()
            .find(|st| st.is_data())
            .and_then(|st| st.mid.clone());
        let mut fresh = mids.iter().filter(|m| !used.contains(m));
        let mut assigned = Vec::new();
        for (i, st) in s.streams.iter_mut().enumerate() {
            if st.mid.is_some() || st.is_data() {
                continue;
            }
            let Some(mid) = fresh.next() else { break };
            st.mid = Some(mid.clone());
            assigned.push((i, mid.clone()));
        }
        let data_mid = data_mid.or_else(|| fresh.next().cloned());
        for (i, st) in s.streams.iter_mut().enumerate() {
            if st.is_data() && st.mid.is_none() {
                st.mid = data_mid.clone();
                if let Some(mid) = &data_mid {
                    assigned.push((i, mid.clone()));
                }
            }
        }
        for (i, mid) in assigned {
            if let Some(entry) = data.get_mut("streams").and_then(|v| v.get_mut(i)) {
                entry["mid"] = mid.into();
            }
        }
    }

    fn incoming_data(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        label: &str,
        binary: bool,
        data: &[u8],
    ) {
        // A publisher's data-channel message goes to every started subscriber of its data
        // stream, with its label, as Janus relays it.
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        // Not while a moderator or the publisher itself stopped the data stream.
        if p.streams
            .iter()
            .find(|s| s.is_data())
            .is_some_and(|s| !p.relays(&s.mid))
        {
            return;
        }
        let (room_id, feed) = (p.room, p.id);
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        for sub in &room.subscribers {
            let Some(Role::Subscriber(s)) = self.roles.get(sub) else {
                continue;
            };
            let wants = s.started
                && !s.paused
                && s.streams.iter().any(|st| {
                    st.is_data() && st.feed == feed && st.send && st.active && st.mid.is_some()
                });
            if wants {
                ctx.push(Command::SendData {
                    handle: *sub,
                    label: Some(label.to_owned()),
                    binary,
                    data: data.to_vec(),
                });
            }
        }
    }

    fn talking(&mut self, ctx: &mut Ctx, handle: HandleId, mid: &str, talking: bool, level: f32) {
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        p.talking = talking;
        let (room, id) = (p.room, p.id);
        let event = json!({
            "videoroom": if talking { "talking" } else { "stopped-talking" },
            "room": room,
            "id": id,
            "mid": mid,
            "audio-level-dBov-avg": level,
        });
        // Everyone in the room hears it, the talker too.
        push(ctx, handle, None, event.clone());
        self.notify(ctx, room, Some(handle), &event);
    }

    fn layer_switched(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        mid: &str,
        switch: &cardea_media::LayerSwitch,
    ) {
        let Some(Role::Subscriber(s)) = self.roles.get_mut(&handle) else {
            return;
        };
        let Some(st) = s
            .streams
            .iter_mut()
            .find(|st| st.mid.as_deref() == Some(mid))
        else {
            return;
        };
        // As Janus tells a subscriber when the layer it receives changes.
        let mut event = room_event(s.room, "mid", mid.into());
        match switch {
            cardea_media::LayerSwitch::Substream(rid) => {
                let Some(substream) = st.stream.rids.iter().position(|r| r == rid) else {
                    return;
                };
                st.got_substream = Some(substream);
                event["substream"] = substream.into();
            }
            cardea_media::LayerSwitch::Temporal(t) => {
                st.got_temporal = Some(*t);
                event["temporal"] = (*t).into();
            }
            cardea_media::LayerSwitch::Spatial(n) => {
                st.got_spatial = Some(*n);
                event["spatial_layer"] = (*n).into();
            }
            cardea_media::LayerSwitch::SvcTemporal(t) => {
                st.got_svc_temporal = Some(*t);
                event["temporal_layer"] = (*t).into();
            }
        }
        push(ctx, handle, None, event);
    }

    fn setup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        // A subscriber can decode only from a key frame: ask each feed for one now that
        // the subscriber's DTLS is up.
        let Some(Role::Subscriber(s)) = self.roles.get(&handle) else {
            return;
        };
        let mut feeds: Vec<HandleId> = s
            .streams
            .iter()
            .filter(|st| st.stream.kind == Some(crate::MediaKind::Video))
            .filter_map(|st| self.publisher_of(s.room, st.feed).map(|(h, _)| h))
            .collect();
        feeds.dedup();
        for h in feeds {
            ctx.push(Command::RequestKeyframe { handle: h });
        }
    }

    fn hangup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        match self.roles.get_mut(&handle) {
            Some(Role::Publisher(_)) => {
                self.unpublish_state(ctx, handle);
            }
            Some(Role::Subscriber(s)) => {
                s.started = false;
            }
            None => {}
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let now = ctx.now;
        for room in self.rooms.values().filter(|r| r.fir_freq > 0) {
            let every = Duration::from_secs(room.fir_freq);
            for &h in room.participants.values() {
                let Some(Role::Publisher(p)) = self.roles.get_mut(&h) else {
                    continue;
                };
                if !p.published {
                    continue;
                }
                let due = p
                    .last_keyframe_request
                    .is_none_or(|t| now.saturating_duration_since(t) >= every);
                if due {
                    p.last_keyframe_request = Some(now);
                    ctx.push(Command::RequestKeyframe { handle: h });
                }
            }
        }
    }

    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId) {
        match self.roles.get(&handle) {
            Some(Role::Publisher(_)) => {
                self.leave_publisher(ctx, handle);
            }
            Some(Role::Subscriber(_)) => {
                self.leave_subscriber(ctx, handle);
            }
            None => {}
        }
        self.handles.remove(&handle);
    }

    fn query_session(&self, handle: HandleId) -> Value {
        match self.roles.get(&handle) {
            Some(Role::Publisher(p)) => json!({
                "type": "publisher",
                "room": p.room,
                "id": p.id,
                "private_id": p.private_id,
                "display": p.display,
                "media": p.streams.iter().map(PubStream::to_json).collect::<Vec<_>>(),
                "published": p.published,
                "bitrate": p.bitrate.unwrap_or(0),
            }),
            Some(Role::Subscriber(s)) => json!({
                "type": "subscriber",
                "room": s.room,
                "started": s.started,
                "paused": s.paused,
                "streams": s.streams.iter().map(|st| st.to_json(self, s.room)).collect::<Vec<_>>(),
            }),
            None if self.handles.contains(&handle) => json!({ "type": "none" }),
            None => json!({ "destroyed": true }),
        }
    }
}

crate::dispatch::requests!(VideoRoom, VrError);
