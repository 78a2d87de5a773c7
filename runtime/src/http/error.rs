//! The one error type of the request path, and the one function that turns it
//! into the client's response.
//!
//! Each error carries the operational facts the pipeline needs: where it came
//! from, whether trying again (the same or another target) is safe, and the
//! status to answer. Bodies are OpenAI-shaped (`{"error":{"message","type",
//! "code"}}`) except on the Anthropic endpoint, where they take Anthropic's
//! shape (`{"type":"error","error":{"type","message"}}`).

use crate::http::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use std::fmt;

use crate::wire::{self, Api};

/// Where an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The client sent something wrong.
    Downstream,
    /// The provider failed or refused.
    Upstream,
    /// The gateway itself (no route, no healthy target).
    Gateway,
}

/// What went wrong, for metrics and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    NotFound,
    ModelNotFound,
    MethodNotAllowed,
    TooLarge,
    BodyTimeout,
    Unsupported,
    Connect,
    Timeout,
    Reset,
    /// The provider answered with an error status.
    Status,
    /// The provider refused the gateway's own credentials (401, 403).
    UpstreamAuth,
    /// The provider answered something that is not its wire format.
    Protocol,
    BreakerOpen,
    Unhealthy,
    /// The gateway is at one of its global limits.
    Overloaded,
    /// A `limit` the route uses is exhausted for this caller.
    RateLimited,
    /// No valid credential.
    Unauthorized,
    /// A valid credential without the right to do this.
    Forbidden,
    Internal,
}

impl Kind {
    /// A short label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BadRequest => "bad_request",
            Kind::NotFound => "not_found",
            Kind::ModelNotFound => "model_not_found",
            Kind::MethodNotAllowed => "method_not_allowed",
            Kind::TooLarge => "too_large",
            Kind::BodyTimeout => "body_timeout",
            Kind::Unsupported => "unsupported",
            Kind::Connect => "connect",
            Kind::Timeout => "timeout",
            Kind::Reset => "reset",
            Kind::Status => "status",
            Kind::UpstreamAuth => "upstream_auth",
            Kind::Protocol => "protocol",
            Kind::BreakerOpen => "breaker_open",
            Kind::Unhealthy => "unhealthy",
            Kind::Overloaded => "overloaded",
            Kind::RateLimited => "rate_limited",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::Internal => "internal",
        }
    }
}

/// An error on the request path.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub kind: Kind,
    pub origin: Origin,
    /// Whether another attempt (same target after a backoff, or the next
    /// fallback) may succeed and cannot cause harm.
    pub retry_safe: bool,
    pub status: StatusCode,
    /// One line for the client; never contains prompt text or secrets.
    pub message: String,
    /// The upstream's own error body, answered in its place (translated to
    /// the client's format) when the provider refused with a status.
    pub upstream_body: Option<Bytes>,
    pub retry_after: Option<HeaderValue>,
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind.as_str(), self.status.as_u16(), self.message)
    }
}

impl std::error::Error for GatewayError {}

impl GatewayError {
    fn new(kind: Kind, origin: Origin, retry_safe: bool, status: StatusCode, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            origin,
            retry_safe,
            status,
            message: message.into(),
            upstream_body: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, Origin::Downstream, false, StatusCode::BAD_REQUEST, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, Origin::Downstream, false, StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, Origin::Gateway, false, StatusCode::NOT_FOUND, message)
    }
    pub fn model_not_found(message: impl Into<String>) -> Self {
        Self::new(Kind::ModelNotFound, Origin::Gateway, false, StatusCode::NOT_FOUND, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(Kind::MethodNotAllowed, Origin::Downstream, false, StatusCode::METHOD_NOT_ALLOWED, message)
    }
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            Kind::TooLarge,
            Origin::Downstream,
            false,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the gateway's limit of {limit} bytes"),
        )
    }
    pub fn body_timeout() -> Self {
        Self::new(
            Kind::BodyTimeout,
            Origin::Downstream,
            false,
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )
    }
    pub fn connect(provider: &str) -> Self {
        Self::new(
            Kind::Connect,
            Origin::Upstream,
            true,
            StatusCode::BAD_GATEWAY,
            format!("cannot connect to provider `{provider}`"),
        )
    }
    pub fn timeout(provider: &str) -> Self {
        Self::new(
            Kind::Timeout,
            Origin::Upstream,
            true,
            StatusCode::GATEWAY_TIMEOUT,
            format!("provider `{provider}` did not answer in time"),
        )
    }
    pub fn reset(provider: &str) -> Self {
        Self::new(
            Kind::Reset,
            Origin::Upstream,
            true,
            StatusCode::BAD_GATEWAY,
            format!("provider `{provider}` closed the connection"),
        )
    }
    pub fn protocol(provider: &str, what: impl fmt::Display) -> Self {
        Self::new(
            Kind::Protocol,
            Origin::Upstream,
            false,
            StatusCode::BAD_GATEWAY,
            format!("provider `{provider}` sent an invalid answer: {what}"),
        )
    }
    pub fn breaker_open(provider: &str) -> Self {
        Self::new(
            Kind::BreakerOpen,
            Origin::Gateway,
            true,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("provider `{provider}` is failing; its circuit breaker is open"),
        )
    }
    pub fn unhealthy(provider: &str) -> Self {
        Self::new(
            Kind::Unhealthy,
            Origin::Gateway,
            true,
            StatusCode::SERVICE_UNAVAILABLE,
            format!("provider `{provider}` is unhealthy"),
        )
    }
    /// The gateway holds as much request body memory as it may: 503 with
    /// `Retry-After: 1`.
    pub fn overloaded(message: impl Into<String>) -> Self {
        let mut e = Self::new(Kind::Overloaded, Origin::Gateway, false, StatusCode::SERVICE_UNAVAILABLE, message);
        e.retry_after = Some(HeaderValue::from_static("1"));
        e
    }
    /// 429: a limit is exhausted; `retry_after` in seconds, when known.
    /// 429 before sending: the provider is held to a rate after it
    /// signalled its own limit (`upstream::pacer`); a fallback may serve.
    pub fn paced(provider: &str, wait: std::time::Duration) -> Self {
        let mut e = Self::new(
            Kind::RateLimited,
            Origin::Gateway,
            true,
            StatusCode::TOO_MANY_REQUESTS,
            format!("provider `{provider}` signalled its rate limit; requests to it are paced"),
        );
        let secs = wait.as_millis().div_ceil(1000).max(1);
        e.retry_after = HeaderValue::from_str(&secs.to_string()).ok();
        e
    }
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<u64>) -> Self {
        let mut e = Self::new(Kind::RateLimited, Origin::Downstream, false, StatusCode::TOO_MANY_REQUESTS, message);
        e.retry_after = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok());
        e
    }
    /// 401: the request has no valid credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, Origin::Downstream, false, StatusCode::UNAUTHORIZED, message)
    }
    /// 403: the credential is valid but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, Origin::Downstream, false, StatusCode::FORBIDDEN, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Kind::Internal, Origin::Gateway, false, StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The provider answered `status`; 5xx and 429 are worth another try.
    pub fn upstream_status(provider: &str, status: StatusCode, body: Bytes, retry_after: Option<HeaderValue>) -> Self {
        let retry_safe = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        let mut e = Self::new(
            Kind::Status,
            Origin::Upstream,
            retry_safe,
            status,
            format!("provider `{provider}` answered {}", status.as_u16()),
        );
        e.upstream_body = Some(body);
        e.retry_after = retry_after;
        e
    }

    /// The provider answered 401 or 403: the gateway's credentials are
    /// wrong or not allowed, which is the gateway's fault, not the
    /// client's. The client gets 502 and a gateway message; the provider's
    /// own message goes to the log. Another target may still answer.
    pub fn upstream_auth(provider: &str, status: StatusCode) -> Self {
        Self::new(
            Kind::UpstreamAuth,
            Origin::Upstream,
            true,
            StatusCode::BAD_GATEWAY,
            format!(
                "provider `{provider}` refused the gateway's credentials ({}); the operator must fix them",
                status.as_u16()
            ),
        )
    }

    /// Whether the failure says the provider is unwell (for the breaker):
    /// connection trouble, timeouts and 5xx do; 4xx, 429 included, do not.
    pub fn counts_against_provider(&self) -> bool {
        match self.kind {
            Kind::Connect | Kind::Timeout | Kind::Reset | Kind::Protocol => true,
            Kind::Status => self.status.is_server_error(),
            _ => false,
        }
    }

    /// The `code` of the error body.
    fn code(&self) -> &'static str {
        match self.kind {
            Kind::BadRequest => "invalid_request",
            Kind::NotFound => "not_found",
            Kind::ModelNotFound => "model_not_found",
            Kind::MethodNotAllowed => "method_not_allowed",
            Kind::TooLarge => "request_too_large",
            Kind::BodyTimeout => "request_timeout",
            Kind::Unsupported => "unsupported",
            Kind::Connect => "upstream_connect_error",
            Kind::Timeout => "upstream_timeout",
            Kind::Reset => "upstream_reset",
            Kind::Status => "upstream_error",
            Kind::UpstreamAuth => "upstream_auth_error",
            Kind::Protocol => "upstream_protocol_error",
            Kind::BreakerOpen => "circuit_open",
            Kind::Unhealthy => "provider_unhealthy",
            Kind::Overloaded => "gateway_overloaded",
            Kind::RateLimited => "rate_limit_exceeded",
            Kind::Unauthorized => "invalid_api_key",
            Kind::Forbidden => "permission_denied",
            Kind::Internal => "internal_error",
        }
    }
}

/// The OpenAI error `type` for a status.
pub fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "invalid_request_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// The Anthropic error `type` for a status.
pub fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An error body in the client's format.
pub fn error_body(api: Api, status: StatusCode, message: &str, code: &str) -> Bytes {
    let v = match api {
        Api::OpenAi => serde_json::json!({
            "error": { "message": message, "type": openai_type(status), "param": null, "code": code }
        }),
        Api::Anthropic => serde_json::json!({
            "type": "error",
            "error": { "type": anthropic_type(status), "message": message }
        }),
    };
    Bytes::from(v.to_string())
}

/// Turns an error into the client's response. The upstream's own error body
/// is kept (reshaped into the client's format) when there is one, since it
/// says more than we can.
pub fn to_response(err: &GatewayError, api: Api) -> Response {
    let body = match &err.upstream_body {
        Some(raw) => upstream_error_body(api, err.status, raw),
        None => error_body(api, err.status, &err.message, err.code()),
    };
    let mut resp = Response::json(err.status, body);
    if let Some(ra) = &err.retry_after {
        resp.add(header::RETRY_AFTER, ra.clone());
    }
    resp
}

/// An upstream's error body, whatever its shape, in the client's format.
pub fn upstream_error_body(api: Api, status: StatusCode, raw: &[u8]) -> Bytes {
    let out = match api {
        Api::OpenAi => serde_json::to_vec(&wire::upstream_error_to_openai(status.as_u16(), raw)),
        Api::Anthropic => serde_json::to_vec(&wire::upstream_error_to_anthropic(status.as_u16(), raw)),
    };
    out.map(Bytes::from).unwrap_or_else(|_| error_body(api, status, "upstream error", "upstream_error"))
}

/// One SSE error frame in the client's format, ending a broken stream.
pub fn stream_error_frame(api: Api, message: &str) -> Bytes {
    let status = StatusCode::BAD_GATEWAY;
    let body = error_body(api, status, message, "upstream_stream_error");
    let mut out = Vec::with_capacity(body.len() + 32);
    if api == Api::Anthropic {
        out.extend_from_slice(b"event: error\n");
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_shape() {
        let e = GatewayError::too_large(10);
        let r = to_response(&e, Api::OpenAi);
        assert_eq!(r.status, 413);
        let b = error_body(Api::OpenAi, e.status, &e.message, e.code());
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "request_too_large");
    }

    #[test]
    fn anthropic_shape() {
        let b = error_body(Api::Anthropic, StatusCode::NOT_FOUND, "x", "not_found");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "not_found_error");
    }

    #[test]
    fn retry_safety() {
        assert!(GatewayError::upstream_status("p", StatusCode::BAD_GATEWAY, Bytes::new(), None).retry_safe);
        assert!(GatewayError::upstream_status("p", StatusCode::TOO_MANY_REQUESTS, Bytes::new(), None).retry_safe);
        assert!(!GatewayError::upstream_status("p", StatusCode::BAD_REQUEST, Bytes::new(), None).retry_safe);
        assert!(!GatewayError::upstream_status("p", StatusCode::TOO_MANY_REQUESTS, Bytes::new(), None)
            .counts_against_provider());
    }
}
