//! SIP events (RFC 6665) as Janus's SIP plugin offers them: `subscribe` sends a SUBSCRIBE
//! for an `event` package (message-summary for voicemail lights, presence, dialog for busy
//! lamps…) to `to` (the account's own identity by default), answers a challenge with the
//! account's credentials, refreshes it before it expires, and reports `subscribing`, then
//! `subscribe_succeeded` or `subscribe_failed`; NOTIFYs in the subscription become `notify`
//! events. `unsubscribe` sends the SUBSCRIBE with `Expires: 0` (`unsubscribing`). One
//! subscription per event package and handle, as in Janus.

use std::time::{Duration, Instant};

use cardea_sip::auth::{AuthStep, ClientAuth};
use cardea_sip::dialog::{new_call_id, new_tag};
use cardea_sip::typed::{
    CSeq, CallId, Contact, From as FromHeader, MaxForwards, NameAddr, RecordRoute, Route, To,
};
use cardea_sip::{Header, HeaderName, Method, Request, Response, Uri};
use serde_json::json;

use super::error::SipError;
use super::events;
use super::request::Body;
use super::Session;
use crate::api::SipOut;
use crate::{Command, Ctx, HandleId};

/// Janus's default `subscribe_ttl`.
const DEFAULT_TTL: u32 = 3600;

/// One subscription of a handle (RFC 6665 §4.1, the subscriber's side).
pub struct Subscription {
    event: String,
    call_id: String,
    from: NameAddr,
    to: NameAddr,
    /// The Request-URI: the target, then the notifier's Contact once it answered.
    target: Uri,
    /// The pre-loaded route (outbound proxy), then the dialog's route set.
    routes: Vec<NameAddr>,
    contact: NameAddr,
    cseq: u32,
    accept: Option<String>,
    headers: Vec<(String, String)>,
    content: Option<(String, String)>,
    ttl: u32,
    /// `Expires` of the SUBSCRIBE in flight (0 when unsubscribing).
    asked: u32,
    auth: Option<ClientAuth>,
    user_agent: Option<String>,
    via: cardea_sip::typed::Via,
    transaction: Option<String>,
    refresh_at: Option<Instant>,
    succeeded: bool,
}

impl Subscription {
    fn next_request(&mut self) -> Request {
        self.cseq += 1;
        let mut r = Request::new(Method::Subscribe, self.target.clone());
        r.headers.push_typed(&self.via);
        r.headers.push_typed(&MaxForwards(70));
        if !self.routes.is_empty() {
            let routes: Vec<Route> = self.routes.iter().cloned().map(Route).collect();
            r.headers.push(Header::new(HeaderName::Route, ""));
            r.headers.set_typed_list(&routes);
        }
        r.headers.push_typed(&FromHeader(self.from.clone()));
        r.headers.push_typed(&To(self.to.clone()));
        r.headers.push_typed(&CallId(self.call_id.clone()));
        r.headers.push_typed(&CSeq {
            seq: self.cseq,
            method: Method::Subscribe,
        });
        r.headers
            .push_typed(&Contact::Address(self.contact.clone()));
        r.headers
            .push(Header::new(HeaderName::parse("Event"), &self.event));
        if let Some(accept) = &self.accept {
            r.headers.push(Header::new(HeaderName::Accept, accept));
        }
        r.headers
            .push(Header::new(HeaderName::Expires, &self.asked.to_string()));
        for (name, value) in &self.headers {
            r.headers.push(Header::new(HeaderName::parse(name), value));
        }
        if let Some(ua) = &self.user_agent {
            r.headers.push(Header::new(HeaderName::UserAgent, ua));
        }
        match &self.content {
            Some((content_type, body)) => super::message::set_body(&mut r, content_type, body),
            None => r.headers.push(Header::new(HeaderName::ContentLength, "0")),
        }
        if let Some(auth) = &mut self.auth {
            auth.authorize(&mut r, &mut rand::rng());
        }
        r
    }
}

/// The endpoint stops routing the subscription's requests to the handle.
fn release(ctx: &mut Ctx, handle: HandleId, call_id: &str) {
    ctx.push(Command::Sip {
        handle,
        out: SipOut::ReleaseCall {
            call_id: call_id.to_owned(),
        },
    });
}

fn send(ctx: &mut Ctx, handle: HandleId, sub: &mut Subscription) {
    let request = sub.next_request();
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Request {
            request,
            destination: None,
        },
    });
}

pub fn subscribe(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let event = body.required_str("event")?;
    let account = session
        .account
        .as_ref()
        .ok_or_else(|| SipError::WrongState("Wrong state (not registered)".into()))?;
    if event.is_empty() || event.contains(['\r', '\n']) {
        return Err(SipError::InvalidElement("invalid event".into()));
    }
    let accept = body.str("accept")?.map(str::to_owned);
    let content_type = body.str("content_type")?;
    let content = body.str("content")?;
    for v in [accept.as_deref(), content_type].into_iter().flatten() {
        if v.contains(['\r', '\n']) {
            return Err(SipError::InvalidElement(
                "header values are one line".into(),
            ));
        }
    }
    let ttl = match body.u64("subscribe_ttl")? {
        Some(t) if t > 0 => u32::try_from(t).unwrap_or(u32::MAX),
        _ => DEFAULT_TTL,
    };
    let to = match body.str("to")? {
        Some(t) => Uri::parse(t)
            .ok()
            .filter(|u| u.as_sip().is_some())
            .ok_or_else(|| SipError::InvalidAddress(format!("invalid to {t}")))?,
        None => account.identity.uri.clone(),
    };
    let call_id = match body.str("call_id")? {
        Some(id) if !id.is_empty() && !id.contains(['\r', '\n', ' ']) => id.to_owned(),
        Some(_) => return Err(SipError::InvalidElement("invalid call_id".into())),
        None => new_call_id(&account.local.host.to_string()),
    };
    let mut from = account.identity.clone();
    from.set_tag(&new_tag());
    let mut sub = Subscription {
        event: event.to_owned(),
        call_id: call_id.clone(),
        from,
        to: NameAddr::new(to.clone()),
        target: to,
        routes: account.routes(),
        contact: account.contact.clone(),
        cseq: 0,
        accept,
        headers: body.headers()?,
        content: content_type
            .zip(content)
            .map(|(t, c)| (t.to_owned(), c.to_owned())),
        ttl,
        asked: ttl,
        auth: account.credentials.clone().map(ClientAuth::new),
        user_agent: account.local.user_agent.clone(),
        via: account.local.via(),
        transaction: transaction.clone(),
        refresh_at: None,
        succeeded: false,
    };
    send(ctx, handle, &mut sub);
    // A new subscription to the same package replaces the old one (Janus keeps one per
    // event).
    session.subscriptions.insert(event.to_owned(), sub);
    let mut fields = json!({});
    if body.str("call_id")?.is_some() {
        fields["call_id"] = call_id.into();
    }
    events::push(
        ctx,
        handle,
        transaction,
        events::result("subscribing", None, fields),
    );
    Ok(())
}

pub fn unsubscribe(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let event = body.required_str("event")?;
    if session.account.is_none() {
        return Err(SipError::WrongState("Wrong state (not registered)".into()));
    }
    let sub = session
        .subscriptions
        .get_mut(event)
        .ok_or_else(|| SipError::WrongState("Wrong state (not subscribed to this event)".into()))?;
    sub.asked = 0;
    sub.refresh_at = None;
    sub.transaction = transaction.clone();
    send(ctx, handle, sub);
    events::push(
        ctx,
        handle,
        transaction,
        events::result("unsubscribing", None, json!({})),
    );
    Ok(())
}

/// Whether a message of `call_id` belongs to one of the handle's subscriptions.
pub fn owns(session: &Session, call_id: Option<&str>) -> bool {
    call_id.is_some_and(|id| session.subscriptions.values().any(|s| s.call_id == id))
}

fn event_of(session: &Session, call_id: &str) -> Option<String> {
    session
        .subscriptions
        .iter()
        .find(|(_, s)| s.call_id == call_id)
        .map(|(e, _)| e.clone())
}

fn failed(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    event: &str,
    code: u16,
    reason: &str,
) {
    let Some(sub) = session.subscriptions.remove(event) else {
        return;
    };
    release(ctx, handle, &sub.call_id);
    if sub.asked == 0 {
        // An unsubscribe that failed: the subscription is gone either way.
        return;
    }
    let data = events::result(
        "subscribe_failed",
        Some(&sub.call_id),
        json!({ "code": code, "reason": reason }),
    );
    events::push(ctx, handle, sub.transaction, data);
}

pub fn on_response(ctx: &mut Ctx, handle: HandleId, session: &mut Session, response: &Response) {
    let Some(call_id) = response.headers.typed::<CallId>().ok().flatten() else {
        return;
    };
    let Some(event) = event_of(session, &call_id.0) else {
        return;
    };
    let cseq = response.headers.typed::<CSeq>().ok().flatten();
    let Some(sub) = session.subscriptions.get_mut(&event) else {
        return;
    };
    if response.status < 200 || cseq.is_none_or(|c| c.seq != sub.cseq) {
        return;
    }
    if let Some(auth) = &mut sub.auth {
        match auth.on_response(response) {
            AuthStep::Retry => return send(ctx, handle, sub),
            AuthStep::Failed { status, .. } => {
                let reason = response.reason.clone();
                return failed(ctx, handle, session, &event, status, &reason);
            }
            AuthStep::Proceed => {}
        }
    }
    if response.status >= 300 {
        let reason = response.reason.clone();
        return failed(ctx, handle, session, &event, response.status, &reason);
    }
    if sub.asked == 0 {
        release(ctx, handle, &call_id.0);
        session.subscriptions.remove(&event);
        return;
    }
    // The dialog (RFC 6665 §4.1.2.1): the notifier's tag, target and route set.
    if let Some(to) = response.headers.typed::<To>().ok().flatten() {
        sub.to = to.0;
    }
    if let Some(Contact::Address(c)) = response
        .headers
        .typed_all::<Contact>()
        .ok()
        .and_then(|c| c.into_iter().next())
    {
        sub.target = c.uri;
    }
    if let Ok(rr) = response.headers.typed_all::<RecordRoute>() {
        if !rr.is_empty() {
            sub.routes = rr.into_iter().rev().map(|r| r.0).collect();
        }
    }
    let expires = response
        .headers
        .get(&HeaderName::Expires)
        .and_then(|h| h.value_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(sub.asked);
    // Refresh a little before the end (RFC 6665 §4.1.2.2).
    let ahead = (expires / 10).clamp(5, 60);
    sub.refresh_at =
        Some(ctx.now + Duration::from_secs(u64::from(expires.saturating_sub(ahead).max(1))));
    if !sub.succeeded {
        sub.succeeded = true;
        let data = events::result(
            "subscribe_succeeded",
            Some(&sub.call_id),
            json!({ "code": response.status, "reason": response.reason, "expires": expires }),
        );
        events::push(ctx, handle, sub.transaction.clone(), data);
    }
}

/// The SUBSCRIBE in flight failed in the transaction layer (timeout, transport).
pub fn on_failure(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    call_id: &str,
    code: u16,
) {
    if let Some(event) = event_of(session, call_id) {
        failed(
            ctx,
            handle,
            session,
            &event,
            code,
            cardea_sip::default_reason(code),
        );
    }
}

/// A NOTIFY of one of the subscriptions: 200, and a `notify` event when it has a body (as
/// Janus); `Subscription-State: terminated` ends the subscription.
pub fn on_notify(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    key: cardea_sip::transaction::ServerKey,
    request: &Request,
) {
    let mut ok = request.make_response(200);
    if !request.has_to_tag() {
        let tag = session
            .subscriptions
            .values()
            .find(|s| Some(&s.call_id) == request.call_id_value().as_ref())
            .and_then(|s| s.from.tag().map(str::to_owned));
        if let Some(tag) = tag {
            let _ = ok.set_to_tag(&tag);
        }
    }
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Respond { key, response: ok },
    });
    let header = |name: &str| {
        request
            .headers
            .get(&HeaderName::parse(name))
            .and_then(|h| h.value_str().ok())
            .map(str::to_owned)
    };
    let call_id = request.call_id_value().unwrap_or_default();
    let state = header("Subscription-State").unwrap_or_default();
    let substate = state
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !request.body.is_empty() {
        let package = header("Event")
            .map(|e| e.split(';').next().unwrap_or_default().trim().to_owned())
            .unwrap_or_default();
        let data = events::result(
            "notify",
            Some(&call_id),
            json!({
                "notify": package,
                "substate": substate,
                "content-type": header("Content-Type"),
                "content": String::from_utf8_lossy(&request.body),
            }),
        );
        events::push(ctx, handle, None, data);
    }
    if substate == "terminated" {
        if let Some(event) = event_of(session, &call_id) {
            session.subscriptions.remove(&event);
            release(ctx, handle, &call_id);
        }
    }
}

/// Refreshes the subscriptions whose time has come.
pub fn handle_timeout(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    for sub in session.subscriptions.values_mut() {
        if sub.refresh_at.is_some_and(|t| t <= ctx.now) {
            sub.refresh_at = None;
            sub.asked = sub.ttl;
            send(ctx, handle, sub);
        }
    }
}

/// The handle goes away: end every subscription (Expires: 0), without events.
pub fn destroy(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    for (_, mut sub) in session.subscriptions.drain() {
        if sub.succeeded {
            sub.asked = 0;
            send(ctx, handle, &mut sub);
        }
        release(ctx, handle, &sub.call_id);
    }
}
