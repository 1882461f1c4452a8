//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as corrected by RFC 6026 §7.2:
//! a 2xx moves it to Accepted instead of Terminated so that retransmitted and forked 2xx
//! still reach the TU).

use std::time::Instant;

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::typed::{CSeq, To, Via};

use super::event::TransactionState;
use super::output::Output;
use super::timers::{earliest, Retransmit, Timers};

#[derive(Debug)]
enum State {
    /// Timer A (retransmit, unreliable only) and timer B (give up) run (§17.1.1.2).
    Calling {
        timer_a: Option<Retransmit>,
        timer_b: Instant,
    },
    /// A provisional response came: no more retransmissions, no timeout (the TU cancels).
    Proceeding,
    /// A non-2xx final response came and was acknowledged; timer D absorbs its
    /// retransmissions, each answered with the same ACK.
    Completed {
        ack: Request,
        timer_d: Instant,
    },
    /// A 2xx came; timer M (64·T1) bounds how long further 2xx are passed to the TU.
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteClient {
    request: Request,
    reliable: bool,
    timers: Timers,
    state: State,
}

impl InviteClient {
    /// Sends the INVITE and enters Calling.
    pub fn start(
        now: Instant,
        request: Request,
        reliable: bool,
        timers: Timers,
        out: &mut Vec<Output>,
    ) -> InviteClient {
        out.push(Output::Transmit(Message::Request(request.clone())));
        InviteClient {
            state: State::Calling {
                timer_a: timers.first_retransmit(now, reliable),
                timer_b: now + timers.transaction_timeout(),
            },
            request,
            reliable,
            timers,
        }
    }

    pub fn state(&self) -> TransactionState {
        match self.state {
            State::Calling { .. } => TransactionState::Calling,
            State::Proceeding => TransactionState::Proceeding,
            State::Completed { .. } => TransactionState::Completed,
            State::Accepted { .. } => TransactionState::Accepted,
            State::Terminated => TransactionState::Terminated,
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Calling { timer_a, timer_b } => {
                earliest(&[timer_a.map(|a| a.at), Some(*timer_b)])
            }
            State::Completed { timer_d, .. } => Some(*timer_d),
            State::Accepted { timer_m } => Some(*timer_m),
            State::Proceeding | State::Terminated => None,
        }
    }

    pub fn handle_response(&mut self, now: Instant, response: Response, out: &mut Vec<Output>) {
        let status = response.status;
        match &self.state {
            State::Calling { .. } | State::Proceeding => match status {
                100..=199 => {
                    self.state = State::Proceeding;
                    out.push(Output::Response(response));
                }
                200..=299 => {
                    self.state = State::Accepted {
                        timer_m: now + self.timers.transaction_timeout(),
                    };
                    out.push(Output::Response(response));
                }
                _ => {
                    let ack = self.ack_for(&response);
                    out.push(Output::Transmit(Message::Request(ack.clone())));
                    out.push(Output::Response(response));
                    let wait = self.timers.timer_d(self.reliable);
                    self.state = if wait.is_zero() {
                        State::Terminated
                    } else {
                        State::Completed {
                            ack,
                            timer_d: now + wait,
                        }
                    };
                }
            },
            // A retransmitted final response: acknowledge again, tell nobody (§17.1.1.2).
            State::Completed { ack, .. } if status >= 300 => {
                out.push(Output::Transmit(Message::Request(ack.clone())));
            }
            State::Accepted { .. } if (200..300).contains(&status) => {
                out.push(Output::Response(response));
            }
            _ => {}
        }
    }

    /// Fires whichever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        match &mut self.state {
            State::Calling { timer_b, .. } if *timer_b <= now => {
                out.push(Output::Timeout);
                self.state = State::Terminated;
            }
            State::Calling {
                timer_a: Some(a), ..
            } if a.at <= now => {
                // Timer A doubles without a cap (§17.1.1.2); timer B ends it.
                *a = a.backoff(now, None);
                out.push(Output::Transmit(Message::Request(self.request.clone())));
            }
            State::Completed { timer_d, .. } if *timer_d <= now => self.state = State::Terminated,
            State::Accepted { timer_m } if *timer_m <= now => self.state = State::Terminated,
            _ => {}
        }
    }

    pub fn terminate(&mut self) {
        self.state = State::Terminated;
    }

    /// The ACK for a non-2xx final response (§17.1.1.3): Request-URI, Call-ID, From and the
    /// CSeq number of the INVITE, its top Via only, To from the response (with its tag), and
    /// the INVITE's Route header fields.
    fn ack_for(&self, response: &Response) -> Request {
        let inv = &self.request;
        let mut ack = Request::new(Method::Ack, inv.uri.clone());
        if let Ok(Some(via)) = inv.headers.typed::<Via>() {
            ack.headers.push_typed(&via);
        }
        for name in [
            HeaderName::MaxForwards,
            HeaderName::From,
            HeaderName::CallId,
        ] {
            if let Some(h) = inv.headers.get(&name) {
                ack.headers.push(h.clone());
            }
        }
        match response.headers.get(&HeaderName::To) {
            Some(h) => ack.headers.push(h.clone()),
            None => {
                if let Ok(Some(to)) = inv.headers.typed::<To>() {
                    ack.headers.push_typed(&to);
                }
            }
        }
        if let Ok(Some(cseq)) = inv.headers.typed::<CSeq>() {
            ack.headers.push_typed(&CSeq {
                seq: cseq.seq,
                method: Method::Ack,
            });
        }
        for h in inv.headers.get_all(&HeaderName::Route) {
            ack.headers.push(h.clone());
        }
        ack.headers
            .push(Header::new(HeaderName::ContentLength, "0"));
        ack
    }
}
