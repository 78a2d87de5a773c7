//! The admin listener: `/metrics` (Prometheus text format), `/healthz` and
//! `/readyz`.

use crate::http::body::Body;
use crate::http::error::error_body;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::net::listen::Service;
use crate::pipeline::builtin;
use crate::pipeline::{self, Ctx};
use crate::wire::Api;
use http::header::{self, HeaderValue};
use http::StatusCode;
use std::sync::Arc;

/// The admin endpoints.
#[derive(Clone)]
pub struct Admin(pub Arc<Ctx>);

impl Service for Admin {
    fn refusal(&self, status: StatusCode, why: &str) -> bytes::Bytes {
        error_body(Api::OpenAi, status, why, "invalid_request")
    }

    fn body_limit(&self) -> u64 {
        // The admin endpoints take no body.
        64 * 1024
    }

    async fn call(&self, req: Request) -> Response {
        match req.uri.path() {
            "/metrics" => {
                let mut r = Response::new(StatusCode::OK, Body::full(self.0.state.metrics.render()));
                r.add(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
                r
            }
            "/healthz" => builtin::healthz(),
            "/readyz" => builtin::readyz(&self.0.current.load()),
            path => Response::json(
                StatusCode::NOT_FOUND,
                error_body(
                    Api::OpenAi,
                    StatusCode::NOT_FOUND,
                    &format!("unknown admin endpoint `{path}`"),
                    "not_found",
                ),
            ),
        }
    }
}

/// The API endpoints.
#[derive(Clone)]
pub struct Main(pub Arc<Ctx>);

impl Service for Main {
    fn refusal(&self, status: StatusCode, why: &str) -> bytes::Bytes {
        // The head could not be read, so neither could the API it speaks.
        error_body(Api::OpenAi, status, why, "invalid_request")
    }

    fn body_limit(&self) -> u64 {
        self.0.current.load().graph.gateway.max_body
    }

    fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        pipeline::handle(self.0.clone(), req)
    }
}
