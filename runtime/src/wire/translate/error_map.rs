//! Error bodies across formats, and HTTP statuses to error `type`s and back.
//!
//! The gateway's own errors use the `type` vocabulary Anthropic documents
//! (`invalid_request_error`, `rate_limit_error`, `overloaded_error`, ...): it is a superset of
//! what OpenAI clients branch on, and it lets one table serve both formats.

use serde::Deserialize;
use serde_json::Value;

use crate::wire::{anthropic, openai};

/// The error `type`s of the Anthropic API.
const ANTHROPIC_TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
];

/// The error `type` for an HTTP status: 400 `invalid_request_error`, 401
/// `authentication_error`, 403 `permission_error`, 404 `not_found_error`, 413
/// `request_too_large`, 429 `rate_limit_error`, 529 `overloaded_error`, other 5xx `api_error`,
/// other 4xx `invalid_request_error`.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The HTTP status for an error `type` of either API (OpenAI's `server_error`,
/// `insufficient_quota`, `requests` and `tokens` included); 500 when unknown.
pub fn status_for_error_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" | "insufficient_quota" | "requests" | "tokens" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// The Anthropic error `type` for an OpenAI one: kept when Anthropic has it, else derived from
/// `status` (or from the OpenAI type when `status` is not an error status, as mid-stream).
pub(super) fn anthropic_type_for(openai_kind: &str, status: u16) -> &'static str {
    if let Some(kind) = ANTHROPIC_TYPES.iter().find(|kind| **kind == openai_kind) {
        return kind;
    }
    let status = if status >= 400 { status } else { status_for_error_type(openai_kind) };
    error_type_for_status(status)
}

/// An OpenAI error body as an Anthropic one; `status` is the HTTP status it came with.
pub fn openai_error_to_anthropic(body: &openai::ErrorBody, status: u16) -> anthropic::ErrorBody {
    anthropic::ErrorBody::new(anthropic_type_for(&body.error.kind, status), body.error.message.clone())
}

/// An Anthropic error body as an OpenAI one; the `type` is kept (an empty one becomes
/// `api_error`).
pub fn anthropic_error_to_openai(body: &anthropic::ErrorBody) -> openai::ErrorBody {
    let kind = if body.error.kind.is_empty() { "api_error" } else { &body.error.kind };
    openai::ErrorBody::new(kind, body.error.message.clone())
}

/// Longest excerpt of a non-JSON upstream body that is put into a message.
const MAX_RAW_MESSAGE: usize = 512;

/// What an upstream error body says, whatever its shape.
struct Parsed {
    kind: Option<String>,
    message: String,
    param: Option<String>,
    code: Option<String>,
}

fn parse_upstream(status: u16, body: &[u8]) -> Parsed {
    #[derive(Deserialize)]
    struct Loose {
        #[serde(default)]
        error: Option<Value>,
        #[serde(default)]
        message: Option<String>,
    }
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let stringish = |value: Option<&Value>| match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match serde_json::from_slice::<Loose>(body) {
        Ok(Loose { error: Some(Value::Object(error)), .. }) => Parsed {
            kind: text(error.get("type")).filter(|kind| !kind.is_empty()),
            message: text(error.get("message")).unwrap_or_default(),
            param: stringish(error.get("param")),
            code: stringish(error.get("code")),
        },
        Ok(Loose { error: Some(Value::String(message)), .. }) | Ok(Loose { message: Some(message), .. }) => {
            Parsed { kind: None, message, param: None, code: None }
        }
        _ => {
            let raw = String::from_utf8_lossy(body);
            let raw = raw.trim();
            let message = if raw.is_empty() {
                format!("upstream answered with status {status}")
            } else {
                let end =
                    (0..=raw.len().min(MAX_RAW_MESSAGE)).rev().find(|&end| raw.is_char_boundary(end)).unwrap_or(0);
                raw[..end].to_owned()
            };
            Parsed { kind: None, message, param: None, code: None }
        }
    }
}

/// Any upstream error body (OpenAI, Anthropic, `{"error":"text"}`, plain text) as an OpenAI
/// error body; the `type` comes from the body, else from `status`.
pub fn upstream_error_to_openai(status: u16, body: &[u8]) -> openai::ErrorBody {
    let parsed = parse_upstream(status, body);
    let mut out =
        openai::ErrorBody::new(parsed.kind.unwrap_or_else(|| error_type_for_status(status).to_owned()), parsed.message);
    out.error.param = parsed.param;
    out.error.code = parsed.code;
    out
}

/// Any upstream error body as an Anthropic error body; the `type` is an Anthropic one.
pub fn upstream_error_to_anthropic(status: u16, body: &[u8]) -> anthropic::ErrorBody {
    let parsed = parse_upstream(status, body);
    let kind = match parsed.kind {
        Some(kind) => anthropic_type_for(&kind, status),
        None => error_type_for_status(status),
    };
    anthropic::ErrorBody::new(kind, parsed.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_types_and_back() {
        let table = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (529, "overloaded_error"),
        ];
        for (status, kind) in table {
            assert_eq!(error_type_for_status(status), kind);
            assert_eq!(status_for_error_type(kind), status);
        }
        assert_eq!(error_type_for_status(502), "api_error");
        assert_eq!(error_type_for_status(503), "api_error");
        assert_eq!(error_type_for_status(504), "api_error");
        assert_eq!(error_type_for_status(422), "invalid_request_error");
        assert_eq!(status_for_error_type("insufficient_quota"), 429);
        assert_eq!(status_for_error_type("server_error"), 500);
    }

    #[test]
    fn openai_body_to_anthropic_and_back() {
        let body: openai::ErrorBody = serde_json::from_str(
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        )
        .unwrap();
        let anthropic = openai_error_to_anthropic(&body, 401);
        assert_eq!(
            serde_json::to_string(&anthropic).unwrap(),
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"Incorrect API key provided"}}"#
        );
        let server: openai::ErrorBody =
            serde_json::from_str(r#"{"error":{"message":"boom","type":"server_error"}}"#).unwrap();
        assert_eq!(openai_error_to_anthropic(&server, 503).error.kind, "api_error");
        assert_eq!(openai_error_to_anthropic(&server, 200).error.kind, "api_error");
        let quota: openai::ErrorBody =
            serde_json::from_str(r#"{"error":{"message":"q","type":"insufficient_quota"}}"#).unwrap();
        assert_eq!(openai_error_to_anthropic(&quota, 0).error.kind, "rate_limit_error");

        let anthropic: anthropic::ErrorBody = serde_json::from_str(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
        )
        .unwrap();
        let openai = anthropic_error_to_openai(&anthropic);
        assert_eq!(
            serde_json::to_string(&openai).unwrap(),
            r#"{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}"#
        );
    }

    #[test]
    fn upstream_bodies_of_any_shape() {
        let openai = upstream_error_to_openai(
            429,
            br#"{"error":{"message":"slow down","type":"requests","param":null,"code":429}}"#,
        );
        assert_eq!(openai.error.kind, "requests");
        assert_eq!(openai.error.code.as_deref(), Some("429"));
        assert_eq!(
            upstream_error_to_anthropic(429, br#"{"error":{"message":"slow down","type":"requests"}}"#).error.kind,
            "rate_limit_error"
        );

        let from_anthropic = upstream_error_to_openai(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(from_anthropic.error.kind, "overloaded_error");
        assert_eq!(from_anthropic.error.message, "Overloaded");

        let bare = upstream_error_to_openai(404, br#"{"error":"model not found"}"#);
        assert_eq!((bare.error.kind.as_str(), bare.error.message.as_str()), ("not_found_error", "model not found"));
        let text = upstream_error_to_anthropic(502, b"<html>Bad Gateway</html>");
        assert_eq!((text.error.kind.as_str(), text.error.message.as_str()), ("api_error", "<html>Bad Gateway</html>"));
        let empty = upstream_error_to_openai(503, b"");
        assert_eq!(empty.error.message, "upstream answered with status 503");
        let long = "\u{e9}".repeat(400);
        let cut = upstream_error_to_openai(500, long.as_bytes());
        assert!(cut.error.message.len() <= MAX_RAW_MESSAGE);
    }
}
