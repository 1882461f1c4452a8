//! Requests we send in a dialog (§12.2.1.1) and the ACK for a 2xx (§13.2.2.4).

use super::token::new_branch;
use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::Request;
use crate::method::Method;
use crate::typed::{CSeq, CallId, Contact, From, MaxForwards, NameAddr, Route, To};
use crate::uri::Uri;

use super::Dialog;

/// Requests that must carry our Contact (target refresh requests, §12.2.1.1, and those that
/// start a usage, RFC 6665 §4.1.2, RFC 3515 §2.4.1).
fn carries_contact(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

impl Dialog {
    /// A request in this dialog, with the next local CSeq (§12.2.1.1): Request-URI and Route
    /// from the remote target and route set, From/To with both tags, Call-ID, our Via
    /// without branch (the transaction layer adds one), Max-Forwards, and our Contact for
    /// target refresh requests. Add a body and its Content-Type, then send it.
    pub fn make_request(&mut self, method: Method) -> Request {
        // §12.2.1.1: an empty local CSeq (UAS side) starts anywhere below 2^31; 1 is as good.
        let seq = self.local_seq.map_or(1, |s| s.wrapping_add(1));
        self.local_seq = Some(seq);
        self.build(method, seq)
    }

    /// The ACK for a 2xx to `invite` (§13.2.2.4): same CSeq number as the INVITE, method
    /// ACK, the INVITE's credentials, a fresh branch. Send it with
    /// [`crate::transaction::TransactionLayer::send_stateless`] and again for every
    /// retransmitted 2xx.
    pub fn make_ack(&self, invite: &Request) -> Request {
        let seq = invite
            .headers
            .typed::<CSeq>()
            .ok()
            .flatten()
            .map_or(self.local_seq.unwrap_or(1), |c| c.seq);
        let mut ack = self.build(Method::Ack, seq);
        let mut via = self.via.clone();
        via.params.set("branch", Some(&new_branch()));
        ack.headers.set_typed(&via);
        let at = ack
            .headers
            .iter()
            .position(|h| *h.name() == HeaderName::ContentLength)
            .unwrap_or(ack.headers.len());
        for name in [HeaderName::Authorization, HeaderName::ProxyAuthorization] {
            for h in invite.headers.get_all(&name) {
                ack.headers.insert(at, h.clone());
            }
        }
        ack
    }

    /// A BYE (§15.1.1).
    pub fn make_bye(&mut self) -> Request {
        self.make_request(Method::Bye)
    }

    /// The Request-URI and Route set of the next request (§12.2.1.1): with a loose-routing
    /// first hop (`;lr`), the remote target and the whole route set; with a strict router,
    /// its URI as Request-URI and the remote target appended as the last Route.
    pub fn request_target(&self) -> (Uri, Vec<NameAddr>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        let loose = match &first.uri {
            Uri::Sip(u) => u.is_loose_route(),
            Uri::Absolute(_) => true,
        };
        if loose {
            return (self.remote_target.clone(), self.route_set.clone());
        }
        let mut uri = first.uri.clone();
        if let Uri::Sip(u) = &mut uri {
            // Parameters not allowed in a Request-URI (§19.1.1, Table 1).
            u.params.remove("method");
            u.headers.clear();
        }
        let mut routes: Vec<NameAddr> = self.route_set[1..].to_vec();
        routes.push(NameAddr::new(self.remote_target.clone()));
        (uri, routes)
    }

    fn build(&self, method: Method, seq: u32) -> Request {
        let (uri, routes) = self.request_target();
        let mut r = Request::new(method.clone(), uri);
        r.headers.push_typed(&self.via);
        r.headers.push_typed(&MaxForwards(70));
        let routes: Vec<Route> = routes.into_iter().map(Route).collect();
        if !routes.is_empty() {
            r.headers.push(Header::new(HeaderName::Route, ""));
            r.headers.set_typed_list(&routes);
        }
        let mut from = self.local_uri.clone();
        from.set_tag(&self.id.local_tag);
        r.headers.push_typed(&From(from));
        let mut to = self.remote_uri.clone();
        if !self.id.remote_tag.is_empty() {
            to.set_tag(&self.id.remote_tag);
        }
        r.headers.push_typed(&To(to));
        r.headers.push_typed(&CallId(self.id.call_id.clone()));
        r.headers.push_typed(&CSeq {
            seq,
            method: method.clone(),
        });
        if carries_contact(&method) {
            r.headers
                .push_typed(&Contact::Address(self.local_contact.clone()));
        }
        r.headers.push(Header::new(HeaderName::ContentLength, "0"));
        r
    }
}
