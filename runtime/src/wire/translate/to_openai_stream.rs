//! An Anthropic event stream re-emitted as OpenAI `chat.completion.chunk` frames.

use bytes::Bytes;
use serde::Deserialize;

use super::fast_json::{push_json_str, str_or_empty, CowStr};
use super::response::{finish_reason_for_stop_reason, unix_now};
use super::usage::{AnthropicUsageTap, RawUsage, Usage};
use super::{Api, TranslateError};
use crate::wire::put_decimal;
use crate::wire::{anthropic, openai};

/// Translates an Anthropic Messages stream into an OpenAI chat completion stream, one upstream
/// event at a time.
///
/// Output frames are exact OpenAI SSE (`data: {json}\n\n`): a role chunk first, content and
/// tool call chunks as blocks stream, a chunk with `finish_reason` at `message_delta`, then at
/// `message_stop` a usage chunk (when the client asked with `stream_options.include_usage`) and
/// `data: [DONE]`. An upstream `error` event becomes an OpenAI error frame and ends the stream.
/// Thinking, citations and server tool blocks have no Chat Completions form and are skipped.
#[derive(Debug)]
pub struct AnthropicToOpenAiStream {
    id: String,
    model: String,
    include_usage: bool,
    /// Every chunk starts with the same bytes, up to the `choices` array's bracket.
    prefix: Vec<u8>,
    role_sent: bool,
    finish_sent: bool,
    done: bool,
    finish_reason: Option<openai::FinishReason>,
    usage: AnthropicUsageTap,
    /// Anthropic block index to OpenAI tool call index, for each `tool_use` block.
    tool_blocks: Vec<(u32, u32)>,
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(default)]
    index: u32,
    #[serde(borrow, default)]
    delta: Option<RawDelta<'a>>,
    #[serde(borrow, default)]
    content_block: Option<RawBlock<'a>>,
    #[serde(default)]
    message: Option<RawMessage>,
    #[serde(default)]
    usage: Option<RawUsage>,
    #[serde(borrow, default)]
    error: Option<RawError<'a>>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    text: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    partial_json: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    stop_reason: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
struct RawBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    id: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    name: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    text: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
struct RawError<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    message: Option<CowStr<'a>>,
}

impl AnthropicToOpenAiStream {
    /// A translator whose chunks carry this `model` (the name the client asked for) and `id`;
    /// `include_usage` is the client's `stream_options.include_usage`.
    pub fn new(model: impl Into<String>, id: impl Into<String>, include_usage: bool) -> Self {
        let mut stream = Self {
            id: id.into(),
            model: model.into(),
            include_usage,
            prefix: Vec::new(),
            role_sent: false,
            finish_sent: false,
            done: false,
            finish_reason: None,
            usage: AnthropicUsageTap::new(),
            tool_blocks: Vec::new(),
        };
        stream.set_created(unix_now());
        stream
    }

    /// Sets the `created` timestamp of every chunk (by default the time of [`Self::new`]).
    pub fn with_created(mut self, created: u64) -> Self {
        self.set_created(created);
        self
    }

    fn set_created(&mut self, created: u64) {
        let mut prefix = Vec::with_capacity(self.id.len() + self.model.len() + 96);
        prefix.extend_from_slice(b"data: {\"id\":");
        push_json_str(&mut prefix, &self.id);
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        put_decimal(&mut prefix, created);
        prefix.extend_from_slice(b",\"model\":");
        push_json_str(&mut prefix, &self.model);
        prefix.extend_from_slice(b",\"choices\":[");
        self.prefix = prefix;
    }

    /// Whether `[DONE]` (or a terminal error) was emitted; later events are ignored.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The usage reported by the upstream so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage.usage()
    }

    /// Feeds one upstream event (its SSE `event:` name, possibly empty, and `data:` payload) and
    /// returns the frames to write.
    pub fn on_event(&mut self, event_name: &str, data: &str) -> Result<Vec<Bytes>, TranslateError> {
        let mut out = Vec::new();
        if self.done || event_name == "ping" || data.trim().is_empty() {
            return Ok(out);
        }
        let event: RawEvent<'_> = serde_json::from_str(data)
            .map_err(|source| TranslateError::UpstreamEvent { api: Api::Anthropic, source })?;
        let kind = event.kind.as_ref().map_or(event_name, CowStr::as_str);
        match kind {
            "message_start" => {
                if let Some(usage) = event.message.as_ref().and_then(|m| m.usage.as_ref()) {
                    self.usage.absorb(usage);
                }
                self.ensure_role(&mut out);
            }
            "content_block_start" => {
                self.ensure_role(&mut out);
                if let Some(block) = &event.content_block {
                    match str_or_empty(&block.kind) {
                        "text" => {
                            let text = str_or_empty(&block.text);
                            if !text.is_empty() {
                                out.push(self.content_chunk(text));
                            }
                        }
                        "tool_use" => {
                            let call_index = u32::try_from(self.tool_blocks.len()).unwrap_or(u32::MAX);
                            self.tool_blocks.push((event.index, call_index));
                            out.push(self.tool_start_chunk(
                                call_index,
                                str_or_empty(&block.id),
                                str_or_empty(&block.name),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            "content_block_delta" => {
                self.ensure_role(&mut out);
                if let Some(delta) = &event.delta {
                    match str_or_empty(&delta.kind) {
                        "text_delta" => {
                            let text = str_or_empty(&delta.text);
                            if !text.is_empty() {
                                out.push(self.content_chunk(text));
                            }
                        }
                        "input_json_delta" => {
                            let fragment = str_or_empty(&delta.partial_json);
                            let call =
                                self.tool_blocks.iter().find(|(block, _)| *block == event.index).map(|&(_, call)| call);
                            if let (Some(call), false) = (call, fragment.is_empty()) {
                                out.push(self.tool_arguments_chunk(call, fragment));
                            }
                        }
                        _ => {}
                    }
                }
            }
            "message_delta" => {
                if let Some(usage) = &event.usage {
                    self.usage.absorb(usage);
                }
                if let Some(reason) = event.delta.as_ref().and_then(|d| d.stop_reason.as_ref()) {
                    self.finish_reason =
                        Some(finish_reason_for_stop_reason(&anthropic::StopReason::from(reason.as_str())));
                }
                self.ensure_role(&mut out);
                self.ensure_finish(&mut out);
            }
            "message_stop" => self.finish_into(&mut out),
            "error" => {
                let (kind, message) = event
                    .error
                    .as_ref()
                    .map_or(("api_error", ""), |error| (str_or_empty(&error.kind), str_or_empty(&error.message)));
                out.push(error_frame(if kind.is_empty() { "api_error" } else { kind }, message));
                self.done = true;
            }
            // `ping`, `content_block_stop` and event kinds added after this was written.
            _ => {}
        }
        Ok(out)
    }

    /// Ends the stream: emits whatever of the role chunk, the finish chunk, the usage chunk and
    /// `[DONE]` has not been emitted yet (nothing after a terminal error). A missing
    /// `stop_reason` is reported as `stop`.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    fn finish_into(&mut self, out: &mut Vec<Bytes>) {
        if self.done {
            return;
        }
        self.ensure_role(out);
        self.ensure_finish(out);
        if self.include_usage {
            out.push(self.usage_chunk());
        }
        out.push(Bytes::from_static(openai::SSE_DONE));
        self.done = true;
    }

    fn ensure_role(&mut self, out: &mut Vec<Bytes>) {
        if !self.role_sent {
            self.role_sent = true;
            out.push(self.chunk(16, None, |buf| {
                buf.extend_from_slice(br#"{"role":"assistant","content":""}"#);
            }));
        }
    }

    fn ensure_finish(&mut self, out: &mut Vec<Bytes>) {
        if !self.finish_sent {
            self.finish_sent = true;
            let reason = self.finish_reason.as_ref().map_or("stop", openai::FinishReason::as_str);
            out.push(self.chunk(0, Some(reason), |buf| buf.extend_from_slice(b"{}")));
        }
    }

    /// One chunk with one choice: `prefix {"index":0,"delta":DELTA,"finish_reason":R}]}`.
    fn chunk(&self, size_hint: usize, finish: Option<&str>, delta: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        let mut buf = Vec::with_capacity(self.prefix.len() + size_hint + 64);
        buf.extend_from_slice(&self.prefix);
        buf.extend_from_slice(br#"{"index":0,"delta":"#);
        delta(&mut buf);
        buf.extend_from_slice(br#","finish_reason":"#);
        match finish {
            Some(reason) => push_json_str(&mut buf, reason),
            None => buf.extend_from_slice(b"null"),
        }
        buf.extend_from_slice(b"}]}\n\n");
        Bytes::from(buf)
    }

    fn content_chunk(&self, text: &str) -> Bytes {
        self.chunk(text.len() + 16, None, |buf| {
            buf.extend_from_slice(br#"{"content":"#);
            push_json_str(buf, text);
            buf.push(b'}');
        })
    }

    fn tool_start_chunk(&self, call: u32, id: &str, name: &str) -> Bytes {
        self.chunk(id.len() + name.len() + 96, None, |buf| {
            buf.extend_from_slice(br#"{"tool_calls":[{"index":"#);
            put_decimal(buf, u64::from(call));
            buf.extend_from_slice(br#","id":"#);
            push_json_str(buf, id);
            buf.extend_from_slice(br#","type":"function","function":{"name":"#);
            push_json_str(buf, name);
            buf.extend_from_slice(br#","arguments":""}}]}"#);
        })
    }

    fn tool_arguments_chunk(&self, call: u32, fragment: &str) -> Bytes {
        self.chunk(fragment.len() + 64, None, |buf| {
            buf.extend_from_slice(br#"{"tool_calls":[{"index":"#);
            put_decimal(buf, u64::from(call));
            buf.extend_from_slice(br#","function":{"arguments":"#);
            push_json_str(buf, fragment);
            buf.extend_from_slice(b"}}]}");
        })
    }

    /// The final chunk: no choices, and `usage`.
    fn usage_chunk(&self) -> Bytes {
        let usage = self.usage.usage().unwrap_or_default();
        let mut buf = Vec::with_capacity(self.prefix.len() + 160);
        buf.extend_from_slice(&self.prefix);
        buf.extend_from_slice(br#"],"usage":{"prompt_tokens":"#);
        put_decimal(&mut buf, usage.input_tokens);
        buf.extend_from_slice(br#","completion_tokens":"#);
        put_decimal(&mut buf, usage.output_tokens);
        buf.extend_from_slice(br#","total_tokens":"#);
        put_decimal(&mut buf, usage.total_tokens());
        buf.extend_from_slice(br#","prompt_tokens_details":{"cached_tokens":"#);
        put_decimal(&mut buf, usage.cached_input_tokens);
        buf.extend_from_slice(b"}}}\n\n");
        Bytes::from(buf)
    }
}

/// An OpenAI mid-stream error frame: `data: {"error":{...}}\n\n`.
fn error_frame(kind: &str, message: &str) -> Bytes {
    let mut buf = Vec::with_capacity(message.len() + kind.len() + 80);
    buf.extend_from_slice(br#"data: {"error":{"message":"#);
    push_json_str(&mut buf, message);
    buf.extend_from_slice(br#","type":"#);
    push_json_str(&mut buf, kind);
    buf.extend_from_slice(b",\"param\":null,\"code\":null}}\n\n");
    Bytes::from(buf)
}
