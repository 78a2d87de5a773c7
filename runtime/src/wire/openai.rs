//! Serde types for the OpenAI HTTP API: Chat Completions (requests, responses and
//! `chat.completion.chunk` stream chunks), legacy Completions, Embeddings, the models list and
//! the error body.
//!
//! Every object keeps the fields it does not model in an `extra` map, so a body parsed and
//! serialized again (OpenAI client to OpenAI upstream) loses nothing: `response_format`,
//! `seed`, `logprobs`, audio parts and fields that do not exist yet all pass through.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::serde_util::{opt_stringish, string_enum, string_or_null, string_or_seq_serde, tagged_enum_serde, Extra};

string_enum! {
    /// The author of a chat message.
    pub enum Role {
        /// Instructions from the application.
        System => "system",
        /// Instructions from the application (the newer name for `system`).
        Developer => "developer",
        /// The end user.
        User => "user",
        /// The model.
        Assistant => "assistant",
        /// The result of a tool call.
        Tool => "tool",
        /// The result of a legacy function call.
        Function => "function",
    }
}

string_enum! {
    /// Why the model stopped generating.
    pub enum FinishReason {
        /// A natural stop or a stop sequence.
        Stop => "stop",
        /// The token limit was reached.
        Length => "length",
        /// The model called one or more tools.
        ToolCalls => "tool_calls",
        /// Content was omitted by a filter.
        ContentFilter => "content_filter",
        /// The model called a legacy function.
        FunctionCall => "function_call",
    }
}

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to use.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Deprecated upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Upper bound on generated tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Up to four sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Whether to stream `chat.completion.chunk` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options for streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool, if any, the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// An end-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else (`response_format`, `seed`, `logprobs`, `reasoning_effort`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for a final usage chunk in the stream.
    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().and_then(|options| options.include_usage) == Some(true)
    }
}

/// `stop`: one sequence or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

string_or_seq_serde!(Stop, One, Many, String);

impl Stop {
    /// The stop sequences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many): (Option<&str>, &[String]) = match self {
            Self::One(text) => (Some(text), &[]),
            Self::Many(list) => (None, list),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a last chunk that carries `usage` (and no choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One message of a chat request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Its content; absent or `null` for an assistant message that only calls tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// For a `tool` message, the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields not modelled here (`refusal`, `audio`, `function_call`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Extra::new(),
        }
    }
}

/// Message content: a string or an array of typed parts.
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts (text, images, audio, files).
    Parts(Vec<ContentPart>),
}

string_or_seq_serde!(MessageContent, Text, Parts, ContentPart);

/// One part of an array content, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":...}`.
    Text(TextPart),
    /// `{"type":"image_url","image_url":{"url":...}}`.
    ImageUrl(ImageUrlPart),
    /// `{"type":"refusal","refusal":...}` (assistant messages).
    Refusal(RefusalPart),
    /// Any other kind (`input_audio`, `file`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(ContentPart {
    Text => "text",
    ImageUrl => "image_url",
    Refusal => "refusal",
});

/// A text part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrlPart {
    /// Where the image is.
    pub image_url: ImageUrl,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `image_url` object of an image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// An `http(s)` URL or a `data:` URL with base64 content.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A refusal part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalPart {
    /// The refusal text.
    pub refusal: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool call made by the assistant, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    /// A function call.
    Function(FunctionToolCall),
    /// Any other kind (`custom`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(ToolCall {
    Function => "function",
});

/// A function tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionToolCall {
    /// The call's id, echoed by the `tool` message that answers it.
    pub id: String,
    /// The function and its arguments.
    pub function: FunctionCall,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function name and its arguments as a JSON string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments, a JSON object serialized as a string (possibly invalid JSON).
    #[serde(default)]
    pub arguments: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool the model may call, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    /// A function tool.
    Function(FunctionTool),
    /// Any other kind (`custom`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(Tool {
    Function => "function",
});

/// A function tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// The function's definition.
    pub function: FunctionDef,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A function's name, description and JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// The function's name.
    pub name: String,
    /// What the function does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Whether to enforce the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tool_choice`: a mode string or a specific function.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    /// `"none"`: call no tool.
    None,
    /// `"auto"`: the model decides.
    Auto,
    /// `"required"`: call at least one tool.
    Required,
    /// `{"type":"function","function":{"name":...}}`: call this function.
    Function {
        /// The function's name.
        name: String,
    },
    /// Any other value (`allowed_tools`, a custom tool, ...), kept verbatim.
    Other(Value),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            #[serde(rename = "type")]
            kind: &'static str,
            function: Name<'a>,
        }
        #[derive(Serialize)]
        struct Name<'a> {
            name: &'a str,
        }
        match self {
            Self::None => serializer.serialize_str("none"),
            Self::Auto => serializer.serialize_str("auto"),
            Self::Required => serializer.serialize_str("required"),
            Self::Function { name } => Named { kind: "function", function: Name { name } }.serialize(serializer),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match &value {
            Value::String(mode) => match mode.as_str() {
                "none" => Self::None,
                "auto" => Self::Auto,
                "required" => Self::Required,
                _ => Self::Other(value),
            },
            Value::Object(map) => {
                let name = map.get("function").and_then(|function| function.get("name")).and_then(Value::as_str);
                match (map.get("type").and_then(Value::as_str), name) {
                    (Some("function"), Some(name)) if map.len() == 2 => Self::Function { name: name.to_owned() },
                    _ => Self::Other(value),
                }
            }
            _ => Self::Other(value),
        })
    }
}

/// `POST /v1/chat/completions` response body (non-streaming).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The completion's id.
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default = "chat_completion_object")]
    pub object: String,
    /// Unix time in seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The generated choices.
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Fields not modelled here (`service_tier`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

fn chat_completion_object() -> String {
    "chat.completion".to_owned()
}

/// One choice of a chat response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// The generated message.
    pub message: ResponseMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The assistant message of a response; `content` is always present, `null` when the model only
/// called tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseMessage {
    /// Always `assistant`.
    pub role: Role,
    /// The generated text.
    #[serde(default)]
    pub content: Option<String>,
    /// A refusal message instead of content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Tool calls the model made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Fields not modelled here (`annotations`, `audio`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// Token counts of a completion (`usage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionUsage {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// The sum of both.
    #[serde(default)]
    pub total_tokens: u64,
    /// A breakdown of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// A breakdown of the completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Audio prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on hidden reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Fields not modelled here (`audio_tokens`, prediction counts, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One `chat.completion.chunk` of a streamed chat response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// The completion's id, the same on every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default = "chat_chunk_object")]
    pub object: String,
    /// Unix time in seconds, the same on every chunk.
    #[serde(default)]
    pub created: u64,
    /// The model that answers.
    #[serde(default)]
    pub model: String,
    /// Deltas; empty on the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Token counts, on the final chunk when `stream_options.include_usage` was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

fn chat_chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

impl ChatChunk {
    /// This chunk as one SSE frame: `data: {json}\n\n`.
    pub fn to_sse(&self) -> Result<Bytes, serde_json::Error> {
        sse_data(self)
    }
}

/// Serializes `value` as one OpenAI SSE frame: `data: {json}\n\n`.
pub fn sse_data<T: Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, value)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// The frame that ends an OpenAI stream.
pub const SSE_DONE: &[u8] = b"data: [DONE]\n\n";

/// One choice's delta in a stream chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// What is new in this chunk.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The incremental part of a stream chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// Set on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A text fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A refusal fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Tool call fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A fragment of a tool call: the first one carries `id`, `type` and the function name, later
/// ones carry argument fragments for the same `index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the message this fragment belongs to.
    #[serde(default)]
    pub index: u32,
    /// The call's id (first fragment only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first fragment only).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and argument fragments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The function part of a tool call fragment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// The function's name (first fragment only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A fragment of the arguments' JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/completions` (legacy) request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// The model to use.
    pub model: String,
    /// A string, an array of strings, an array of tokens or an array of token arrays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Value>,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Whether to stream (chunks have the shape of [`CompletionResponse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options for streaming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// An end-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else (`suffix`, `echo`, `logprobs`, `best_of`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/completions` (legacy) response body, also the shape of its stream chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// The completion's id.
    pub id: String,
    /// Always `text_completion`.
    #[serde(default = "text_completion_object")]
    pub object: String,
    /// Unix time in seconds.
    #[serde(default)]
    pub created: u64,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The generated choices.
    pub choices: Vec<CompletionChoice>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
    /// The backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

fn text_completion_object() -> String {
    "text_completion".to_owned()
}

/// One choice of a legacy completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// The generated text.
    pub text: String,
    /// The choice's position.
    #[serde(default)]
    pub index: u32,
    /// Log probabilities, when asked for.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/embeddings` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    /// The model to use.
    pub model: String,
    /// A string, an array of strings, an array of tokens or an array of token arrays.
    pub input: Value,
    /// `float` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// The number of dimensions of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// An end-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/embeddings` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// One embedding per input.
    pub data: Vec<Embedding>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Token counts.
    #[serde(default)]
    pub usage: EmbeddingUsage,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

fn list_object() -> String {
    "list".to_owned()
}

/// One embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Always `embedding`.
    #[serde(default = "embedding_object")]
    pub object: String,
    /// The vector.
    pub embedding: EmbeddingVector,
    /// The position of the input it embeds.
    #[serde(default)]
    pub index: u32,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

/// An embedding vector: floats, or base64 little-endian f32s with `encoding_format: base64`.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingVector {
    /// `encoding_format: float` (the default).
    Float(Vec<f64>),
    /// `encoding_format: base64`.
    Base64(String),
}

string_or_seq_serde!(EmbeddingVector, Base64, Float, f64);

/// Token counts of an embeddings call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Input tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// The same number.
    #[serde(default)]
    pub total_tokens: u64,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /v1/models` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ModelList {
    /// A list of these models.
    pub fn new(data: Vec<Model>) -> Self {
        Self { object: list_object(), data, extra: Extra::new() }
    }
}

/// One entry of the models list (also `GET /v1/models/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The model's name, as clients send it in `model`.
    pub id: String,
    /// Always `model`.
    #[serde(default = "model_object")]
    pub object: String,
    /// Unix time in seconds.
    #[serde(default)]
    pub created: u64,
    /// The owning organization.
    #[serde(default)]
    pub owned_by: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

fn model_object() -> String {
    "model".to_owned()
}

impl Model {
    /// A model entry.
    pub fn new(id: impl Into<String>, owned_by: impl Into<String>, created: u64) -> Self {
        Self { id: id.into(), object: model_object(), created, owned_by: owned_by.into(), extra: Extra::new() }
    }
}

/// The error body: `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// An error of this `type` with this message and no `param` or `code`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.into(),
                param: None,
                code: None,
                extra: Extra::new(),
            },
        }
    }
}

/// The `error` object of an error body. `param` and `code` are always written, `null` when unset,
/// as OpenAI does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A human-readable message.
    #[serde(default, deserialize_with = "string_or_null")]
    pub message: String,
    /// The error class, such as `invalid_request_error`.
    #[serde(rename = "type", default, deserialize_with = "string_or_null")]
    pub kind: String,
    /// The request parameter at fault.
    #[serde(default, deserialize_with = "opt_stringish")]
    pub param: Option<String>,
    /// A machine-readable code, such as `invalid_api_key` (some servers send a number).
    #[serde(default, deserialize_with = "opt_stringish")]
    pub code: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(value: &Value) -> Value {
        let typed: T = serde_json::from_value(value.clone()).unwrap();
        serde_json::to_value(&typed).unwrap()
    }

    #[test]
    fn chat_request_round_trips_everything() {
        let body = json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "name": "ann", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "high"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
                ]},
                {"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"q\":1}"}},
                    {"id": "call_2", "type": "custom", "custom": {"name": "grep", "input": "x"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
            ],
            "max_completion_tokens": 100,
            "temperature": 0.5,
            "top_p": 0.9,
            "n": 1,
            "stop": ["\n\n", "END"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [
                {"type": "function", "function": {"name": "look", "description": "d", "parameters": {"type": "object"}, "strict": true}},
                {"type": "custom", "custom": {"name": "grep"}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "look"}},
            "parallel_tool_calls": false,
            "user": "u-1",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
            "seed": 7,
            "logit_bias": {"50256": -100},
            "a_future_field": [1, 2.5, null]
        });
        let mut expected = body.clone();
        // `"content": null` and an absent `content` mean the same; the absent form is written.
        if let Some(message) = expected["messages"][2].as_object_mut() {
            message.remove("content");
        }
        assert_eq!(round_trip::<ChatRequest>(&body), expected);

        let typed: ChatRequest = serde_json::from_value(body).unwrap();
        assert!(typed.is_stream() && typed.include_usage());
        assert_eq!(typed.messages[0].role, Role::Developer);
        assert!(matches!(typed.tool_choice, Some(ToolChoice::Function { ref name }) if name == "look"));
        assert!(matches!(&typed.tools.as_deref().unwrap()[1], Tool::Other(_)));
        let Some(MessageContent::Parts(parts)) = &typed.messages[1].content else {
            panic!("parts expected");
        };
        assert_eq!(parts.iter().map(ContentPart::kind).collect::<Vec<_>>(), ["text", "image_url", "input_audio"]);
        assert!(typed.extra.contains_key("seed"));
    }

    #[test]
    fn tool_choice_forms() {
        for (text, expected) in [
            (json!("none"), ToolChoice::None),
            (json!("auto"), ToolChoice::Auto),
            (json!("required"), ToolChoice::Required),
            (json!({"type": "function", "function": {"name": "f"}}), ToolChoice::Function { name: "f".into() }),
            (json!("sometimes"), ToolChoice::Other(json!("sometimes"))),
            (
                json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}),
                ToolChoice::Other(json!({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}})),
            ),
        ] {
            let parsed: ToolChoice = serde_json::from_value(text.clone()).unwrap();
            assert_eq!(parsed, expected);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), text);
        }
    }

    #[test]
    fn stop_forms() {
        let one: Stop = serde_json::from_str("\"END\"").unwrap();
        assert_eq!(one.iter().collect::<Vec<_>>(), ["END"]);
        let many: Stop = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(many.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
        assert!(serde_json::from_str::<Stop>("3").is_err());
    }

    #[test]
    fn unknown_role_is_kept() {
        let message: ChatMessage = serde_json::from_str(r#"{"role":"critic","content":"hm"}"#).unwrap();
        assert_eq!(message.role, Role::Other("critic".into()));
        assert_eq!(serde_json::to_string(&message).unwrap(), r#"{"role":"critic","content":"hm"}"#);
    }

    #[test]
    fn content_part_without_type_is_an_error() {
        let err = serde_json::from_str::<ContentPart>(r#"{"text":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("type"), "{err}");
        let err = serde_json::from_str::<ContentPart>(r#"{"type":"image_url"}"#).unwrap_err();
        assert!(err.to_string().contains("image_url"), "{err}");
    }

    #[test]
    fn chat_response_writes_null_content() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]}, "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0}},
            "service_tier": "default",
            "system_fingerprint": "fp_1"
        });
        assert_eq!(round_trip::<ChatResponse>(&body), body);
        let typed: ChatResponse = serde_json::from_value(body).unwrap();
        assert_eq!(typed.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn chunk_round_trip_and_sse_frame() {
        let body = json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ]}, "finish_reason": null}]
        });
        assert_eq!(round_trip::<ChatChunk>(&body), body);
        let chunk = ChatChunk {
            id: "c".into(),
            object: "chat.completion.chunk".into(),
            created: 1,
            model: "m".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Delta { content: Some("hi".into()), ..Delta::default() },
                finish_reason: None,
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: None,
            system_fingerprint: None,
            extra: Extra::new(),
        };
        assert_eq!(
            chunk.to_sse().unwrap(),
            Bytes::from_static(
                b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
            )
        );
    }

    #[test]
    fn legacy_completions_embeddings_and_models() {
        let request = json!({"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "max_tokens": 5,
                             "stop": "\n", "echo": true, "suffix": "z"});
        assert_eq!(round_trip::<CompletionRequest>(&request), request);
        let response = json!({"id": "cmpl-1", "object": "text_completion", "created": 2, "model": "m",
            "choices": [{"text": "hi", "index": 0, "logprobs": null, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        assert_eq!(round_trip::<CompletionResponse>(&response), response);

        let request = json!({"model": "text-embedding-3-small", "input": "hello", "dimensions": 256,
                             "encoding_format": "float"});
        assert_eq!(round_trip::<EmbeddingRequest>(&request), request);
        let floats = json!({"object": "list", "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, 1.0]}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2}});
        assert_eq!(round_trip::<EmbeddingResponse>(&floats), floats);
        let base64 = json!({"object": "list", "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": "AACAPw=="}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2}});
        let typed: EmbeddingResponse = serde_json::from_value(base64.clone()).unwrap();
        assert_eq!(typed.data[0].embedding, EmbeddingVector::Base64("AACAPw==".into()));
        assert_eq!(serde_json::to_value(&typed).unwrap(), base64);

        let models = ModelList::new(vec![Model::new("gpt-4o", "openai", 1715367049)]);
        assert_eq!(
            serde_json::to_string(&models).unwrap(),
            r#"{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"openai"}]}"#
        );
    }

    #[test]
    fn error_body_shape_and_lenient_parsing() {
        let body = ErrorBody::new("rate_limit_error", "slow down");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":null}}"#
        );
        let lenient: ErrorBody = serde_json::from_str(r#"{"error":{"message":"x","type":null,"code":400}}"#).unwrap();
        assert_eq!(lenient.error.kind, "");
        assert_eq!(lenient.error.code.as_deref(), Some("400"));
        assert_eq!(lenient.error.param, None);
    }
}
