//! An OpenAI chat completion stream re-emitted as Anthropic Messages events.

use bytes::Bytes;
use serde::Deserialize;

use super::error_map::anthropic_type_for;
use super::fast_json::{push_json_str, str_or_empty, CowStr};
use super::response::stop_reason_for_finish_reason;
use super::usage::Usage;
use super::{Api, TranslateError};
use crate::wire::put_decimal;
use crate::wire::{anthropic, openai};

/// Translates an OpenAI chat completion stream into an Anthropic Messages stream, one `data:`
/// payload at a time.
///
/// Output frames are exact Anthropic SSE (`event: NAME\ndata: {json}\n\n`): `message_start` at
/// the first chunk; `content_block_start`, `content_block_delta` (`text_delta` or
/// `input_json_delta`) and `content_block_stop` as text and tool calls stream, a new block
/// whenever the kind or the tool call changes; and at `[DONE]` (or [`finish`](Self::finish))
/// `message_delta` with `stop_reason` and the usage of the final usage chunk, then
/// `message_stop`. Only the first choice is translated. An upstream `{"error":...}` payload
/// becomes an `error` event and ends the stream.
#[derive(Debug)]
pub struct OpenAiToAnthropicStream {
    id: String,
    model: String,
    started: bool,
    done: bool,
    /// The block being written: its index and whether it is a tool call.
    open: Option<OpenBlock>,
    next_index: u32,
    tools: Vec<ToolSlot>,
    stop_reason: Option<anthropic::StopReason>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy)]
struct OpenBlock {
    index: u32,
    is_tool: bool,
}

/// A tool call seen in the stream and the block it was given.
#[derive(Debug)]
struct ToolSlot {
    call_index: u32,
    id: String,
    block: u32,
}

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(borrow, default)]
    choices: Option<Vec<RawChoice<'a>>>,
    #[serde(default)]
    usage: Option<openai::CompletionUsage>,
    #[serde(borrow, default)]
    error: Option<RawError<'a>>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow, default)]
    delta: Option<RawDelta<'a>>,
    #[serde(borrow, default)]
    finish_reason: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(borrow, default)]
    content: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    refusal: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<RawToolCall<'a>>>,
}

#[derive(Deserialize)]
struct RawToolCall<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow, default)]
    id: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    function: Option<RawFunction<'a>>,
}

#[derive(Deserialize)]
struct RawFunction<'a> {
    #[serde(borrow, default)]
    name: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    arguments: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
struct RawError<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    message: Option<CowStr<'a>>,
}

impl OpenAiToAnthropicStream {
    /// A translator whose `message_start` carries this `model` (the name the client asked for)
    /// and message `id`.
    pub fn new(model: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            started: false,
            done: false,
            open: None,
            next_index: 0,
            tools: Vec::new(),
            stop_reason: None,
            usage: None,
        }
    }

    /// Whether `message_stop` (or a terminal error) was emitted; later payloads are ignored.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The usage from the upstream's usage chunk, if it sent one.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Feeds the payload of one `data:` line (`[DONE]` ends the stream) and returns the frames
    /// to write.
    pub fn on_data(&mut self, data: &str) -> Result<Vec<Bytes>, TranslateError> {
        let mut out = Vec::new();
        let data = data.trim();
        if self.done || data.is_empty() {
            return Ok(out);
        }
        if data == "[DONE]" {
            self.finish_into(&mut out);
            return Ok(out);
        }
        let chunk: RawChunk<'_> =
            serde_json::from_str(data).map_err(|source| TranslateError::UpstreamEvent { api: Api::OpenAi, source })?;
        if let Some(error) = &chunk.error {
            let kind = anthropic_type_for(str_or_empty(&error.kind), 0);
            out.push(event_frame("error", 64, |buf| {
                buf.extend_from_slice(br#"{"type":"error","error":{"type":"#);
                push_json_str(buf, kind);
                buf.extend_from_slice(br#","message":"#);
                push_json_str(buf, str_or_empty(&error.message));
                buf.extend_from_slice(b"}}");
            }));
            self.done = true;
            return Ok(out);
        }
        self.ensure_started(&mut out);
        for choice in chunk.choices.iter().flatten().filter(|choice| choice.index == 0) {
            if let Some(delta) = &choice.delta {
                for text in [&delta.content, &delta.refusal] {
                    let text = str_or_empty(text);
                    if !text.is_empty() {
                        self.text(text, &mut out);
                    }
                }
                for call in delta.tool_calls.iter().flatten() {
                    self.tool_call(call, &mut out);
                }
            }
            if let Some(reason) = &choice.finish_reason {
                self.stop_reason = Some(stop_reason_for_finish_reason(&openai::FinishReason::from(reason.as_str())));
                self.close_open(&mut out);
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(Usage::from_openai(usage));
        }
        Ok(out)
    }

    /// Ends the stream: emits whatever of `message_start`, the open block's stop,
    /// `message_delta` and `message_stop` has not been emitted yet (nothing after a terminal
    /// error). A missing `finish_reason` is reported as `end_turn`, or `tool_use` when the model
    /// called tools.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    fn finish_into(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        self.ensure_started(out);
        self.close_open(out);
        let mut reason = self.stop_reason.clone().unwrap_or(anthropic::StopReason::EndTurn);
        if reason == anthropic::StopReason::EndTurn && !self.tools.is_empty() {
            reason = anthropic::StopReason::ToolUse;
        }
        let usage = self.usage;
        out.push(event_frame("message_delta", 160, |buf| {
            buf.extend_from_slice(br#"{"type":"message_delta","delta":{"stop_reason":"#);
            push_json_str(buf, reason.as_str());
            buf.extend_from_slice(br#","stop_sequence":null},"usage":{"#);
            if let Some(usage) = usage {
                buf.extend_from_slice(br#""input_tokens":"#);
                put_decimal(buf, usage.uncached_input_tokens());
                buf.extend_from_slice(br#","cache_read_input_tokens":"#);
                put_decimal(buf, usage.cached_input_tokens);
                buf.push(b',');
            }
            buf.extend_from_slice(br#""output_tokens":"#);
            put_decimal(buf, usage.map_or(0, |usage| usage.output_tokens));
            buf.extend_from_slice(b"}}");
        }));
        out.push(Bytes::from_static(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        self.done = true;
    }

    fn ensure_started(&mut self, out: &mut Vec<Bytes>) {
        if self.started {
            return;
        }
        self.started = true;
        let (id, model) = (&self.id, &self.model);
        out.push(event_frame("message_start", id.len() + model.len() + 200, |buf| {
            buf.extend_from_slice(br#"{"type":"message_start","message":{"id":"#);
            push_json_str(buf, id);
            buf.extend_from_slice(br#","type":"message","role":"assistant","content":[],"model":"#);
            push_json_str(buf, model);
            buf.extend_from_slice(
                br#","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#,
            );
        }));
    }

    fn close_open(&mut self, out: &mut Vec<Bytes>) {
        if let Some(open) = self.open.take() {
            out.push(event_frame("content_block_stop", 16, |buf| {
                buf.extend_from_slice(br#"{"type":"content_block_stop","index":"#);
                put_decimal(buf, u64::from(open.index));
                buf.push(b'}');
            }));
        }
    }

    fn start_block(&mut self, is_tool: bool, out: &mut Vec<Bytes>) -> u32 {
        self.close_open(out);
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        self.open = Some(OpenBlock { index, is_tool });
        index
    }

    fn text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        let index = match self.open {
            Some(OpenBlock { index, is_tool: false }) => index,
            _ => {
                let index = self.start_block(false, out);
                out.push(event_frame("content_block_start", 32, |buf| {
                    buf.extend_from_slice(br#"{"type":"content_block_start","index":"#);
                    put_decimal(buf, u64::from(index));
                    buf.extend_from_slice(br#","content_block":{"type":"text","text":""}}"#);
                }));
                index
            }
        };
        out.push(event_frame("content_block_delta", text.len() + 32, |buf| {
            buf.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
            put_decimal(buf, u64::from(index));
            buf.extend_from_slice(br#","delta":{"type":"text_delta","text":"#);
            push_json_str(buf, text);
            buf.extend_from_slice(b"}}");
        }));
    }

    fn tool_call(&mut self, call: &RawToolCall<'_>, out: &mut Vec<Bytes>) {
        // Most servers send `id` on a call's first fragment only and identify later ones by
        // `index`; some send a whole call per chunk with the same `index`, told apart by `id`.
        let id = call.id.as_ref().map(CowStr::as_str).filter(|id| !id.is_empty());
        let existing = match id {
            Some(id) => self.tools.iter().find(|slot| slot.id == id),
            None => self.tools.iter().rev().find(|slot| slot.call_index == call.index),
        }
        .map(|slot| slot.block);
        let block = match existing {
            Some(block) => block,
            None => {
                let name = call.function.as_ref().map_or("", |function| str_or_empty(&function.name));
                let block = self.start_block(true, out);
                let id = id.map_or_else(|| format!("toolu_{block}"), str::to_owned);
                out.push(event_frame("content_block_start", id.len() + name.len() + 96, |buf| {
                    buf.extend_from_slice(br#"{"type":"content_block_start","index":"#);
                    put_decimal(buf, u64::from(block));
                    buf.extend_from_slice(br#","content_block":{"type":"tool_use","id":"#);
                    push_json_str(buf, &id);
                    buf.extend_from_slice(br#","name":"#);
                    push_json_str(buf, name);
                    buf.extend_from_slice(br#","input":{}}}"#);
                }));
                self.tools.push(ToolSlot { call_index: call.index, id, block });
                block
            }
        };
        let arguments = call.function.as_ref().map_or("", |function| str_or_empty(&function.arguments));
        if arguments.is_empty() {
            return;
        }
        out.push(event_frame("content_block_delta", arguments.len() + 48, |buf| {
            buf.extend_from_slice(br#"{"type":"content_block_delta","index":"#);
            put_decimal(buf, u64::from(block));
            buf.extend_from_slice(br#","delta":{"type":"input_json_delta","partial_json":"#);
            push_json_str(buf, arguments);
            buf.extend_from_slice(b"}}");
        }));
    }
}

/// One Anthropic SSE frame: `event: NAME\ndata: BODY\n\n`.
fn event_frame(name: &str, size_hint: usize, body: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut buf = Vec::with_capacity(name.len() + size_hint + 64);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    body(&mut buf);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}
