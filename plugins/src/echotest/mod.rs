//! `janus.plugin.echotest`: everything the browser sends comes back to it.
//! Media is echoed by a router edge from the handle's leg to itself (no hop through this
//! code per packet); text data comes back with a greeting, binary data as it is.

mod request;

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::{Command, Ctx, HandleId, JsepAction, JsepType, Message, Plugin, PluginInfo, Reply};
use request::{EchoError, EchoRequest};

const PACKAGE: &str = "janus.plugin.echotest";

#[derive(Debug)]
struct EchoSession {
    audio: bool,
    video: bool,
    bitrate: Option<u64>,
    negotiated: bool,
    hangups: u32,
}

impl Default for EchoSession {
    fn default() -> Self {
        Self {
            audio: true,
            video: true,
            bitrate: None,
            negotiated: false,
            hangups: 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct EchoTest {
    sessions: HashMap<HandleId, EchoSession>,
}

fn event(result: &str) -> Value {
    json!({ "echotest": "event", "result": result })
}

fn error_event(e: &EchoError) -> Value {
    json!({ "echotest": "event", "error_code": e.code(), "error": e.to_string() })
}

impl EchoTest {
    fn routes(ctx: &mut Ctx, handle: HandleId, s: &EchoSession) {
        for (kind, enabled) in [
            (crate::MediaKind::Audio, s.audio),
            (crate::MediaKind::Video, s.video),
        ] {
            ctx.push(Command::Route {
                from: handle,
                to: handle,
                kind,
                enabled,
            });
        }
    }
}

impl Plugin for EchoTest {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS EchoTest plugin",
            description: "Echoes back what a browser sends: audio, video and data",
            author: "Cardea",
            version: 8,
            version_string: "0.0.8",
        }
    }

    fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        self.sessions.insert(handle, EchoSession::default());
        Ok(())
    }

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        let Message {
            handle,
            transaction,
            body,
            jsep,
        } = message;
        let Some(session) = self.sessions.get_mut(&handle) else {
            return Reply::Error("No session associated with this handle".into());
        };
        let request = match EchoRequest::parse(&body) {
            Ok(r) => r,
            Err(e) => {
                ctx.push(Command::PushEvent {
                    handle,
                    transaction,
                    data: error_event(&e),
                    jsep: None,
                });
                return Reply::Ack;
            }
        };
        if let Some(audio) = request.audio {
            session.audio = audio;
        }
        if let Some(video) = request.video {
            if video && !session.video {
                ctx.push(Command::RequestKeyframe { handle });
            }
            session.video = video;
        }
        if let Some(bitrate) = request.bitrate {
            session.bitrate = (bitrate > 0).then_some(bitrate);
            ctx.push(Command::SetBitrateCap {
                handle,
                bps: session.bitrate,
            });
        }
        let answer = match jsep {
            Some(j) if j.kind == JsepType::Offer => Some(JsepAction::AnswerOffer { offer: j.sdp }),
            _ => None,
        };
        let negotiating = answer.is_some();
        ctx.push(Command::PushEvent {
            handle,
            transaction,
            data: event("ok"),
            jsep: answer,
        });
        if negotiating {
            session.negotiated = true;
        }
        if session.negotiated {
            Self::routes(ctx, handle, session);
            if let Some(bps) = session.bitrate {
                ctx.push(Command::SetBitrateCap {
                    handle,
                    bps: Some(bps),
                });
            }
        }
        Reply::Ack
    }

    fn jsep_error(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        error: &str,
    ) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.negotiated = false;
        }
        ctx.push(Command::PushEvent {
            handle,
            transaction,
            data: error_event(&EchoError::InvalidSdp(error.to_owned())),
            jsep: None,
        });
    }

    fn setup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if let Some(s) = self.sessions.get(&handle) {
            Self::routes(ctx, handle, s);
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
        let reply = if binary {
            data.to_vec()
        } else {
            let text = String::from_utf8_lossy(data);
            format!("Cardea EchoTest here! You wrote: {text}").into_bytes()
        };
        ctx.push(Command::SendData {
            handle,
            label: Some(label.to_owned()),
            binary,
            data: reply,
        });
    }

    fn hangup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.hangups += 1;
            s.negotiated = false;
            s.audio = true;
            s.video = true;
            s.bitrate = None;
            ctx.push(Command::PushEvent {
                handle,
                transaction: None,
                data: event("done"),
                jsep: None,
            });
        }
    }

    fn destroy_session(&mut self, _ctx: &mut Ctx, handle: HandleId) {
        self.sessions.remove(&handle);
    }

    fn query_session(&self, handle: HandleId) -> Value {
        match self.sessions.get(&handle) {
            Some(s) => json!({
                "audio_active": s.audio,
                "video_active": s.video,
                "bitrate": s.bitrate.unwrap_or(0),
                "negotiated": s.negotiated,
                "hangups": s.hangups,
            }),
            None => json!({ "destroyed": true }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: Value, offer: bool) -> Message {
        Message {
            handle: 7,
            transaction: Some("t1".into()),
            body,
            jsep: offer.then(|| crate::Jsep {
                kind: JsepType::Offer,
                sdp: "v=0".into(),
                trickle: None,
                update: false,
                e2ee: false,
            }),
        }
    }

    #[test]
    fn an_offer_is_answered_and_media_looped_back() {
        let mut p = EchoTest::default();
        p.create_session(7).unwrap();
        let mut ctx = Ctx::default();
        let reply = p.handle_message(
            &mut ctx,
            message(json!({"audio": true, "video": true}), true),
        );
        assert!(matches!(reply, Reply::Ack));
        let Command::PushEvent { data, jsep, .. } = &ctx.commands[0] else {
            panic!("first command is the event: {:?}", ctx.commands)
        };
        assert_eq!(data["result"], "ok");
        assert!(matches!(jsep, Some(JsepAction::AnswerOffer { .. })));
        let loops = ctx
            .commands
            .iter()
            .filter(|c| {
                matches!(
                    c,
                    Command::Route {
                        from: 7,
                        to: 7,
                        enabled: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(loops, 2);
    }

    #[test]
    fn wrong_types_give_error_413_as_an_event() {
        let mut p = EchoTest::default();
        p.create_session(7).unwrap();
        let mut ctx = Ctx::default();
        p.handle_message(&mut ctx, message(json!({"audio": "yes"}), false));
        let Command::PushEvent { data, .. } = &ctx.commands[0] else {
            panic!("an event")
        };
        assert_eq!(data["error_code"], 413);
    }

    #[test]
    fn bitrate_sets_a_cap_and_zero_lifts_it() {
        let mut p = EchoTest::default();
        p.create_session(7).unwrap();
        let mut ctx = Ctx::default();
        p.handle_message(&mut ctx, message(json!({"bitrate": 128000}), false));
        assert!(ctx.commands.iter().any(|c| matches!(
            c,
            Command::SetBitrateCap {
                bps: Some(128000),
                ..
            }
        )));
        let mut ctx = Ctx::default();
        p.handle_message(&mut ctx, message(json!({"bitrate": 0}), false));
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::SetBitrateCap { bps: None, .. })));
    }

    #[test]
    fn text_data_is_answered_and_binary_echoed() {
        let mut p = EchoTest::default();
        p.create_session(7).unwrap();
        let mut ctx = Ctx::default();
        p.incoming_data(&mut ctx, 7, "chat", false, b"hi");
        p.incoming_data(&mut ctx, 7, "chat", true, &[1, 2]);
        let texts: Vec<_> = ctx
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::SendData { data, binary, .. } => Some((data.clone(), *binary)),
                _ => None,
            })
            .collect();
        assert!(String::from_utf8_lossy(&texts[0].0).ends_with("You wrote: hi"));
        assert_eq!(texts[1], (vec![1, 2], true));
    }
}
