//! Creating a dialog: UAS side from the request (§12.1.1), UAC side from the response
//! (§12.1.2).

use crate::message::{Request, Response};
use crate::typed::{CSeq, CallId, Contact, From, NameAddr, RecordRoute, To, Transport, Via};
use crate::uri::Uri;

use super::error::DialogError;
use super::id::DialogId;
use super::{Dialog, DialogState, Role};

impl Dialog {
    /// The dialog a 101–299 response to our INVITE `request` creates (§12.1.2): route set =
    /// Record-Route of the response, reversed; remote target = its Contact (a provisional
    /// without Contact keeps the Request-URI until one arrives); local CSeq = the INVITE's;
    /// early on 1xx, confirmed on 2xx.
    pub fn uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        let status = response.status;
        if !(101..=299).contains(&status) {
            return Err(DialogError::NotDialogCreating(status));
        }
        let id = DialogId::of_response(response)?.ok_or(DialogError::MissingRemoteTag)?;
        if id.local_tag.is_empty() {
            return Err(DialogError::MissingFromTag);
        }
        let from = required::<From>(request, "From")?;
        let to = response
            .headers
            .typed::<To>()?
            .ok_or(DialogError::Missing("To"))?;
        let cseq = required::<CSeq>(request, "CSeq")?;
        let via = required::<Via>(request, "Via")?;
        let local_contact = contact_of(&request.headers)?.ok_or(DialogError::Missing("Contact"))?;
        let remote_target = match contact_of(&response.headers)? {
            Some(c) => c.uri,
            None if status < 200 => request.uri.clone(),
            None => return Err(DialogError::Missing("Contact")),
        };
        let mut route_set = response.headers.typed_all::<RecordRoute>()?;
        route_set.reverse();
        Ok(Dialog {
            id,
            role: Role::Uac,
            state: if status < 200 {
                DialogState::Early
            } else {
                DialogState::Confirmed
            },
            local_uri: without_tag(from.0),
            remote_uri: without_tag(to.0),
            local_contact,
            remote_target,
            route_set: route_set.into_iter().map(|r| r.0).collect(),
            local_seq: Some(cseq.seq),
            remote_seq: None,
            secure: is_secure(&request.uri, &via),
            via: without_branch(via),
        })
    }

    /// The dialog we create by answering `request` with a To tag `local_tag` (§12.1.1):
    /// route set = Record-Route of the request in order; remote target = its Contact; remote
    /// CSeq = its CSeq; our CSeq starts when we first send. `via` is our own Via (its branch
    /// is ignored). The dialog is early until [`Dialog::confirm`] (when we send a 2xx).
    pub fn uas(
        request: &Request,
        local_tag: &str,
        local_contact: NameAddr,
        via: Via,
    ) -> Result<Dialog, DialogError> {
        let call_id = required::<CallId>(request, "Call-ID")?;
        let from = required::<From>(request, "From")?;
        let to = required::<To>(request, "To")?;
        let cseq = required::<CSeq>(request, "CSeq")?;
        let their_via = required::<Via>(request, "Via")?;
        let remote_target = contact_of(&request.headers)?
            .ok_or(DialogError::Missing("Contact"))?
            .uri;
        let route_set = request.headers.typed_all::<RecordRoute>()?;
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.0,
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag().unwrap_or_default().to_owned(),
            },
            role: Role::Uas,
            state: DialogState::Early,
            local_uri: without_tag(to.0),
            remote_uri: without_tag(from.0),
            local_contact,
            remote_target,
            route_set: route_set.into_iter().map(|r| r.0).collect(),
            local_seq: None,
            remote_seq: Some(cseq.seq),
            secure: is_secure(&request.uri, &their_via),
            via: without_branch(via),
        })
    }
}

fn required<T: crate::typed::TypedHeader>(
    request: &Request,
    name: &'static str,
) -> Result<T, DialogError> {
    request
        .headers
        .typed::<T>()?
        .ok_or(DialogError::Missing(name))
}

/// The first Contact address (a `*` is no target).
pub(super) fn contact_of(headers: &crate::Headers) -> Result<Option<NameAddr>, DialogError> {
    Ok(headers
        .typed::<Contact>()?
        .and_then(|c| c.address().cloned()))
}

fn without_tag(mut a: NameAddr) -> NameAddr {
    a.params.remove("tag");
    a
}

fn without_branch(mut via: Via) -> Via {
    via.params.remove("branch");
    via
}

/// §12.1.1, §12.1.2: TLS hop and a SIPS Request-URI.
fn is_secure(uri: &Uri, via: &Via) -> bool {
    uri.as_sip().is_some_and(|u| u.secure)
        && matches!(via.transport, Transport::Tls | Transport::Wss)
}
