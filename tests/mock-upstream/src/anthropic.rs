//! The Anthropic wire format: the Messages API (plain and streaming), token
//! counting, models and errors.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::common::{
    message_chars, new_id, parse, to_json, tokens_for_chars, word_chunks, Answer, ApiError, Content, Events, Message,
    Reply, Tool,
};

/// The `GET /v1/models` document (when `anthropic-version` is sent).
pub(crate) const MODELS: &str = r#"{"data":[{"type":"model","id":"claude-sonnet-4-20250514","display_name":"Claude Sonnet 4","created_at":"2025-05-22T00:00:00Z"},{"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude Haiku 3.5","created_at":"2024-10-22T00:00:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-20250514","last_id":"claude-3-5-haiku-20241022"}"#;

#[derive(Deserialize)]
struct MessagesRequest {
    model: Option<String>,
    max_tokens: Option<u32>,
    messages: Option<Vec<Message>>,
    system: Option<Content>,
    stream: Option<bool>,
    tools: Option<Vec<Tool>>,
}

impl MessagesRequest {
    fn messages(&self) -> Result<&[Message], ApiError> {
        self.messages
            .as_deref()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::bad_request("messages: Field required"))
    }

    fn model(&self) -> Result<&str, ApiError> {
        self.model.as_deref().ok_or_else(|| ApiError::bad_request("model: Field required"))
    }

    fn input_tokens(&self, messages: &[Message]) -> u32 {
        let system = self.system.as_ref().map_or(0, Content::chars);
        tokens_for_chars(system + message_chars(messages))
    }
}

/// The fields of a message that do not depend on its content.
struct Head<'a> {
    id: &'a str,
    model: &'a str,
    input_tokens: u32,
}

impl<'a> Head<'a> {
    fn message<C>(&self, content: C, stop_reason: Option<&'static str>, output_tokens: u32) -> MessageOut<'a, C> {
        MessageOut {
            id: self.id,
            kind: "message",
            role: "assistant",
            model: self.model,
            content,
            stop_reason,
            stop_sequence: (),
            usage: Usage { input_tokens: self.input_tokens, output_tokens },
        }
    }
}

#[derive(Serialize)]
struct MessageOut<'a, C> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: C,
    stop_reason: Option<&'static str>,
    stop_sequence: (),
    usage: Usage,
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u32,
    output_tokens: u32,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Text { text: &'a str },
    ToolUse { id: &'a str, name: &'a str, input: Empty },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: (),
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u32,
}

/// A streaming event; its `type` tag is also the SSE event name.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart { message: MessageOut<'a, [ContentBlock<'a>; 0]> },
    ContentBlockStart { index: u32, content_block: ContentBlock<'a> },
    Ping,
    ContentBlockDelta { index: u32, delta: BlockDelta<'a> },
    ContentBlockStop { index: u32 },
    MessageDelta { delta: StopDelta, usage: OutputUsage },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
        }
    }
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct TokenCount {
    input_tokens: u32,
}

/// Renders an error in Anthropic's `{"type":"error","error":{...}}` shape.
pub(crate) fn error_body(err: &ApiError) -> Bytes {
    let kind = match err.status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    to_json(&ErrorDoc { kind: "error", error: ErrorBody { kind, message: &err.message } })
}

/// `POST /v1/messages`.
pub(crate) fn messages(body: &[u8]) -> Result<Reply, ApiError> {
    let req: MessagesRequest = parse(body)?;
    let model = req.model()?;
    if req.max_tokens.is_none() {
        return Err(ApiError::bad_request("max_tokens: Field required"));
    }
    let messages = req.messages()?;
    let answer = Answer::for_conversation(messages, req.tools.as_deref().unwrap_or_default());
    let id = new_id("msg_");
    let tool_id = matches!(answer, Answer::Tool(_)).then(|| new_id("toolu_"));
    let block = match &answer {
        Answer::Text(text) => ContentBlock::Text { text },
        Answer::Tool(name) => {
            ContentBlock::ToolUse { id: tool_id.as_deref().unwrap_or_default(), name, input: Empty {} }
        }
    };
    let stop_reason = match answer {
        Answer::Text(_) => "end_turn",
        Answer::Tool(_) => "tool_use",
    };
    let head = Head { id: &id, model, input_tokens: req.input_tokens(messages) };
    if req.stream != Some(true) {
        return Ok(Reply::Json(to_json(&head.message([block], Some(stop_reason), answer.tokens()))));
    }

    let mut events = Events::default();
    let mut emit = |event: Event<'_>| events.named(event.name(), &event);
    emit(Event::MessageStart { message: head.message([], None, 1) });
    let delta = |delta| Event::ContentBlockDelta { index: 0, delta };
    match &answer {
        Answer::Text(text) => {
            emit(Event::ContentBlockStart { index: 0, content_block: ContentBlock::Text { text: "" } });
            emit(Event::Ping);
            for word in word_chunks(text) {
                emit(delta(BlockDelta::TextDelta { text: word }));
            }
        }
        Answer::Tool(_) => {
            emit(Event::ContentBlockStart { index: 0, content_block: block });
            emit(Event::Ping);
            emit(delta(BlockDelta::InputJsonDelta { partial_json: "" }));
            emit(delta(BlockDelta::InputJsonDelta { partial_json: "{}" }));
        }
    }
    emit(Event::ContentBlockStop { index: 0 });
    emit(Event::MessageDelta {
        delta: StopDelta { stop_reason, stop_sequence: () },
        usage: OutputUsage { output_tokens: answer.tokens() },
    });
    emit(Event::MessageStop);
    Ok(Reply::Events(events))
}

/// `POST /v1/messages/count_tokens`.
pub(crate) fn count_tokens(body: &[u8]) -> Result<Reply, ApiError> {
    let req: MessagesRequest = parse(body)?;
    req.model()?;
    let messages = req.messages()?;
    Ok(Reply::Json(to_json(&TokenCount { input_tokens: req.input_tokens(messages) })))
}
