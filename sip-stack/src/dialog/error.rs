//! Errors of the dialog layer.

use crate::typed::HeaderError;

/// Why a dialog could not be created, or refused an in-dialog request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("bad header: {0}")]
    Header(#[from] HeaderError),
    /// Only 101–299 responses to an INVITE create dialogs (§12.1).
    #[error("a {0} response does not create a dialog")]
    NotDialogCreating(u16),
    /// A response that creates a dialog must carry a To tag (§12.1.2).
    #[error("response has no To tag")]
    MissingRemoteTag,
    /// A request without From tag cannot start a dialog we can address later (§12.1.1;
    /// RFC 2543 peers are not supported).
    #[error("request has no From tag")]
    MissingFromTag,
    /// The request's CSeq is lower than the last one seen in this dialog (§12.2.2).
    #[error("CSeq {got} is lower than the dialog's remote CSeq {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
    /// The message belongs to another dialog.
    #[error("message does not belong to this dialog")]
    WrongDialog,
    #[error("the dialog has terminated")]
    Terminated,
}

impl DialogError {
    /// The status to answer an in-dialog request refused with this error: 500 for an
    /// out-of-order CSeq (§12.2.2), 481 for a request that matches no live dialog (§12.2.2),
    /// 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder { .. } => 500,
            DialogError::WrongDialog | DialogError::Terminated => 481,
            _ => 400,
        }
    }
}
