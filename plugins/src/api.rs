use serde_json::Value;

pub use cardea_media::MediaKind;

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
    /// Cap what the browser on `handle` sends (REMB); `None` lifts the cap.
    SetBitrateCap { handle: HandleId, bps: Option<u64> },
    /// Ask the browser on `handle` for a key frame (PLI).
    RequestKeyframe { handle: HandleId },
    /// Send a data-channel message to the browser on `handle`.
    SendData {
        handle: HandleId,
        label: Option<String>,
        binary: bool,
        data: Vec<u8>,
    },
    /// Close the handle's PeerConnection (Janus `close_pc`).
    ClosePc { handle: HandleId },
}

/// Where a plugin call puts its commands; the core executes them in order afterwards.
#[derive(Debug, Default)]
pub struct Ctx {
    pub commands: Vec<Command>,
}

impl Ctx {
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }
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

    /// The handle is detached.
    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId);

    /// Plugin-specific state for the Admin API's handle_info.
    fn query_session(&self, handle: HandleId) -> Value;
}
