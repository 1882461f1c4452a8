//! Recording publishers into Janus `.mjr` files: a room that records everyone (`record`,
//! `enable_recording`), a publisher that asks for it (`record`, `filename` in
//! `joinandconfigure`, `publish`, `configure`). Each stream of a published feed gets its
//! own file, `<rec_dir>/<filename>-<audio|video|data>-<mindex>.mjr`, or Janus's
//! `videoroom-<room>-user-<id>-<µs since 1970>-…` without a filename. The data channel's
//! messages are recorded as Janus's `text` recordings (janus-pp-rec makes subtitles of
//! them).

use serde_json::{json, Value};

use super::error::VrError;
use super::media::PubStream;
use super::room::Room;
use super::{Publisher, Role, VideoRoom};
use crate::fields::Fields;
use crate::{Command, Ctx, HandleId, RecordSpec, RecordTarget};

/// The file of one stream's recording.
fn record_path(room: &Room, p: &Publisher, st: &PubStream, now_us: u128) -> String {
    let base = match &p.recording_base {
        Some(base) => format!("{base}-{}-{}", st.type_name(), st.mindex),
        None => format!(
            "videoroom-{}-user-{}-{now_us}-{}-{}",
            room.id,
            p.id,
            st.type_name(),
            st.mindex
        ),
    };
    match &room.rec_dir {
        Some(dir) => format!("{}/{base}.mjr", dir.trim_end_matches('/')),
        None => format!("{base}.mjr"),
    }
}

impl VideoRoom {
    /// Starts a recording for each stream of the publisher's feed not recorded yet.
    pub(super) fn start_recorders(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return;
        };
        let Some(room) = self.rooms.get(&p.room) else {
            return;
        };
        if !p.published {
            return;
        }
        // Wall-clock time in a name, as Janus's; plugins keep no other clock.
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let mut started = Vec::new();
        for st in &p.streams {
            if p.recorded.contains(&st.mid) {
                continue;
            }
            let (codec, fmtp) = match (st.is_data(), st.codec_name(), &st.codec) {
                // Janus records every message of a data channel under the codec `text`.
                (true, _, _) => ("text".to_owned(), None),
                (false, Some(codec), Some(c)) => (codec, c.fmtp.clone()),
                _ => continue,
            };
            let path = record_path(room, p, st, now_us);
            tracing::info!(room = room.id, feed = p.id, mid = st.mid, path, "recording");
            ctx.push(Command::Record {
                target: RecordTarget::Handle(handle),
                mid: st.mid.clone(),
                spec: RecordSpec {
                    path,
                    codec,
                    fmtp,
                    description: st.description.clone(),
                    // Janus records the best layer of a simulcast stream.
                    rid: st.rids.last().cloned(),
                },
            });
            started.push(st.mid.clone());
        }
        if let Some(p) = self.publisher_mut(handle) {
            p.recorded.extend(started);
        }
    }

    /// Ends the recordings of the publisher's feed.
    pub(super) fn stop_recorders(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        for mid in p.recorded.drain(..) {
            ctx.push(Command::StopRecord {
                target: RecordTarget::Handle(handle),
                mid,
            });
        }
    }

    /// After a feed is published (or renegotiated): recorded if the room or the publisher
    /// wants it.
    pub(super) fn record_if_wanted(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return;
        };
        let room_records = self.rooms.get(&p.room).is_some_and(|r| r.record);
        if room_records || p.recording_active {
            if let Some(p) = self.publisher_mut(handle) {
                p.recording_active = true;
            }
            self.start_recorders(ctx, handle);
        }
    }

    /// Sets the publisher's recording on or off; a feed that is live starts or stops
    /// being recorded now (with a key frame asked for, so the video file starts clean).
    fn set_recording(&mut self, ctx: &mut Ctx, handle: HandleId, on: bool) {
        let Some(p) = self.publisher_mut(handle) else {
            return;
        };
        let was = std::mem::replace(&mut p.recording_active, on);
        let published = p.published;
        if was == on {
            return;
        }
        if !on {
            self.stop_recorders(ctx, handle);
        } else if published {
            self.start_recorders(ctx, handle);
            ctx.push(Command::RequestKeyframe { handle });
        }
    }

    /// `record` and `filename` of `joinandconfigure`, `publish` and `configure`. In a room
    /// with `lock_record` and a secret, they change nothing without the secret (and the
    /// request goes on, as in Janus).
    pub(super) fn record_fields(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        f: &Fields<'_>,
    ) -> Result<(), VrError> {
        let record = f.bool("record")?;
        let filename = f.str("filename")?;
        if record.is_none() && filename.is_none() {
            return Ok(());
        }
        let Some(Role::Publisher(p)) = self.roles.get(&handle) else {
            return Ok(());
        };
        if let Some(room) = self.rooms.get(&p.room) {
            if room.lock_record && room.secret.is_some() && room.check_secret(f).is_err() {
                return Ok(());
            }
        }
        if let (Some(name), Some(p)) = (filename, self.publisher_mut(handle)) {
            p.recording_base = Some(name.to_owned());
        }
        if let Some(on) = record {
            self.set_recording(ctx, handle, on);
        }
        Ok(())
    }

    /// `enable_recording`: the room records everyone from now on, or no one.
    pub(super) fn enable_recording(
        &mut self,
        ctx: &mut Ctx,
        f: &Fields<'_>,
    ) -> Result<Value, VrError> {
        let record = f.bool("record")?.ok_or(VrError::MissingElement("record"))?;
        let id = f.required_u64("room")?;
        let room = self.room_mut(id)?;
        room.check_secret(f)?;
        if room.record != record {
            room.record = record;
            let handles: Vec<HandleId> = room.participants.values().copied().collect();
            for h in handles {
                self.set_recording(ctx, h, record);
            }
        }
        Ok(json!({ "videoroom": "success", "record": record }))
    }
}
