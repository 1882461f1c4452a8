//! What the proxy forwards without a transaction: the ACK for a 2xx along its Route set
//! (RFC 3261 §16.4, §16.11, §13.2.2.4) and responses that match no client transaction
//! (§16.7 step 1, §16.11, §18.2.2).

use std::net::{IpAddr, SocketAddr};

use crate::message::{Message, Request, Response};
use crate::transaction::{Destination, TransactionEvent, TransactionLayer};
use crate::typed::{MaxForwards, Rport, Via};

use super::branch;
use super::response::without_top_via;
use super::route;
use super::target::destination_of;
use super::Proxy;

impl Proxy {
    /// An ACK outside any transaction: forwarded to the next Route value, or to its
    /// Request-URI when that is not ours; otherwise it is the core's.
    pub(super) fn on_ack(
        &mut self,
        layer: &mut TransactionLayer,
        request: Request,
        source: Destination,
    ) {
        match self.ack_copy(&request) {
            Some((copy, destination)) => layer.send_stateless(Message::Request(copy), destination),
            None => self.other(TransactionEvent::Ack {
                invite: None,
                request,
                source,
            }),
        }
    }

    fn ack_copy(&self, request: &Request) -> Option<(Request, Destination)> {
        let hops = request
            .headers
            .typed::<MaxForwards>()
            .ok()?
            .map_or(70, |m| m.0);
        if hops == 0 {
            return None;
        }
        let top_via = request.headers.typed::<Via>().ok()?;
        let hash = branch::request_hash(request, top_via.as_ref());
        let mut copy = request.clone();
        if let Some(realm) = &self.config.consume_realm {
            super::forward::consume_credentials(&mut copy, realm);
        }
        route::preprocess(&self.config, &mut copy).ok()?;
        let routed = copy
            .headers
            .contains(&crate::header_name::HeaderName::Route);
        if !routed && self.config.is_local(&copy.uri) {
            return None;
        }
        let destination = destination_of(&route::next_hop(&copy)?)?;
        route::postprocess(&mut copy).ok()?;
        copy.headers.set_typed(&MaxForwards(hops - 1));
        // The same branch for every retransmission of this ACK (§16.11).
        let (transport, host, port) = self.config.via_for(&destination.transport);
        copy.headers
            .prepend_typed(&Via::new(transport, host, port, &branch::branch(&hash, 0)));
        Some((copy, destination))
    }

    /// A response no client transaction claims (a 2xx retransmitted after the transaction
    /// ended): when its top Via is ours, it goes to the next Via (§16.11, §18.2.2).
    pub(super) fn on_stray_response(
        &mut self,
        layer: &mut TransactionLayer,
        response: Response,
        source: Destination,
    ) {
        let vias = response.headers.typed_all::<Via>().unwrap_or_default();
        let ours = vias
            .first()
            .is_some_and(|v| self.config.is_our_via(&v.host, v.port));
        match vias.get(1).and_then(via_destination) {
            Some(destination) if ours => {
                layer.send_stateless(Message::Response(without_top_via(response)), destination)
            }
            _ => self.other(TransactionEvent::StrayResponse { response, source }),
        }
    }
}

/// Where a response goes back to (§18.2.2, RFC 3581 §4): `received` or the sent-by host,
/// `rport` or the sent-by port. `None` when the host is a name (DNS is the core's).
fn via_destination(via: &Via) -> Option<Destination> {
    let ip: IpAddr = match via.received() {
        Some(r) => r.trim_matches(['[', ']']).parse().ok()?,
        None => via.host.ip()?,
    };
    let port = match via.rport() {
        Some(Rport::Port(p)) => p,
        _ => via.port.unwrap_or(5060),
    };
    Some(Destination::new(
        SocketAddr::new(ip, port),
        via.transport.clone(),
    ))
}
