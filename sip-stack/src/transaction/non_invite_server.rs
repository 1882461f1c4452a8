//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use std::time::Instant;

use crate::message::{Message, Response};

use super::error::TransactionError;
use super::event::TransactionState;
use super::output::Output;
use super::timers::Timers;

#[derive(Debug)]
enum State {
    /// Waiting for the TU; retransmitted requests are absorbed.
    Trying,
    /// A provisional response was sent; retransmitted requests get it again.
    Proceeding {
        last: Response,
    },
    /// A final response was sent; timer J answers retransmissions with it.
    Completed {
        response: Response,
        timer_j: Instant,
    },
    Terminated,
}

#[derive(Debug)]
pub(crate) struct NonInviteServer {
    reliable: bool,
    timers: Timers,
    state: State,
}

impl NonInviteServer {
    /// Enters Trying; the layer passes the request to the TU.
    pub fn start(reliable: bool, timers: Timers) -> NonInviteServer {
        NonInviteServer {
            reliable,
            timers,
            state: State::Trying,
        }
    }

    pub fn state(&self) -> TransactionState {
        match self.state {
            State::Trying => TransactionState::Trying,
            State::Proceeding { .. } => TransactionState::Proceeding,
            State::Completed { .. } => TransactionState::Completed,
            State::Terminated => TransactionState::Terminated,
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Completed { timer_j, .. } => Some(*timer_j),
            _ => None,
        }
    }

    /// A retransmission of the request.
    pub fn handle_request(&mut self, out: &mut Vec<Output>) {
        match &self.state {
            State::Proceeding { last: r } | State::Completed { response: r, .. } => {
                out.push(Output::Transmit(Message::Response(r.clone())))
            }
            State::Trying | State::Terminated => {}
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
            (State::Trying | State::Proceeding { .. }, 100..=199) => {
                out.push(Output::Transmit(Message::Response(response.clone())));
                self.state = State::Proceeding { last: response };
            }
            (State::Trying | State::Proceeding { .. }, _) => {
                out.push(Output::Transmit(Message::Response(response.clone())));
                let wait = self.timers.timer_j(self.reliable);
                self.state = if wait.is_zero() {
                    State::Terminated
                } else {
                    State::Completed {
                        response,
                        timer_j: now + wait,
                    }
                };
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

    /// Fires timer J when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Completed { timer_j, .. } = &self.state {
            if *timer_j <= now {
                self.state = State::Terminated;
            }
        }
    }

    pub fn terminate(&mut self) {
        self.state = State::Terminated;
    }
}
