//! One INVITE session (RFC 3261 §13–§15), UAC or UAS, sans-IO. See the
//! [`crate::ua`] docs for the driving contract.

mod event;
mod in_dialog;
mod timer;
mod uac;
mod uas;

pub use event::{Outgoing, SessionEvent};

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::auth::{ClientAuth, ClientCredentials};
use crate::dialog::{Dialog, DialogSet, Role};
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::transaction::{ServerKey, Timers};
use crate::typed::{ContentType, NameAddr};
use crate::uri::Uri;
use crate::Headers;

use super::local::Local;

/// What an outgoing call needs.
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub local: Local,
    /// Who we are (From), display name included.
    pub from: NameAddr,
    /// Whom we call (To).
    pub to: NameAddr,
    /// The Request-URI; `None` uses the To URI.
    pub target: Option<Uri>,
    pub contact: NameAddr,
    /// A pre-loaded route set (an outbound proxy, §8.1.2), in visiting order.
    pub routes: Vec<NameAddr>,
    pub credentials: Option<ClientCredentials>,
}

/// What answering an incoming call needs.
#[derive(Debug, Clone)]
pub struct AnswerConfig {
    pub local: Local,
    pub contact: NameAddr,
    /// T1 and T2 pace the retransmission of our 2xx (§13.3.1.4).
    pub timers: Timers,
}

/// Where the session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// UAC: INVITE sent, nothing heard yet.
    Calling,
    /// UAC: a provisional without dialog came. UAS: the INVITE is waiting for us.
    Proceeding,
    /// An early dialog exists (a 1xx with To tag was received or sent).
    Early,
    /// A 2xx was received or sent.
    Confirmed,
    /// We sent CANCEL or BYE and wait for its outcome.
    Terminating,
    Terminated {
        by_remote: bool,
        code: u16,
        reason: String,
    },
}

impl SessionState {
    pub fn name(&self) -> &'static str {
        match self {
            SessionState::Calling => "calling",
            SessionState::Proceeding => "proceeding",
            SessionState::Early => "early",
            SessionState::Confirmed => "confirmed",
            SessionState::Terminating => "terminating",
            SessionState::Terminated { .. } => "terminated",
        }
    }
}

/// A CANCEL we owe or sent (§9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    No,
    /// Asked before any provisional: sent when one arrives.
    Wanted,
    Sent,
}

/// The caller's side of the initial INVITE.
#[derive(Debug)]
struct Uac {
    /// The INVITE as last sent (its branch is set, so the CANCEL matches it).
    invite: Request,
    dialogs: DialogSet,
    auth: Option<ClientAuth>,
    provisional_seen: bool,
    cancel: Cancel,
    /// The RSeq of the last reliable provisional we PRACKed (RFC 3262 §4).
    acked_rseq: Option<u32>,
}

/// The callee's side of the initial INVITE.
#[derive(Debug)]
struct Uas {
    invite_key: ServerKey,
    invite: Request,
    /// A final response was sent.
    answered: bool,
    /// The caller requires reliable provisionals (RFC 3262: `Require: 100rel`).
    reliable: bool,
    /// The RSeq of our next reliable provisional.
    next_rseq: u32,
    /// The reliable provisional awaiting its PRACK, retransmitted until then.
    unacked: Option<Unacked>,
    /// Provisionals asked for while one is unacknowledged (RFC 3262 §3: one at a time).
    queued: VecDeque<(u16, Option<Bytes>)>,
}

/// A reliable provisional in flight (RFC 3262 §3).
#[derive(Debug)]
struct Unacked {
    rseq: u32,
    response: Response,
    next: Option<Instant>,
    interval: Duration,
    give_up: Instant,
}

#[derive(Debug)]
enum Side {
    Uac(Box<Uac>),
    Uas(Box<Uas>),
}

/// Our 2xx to an INVITE, retransmitted until the ACK (§13.3.1.4).
#[derive(Debug)]
struct PendingAck {
    key: ServerKey,
    response: Response,
    /// `None` on reliable transports: only the give-up timer runs.
    next: Option<Instant>,
    interval: Duration,
    give_up: Instant,
}

/// One call. See the [module docs](self).
#[derive(Debug)]
pub struct InviteSession {
    side: Side,
    state: SessionState,
    local: Local,
    timers: Timers,
    call_id: String,
    /// The dialog the session lives in: set when a 2xx confirms one (UAC) or at once
    /// (UAS, early until we answer).
    dialog: Option<Dialog>,
    /// Our re-INVITE awaiting its final response.
    reinvite_out: Option<Request>,
    /// The peer's re-INVITE awaiting our answer.
    reinvite_in: Option<(ServerKey, Request)>,
    /// The ACK we sent for the 2xx to INVITE CSeq `.0`, resent for each retransmitted 2xx.
    last_ack: Option<(u32, Request)>,
    pending_ack: Option<PendingAck>,
    outputs: VecDeque<Outgoing>,
    events: VecDeque<SessionEvent>,
    /// Session timers (RFC 4028), when enabled.
    timer: timer::SessionTimer,
}

impl InviteSession {
    fn with_side(side: Side, local: Local, timers: Timers, call_id: String) -> InviteSession {
        InviteSession {
            side,
            state: SessionState::Proceeding,
            local,
            timers,
            call_id,
            dialog: None,
            reinvite_out: None,
            reinvite_in: None,
            last_ack: None,
            pending_ack: None,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            timer: timer::SessionTimer::default(),
        }
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    pub fn role(&self) -> Role {
        match self.side {
            Side::Uac(_) => Role::Uac,
            Side::Uas(_) => Role::Uas,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The session's dialog, once it has one.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// UAC: the early dialogs of the INVITE, one per answering fork (§12.1.2).
    pub fn early_dialogs(&self) -> impl Iterator<Item = &Dialog> {
        let set = match &self.side {
            Side::Uac(u) => Some(&u.dialogs),
            Side::Uas(_) => None,
        };
        set.into_iter().flat_map(DialogSet::early)
    }

    /// The SDP offer of the INVITE we received (UAS).
    pub fn remote_offer(&self) -> Option<&Bytes> {
        match &self.side {
            Side::Uas(u) => Some(&u.invite.body),
            Side::Uac(_) => None,
        }
    }

    /// Changes our Contact for the next target refresh (re-INVITE), §12.2.1.1.
    pub fn set_local_contact(&mut self, contact: NameAddr) {
        if let Some(d) = &mut self.dialog {
            d.set_local_contact(contact);
        }
    }

    pub fn poll_output(&mut self) -> Option<Outgoing> {
        self.outputs.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        let ack = self
            .pending_ack
            .as_ref()
            .map(|p| p.next.map_or(p.give_up, |n| n.min(p.give_up)));
        let prack = match &self.side {
            Side::Uas(u) => u
                .unacked
                .as_ref()
                .map(|r| r.next.map_or(r.give_up, |n| n.min(r.give_up))),
            Side::Uac(_) => None,
        };
        [ack, prack, self.timer_next()].into_iter().flatten().min()
    }

    /// Retransmits our 2xx while no ACK comes; gives up after 64·T1 with a BYE
    /// (§13.3.1.4).
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.is_over() && self.state == SessionState::Confirmed {
            self.timer_fire(now);
        }
        self.prack_timeout(now);
        let Some(p) = &mut self.pending_ack else {
            return;
        };
        if now >= p.give_up {
            self.pending_ack = None;
            self.end(false, 408, "ACK Timeout");
            if let Some(d) = &mut self.dialog {
                let bye = d.make_bye();
                self.outputs.push_back(Outgoing::Request(bye));
            }
            return;
        }
        if let Some(next) = p.next {
            if now >= next {
                p.interval = (p.interval * 2).min(self.timers.t2);
                p.next = Some(now + p.interval);
                self.outputs.push_back(Outgoing::Response {
                    key: p.key,
                    response: p.response.clone(),
                });
            }
        }
    }

    fn is_over(&self) -> bool {
        matches!(self.state, SessionState::Terminated { .. })
    }

    /// Enters Terminated and tells the caller, once.
    fn end(&mut self, by_remote: bool, code: u16, reason: &str) {
        if self.is_over() {
            return;
        }
        self.state = SessionState::Terminated {
            by_remote,
            code,
            reason: reason.to_owned(),
        };
        self.events.push_back(SessionEvent::Terminated {
            by_remote,
            code,
            reason: reason.to_owned(),
        });
    }

    /// Our 2xx went out on `key`: retransmit it until the ACK (§13.3.1.4, §17.2.1 leaves it
    /// to the TU).
    fn await_ack(&mut self, now: Instant, key: ServerKey, response: Response) {
        let t1 = self.timers.t1;
        self.pending_ack = Some(PendingAck {
            key,
            response,
            next: (!self.local.is_reliable()).then_some(now + t1),
            interval: t1,
            give_up: now + t1 * 64,
        });
    }
}

/// Replaces the body of a message and its Content-Type and Content-Length.
pub(crate) fn set_body(headers: &mut Headers, body: &mut Bytes, content_type: &str, new: Bytes) {
    headers.remove_all(&HeaderName::ContentType);
    let at = headers
        .remove_all(&HeaderName::ContentLength)
        .unwrap_or(headers.len());
    if !new.is_empty() {
        headers.insert(at, Header::new(HeaderName::ContentType, content_type));
    }
    let at = (at + usize::from(!new.is_empty())).min(headers.len());
    headers.insert(
        at,
        Header::new(HeaderName::ContentLength, &new.len().to_string()),
    );
    *body = new;
}

pub(crate) const SDP: &str = "application/sdp";

/// The Content-Type of a message, as text.
fn content_type_of(headers: &Headers) -> Option<String> {
    headers.typed::<ContentType>().ok().flatten().map(|c| {
        let mut s = String::new();
        crate::typed::TypedHeader::encode(&c, &mut s);
        s
    })
}

/// The body when there is one.
fn sdp_of(body: &Bytes) -> Option<Bytes> {
    (!body.is_empty()).then(|| body.clone())
}
