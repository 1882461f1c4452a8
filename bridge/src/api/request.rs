//! Decoding the Janus request envelope (janus-api.md §1.1), with Janus's error codes and the
//! order Janus checks things in: object → transaction → janus → ids.

use serde_json::{Map, Value};

use super::ApiError;

/// Where a request is addressed: the root, a session, or a handle in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Root,
    Session(u64),
    Handle { session: u64, handle: u64 },
}

impl Scope {
    pub fn session(&self) -> Option<u64> {
        match *self {
            Scope::Root => None,
            Scope::Session(s) | Scope::Handle { session: s, .. } => Some(s),
        }
    }
}

/// Ids that an HTTP URL carries (`/janus/<session>/<handle>`); they win over the body's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path {
    pub session: Option<u64>,
    pub handle: Option<u64>,
}

/// A decoded request: its verb (lower case), transaction, scope and the whole object.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub verb: String,
    pub transaction: String,
    pub scope: Scope,
    pub object: Map<String, Value>,
}

impl Envelope {
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.object.get(name).and_then(Value::as_str)
    }
}

/// Parses a request body. Invalid JSON is Janus error 454.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(ApiError::INVALID_JSON, format!("JSON error: {e}")))
}

fn id_field(obj: &Map<String, Value>, name: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::wrong_type(name, "a positive integer")),
    }
}

/// Decodes a request. On failure the transaction is returned when it could be read, so the
/// error reply can echo it.
pub fn decode(value: Value, path: Path) -> Result<Envelope, (Option<String>, ApiError)> {
    let Value::Object(object) = value else {
        return Err((
            None,
            ApiError::new(ApiError::INVALID_JSON_OBJECT, "JSON error: not an object"),
        ));
    };
    let transaction = match object.get("transaction") {
        None | Some(Value::Null) => return Err((None, ApiError::missing("transaction"))),
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err((None, ApiError::wrong_type("transaction", "a string"))),
    };
    let fail = |e: ApiError| Err((Some(transaction.clone()), e));
    let verb = match object.get("janus") {
        None | Some(Value::Null) => return fail(ApiError::missing("janus")),
        Some(Value::String(v)) => v.to_ascii_lowercase(),
        Some(_) => return fail(ApiError::wrong_type("janus", "a string")),
    };
    let body_session = match id_field(&object, "session_id") {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let body_handle = match id_field(&object, "handle_id") {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let session = path.session.or(body_session).filter(|s| *s != 0);
    let handle = path.handle.or(body_handle).filter(|h| *h != 0);
    let scope = match (session, handle) {
        (None, None) => Scope::Root,
        (Some(s), None) => Scope::Session(s),
        (Some(session), Some(handle)) => Scope::Handle { session, handle },
        (None, Some(_)) => return fail(ApiError::bad_path(&verb)),
    };
    Ok(Envelope {
        verb,
        transaction,
        scope,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(v: Value) -> u16 {
        decode(v, Path::default()).unwrap_err().1.code
    }

    #[test]
    fn envelope_errors_use_janus_codes_in_janus_order() {
        assert_eq!(code(json!([1, 2])), 455);
        assert_eq!(code(json!({"janus": "info"})), 456);
        assert_eq!(code(json!({"janus": "info", "transaction": 5})), 467);
        assert_eq!(code(json!({"transaction": "x"})), 456);
        assert_eq!(code(json!({"transaction": "x", "janus": 1})), 467);
        assert_eq!(
            code(json!({"transaction": "x", "janus": "keepalive", "session_id": "1"})),
            467
        );
        assert_eq!(parse_body(b"{nope").unwrap_err().code, 454);
    }

    #[test]
    fn path_ids_win_over_body_ids() {
        let v = json!({"transaction": "x", "janus": "Message", "session_id": 1, "handle_id": 2});
        let e = decode(
            v,
            Path {
                session: Some(9),
                handle: None,
            },
        )
        .unwrap();
        assert_eq!(e.verb, "message");
        assert_eq!(
            e.scope,
            Scope::Handle {
                session: 9,
                handle: 2
            }
        );
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_body(deep.as_bytes()).unwrap_err().code, 454);
    }
}
