use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cardea_media::rtp_leg::{PtMap, RtpLegEvent};
pub use cardea_media::SourceReport;
use cardea_sip::transaction::{Destination, ServerKey};
use cardea_sip::{Method, Request, Response};
use serde_json::Value;

pub use cardea_media::MediaKind;
pub use cardea_media::{MixCodec, MixForward, MixParticipant};

/// A Janus handle id; the plugin's per-handle state is keyed by it.
pub type HandleId = u64;

/// What `info` lists for a plugin (Janus `server_info.plugins`).
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub package: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub author: &'static str,
    pub version: u32,
    pub version_string: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsepType {
    Offer,
    Answer,
}

impl JsepType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Answer => "answer",
        }
    }
}

/// A JSEP object from the client, already checked by the core.
#[derive(Debug, Clone)]
pub struct Jsep {
    pub kind: JsepType,
    pub sdp: String,
    /// `false` when the client put all its candidates in the SDP.
    pub trickle: Option<bool>,
    /// Janus sets this on renegotiations.
    pub update: bool,
    /// The client encrypts its media end to end (insertable streams): a plugin that must
    /// decode it refuses.
    pub e2ee: bool,
}

/// A `message` request for a plugin.
#[derive(Debug, Clone)]
pub struct Message {
    pub handle: HandleId,
    pub transaction: Option<String>,
    pub body: Value,
    pub jsep: Option<Jsep>,
}

/// How a plugin answers a `message` right away.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `success` with `plugindata.data` set to this value.
    Sync(Value),
    /// `ack` now; the answer follows as an `event` with the same transaction.
    Ack,
    /// The core answers with error 462 and this reason.
    Error(String),
}

/// The WebRTC side of an event the plugin pushes.
#[derive(Debug, Clone)]
pub enum JsepAction {
    /// Accept the client's offer: the core negotiates the handle's WebRTC leg and attaches
    /// its answer to the event.
    AnswerOffer { offer: String },
    /// Offer the browser these media (the SIP peer's codecs, so no transcoding is
    /// needed): the core builds the handle's WebRTC leg and attaches its offer; the
    /// browser's answer comes back later ([`Command::AcceptAnswer`]). `later`: codecs a
    /// later [`JsepAction::Reoffer`] may need (a leg's codec set is fixed when it is built).
    Offer {
        media: Vec<OfferMedia>,
        later: Vec<OfferMedia>,
        /// The offer has a data channel too (after the media m-lines).
        data: bool,
    },
    /// A new offer on the handle's live PeerConnection. [`Plugin::offered`] hears the
    /// offer's mids, as for `Offer`.
    Reoffer(Reoffer),
}

/// What changes in a new offer on a live PeerConnection.
#[derive(Debug, Clone, Default)]
pub struct Reoffer {
    /// New m-lines.
    pub add: Vec<OfferMedia>,
    /// Mids that stop.
    pub inactive: Vec<String>,
    /// New ICE credentials (the browser's path changed or failed).
    pub ice_restart: bool,
    /// A data channel m-line is added (the PeerConnection has none yet).
    pub data: bool,
}

pub use cardea_media::{OfferCodec, OfferMedia};

/// The layers a switching forwarder chooses from.
#[derive(Debug, Clone)]
pub struct SwitchLayers {
    /// The stream's rids, lowest quality first.
    pub rids: Vec<String>,
    /// Its codec (`vp8`, `h264`...), for key-frame detection.
    pub codec: String,
}

/// What a plugin asks of the core.
#[derive(Debug, Clone)]
pub enum Command {
    /// Push `event` to the handle's session (`plugindata.data` = `data`).
    PushEvent {
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<JsepAction>,
    },
    /// Forward `kind` media arriving on `from`'s PeerConnection out of `to`'s.
    Route {
        from: HandleId,
        to: HandleId,
        kind: MediaKind,
        enabled: bool,
    },
    /// Forward the stream `from_mid` of `from`'s PeerConnection out of stream `to_mid` of
    /// `to`'s (an SFU subscription); feedback (PLI/FIR) goes back along the same edge.
    RouteMid {
        from: HandleId,
        from_mid: String,
        to: HandleId,
        to_mid: String,
        enabled: bool,
    },
    /// Which simulcast layer stream `mid` of `handle` forwards from its source: `rids` are
    /// the source's layers, lowest quality first (empty: no choice), `substream` indexes
    /// them; a switch waits for a key frame of `codec`. `temporal` caps the VP8 temporal
    /// layers forwarded; `fallback` is how long a silent layer is waited for (`None`:
    /// Janus's 250 ms).
    SelectLayer {
        handle: HandleId,
        mid: String,
        rids: Vec<String>,
        codec: String,
        substream: usize,
        temporal: u8,
        fallback: Option<std::time::Duration>,
    },
    /// Which spatial and temporal layers of a VP9 SVC source stream `mid` of `handle`
    /// forwards (`spatial_layer`, `temporal_layer`); `fallback` as for
    /// [`Command::SelectLayer`]. Streams without layer indices are forwarded as they come.
    SelectSvc {
        handle: HandleId,
        mid: String,
        spatial: u8,
        temporal: u8,
        fallback: Option<std::time::Duration>,
    },
    /// The playout delay (min, max, in 10 ms units, Janus's `min_delay`/`max_delay`) video
    /// forwarded out of stream `mid` of `handle` carries; `None`: the source's, if any.
    PlayoutDelay {
        handle: HandleId,
        mid: String,
        delay: Option<(u16, u16)>,
    },
    /// The payload type packets forwarded out of stream `mid` of `handle` carry (the
    /// number this PeerConnection gave the source's codec); `None` keeps the source's.
    /// `codec` (the source's, lower case) makes forwarded video start on one of its key
    /// frames after each change of source.
    ForwardPt {
        handle: HandleId,
        mid: String,
        pt: Option<u8>,
        codec: Option<String>,
    },
    /// Report talking on the handle's audio ([`Plugin::talking`]): every `packets` packets
    /// the average audio level is compared with `threshold` (-dBov); `packets` 0 stops.
    WatchTalking {
        handle: HandleId,
        packets: u32,
        threshold: u8,
    },
    /// Send a copy of stream `mid` of the handle's PeerConnection as plain RTP to
    /// `destination` (`rtp_forward`), with its own SSRC and, if given, payload type; of a
    /// simulcast stream, layer `rid` only. `id` names the forwarder.
    ForwardRtp {
        handle: HandleId,
        mid: String,
        id: u32,
        destination: SocketAddr,
        pt: Option<u8>,
        ssrc: u32,
        rid: Option<String>,
        /// SRTP out with this key (`srtp_suite`, `srtp_crypto`); `None`: plain RTP.
        srtp: Option<cardea_media::rtp_leg::SrtpKey>,
        /// The receiver's RTCP address (`rtcp_port`): latched to, and its key-frame
        /// requests passed on to the handle's browser.
        rtcp: Option<SocketAddr>,
        /// Of a simulcast stream, the best layer sending rather than `rid` (Janus's
        /// `simulcast: true`).
        switching: Option<SwitchLayers>,
    },
    /// Stop forwarder `id` of the handle.
    StopForward { handle: HandleId, id: u32 },
    /// Place the handle's media on the shard that `key` picks, so that handles sharing a
    /// key (a room) share a shard and forward to each other. Given before its PeerConnection.
    PinShard { handle: HandleId, key: u64 },
    /// Cap what the browser on `handle` sends (REMB); `None` lifts the cap.
    SetBitrateCap { handle: HandleId, bps: Option<u64> },
    /// Ask the browser on `handle` for a key frame (PLI).
    RequestKeyframe { handle: HandleId },
    /// Ask the SIP peer of `handle`'s call for a key frame (an RTCP PLI from its RTP leg).
    RequestPeerKeyframe { handle: HandleId },
    /// Send a data-channel message to the browser on `handle`.
    SendData {
        handle: HandleId,
        label: Option<String>,
        binary: bool,
        data: Vec<u8>,
    },
    /// Close the handle's PeerConnection (Janus `close_pc`).
    ClosePc { handle: HandleId },
    /// Send SIP through the shared endpoint on behalf of `handle`.
    Sip { handle: HandleId, out: SipOut },
    /// Make `handle` (an id the plugin chose) a handle of the plugin's own, owned by no
    /// session, for a SIP call it places (AudioBridge `dial`), as the core does for a
    /// dial-in; it goes when the plugin releases the call's Call-ID
    /// ([`SipOut::ReleaseCall`]).
    AttachSipHandle { handle: HandleId },
    /// Open the handle's plain RTP leg (ports for audio, and video when asked) on the
    /// handle's media shard; the core answers with [`Plugin::rtp_opened`].
    OpenRtp { handle: HandleId, video: bool },
    /// Point one stream of the handle's RTP leg at the SIP peer with the agreed codecs.
    ConfigureRtp { handle: HandleId, config: RtpConfig },
    /// The SIP peer moved (re-INVITE): send one stream of the RTP leg to a new address.
    RetargetRtp {
        handle: HandleId,
        kind: MediaKind,
        remote_rtp: Option<SocketAddr>,
        remote_rtcp: Option<SocketAddr>,
    },
    /// Relay media between the handle's WebRTC leg and its RTP leg (both ways).
    BridgeRtp { handle: HandleId, enabled: bool },
    /// Send a key press as RFC 4733 telephone-events toward the SIP peer.
    SendDtmf {
        handle: HandleId,
        digit: char,
        duration: Duration,
    },
    /// The browser's answer to the offer of [`JsepAction::Offer`]: the handle's WebRTC leg
    /// applies it (on failure the plugin hears [`Plugin::jsep_error`]).
    AcceptAnswer { handle: HandleId, answer: String },
    /// Close the handle's RTP leg and free its ports.
    CloseRtp { handle: HandleId },
    /// Start source `source` (a Streaming mountpoint: plain RTP on ports reserved with
    /// [`SourceIo`], or files played as if live) on the shard that `key` picks (as
    /// [`Command::PinShard`]).
    /// Its reports come back through [`Plugin::source_report`].
    OpenSource {
        source: u64,
        key: u64,
        streams: Vec<SourceSpec>,
    },
    /// Stop source `source` and free its ports.
    CloseSource { source: u64 },
    /// Pull an RTSP presentation for source `source` (a Streaming `rtsp` mountpoint): the
    /// core describes it, reports its tracks through [`Plugin::rtsp_described`], plays it
    /// and writes each RTP packet to the track's port (bound with [`SourceIo::bind`]);
    /// it connects again after a failure or a silence, until [`Command::CloseRtsp`].
    OpenRtsp { source: u64, spec: RtspSpec },
    /// Stop pulling the RTSP presentation of source `source`.
    CloseRtsp { source: u64 },
    /// Forward stream `mid` of source `source` out of stream `to_mid` of `to`'s
    /// PeerConnection (a viewer); a new viewer of a video stream starts with the source's
    /// last key frame.
    RouteSource {
        source: u64,
        mid: String,
        to: HandleId,
        to_mid: String,
        enabled: bool,
    },
    /// Tell the handle's session that media on `mid` started or stopped (Janus's `media`
    /// event), e.g. because the source a viewer watches went quiet.
    MediaState {
        handle: HandleId,
        mid: String,
        kind: MediaKind,
        receiving: bool,
    },
    /// Start mixer `room` (an AudioBridge room) on the shard that `key` picks (as
    /// [`Command::PinShard`]; the room's participants are pinned with the same key): 20 ms
    /// frames at `sampling_rate` Hz (8000, 12000, 16000, 24000 or 48000).
    OpenMixer {
        room: u64,
        key: u64,
        sampling_rate: u32,
    },
    /// Stop mixer `room` (its participants stop hearing it).
    CloseMixer { room: u64 },
    /// Mix the handle's audio into mixer `room` and send the handle the mix of the others:
    /// the first audio stream of its PeerConnection, or of its plain RTP leg when
    /// `participant.rtp`. For a handle already in the mixer, its settings change.
    MixIn {
        room: u64,
        handle: HandleId,
        participant: MixParticipant,
    },
    /// Take the handle out of mixer `room`.
    MixOut { room: u64, handle: HandleId },
    /// Play an Ogg/Opus file into mixer `room` (Janus `play_file`); `file` names it for
    /// [`Command::MixStopFile`] and [`Plugin::mix_file_done`].
    MixPlayFile {
        room: u64,
        file: String,
        path: String,
        looped: bool,
    },
    /// Stop playing `file` in mixer `room`.
    MixStopFile { room: u64, file: String },
    /// Record mixer `room`'s whole mix into the WAV file `path` (`None`: stop recording).
    MixRecord { room: u64, path: Option<String> },
    /// Send a plain RTP copy of mixer `room`'s whole mix (AudioBridge `rtp_forward`).
    MixForward { room: u64, forward: MixForward },
    /// Stop forwarder `id` of mixer `room`.
    MixStopForward { room: u64, id: u32 },
    /// Record stream `mid` of `target` into the Janus recording (`.mjr`) of `spec`; for a
    /// stream already recorded, the new recording replaces the old one. A file that cannot
    /// be created is logged (a plugin that must answer for it checks first with
    /// [`SourceIo::create_recording`]).
    Record {
        target: RecordTarget,
        mid: String,
        spec: RecordSpec,
    },
    /// Stop recording stream `mid` of `target`: its file is completed and closed.
    StopRecord { target: RecordTarget, mid: String },
    /// Pause (`paused`) or resume recording stream `mid` of `target`.
    PauseRecord {
        target: RecordTarget,
        mid: String,
        paused: bool,
    },
}

/// Whose stream a recording records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordTarget {
    /// What the browser on the handle sends (a VideoRoom publisher).
    Handle(HandleId),
    /// A plain RTP source ([`Command::OpenSource`]).
    Source(u64),
    /// The handle's SIP call ([`Command::OpenRtp`]), both ways: its streams are named by
    /// [`cardea_media::rtp_leg::recorded_mid`] (`user-audio`, `peer-video`...).
    SipCall(HandleId),
}

/// A Janus recording of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    /// The whole path, `.mjr` included.
    pub path: String,
    /// Janus's codec name, lower case (`opus`, `vp8`, `h264`...).
    pub codec: String,
    pub fmtp: Option<String>,
    pub description: Option<String>,
    /// Of a simulcast stream, the layer recorded (`None`: the stream has none).
    pub rid: Option<String>,
}

/// One stream of a plain RTP source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    pub mid: String,
    pub kind: MediaKind,
    pub input: SourceInput,
    /// Packets of another payload type are dropped.
    pub pt: Option<u8>,
    pub clock_rate: u32,
    /// The codec name in lower case (`vp8`, `opus`...).
    pub codec: String,
    /// The sender protects its RTP with this key (SRTP in).
    pub srtp: Option<cardea_media::rtp_leg::SrtpKey>,
    /// A data stream: each datagram is a data-channel message for the viewers.
    pub data: Option<cardea_media::DataMode>,
    /// The simulcast layer (`0` lowest) of a video sent on several ports: each layer is a
    /// stream of its own; a viewer's stream fed by all of them picks one
    /// ([`Command::SelectLayer`] with these rids).
    pub rid: Option<String>,
    /// The stream's RTCP port, reserved with [`SourceIo::bind`]: the sender's RTCP comes
    /// there and key-frame requests go back.
    pub rtcp: Option<SocketAddr>,
}

/// An RTSP presentation to pull (Streaming `type: rtsp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspSpec {
    pub url: String,
    /// `rtsp_user` and `rtsp_pwd` (basic or digest, as the server asks).
    pub credentials: Option<(String, String)>,
    /// Where the first audio track's packets go (`None`: no audio wanted).
    pub audio: Option<SocketAddr>,
    /// Where the first video track's packets go (`None`: no video wanted).
    pub video: Option<SocketAddr>,
    /// Pause before connecting again, and how long a silent presentation is kept.
    pub reconnect_delay: Duration,
    /// How long connecting and each request may take.
    pub timeout: Duration,
}

/// A track an RTSP server described, as a Streaming stream needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspTrack {
    pub kind: MediaKind,
    /// The encoding name in lower case (`h264`, `opus`...).
    pub codec: String,
    pub pt: u8,
    pub clock_rate: u32,
    pub fmtp: Option<String>,
}

/// Where a source stream's packets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceInput {
    /// Plain RTP on a local address reserved with [`SourceIo::bind`].
    Udp(SocketAddr),
    /// A file (Ogg/Opus, raw A-law or µ-law), played in a loop.
    File(String),
}

/// The I/O a plugin's sources need answered at once, so that a request such as a
/// Streaming `create` can answer with its ports or refuse a missing file: the core binds
/// ports and keeps the sockets until a [`Command::OpenSource`] takes them or
/// [`SourceIo::release`] frees them, and reads files.
pub trait SourceIo: Send + Sync {
    /// Binds UDP `port` on the media address, or on interface `iface` (an address or an
    /// interface name: Janus's `iface`) when given (port 0: any free port of the media port
    /// range); returns the address bound.
    fn bind(&self, port: u16, iface: Option<&str>) -> Result<SocketAddr, String>;
    /// Binds UDP `port` of multicast `group` and joins the group on interface `iface` (an
    /// IPv4 address or an interface name; `None`: the kernel's choice); returns the
    /// address bound (the group's).
    fn bind_multicast(
        &self,
        _port: u16,
        _group: std::net::Ipv4Addr,
        _iface: Option<&str>,
    ) -> Result<SocketAddr, String> {
        Err("multicast is not available here".into())
    }
    /// Frees a port that no source took (or whose source is closed).
    fn release(&self, local: SocketAddr);
    /// Whether `path` can be played as `codec` (`opus`: Ogg/Opus; `pcmu`, `pcma`: raw).
    fn check_file(&self, path: &str, codec: &str) -> Result<(), String>;
    /// Creates the recording file `path` (and its folder) empty, so that a request that
    /// starts a recording can answer whether it could ([`Command::Record`] fills it).
    fn create_recording(&self, path: &str) -> Result<(), String>;
}

/// The core's [`SourceIo`], as plugins receive it.
#[derive(Clone)]
pub struct Ports(pub std::sync::Arc<dyn SourceIo>);

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// SIP a plugin sends through the shared endpoint. Requests from a plugin keep their own
/// Via host and port (the endpoint's listener, given to the plugin at start).
#[derive(Debug, Clone)]
pub enum SipOut {
    /// Start a client transaction. `destination` `None`: the endpoint resolves the top
    /// Route or the Request-URI (RFC 3261 §8.1.2). Responses come back as
    /// [`SipIn::Response`] / [`SipIn::Failed`]; the Call-ID is claimed for the handle.
    Request {
        request: Request,
        destination: Option<Destination>,
    },
    /// Send outside any transaction (the ACK for a 2xx).
    Stateless {
        request: Request,
        destination: Option<Destination>,
    },
    /// Answer server transaction `key`.
    Respond {
        key: ServerKey,
        response: Response,
    },
    /// Requests with this Call-ID go to the handle from now on (a dialog it owns).
    ClaimCall {
        call_id: String,
    },
    /// Forget a Call-ID (the dialog ended).
    ReleaseCall {
        call_id: String,
    },
    /// Out-of-dialog requests whose Request-URI user is `user` go to the handle (the
    /// user part of the Contact it registered).
    Bind {
        user: String,
    },
    Unbind {
        user: String,
    },
}

/// SIP the endpoint delivers to a plugin handle.
#[derive(Debug, Clone)]
pub enum SipIn {
    /// A response to a request the handle sent.
    Response(Response),
    /// A request the handle sent got no answer (timeout: 408) or could not be sent (503).
    Failed {
        call_id: String,
        method: Method,
        code: u16,
    },
    /// A request for the handle, in server transaction `key`.
    Request {
        key: ServerKey,
        request: Request,
        source: Destination,
    },
    /// A CANCEL for the handle's INVITE, in its own server transaction `key`.
    Cancel { key: ServerKey, request: Request },
    /// An ACK outside any transaction (for our 2xx).
    Ack { request: Request },
    /// A call the dialplan routes to AudioBridge room `room` (its `room` action), in
    /// server transaction `key`, on a handle of its own that no Janus session owns.
    DialIn {
        room: u64,
        key: ServerKey,
        request: Request,
        source: Destination,
    },
}

/// The local ports of a handle's RTP leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPorts {
    /// The address to write in `c=`.
    pub ip: IpAddr,
    /// RTP and RTCP addresses of the audio stream.
    pub audio: (SocketAddr, SocketAddr),
    pub video: Option<(SocketAddr, SocketAddr)>,
}

/// SDES-SRTP keys for one stream (RFC 4568): what we send with, what the peer sends with.
#[derive(Debug, Clone)]
pub struct SrtpKeys {
    pub local: cardea_media::rtp_leg::SrtpKey,
    pub remote: cardea_media::rtp_leg::SrtpKey,
}

/// One stream of an RTP leg, as negotiated with the SIP peer.
#[derive(Debug, Clone)]
pub struct RtpConfig {
    pub kind: MediaKind,
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub pt_map: PtMap,
    pub telephone_event: Option<u8>,
    pub clock_rate: u32,
    pub srtp: Option<SrtpKeys>,
}

/// Where a plugin call puts its commands; the core executes them in order afterwards.
#[derive(Debug)]
pub struct Ctx {
    /// The time of the input being handled (plugins read no clock themselves).
    pub now: Instant,
    pub commands: Vec<Command>,
}

impl Default for Ctx {
    /// A context at the current time: how the core calls a plugin.
    fn default() -> Self {
        Self::at(Instant::now())
    }
}

impl Ctx {
    pub fn at(now: Instant) -> Self {
        Self {
            now,
            commands: Vec::new(),
        }
    }

    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }
}

/// The media shard that handles pinned with `key` go to, of `shards` (see
/// [`Command::PinShard`]): the core pins by it, and a plugin can tell which shard's socket
/// a room's media leaves from.
pub fn pinned_shard(key: u64, shards: usize) -> usize {
    (key % shards.max(1) as u64) as usize
}

/// A Janus plugin, sans-IO. Every method runs on the control plane, serialized, so plugin
/// state needs no locks.
pub trait Plugin: Send {
    fn info(&self) -> PluginInfo;

    /// A handle attached to this plugin.
    fn create_session(&mut self, handle: HandleId) -> Result<(), String>;

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply;

    /// The core could not negotiate the JSEP the plugin asked for.
    fn jsep_error(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        error: &str,
    );

    /// The offer of a [`JsepAction::Offer`] is made: `mids` are its m-lines' mids in order.
    /// The plugin may note them and amend `data`, the event that carries the offer.
    fn offered(&mut self, _handle: HandleId, _mids: &[String], _data: &mut Value) {}

    /// The audio on `mid` of the handle's PeerConnection started or stopped being loud
    /// (see [`Command::WatchTalking`]); `level` is the average in -dBov.
    fn talking(
        &mut self,
        _ctx: &mut Ctx,
        _handle: HandleId,
        _mid: &str,
        _talking: bool,
        _level: f32,
    ) {
    }

    /// Stream `mid` of the handle's PeerConnection now forwards another simulcast layer
    /// or temporal layer of its source (see [`Command::SelectLayer`]).
    fn layer_switched(
        &mut self,
        _ctx: &mut Ctx,
        _handle: HandleId,
        _mid: &str,
        _switch: &cardea_media::LayerSwitch,
    ) {
    }

    /// ICE and DTLS are up on the handle's PeerConnection.
    fn setup_media(&mut self, _ctx: &mut Ctx, _handle: HandleId) {}

    /// A data-channel message from the browser.
    fn incoming_data(
        &mut self,
        _ctx: &mut Ctx,
        _handle: HandleId,
        _label: &str,
        _binary: bool,
        _data: &[u8],
    ) {
    }

    /// The handle's PeerConnection went away.
    fn hangup_media(&mut self, _ctx: &mut Ctx, _handle: HandleId) {}

    /// SIP for the handle from the shared endpoint.
    fn incoming_sip(&mut self, _ctx: &mut Ctx, _handle: HandleId, _sip: SipIn) {}

    /// The RTP leg asked for with [`Command::OpenRtp`] is open (`Err`: no ports).
    fn rtp_opened(&mut self, _ctx: &mut Ctx, _handle: HandleId, _ports: Result<RtpPorts, String>) {}

    /// Something happened on the handle's RTP leg (DTMF, latching, media on/off, BYE).
    fn rtp_event(&mut self, _ctx: &mut Ctx, _handle: HandleId, _event: RtpLegEvent) {}

    /// A stream of plain RTP source `source` started, stopped, or reports its counters.
    fn source_report(&mut self, _ctx: &mut Ctx, _source: u64, _report: &SourceReport) {}

    /// The RTSP presentation of source `source` ([`Command::OpenRtsp`]) was described
    /// and is playing with these tracks (at each connection), or a connection failed.
    fn rtsp_described(
        &mut self,
        _ctx: &mut Ctx,
        _source: u64,
        _tracks: Result<&[RtspTrack], &str>,
    ) {
    }

    /// A file played into mixer `room` with [`Command::MixPlayFile`] ended (or could not
    /// be played: `error`).
    fn mix_file_done(&mut self, _ctx: &mut Ctx, _room: u64, _file: &str, _error: Option<&str>) {}

    /// The clock ticked (every half second): timers of plugin state machines.
    fn handle_timeout(&mut self, _ctx: &mut Ctx) {}

    /// The handle is detached.
    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId);

    /// Plugin-specific state for the Admin API's handle_info.
    fn query_session(&self, handle: HandleId) -> Value;
}
