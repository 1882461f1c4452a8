//! The demo pages, built into the binary so they work from any working directory.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../../web/demos/index.html");
const ECHOTEST_HTML: &str = include_str!("../../../web/demos/echotest.html");
const ECHOTEST_JS: &str = include_str!("../../../web/demos/echotest.js");

fn page(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/demos/index.html") }))
        .route(
            "/demos",
            get(|| async { Redirect::to("/demos/index.html") }),
        )
        .route(
            "/demos/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/demos/index.html",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/demos/echotest.html",
            get(|| async { page("text/html; charset=utf-8", ECHOTEST_HTML) }),
        )
        .route(
            "/demos/echotest.js",
            get(|| async { page("text/javascript; charset=utf-8", ECHOTEST_JS) }),
        )
}
