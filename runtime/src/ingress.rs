//! Ingress: which API endpoint a request is for, reading its body within the
//! size limit, and parsing it once into the view the policy evaluates
//! (`RequestView`).

use crate::body::{BodyFailure, ReqBody};
use crate::error::{ClientApi, GatewayError};
use crate::request::Headers;
use bytes::Bytes;
use hapax_lang::expr::{ClientInfo, RequestView};
use http::{Method, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::OnceLock;
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

/// A request after ingress: its head and what the gateway needs of its body.
///
/// The body is read in one pass into the few fields the request path needs
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
}

impl Ingress {
    pub fn api(&self) -> ClientApi {
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
        let head: Head = serde_json::from_slice(&raw).map_err(|e| {
            if e.is_data() {
                GatewayError::bad_request(format!("the request body is not a valid request: {e}"))
            } else {
                GatewayError::bad_request(format!("the request body is not valid JSON: {e}"))
            }
        })?;
        let model = match head.model {
            None | Some(Field::Null) => None,
            Some(Field::Str(m)) => Some(m.into_owned()),
            Some(_) => return Err(GatewayError::bad_request("`model` must be a string")),
        };
        let stream = matches!(head.stream, Some(Field::Bool(true)));
        let chars = match endpoint {
            Endpoint::Chat | Endpoint::Messages => head.messages.0 + head.system.0,
            Endpoint::Completions => head.prompt.0,
            Endpoint::Embeddings => head.input.0,
            Endpoint::Models => 0,
        };
        let include_usage =
            head.stream_options.as_ref().and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false);
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

/// The body fields read on every request, in one pass; any other field is
/// skipped (but still checked to be valid JSON).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default, borrow)]
    model: Option<Field<'a>>,
    #[serde(default, borrow)]
    stream: Option<Field<'a>>,
    #[serde(default)]
    stream_options: Option<Value>,
    /// Characters of text in the prompt fields, counted as they are read.
    #[serde(default)]
    messages: Messages,
    #[serde(default)]
    system: Chars,
    #[serde(default)]
    prompt: Chars,
    #[serde(default)]
    input: Chars,
}

/// Characters of text in a content value: a string, a list of strings, or a
/// list of parts with `text` fields; token ids (embeddings input) count four
/// each. Anything else counts nothing.
#[derive(Default)]
struct Chars(usize);

impl<'de> Deserialize<'de> for Chars {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Count::Content).map(Chars)
    }
}

/// The characters of every message's `content`.
#[derive(Default)]
struct Messages(usize);

impl<'de> Deserialize<'de> for Messages {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Count::Messages).map(Messages)
    }
}

/// What is being counted, by where the value sits; values of any other
/// shape count nothing (and are skipped, never allocated).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Count {
    /// A `content`, `system`, `prompt` or `input` value.
    Content,
    /// One item of a content list.
    Item,
    /// A part's `text`.
    Text,
    /// The `messages` list.
    Messages,
    /// One message.
    Message,
}

impl<'de> serde::de::DeserializeSeed<'de> for Count {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<usize, E> {
        Ok(if matches!(self, Count::Content | Count::Item | Count::Text) { v.chars().count() } else { 0 })
    }
    fn visit_bool<E>(self, _: bool) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_unit<E>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_none<E>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_i64<E>(self, _: i64) -> Result<usize, E> {
        Ok(if self == Count::Item { 4 } else { 0 })
    }
    fn visit_u64<E>(self, _: u64) -> Result<usize, E> {
        Ok(if self == Count::Item { 4 } else { 0 })
    }
    fn visit_f64<E>(self, _: f64) -> Result<usize, E> {
        Ok(if self == Count::Item { 4 } else { 0 })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        match self {
            Count::Content => {
                while let Some(c) = seq.next_element_seed(Count::Item)? {
                    n += c;
                }
            }
            Count::Messages => {
                while let Some(c) = seq.next_element_seed(Count::Message)? {
                    n += c;
                }
            }
            // A list of token ids inside a list: four each.
            Count::Item => {
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 4;
                }
            }
            Count::Text | Count::Message => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(n)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let (key, inner) = match self {
            Count::Item => ("text", Count::Text),
            Count::Message => ("content", Count::Content),
            _ => ("", Count::Content),
        };
        let mut n = 0;
        while let Some(found) = map.next_key_seed(KeyIs(key))? {
            if found && !key.is_empty() {
                n += map.next_value_seed(inner)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(n)
    }
}

/// Whether an object key is the given one, without allocating it.
struct KeyIs(&'static str);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIs {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        struct V(&'static str);
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E>(self, v: &str) -> Result<bool, E> {
                Ok(v == self.0)
            }
        }
        d.deserialize_str(V(self.0))
    }
}

/// A field's value when only strings and booleans matter.
enum Field<'a> {
    Str(Cow<'a, str>),
    Bool(bool),
    Null,
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
                Ok(Field::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Field<'de>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a body whole, refusing more than `limit` bytes without buffering
/// them, and giving up when it does not arrive within `deadline`. Our
/// HTTP/1.1 server has read it already; an HTTP/2 body is read here.
pub async fn read_body(
    body: ReqBody,
    headers: &Headers,
    limit: u64,
    deadline: Duration,
) -> Result<Bytes, GatewayError> {
    match body {
        ReqBody::Read(b) if b.len() as u64 > limit => Err(GatewayError::too_large(limit)),
        ReqBody::Read(b) => Ok(b),
        ReqBody::Failed(BodyFailure::TooLarge) => Err(GatewayError::too_large(limit)),
        ReqBody::Failed(BodyFailure::Timeout) => Err(GatewayError::body_timeout()),
        ReqBody::Failed(BodyFailure::Malformed) => {
            Err(GatewayError::bad_request("the request body is not validly framed"))
        }
        // Boxed: the HTTP/2 path's future is large and would weigh on
        // every request's.
        ReqBody::Incoming(b) => Box::pin(read_incoming(*b, headers, limit, deadline)).await,
    }
}

async fn read_incoming(
    body: Incoming,
    headers: &Headers,
    limit: u64,
    deadline: Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers.get_str("content-length").and_then(|v| v.parse::<u64>().ok());
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
