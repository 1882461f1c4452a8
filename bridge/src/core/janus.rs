//! The core verbs of the Janus API (janus-api.md §1.2), with Janus's scope rules: root
//! verbs at the root, session verbs on a session, handle verbs on a handle.

use std::collections::BTreeSet;
use std::time::Instant;

use cardea_plugins::{Ctx, Jsep, JsepType, Message, Reply};
use serde_json::{json, Map, Value};

use super::session::{Handle, Session, Sink};
use super::{Core, Origin};
use crate::api::{ApiError, Envelope, Scope};

const ROOT_VERBS: &[&str] = &["info", "ping", "create"];
const SESSION_VERBS: &[&str] = &["keepalive", "attach", "destroy", "claim"];
const HANDLE_VERBS: &[&str] = &["detach", "hangup", "message", "trickle"];

fn known(verb: &str) -> bool {
    ROOT_VERBS.contains(&verb) || SESSION_VERBS.contains(&verb) || HANDLE_VERBS.contains(&verb)
}

impl Core {
    pub(super) fn janus_request(
        &mut self,
        env: Envelope,
        origin: Origin,
    ) -> Result<Value, ApiError> {
        let t = env.transaction.clone();
        // info and ping need no secret (Janus answers them before checking auth).
        if env.scope == Scope::Root {
            match env.verb.as_str() {
                "info" => return Ok(self.server_info(&t)),
                "ping" => return Ok(json!({ "janus": "pong", "transaction": t })),
                _ => {}
            }
        }
        if !self.authorized(env.str_field("apisecret"), env.str_field("token")) {
            return Err(ApiError::unauthorized());
        }
        match env.scope {
            Scope::Root => match env.verb.as_str() {
                "create" => self.create(&env, origin),
                verb => Err(ApiError::bad_path(verb)),
            },
            Scope::Session(sid) => {
                let session = self
                    .sessions
                    .get_mut(&sid)
                    .ok_or_else(|| ApiError::no_session(sid))?;
                session.last_activity = Instant::now();
                match env.verb.as_str() {
                    "keepalive" => {
                        Ok(json!({ "janus": "ack", "session_id": sid, "transaction": t }))
                    }
                    "attach" => self.attach(sid, &env),
                    "destroy" => {
                        self.destroy_session(sid);
                        Ok(json!({ "janus": "success", "session_id": sid, "transaction": t }))
                    }
                    "claim" => self.claim(sid, origin, &t),
                    verb if known(verb) => Err(ApiError::bad_path(verb)),
                    verb => Err(ApiError::unknown_request(verb)),
                }
            }
            Scope::Handle {
                session: sid,
                handle: hid,
            } => {
                let session = self
                    .sessions
                    .get_mut(&sid)
                    .ok_or_else(|| ApiError::no_session(sid))?;
                session.last_activity = Instant::now();
                if !session.handles.contains(&hid) {
                    return Err(ApiError::no_handle(hid));
                }
                match env.verb.as_str() {
                    "detach" => {
                        self.detach(hid);
                        Ok(json!({ "janus": "success", "session_id": sid, "transaction": t }))
                    }
                    "hangup" => {
                        self.hangup_pc(hid, "Janus API");
                        Ok(json!({ "janus": "success", "session_id": sid, "transaction": t }))
                    }
                    "message" => self.message(sid, hid, &env),
                    "trickle" => self.trickle(sid, hid, &env),
                    verb if known(verb) => Err(ApiError::bad_path(verb)),
                    verb => Err(ApiError::unknown_request(verb)),
                }
            }
        }
    }

    fn create(&mut self, env: &Envelope, origin: Origin) -> Result<Value, ApiError> {
        if !self.accepting {
            return Err(ApiError::new(
                ApiError::NOT_ACCEPTING_SESSIONS,
                "Not accepting new sessions",
            ));
        }
        let id = match env.object.get("id") {
            None | Some(Value::Null) => self.new_id(),
            Some(v) => {
                let id = v
                    .as_u64()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| ApiError::wrong_type("id", "a positive integer"))?;
                if self.sessions.contains_key(&id) || self.handles.contains_key(&id) {
                    return Err(ApiError::new(
                        ApiError::SESSION_CONFLICT,
                        format!("Session ID {id} already in use"),
                    ));
                }
                id
            }
        };
        let sink = match origin {
            Origin::Http => Sink::long_poll(),
            Origin::Ws { conn, tx } => Sink::Ws { conn, tx },
        };
        let now = Instant::now();
        self.sessions.insert(
            id,
            Session {
                id,
                last_activity: now,
                timeout: None,
                sink,
                handles: BTreeSet::new(),
            },
        );
        tracing::info!(session = id, "session created");
        Ok(json!({ "janus": "success", "transaction": env.transaction, "data": { "id": id } }))
    }

    fn claim(&mut self, sid: u64, origin: Origin, t: &str) -> Result<Value, ApiError> {
        let Some(session) = self.sessions.get_mut(&sid) else {
            return Err(ApiError::no_session(sid));
        };
        let old = std::mem::replace(
            &mut session.sink,
            match origin {
                Origin::Http => Sink::long_poll(),
                Origin::Ws { conn, tx } => Sink::Ws { conn, tx },
            },
        );
        // Events queued for a long poll follow the session to its new transport.
        if let Sink::LongPoll { queue, .. } = old {
            for e in queue {
                session.sink.push_text(e);
            }
        }
        tracing::info!(session = sid, "session claimed");
        Ok(json!({ "janus": "success", "session_id": sid, "transaction": t }))
    }

    fn attach(&mut self, sid: u64, env: &Envelope) -> Result<Value, ApiError> {
        let package = match env.object.get("plugin") {
            None | Some(Value::Null) => return Err(ApiError::missing("plugin")),
            Some(Value::String(p)) => p.clone(),
            Some(_) => return Err(ApiError::wrong_type("plugin", "a string")),
        };
        let opaque_id = match env.object.get("opaque_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(o)) => Some(o.clone()),
            Some(_) => return Err(ApiError::wrong_type("opaque_id", "a string")),
        };
        let index = self
            .plugins
            .iter()
            .position(|p| p.info().package == package)
            .ok_or_else(|| {
                ApiError::new(
                    ApiError::PLUGIN_NOT_FOUND,
                    format!("No such plugin '{package}'"),
                )
            })?;
        if self.config.general.token_auth {
            if let Some(token) = env.str_field("token") {
                if let Some(allowed) = self.tokens.get(token) {
                    if !allowed.contains(&package) {
                        return Err(ApiError::new(
                            ApiError::UNAUTHORIZED_PLUGIN,
                            format!("Provided token can't access plugin '{package}'"),
                        ));
                    }
                }
            }
        }
        let hid = self.new_id();
        self.plugins[index].create_session(hid).map_err(|e| {
            ApiError::new(
                ApiError::PLUGIN_ATTACH,
                format!("Couldn't attach to plugin: {e}"),
            )
        })?;
        self.handles.insert(
            hid,
            Handle {
                session: sid,
                plugin: index,
                opaque_id,
                created: Instant::now(),
                pc: None,
                trickles: 0,
                shard: None,
            },
        );
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.handles.insert(hid);
        }
        tracing::info!(session = sid, handle = hid, plugin = %package, "handle attached");
        Ok(json!({
            "janus": "success",
            "session_id": sid,
            "transaction": env.transaction,
            "data": { "id": hid }
        }))
    }

    fn message(&mut self, sid: u64, hid: u64, env: &Envelope) -> Result<Value, ApiError> {
        let body = match env.object.get("body") {
            None | Some(Value::Null) => return Err(ApiError::missing("body")),
            Some(b @ Value::Object(_)) => b.clone(),
            Some(_) => return Err(ApiError::wrong_type("body", "an object")),
        };
        let jsep = match env.object.get("jsep") {
            None | Some(Value::Null) => None,
            Some(Value::Object(j)) => Some(self.check_jsep(hid, j)?),
            Some(_) => {
                return Err(ApiError::new(
                    ApiError::INVALID_JSON_OBJECT,
                    "Invalid jsep object (not an object)",
                ))
            }
        };
        let Some(plugin_index) = self.handles.get(&hid).map(|h| h.plugin) else {
            return Err(ApiError::no_handle(hid));
        };
        let mut ctx = Ctx::default();
        let reply = self.plugins[plugin_index].handle_message(
            &mut ctx,
            Message {
                handle: hid,
                transaction: Some(env.transaction.clone()),
                body,
                jsep,
            },
        );
        self.pending.extend(ctx.commands);
        let package = self.plugins[plugin_index].info().package;
        match reply {
            Reply::Ack => {
                Ok(json!({ "janus": "ack", "session_id": sid, "transaction": env.transaction }))
            }
            Reply::Sync(data) => Ok(json!({
                "janus": "success",
                "session_id": sid,
                "sender": hid,
                "transaction": env.transaction,
                "plugindata": { "plugin": package, "data": data }
            })),
            Reply::Error(reason) => Err(ApiError::new(ApiError::PLUGIN_MESSAGE, reason)),
        }
    }

    /// Checks a client JSEP the way Janus does before a plugin sees it.
    fn check_jsep(&self, hid: u64, j: &Map<String, Value>) -> Result<Jsep, ApiError> {
        let kind = match j.get("type") {
            None | Some(Value::Null) => return Err(ApiError::missing("type")),
            Some(Value::String(t)) => match t.as_str() {
                "offer" => JsepType::Offer,
                "answer" => JsepType::Answer,
                other => {
                    return Err(ApiError::new(
                        ApiError::JSEP_UNKNOWN_TYPE,
                        format!("JSEP error: unknown message type '{other}'"),
                    ))
                }
            },
            Some(_) => return Err(ApiError::wrong_type("type", "a string")),
        };
        let sdp = match j.get("sdp") {
            None | Some(Value::Null) => return Err(ApiError::missing("sdp")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ApiError::wrong_type("sdp", "a string")),
        };
        let trickle = match j.get("trickle") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(ApiError::wrong_type("trickle", "a boolean")),
        };
        // An answer is welcome only to an offer of ours still waiting for one (a plugin
        // such as the SIP plugin offers for incoming calls).
        let awaiting_answer = self
            .handles
            .get(&hid)
            .and_then(|h| h.pc.as_ref())
            .is_some_and(|pc| pc.local_sdp.is_some() && pc.remote_sdp.is_none());
        if kind == JsepType::Answer && !awaiting_answer {
            return Err(ApiError::new(
                ApiError::UNEXPECTED_ANSWER,
                "JSEP error: unexpected ANSWER (did we offer?)",
            ));
        }
        if let Err(e) = cardea_media::check_offer(&sdp) {
            return Err(ApiError::new(
                ApiError::JSEP_INVALID_SDP,
                format!("JSEP error: invalid SDP ({e})"),
            ));
        }
        let update = kind == JsepType::Offer
            && self
                .handles
                .get(&hid)
                .and_then(|h| h.pc.as_ref())
                .is_some_and(|pc| pc.local_sdp.is_some());
        let e2ee = j.get("e2ee").is_some_and(|v| v.as_bool() == Some(true));
        Ok(Jsep {
            kind,
            sdp,
            trickle,
            update,
            e2ee,
        })
    }

    fn trickle(&mut self, sid: u64, hid: u64, env: &Envelope) -> Result<Value, ApiError> {
        let single = env.object.get("candidate").filter(|v| !v.is_null());
        let many = env.object.get("candidates").filter(|v| !v.is_null());
        let list: Vec<&Value> = match (single, many) {
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    ApiError::INVALID_JSON,
                    "Can't have both candidate and candidates",
                ))
            }
            (None, None) => return Err(ApiError::missing("candidate|candidates")),
            (Some(c @ Value::Object(_)), None) => vec![c],
            (Some(_), None) => return Err(ApiError::wrong_type("candidate", "an object")),
            (None, Some(Value::Array(a))) => a.iter().collect(),
            (None, Some(_)) => return Err(ApiError::wrong_type("candidates", "an array")),
        };
        for c in list {
            let Some(obj) = c.as_object() else {
                return Err(ApiError::wrong_type("candidate", "an object"));
            };
            if obj.get("completed").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let Some(text) = obj.get("candidate").and_then(Value::as_str) else {
                if single.is_some() {
                    return Err(ApiError::missing("candidate"));
                }
                continue;
            };
            if text.is_empty() {
                continue;
            }
            self.add_remote_candidate(hid, text);
        }
        Ok(json!({ "janus": "ack", "session_id": sid, "transaction": env.transaction }))
    }

    /// Detaches a handle: the plugin forgets it, its PeerConnection goes, `detached` is sent.
    pub(super) fn detach(&mut self, hid: u64) {
        let Some(handle) = self.handles.get(&hid) else {
            return;
        };
        let (sid, plugin) = (handle.session, handle.plugin);
        self.drop_pc(hid, Some("Detach"));
        let mut ctx = Ctx::default();
        self.plugins[plugin].destroy_session(&mut ctx, hid);
        self.pending.extend(ctx.commands);
        self.handles.remove(&hid);
        self.forget_recordings(cardea_plugins::RecordTarget::Handle(hid));
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.handles.remove(&hid);
        }
        self.push(
            sid,
            json!({ "janus": "detached", "session_id": sid, "sender": hid }),
        );
        tracing::info!(session = sid, handle = hid, "handle detached");
    }

    pub(super) fn destroy_session(&mut self, sid: u64) {
        let Some(session) = self.sessions.get(&sid) else {
            return;
        };
        let handles: Vec<u64> = session.handles.iter().copied().collect();
        for hid in handles {
            self.detach(hid);
        }
        self.sessions.remove(&sid);
        tracing::info!(session = sid, "session destroyed");
    }
}
