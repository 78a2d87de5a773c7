//! Endpoints the gateway answers itself: liveness, readiness, the model list
//! and (on the admin listener) metrics.

use crate::http::request::Headers;
use crate::http::response::Response;
use crate::state::snapshot::Snapshot;
use bytes::Bytes;
use http::{Method, StatusCode};

pub fn healthz() -> Response {
    Response::json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

/// 200 when every route has a healthy target, else 503 with the reason.
pub fn readyz(snap: &Snapshot) -> Response {
    match snap.not_ready() {
        None => Response::json(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ready\"}")),
        Some(reason) => Response::json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "not_ready", "reason": reason }).to_string(),
        ),
    }
}

/// The endpoints of the main listener that need no route. The health
/// endpoints are open; the model list needs a credential when the policy
/// declares `auth` (unless `open` lists it).
pub fn answer(method: &Method, path: &str, headers: &Headers, snap: &Snapshot) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path {
        "/healthz" => Some(healthz()),
        "/readyz" => Some(readyz(snap)),
        "/v1/models" | "/v1/models/" => Some(match super::authn::check(snap, path, headers) {
            Ok(_) => Response::json(StatusCode::OK, snap.models.clone()),
            Err(e) => crate::http::error::to_response(&e, crate::wire::Api::OpenAi),
        }),
        _ => None,
    }
}
