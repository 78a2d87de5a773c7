//! Endpoints the gateway answers itself: liveness, readiness, the model list
//! and (on the admin listener) metrics.

use crate::body::Body;
use crate::snapshot::Snapshot;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

/// A JSON response.
pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn healthz() -> Response<Body> {
    json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

/// 200 when every route has a healthy target, else 503 with the reason.
pub fn readyz(snap: &Snapshot) -> Response<Body> {
    match snap.not_ready() {
        None => json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ready\"}")),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "not_ready", "reason": reason }).to_string(),
        ),
    }
}

/// The endpoints of the main listener that need no route.
pub fn answer(method: &Method, path: &str, snap: &Snapshot) -> Option<Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path {
        "/healthz" => Some(healthz()),
        "/readyz" => Some(readyz(snap)),
        "/v1/models" | "/v1/models/" => Some(json(StatusCode::OK, snap.models.clone())),
        _ => None,
    }
}
