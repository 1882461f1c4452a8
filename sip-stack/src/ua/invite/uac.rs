//! The caller's side: INVITE, digest retry, provisionals and forks, 2xx and its ACK,
//! CANCEL (RFC 3261 §13.2, §9.1, §22.2).

use bytes::Bytes;

use crate::auth::{AuthStep, ClientAuth};
use crate::dialog::{new_branch, new_call_id, new_tag, DialogSet, Termination};
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::Timers;
use crate::typed::{CSeq, CallId, Contact, From, MaxForwards, Route, To, Via};
use crate::ua::UaError;

use super::{
    sdp_of, set_body, CallConfig, Cancel, InviteSession, Outgoing, SessionEvent, SessionState,
    Side, Uac, SDP,
};

impl InviteSession {
    /// Starts a call: builds the INVITE with `sdp` as offer (§13.2.1) and queues it.
    pub fn call(config: CallConfig, sdp: Bytes) -> InviteSession {
        let call_id = new_call_id(&config.local.host.to_string());
        let mut invite = build_invite(&config, &call_id, sdp);
        let mut auth = config.credentials.clone().map(ClientAuth::new);
        if let Some(a) = &mut auth {
            a.authorize(&mut invite, &mut rand::rng());
        }
        let uac = Uac {
            invite: invite.clone(),
            dialogs: DialogSet::new(),
            auth,
            provisional_seen: false,
            cancel: Cancel::No,
            acked_rseq: None,
        };
        let mut s = InviteSession::with_side(
            Side::Uac(Box::new(uac)),
            config.local,
            Timers::default(),
            call_id,
        );
        s.state = SessionState::Calling;
        s.outputs.push_back(Outgoing::Request(invite));
        s
    }

    /// Cancels our unanswered INVITE (§9.1). The CANCEL waits for a provisional response
    /// if none has come yet. The outcome is a 487 (reported as `Terminated`), or a 2xx that
    /// crossed the CANCEL, which is ACKed and ended with BYE.
    pub fn cancel(&mut self) -> Result<(), UaError> {
        let state = self.state.name();
        let Side::Uac(uac) = &mut self.side else {
            return Err(UaError::InvalidState {
                verb: "cancel",
                state,
            });
        };
        if !matches!(
            self.state,
            SessionState::Calling | SessionState::Proceeding | SessionState::Early
        ) || uac.cancel != Cancel::No
        {
            return Err(UaError::InvalidState {
                verb: "cancel",
                state,
            });
        }
        if uac.provisional_seen {
            uac.cancel = Cancel::Sent;
            self.outputs
                .push_back(Outgoing::Request(uac.invite.make_cancel()));
        } else {
            uac.cancel = Cancel::Wanted;
        }
        self.state = SessionState::Terminating;
        Ok(())
    }

    /// A response to our initial INVITE (any CSeq it was sent with).
    pub(super) fn on_invite_response(&mut self, response: &Response) {
        let Side::Uac(uac) = &mut self.side else {
            return;
        };
        let status = response.status;
        if status < 200 {
            uac.provisional_seen = true;
            if uac.cancel == Cancel::Wanted {
                uac.cancel = Cancel::Sent;
                self.outputs
                    .push_back(Outgoing::Request(uac.invite.make_cancel()));
            }
            let rseq = reliable_provisional(response);
            if rseq.is_some_and(|r| uac.acked_rseq.is_some_and(|last| r <= last)) {
                // A retransmitted reliable provisional: already handled (RFC 3262 §4).
                return;
            }
            let prack = rseq;
            let early = match uac.dialogs.handle_response(&uac.invite, response) {
                Ok(Some(dialog)) => {
                    // RFC 3262 §4: a reliable provisional is acknowledged with PRACK in its
                    // early dialog; retransmissions (same or older RSeq) are not.
                    if let Some(rseq) = prack {
                        uac.acked_rseq = Some(rseq);
                        let cseq = uac
                            .invite
                            .headers
                            .typed::<CSeq>()
                            .ok()
                            .flatten()
                            .map_or(1, |c| c.seq);
                        let mut r = dialog.make_request(Method::Prack);
                        let at = r
                            .headers
                            .iter()
                            .position(|h| *h.name() == HeaderName::ContentLength)
                            .unwrap_or(r.headers.len());
                        let rack = format!("{rseq} {cseq} INVITE");
                        r.headers.insert(at, Header::new(HeaderName::RAck, &rack));
                        self.outputs.push_back(Outgoing::Request(r));
                    }
                    true
                }
                _ => false,
            };
            if prack.is_some() && !early {
                return;
            }
            if uac.cancel != Cancel::No || self.dialog.is_some() {
                return;
            }
            if early {
                self.state = SessionState::Early;
            } else if self.state == SessionState::Calling {
                self.state = SessionState::Proceeding;
            }
            match status {
                180..=182 => self.events.push_back(SessionEvent::Ringing),
                183 => self.events.push_back(SessionEvent::Progress {
                    sdp: sdp_of(&response.body),
                }),
                _ => {}
            }
            return;
        }
        if status < 300 {
            return self.on_invite_2xx(response);
        }
        if self.dialog.is_some() {
            return; // a late error after a 2xx: the transaction already ACKed it.
        }
        if let Some(auth) = &mut uac.auth {
            match auth.on_response(response) {
                AuthStep::Retry if uac.cancel == Cancel::No => {
                    let invite = retry_invite(&uac.invite, auth);
                    uac.invite = invite.clone();
                    uac.provisional_seen = false;
                    uac.dialogs.clear();
                    self.state = SessionState::Calling;
                    self.outputs.push_back(Outgoing::Request(invite));
                    return;
                }
                _ => {}
            }
        }
        uac.dialogs.terminate_early(Termination::Final(status));
        let cancelled = uac.cancel != Cancel::No;
        if cancelled {
            self.end(false, status, &response.reason);
        } else {
            self.state = SessionState::Terminated {
                by_remote: true,
                code: status,
                reason: response.reason.clone(),
            };
            self.events.push_back(SessionEvent::Failed {
                code: status,
                reason: response.reason.clone(),
            });
        }
    }

    /// §13.2.2.4: ACK every 2xx; the first confirms the session's dialog, a 2xx from
    /// another fork is ACKed and ended with BYE, a retransmission gets the same ACK again.
    fn on_invite_2xx(&mut self, response: &Response) {
        let Side::Uac(uac) = &mut self.side else {
            return;
        };
        if let Some(auth) = &mut uac.auth {
            auth.on_response(response);
        }
        let cseq = response
            .headers
            .typed::<CSeq>()
            .ok()
            .flatten()
            .map(|c| c.seq);
        let Ok(Some(dialog)) = uac.dialogs.handle_response(&uac.invite, response) else {
            return;
        };
        let remote_tag = dialog.id().remote_tag.clone();
        if let Some(current) = &self.dialog {
            if current.id().remote_tag == remote_tag {
                if let Some((seq, ack)) = &self.last_ack {
                    if Some(*seq) == cseq {
                        self.outputs.push_back(Outgoing::Stateless(ack.clone()));
                    }
                }
                return;
            }
            if let Some(mut other) = uac.dialogs.take(&remote_tag) {
                let ack = other.make_ack(&uac.invite);
                self.outputs.push_back(Outgoing::Stateless(ack));
                let bye = other.make_bye();
                self.outputs.push_back(Outgoing::Request(bye));
            }
            return;
        }
        let Some(mut dialog) = uac.dialogs.take(&remote_tag) else {
            return;
        };
        let ack = dialog.make_ack(&uac.invite);
        self.last_ack = Some((cseq.unwrap_or_default(), ack.clone()));
        self.outputs.push_back(Outgoing::Stateless(ack));
        uac.dialogs.terminate_early(Termination::Superseded);
        if uac.cancel != Cancel::No {
            // The 2xx crossed our CANCEL: the call must still be ended (§9.1, §15).
            let bye = dialog.make_bye();
            dialog.terminate(Termination::LocalBye);
            self.outputs.push_back(Outgoing::Request(bye));
            self.dialog = Some(dialog);
            self.state = SessionState::Terminating;
            return;
        }
        self.dialog = Some(dialog);
        self.state = SessionState::Confirmed;
        self.events.push_back(SessionEvent::Answered {
            sdp: response.body.clone(),
        });
    }

    /// The CSeq number of our initial INVITE as last sent.
    pub(super) fn initial_invite_seq(&self) -> Option<u32> {
        match &self.side {
            Side::Uac(u) => u
                .invite
                .headers
                .typed::<CSeq>()
                .ok()
                .flatten()
                .map(|c| c.seq),
            Side::Uas(_) => None,
        }
    }
}

/// The initial INVITE (§8.1.1, §13.2.1).
fn build_invite(config: &CallConfig, call_id: &str, sdp: Bytes) -> Request {
    let target = config
        .target
        .clone()
        .unwrap_or_else(|| config.to.uri.clone());
    let mut r = Request::new(Method::Invite, target);
    let mut via = config.local.via();
    // Our own branch, so that the CANCEL built from this request matches it (§9.1).
    via.params.set("branch", Some(&new_branch()));
    r.headers.push_typed(&via);
    r.headers.push_typed(&MaxForwards(70));
    if !config.routes.is_empty() {
        let routes: Vec<Route> = config.routes.iter().cloned().map(Route).collect();
        r.headers.push(Header::new(HeaderName::Route, ""));
        r.headers.set_typed_list(&routes);
    }
    let mut from = config.from.clone();
    from.set_tag(&new_tag());
    r.headers.push_typed(&From(from));
    let mut to = config.to.clone();
    to.params.remove("tag");
    r.headers.push_typed(&To(to));
    r.headers.push_typed(&CallId(call_id.to_owned()));
    r.headers.push_typed(&CSeq {
        seq: 1,
        method: Method::Invite,
    });
    r.headers
        .push_typed(&Contact::Address(config.contact.clone()));
    // We acknowledge reliable provisionals (RFC 3262); session timers add `timer`.
    r.headers.push(Header::new(HeaderName::Supported, "100rel"));
    r.headers.push(Header::new(HeaderName::ContentLength, "0"));
    config.local.add_common(&mut r.headers);
    let mut body = Bytes::new();
    set_body(&mut r.headers, &mut body, SDP, sdp);
    r.body = body;
    r
}

/// The INVITE again after a challenge (§22.2): next CSeq, new branch, credentials.
fn retry_invite(previous: &Request, auth: &mut ClientAuth) -> Request {
    let mut r = previous.clone();
    if let Ok(Some(c)) = r.headers.typed::<CSeq>() {
        r.headers.set_typed(&CSeq {
            seq: c.seq.wrapping_add(1),
            method: c.method,
        });
    }
    if let Ok(Some(mut via)) = r.headers.typed::<Via>() {
        via.params.set("branch", Some(&new_branch()));
        r.headers.set_typed(&via);
    }
    auth.authorize(&mut r, &mut rand::rng());
    r
}

/// The RSeq of a reliable provisional response (RFC 3262 §7.1: `Require: 100rel`).
fn reliable_provisional(response: &Response) -> Option<u32> {
    let required = response
        .headers
        .get_all(&HeaderName::Require)
        .filter_map(|h| h.value_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("100rel"));
    if !required || response.status == 100 {
        return None;
    }
    response
        .headers
        .typed::<crate::typed::RSeq>()
        .ok()
        .flatten()
        .map(|r| r.0)
}
