//! `janus.plugin.sip`: each handle is a SIP user agent on Cardea's one shared SIP endpoint
//! (Janus binds a stack and a port per handle). The plugin holds the UA state machines of
//! `cardea_sip::ua` and sends its SIP through [`Command::Sip`]; media goes from the
//! handle's WebRTC leg to a plain RTP leg toward the SIP peer along a bridge in the media
//! shard, without transcoding: the browser's codecs are offered to the SIP side and the
//! codec the peer picks is used on both.
//!
//! Requests and events keep Janus's names and shapes (`janus_sip.c`); every request is
//! answered with an ack and then events carrying the request's transaction.

mod account;
mod call;
pub(crate) use call::send as send_ua_output;
mod error;
mod events;
mod keepalive;
mod message;
mod recording;
mod request;
mod sdp;
mod srtp;
mod subscribe;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;

use cardea_media::rtp_leg::RtpLegEvent;
use cardea_sip::typed::Transport;
use cardea_sip::ua::Local;
use cardea_sip::Host;
use serde_json::{json, Value};

use crate::api::{RtpPorts, SipIn};
use crate::{Ctx, HandleId, Message, Plugin, PluginInfo, Reply};
use account::Account;
use call::Call;
use error::SipError;
use request::Body;

const PACKAGE: &str = "janus.plugin.sip";

/// Where the plugin's SIP leaves from: the shared endpoint's listener.
#[derive(Debug, Clone)]
pub struct SipEnv {
    pub udp: SocketAddr,
    pub user_agent: String,
    /// Janus's `keepalive_interval`: an OPTIONS to the registrar of each registered
    /// account this often; `None`: none.
    pub keepalive: Option<std::time::Duration>,
}

impl SipEnv {
    /// Who plugin UAs are on the wire: the endpoint's UDP listener and User-Agent.
    pub(crate) fn local(&self) -> Local {
        let host = match self.udp.ip() {
            std::net::IpAddr::V4(v4) => Host::Ipv4(v4),
            std::net::IpAddr::V6(v6) => Host::Ipv6(v6.to_string()),
        };
        let mut local = Local::new(Transport::Udp, host, Some(self.udp.port()));
        local.user_agent = Some(self.user_agent.clone());
        local
    }
}

/// One handle's UA: its account (after `register`) and its call, if any.
#[derive(Default)]
struct Session {
    account: Option<Account>,
    call: Option<Call>,
    /// Our MESSAGEs outside dialogs awaiting their answer: Call-ID → the request's transaction.
    messages: HashMap<String, Option<String>>,
    /// Our subscriptions (`subscribe`), by event package.
    subscriptions: HashMap<String, subscribe::Subscription>,
    /// When the next keep-alive goes to the registrar, and those awaiting an answer.
    keepalive_at: Option<std::time::Instant>,
    keepalives: Vec<String>,
}

pub struct SipPlugin {
    env: Option<SipEnv>,
    sessions: HashMap<HandleId, Session>,
    /// The core's file access, to check that a recording can be created before saying so.
    ports: Option<crate::Ports>,
}

impl SipPlugin {
    /// `env` is `None` when the SIP endpoint is disabled: requests then fail with 449.
    pub fn new(env: Option<SipEnv>) -> Self {
        Self {
            env,
            sessions: HashMap::new(),
            ports: None,
        }
    }

    pub fn with_ports(mut self, ports: Option<crate::Ports>) -> Self {
        self.ports = ports;
        self
    }

    fn local(&self) -> Result<Local, SipError> {
        let env = self
            .env
            .as_ref()
            .ok_or_else(|| SipError::Stack("the SIP endpoint is disabled (sip.enabled)".into()))?;
        Ok(env.local())
    }

    fn request(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        transaction: Option<String>,
        body: &Value,
        jsep: Option<crate::Jsep>,
    ) -> Result<(), SipError> {
        let body = Body::new(body)?;
        let request = body.request()?;
        if request == "register" && body.str("type")? == Some("helper") {
            return self.register_helper(ctx, handle, &body, transaction);
        }
        let local = self.local();
        let ports = self.ports.as_ref();
        let session = self
            .sessions
            .get_mut(&handle)
            .ok_or_else(|| SipError::WrongState("no such handle".into()))?;
        match request {
            "register" => account::register(ctx, handle, session, &local?, &body, transaction),
            "unregister" => account::unregister(ctx, handle, session, transaction),
            "call" => call::call(ctx, handle, session, &local?, &body, jsep, transaction),
            "accept" => call::accept(ctx, handle, session, &body, jsep, transaction),
            "decline" => call::decline(ctx, handle, session, &body, transaction),
            "hangup" => call::hangup(ctx, handle, session, transaction),
            "dtmf_info" => call::dtmf_info(ctx, handle, session, &body, transaction),
            "info" => call::info(ctx, handle, session, &body, transaction),
            "message" => message::send(ctx, handle, session, &body, transaction),
            "subscribe" => subscribe::subscribe(ctx, handle, session, &body, transaction),
            "unsubscribe" => subscribe::unsubscribe(ctx, handle, session, &body, transaction),
            "transfer" => call::transfer(ctx, handle, session, &body, transaction),
            "keyframe" => {
                // A PLI toward the browser (`user`), an RTCP PLI toward the SIP peer (`peer`).
                if body.bool("user")?.unwrap_or(false) {
                    ctx.push(crate::Command::RequestKeyframe { handle });
                }
                if body.bool("peer")?.unwrap_or(false) {
                    ctx.push(crate::Command::RequestPeerKeyframe { handle });
                }
                events::push(
                    ctx,
                    handle,
                    transaction,
                    events::result("keyframesent", None, json!({})),
                );
                Ok(())
            }
            "reset" => {
                events::push(
                    ctx,
                    handle,
                    transaction,
                    events::result("reset", None, json!({})),
                );
                Ok(())
            }
            "update" => call::update(ctx, handle, session, jsep, transaction),
            "recording" => recording::recording(ctx, handle, session, ports, &body, transaction),
            "hold" => call::hold(ctx, handle, session, &body, transaction, true),
            "unhold" => call::hold(ctx, handle, session, &body, transaction, false),
            other => Err(SipError::InvalidRequest(other.to_owned())),
        }
    }
}

impl SipPlugin {
    fn register_helper(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        body: &Body<'_>,
        transaction: Option<String>,
    ) -> Result<(), SipError> {
        let master_id = body
            .u64("master_id")?
            .ok_or(SipError::MissingElement("master_id"))?;
        let master = self
            .sessions
            .iter()
            .find(|(h, s)| {
                **h != handle
                    && s.account.as_ref().is_some_and(|a| {
                        u64::from(a.master_id) == master_id
                            && !matches!(a.kind, account::Kind::Helper { .. })
                    })
            })
            .map(|(h, s)| {
                (
                    *h,
                    s.account
                        .as_ref()
                        .map(|a| account::helper_of(*h, a, transaction.clone())),
                )
            });
        let Some((master, Some(helper))) = master else {
            return Err(SipError::Stack(format!(
                "no master with master_id {master_id}"
            )));
        };
        let data = events::result(
            "registered",
            None,
            json!({
                "username": helper.user,
                "register_sent": false,
                "master_id": helper.master_id,
                "helper": true,
            }),
        );
        let session = self
            .sessions
            .get_mut(&handle)
            .ok_or_else(|| SipError::WrongState("no such handle".into()))?;
        session.account = Some(helper);
        events::push(ctx, handle, transaction, data);
        tracing::debug!(handle, master, "SIP helper registered");
        Ok(())
    }

    /// A new INVITE for a busy master goes to one of its idle helpers, if any.
    fn idle_helper_of(&self, master: HandleId) -> Option<HandleId> {
        self.sessions.iter().find_map(|(h, s)| {
            let helper = s
                .account
                .as_ref()
                .is_some_and(|a| a.kind == account::Kind::Helper { master });
            (helper && s.call.is_none()).then_some(*h)
        })
    }
}

impl Plugin for SipPlugin {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            package: PACKAGE,
            name: "JANUS SIP plugin",
            description: "SIP user agents for WebRTC handles on Cardea's shared SIP endpoint",
            author: "Cardea",
            version: 8,
            version_string: "0.0.8",
        }
    }

    fn create_session(&mut self, handle: HandleId) -> Result<(), String> {
        self.sessions.insert(handle, Session::default());
        Ok(())
    }

    fn handle_message(&mut self, ctx: &mut Ctx, message: Message) -> Reply {
        let Message {
            handle,
            transaction,
            body,
            jsep,
        } = message;
        if let Err(e) = self.request(ctx, handle, transaction.clone(), &body, jsep) {
            events::push(ctx, handle, transaction, events::error(&e));
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
        events::push(
            ctx,
            handle,
            transaction.clone(),
            events::error(&SipError::InvalidSdp(error.to_owned())),
        );
        if let Some(session) = self.sessions.get_mut(&handle) {
            call::abort(
                ctx,
                handle,
                session,
                488,
                "Not Acceptable Here",
                transaction,
            );
        }
    }

    fn hangup_media(&mut self, ctx: &mut Ctx, handle: HandleId) {
        // The browser is gone (ICE failure, hangup): the SIP side must not stay up.
        if let Some(session) = self.sessions.get_mut(&handle) {
            call::abort(
                ctx,
                handle,
                session,
                200,
                "WebRTC PeerConnection closed",
                None,
            );
        }
    }

    fn incoming_sip(&mut self, ctx: &mut Ctx, handle: HandleId, sip: SipIn) {
        let local = self.local();
        let Some(session) = self.sessions.get_mut(&handle) else {
            return;
        };
        match sip {
            SipIn::Response(response) => {
                let call_id = response
                    .headers
                    .typed::<cardea_sip::typed::CallId>()
                    .ok()
                    .flatten()
                    .map(|c| c.0);
                if keepalive::take(session, call_id.as_deref(), response.status) {
                } else if account::owns(session, call_id.as_deref()) {
                    account::on_response(ctx, handle, session, &response);
                } else if message::owns(session, call_id.as_deref()) {
                    message::on_response(ctx, handle, session, &response);
                } else if subscribe::owns(session, call_id.as_deref()) {
                    subscribe::on_response(ctx, handle, session, &response);
                } else {
                    call::on_response(ctx, handle, session, &response);
                }
            }
            SipIn::Failed {
                call_id,
                method,
                code,
            } => {
                if keepalive::take(session, Some(&call_id), code) {
                } else if account::owns(session, Some(&call_id)) {
                    account::on_failure(ctx, handle, session, code);
                } else if message::owns(session, Some(&call_id)) {
                    let reason = cardea_sip::default_reason(code);
                    message::delivered(ctx, handle, session, &call_id, code, reason);
                } else if subscribe::owns(session, Some(&call_id)) {
                    subscribe::on_failure(ctx, handle, session, &call_id, code);
                } else {
                    call::on_failure(ctx, handle, session, &method, code);
                }
            }
            SipIn::Request {
                key,
                request,
                source,
            } => {
                let Ok(local) = local else {
                    return;
                };
                if request.method == cardea_sip::Method::Notify
                    && subscribe::owns(session, request.call_id_value().as_deref())
                {
                    subscribe::on_notify(ctx, handle, session, key, &request);
                    return;
                }
                let new_call = request.method == cardea_sip::Method::Invite
                    && !request.has_to_tag()
                    && session.call.is_some();
                let target = if new_call {
                    self.idle_helper_of(handle).unwrap_or(handle)
                } else {
                    handle
                };
                if target != handle {
                    // The helper owns this dialog from now on.
                    if let Some(call_id) = request.call_id_value() {
                        ctx.push(crate::Command::Sip {
                            handle: target,
                            out: crate::SipOut::ClaimCall { call_id },
                        });
                    }
                }
                if let Some(session) = self.sessions.get_mut(&target) {
                    call::on_request(ctx, target, session, &local, key, request, source)
                }
            }
            SipIn::Cancel { key, request } => call::on_cancel(ctx, handle, session, key, &request),
            SipIn::Ack { request } => call::on_ack(ctx, handle, session, &request),
            // Calls to rooms are the AudioBridge's.
            SipIn::DialIn { .. } => {}
        }
    }

    fn rtp_opened(&mut self, ctx: &mut Ctx, handle: HandleId, ports: Result<RtpPorts, String>) {
        if let Some(session) = self.sessions.get_mut(&handle) {
            call::rtp_opened(ctx, handle, session, ports);
        }
    }

    fn rtp_event(&mut self, ctx: &mut Ctx, handle: HandleId, event: RtpLegEvent) {
        if let Some(session) = self.sessions.get_mut(&handle) {
            call::rtp_event(ctx, handle, session, event);
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let keepalive = self.env.as_ref().and_then(|e| e.keepalive);
        for (handle, session) in &mut self.sessions {
            if let Some(every) = keepalive {
                keepalive::handle_timeout(ctx, *handle, session, every);
            }
            account::handle_timeout(ctx, *handle, session);
            call::handle_timeout(ctx, *handle, session);
            subscribe::handle_timeout(ctx, *handle, session);
        }
    }

    fn destroy_session(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(mut session) = self.sessions.remove(&handle) else {
            return;
        };
        call::abort(ctx, handle, &mut session, 200, "Handle detached", None);
        subscribe::destroy(ctx, handle, &mut session);
        account::destroy(ctx, handle, &mut session);
    }

    fn query_session(&self, handle: HandleId) -> Value {
        let Some(s) = self.sessions.get(&handle) else {
            return Value::Null;
        };
        let mut v = json!({
            "registration_status": s.account.as_ref().map_or("unregistered", Account::status),
            "call_status": s.call.as_ref().map_or("idle", Call::status),
        });
        if let Some(a) = &s.account {
            v["username"] = a.identity_uri().into();
        }
        if let Some(c) = &s.call {
            v["call_id"] = c.call_id().into();
            if let Some(r) = recording::info(c) {
                v["recording"] = r;
            }
        }
        v
    }
}
