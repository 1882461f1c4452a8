//! Plain RTP sources in the core: a plugin's source (a Streaming mountpoint) starts on the
//! shard its key picks with the sockets the plugin reserved, viewers' streams are routed
//! from it, and its reports go back to the plugins.

use std::net::SocketAddr;

use cardea_media::{LegId, MediaCommand, Mid, RtpSource, SourceReport, SourceStream, VideoCodec};
use cardea_plugins::{Ctx, HandleId, SourceInput, SourceSpec};
use serde_json::json;

use super::Core;

/// Sources live beside legs on a shard under the source id with this bit set (Janus
/// handle ids have 53 bits; RTP legs of SIP calls use bit 62).
const SOURCE_BIT: u64 = 1 << 61;

pub fn source_leg_id(source: u64) -> LegId {
    LegId(source | SOURCE_BIT)
}

/// The source a leg id names, if it names one.
pub fn source_of_leg(leg: LegId) -> Option<u64> {
    let plain = super::sip::handle_of_rtp_leg(leg).is_none();
    (plain && leg.0 & SOURCE_BIT != 0).then_some(leg.0 & !SOURCE_BIT)
}

pub struct SourceState {
    pub shard: usize,
    pub locals: Vec<SocketAddr>,
}

impl Core {
    pub(super) fn open_source(&mut self, source: u64, key: u64, streams: Vec<SourceSpec>) {
        self.close_source(source);
        let shard = (key % self.shards.len().max(1) as u64) as usize;
        let mut sockets = Vec::new();
        let mut configs = Vec::new();
        for spec in streams {
            let video = spec.kind == cardea_media::MediaKind::Video;
            let rtcp = spec.rtcp.and_then(|local| match self.ports.take(local) {
                Some(socket) => {
                    sockets.push(socket);
                    Some(local)
                }
                None => {
                    tracing::warn!(source, %local, "source RTCP port not reserved: left out");
                    None
                }
            });
            let (local, file) = match &spec.input {
                SourceInput::Udp(local) => {
                    let Some(socket) = self.ports.take(*local) else {
                        tracing::warn!(source, %local, "source stream without its port: left out");
                        continue;
                    };
                    sockets.push(socket);
                    (Some(*local), None)
                }
                SourceInput::File(path) => match crate::net::load_file(path, &spec.codec) {
                    Ok(file) => (None, Some(file)),
                    Err(e) => {
                        tracing::warn!(source, "source file left out: {e}");
                        continue;
                    }
                },
            };
            configs.push(SourceStream {
                mid: Mid::from(spec.mid.as_str()),
                kind: spec.kind,
                local,
                file,
                srtp: spec.srtp.clone(),
                pt: spec.pt,
                clock_rate: spec.clock_rate,
                codec: (video && spec.data.is_none()).then(|| VideoCodec::from_name(&spec.codec)),
                data: spec.data,
                rid: spec.rid.as_deref().map(cardea_media::Rid::from),
                rtcp,
            });
        }
        let locals: Vec<SocketAddr> = configs
            .iter()
            .flat_map(|c| [c.local, c.rtcp])
            .flatten()
            .collect();
        if let Some(s) = self.shards.get(shard) {
            s.add_sockets(sockets);
        }
        self.media(
            shard,
            MediaCommand::AddSource(Box::new(RtpSource::new(
                source_leg_id(source),
                configs,
                std::time::Instant::now(),
            ))),
        );
        self.sources.insert(source, SourceState { shard, locals });
    }

    pub(super) fn close_source(&mut self, source: u64) {
        let Some(state) = self.sources.remove(&source) else {
            return;
        };
        self.forget_recordings(cardea_plugins::RecordTarget::Source(source));
        self.media(
            state.shard,
            MediaCommand::RemoveLeg {
                leg: source_leg_id(source),
                close: false,
            },
        );
        if let Some(s) = self.shards.get(state.shard) {
            s.remove_sockets(state.locals);
        }
    }

    pub(super) fn route_source(
        &mut self,
        source: u64,
        mid: String,
        to: HandleId,
        to_mid: String,
        enabled: bool,
    ) {
        let Some(state) = self.sources.get(&source) else {
            tracing::debug!(source, "route from an unknown source ignored");
            return;
        };
        let shard = state.shard;
        if self.shard_for(to) != shard {
            tracing::warn!(
                source,
                handle = to,
                "viewer and source are on different media shards: no media"
            );
        }
        self.media(
            shard,
            MediaCommand::RouteMid {
                from: source_leg_id(source),
                from_mid: Mid::from(mid.as_str()),
                to: LegId(to),
                to_mid: Mid::from(to_mid.as_str()),
                enabled,
            },
        );
    }

    /// Janus's `media` event on a handle, for media the plugin knows about.
    pub(super) fn media_state(
        &mut self,
        handle: HandleId,
        mid: String,
        kind: cardea_media::MediaKind,
        receiving: bool,
    ) {
        let Some(sid) = self.handles.get(&handle).map(|h| h.session) else {
            return;
        };
        self.push(
            sid,
            json!({
                "janus": "media", "session_id": sid, "sender": handle,
                "mid": mid, "type": kind.as_str(), "receiving": receiving
            }),
        );
    }

    /// A source's report, to the plugins (the source ids are the Streaming plugin's).
    pub(super) fn on_source_report(&mut self, source: u64, report: SourceReport) {
        if !self.sources.contains_key(&source) {
            return;
        }
        let mut ctx = Ctx::default();
        for plugin in &mut self.plugins {
            plugin.source_report(&mut ctx, source, &report);
        }
        self.pending.extend(ctx.commands);
    }

    /// Starts the RTSP client of source `source`; its reports come back as
    /// [`super::CoreInput::Rtsp`].
    pub(super) fn open_rtsp(&mut self, source: u64, spec: cardea_plugins::RtspSpec) {
        if let Some(old) = self.rtsp.remove(&source) {
            old.abort();
        }
        let Some(core) = self.self_tx.clone() else {
            tracing::warn!(source, "RTSP source not started: the core is not running");
            return;
        };
        let task = crate::net::spawn_rtsp(spec, move |report| {
            let _ = core.send(super::CoreInput::Rtsp { source, report });
        });
        self.rtsp.insert(source, task);
    }

    /// An RTSP client's report, to the plugins.
    pub(super) fn on_rtsp(&mut self, source: u64, report: crate::net::RtspReport) {
        if !self.rtsp.contains_key(&source) {
            return;
        }
        let mut ctx = Ctx::default();
        let tracks = match &report {
            Ok(t) => Ok(t.as_slice()),
            Err(e) => Err(e.as_str()),
        };
        for plugin in &mut self.plugins {
            plugin.rtsp_described(&mut ctx, source, tracks);
        }
        self.pending.extend(ctx.commands);
    }
}
