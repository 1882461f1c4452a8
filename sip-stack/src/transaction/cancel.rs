//! Building a CANCEL for an INVITE we sent (RFC 3261 §9.1).

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::Request;
use crate::method::Method;
use crate::typed::{CSeq, Via};

impl Request {
    /// The CANCEL of this INVITE (§9.1): the same Request-URI, Call-ID, To, From and CSeq
    /// number (method CANCEL), only the top Via (so the same branch: the CANCEL reaches the
    /// same server transaction), and the same Route header fields. Send it with
    /// [`super::TransactionLayer::send_request`] to the INVITE's destination, and only once a
    /// provisional response has arrived (§9.1).
    pub fn make_cancel(&self) -> Request {
        let mut cancel = Request::new(Method::Cancel, self.uri.clone());
        if let Ok(Some(via)) = self.headers.typed::<Via>() {
            cancel.headers.push_typed(&via);
        }
        for name in [
            HeaderName::MaxForwards,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ] {
            if let Some(h) = self.headers.get(&name) {
                cancel.headers.push(h.clone());
            }
        }
        if let Ok(Some(cseq)) = self.headers.typed::<CSeq>() {
            cancel.headers.push_typed(&CSeq {
                seq: cseq.seq,
                method: Method::Cancel,
            });
        }
        for h in self.headers.get_all(&HeaderName::Route) {
            cancel.headers.push(h.clone());
        }
        cancel
            .headers
            .push(Header::new(HeaderName::ContentLength, "0"));
        cancel
    }
}
