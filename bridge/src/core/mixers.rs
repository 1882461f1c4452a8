//! AudioBridge mixers in the core: a plugin's room mixer runs on the shard its key picks
//! (the shard its participants are pinned to), participants' legs join and leave it, files
//! are read here and played there, and the mixer's reports go back to the plugins.

use cardea_media::mixer::{Mixer, MixerEvent};
use cardea_media::{LegId, MediaCommand};
use cardea_plugins::{Command, Ctx};

use super::Core;

/// Mixers live beside legs on a shard under the room id with this bit set (Janus handle
/// ids have 53 bits; sources use bit 61, RTP legs of SIP calls bit 62).
const MIXER_BIT: u64 = 1 << 60;
const OTHER_BITS: u64 = (1 << 61) | (1 << 62);

pub fn mixer_leg_id(room: u64) -> LegId {
    LegId((room & (MIXER_BIT - 1)) | MIXER_BIT)
}

/// The room a leg id names, if it names a mixer.
pub fn room_of_leg(leg: LegId) -> Option<u64> {
    (leg.0 & MIXER_BIT != 0 && leg.0 & OTHER_BITS == 0).then_some(leg.0 & !MIXER_BIT)
}

/// A room's mixer as the core knows it.
pub struct MixerState {
    shard: usize,
    rate: u32,
    /// The WAV file the mix is recorded into, while it is.
    recording: Option<crate::net::WavWriter>,
}

impl Core {
    fn mixer_shard(&self, room: u64) -> Option<usize> {
        self.mixers.get(&room).map(|m| m.shard)
    }

    pub(super) fn mixer_command(&mut self, command: Command) {
        match command {
            Command::OpenMixer {
                room,
                key,
                sampling_rate,
            } => {
                self.close_mixer(room);
                let shard = (key % self.shards.len().max(1) as u64) as usize;
                let mixer = Mixer::new(mixer_leg_id(room), sampling_rate);
                let rate = mixer.rate();
                self.media(shard, MediaCommand::AddMixer(Box::new(mixer)));
                self.mixers.insert(
                    room,
                    MixerState {
                        shard,
                        rate,
                        recording: None,
                    },
                );
            }
            Command::CloseMixer { room } => self.close_mixer(room),
            Command::MixIn {
                room,
                handle,
                participant,
            } => {
                let Some(shard) = self.mixer_shard(room) else {
                    tracing::debug!(room, handle, "MixIn for a room without a mixer ignored");
                    return;
                };
                let leg = if participant.rtp {
                    super::sip::rtp_leg_id(handle)
                } else {
                    LegId(handle)
                };
                if self.shard_for(handle) != shard {
                    tracing::warn!(
                        room,
                        handle,
                        "participant and mixer are on different media shards: no audio"
                    );
                }
                self.media(
                    shard,
                    MediaCommand::MixIn {
                        mixer: mixer_leg_id(room),
                        leg,
                        participant,
                    },
                );
            }
            Command::MixOut { room, handle } => {
                let Some(shard) = self.mixer_shard(room) else {
                    return;
                };
                for leg in [LegId(handle), super::sip::rtp_leg_id(handle)] {
                    self.media(
                        shard,
                        MediaCommand::MixOut {
                            mixer: mixer_leg_id(room),
                            leg,
                        },
                    );
                }
            }
            Command::MixPlayFile {
                room,
                file,
                path,
                looped,
            } => {
                let Some(shard) = self.mixer_shard(room) else {
                    self.on_mixer_event(
                        room,
                        MixerEvent::FileDone {
                            file,
                            error: Some("no such room".into()),
                        },
                    );
                    return;
                };
                match crate::net::load_file(&path, "opus") {
                    Ok(media) => self.media(
                        shard,
                        MediaCommand::MixPlay {
                            mixer: mixer_leg_id(room),
                            file,
                            media,
                            looped,
                        },
                    ),
                    Err(e) => self.on_mixer_event(
                        room,
                        MixerEvent::FileDone {
                            file,
                            error: Some(e),
                        },
                    ),
                }
            }
            Command::MixStopFile { room, file } => {
                if let Some(shard) = self.mixer_shard(room) {
                    self.media(
                        shard,
                        MediaCommand::MixStop {
                            mixer: mixer_leg_id(room),
                            file,
                        },
                    );
                }
            }
            Command::MixRecord { room, path } => self.record_mix(room, path),
            Command::MixForward { room, forward } => {
                if let Some(shard) = self.mixer_shard(room) {
                    let mixer = mixer_leg_id(room);
                    self.media(shard, MediaCommand::MixForward { mixer, forward });
                }
            }
            Command::MixStopForward { room, id } => {
                if let Some(shard) = self.mixer_shard(room) {
                    let mixer = mixer_leg_id(room);
                    self.media(shard, MediaCommand::MixStopForward { mixer, id });
                }
            }
            _ => {}
        }
    }

    /// Starts (with a path) or stops recording a room's mix; a file that cannot be created
    /// is reported to the plugins as a failed recording.
    fn record_mix(&mut self, room: u64, path: Option<String>) {
        let Some(state) = self.mixers.get_mut(&room) else {
            return;
        };
        let shard = state.shard;
        let on = match path {
            Some(path) if state.recording.is_none() => {
                match crate::net::WavWriter::create(std::path::Path::new(&path), state.rate) {
                    Ok(w) => {
                        tracing::info!(room, path, "recording the mix");
                        state.recording = Some(w);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(room, "mix not recorded: {e}");
                        return;
                    }
                }
            }
            Some(_) => return,
            None => false,
        };
        let mixer = mixer_leg_id(room);
        self.media(shard, MediaCommand::MixRecord { mixer, on });
    }

    fn close_mixer(&mut self, room: u64) {
        if let Some(state) = self.mixers.remove(&room) {
            if let Some(w) = state.recording {
                // What the mixer had not reported yet is lost with it.
                if let Err(e) = w.finish(state.rate) {
                    tracing::warn!(room, "recording not finished: {e}");
                }
            }
            let shard = state.shard;
            self.media(
                shard,
                MediaCommand::RemoveLeg {
                    leg: mixer_leg_id(room),
                    close: false,
                },
            );
        }
    }

    /// A mixer's report, to the plugins (the room ids are the AudioBridge's).
    pub(super) fn on_mixer_event(&mut self, room: u64, event: MixerEvent) {
        let mut ctx = Ctx::default();
        match event {
            MixerEvent::Recorded(samples) => {
                let Some(state) = self.mixers.get_mut(&room) else {
                    return;
                };
                if let Some(w) = &mut state.recording {
                    if let Err(e) = w.write(&samples) {
                        tracing::warn!(room, "recording stopped: {e}");
                        state.recording = None;
                    }
                }
            }
            MixerEvent::RecordingDone => {
                let Some(state) = self.mixers.get_mut(&room) else {
                    return;
                };
                if let Some(w) = state.recording.take() {
                    let path = w.path().display().to_string();
                    match w.finish(state.rate) {
                        Ok(()) => tracing::info!(room, path, "recording of the mix finished"),
                        Err(e) => tracing::warn!(room, "recording not finished: {e}"),
                    }
                }
            }
            MixerEvent::FileDone { file, error } => {
                for plugin in &mut self.plugins {
                    plugin.mix_file_done(&mut ctx, room, &file, error.as_deref());
                }
            }
        }
        self.pending.extend(ctx.commands);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixer_ids_are_told_from_sources_and_rtp_legs() {
        assert_eq!(room_of_leg(mixer_leg_id(1234)), Some(1234));
        assert_eq!(room_of_leg(LegId(1234)), None);
        assert_eq!(room_of_leg(super::super::sip::rtp_leg_id(1 << 60)), None);
        assert_eq!(room_of_leg(super::super::sources::source_leg_id(5)), None);
    }
}
