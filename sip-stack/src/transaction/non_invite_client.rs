//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).

use std::time::Instant;

use crate::message::{Message, Request, Response};

use super::event::TransactionState;
use super::output::Output;
use super::timers::{earliest, Retransmit, Timers};

#[derive(Debug)]
enum State {
    /// Timer E (retransmit, unreliable only, doubling up to T2) and timer F (give up).
    Trying {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
    },
    /// A provisional response came: timer E now fires every T2; timer F still runs.
    Proceeding {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
    },
    /// A final response came; timer K absorbs its retransmissions.
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteClient {
    request: Request,
    reliable: bool,
    timers: Timers,
    state: State,
}

impl NonInviteClient {
    /// Sends the request and enters Trying.
    pub fn start(
        now: Instant,
        request: Request,
        reliable: bool,
        timers: Timers,
        out: &mut Vec<Output>,
    ) -> NonInviteClient {
        out.push(Output::Transmit(Message::Request(request.clone())));
        NonInviteClient {
            state: State::Trying {
                timer_e: timers.first_retransmit(now, reliable),
                timer_f: now + timers.transaction_timeout(),
            },
            request,
            reliable,
            timers,
        }
    }

    pub fn state(&self) -> TransactionState {
        match self.state {
            State::Trying { .. } => TransactionState::Trying,
            State::Proceeding { .. } => TransactionState::Proceeding,
            State::Completed { .. } => TransactionState::Completed,
            State::Terminated => TransactionState::Terminated,
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Trying { timer_e, timer_f } | State::Proceeding { timer_e, timer_f } => {
                earliest(&[timer_e.map(|e| e.at), Some(*timer_f)])
            }
            State::Completed { timer_k } => Some(*timer_k),
            State::Terminated => None,
        }
    }

    pub fn handle_response(&mut self, now: Instant, response: Response, out: &mut Vec<Output>) {
        match (&self.state, response.status) {
            (
                State::Trying { timer_e, timer_f } | State::Proceeding { timer_e, timer_f },
                100..=199,
            ) => {
                self.state = State::Proceeding {
                    timer_e: *timer_e,
                    timer_f: *timer_f,
                };
                out.push(Output::Response(response));
            }
            (State::Trying { .. } | State::Proceeding { .. }, _) => {
                out.push(Output::Response(response));
                let wait = self.timers.timer_i_k(self.reliable);
                self.state = if wait.is_zero() {
                    State::Terminated
                } else {
                    State::Completed {
                        timer_k: now + wait,
                    }
                };
            }
            // Completed absorbs retransmitted responses (§17.1.2.2).
            _ => {}
        }
    }

    /// Fires whichever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        let t2 = self.timers.t2;
        match &mut self.state {
            State::Trying { timer_f, .. } | State::Proceeding { timer_f, .. }
                if *timer_f <= now =>
            {
                out.push(Output::Timeout);
                self.state = State::Terminated;
            }
            State::Trying {
                timer_e: Some(e), ..
            } if e.at <= now => {
                *e = e.backoff(now, Some(t2));
                out.push(Output::Transmit(Message::Request(self.request.clone())));
            }
            State::Proceeding {
                timer_e: Some(e), ..
            } if e.at <= now => {
                *e = Retransmit::fixed(now, t2);
                out.push(Output::Transmit(Message::Request(self.request.clone())));
            }
            State::Completed { timer_k } if *timer_k <= now => self.state = State::Terminated,
            _ => {}
        }
    }

    pub fn terminate(&mut self) {
        self.state = State::Terminated;
    }
}
