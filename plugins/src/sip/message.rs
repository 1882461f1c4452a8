//! SIP MESSAGE (RFC 3428): `message` with a `uri` (or outside a call) sends one out of any
//! dialog, reported as `messagesent` then `messagedelivery` with the peer's final code; inside
//! a call it goes in the dialog. A MESSAGE to the handle becomes a `message` event.

use bytes::Bytes;
use cardea_sip::dialog::{new_call_id, new_tag};
use cardea_sip::typed::{CSeq, CallId, From as FromHeader, MaxForwards, NameAddr, To};
use cardea_sip::{Header, HeaderName, Method, Request, Response, Uri};
use serde_json::json;

use super::error::SipError;
use super::events;
use super::request::Body;
use super::Session;
use crate::api::SipOut;
use crate::{Command, Ctx, HandleId};

/// Janus's default content type of `message`.
const TEXT: &str = "text/plain";

pub fn send(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let content = body.required_str("content")?;
    let content_type = body.str("content_type")?.unwrap_or(TEXT);
    if content_type.contains(['\r', '\n']) {
        return Err(SipError::InvalidElement("invalid content_type".into()));
    }
    let headers = body.headers()?;
    let Some(target) = body.str("uri")? else {
        // In the call's dialog.
        return super::call::message(ctx, handle, session, content_type, content, transaction);
    };
    let account = session
        .account
        .as_ref()
        .ok_or_else(|| SipError::WrongState("register first".into()))?;
    let uri = Uri::parse(target)
        .ok()
        .filter(|u| u.as_sip().is_some())
        .ok_or_else(|| SipError::InvalidAddress(format!("invalid uri {target}")))?;
    let call_id = new_call_id(&account.local.host.to_string());
    let mut r = Request::new(Method::Message, uri.clone());
    r.headers.push_typed(&account.local.via());
    r.headers.push_typed(&MaxForwards(70));
    let routes = account.routes();
    if !routes.is_empty() {
        let routes: Vec<cardea_sip::typed::Route> =
            routes.into_iter().map(cardea_sip::typed::Route).collect();
        r.headers.push(Header::new(HeaderName::Route, ""));
        r.headers.set_typed_list(&routes);
    }
    let mut from = account.identity.clone();
    from.set_tag(&new_tag());
    r.headers.push_typed(&FromHeader(from));
    r.headers.push_typed(&To(NameAddr::new(uri)));
    r.headers.push_typed(&CallId(call_id.clone()));
    r.headers.push_typed(&CSeq {
        seq: 1,
        method: Method::Message,
    });
    for (name, value) in &headers {
        r.headers.push(Header::new(HeaderName::parse(name), value));
    }
    if let Some(ua) = &account.local.user_agent {
        r.headers.push(Header::new(HeaderName::UserAgent, ua));
    }
    set_body(&mut r, content_type, content);
    session
        .messages
        .insert(call_id.clone(), transaction.clone());
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Request {
            request: r,
            destination: None,
        },
    });
    events::push(
        ctx,
        handle,
        transaction,
        events::result("messagesent", None, json!({ "call_id": call_id })),
    );
    Ok(())
}

/// Content-Type, Content-Length and the body, at the end of a request being built.
pub fn set_body(r: &mut Request, content_type: &str, content: &str) {
    r.headers
        .push(Header::new(HeaderName::ContentType, content_type));
    r.headers.push(Header::new(
        HeaderName::ContentLength,
        &content.len().to_string(),
    ));
    r.body = Bytes::from(content.to_owned());
}

/// Whether a response or failure of `call_id` answers one of our MESSAGEs.
pub fn owns(session: &Session, call_id: Option<&str>) -> bool {
    call_id.is_some_and(|id| session.messages.contains_key(id))
}

/// The final answer to a MESSAGE of ours: `messagedelivery` with its code and reason.
pub fn delivered(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    call_id: &str,
    code: u16,
    reason: &str,
) {
    if code < 200 {
        return;
    }
    let Some(transaction) = session.messages.remove(call_id) else {
        return;
    };
    let data = events::result(
        "messagedelivery",
        Some(call_id),
        json!({ "code": code, "reason": reason }),
    );
    events::push(ctx, handle, transaction, data);
}

pub fn on_response(ctx: &mut Ctx, handle: HandleId, session: &mut Session, response: &Response) {
    let Some(call_id) = response.headers.typed::<CallId>().ok().flatten() else {
        return;
    };
    delivered(
        ctx,
        handle,
        session,
        &call_id.0,
        response.status,
        &response.reason,
    );
}

/// A MESSAGE to the handle outside any dialog: 200, and the `message` event.
pub fn incoming(ctx: &mut Ctx, handle: HandleId, request: &Request) {
    let (sender, displayname) = match request.headers.typed::<FromHeader>().ok().flatten() {
        Some(f) => (f.0.uri.to_string(), f.0.display_name.clone()),
        None => (String::new(), None),
    };
    let content_type = request
        .headers
        .get(&HeaderName::ContentType)
        .and_then(|h| h.value_str().ok())
        .map(str::to_owned);
    let call_id = request
        .headers
        .typed::<CallId>()
        .ok()
        .flatten()
        .map(|c| c.0);
    let data = events::result(
        "message",
        call_id.as_deref(),
        json!({
            "sender": sender,
            "displayname": displayname,
            "content_type": content_type,
            "content": String::from_utf8_lossy(&request.body),
        }),
    );
    events::push(ctx, handle, None, data);
}
