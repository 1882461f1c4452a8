//! The Admin API (janus-api.md §2): behind `admin_secret`, except `info` and `ping`.

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{json, Value};

use super::Core;
use crate::api::{ApiError, Envelope, Scope};
use crate::auth::constant_time_eq;

const ROOT: &[&str] = &[
    "info",
    "ping",
    "get_status",
    "list_sessions",
    "set_session_timeout",
    "set_log_level",
    "accept_new_sessions",
    "add_token",
    "allow_token",
    "disallow_token",
    "list_tokens",
    "remove_token",
    "set_log_timestamps",
    "set_log_colors",
    "set_locking_debug",
    "set_refcount_debug",
    "set_min_nack_queue",
    "set_no_media_timer",
    "set_slowlink_threshold",
    "loops_info",
    // Cardea: the SIP appliance.
    "reload_routing",
    "list_call_records",
    "list_trunks",
];
const SESSION: &[&str] = &["list_handles", "destroy_session", "set_session_timeout"];
const HANDLE: &[&str] = &["handle_info", "detach_handle", "hangup_webrtc"];

impl Core {
    pub(super) fn admin_request(&mut self, env: Envelope) -> Result<Value, ApiError> {
        let t = env.transaction.clone();
        let verb = env.verb.as_str();
        if env.scope == Scope::Root {
            match verb {
                "info" => return Ok(self.server_info(&t)),
                "ping" => return Ok(json!({ "janus": "pong", "transaction": t })),
                _ => {}
            }
        }
        let authorized = match (
            &self.config.general.admin_secret,
            env.str_field("admin_secret"),
        ) {
            (Some(want), Some(got)) => constant_time_eq(want.as_bytes(), got.as_bytes()),
            _ => false,
        };
        if !authorized {
            return Err(ApiError::unauthorized());
        }
        match env.scope {
            Scope::Root if ROOT.contains(&verb) => self.admin_root(&env),
            Scope::Session(sid) if SESSION.contains(&verb) => {
                let session = self
                    .sessions
                    .get(&sid)
                    .ok_or_else(|| ApiError::no_session(sid))?;
                match verb {
                    "list_handles" => {
                        let handles: Vec<u64> = session.handles.iter().copied().collect();
                        Ok(
                            json!({ "janus": "success", "transaction": t, "session_id": sid, "handles": handles }),
                        )
                    }
                    "set_session_timeout" => {
                        let timeout = match env.object.get("timeout") {
                            None | Some(Value::Null) => return Err(ApiError::missing("timeout")),
                            Some(v) => v.as_u64().ok_or_else(|| {
                                ApiError::wrong_type("timeout", "a positive integer")
                            })?,
                        };
                        if let Some(s) = self.sessions.get_mut(&sid) {
                            s.timeout = Some(timeout);
                        }
                        Ok(json!({
                            "janus": "success", "transaction": t,
                            "session_id": sid, "timeout": timeout
                        }))
                    }
                    _ => {
                        self.destroy_session(sid);
                        self.run_deferred();
                        Ok(json!({ "janus": "success", "transaction": t, "session_id": sid }))
                    }
                }
            }
            Scope::Handle {
                session: sid,
                handle: hid,
            } if HANDLE.contains(&verb) => {
                let session = self
                    .sessions
                    .get(&sid)
                    .ok_or_else(|| ApiError::no_session(sid))?;
                if !session.handles.contains(&hid) {
                    return Err(ApiError::no_handle(hid));
                }
                match verb {
                    "handle_info" => {
                        let plugin_only =
                            env.object.get("plugin_only").and_then(Value::as_bool) == Some(true);
                        Ok(json!({
                            "janus": "success", "transaction": t, "session_id": sid,
                            "handle_id": hid, "info": self.handle_info(hid, plugin_only)
                        }))
                    }
                    "detach_handle" => {
                        self.detach(hid);
                        self.run_deferred();
                        Ok(json!({ "janus": "success", "session_id": sid, "transaction": t }))
                    }
                    _ => {
                        self.hangup_pc(hid, "Admin API");
                        self.run_deferred();
                        Ok(
                            json!({ "janus": "success", "session_id": sid, "handle_id": hid, "transaction": t }),
                        )
                    }
                }
            }
            // Janus answers 457 for unknown admin verbs too, not 453.
            _ => Err(ApiError::bad_path(verb)),
        }
    }

    fn admin_root(&mut self, env: &Envelope) -> Result<Value, ApiError> {
        let t = env.transaction.as_str();
        let o = &env.object;
        let int = |name: &str| -> Result<u64, ApiError> {
            match o.get(name) {
                None | Some(Value::Null) => Err(ApiError::missing(name)),
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| ApiError::wrong_type(name, "a positive integer")),
            }
        };
        let token = || -> Result<String, ApiError> {
            match o.get("token") {
                None | Some(Value::Null) => Err(ApiError::missing("token")),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(ApiError::wrong_type("token", "a string")),
            }
        };
        let plugins = || -> Result<Vec<String>, ApiError> {
            match o.get("plugins") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|p| {
                        p.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| ApiError::wrong_type("plugins", "an array of strings"))
                    })
                    .collect(),
                Some(_) => Err(ApiError::wrong_type("plugins", "an array")),
            }
        };
        match env.verb.as_str() {
            "get_status" => Ok(json!({
                "janus": "success", "transaction": t,
                "status": {
                    "token_auth": self.config.general.token_auth,
                    "session_timeout": self.session_timeout,
                    "reclaim_session_timeout": self.config.general.reclaim_session_timeout,
                    "candidates_timeout": 45,
                    "log_level": self.log_level,
                    "log_timestamps": true,
                    "log_colors": false,
                    "locking_debug": false,
                    "refcount_debug": false,
                    "libnice_debug": false,
                    "min_nack_queue": 200,
                    "nack-optimizations": false,
                    "no_media_timer": 1,
                    "slowlink_threshold": self.slowlink_threshold,
                    "accepting_new_sessions": self.accepting,
                    "sessions": self.sessions.len(),
                    "handles": self.handles.len(),
                    // Cardea: plain RTP legs of SIP calls (leak checks).
                    "rtp_legs": self.rtp_leg_count(),
                    "uptime": Instant::now().duration_since(self.started).as_secs(),
                }
            })),
            "reload_routing" => {
                let Some(link) = &self.sip else {
                    return Err(ApiError::new(
                        ApiError::UNKNOWN_REQUEST,
                        "SIP is disabled (sip.enabled: false)",
                    ));
                };
                link.reload_from(self.config.source.as_deref())
                    .map_err(|e| {
                        ApiError::new(
                            ApiError::UNKNOWN,
                            format!("reload refused, the routing in force stays: {e}"),
                        )
                    })?;
                Ok(json!({ "janus": "success", "transaction": t, "reloaded": true }))
            }
            "list_call_records" => {
                let limit = match o.get("limit") {
                    None | Some(Value::Null) => super::super::sip::records::KEPT as u64,
                    Some(v) => v
                        .as_u64()
                        .ok_or_else(|| ApiError::wrong_type("limit", "a positive integer"))?,
                };
                let records = self
                    .sip
                    .as_ref()
                    .map(|l| l.records.latest(limit as usize))
                    .unwrap_or_default();
                Ok(json!({ "janus": "success", "transaction": t, "call_records": records }))
            }
            "list_trunks" => {
                let trunks = self
                    .sip
                    .as_ref()
                    .map(|l| l.trunks.get())
                    .unwrap_or_default();
                Ok(json!({ "janus": "success", "transaction": t, "trunks": trunks }))
            }
            "list_sessions" => {
                let mut ids: Vec<u64> = self.sessions.keys().copied().collect();
                ids.sort_unstable();
                Ok(json!({ "janus": "success", "transaction": t, "sessions": ids }))
            }
            "set_session_timeout" => {
                self.session_timeout = int("timeout")?;
                Ok(json!({ "janus": "success", "transaction": t, "timeout": self.session_timeout }))
            }
            "set_log_level" => {
                let level = int("level")?;
                if level > 7 {
                    return Err(ApiError::new(
                        ApiError::INVALID_ELEMENT_TYPE,
                        "Invalid element type (level should be between 0 and 7)",
                    ));
                }
                self.log_level = level as u8;
                (self.set_log_level)(self.log_level);
                tracing::warn!(level, "log level changed through the Admin API");
                Ok(json!({ "janus": "success", "transaction": t, "level": level }))
            }
            "accept_new_sessions" => {
                self.accepting = match o.get("accept") {
                    None | Some(Value::Null) => return Err(ApiError::missing("accept")),
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(ApiError::wrong_type("accept", "a boolean")),
                };
                Ok(json!({ "janus": "success", "transaction": t, "accept": self.accepting }))
            }
            "add_token" => {
                let token = token()?;
                let mut allowed: HashSet<String> = plugins()?.into_iter().collect();
                // No list: the token may use every plugin (as Janus).
                if allowed.is_empty() {
                    allowed = self
                        .plugins
                        .iter()
                        .map(|p| p.info().package.to_owned())
                        .collect();
                }
                let list: Vec<&String> = allowed.iter().collect();
                let data = json!({ "plugins": list });
                self.tokens.insert(token, allowed);
                Ok(json!({ "janus": "success", "transaction": t, "data": data }))
            }
            "allow_token" | "disallow_token" => {
                let token = token()?;
                let names = plugins()?;
                if names.is_empty() {
                    return Err(ApiError::missing("plugins"));
                }
                for p in &names {
                    if !self.plugins.iter().any(|x| x.info().package == p) {
                        return Err(ApiError::new(
                            ApiError::PLUGIN_NOT_FOUND,
                            format!("No such plugin '{p}'"),
                        ));
                    }
                }
                let allow = env.verb == "allow_token";
                let entry = self.tokens.get_mut(&token).ok_or_else(|| {
                    ApiError::new(
                        ApiError::TOKEN_NOT_FOUND,
                        format!("Token {token} not found"),
                    )
                })?;
                for p in names {
                    if allow {
                        entry.insert(p);
                    } else {
                        entry.remove(&p);
                    }
                }
                let list: Vec<&String> = entry.iter().collect();
                Ok(json!({ "janus": "success", "transaction": t, "data": { "plugins": list } }))
            }
            "list_tokens" => {
                let mut tokens: Vec<Value> = self
                    .tokens
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| json!({ "token": k, "allowed_plugins": v.iter().collect::<Vec<_>>() }))
                    .collect();
                tokens.sort_by(|a, b| a["token"].as_str().cmp(&b["token"].as_str()));
                Ok(json!({ "janus": "success", "transaction": t, "data": { "tokens": tokens } }))
            }
            "remove_token" => {
                let token = token()?;
                if self.tokens.remove(&token).is_none() {
                    return Err(ApiError::new(
                        ApiError::TOKEN_NOT_FOUND,
                        format!("Token {token} not found"),
                    ));
                }
                Ok(json!({ "janus": "success", "transaction": t }))
            }
            "set_slowlink_threshold" => {
                let packets = int("slowlink_threshold")?;
                self.slowlink_threshold = u32::try_from(packets).unwrap_or(u32::MAX);
                Ok(json!({ "janus": "success", "transaction": t, "slowlink_threshold": packets }))
            }
            "loops_info" => Ok(json!({ "janus": "success", "transaction": t, "loops": [] })),
            // Janus debugging switches that have no meaning here: accepted, nothing changes.
            _ => Ok(json!({ "janus": "success", "transaction": t })),
        }
    }

    fn handle_info(&self, hid: u64, plugin_only: bool) -> Value {
        let Some(h) = self.handles.get(&hid) else {
            return Value::Null;
        };
        let plugin = &self.plugins[h.plugin];
        let plugin_specific = plugin.query_session(hid);
        if plugin_only {
            return json!({ "plugin_specific": plugin_specific });
        }
        let now = Instant::now();
        let session = self.sessions.get(&h.session);
        let pc = h.pc.as_ref();
        let streams: Vec<Value> = pc
            .and_then(|pc| pc.stats.as_ref())
            .map(|s| {
                s.streams
                    .iter()
                    .map(|st| json!({
                        "mid": st.mid, "type": st.kind,
                        "in_stats": { "packets": st.packets_in, "bytes": st.bytes_in, "keyframe_requests": st.keyframe_requests_in },
                        "out_stats": { "packets": st.packets_out, "bytes": st.bytes_out },
                    }))
                    .collect()
            })
            .unwrap_or_default();
        let stats = pc.and_then(|pc| pc.stats.as_ref());
        json!({
            "session_id": h.session,
            "session_last_activity": session.map(|s| now.duration_since(s.last_activity).as_micros() as u64),
            "session_transport": session.map(|s| s.sink.transport_name()),
            "handle_id": hid,
            "opaque_id": h.opaque_id,
            "created": now.duration_since(h.created).as_micros() as u64,
            "current_time": now.duration_since(self.started).as_micros() as u64,
            "plugin": plugin.info().package,
            "plugin_specific": plugin_specific,
            "flags": {
                "got-offer": pc.is_some_and(|p| p.remote_sdp.is_some()),
                "got-answer": false,
                "negotiated": pc.is_some_and(|p| p.local_sdp.is_some()),
                "ready": pc.is_some_and(|p| p.webrtc_up),
                "trickle": h.trickles > 0,
                "data-channels": stats.is_some_and(|s| s.data_messages_in + s.data_messages_out > 0),
            },
            "ice-mode": if self.config.media.ice_lite { "lite" } else { "full" },
            "ice-role": "controlled",
            "ice_state": pc.map(|p| p.ice_state),
            "dtls_state": if stats.is_some_and(|s| s.dtls_connected) { "connected" } else { "new" },
            "selected-pair": stats.and_then(|s| match (s.local_addr, s.remote_addr) {
                (Some(l), Some(r)) => Some(format!("{l} <-> {r}")),
                _ => None,
            }),
            "remb_cap": stats.and_then(|s| s.remb_cap_bps),
            "data_messages": stats.map(|s| json!({ "in": s.data_messages_in, "out": s.data_messages_out })),
            "sdps": {
                "profile": "UDP/TLS/RTP/SAVPF",
                "local": pc.and_then(|p| p.local_sdp.clone()),
                "remote": pc.and_then(|p| p.remote_sdp.clone()),
            },
            "streams": streams,
        })
    }
}
