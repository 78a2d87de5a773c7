//! Ingress: which API endpoint a request is for, reading its body within the
//! size limit, and parsing it once into the view the policy evaluates
//! (`RequestView`).

use crate::error::{ClientApi, GatewayError};
use bytes::Bytes;
use hapax_lang::expr::{ClientInfo, RequestView};
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value;
use std::time::Duration;

/// The API endpoints the gateway serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    Chat,
    /// `POST /v1/completions`
    Completions,
    /// `POST /v1/embeddings`
    Embeddings,
    /// `POST /v1/messages` (Anthropic)
    Messages,
    /// `GET /v1/models`
    Models,
}

impl Endpoint {
    pub fn classify(path: &str) -> Option<Endpoint> {
        Some(match path.strip_suffix('/').unwrap_or(path) {
            "/v1/chat/completions" => Endpoint::Chat,
            "/v1/completions" => Endpoint::Completions,
            "/v1/embeddings" => Endpoint::Embeddings,
            "/v1/messages" => Endpoint::Messages,
            "/v1/models" => Endpoint::Models,
            _ => return None,
        })
    }

    pub fn method(self) -> Method {
        match self {
            Endpoint::Models => Method::GET,
            _ => Method::POST,
        }
    }

    pub fn client_api(self) -> ClientApi {
        match self {
            Endpoint::Messages => ClientApi::Anthropic,
            _ => ClientApi::OpenAi,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat completions",
            Endpoint::Completions => "text completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::Models => "the model list",
        }
    }
}

/// A request after ingress: its head and its body, parsed once.
pub struct Ingress {
    pub endpoint: Endpoint,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    /// The body as received, forwarded untouched when nothing changes.
    pub raw: Bytes,
    pub json: Value,
    pub stream: bool,
    pub tokens: u64,
}

impl Ingress {
    pub fn api(&self) -> ClientApi {
        self.endpoint.client_api()
    }

    /// Parses a body that was read whole.
    pub fn parse(
        endpoint: Endpoint,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        raw: Bytes,
    ) -> Result<Self, GatewayError> {
        if raw.is_empty() {
            return Err(GatewayError::bad_request("the request body is empty; send a JSON object"));
        }
        let json: Value = serde_json::from_slice(&raw)
            .map_err(|e| GatewayError::bad_request(format!("the request body is not valid JSON: {e}")))?;
        if !json.is_object() {
            return Err(GatewayError::bad_request("the request body must be a JSON object"));
        }
        if json.get("model").is_some_and(|m| !m.is_string()) {
            return Err(GatewayError::bad_request("`model` must be a string"));
        }
        let stream = json.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let tokens = estimate_tokens(endpoint, &json);
        Ok(Ingress { endpoint, method, uri, headers, raw, json, stream, tokens })
    }
}

/// Reads a body whole, refusing more than `limit` bytes without buffering
/// them, and giving up when it does not arrive within `deadline`.
pub async fn read_body(
    body: Incoming,
    headers: &HeaderMap,
    limit: u64,
    deadline: Duration,
) -> Result<Bytes, GatewayError> {
    let declared =
        headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::too_large(limit));
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(GatewayError::body_timeout()),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                Err(GatewayError::too_large(limit))
            } else {
                Err(GatewayError::bad_request("the request body could not be read"))
            }
        }
    }
}

/// Prompt tokens, estimated as characters / 4 of the text the model reads.
fn estimate_tokens(endpoint: Endpoint, json: &Value) -> u64 {
    let mut chars = 0usize;
    match endpoint {
        Endpoint::Chat | Endpoint::Messages => {
            if let Some(msgs) = json.get("messages").and_then(Value::as_array) {
                for m in msgs {
                    if let Some(c) = m.get("content") {
                        chars += text_chars(c);
                    }
                }
            }
            if let Some(s) = json.get("system") {
                chars += text_chars(s);
            }
        }
        Endpoint::Completions => chars += json.get("prompt").map_or(0, text_chars),
        Endpoint::Embeddings => chars += json.get("input").map_or(0, text_chars),
        Endpoint::Models => {}
    }
    chars.div_ceil(4) as u64
}

/// Characters of text in a content value: a string, a list of strings, or a
/// list of parts with `text` fields.
fn text_chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.chars().count(),
                Value::Object(o) => o.get("text").and_then(Value::as_str).map_or(0, |s| s.chars().count()),
                // Token ids (embeddings input): one token each, four "chars".
                Value::Number(_) => 4,
                Value::Array(a) => a.len() * 4,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

impl RequestView for Ingress {
    fn method(&self) -> &str {
        self.method.as_str()
    }
    fn path(&self) -> &str {
        self.uri.path()
    }
    fn model(&self) -> Option<&str> {
        self.json.get("model").and_then(Value::as_str)
    }
    fn stream(&self) -> bool {
        self.stream
    }
    fn tokens(&self) -> u64 {
        self.tokens
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn body(&self) -> Option<&Value> {
        Some(&self.json)
    }
    fn client(&self) -> Option<&ClientInfo> {
        // No authentication yet: every caller is anonymous.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress(endpoint: Endpoint, body: &str) -> Result<Ingress, GatewayError> {
        Ingress::parse(
            endpoint,
            Method::POST,
            Uri::from_static("/v1/chat/completions"),
            HeaderMap::new(),
            Bytes::from(body.to_string()),
        )
    }

    #[test]
    fn parses_model_stream_and_tokens() {
        let i =
            ingress(Endpoint::Chat, r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"12345678"}]}"#)
                .unwrap();
        assert_eq!(i.model(), Some("m"));
        assert!(i.stream);
        assert_eq!(i.tokens, 2);
        let i = ingress(
            Endpoint::Messages,
            r#"{"model":"m","system":"abcd","messages":[{"role":"user","content":[{"type":"text","text":"abcd"}]}]}"#,
        )
        .unwrap();
        assert_eq!(i.tokens, 2);
    }

    #[test]
    fn malformed_json_is_a_clear_400() {
        let e = ingress(Endpoint::Chat, "{\"model\": ").err().unwrap();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(ingress(Endpoint::Chat, "[1]").err().unwrap().status, 400);
        assert_eq!(ingress(Endpoint::Chat, "").err().unwrap().status, 400);
    }

    #[test]
    fn classifies_endpoints() {
        assert_eq!(Endpoint::classify("/v1/chat/completions"), Some(Endpoint::Chat));
        assert_eq!(Endpoint::classify("/v1/messages"), Some(Endpoint::Messages));
        assert_eq!(Endpoint::classify("/v2/x"), None);
    }
}
