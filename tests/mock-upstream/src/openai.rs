//! The OpenAI wire format: chat completions, legacy completions, embeddings,
//! models and errors.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::common::{
    message_chars, new_id, parse, reply_to, splitmix64, to_json, tokens_for_chars, unix_now, word_chunks, word_count,
    Answer, ApiError, Events, Message, Reply, Tool,
};

/// Largest `dimensions` an embeddings request may ask for.
const MAX_DIMENSIONS: usize = 4096;
/// Embedding size when the request does not choose one.
const DEFAULT_DIMENSIONS: usize = 8;

/// The `GET /v1/models` document.
pub(crate) const MODELS: &str = r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},{"id":"gpt-3.5-turbo-instruct","object":"model","created":1692901427,"owned_by":"system"},{"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}"#;

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<Vec<Message>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<Tool>>,
}

#[derive(Deserialize)]
struct CompletionRequest {
    model: Option<String>,
    prompt: Option<Texts>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct EmbeddingRequest {
    model: Option<String>,
    input: Option<Texts>,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

/// A string or an array of strings (`prompt`, `input`).
#[derive(Deserialize)]
#[serde(untagged)]
enum Texts {
    One(String),
    Many(Vec<String>),
}

impl Texts {
    fn as_slice(&self) -> &[String] {
        match self {
            Self::One(s) => std::slice::from_ref(s),
            Self::Many(v) => v,
        }
    }
}

impl StreamOptions {
    fn include_usage(options: Option<&Self>) -> bool {
        options.and_then(|o| o.include_usage) == Some(true)
    }
}

/// The fields every completion object and chunk starts with.
#[derive(Clone, Copy)]
struct Head<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a, C> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: C,
    /// Absent, `null` (stream chunks with `include_usage`), or the usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Usage>>,
}

impl<'a> Head<'a> {
    fn envelope<C>(self, object: &'static str, choices: C, usage: Option<Option<Usage>>) -> Envelope<'a, C> {
        Envelope { id: self.id, object, created: self.created, model: self.model, choices, usage }
    }
}

#[derive(Serialize, Clone, Copy)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
}

impl Usage {
    fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self { prompt_tokens, completion_tokens, total_tokens: prompt_tokens.saturating_add(completion_tokens) }
    }
}

#[derive(Serialize)]
struct ChatChoice<'a> {
    index: u32,
    message: ChatMessage<'a>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
    refusal: (),
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// Absent, `null` (tool calls) or text.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'static str,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    text: &'a str,
    index: u32,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingOut>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingOut {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u32,
    total_tokens: u32,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: (),
    code: Option<&'static str>,
}

/// Renders an error in OpenAI's `{"error":{...}}` shape.
pub(crate) fn error_body(err: &ApiError) -> Bytes {
    let (kind, code) = match err.status.as_u16() {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    to_json(&ErrorDoc { error: ErrorBody { message: &err.message, kind, param: (), code } })
}

fn require_model(model: Option<&str>) -> Result<&str, ApiError> {
    model.ok_or_else(|| ApiError::bad_request("you must provide a model parameter"))
}

/// `POST /v1/chat/completions`.
pub(crate) fn chat(body: &[u8]) -> Result<Reply, ApiError> {
    let req: ChatRequest = parse(body)?;
    let model = require_model(req.model.as_deref())?;
    let messages = req
        .messages
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("Missing required parameter: 'messages'."))?;
    let answer = Answer::for_conversation(messages, req.tools.as_deref().unwrap_or_default());
    let usage = Usage::new(tokens_for_chars(message_chars(messages)), answer.tokens());
    let id = new_id("chatcmpl-");
    let call_id = matches!(answer, Answer::Tool(_)).then(|| new_id("call_"));
    let head = Head { id: &id, created: unix_now(), model };
    if req.stream == Some(true) {
        let include_usage = StreamOptions::include_usage(req.stream_options.as_ref());
        return Ok(Reply::Events(chat_events(head, &answer, call_id.as_deref(), usage, include_usage)));
    }
    let (content, tool_calls, finish_reason) = match &answer {
        Answer::Text(text) => (Some(text.as_str()), None, "stop"),
        Answer::Tool(name) => (
            None,
            Some([ToolCall {
                index: None,
                id: call_id.as_deref(),
                kind: Some("function"),
                function: FunctionCall { name: Some(name), arguments: "{}" },
            }]),
            "tool_calls",
        ),
    };
    let choice = ChatChoice {
        index: 0,
        message: ChatMessage { role: "assistant", content, tool_calls, refusal: () },
        logprobs: (),
        finish_reason,
    };
    Ok(Reply::Json(to_json(&head.envelope("chat.completion", [choice], Some(Some(usage))))))
}

fn chat_events(head: Head<'_>, answer: &Answer, call_id: Option<&str>, usage: Usage, include_usage: bool) -> Events {
    // With include_usage, every chunk carries `"usage": null` until the last.
    let null_usage = include_usage.then_some(None);
    let mut events = Events::default();
    let mut chunk = |delta: Delta<'_>, finish_reason: Option<&'static str>| {
        let choice = ChunkChoice { index: 0, delta, logprobs: (), finish_reason };
        events.data(&head.envelope("chat.completion.chunk", [choice], null_usage));
    };
    let finish_reason = match answer {
        Answer::Text(text) => {
            chunk(Delta { role: Some("assistant"), content: Some(Some("")), tool_calls: None }, None);
            for word in word_chunks(text) {
                chunk(Delta { content: Some(Some(word)), ..Delta::default() }, None);
            }
            "stop"
        }
        Answer::Tool(name) => {
            let call = |id, kind, name, arguments| ToolCall {
                index: Some(0),
                id,
                kind,
                function: FunctionCall { name, arguments },
            };
            chunk(
                Delta {
                    role: Some("assistant"),
                    content: Some(None),
                    tool_calls: Some([call(call_id, Some("function"), Some(name), "")]),
                },
                None,
            );
            chunk(Delta { tool_calls: Some([call(None, None, None, "{}")]), ..Delta::default() }, None);
            "tool_calls"
        }
    };
    chunk(Delta::default(), Some(finish_reason));
    if include_usage {
        let no_choices: [ChunkChoice<'_>; 0] = [];
        events.data(&head.envelope("chat.completion.chunk", no_choices, Some(Some(usage))));
    }
    events.done();
    events
}

/// `POST /v1/completions` (legacy text completions).
pub(crate) fn completions(body: &[u8]) -> Result<Reply, ApiError> {
    let req: CompletionRequest = parse(body)?;
    let model = require_model(req.model.as_deref())?;
    let prompts = req.prompt.as_ref().map_or(&[][..], Texts::as_slice);
    let empty = [String::new()];
    let prompts = if prompts.is_empty() { &empty[..] } else { prompts };
    let replies: Vec<String> = prompts.iter().map(|p| reply_to(p)).collect();
    let prompt_chars = prompts.iter().map(|p| p.chars().count()).sum();
    let completion_tokens = replies.iter().map(|r| word_count(r)).sum();
    let usage = Usage::new(tokens_for_chars(prompt_chars), completion_tokens);
    let id = new_id("cmpl-");
    let head = Head { id: &id, created: unix_now(), model };
    let choice = |index, text, finish_reason| TextChoice { text, index, logprobs: (), finish_reason };
    if req.stream != Some(true) {
        let choices: Vec<_> = (0..).zip(&replies).map(|(i, reply)| choice(i, reply.as_str(), Some("stop"))).collect();
        return Ok(Reply::Json(to_json(&head.envelope("text_completion", choices, Some(Some(usage))))));
    }
    let include_usage = StreamOptions::include_usage(req.stream_options.as_ref());
    let null_usage = include_usage.then_some(None);
    let mut events = Events::default();
    for (i, reply) in (0..).zip(&replies) {
        for word in word_chunks(reply) {
            events.data(&head.envelope("text_completion", [choice(i, word, None)], null_usage));
        }
        events.data(&head.envelope("text_completion", [choice(i, "", Some("stop"))], null_usage));
    }
    if include_usage {
        let no_choices: [TextChoice<'_>; 0] = [];
        events.data(&head.envelope("text_completion", no_choices, Some(Some(usage))));
    }
    events.done();
    Ok(Reply::Events(events))
}

/// `POST /v1/embeddings`.
pub(crate) fn embeddings(body: &[u8]) -> Result<Reply, ApiError> {
    let req: EmbeddingRequest = parse(body)?;
    let model = require_model(req.model.as_deref())?;
    let inputs = req
        .input
        .as_ref()
        .map(Texts::as_slice)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("'input' must be a string or a non-empty array of strings"))?;
    let dimensions = match req.dimensions {
        None => DEFAULT_DIMENSIONS,
        Some(d @ 1..=MAX_DIMENSIONS) => d,
        Some(_) => return Err(ApiError::bad_request("'dimensions' is out of range")),
    };
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return Err(ApiError::bad_request("'encoding_format' must be 'float' or 'base64'")),
    };
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embedding(input, dimensions);
            EmbeddingOut {
                object: "embedding",
                index,
                embedding: if base64 {
                    let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                    Vector::Base64(base64_encode(&bytes))
                } else {
                    Vector::Float(vector)
                },
            }
        })
        .collect();
    let tokens = tokens_for_chars(inputs.iter().map(|i| i.chars().count()).sum());
    Ok(Reply::Json(to_json(&EmbeddingList {
        object: "list",
        data,
        model,
        usage: EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens },
    })))
}

/// A deterministic unit vector derived from an FNV-1a hash of `input`.
fn embedding(input: &str, dimensions: usize) -> Vec<f32> {
    let mut state =
        input.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3));
    let mut vector: Vec<f32> = (0..dimensions)
        // The top 24 bits map exactly onto an f32 in [-1, 1).
        .map(|_| (splitmix64(&mut state) >> 40) as f32 / (1 << 23) as f32 - 1.0)
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= chunk.len() { char::from(ALPHABET[(n >> shift & 63) as usize]) } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let a = embedding("hello", 8);
        assert_eq!(a, embedding("hello", 8));
        assert_ne!(a, embedding("hellp", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
