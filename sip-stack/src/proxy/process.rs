//! Responses, failures, Timer C and CANCEL for a proxy context (RFC 3261 §16.7, §16.8,
//! §16.9, §16.10).

use std::time::Instant;

use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::{ClientKey, ServerKey, TransactionLayer};

use super::context::{BranchState, Owned, Phase};
use super::response::{best, upstream, without_top_via, Final};
use super::target::{destination_of, Target, TargetGroup};
use super::validate::reply;
use super::Proxy;
use crate::header_name::HeaderName;
use crate::typed::Contact;
use crate::uri::Uri;

impl Proxy {
    /// §16.7: a response on one of the context's branches.
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: ServerKey,
        client: ClientKey,
        response: Response,
    ) {
        let timer_c = now + self.config.timer_c;
        let Some(ctx) = self.contexts.get_mut(&server) else {
            return;
        };
        let status = response.status;
        let abandoned = ctx
            .branches
            .get(&client)
            .is_some_and(|b| b.state == BranchState::Abandoned);
        if abandoned && status < 200 {
            // Too late: the search went on without this target. Stop it ringing.
            if status > 100 {
                self.send_cancel(now, layer, server, client);
            }
            return;
        }
        if abandoned && status >= 300 {
            if let Some(b) = ctx.branches.get_mut(&client) {
                b.state = BranchState::Done;
            }
            return;
        }
        if status < 200 {
            let invite = ctx.request.method == Method::Invite;
            let timer_c = invite.then_some(timer_c);
            if let Some(at) = timer_c {
                self.deadlines.push(std::cmp::Reverse((at, server, client)));
            }
            let mut cancel_now = false;
            if let Some(b) = ctx.branches.get_mut(&client) {
                // §16.8: a provisional response resets Timer C.
                b.state = match b.state {
                    BranchState::Trying { cancel: true, .. } | BranchState::Cancelling { .. } => {
                        cancel_now = matches!(b.state, BranchState::Trying { .. });
                        BranchState::Cancelling { timer_c }
                    }
                    BranchState::Trying { .. } | BranchState::Proceeding { .. } => {
                        BranchState::Proceeding { timer_c }
                    }
                    BranchState::Done => BranchState::Done,
                    BranchState::Abandoned => BranchState::Abandoned,
                };
            }
            // §16.7 step 5: every provisional but 100 goes upstream while no final has.
            let open = matches!(ctx.phase, Phase::Searching | Phase::Winding);
            if status > 100 && open {
                let _ = layer.respond(now, server, without_top_via(response));
            }
            if cancel_now {
                self.send_cancel(now, layer, server, client);
            }
            return;
        }
        if let Some(b) = ctx.branches.get_mut(&client) {
            b.state = BranchState::Done;
        }
        if status < 300 {
            // §16.7 step 5: every 2xx goes upstream at once; the other branches are
            // cancelled (§16.7 step 10).
            let _ = layer.respond(now, server, without_top_via(response));
            if matches!(ctx.phase, Phase::Searching | Phase::Winding) {
                ctx.phase = Phase::Accepted;
                ctx.groups.clear();
                self.events.push_back(super::ProxyEvent::Final {
                    key: server,
                    status,
                });
                self.cancel_all(now, layer, server);
            }
            return;
        }
        if matches!(ctx.phase, Phase::Accepted | Phase::Answered) {
            return;
        }
        let mut response = without_top_via(response);
        if (300..400).contains(&status)
            && ctx.phase == Phase::Searching
            && ctx.recursions < self.config.max_recursions
        {
            // §16.7 step 4: the Contacts we can reach join the target set, and leave the
            // response; a response left without Contacts is not kept.
            let (targets, left) = redirect_targets(&response, &ctx.request, &ctx.tried);
            if !targets.is_empty() {
                ctx.recursions += 1;
                for group in TargetGroup::by_q(targets).into_iter().rev() {
                    ctx.groups.push_front(group);
                }
                if left.is_empty() {
                    self.advance(now, layer, server);
                    return;
                }
                response.headers.remove_all(&HeaderName::Contact);
                response.headers.set_typed_list(&left);
            }
        }
        ctx.finals.push(Final {
            response,
            synthetic: false,
        });
        if status < 600 && !ctx.failover.tries_next(status) {
            // This answer would be the same through any other group (a trunk's 486).
            ctx.groups.clear();
        }
        if status >= 600 {
            // §16.7 step 5: a 6xx ends the search.
            ctx.phase = Phase::Winding;
            ctx.groups.clear();
            self.cancel_all(now, layer, server);
        }
        self.advance(now, layer, server);
    }

    /// A branch ended without a response: timeout (408, §16.7 step 2, §16.8) or transport
    /// error (503, §16.9).
    pub(super) fn on_branch_failed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: ServerKey,
        client: ClientKey,
        status: u16,
    ) {
        let Some(ctx) = self.contexts.get_mut(&server) else {
            return;
        };
        let Some(b) = ctx.branches.get_mut(&client) else {
            return;
        };
        if !b.state.is_pending() {
            return;
        }
        b.state = BranchState::Done;
        if matches!(ctx.phase, Phase::Searching | Phase::Winding) {
            let reason = crate::status::default_reason(status);
            ctx.finals.push(Final {
                response: reply(&ctx.request, status, reason),
                synthetic: true,
            });
        }
        self.advance(now, layer, server);
    }

    pub(super) fn on_client_terminated(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        client: ClientKey,
    ) {
        let Some(Owned::Branch(server)) = self.owned.remove(&client) else {
            return;
        };
        // A transaction that ends silently has timed out as far as the proxy knows.
        self.on_branch_failed(now, layer, server, client, 408);
        if let Some(ctx) = self.contexts.get_mut(&server) {
            ctx.branches.remove(&client);
            if ctx.is_finished() {
                self.contexts.remove(&server);
            }
        }
    }

    /// §16.10: 200 to the CANCEL, CANCEL every pending branch, no new branches. The
    /// branches' 487s make the final response.
    pub(super) fn on_cancel(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        cancel: ServerKey,
        invite: ServerKey,
        request: &Request,
    ) {
        let _ = layer.respond(now, cancel, reply(request, 200, "OK"));
        let Some(ctx) = self.contexts.get_mut(&invite) else {
            return;
        };
        if ctx.phase == Phase::Searching {
            ctx.phase = Phase::Winding;
        }
        ctx.groups.clear();
        self.cancel_all(now, layer, invite);
    }

    /// Fires Timer C (§16.8): a branch with a provisional response is cancelled, and either
    /// way the proxy acts as if it had answered 408.
    pub fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        // Due deadlines, each checked against its branch as it is now (a branch's deadline
        // moves on with each provisional, and stale entries are simply dropped).
        while let Some(&std::cmp::Reverse((at, server, client))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(b) = self
                .contexts
                .get(&server)
                .and_then(|ctx| ctx.branches.get(&client))
            else {
                continue;
            };
            let state = b.state;
            let silent = matches!(state, BranchState::Trying { .. })
                && b.no_answer.is_some_and(|t| t <= now);
            if silent {
                self.on_branch_failed(now, layer, server, client, 408);
                if let Some(b) = self
                    .contexts
                    .get_mut(&server)
                    .and_then(|ctx| ctx.branches.get_mut(&client))
                {
                    b.state = BranchState::Abandoned;
                }
            } else if state.timer_c().is_some_and(|t| t <= now) {
                if matches!(state, BranchState::Proceeding { .. }) {
                    self.send_cancel(now, layer, server, client);
                }
                self.on_branch_failed(now, layer, server, client, 408);
            }
        }
    }

    /// Starts the next group, or sends the best final response once nothing is pending
    /// (§16.7 steps 4 and 6).
    pub(super) fn advance(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: ServerKey,
    ) {
        loop {
            let Some(ctx) = self.contexts.get_mut(&server) else {
                return;
            };
            if ctx.has_pending() {
                return;
            }
            if ctx.phase == Phase::Searching {
                if let Some(group) = ctx.groups.pop_front() {
                    self.start_group(now, layer, server, group);
                    continue;
                }
            }
            if matches!(ctx.phase, Phase::Searching | Phase::Winding) {
                let answer = best(&ctx.finals)
                    .and_then(|i| upstream(&ctx.finals, i))
                    .unwrap_or_else(|| reply(&ctx.request, 408, "Request Timeout"));
                ctx.phase = Phase::Answered;
                self.events.push_back(super::ProxyEvent::Final {
                    key: server,
                    status: answer.status,
                });
                let _ = layer.respond(now, server, answer);
            }
            return;
        }
    }

    /// Cancels every pending INVITE branch of the context (§16.10, §9.1): at once when a
    /// provisional has arrived, else when one does.
    fn cancel_all(&mut self, now: Instant, layer: &mut TransactionLayer, server: ServerKey) {
        let Some(ctx) = self.contexts.get_mut(&server) else {
            return;
        };
        if ctx.request.method != Method::Invite {
            return;
        }
        let mut now_due = Vec::new();
        for (client, b) in ctx.branches.iter_mut() {
            b.state = match b.state {
                BranchState::Trying { timer_c, .. } => BranchState::Trying {
                    timer_c,
                    cancel: true,
                },
                BranchState::Proceeding { timer_c } => {
                    now_due.push(*client);
                    BranchState::Cancelling { timer_c }
                }
                other => other,
            };
        }
        for client in now_due {
            self.send_cancel(now, layer, server, client);
        }
    }

    fn send_cancel(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: ServerKey,
        client: ClientKey,
    ) {
        let Some(b) = self
            .contexts
            .get(&server)
            .and_then(|c| c.branches.get(&client))
        else {
            return;
        };
        let cancel = b.request.make_cancel();
        if let Ok(key) = layer.send_request(now, cancel, b.destination.clone()) {
            self.owned.insert(key, Owned::Cancel);
        }
    }
}

/// The Contacts of a 3xx that become targets (reachable without DNS, not tried yet, and no
/// `sip:` target for a `sips:` request, §16.7 step 4), with their q-values, and the Contacts
/// left in the response.
fn redirect_targets(
    response: &Response,
    request: &Request,
    tried: &[Uri],
) -> (Vec<(Target, f32)>, Vec<Contact>) {
    let contacts = response.headers.typed_all::<Contact>().unwrap_or_default();
    let secure_request = request.uri.as_sip().is_some_and(|s| s.secure);
    let mut targets = Vec::new();
    let mut left = Vec::new();
    for contact in contacts {
        let Some(addr) = contact.address() else {
            continue;
        };
        let uri = addr.uri.clone();
        let secure = uri.as_sip().is_some_and(|s| s.secure);
        let usable = (!secure_request || secure) && !tried.contains(&uri);
        match destination_of(&uri).filter(|_| usable) {
            Some(destination) => {
                let q = f32::from(contact.q().unwrap_or(1000)) / 1000.0;
                targets.push((Target::new(uri, destination), q));
            }
            None => left.push(contact),
        }
    }
    (targets, left)
}
