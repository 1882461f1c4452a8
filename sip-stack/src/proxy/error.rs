//! Errors of the proxy core.

use crate::transaction::TransactionError;
use crate::typed::HeaderError;

/// Why the proxy refused a call from the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The server transaction is not one the proxy was told about, or it has ended.
    #[error("no proxy context for this server transaction")]
    UnknownContext,
    /// `forward` was called twice for one request.
    #[error("the request has already been forwarded")]
    AlreadyForwarded,
    /// The target set is empty: answer the request instead (e.g. 404, 480).
    #[error("no targets to forward to")]
    NoTargets,
    #[error("bad header: {0}")]
    Header(#[from] HeaderError),
    #[error("transaction layer: {0}")]
    Transaction(#[from] TransactionError),
}
