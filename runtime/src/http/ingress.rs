//! Ingress: which API endpoint a request is for, reading its body within the
//! size limit, and parsing it once into the view the policy evaluates
//! (`RequestView`).

use crate::http::body::{BodyFailure, BodyMemory, ReqBody};
use crate::http::error::GatewayError;
use crate::http::request::Headers;
use crate::wire::scan;
use crate::wire::Api;
use bytes::{Bytes, BytesMut};
use hapax_lang::expr::{ClientInfo, RequestView};
use http::{Method, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
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

    pub fn client_api(self) -> Api {
        match self {
            Endpoint::Messages => Api::Anthropic,
            _ => Api::OpenAi,
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

/// A request after ingress: its head and what the gateway needs of its body.
///
/// The body is checked and read in one pass ([`scan`]) into the few fields the request path needs
/// (`model`, `stream`, `stream_options`, the characters of the prompt for
/// the token estimate), without building a JSON tree; the tree is only made
/// when something asks for it (a `when` reading `request.body`, a model
/// rewrite, the mock provider's embeddings).
pub struct Ingress {
    pub endpoint: Endpoint,
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    /// The body as received, forwarded untouched when nothing changes.
    pub raw: Bytes,
    model: Option<String>,
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    json: OnceLock<Option<Value>>,
    tokens: u64,
    /// Who sent it, once authenticated (`client.*` in expressions); never
    /// taken from a header the client sets.
    pub client: Option<Arc<ClientInfo>>,
}

impl Ingress {
    pub fn api(&self) -> Api {
        self.endpoint.client_api()
    }

    /// Checks a body that was read whole and reads its head fields.
    pub fn parse(
        endpoint: Endpoint,
        method: Method,
        uri: Uri,
        headers: Headers,
        raw: Bytes,
    ) -> Result<Self, GatewayError> {
        let first = raw.iter().find(|b| !b.is_ascii_whitespace());
        match first {
            None => return Err(GatewayError::bad_request("the request body is empty; send a JSON object")),
            Some(b'{') => {}
            Some(_) => {
                // Not an object; say so, or say why it is not JSON at all.
                return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(&raw) {
                    Ok(_) => GatewayError::bad_request("the request body must be a JSON object"),
                    Err(e) => GatewayError::bad_request(format!("the request body is not valid JSON: {e}")),
                });
            }
        }
        let fields = scan::scan(&raw).map_err(|e| match e {
            scan::Invalid::Syntax { .. } => {
                GatewayError::bad_request(format!("the request body is not valid JSON: {e}"))
            }
            scan::Invalid::Duplicate(_) => {
                GatewayError::bad_request(format!("the request body is not a valid request: {e}"))
            }
        })?;
        let model = match fields.model {
            scan::Model::None => None,
            scan::Model::Str(m) => Some(m.into_owned()),
            scan::Model::NotAString => return Err(GatewayError::bad_request("`model` must be a string")),
        };
        let c = fields.chars;
        let chars = match endpoint {
            Endpoint::Chat | Endpoint::Messages => c.messages + c.system,
            Endpoint::Completions => c.prompt,
            Endpoint::Embeddings => c.input,
            Endpoint::Models => 0,
        };
        let (stream, include_usage) = (fields.stream, fields.include_usage);
        Ok(Ingress {
            endpoint,
            method,
            uri,
            headers,
            raw,
            model,
            stream,
            include_usage,
            json: OnceLock::new(),
            tokens: chars.div_ceil(4) as u64,
            client: None,
        })
    }

    /// The body as a JSON tree, parsed on first use.
    pub fn json(&self) -> Option<&Value> {
        self.json.get_or_init(|| serde_json::from_slice(&self.raw).ok()).as_ref()
    }

    /// Prompt tokens, estimated as characters / 4 of the text the model
    /// reads (counted while the body was read).
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

/// Reads a request's body within `limit` and the body timeout, holding its
/// memory against `max_body_memory` until the guard is dropped.
pub async fn read_body(
    body: ReqBody,
    headers: &Headers,
    limit: u64,
    deadline: Duration,
) -> Result<(Bytes, BodyMemory), GatewayError> {
    match body {
        ReqBody::Read(b, _) if b.len() as u64 > limit => Err(GatewayError::too_large(limit)),
        ReqBody::Read(b, held) => Ok((b, held)),
        ReqBody::Failed(BodyFailure::TooLarge) => Err(GatewayError::too_large(limit)),
        ReqBody::Failed(BodyFailure::Timeout) => Err(GatewayError::body_timeout()),
        ReqBody::Failed(BodyFailure::Malformed) => {
            Err(GatewayError::bad_request("the request body is not validly framed"))
        }
        ReqBody::Failed(BodyFailure::Busy) => Err(busy()),
        // Boxed: the HTTP/2 path's future is large and would weigh on
        // every request's.
        ReqBody::Incoming(b) => Box::pin(read_incoming(*b, headers, limit, deadline)).await,
    }
}

fn busy() -> GatewayError {
    GatewayError::overloaded("the gateway holds as many request bodies as it may; try again shortly")
}

/// An HTTP/2 body, gathered frame by frame into one buffer (so that tiny
/// frames cost their data, not a buffer each).
async fn read_incoming(
    mut body: Incoming,
    headers: &Headers,
    limit: u64,
    deadline: Duration,
) -> Result<(Bytes, BodyMemory), GatewayError> {
    let declared = headers.get_str("content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::too_large(limit));
    }
    let mut held = BodyMemory::default();
    if !held.grow(declared.unwrap_or(0)) {
        return Err(busy());
    }
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| GatewayError::bad_request("the request body could not be read"))?;
            let Ok(data) = frame.into_data() else { continue };
            let total = (buf.len() + data.len()) as u64;
            if total > limit {
                return Err(GatewayError::too_large(limit));
            }
            if !held.grow_to(total) {
                return Err(busy());
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(deadline, read).await {
        Err(_) => Err(GatewayError::body_timeout()),
        Ok(r) => r.map(|b| (b, held)),
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
        self.model.as_deref()
    }
    fn stream(&self) -> bool {
        self.stream
    }
    fn tokens(&self) -> u64 {
        Ingress::tokens(self)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }
    fn body(&self) -> Option<&Value> {
        self.json()
    }
    fn client(&self) -> Option<&ClientInfo> {
        self.client.as_deref()
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
            Headers::default(),
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
        assert_eq!(i.tokens(), 2);
        let i = ingress(
            Endpoint::Messages,
            r#"{"model":"m","system":"abcd","messages":[{"role":"user","content":[{"type":"text","text":"abcd"}]}]}"#,
        )
        .unwrap();
        assert_eq!(i.tokens(), 2);
    }

    #[test]
    fn token_estimate_reads_every_kind_of_content() {
        let chat = r#"{"model":"m","messages":[
            {"role":"system","content":"abcd"},
            {"role":"user","content":[{"type":"text","text":"ab\u00e9c"},{"type":"image_url","image_url":{"url":"x"}},"wxyz"]},
            {"role":"assistant","content":null,"tool_calls":[{"function":{"arguments":"{\"text\":1}"}}]},
            {"role":"user","content":7},
            "not a message"
        ]}"#;
        // 4 + 4 + 4 characters.
        assert_eq!(ingress(Endpoint::Chat, chat).unwrap().tokens(), 3);
        let ids = r#"{"model":"m","input":[[1,2,3],5,"abcd"]}"#;
        // 3 ids * 4 + 4 + 4.
        assert_eq!(ingress(Endpoint::Embeddings, ids).unwrap().tokens(), 5);
        let prompt = r#"{"model":"m","prompt":"abcdefgh","messages":"ignored"}"#;
        assert_eq!(ingress(Endpoint::Completions, prompt).unwrap().tokens(), 2);
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
