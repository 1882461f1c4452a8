//! Janus recordings in the core: a plugin asks to record a stream of a handle's
//! PeerConnection or of a source; the file is created here and handed to the writer
//! thread, the recorder goes to the shard that carries the stream.

use std::time::{SystemTime, UNIX_EPOCH};

use cardea_media::{LegId, MediaCommand, Mid, MjrInfo, RecordedKind, Recorder, Rid};
use cardea_plugins::{Command, RecordSpec, RecordTarget};

use super::Core;

/// A recording under way: the shard its recorder is on and the writer's id for it.
pub struct RecordingState {
    shard: usize,
    id: u64,
}

impl Core {
    /// Runs the recording commands at the head of a request's queued commands, before its
    /// reply goes out (see `on_request`): the recorder is then on the shard before the
    /// client hears the recording started, as in Janus, and a packet it sends at once is
    /// recorded. They touch no client-visible state, and the rest keep their order.
    pub(super) fn run_leading_recording_commands(&mut self) {
        while matches!(
            self.pending.front(),
            Some(Command::Record { .. } | Command::StopRecord { .. } | Command::PauseRecord { .. })
        ) {
            if let Some(command) = self.pending.pop_front() {
                self.run_command(command);
            }
        }
    }

    /// The shard and leg that carry `target`'s streams (`None`: an unknown source).
    fn record_leg(&self, target: RecordTarget) -> Option<(usize, LegId)> {
        match target {
            RecordTarget::Handle(handle) => Some((self.shard_for(handle), LegId(handle))),
            RecordTarget::Source(source) => self
                .sources
                .get(&source)
                .map(|s| (s.shard, super::sources::source_leg_id(source))),
            RecordTarget::SipCall(handle) => self
                .rtp_legs
                .get(&handle)
                .map(|s| (s.shard, super::sip::rtp_leg_id(handle))),
        }
    }

    pub(super) fn record(&mut self, target: RecordTarget, mid: String, spec: RecordSpec) {
        self.stop_record(target, mid.clone());
        let Some(kind) = RecordedKind::of_codec(&spec.codec) else {
            tracing::warn!(
                ?target,
                mid,
                codec = spec.codec,
                "not recorded: unknown codec"
            );
            return;
        };
        let Some((shard, leg)) = self.record_leg(target) else {
            tracing::warn!(?target, mid, "not recorded: no such source or call");
            return;
        };
        self.next_recording += 1;
        let id = self.next_recording;
        if let Err(e) = self
            .recordings_out
            .open(id, std::path::Path::new(&spec.path))
        {
            tracing::warn!(?target, mid, "not recorded: {e}");
            return;
        }
        let created_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let info = MjrInfo {
            kind,
            codec: spec.codec.to_ascii_lowercase(),
            fmtp: spec.fmtp,
            description: spec.description,
            created_us,
        };
        let rid = spec.rid.as_deref().map(Rid::from);
        let recorder = Recorder::new(id, info, rid, std::time::Instant::now());
        tracing::info!(?target, mid, path = spec.path, "recording");
        self.media(
            shard,
            MediaCommand::Record {
                leg,
                mid: Mid::from(mid.as_str()),
                recorder: Box::new(recorder),
            },
        );
        self.recordings
            .insert((target, mid), RecordingState { shard, id });
    }

    pub(super) fn stop_record(&mut self, target: RecordTarget, mid: String) {
        if let Some(r) = self.recordings.remove(&(target, mid)) {
            self.media(r.shard, MediaCommand::StopRecord { id: r.id });
        }
    }

    pub(super) fn pause_record(&mut self, target: RecordTarget, mid: String, paused: bool) {
        if let Some(r) = self.recordings.get(&(target, mid)) {
            self.media(r.shard, MediaCommand::PauseRecord { id: r.id, paused });
        }
    }

    /// A handle or source that goes: its recordings end with it (the shard has finished
    /// them already when it removed the leg).
    pub(super) fn forget_recordings(&mut self, target: RecordTarget) {
        if !self.recordings.is_empty() {
            self.recordings.retain(|(t, _), _| *t != target);
        }
    }
}
