//! Which transaction a message belongs to: responses to client transactions (RFC 3261
//! §17.1.3), requests to server transactions (§17.2.3, with the RFC 2543 fallback), and the
//! key of merged-request detection (§8.2.2.2).

use crate::message::{Request, Response};
use crate::method::Method;
use crate::typed::{CSeq, CallId, From, To, TypedHeader, Via};

use super::error::TransactionError;

/// The magic cookie of RFC 3261 branches (§8.1.1.7).
const COOKIE: &str = "z9hG4bK";

/// A client transaction is named by the branch of the Via it inserted and the CSeq method
/// (a CANCEL shares the branch of its INVITE, §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientMatch {
    pub branch: String,
    pub method: Method,
}

impl ClientMatch {
    /// §17.1.3: the top Via branch and the CSeq method of a response.
    pub fn of_response(response: &Response) -> Result<ClientMatch, TransactionError> {
        let via = top_via(response.headers.typed::<Via>()?)?;
        let cseq = cseq(response.headers.typed::<CSeq>()?)?;
        Ok(ClientMatch {
            branch: via.branch().unwrap_or_default().to_owned(),
            method: cseq.method,
        })
    }
}

/// How a server transaction is found again (§17.2.3). ACK is stored as INVITE: it belongs to
/// the INVITE transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ServerMatch {
    /// Branch with the magic cookie, sent-by and method.
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: Method,
    },
    /// Request-URI, From tag, Call-ID, CSeq number, top Via and method. The To tag is left
    /// out: for an ACK it is the tag of our own response, and an ACK matched either way ends
    /// up where it should (Completed absorbs it, Accepted hands it to the TU).
    Rfc2543 {
        request_uri: String,
        from_tag: Option<String>,
        call_id: String,
        cseq: u32,
        top_via: String,
        method: Method,
    },
}

impl ServerMatch {
    pub fn of_request(request: &Request) -> Result<ServerMatch, TransactionError> {
        let via = top_via(request.headers.typed::<Via>()?)?;
        let method = match request.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        if via.has_rfc3261_branch() {
            let mut sent_by = via.host.to_string().to_ascii_lowercase();
            if let Some(port) = via.port {
                sent_by.push(':');
                sent_by.push_str(&port.to_string());
            }
            return Ok(ServerMatch::Rfc3261 {
                branch: via.branch().unwrap_or(COOKIE).to_owned(),
                sent_by,
                method,
            });
        }
        let mut top = String::new();
        via.encode(&mut top);
        Ok(ServerMatch::Rfc2543 {
            request_uri: request.uri.to_string(),
            from_tag: request
                .headers
                .typed::<From>()?
                .and_then(|f| f.tag().map(str::to_owned)),
            call_id: call_id(request)?,
            cseq: cseq(request.headers.typed::<CSeq>()?)?.seq,
            top_via: top,
            method,
        })
    }

    /// The same key for another method: a CANCEL looks for its INVITE (§9.2).
    pub fn with_method(&self, method: Method) -> ServerMatch {
        let mut key = self.clone();
        match &mut key {
            ServerMatch::Rfc3261 { method: m, .. } | ServerMatch::Rfc2543 { method: m, .. } => {
                *m = method
            }
        }
        key
    }
}

/// From tag, Call-ID and CSeq: equal on two requests with different branches means the same
/// request arrived twice along different paths (§8.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    from_tag: String,
    call_id: String,
    cseq: u32,
    method: Method,
}

impl MergeKey {
    /// `None` when the request has no From tag (an RFC 2543 peer) or a bad header.
    pub fn of_request(request: &Request) -> Option<MergeKey> {
        let from_tag = request.headers.typed::<From>().ok()??.tag()?.to_owned();
        let cseq = request.headers.typed::<CSeq>().ok()??;
        Some(MergeKey {
            from_tag,
            call_id: call_id(request).ok()?,
            cseq: cseq.seq,
            method: cseq.method,
        })
    }
}

/// True when the request carries a To tag (it is inside a dialog).
pub(crate) fn has_to_tag(request: &Request) -> bool {
    matches!(request.headers.typed::<To>(), Ok(Some(to)) if to.tag().is_some())
}

/// A fresh RFC 3261 branch: the magic cookie and 64 random bits (§8.1.1.7).
pub(crate) fn new_branch() -> String {
    format!("{COOKIE}{:016x}", rand::random::<u64>())
}

pub(crate) fn top_via(via: Option<Via>) -> Result<Via, TransactionError> {
    via.ok_or(TransactionError::MissingVia)
}

pub(crate) fn cseq(cseq: Option<CSeq>) -> Result<CSeq, TransactionError> {
    cseq.ok_or(TransactionError::MissingCSeq)
}

fn call_id(request: &Request) -> Result<String, TransactionError> {
    Ok(request
        .headers
        .typed::<CallId>()?
        .ok_or(TransactionError::MissingCallId)?
        .0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn req(method: &str, via: &str) -> Request {
        let text = format!(
            "{method} sip:b@example.com SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@example.com>;tag=1\r\n\
             To: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n\r\n"
        );
        match Message::parse(text.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn ack_is_filed_under_its_invite() {
        let via = "SIP/2.0/UDP h:5060;branch=z9hG4bK1";
        assert_eq!(
            ServerMatch::of_request(&req("ACK", via)).unwrap(),
            ServerMatch::of_request(&req("INVITE", via)).unwrap()
        );
    }

    #[test]
    fn sent_by_host_compares_without_case() {
        let a = req("BYE", "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bK1");
        let b = req("BYE", "SIP/2.0/UDP host.example:5060;branch=z9hG4bK1");
        assert_eq!(
            ServerMatch::of_request(&a).unwrap(),
            ServerMatch::of_request(&b).unwrap()
        );
    }

    #[test]
    fn bare_cookie_falls_back_to_rfc2543_matching() {
        let r = req("INVITE", "SIP/2.0/UDP h;branch=z9hG4bK");
        assert!(matches!(
            ServerMatch::of_request(&r).unwrap(),
            ServerMatch::Rfc2543 { .. }
        ));
    }

    #[test]
    fn new_branches_carry_the_cookie_and_differ() {
        let (a, b) = (new_branch(), new_branch());
        assert!(a.starts_with(COOKIE) && a.len() > COOKIE.len());
        assert_ne!(a, b);
    }
}
