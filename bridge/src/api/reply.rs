use serde_json::{json, Map, Value};

use super::ApiError;

/// A reply to one request, before it is serialized by the transport.
pub type Reply = Value;

/// `{"janus":"error", ...}` with the transaction and session echoed when known.
pub fn error_reply(transaction: Option<&str>, session: Option<u64>, err: &ApiError) -> Value {
    let mut m = Map::new();
    m.insert("janus".into(), "error".into());
    if let Some(s) = session {
        m.insert("session_id".into(), s.into());
    }
    if let Some(t) = transaction {
        m.insert("transaction".into(), t.into());
    }
    m.insert(
        "error".into(),
        json!({ "code": err.code, "reason": err.reason }),
    );
    Value::Object(m)
}
