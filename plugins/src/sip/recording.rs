//! Recording a SIP call (Janus's `recording` request): up to four Janus `.mjr` files, the
//! browser's audio and video (`audio`, `video`) and the SIP peer's (`peer_audio`,
//! `peer_video`), each in the codec the call negotiated. Files are
//! `<filename>-user-audio.mjr`… with a `filename`, else Janus's
//! `sip-<user>-<call id>-<µs since 1970>-own-audio.mjr`…, relative to the working folder.
//! The shard writes them from the bridge itself, so a recording costs the call nothing
//! beyond a copy into a buffer; they end with the call.

use serde_json::json;

use cardea_media::rtp_leg::recorded_mid;

use super::call::Call;
use super::error::SipError;
use super::events;
use super::request::Body;
use super::Session;
use crate::{Command, Ctx, HandleId, MediaKind, Ports, RecordSpec, RecordTarget};

/// The codec a call negotiated for one kind of media, as a recording names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCodec {
    pub kind: MediaKind,
    /// Janus's name, lower case (`pcmu`, `opus`, `vp8`...).
    pub name: String,
    pub fmtp: Option<String>,
}

/// What a `recording` request asks for, in Janus's order of files.
const SIDES: [(&str, MediaKind, bool, &str, &str); 4] = [
    (
        "peer_audio",
        MediaKind::Audio,
        true,
        "peer-audio",
        "peer-audio",
    ),
    (
        "peer_video",
        MediaKind::Video,
        true,
        "peer-video",
        "peer-video",
    ),
    ("audio", MediaKind::Audio, false, "user-audio", "own-audio"),
    ("video", MediaKind::Video, false, "user-video", "own-video"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Pause,
    Resume,
}

/// A name part that came from the network (a Call-ID, a user), safe in a file name.
fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn recording(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    ports: Option<&Ports>,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let user = session
        .account
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |a| a.user.clone());
    let call = session
        .call
        .as_mut()
        .filter(|c| c.is_live())
        .ok_or_else(|| SipError::WrongState("not in a call?".into()))?;
    let action = match body.required_str("action")? {
        a if a.eq_ignore_ascii_case("start") => Action::Start,
        a if a.eq_ignore_ascii_case("stop") => Action::Stop,
        a if a.eq_ignore_ascii_case("pause") => Action::Pause,
        a if a.eq_ignore_ascii_case("resume") => Action::Resume,
        _ => {
            return Err(SipError::Invalid(
                "Invalid action (should be start|stop|pause|resume)".into(),
            ))
        }
    };
    let mut wanted = Vec::new();
    for side in SIDES {
        if body.bool(side.0)?.unwrap_or(false) {
            wanted.push(side);
        }
    }
    // The peer is asked for a key frame whenever its video starts being recorded, so
    // Janus's `send_peer_pli` is only checked.
    body.bool("send_peer_pli")?;
    let base = body.str("filename")?;
    if wanted.is_empty() {
        return Err(SipError::Recording(
            "Invalid request (at least one of audio, video, peer_audio and peer_video should be true)"
                .into(),
        ));
    }
    match action {
        Action::Start => start(ctx, handle, call, ports, &wanted, base, &user)?,
        Action::Stop => {
            for (_, kind, peer, ..) in wanted {
                let mid = recorded_mid(kind, peer);
                if call.is_recording(mid) {
                    call.recording.retain(|(m, _)| *m != mid);
                    ctx.push(Command::StopRecord {
                        target: RecordTarget::SipCall(handle),
                        mid: mid.to_owned(),
                    });
                }
            }
        }
        Action::Pause | Action::Resume => {
            for (_, kind, peer, ..) in wanted {
                let mid = recorded_mid(kind, peer);
                if call.is_recording(mid) {
                    ctx.push(Command::PauseRecord {
                        target: RecordTarget::SipCall(handle),
                        mid: mid.to_owned(),
                        paused: action == Action::Pause,
                    });
                    if action == Action::Resume && kind == MediaKind::Video {
                        ctx.push(keyframe_request(handle, peer));
                    }
                }
            }
        }
    }
    let data = events::result("recordingupdated", None, json!({}));
    let call_id = call.call_id().to_owned();
    events::push(ctx, handle, transaction, with_call_id(data, &call_id));
    Ok(())
}

/// A key frame asked of the sender of one side of the call: the SIP peer or the browser.
fn keyframe_request(handle: HandleId, peer: bool) -> Command {
    if peer {
        Command::RequestPeerKeyframe { handle }
    } else {
        Command::RequestKeyframe { handle }
    }
}

/// Janus puts the call's id beside `result` of this answer, not inside it.
fn with_call_id(mut data: serde_json::Value, call_id: &str) -> serde_json::Value {
    if !call_id.is_empty() {
        data["call_id"] = call_id.into();
    }
    data
}

fn start(
    ctx: &mut Ctx,
    handle: HandleId,
    call: &mut Call,
    ports: Option<&Ports>,
    wanted: &[(&str, MediaKind, bool, &str, &str)],
    base: Option<&str>,
    user: &str,
) -> Result<(), SipError> {
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let mut specs = Vec::new();
    for &(_, kind, peer, with_base, generated) in wanted {
        // A kind the call did not negotiate has nothing to record (Janus logs and goes on).
        let Some(codec) = call.recorded_codecs.iter().find(|c| c.kind == kind) else {
            tracing::info!(
                handle,
                kind = kind.as_str(),
                "not recorded: not in the call"
            );
            continue;
        };
        let path = match base {
            Some(base) => format!("{base}-{with_base}.mjr"),
            None => format!(
                "sip-{}-{}-{now_us}-{generated}.mjr",
                file_safe(user),
                file_safe(call.call_id())
            ),
        };
        if let Some(ports) = ports {
            ports
                .0
                .create_recording(&path)
                .map_err(|e| SipError::Recording(format!("Error creating {path}: {e}")))?;
        }
        specs.push((
            recorded_mid(kind, peer),
            kind,
            peer,
            RecordSpec {
                path,
                codec: codec.name.clone(),
                fmtp: codec.fmtp.clone(),
                description: None,
                rid: None,
            },
        ));
    }
    for (mid, kind, peer, spec) in specs {
        tracing::info!(handle, mid, path = spec.path, "recording the SIP call");
        call.recording.retain(|(m, _)| *m != mid);
        call.recording.push((mid, spec.path.clone()));
        ctx.push(Command::Record {
            target: RecordTarget::SipCall(handle),
            mid: mid.to_owned(),
            spec,
        });
        if kind == MediaKind::Video {
            // A video file starts with a key frame: its sender is asked for one.
            ctx.push(keyframe_request(handle, peer));
        }
    }
    Ok(())
}

/// The `recording` object of the handle's info, as Janus names the files.
pub fn info(call: &Call) -> Option<serde_json::Value> {
    if call.recording.is_empty() {
        return None;
    }
    let mut o = serde_json::Map::new();
    for (mid, path) in &call.recording {
        let key = match *mid {
            "user-audio" => "audio",
            "user-video" => "video",
            "peer-audio" => "audio-peer",
            _ => "video-peer",
        };
        o.insert(key.into(), path.clone().into());
    }
    Some(o.into())
}

#[cfg(test)]
mod tests {
    use super::file_safe;

    #[test]
    fn names_from_the_network_cannot_leave_the_folder() {
        assert_eq!(file_safe("a/../b c@x"), "a_.._b_c@x");
        assert_eq!(file_safe("abc-123_x.y"), "abc-123_x.y");
    }
}
