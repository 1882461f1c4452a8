//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as corrected by RFC 6026 §7.1:
//! a 2xx moves it to Accepted, where it absorbs retransmitted INVITEs, forwards the TU's 2xx
//! retransmissions and hands ACKs to the TU until timer L fires).

use std::time::Instant;

use crate::message::{Message, Request, Response};
use crate::method::Method;

use super::error::TransactionError;
use super::event::TransactionState;
use super::output::Output;
use super::timers::{earliest, Retransmit, Timers, TRYING_DELAY};

#[derive(Debug)]
enum State {
    /// Waiting for the TU. `trying`: the `100 Trying` to send, and when, if the TU is still
    /// silent (§17.2.1: within 200 ms).
    Proceeding {
        trying: Option<(Instant, Response)>,
        last_provisional: Option<Response>,
    },
    /// A non-2xx final response was sent: timer G retransmits it (unreliable only, doubling
    /// up to T2) until an ACK comes or timer H (64·T1) gives up.
    Completed {
        response: Response,
        timer_g: Option<Retransmit>,
        timer_h: Instant,
    },
    /// The ACK came; timer I absorbs further ACKs.
    Confirmed {
        timer_i: Instant,
    },
    /// A 2xx was sent (RFC 6026 §7.1); timer L (64·T1) ends the wait for INVITE
    /// retransmissions.
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteServer {
    reliable: bool,
    timers: Timers,
    state: State,
}

impl InviteServer {
    /// Enters Proceeding; the layer passes the INVITE to the TU.
    pub fn start(now: Instant, request: &Request, reliable: bool, timers: Timers) -> InviteServer {
        InviteServer {
            reliable,
            timers,
            state: State::Proceeding {
                trying: Some((now + TRYING_DELAY, request.make_response(100))),
                last_provisional: None,
            },
        }
    }

    pub fn state(&self) -> TransactionState {
        match self.state {
            State::Proceeding { .. } => TransactionState::Proceeding,
            State::Completed { .. } => TransactionState::Completed,
            State::Confirmed { .. } => TransactionState::Confirmed,
            State::Accepted { .. } => TransactionState::Accepted,
            State::Terminated => TransactionState::Terminated,
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Proceeding { trying, .. } => trying.as_ref().map(|(at, _)| *at),
            State::Completed {
                timer_g, timer_h, ..
            } => earliest(&[timer_g.map(|g| g.at), Some(*timer_h)]),
            State::Confirmed { timer_i } => Some(*timer_i),
            State::Accepted { timer_l } => Some(*timer_l),
            State::Terminated => None,
        }
    }

    /// A retransmitted INVITE, or an ACK matching this transaction.
    pub fn handle_request(&mut self, now: Instant, request: Request, out: &mut Vec<Output>) {
        if request.method == Method::Ack {
            match &self.state {
                State::Completed { .. } => {
                    let wait = self.timers.timer_i_k(self.reliable);
                    self.state = if wait.is_zero() {
                        State::Terminated
                    } else {
                        State::Confirmed {
                            timer_i: now + wait,
                        }
                    };
                }
                State::Accepted { .. } => out.push(Output::Ack(request)),
                // Confirmed absorbs ACKs; an ACK before any final response is meaningless.
                _ => {}
            }
            return;
        }
        // A retransmitted INVITE gets the latest response again (§17.2.1); in Accepted it is
        // absorbed, the TU retransmits its 2xx itself (RFC 6026 §7.1).
        match &self.state {
            State::Proceeding {
                last_provisional: Some(r),
                ..
            } => out.push(Output::Transmit(Message::Response(r.clone()))),
            State::Completed { response, .. } => {
                out.push(Output::Transmit(Message::Response(response.clone())))
            }
            _ => {}
        }
    }

    /// A response from the TU.
    pub fn respond(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<Output>,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        match (&self.state, status) {
            (State::Proceeding { .. }, 100..=199) => {
                out.push(Output::Transmit(Message::Response(response.clone())));
                self.state = State::Proceeding {
                    trying: None,
                    last_provisional: Some(response),
                };
            }
            (State::Proceeding { .. }, 200..=299) => {
                out.push(Output::Transmit(Message::Response(response)));
                self.state = State::Accepted {
                    timer_l: now + self.timers.transaction_timeout(),
                };
            }
            (State::Proceeding { .. }, _) => {
                out.push(Output::Transmit(Message::Response(response.clone())));
                self.state = State::Completed {
                    response,
                    timer_g: self.timers.first_retransmit(now, self.reliable),
                    timer_h: now + self.timers.transaction_timeout(),
                };
            }
            // The TU retransmits its 2xx (§13.3.1.4) or sends another one (RFC 6026 §7.1).
            (State::Accepted { .. }, 200..=299) => {
                out.push(Output::Transmit(Message::Response(response)))
            }
            _ => {
                return Err(TransactionError::InvalidState {
                    status,
                    state: self.state(),
                })
            }
        }
        Ok(())
    }

    /// Fires whichever timer is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        let t2 = self.timers.t2;
        match &mut self.state {
            State::Proceeding {
                trying: Some((at, trying)),
                ..
            } if *at <= now => {
                let trying = trying.clone();
                out.push(Output::Transmit(Message::Response(trying.clone())));
                self.state = State::Proceeding {
                    trying: None,
                    last_provisional: Some(trying),
                };
            }
            State::Completed { timer_h, .. } if *timer_h <= now => {
                // The ACK never came (§17.2.1).
                out.push(Output::Timeout);
                self.state = State::Terminated;
            }
            State::Completed {
                response,
                timer_g: Some(g),
                ..
            } if g.at <= now => {
                *g = g.backoff(now, Some(t2));
                out.push(Output::Transmit(Message::Response(response.clone())));
            }
            State::Confirmed { timer_i } if *timer_i <= now => self.state = State::Terminated,
            State::Accepted { timer_l } if *timer_l <= now => self.state = State::Terminated,
            _ => {}
        }
    }

    pub fn terminate(&mut self) {
        self.state = State::Terminated;
    }
}
