//! The `recording` request: a live RTP mountpoint's streams recorded into Janus `.mjr`
//! files, started and stopped per mid (`media`), or per kind with the deprecated `audio`,
//! `video` and `data` fields, with Janus's checks in Janus's order.

use serde_json::{json, Value};

use super::error::StError;
use super::{check_secret, Streaming};
use crate::fields::Fields;
use crate::{Command, Ctx, MediaKind, RecordSpec, RecordTarget};

/// A deprecated field: a string to start, a boolean to stop.
fn legacy<'a>(f: &Fields<'a>, name: &'static str, start: bool) -> Result<Option<&'a str>, StError> {
    if start {
        return Ok(f.str(name)?);
    }
    Ok(f.bool(name)?.filter(|on| *on).map(|_| ""))
}

impl Streaming {
    pub(super) fn recording(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, StError> {
        let action = f.required_str("action")?;
        let start = match action {
            "start" => true,
            "stop" => false,
            _ => {
                return Err(StError::InvalidValue(
                    "Invalid action (should be start|stop)".into(),
                ))
            }
        };
        let id = f.required_u64("id")?;
        let mp = self
            .mountpoints
            .get_mut(&id)
            .ok_or_else(|| StError::NoSuchMountpoint(id.to_string()))?;
        if !mp.on_ports() {
            return Err(StError::NotHere(
                "Recording is only available on RTP-based live streams".into(),
            ));
        }
        check_secret(f, "secret", mp.secret.as_deref())?;
        let media = f.objects("media")?;
        let audio = legacy(f, "audio", start)?;
        let video = legacy(f, "video", start)?;
        let data = legacy(f, "data", start)?;
        let source = mp.source;
        // What to do, stream by stream: (index of the stream, filename to start with).
        let mut chosen: Vec<(usize, &str)> = Vec::new();
        match &media {
            Some(list) => {
                for m in list {
                    // Janus skips an entry without a usable mid (or filename, to start).
                    let Ok(Some(mid)) = m.str("mid") else {
                        continue;
                    };
                    let file = match m.str("filename") {
                        Ok(Some(file)) => file,
                        _ if start => continue,
                        _ => "",
                    };
                    if let Some(i) = mp
                        .streams
                        .iter()
                        .position(|s| s.mid.eq_ignore_ascii_case(mid))
                    {
                        chosen.push((i, file));
                    }
                }
            }
            None => {
                if ["audio", "video", "data"]
                    .iter()
                    .all(|n| f.get(n).is_none())
                {
                    let text = if start {
                        "Missing audio, video and/or data"
                    } else {
                        "Missing audio, video and or data"
                    };
                    return Err(StError::NotHere(text.into()));
                }
                for (i, s) in mp.streams.iter().enumerate() {
                    let file = match (s.data.is_some(), s.kind) {
                        (true, _) => data,
                        (false, MediaKind::Audio) => audio,
                        (false, MediaKind::Video) => video,
                    };
                    if let Some(file) = file {
                        chosen.push((i, file));
                    }
                }
            }
        }
        for (i, file) in chosen {
            let stream = &mut mp.streams[i];
            let target = RecordTarget::Source(source);
            if !start {
                if stream.recording.take().is_some() {
                    ctx.push(Command::StopRecord {
                        target,
                        mid: stream.mid.clone(),
                    });
                }
                continue;
            }
            if stream.recording.is_some() {
                return Err(StError::NotHere(if media.is_some() {
                    "Recording for audio, video and/or data already started for this stream".into()
                } else {
                    "Recording started for this stream".into()
                }));
            }
            let path = format!("{file}.mjr");
            let created = match &self.ports {
                Some(ports) => ports.0.create_recording(&path),
                None => Err("no file I/O in this process".into()),
            };
            if let Err(e) = created {
                tracing::warn!(mountpoint = id, path, "recording not started: {e}");
                let what = if stream.data.is_some() {
                    "data"
                } else {
                    stream.kind.as_str()
                };
                return Err(StError::CantRecord(if media.is_some() {
                    format!("Error starting recorder for {what}")
                } else {
                    "Error starting recorder".into()
                }));
            }
            tracing::info!(mountpoint = id, mid = stream.mid, path, "recording started");
            stream.recording = Some(path.clone());
            ctx.push(Command::Record {
                target,
                mid: stream.mid.clone(),
                spec: RecordSpec {
                    path,
                    // A data stream's file is Janus's `text` recording, whatever it carries.
                    codec: if stream.data.is_some() {
                        "text".into()
                    } else {
                        stream.codec.clone()
                    },
                    fmtp: None,
                    description: None,
                    rid: None,
                },
            });
        }
        Ok(json!({ "streaming": "ok" }))
    }
}
