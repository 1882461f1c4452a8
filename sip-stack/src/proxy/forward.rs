//! Forwarding a request to its targets (RFC 3261 §16.6): one copy per target, each on its
//! own client transaction, group after group (serial forking).

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::Request;
use crate::method::Method;
use crate::transaction::{ServerKey, TransactionLayer};
use crate::typed::{MaxForwards, NameAddr, RecordRoute, Route, To, Transport, Via};
use crate::uri::Uri;

use super::branch;
use super::config::ProxyConfig;
use super::context::{Branch, BranchState, Context, Owned, Phase};
use super::error::ProxyError;
use super::response::Final;
use super::route;
use super::target::{Target, TargetGroup};
use super::validate::reply;
use super::Proxy;

impl Proxy {
    /// Forwards the request of server transaction `key` (from a [`super::ProxyEvent::Request`])
    /// to `groups`: the targets of a group in parallel, the groups one after the other
    /// (§16.6, §16.7 step 6 "q-value" ordering). Responses then flow upstream by themselves.
    pub fn forward(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: ServerKey,
        groups: Vec<TargetGroup>,
    ) -> Result<(), ProxyError> {
        self.forward_with(now, layer, key, groups, super::Failover::AnyFailure)
    }

    /// [`Proxy::forward`] with a choice of when the next group is tried.
    pub fn forward_with(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: ServerKey,
        groups: Vec<TargetGroup>,
        failover: super::Failover,
    ) -> Result<(), ProxyError> {
        if self.contexts.contains_key(&key) {
            return Err(ProxyError::AlreadyForwarded);
        }
        if !self.pending.contains_key(&key) {
            return Err(ProxyError::UnknownContext);
        }
        let groups: VecDeque<TargetGroup> =
            groups.into_iter().filter(|g| !g.0.is_empty()).collect();
        if groups.is_empty() {
            return Err(ProxyError::NoTargets);
        }
        let (request, hash, incoming) = self
            .pending
            .remove(&key)
            .ok_or(ProxyError::UnknownContext)?;
        self.contexts.insert(
            key,
            Context {
                request,
                hash,
                incoming,
                copies: 0,
                groups,
                branches: Default::default(),
                finals: Vec::new(),
                phase: Phase::Searching,
                server_gone: false,
                recursions: 0,
                tried: Vec::new(),
                failover,
            },
        );
        self.advance(now, layer, key);
        Ok(())
    }

    /// Sends one copy per target of `group` (§16.6 steps 1–10). A copy that cannot be sent
    /// counts as a 503 from its branch (§16.9).
    pub(super) fn start_group(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: ServerKey,
        group: TargetGroup,
    ) {
        let Some(ctx) = self.contexts.get_mut(&key) else {
            return;
        };
        let timer_c = (ctx.request.method == Method::Invite).then(|| now + self.config.timer_c);
        for target in group.0 {
            let no_answer = target
                .no_answer
                .filter(|_| ctx.request.method == Method::Invite)
                .map(|d| now + d);
            ctx.tried.push(target.uri.clone());
            ctx.copies += 1;
            let branch = branch::branch(&ctx.hash, ctx.copies);
            let sent = copy_for(&self.config, &ctx.request, &ctx.incoming, &target, &branch)
                .map_err(ProxyError::from)
                .and_then(|copy| {
                    let client =
                        layer.send_request(now, copy.clone(), target.destination.clone())?;
                    Ok((client, copy))
                });
            match sent {
                Ok((client, request)) => {
                    for at in [timer_c, no_answer].into_iter().flatten() {
                        self.deadlines.push(std::cmp::Reverse((at, key, client)));
                    }
                    ctx.branches.insert(
                        client,
                        Branch {
                            request,
                            destination: target.destination,
                            state: BranchState::Trying {
                                timer_c,
                                cancel: false,
                            },
                            no_answer,
                        },
                    );
                    self.owned.insert(client, Owned::Branch(key));
                }
                Err(_) => ctx.finals.push(Final {
                    response: reply(&ctx.request, 503, "Service Unavailable"),
                    synthetic: true,
                }),
            }
        }
    }
}

/// The copy of `request`, received over `incoming`, for `target` (§16.6 steps 2–8).
pub(crate) fn copy_for(
    config: &ProxyConfig,
    request: &Request,
    incoming: &Transport,
    target: &Target,
    branch: &str,
) -> Result<Request, crate::typed::HeaderError> {
    let mut copy = request.clone();
    if let Some(realm) = &config.consume_realm {
        consume_credentials(&mut copy, realm);
    }
    // Step 2: the Request-URI.
    copy.uri = target.uri.clone();
    // Step 3: Max-Forwards (validation refused 0).
    let hops = copy
        .headers
        .typed::<MaxForwards>()?
        .map_or(70, |m| m.0.saturating_sub(1));
    copy.headers.set_typed(&MaxForwards(hops));
    // Step 4: Record-Route, for requests that may create a dialog. Each side of the dialog
    // gets the listener it can reach: the caller's side the one the request arrived on, and
    // when the copy leaves over another transport, the callee's side that one, on top
    // (double record-routing, RFC 5658 §3.2; the callee's route set starts at the top
    // value, the caller's at the bottom one).
    if config.record_route && may_create_dialog(&copy)? {
        let outgoing = &target.destination.transport;
        let mut sides = vec![incoming];
        if outgoing != incoming {
            sides.push(outgoing);
        }
        for side in sides {
            if let Some(uri) = config.record_route_uri(side) {
                copy.headers
                    .prepend_typed(&RecordRoute(NameAddr::new(Uri::Sip(uri))));
            }
        }
    }
    // Step 5: the target's own route set goes on top.
    if !target.route.is_empty() {
        let mut routes: Vec<Route> = target
            .route
            .iter()
            .map(|u| Route(NameAddr::new(u.clone())))
            .collect();
        routes.extend(copy.headers.typed_all::<Route>()?);
        copy.headers.set_typed_list(&routes);
    }
    // Step 6: a strict next hop.
    route::postprocess(&mut copy)?;
    // Step 8: our Via, naming the transport the copy leaves over (§18.1.1).
    let (transport, host, port) = config.via_for(&target.destination.transport);
    copy.headers
        .prepend_typed(&Via::new(transport, host, port, branch));
    Ok(copy)
}

/// Record-Route matters for requests outside a dialog that can start one (§16.6 step 4,
/// §12.1); REGISTER never does (§10.2).
fn may_create_dialog(request: &Request) -> Result<bool, crate::typed::HeaderError> {
    let in_dialog = request
        .headers
        .typed::<To>()?
        .is_some_and(|t| t.tag().is_some());
    Ok(!in_dialog
        && !matches!(
            request.method,
            Method::Register | Method::Ack | Method::Cancel
        ))
}

/// Removes the `Proxy-Authorization` fields for `realm`, keeping those for proxies further
/// on (RFC 3261 §22.3).
pub fn consume_credentials(request: &mut Request, realm: &str) {
    use crate::header::Header;
    use crate::header_name::HeaderName;
    let ours = |h: &Header| {
        h.decode::<crate::typed::ProxyAuthorization>()
            .ok()
            .and_then(|v| v.into_iter().next())
            .and_then(|a| {
                crate::auth::DigestCredentials::from_auth(&a.0)
                    .ok()
                    .map(|c| c.realm.eq_ignore_ascii_case(realm))
            })
            .unwrap_or(false)
    };
    if !request
        .headers
        .get_all(&HeaderName::ProxyAuthorization)
        .any(ours)
    {
        return;
    }
    let keep: Vec<Header> = request
        .headers
        .get_all(&HeaderName::ProxyAuthorization)
        .filter(|h| !ours(h))
        .cloned()
        .collect();
    if let Some(at) = request.headers.remove_all(&HeaderName::ProxyAuthorization) {
        for (i, h) in keep.into_iter().enumerate() {
            request.headers.insert(at + i, h);
        }
    }
}
