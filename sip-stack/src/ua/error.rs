//! Errors of the user-agent layer.

use crate::dialog::DialogError;

/// Why a UA verb was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaError {
    /// [`super::InviteSession::incoming`] needs an INVITE.
    #[error("not an INVITE")]
    NotInvite,
    /// The INVITE cannot start a dialog (no Contact, no From tag…): answer 400.
    #[error("cannot create the dialog: {0}")]
    Dialog(#[from] DialogError),
    /// The verb makes no sense in the session's current state.
    #[error("{verb} is not possible in state {state}")]
    InvalidState {
        verb: &'static str,
        state: &'static str,
    },
}
