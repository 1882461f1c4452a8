//! Messages the peer sends in a dialog: requests (§12.2.2) and responses to our in-dialog
//! requests (§12.2.1.2).

use crate::message::{Request, Response};
use crate::method::Method;
use crate::typed::{CSeq, RecordRoute};

use super::create::contact_of;
use super::error::DialogError;
use super::id::DialogId;
use super::{Dialog, DialogState, Role, Termination};

/// Requests whose Contact replaces the remote target (§12.2, RFC 3311 §5.2 for UPDATE).
pub(super) fn is_target_refresh(method: &Method) -> bool {
    matches!(method, Method::Invite | Method::Update)
}

impl Dialog {
    /// True when `request` carries this dialog's id (our tag in To, theirs in From).
    pub fn matches_request(&self, request: &Request) -> bool {
        matches!(DialogId::of_incoming_request(request), Ok(Some(id)) if id == self.id)
    }

    /// Checks and applies a request the peer sent in this dialog (§12.2.2): a CSeq lower
    /// than the last one is refused (answer [`DialogError::status`], 500); a target refresh
    /// request's Contact becomes the remote target; a BYE ends the dialog (§15.1.2). ACK and
    /// CANCEL carry the CSeq number of their INVITE and are not checked.
    pub fn handle_request(&mut self, request: &Request) -> Result<(), DialogError> {
        if self.is_terminated() && request.method != Method::Ack {
            return Err(DialogError::Terminated);
        }
        if !self.matches_request(request) {
            return Err(DialogError::WrongDialog);
        }
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let cseq = request
            .headers
            .typed::<CSeq>()?
            .ok_or(DialogError::Missing("CSeq"))?;
        if let Some(last) = self.remote_seq {
            if cseq.seq < last {
                return Err(DialogError::CSeqOutOfOrder {
                    got: cseq.seq,
                    last,
                });
            }
        }
        self.remote_seq = Some(cseq.seq);
        if is_target_refresh(&request.method) {
            if let Some(c) = contact_of(&request.headers)? {
                self.remote_target = c.uri;
            }
        }
        if request.method == Method::Bye {
            self.terminate(Termination::RemoteBye);
        }
        Ok(())
    }

    /// Reads a response to a request we sent in this dialog, or to the dialog-creating
    /// INVITE (§12.2.1.2, §13.2.2.4):
    ///
    /// - a 2xx to the INVITE confirms an early dialog and recomputes its route set;
    /// - a 2xx to a target refresh request replaces the remote target with its Contact;
    /// - a 481 or 408 ends the dialog.
    pub fn handle_response(&mut self, response: &Response) -> Result<(), DialogError> {
        let cseq = response
            .headers
            .typed::<CSeq>()?
            .ok_or(DialogError::Missing("CSeq"))?;
        let status = response.status;
        // §12.2.1.2, §14.1 (re-INVITE): the peer lost the dialog, or never answered.
        if matches!(status, 408 | 481) && (self.is_confirmed() || cseq.method != Method::Invite) {
            self.terminate(Termination::Final(status));
            return Ok(());
        }
        if self.state == DialogState::Early
            && self.role == Role::Uac
            && (101..200).contains(&status)
        {
            // A later provisional of the same early dialog may bring the Contact that the
            // first one lacked (§12.1.2 keeps it for the dialog's lifetime; RFC 3261 lets
            // the 2xx recompute it).
            if let Some(c) = contact_of(&response.headers)? {
                self.remote_target = c.uri;
            }
        }
        if !(200..300).contains(&status) {
            return Ok(());
        }
        if self.state == DialogState::Early
            && self.role == Role::Uac
            && cseq.method == Method::Invite
        {
            let mut rr = response.headers.typed_all::<RecordRoute>()?;
            rr.reverse();
            self.route_set = rr.into_iter().map(|r| r.0).collect();
            self.confirm();
        }
        if is_target_refresh(&cseq.method) {
            if let Some(c) = contact_of(&response.headers)? {
                self.remote_target = c.uri;
            }
        }
        Ok(())
    }
}
