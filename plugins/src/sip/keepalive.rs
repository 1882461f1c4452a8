//! Keep-alives for registered accounts, as Janus's SIP plugin has Sofia send them
//! (`keepalive_interval`, 120 s by default): an OPTIONS to the registrar every interval
//! while the account is registered, through its outbound proxy, so a NAT on the way keeps
//! its binding open and a dead registrar is noticed in the log. The answers are not events.

use std::time::Duration;

use cardea_sip::dialog::{new_call_id, new_tag};
use cardea_sip::typed::{CSeq, CallId, From as FromHeader, MaxForwards, NameAddr, Route, To};
use cardea_sip::{Header, HeaderName, Method, Request};

use super::Session;
use crate::api::SipOut;
use crate::{Command, Ctx, HandleId};

/// Keep-alives awaiting their answer, per handle: at most this many are remembered.
const OUTSTANDING: usize = 4;

/// Sends the keep-alive when it is due, and schedules the next one.
pub fn handle_timeout(ctx: &mut Ctx, handle: HandleId, session: &mut Session, every: Duration) {
    let registered = session
        .account
        .as_ref()
        .is_some_and(|a| a.status() == "registered");
    if !registered {
        session.keepalive_at = None;
        return;
    }
    let Some(due) = session.keepalive_at else {
        session.keepalive_at = Some(ctx.now + every);
        return;
    };
    if due > ctx.now {
        return;
    }
    session.keepalive_at = Some(ctx.now + every);
    let Some(account) = session.account.as_ref() else {
        return;
    };
    let target = account
        .proxy
        .clone()
        .unwrap_or_else(|| account.identity.uri.clone());
    let call_id = new_call_id(&account.local.host.to_string());
    let mut r = Request::new(Method::Options, target.clone());
    r.headers.push_typed(&account.local.via());
    r.headers.push_typed(&MaxForwards(70));
    let routes: Vec<Route> = account.routes().into_iter().map(Route).collect();
    if !routes.is_empty() {
        r.headers.push(Header::new(HeaderName::Route, ""));
        r.headers.set_typed_list(&routes);
    }
    let mut from = account.identity.clone();
    from.set_tag(&new_tag());
    r.headers.push_typed(&FromHeader(from));
    r.headers.push_typed(&To(NameAddr::new(target)));
    r.headers.push_typed(&CallId(call_id.clone()));
    r.headers.push_typed(&CSeq {
        seq: 1,
        method: Method::Options,
    });
    if let Some(ua) = &account.local.user_agent {
        r.headers.push(Header::new(HeaderName::UserAgent, ua));
    }
    r.headers.push(Header::new(HeaderName::ContentLength, "0"));
    let destination = account
        .outbound_proxy
        .as_ref()
        .and_then(cardea_sip::proxy::destination_of);
    if session.keepalives.len() >= OUTSTANDING {
        session.keepalives.remove(0);
    }
    session.keepalives.push(call_id);
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Request {
            request: r,
            destination,
        },
    });
}

/// Whether a response or failure of `call_id` answers one of our keep-alives (then taken).
pub fn take(session: &mut Session, call_id: Option<&str>, code: u16) -> bool {
    let Some(id) = call_id else {
        return false;
    };
    let Some(i) = session.keepalives.iter().position(|k| k == id) else {
        return false;
    };
    if code >= 200 {
        session.keepalives.remove(i);
        if code == 408 || code == 503 {
            tracing::info!(code, "SIP keep-alive to the registrar went unanswered");
        }
    }
    true
}
