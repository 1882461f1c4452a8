//! HTTP transport (janus-api.md §1.4): `POST /janus[/<session>[/<handle>]]`, long-poll
//! `GET /janus/<session>?maxev=N`, `GET /janus/info|ping`, CORS; the Admin API on its own
//! listener under `/admin`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

use crate::api::{self, ApiError, Path};
use crate::core::{Auth, CoreHandle, CoreInput, LongPollError, Origin};

/// How long a long poll waits for an event before answering `keepalive` (Janus: 30 s).
const LONG_POLL: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Http {
    core: CoreHandle,
    admin: bool,
    max_body: usize,
    allow_origin: HeaderValue,
}

/// The router of the Janus API (`admin = false`) or of the Admin API.
pub fn router(
    core: CoreHandle,
    base: &str,
    admin: bool,
    max_body: usize,
    allow_origin: &str,
    demos: bool,
) -> Router {
    let state = Http {
        core,
        admin,
        max_body,
        allow_origin: HeaderValue::from_str(allow_origin).unwrap_or(HeaderValue::from_static("*")),
    };
    let mut r = Router::new()
        .route(base, any(root))
        .route(&format!("{base}/"), any(root))
        .route(&format!("{base}/{{session}}"), any(session))
        .route(&format!("{base}/{{session}}/{{handle}}"), any(handle));
    if demos && !admin {
        r = r.merge(super::demos::router());
    }
    r.layer(middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

async fn cors(State(s): State<Http>, req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let requested = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut res = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, s.allow_origin.clone());
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested.unwrap_or(HeaderValue::from_static("content-type")),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    res
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error(code: u16, reason: &str) -> Response {
    json_response(
        StatusCode::OK,
        &api::error_reply(None, None, &ApiError::new(code, reason)),
    )
}

async fn root(State(s): State<Http>, req: Request) -> Response {
    match *req.method() {
        Method::POST => post(s, Path::default(), req).await,
        // `GET /janus` has no meaning in Janus either.
        Method::GET => error(
            ApiError::INVALID_REQUEST_PATH,
            "Unhandled request 'GET' at this path",
        ),
        _ => unsupported(),
    }
}

fn unsupported() -> Response {
    error(ApiError::TRANSPORT_SPECIFIC, "Unsupported method")
}

fn parse_id(raw: &str) -> Option<u64> {
    raw.parse::<u64>().ok().filter(|v| *v != 0)
}

async fn session(
    State(s): State<Http>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    if !s.admin && req.method() == Method::GET && (raw == "info" || raw == "ping") {
        let verb = raw.clone();
        let body = json!({ "janus": verb, "transaction": format!("http-get-{verb}") });
        return json_response(
            StatusCode::OK,
            &s.core
                .request(Ok(body), Path::default(), Origin::Http, false)
                .await,
        );
    }
    let Some(sid) = parse_id(&raw) else {
        return error(
            ApiError::SESSION_NOT_FOUND,
            &format!("Invalid session {raw}"),
        );
    };
    match *req.method() {
        Method::POST => {
            post(
                s,
                Path {
                    session: Some(sid),
                    handle: None,
                },
                req,
            )
            .await
        }
        Method::GET if !s.admin => long_poll(s, sid, q).await,
        _ => unsupported(),
    }
}

async fn handle(
    State(s): State<Http>,
    axum::extract::Path((rs, rh)): axum::extract::Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Response {
    let Some(sid) = parse_id(&rs) else {
        return error(
            ApiError::SESSION_NOT_FOUND,
            &format!("Invalid session {rs}"),
        );
    };
    let Some(hid) = parse_id(&rh) else {
        return error(ApiError::HANDLE_NOT_FOUND, &format!("Invalid handle {rh}"));
    };
    match *req.method() {
        Method::POST => {
            post(
                s,
                Path {
                    session: Some(sid),
                    handle: Some(hid),
                },
                req,
            )
            .await
        }
        Method::GET if !s.admin => long_poll(s, sid, q).await,
        _ => unsupported(),
    }
}

/// How much of an oversized body is read (and dropped) before the 413 goes out, so that
/// the client, still sending, reads the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;
/// How long that draining may take.
const DRAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The body, or `None` when it is larger than `limit` (then read to its end, up to
/// [`DRAIN_LIMIT`] and [`DRAIN_WITHIN`], and dropped).
async fn read_body(body: Body, limit: usize) -> Option<bytes::Bytes> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if buf.len() + chunk.len() > limit {
            let mut seen = buf.len() + chunk.len();
            let drain = async {
                while let Some(Ok(c)) = stream.next().await {
                    seen += c.len();
                    if seen > DRAIN_LIMIT {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_WITHIN, drain).await;
            return None;
        }
        buf.extend_from_slice(&chunk);
    }
    Some(buf.freeze())
}

async fn post(s: Http, path: Path, req: Request) -> Response {
    let body: Body = req.into_body();
    let bytes = match read_body(body, s.max_body).await {
        Some(b) => b,
        None => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &api::error_reply(
                    None,
                    None,
                    &ApiError::new(
                        ApiError::TRANSPORT_SPECIFIC,
                        format!("Request body too large (limit {} bytes)", s.max_body),
                    ),
                ),
            )
        }
    };
    let parsed = api::parse_body(&bytes);
    let reply = s.core.request(parsed, path, Origin::Http, s.admin).await;
    json_response(StatusCode::OK, &reply)
}

async fn long_poll(s: Http, sid: u64, q: HashMap<String, String>) -> Response {
    let maxev = q.get("maxev").and_then(|m| m.parse::<usize>().ok());
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.core.send(CoreInput::LongPoll {
        session: sid,
        maxev: maxev.unwrap_or(1).clamp(1, 100),
        auth: Auth {
            apisecret: q.get("apisecret").cloned(),
            token: q.get("token").cloned(),
        },
        reply: tx,
    });
    let events = match tokio::time::timeout(LONG_POLL, rx).await {
        Ok(Ok(Ok(events))) => events,
        Ok(Ok(Err(LongPollError::NoSession))) => {
            return StatusCode::NOT_FOUND.into_response();
        }
        Ok(Ok(Err(LongPollError::Unauthorized))) => {
            // Janus answers a long poll without valid credentials with a bare 403.
            return StatusCode::FORBIDDEN.into_response();
        }
        _ => Vec::new(),
    };
    let body = match (maxev, events.is_empty()) {
        (_, true) => json!({ "janus": "keepalive" }).to_string(),
        // The queued events are JSON text already: an array of them is their concatenation.
        (Some(_), false) => format!("[{}]", events.join(",")),
        (None, false) => events.into_iter().next().unwrap_or_default(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
