//! Serde types for the Anthropic Messages API: requests, responses, stream events and the error
//! body.
//!
//! As in [`super::openai`], objects keep unmodelled fields in `extra` and unknown block kinds in
//! an `Other` variant, so new API features pass through a gateway that does not know them yet.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::serde_util::{string_enum, string_or_seq_serde, tagged_enum_serde, Extra};

string_enum! {
    /// The author of a message.
    pub enum Role {
        /// The end user (and tool results).
        User => "user",
        /// The model.
        Assistant => "assistant",
    }
}

string_enum! {
    /// Why the model stopped generating.
    pub enum StopReason {
        /// A natural stop.
        EndTurn => "end_turn",
        /// `max_tokens` was reached.
        MaxTokens => "max_tokens",
        /// One of `stop_sequences` was generated.
        StopSequence => "stop_sequence",
        /// The model called one or more tools.
        ToolUse => "tool_use",
        /// A long-running server tool turn was paused.
        PauseTurn => "pause_turn",
        /// The model refused to answer.
        Refusal => "refusal",
    }
}

/// `POST /v1/messages` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The model to use.
    pub model: String,
    /// The conversation so far, alternating user and assistant turns.
    pub messages: Vec<Message>,
    /// Upper bound on generated tokens (required by the API).
    pub max_tokens: u32,
    /// The system prompt: a string or text blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    /// Request metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// Whether to stream events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Sampling temperature, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool, if any, the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    /// Everything else (`service_tier`, `container`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl MessagesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }
}

/// `metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// An opaque end-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One message of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its content.
    pub content: Content,
}

/// Content of a message, a system prompt or a tool result: a string or an array of blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed blocks.
    Blocks(Vec<ContentBlock>),
}

string_or_seq_serde!(Content, Text, Blocks, ContentBlock);

impl Content {
    /// The content as blocks; a string becomes one text block (none when empty, since the API
    /// rejects empty text blocks).
    pub fn into_blocks(self) -> Vec<ContentBlock> {
        match self {
            Self::Text(text) if text.is_empty() => Vec::new(),
            Self::Text(text) => vec![ContentBlock::Text(TextBlock::new(text))],
            Self::Blocks(blocks) => blocks,
        }
    }
}

/// A content block, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// `{"type":"text","text":...}`.
    Text(TextBlock),
    /// `{"type":"image","source":...}`.
    Image(ImageBlock),
    /// `{"type":"tool_use","id","name","input"}`, made by the assistant.
    ToolUse(ToolUseBlock),
    /// `{"type":"tool_result","tool_use_id","content"}`, sent by the user.
    ToolResult(ToolResultBlock),
    /// `{"type":"thinking","thinking","signature"}`.
    Thinking(ThinkingBlock),
    /// `{"type":"redacted_thinking","data"}`.
    RedactedThinking(RedactedThinkingBlock),
    /// Any other kind (`document`, `server_tool_use`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(ContentBlock {
    Text => "text",
    Image => "image",
    ToolUse => "tool_use",
    ToolResult => "tool_result",
    Thinking => "thinking",
    RedactedThinking => "redacted_thinking",
});

/// A text block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    /// The text.
    pub text: String,
    /// A prompt-caching breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Fields not modelled here (`citations`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl TextBlock {
    /// A plain text block.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), cache_control: None, extra: Extra::new() }
    }
}

/// An image block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// Where the image is.
    pub source: ImageSource,
    /// A prompt-caching breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The source of an image, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// Inline base64 data.
    Base64(Base64Source),
    /// A URL the provider fetches.
    Url(UrlSource),
    /// Any other kind (`file`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(ImageSource {
    Base64 => "base64",
    Url => "url",
});

/// `{"type":"base64","media_type","data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Base64Source {
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The base64 bytes.
    pub data: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"type":"url","url"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlSource {
    /// The image's URL.
    pub url: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool call made by the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    /// The call's id, echoed by the `tool_result` that answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, a JSON object.
    #[serde(default)]
    pub input: Value,
    /// A prompt-caching breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    /// The call this answers.
    pub tool_use_id: String,
    /// The result: a string or text and image blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Whether the tool failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// A prompt-caching breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Extended thinking output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    /// The reasoning text.
    pub thinking: String,
    /// The signature that lets the block be sent back.
    #[serde(default)]
    pub signature: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Encrypted extended thinking output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinkingBlock {
    /// The opaque data.
    pub data: String,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool definition. Client tools have no `type` (or `custom`) and an `input_schema`; server
/// tools (`web_search_20250305`, `bash_20250124`, ...) have a versioned `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// `custom`, or the versioned type of a server tool.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A prompt-caching breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Tool {
    /// Whether this is a client tool (one the caller executes), as opposed to a server tool.
    pub fn is_custom(&self) -> bool {
        matches!(self.kind.as_deref(), None | Some("custom"))
    }
}

/// `tool_choice`, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    /// The model decides.
    Auto(ToolChoiceOptions),
    /// The model must call some tool.
    Any(ToolChoiceOptions),
    /// The model must call the named tool.
    Tool(ToolChoiceTool),
    /// The model must not call tools.
    None(ToolChoiceOptions),
    /// Any other kind, kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(ToolChoice {
    Auto => "auto",
    Any => "any",
    Tool => "tool",
    None => "none",
});

/// The options of `auto`, `any` and `none` tool choices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolChoiceOptions {
    /// Allow at most one tool call per turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `tool` tool choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolChoiceTool {
    /// The tool to call.
    pub name: String,
    /// Allow at most one tool call per turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /v1/messages` response body (non-streaming), also the `message` of `message_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// The message's id.
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// Always `assistant`.
    pub role: Role,
    /// The generated blocks.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Why generation stopped (`null` in `message_start`).
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that was generated, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub usage: Usage,
    /// Fields not modelled here (`container`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

fn message_type() -> String {
    "message".to_owned()
}

/// Token counts. `input_tokens` excludes the tokens read from or written to the prompt cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Fields not modelled here (`service_tier`, `server_tool_use`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One streamed event, tagged by `type` (the SSE `event:` name is the same string).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The message begins; content is empty.
    MessageStart(MessageStartEvent),
    /// A content block begins.
    ContentBlockStart(ContentBlockStartEvent),
    /// Keep-alive.
    Ping(EmptyEvent),
    /// A fragment of a content block.
    ContentBlockDelta(ContentBlockDeltaEvent),
    /// A content block ends.
    ContentBlockStop(ContentBlockStopEvent),
    /// Top-level changes at the end: `stop_reason` and cumulative usage.
    MessageDelta(MessageDeltaEvent),
    /// The message ends.
    MessageStop(EmptyEvent),
    /// An error mid-stream (for example `overloaded_error`).
    Error(ErrorEvent),
    /// Any other kind, kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(StreamEvent {
    MessageStart => "message_start",
    ContentBlockStart => "content_block_start",
    Ping => "ping",
    ContentBlockDelta => "content_block_delta",
    ContentBlockStop => "content_block_stop",
    MessageDelta => "message_delta",
    MessageStop => "message_stop",
    Error => "error",
});

impl StreamEvent {
    /// This event as one SSE frame: `event: NAME\ndata: {json}\n\n`.
    pub fn to_sse(&self) -> Result<Bytes, serde_json::Error> {
        let name = self.kind();
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut buf, self)?;
        buf.extend_from_slice(b"\n\n");
        Ok(Bytes::from(buf))
    }
}

/// `message_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStartEvent {
    /// The message so far, with input token counts.
    pub message: MessagesResponse,
}

/// `ping` and `message_stop`, which carry nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyEvent {
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `content_block_start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockStartEvent {
    /// The block's position in `content`.
    pub index: u32,
    /// The block, with empty text or input.
    pub content_block: ContentBlock,
}

/// `content_block_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockDeltaEvent {
    /// The block's position in `content`.
    pub index: u32,
    /// The fragment.
    pub delta: BlockDelta,
}

/// `content_block_stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentBlockStopEvent {
    /// The block's position in `content`.
    pub index: u32,
}

/// A fragment of a content block, tagged by `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockDelta {
    /// `{"type":"text_delta","text"}`.
    TextDelta(TextDelta),
    /// `{"type":"input_json_delta","partial_json"}`: a fragment of a tool input's JSON text.
    InputJsonDelta(InputJsonDelta),
    /// `{"type":"thinking_delta","thinking"}`.
    ThinkingDelta(ThinkingDelta),
    /// `{"type":"signature_delta","signature"}`.
    SignatureDelta(SignatureDelta),
    /// Any other kind (`citations_delta`, ...), kept verbatim with its `type`.
    Other(Extra),
}

tagged_enum_serde!(BlockDelta {
    TextDelta => "text_delta",
    InputJsonDelta => "input_json_delta",
    ThinkingDelta => "thinking_delta",
    SignatureDelta => "signature_delta",
});

/// `text_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDelta {
    /// The text fragment.
    pub text: String,
}

/// `input_json_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputJsonDelta {
    /// The JSON text fragment.
    pub partial_json: String,
}

/// `thinking_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingDelta {
    /// The reasoning fragment.
    pub thinking: String,
}

/// `signature_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureDelta {
    /// The signature.
    pub signature: String,
}

/// `message_delta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaEvent {
    /// The changed top-level fields.
    pub delta: MessageDelta,
    /// Cumulative token counts.
    #[serde(default)]
    pub usage: MessageDeltaUsage,
}

/// The `delta` of `message_delta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Why generation stopped.
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// The stop sequence that was generated, if any.
    #[serde(default)]
    pub stop_sequence: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `usage` of `message_delta`: cumulative; the input counts may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaUsage {
    /// Generated tokens so far.
    #[serde(default)]
    pub output_tokens: u64,
    /// Uncached input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `error` (stream event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// The error.
    pub error: ErrorDetail,
}

/// The error body: `{"type":"error","error":{"type","message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `error`.
    #[serde(rename = "type", default = "error_type")]
    pub kind: String,
    /// The error.
    pub error: ErrorDetail,
    /// The provider's request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

fn error_type() -> String {
    "error".to_owned()
}

impl ErrorBody {
    /// An error of this `type` with this message.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: error_type(),
            error: ErrorDetail { kind: kind.into(), message: message.into(), extra: Extra::new() },
            request_id: None,
        }
    }
}

/// The `error` object of an error body or event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error class, such as `overloaded_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
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
    fn request_round_trips_everything() {
        let body = json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "text", "text": "calling", "citations": null},
                    {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": 1}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": false,
                     "content": [{"type": "text", "text": "a cat"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "plain"}
                ]},
                {"role": "assistant", "content": "prefill"}
            ],
            "metadata": {"user_id": "u-1"},
            "stop_sequences": ["END"],
            "stream": false,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "tools": [
                {"name": "look", "description": "d", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "service_tier": "auto"
        });
        assert_eq!(round_trip::<MessagesRequest>(&body), body);
        let typed: MessagesRequest = serde_json::from_value(body).unwrap();
        let Content::Blocks(blocks) = &typed.messages[0].content else {
            panic!("blocks expected");
        };
        assert!(matches!(&blocks[1], ContentBlock::Image(ImageBlock { source: ImageSource::Base64(_), .. })));
        assert!(matches!(&blocks[3], ContentBlock::Image(ImageBlock { source: ImageSource::Other(_), .. })));
        assert_eq!(blocks[4].kind(), "document");
        let tools = typed.tools.as_deref().unwrap();
        assert!(tools[0].is_custom() && !tools[1].is_custom());
        assert!(matches!(
            typed.tool_choice,
            Some(ToolChoice::Auto(ToolChoiceOptions { disable_parallel_tool_use: Some(true), .. }))
        ));
    }

    #[test]
    fn tool_choice_forms() {
        for body in [
            json!({"type": "auto"}),
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!({"type": "tool", "name": "look"}),
            json!({"type": "none"}),
        ] {
            assert_eq!(round_trip::<ToolChoice>(&body), body);
        }
        assert!(matches!(
            serde_json::from_value::<ToolChoice>(json!({"type": "tool", "name": "f"})).unwrap(),
            ToolChoice::Tool(ToolChoiceTool { ref name, .. }) if name == "f"
        ));
    }

    #[test]
    fn response_round_trip() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hi"},
                        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 3, "service_tier": "standard"}
        });
        assert_eq!(round_trip::<MessagesResponse>(&body), body);
        let typed: MessagesResponse = serde_json::from_value(body).unwrap();
        assert_eq!(typed.stop_reason, Some(StopReason::ToolUse));
        let other: StopReason = serde_json::from_str("\"model_context_window_exceeded\"").unwrap();
        assert_eq!(other, StopReason::Other("model_context_window_exceeded".into()));
    }

    #[test]
    fn stream_events_parse_and_frame() {
        let events = [
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "content": [], "model": "claude", "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 25, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block":
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "t"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "signature_delta", "signature": "s"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "citations_delta", "citation": {}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 15}}),
            json!({"type": "message_stop"}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            json!({"type": "brand_new_event", "x": 1}),
        ];
        let kinds = [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "message_delta",
            "message_stop",
            "error",
            "brand_new_event",
        ];
        for (event, kind) in events.iter().zip(kinds) {
            assert_eq!(&round_trip::<StreamEvent>(event), event);
            let typed: StreamEvent = serde_json::from_value(event.clone()).unwrap();
            assert_eq!(typed.kind(), kind);
        }
        let delta: StreamEvent = serde_json::from_value(events[6].clone()).unwrap();
        assert!(matches!(&delta, StreamEvent::ContentBlockDelta(ContentBlockDeltaEvent {
            delta: BlockDelta::InputJsonDelta(InputJsonDelta { partial_json }), .. }) if partial_json == "{\"a\":"));
        let stop: StreamEvent = serde_json::from_value(events[11].clone()).unwrap();
        assert_eq!(
            stop.to_sse().unwrap(),
            Bytes::from_static(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
        );
    }

    #[test]
    fn error_body_shape() {
        let body = ErrorBody::new("overloaded_error", "Overloaded");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        );
        let with_id = json!({"type": "error", "error": {"type": "not_found_error", "message": "model: x"},
                             "request_id": "req_011"});
        assert_eq!(round_trip::<ErrorBody>(&with_id), with_id);
    }

    #[test]
    fn content_string_or_blocks() {
        let text: Content = serde_json::from_str("\"hi\"").unwrap();
        assert_eq!(text, Content::Text("hi".into()));
        assert_eq!(text.into_blocks(), vec![ContentBlock::Text(TextBlock::new("hi"))]);
        assert!(Content::Text(String::new()).into_blocks().is_empty());
        assert!(serde_json::from_str::<Content>("{}").is_err());
    }
}
