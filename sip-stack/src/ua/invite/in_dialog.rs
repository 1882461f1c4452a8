//! Requests inside the session's dialog, both ways: BYE (§15), re-INVITE (§14), UPDATE
//! (RFC 3311), INFO (RFC 6086), MESSAGE (RFC 3428), and the responses to ours (§12.2.1.2).

use std::time::Instant;

use bytes::Bytes;

use crate::dialog::Termination;
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::status::default_reason;
use crate::transaction::ServerKey;
use crate::typed::CSeq;

use super::super::local::ALLOW;
use super::super::UaError;
use super::uas::dialog_response;
use super::{
    content_type_of, set_body, InviteSession, Outgoing, SessionEvent, SessionState, Side, SDP,
};

impl InviteSession {
    /// A request from the peer in server transaction `key` (from a `Request` or `Cancel`
    /// transaction event). Requests outside the dialog get 481, a CSeq lower than the last
    /// one 500 (§12.2.2).
    pub fn handle_request(&mut self, now: Instant, key: ServerKey, request: Request) {
        match request.method {
            Method::Cancel => return self.on_cancel(key, &request),
            Method::Ack => return self.handle_ack(now, &request),
            _ => {}
        }
        let Some(dialog) = &mut self.dialog else {
            return self.respond_plain(key, &request, 481);
        };
        if let Err(e) = dialog.handle_request(&request) {
            return self.respond_plain(key, &request, e.status());
        }
        match request.method {
            Method::Prack => self.on_prack(now, key, &request),
            Method::Bye => self.on_bye(key, &request),
            Method::Invite => self.on_reinvite(key, request),
            Method::Info => {
                self.respond_plain(key, &request, 200);
                self.events.push_back(SessionEvent::Info {
                    content_type: content_type_of(&request.headers),
                    body: request.body,
                });
            }
            Method::Message => {
                self.respond_plain(key, &request, 200);
                self.events.push_back(SessionEvent::Message {
                    content_type: content_type_of(&request.headers),
                    body: request.body,
                });
            }
            Method::Refer => {
                let text = |name: &HeaderName| {
                    request
                        .headers
                        .get(name)
                        .and_then(|h| h.value_str().ok())
                        .map(str::to_owned)
                };
                // RFC 3515 §2.4.1: exactly one Refer-To, or 400.
                let Some(refer_to) = text(&HeaderName::ReferTo) else {
                    return self.respond_plain(key, &request, 400);
                };
                self.respond_plain(key, &request, 202);
                self.events.push_back(SessionEvent::Refer {
                    refer_to,
                    referred_by: text(&HeaderName::ReferredBy),
                });
            }
            Method::Notify => {
                let text = |name: &str| {
                    request
                        .headers
                        .get(&HeaderName::parse(name))
                        .and_then(|h| h.value_str().ok())
                        .map(str::to_owned)
                };
                self.respond_plain(key, &request, 200);
                self.events.push_back(SessionEvent::Notify {
                    event: text("Event"),
                    subscription_state: text("Subscription-State"),
                    content_type: content_type_of(&request.headers),
                    body: request.body,
                });
            }
            Method::Options => self.respond_plain(key, &request, 200),
            // UPDATE (RFC 3311) without a body refreshes the session (RFC 4028 §7); with an
            // offer it is answered as a re-INVITE is, but in its 200 and with no ACK.
            Method::Update if request.body.is_empty() => {
                self.respond_plain(key, &request, 200);
                self.timer_refreshed(now);
            }
            Method::Update => self.on_reinvite(key, request),
            _ => self.respond_plain(key, &request, 405),
        }
    }

    /// A response to a request we sent (from a `Response` transaction event).
    pub fn handle_response(&mut self, now: Instant, response: &Response) {
        let Some(cseq) = response.headers.typed::<CSeq>().ok().flatten() else {
            return;
        };
        let success = (200..300).contains(&response.status);
        match cseq.method {
            Method::Invite if self.initial_invite_seq() == Some(cseq.seq) => {
                let confirmed = self.state == SessionState::Confirmed;
                self.on_invite_response(response);
                if success && !confirmed && self.state == SessionState::Confirmed {
                    self.timer_on_2xx(now, response);
                }
            }
            Method::Invite => {
                let ours = self.reinvite_out.is_some();
                self.on_reinvite_response(cseq.seq, response);
                if success && ours && self.reinvite_out.is_none() {
                    self.timer_refreshed(now);
                }
            }
            Method::Cancel | Method::Ack => {}
            Method::Bye if response.status >= 200 => {
                if let Some(d) = &mut self.dialog {
                    d.terminate(Termination::LocalBye);
                }
                self.end(false, response.status, &response.reason);
            }
            _ => self.on_other_response(response),
        }
    }

    /// One of our requests failed in the transaction layer (timer B/F: 408, transport:
    /// 503), named by its method (§8.1.3.1, §12.2.1.2).
    pub fn handle_failure(&mut self, _now: Instant, method: &Method, code: u16) {
        let reason = default_reason(code);
        match method {
            Method::Invite if self.reinvite_out.take().is_some() => {
                self.events.push_back(SessionEvent::ReInviteFailed {
                    code,
                    reason: reason.to_owned(),
                });
            }
            Method::Invite if self.dialog.is_none() => {
                self.state = SessionState::Terminated {
                    by_remote: true,
                    code,
                    reason: reason.to_owned(),
                };
                self.events.push_back(SessionEvent::Failed {
                    code,
                    reason: reason.to_owned(),
                });
            }
            Method::Cancel | Method::Ack => {}
            _ => {
                if let Some(d) = &mut self.dialog {
                    d.terminate(Termination::Final(code));
                }
                self.end(method != &Method::Bye, code, reason);
            }
        }
    }

    /// Ends the call whatever its state: CANCEL before an answer (UAC), 486 (UAS), BYE
    /// once confirmed.
    pub fn hangup(&mut self) -> Result<(), UaError> {
        match (&self.side, &self.state) {
            (
                Side::Uac(_),
                SessionState::Calling | SessionState::Proceeding | SessionState::Early,
            ) => self.cancel(),
            (Side::Uas(_), SessionState::Proceeding | SessionState::Early) => {
                self.reject(486, None)
            }
            _ => self.bye(),
        }
    }

    /// Sends BYE in the confirmed dialog (§15.1.1); `Terminated { by_remote: false }`
    /// follows with the BYE's final response.
    pub fn bye(&mut self) -> Result<(), UaError> {
        if self.state != SessionState::Confirmed {
            return Err(self.invalid("bye"));
        }
        let Some(d) = &mut self.dialog else {
            return Err(self.invalid("bye"));
        };
        let bye = d.make_bye();
        d.terminate(Termination::LocalBye);
        self.pending_ack = None;
        self.outputs.push_back(Outgoing::Request(bye));
        self.state = SessionState::Terminating;
        Ok(())
    }

    /// Sends a re-INVITE with a new offer (hold: `a=sendonly`, unhold, new media) (§14.1).
    pub fn reinvite(&mut self, sdp: Bytes) -> Result<(), UaError> {
        if self.state != SessionState::Confirmed
            || self.reinvite_out.is_some()
            || self.reinvite_in.is_some()
        {
            return Err(self.invalid("reinvite"));
        }
        let Some(d) = &mut self.dialog else {
            return Err(self.invalid("reinvite"));
        };
        let mut r = d.make_request(Method::Invite);
        let mut body = Bytes::new();
        self.timer.last_sdp = Some(sdp.clone());
        set_body(&mut r.headers, &mut body, SDP, sdp);
        r.body = body;
        self.local.add_common(&mut r.headers);
        self.reinvite_out = Some(r.clone());
        self.outputs.push_back(Outgoing::Request(r));
        Ok(())
    }

    /// Accepts the peer's re-INVITE with our answer (§14.2).
    pub fn accept_reinvite(&mut self, now: Instant, sdp: Bytes) -> Result<(), UaError> {
        let (Some((key, request)), Some(d)) = (self.reinvite_in.take(), &self.dialog) else {
            return Err(self.invalid("accept_reinvite"));
        };
        let response = dialog_response(&request, d, 200, Some(sdp.clone()));
        self.outputs.push_back(Outgoing::Response {
            key,
            response: response.clone(),
        });
        if request.method == Method::Invite {
            // An UPDATE's 200 ends its exchange; a re-INVITE's waits for the ACK.
            self.await_ack(now, key, response);
        }
        // The peer's re-INVITE refreshed the session (RFC 4028 §10).
        self.timer.last_sdp = Some(sdp);
        self.timer_refreshed(now);
        Ok(())
    }

    /// Refuses the peer's re-INVITE (488 Not Acceptable Here for an unusable offer); the
    /// session goes on as before (§14.2).
    pub fn reject_reinvite(&mut self, status: u16) -> Result<(), UaError> {
        let Some((key, request)) = self.reinvite_in.take() else {
            return Err(self.invalid("reject_reinvite"));
        };
        self.respond_plain(key, &request, status.clamp(300, 699));
        Ok(())
    }

    /// Sends INFO (RFC 6086), e.g. `application/dtmf-relay` with `Signal=1\r\nDuration=160`.
    pub fn info(&mut self, content_type: &str, body: Bytes) -> Result<(), UaError> {
        self.send_in_dialog(Method::Info, content_type, body, "info")
    }

    /// Sends MESSAGE in the dialog (RFC 3428).
    pub fn message(&mut self, content_type: &str, body: Bytes) -> Result<(), UaError> {
        self.send_in_dialog(Method::Message, content_type, body, "message")
    }

    /// Sends REFER in the dialog (RFC 3515): the peer is asked to call `refer_to` (a URI,
    /// with `?Replaces=` for an attended transfer, RFC 3891).
    pub fn refer(&mut self, refer_to: &str) -> Result<(), UaError> {
        if self.state != SessionState::Confirmed {
            return Err(self.invalid("refer"));
        }
        let Some(d) = &mut self.dialog else {
            return Err(self.invalid("refer"));
        };
        let mut r = d.make_request(Method::Refer);
        let at = r
            .headers
            .iter()
            .position(|h| *h.name() == HeaderName::ContentLength)
            .unwrap_or(r.headers.len());
        r.headers.insert(
            at,
            Header::new(HeaderName::ReferTo, &format!("<{refer_to}>")),
        );
        let from = d.local_uri().uri.to_string();
        r.headers.insert(
            at + 1,
            Header::new(HeaderName::ReferredBy, &format!("<{from}>")),
        );
        self.local.add_common(&mut r.headers);
        self.outputs.push_back(Outgoing::Request(r));
        Ok(())
    }

    fn send_in_dialog(
        &mut self,
        method: Method,
        content_type: &str,
        body: Bytes,
        verb: &'static str,
    ) -> Result<(), UaError> {
        if self.state != SessionState::Confirmed {
            return Err(self.invalid(verb));
        }
        let Some(d) = &mut self.dialog else {
            return Err(self.invalid(verb));
        };
        let mut r = d.make_request(method);
        let mut b = Bytes::new();
        set_body(&mut r.headers, &mut b, content_type, body);
        r.body = b;
        self.outputs.push_back(Outgoing::Request(r));
        Ok(())
    }

    fn on_bye(&mut self, key: ServerKey, request: &Request) {
        self.respond_plain(key, request, 200);
        self.pending_ack = None;
        // §15.1.2: a BYE before our final response ends the INVITE with 487.
        if let Side::Uas(u) = &mut self.side {
            if !u.answered {
                u.answered = true;
                let mut r = u.invite.make_response(487);
                if let Some(d) = &self.dialog {
                    let _ = r.set_to_tag(&d.id().local_tag);
                }
                self.outputs.push_back(Outgoing::Response {
                    key: u.invite_key,
                    response: r,
                });
            }
        }
        self.end(true, 200, "Session Terminated");
    }

    fn on_reinvite(&mut self, key: ServerKey, request: Request) {
        if self.reinvite_out.is_some() {
            // §14.2: our own re-INVITE is pending: glare.
            return self.respond_plain(key, &request, 491);
        }
        if self.reinvite_in.is_some() {
            let mut r = request.make_response(500);
            r.headers.push(Header::new(HeaderName::RetryAfter, "1"));
            return self
                .outputs
                .push_back(Outgoing::Response { key, response: r });
        }
        let sdp = request.body.clone();
        self.reinvite_in = Some((key, request));
        self.events.push_back(SessionEvent::ReInvite { sdp });
    }

    fn on_reinvite_response(&mut self, seq: u32, response: &Response) {
        if response.status >= 200 && response.status < 300 {
            if let Some((acked, ack)) = &self.last_ack {
                if *acked == seq {
                    return self.outputs.push_back(Outgoing::Stateless(ack.clone()));
                }
            }
        }
        let pending = self.reinvite_out.as_ref().and_then(|r| {
            r.headers
                .typed::<CSeq>()
                .ok()
                .flatten()
                .filter(|c| c.seq == seq)
                .map(|_| r.clone())
        });
        let (Some(invite), Some(d)) = (pending, &mut self.dialog) else {
            return;
        };
        if response.status < 200 {
            return;
        }
        self.reinvite_out = None;
        let _ = d.handle_response(response);
        if (200..300).contains(&response.status) {
            let ack = d.make_ack(&invite);
            self.last_ack = Some((seq, ack.clone()));
            self.outputs.push_back(Outgoing::Stateless(ack));
            self.events.push_back(SessionEvent::ReInviteAnswered {
                sdp: response.body.clone(),
            });
            return;
        }
        let terminated = d.is_terminated();
        self.events.push_back(SessionEvent::ReInviteFailed {
            code: response.status,
            reason: response.reason.clone(),
        });
        if terminated {
            self.end(true, response.status, &response.reason);
        }
    }

    /// INFO, MESSAGE…: only a 481 or 408 matters, it ends the dialog (§12.2.1.2).
    fn on_other_response(&mut self, response: &Response) {
        let Some(d) = &mut self.dialog else {
            return;
        };
        let _ = d.handle_response(response);
        if d.is_terminated() && self.state == SessionState::Confirmed {
            self.end(true, response.status, &response.reason);
        }
    }

    /// A response without body; 405 lists what we allow (§8.2.1).
    pub(super) fn respond_plain(&mut self, key: ServerKey, request: &Request, status: u16) {
        let mut r = request.make_response(status);
        if status == 405 {
            r.headers.push(Header::new(HeaderName::Allow, ALLOW));
        }
        self.outputs
            .push_back(Outgoing::Response { key, response: r });
    }
}
