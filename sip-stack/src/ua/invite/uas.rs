//! The callee's side: the INVITE we answer, provisionals, 2xx and its ACK, rejection,
//! and the peer's CANCEL (RFC 3261 §13.3, §9.2).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::dialog::{new_tag, Dialog, Termination};
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::ServerKey;
use crate::typed::{Contact, RAck};

use super::super::UaError;
use super::{
    set_body, AnswerConfig, InviteSession, Outgoing, SessionState, Side, Uas, Unacked, SDP,
};

impl InviteSession {
    /// A new incoming call: `request` is the INVITE of server transaction `key`. The dialog
    /// is created at once with a fresh local tag (§12.1.1), early until we answer. Nothing
    /// is sent: ring with [`InviteSession::provisional`], then answer or reject. An error
    /// means the INVITE cannot start a dialog: answer it 400 directly.
    pub fn incoming(
        key: ServerKey,
        request: Request,
        config: AnswerConfig,
    ) -> Result<InviteSession, UaError> {
        if request.method != Method::Invite {
            return Err(UaError::NotInvite);
        }
        let dialog = Dialog::uas(&request, &new_tag(), config.contact, config.local.via())?;
        let call_id = dialog.id().call_id.clone();
        let reliable = request
            .headers
            .get_all(&HeaderName::Require)
            .filter_map(|h| h.value_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("100rel"));
        let uas = Uas {
            invite_key: key,
            invite: request,
            answered: false,
            reliable,
            next_rseq: rand::random::<u32>() % (1 << 31) + 1,
            unacked: None,
            queued: VecDeque::new(),
        };
        let mut s = InviteSession::with_side(
            Side::Uas(Box::new(uas)),
            config.local,
            config.timers,
            call_id,
        );
        s.dialog = Some(dialog);
        Ok(s)
    }

    /// Sends a provisional response (180 Ringing, 183 Session Progress with early media
    /// SDP…) with our To tag, making the dialog early (§13.3.1.1).
    ///
    /// When the caller requires it (`Require: 100rel`), the provisional is sent reliably
    /// (RFC 3262 §3): with `Require: 100rel` and an `RSeq`, retransmitted until the PRACK
    /// comes (the call is rejected 504 after 64·T1 without one); a further provisional waits
    /// for the PRACK of the one before.
    pub fn provisional(
        &mut self,
        now: Instant,
        status: u16,
        sdp: Option<Bytes>,
    ) -> Result<(), UaError> {
        if !(101..=199).contains(&status) {
            return Err(self.invalid("provisional"));
        }
        let key = self.unanswered("provisional")?;
        let (reliable, waiting) = match &self.side {
            Side::Uas(u) => (u.reliable, u.unacked.is_some()),
            Side::Uac(_) => (false, false),
        };
        if reliable && waiting {
            if let Side::Uas(u) = &mut self.side {
                u.queued.push_back((status, sdp));
            }
            self.state = SessionState::Early;
            return Ok(());
        }
        let mut response = self.invite_response(status, sdp)?;
        if reliable {
            self.send_reliably(now, &mut response);
        }
        self.outputs.push_back(Outgoing::Response { key, response });
        self.state = SessionState::Early;
        Ok(())
    }

    /// Makes `response` reliable (Require: 100rel, RSeq) and keeps it for retransmission.
    fn send_reliably(&mut self, now: Instant, response: &mut Response) {
        let t1 = self.timers.t1;
        let reliable_transport = self.local.is_reliable();
        let Side::Uas(u) = &mut self.side else {
            return;
        };
        let rseq = u.next_rseq;
        u.next_rseq = u.next_rseq.wrapping_add(1);
        let at = response
            .headers
            .iter()
            .position(|h| *h.name() == HeaderName::ContentLength)
            .unwrap_or(response.headers.len());
        response
            .headers
            .insert(at, Header::new(HeaderName::Require, "100rel"));
        response
            .headers
            .insert(at + 1, Header::new(HeaderName::RSeq, &rseq.to_string()));
        u.unacked = Some(Unacked {
            rseq,
            response: response.clone(),
            next: (!reliable_transport).then_some(now + t1),
            interval: t1,
            give_up: now + t1 * 64,
        });
    }

    /// A PRACK in the early dialog (RFC 3262 §3): 200 when its RAck names our reliable
    /// provisional in flight (the next queued one goes out then), 481 otherwise.
    pub(super) fn on_prack(&mut self, now: Instant, key: ServerKey, request: &Request) {
        let rack = request.headers.typed::<RAck>().ok().flatten();
        let Side::Uas(u) = &mut self.side else {
            return self.respond_plain(key, request, 481);
        };
        let invite_cseq = u
            .invite
            .headers
            .typed::<crate::typed::CSeq>()
            .ok()
            .flatten()
            .map(|c| c.seq);
        let matches = match (&u.unacked, rack) {
            (Some(p), Some(r)) => {
                r.rseq == p.rseq && Some(r.cseq) == invite_cseq && r.method == Method::Invite
            }
            _ => false,
        };
        if !matches {
            return self.respond_plain(key, request, 481);
        }
        u.unacked = None;
        let next = u.queued.pop_front();
        self.respond_plain(key, request, 200);
        if let Some((status, sdp)) = next {
            let _ = self.provisional(now, status, sdp);
        }
    }

    /// Retransmits the reliable provisional in flight; without a PRACK for 64·T1, rejects
    /// the call (RFC 3262 §3: a 5xx).
    pub(super) fn prack_timeout(&mut self, now: Instant) {
        let t2 = self.timers.t2;
        let Side::Uas(u) = &mut self.side else {
            return;
        };
        let invite_key = u.invite_key;
        let Some(p) = &mut u.unacked else {
            return;
        };
        if now >= p.give_up {
            u.unacked = None;
            u.queued.clear();
            let _ = self.reject(504, Some("Server Time-out - no PRACK"));
            return;
        }
        if p.next.is_some_and(|n| now >= n) {
            p.interval = (p.interval * 2).min(t2);
            p.next = Some(now + p.interval);
            self.outputs.push_back(Outgoing::Response {
                key: invite_key,
                response: p.response.clone(),
            });
        }
    }

    /// 180 Ringing, as Janus's SIP plugin sends on every incoming INVITE.
    pub fn ring(&mut self, now: Instant) -> Result<(), UaError> {
        self.provisional(now, 180, None)
    }

    /// Answers 200 with our SDP (§13.3.1.4): the dialog is confirmed and the 2xx is
    /// retransmitted until the ACK comes.
    pub fn answer(&mut self, now: Instant, sdp: Bytes) -> Result<(), UaError> {
        let key = self.unanswered("answer")?;
        let mut response = self.invite_response(200, Some(sdp))?;
        if let Side::Uas(u) = &self.side {
            let invite = u.invite.clone();
            self.timer_on_answer(now, &invite, &mut response);
        }
        if let Side::Uas(u) = &mut self.side {
            u.answered = true;
            u.unacked = None;
            u.queued.clear();
        }
        if let Some(d) = &mut self.dialog {
            d.confirm();
        }
        self.outputs.push_back(Outgoing::Response {
            key,
            response: response.clone(),
        });
        self.await_ack(now, key, response);
        self.state = SessionState::Confirmed;
        Ok(())
    }

    /// Rejects the call with a final `status` ≥ 300 (§13.3.1.3); the session ends with
    /// `Terminated { by_remote: false }`.
    pub fn reject(&mut self, status: u16, reason: Option<&str>) -> Result<(), UaError> {
        if !(300..=699).contains(&status) {
            return Err(self.invalid("reject"));
        }
        let key = self.unanswered("reject")?;
        let Side::Uas(u) = &mut self.side else {
            return Err(self.invalid("reject"));
        };
        u.answered = true;
        u.unacked = None;
        u.queued.clear();
        let mut response = match reason {
            Some(r) => u.invite.make_response_with_reason(status, r),
            None => u.invite.make_response(status),
        };
        if let Some(d) = &mut self.dialog {
            let _ = response.set_to_tag(&d.id().local_tag);
            d.terminate(Termination::Final(status));
        }
        let reason = response.reason.clone();
        self.outputs.push_back(Outgoing::Response { key, response });
        self.end(false, status, &reason);
        Ok(())
    }

    /// The peer's CANCEL in server transaction `key` (§9.2): 200 to the CANCEL and, while
    /// unanswered, 487 to the INVITE; the session ends.
    pub(super) fn on_cancel(&mut self, key: ServerKey, request: &Request) {
        self.outputs.push_back(Outgoing::Response {
            key,
            response: request.make_response(200),
        });
        let Ok(invite_key) = self.unanswered("cancel") else {
            return;
        };
        let Ok(response) = self.invite_response(487, None) else {
            return;
        };
        if let Side::Uas(u) = &mut self.side {
            u.answered = true;
        }
        if let Some(d) = &mut self.dialog {
            d.terminate(Termination::Final(487));
        }
        let reason = response.reason.clone();
        self.outputs.push_back(Outgoing::Response {
            key: invite_key,
            response,
        });
        self.end(true, 487, &reason);
    }

    /// The ACK for our 2xx (§13.3.1.4): stop retransmitting it.
    pub fn handle_ack(&mut self, _now: Instant, request: &Request) {
        let Some(d) = &mut self.dialog else {
            return;
        };
        if d.handle_request(request).is_ok() {
            self.pending_ack = None;
        }
    }

    /// The initial INVITE's server transaction while no final response was sent.
    fn unanswered(&self, verb: &'static str) -> Result<ServerKey, UaError> {
        match &self.side {
            Side::Uas(u) if !u.answered && !self.is_over() => Ok(u.invite_key),
            _ => Err(self.invalid(verb)),
        }
    }

    pub(super) fn invalid(&self, verb: &'static str) -> UaError {
        UaError::InvalidState {
            verb,
            state: self.state.name(),
        }
    }

    /// A response to the initial INVITE with our To tag; 101–299 also carry our Contact
    /// and the request's Record-Route (§12.1.1).
    fn invite_response(&self, status: u16, sdp: Option<Bytes>) -> Result<Response, UaError> {
        let (Side::Uas(u), Some(d)) = (&self.side, &self.dialog) else {
            return Err(self.invalid("respond"));
        };
        Ok(dialog_response(&u.invite, d, status, sdp))
    }
}

/// A response to `request` in dialog `d`: To tag, and for 101–299 our Contact and the
/// request's Record-Route (§12.1.1), and the SDP when given.
pub(super) fn dialog_response(
    request: &Request,
    d: &Dialog,
    status: u16,
    sdp: Option<Bytes>,
) -> Response {
    let mut r = request.make_response(status);
    let _ = r.set_to_tag(&d.id().local_tag);
    if (101..=299).contains(&status) {
        let at = r
            .headers
            .iter()
            .position(|h| *h.name() == HeaderName::ContentLength)
            .unwrap_or(r.headers.len());
        for (i, h) in request
            .headers
            .get_all(&HeaderName::RecordRoute)
            .enumerate()
        {
            r.headers.insert(at + i, h.clone());
        }
        r.headers
            .push_typed(&Contact::Address(d.local_contact().clone()));
    }
    if let Some(sdp) = sdp {
        let mut body = Bytes::new();
        set_body(&mut r.headers, &mut body, SDP, sdp);
        r.body = body;
    }
    r
}
