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

/// A request that could not be decoded, with what could be read of it for the error reply.
#[derive(Debug)]
pub struct DecodeError {
    pub transaction: Option<String>,
    pub session: Option<u64>,
    pub error: ApiError,
}

/// Decodes a request. On failure the transaction and session are kept when they could be
/// read, so the error reply can echo them.
pub fn decode(value: Value, path: Path) -> Result<Envelope, DecodeError> {
    let Value::Object(object) = value else {
        return Err(DecodeError {
            transaction: None,
            session: path.session,
            error: ApiError::new(ApiError::INVALID_JSON_OBJECT, "JSON error: not an object"),
        });
    };
    let session_hint = path
        .session
        .or_else(|| object.get("session_id").and_then(Value::as_u64));
    let transaction = match object.get("transaction") {
        Some(Value::String(t)) => t.clone(),
        other => {
            let error = match other {
                None | Some(Value::Null) => ApiError::missing("transaction"),
                Some(_) => ApiError::wrong_type("transaction", "a string"),
            };
            return Err(DecodeError {
                transaction: None,
                session: session_hint,
                error,
            });
        }
    };
    let fail = |error: ApiError| {
        Err(DecodeError {
            transaction: Some(transaction.clone()),
            session: session_hint,
            error,
        })
    };
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
    // An id in the body that contradicts the URL is refused, never silently overridden.
    if let (Some(p), Some(b)) = (path.session, body_session) {
        if p != b {
            return fail(ApiError::new(
                ApiError::INVALID_REQUEST_PATH,
                "Conflicting session ID (payload and path)",
            ));
        }
    }
    if let (Some(p), Some(b)) = (path.handle, body_handle) {
        if p != b {
            return fail(ApiError::new(
                ApiError::INVALID_REQUEST_PATH,
                "Conflicting handle ID (payload and path)",
            ));
        }
    }
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
        decode(v, Path::default()).unwrap_err().error.code
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
    fn path_and_body_ids_combine_and_must_agree() {
        let path = Path {
            session: Some(9),
            handle: None,
        };
        let v = json!({"transaction": "x", "janus": "Message", "handle_id": 2});
        let e = decode(v, path).unwrap();
        assert_eq!(e.verb, "message");
        assert_eq!(
            e.scope,
            Scope::Handle {
                session: 9,
                handle: 2
            }
        );
        let v = json!({"transaction": "x", "janus": "destroy", "session_id": 10});
        let err = decode(v, path).unwrap_err();
        assert_eq!(err.error.code, 457);
        assert_eq!(err.session, Some(9));
    }

    #[test]
    fn deeply_nested_json_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert_eq!(parse_body(deep.as_bytes()).unwrap_err().code, 454);
    }
}
