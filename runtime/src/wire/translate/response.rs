//! Non-streaming response bodies: Anthropic to OpenAI and back.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::request::input_to_arguments;
use super::usage::Usage;
use crate::wire::serde_util::Extra;
use crate::wire::{anthropic as a, openai as o};

/// Seconds since the Unix epoch, for `created`; 0 if the clock is before 1970.
pub(super) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The OpenAI `finish_reason` for an Anthropic `stop_reason`: `end_turn`, `stop_sequence` and
/// `pause_turn` are `stop`, `max_tokens` is `length`, `tool_use` is `tool_calls`, `refusal` is
/// `content_filter`; unknown reasons (such as `model_context_window_exceeded`) that mention the
/// context are `length`, others `stop`.
pub fn finish_reason_for_stop_reason(reason: &a::StopReason) -> o::FinishReason {
    match reason {
        a::StopReason::EndTurn | a::StopReason::StopSequence | a::StopReason::PauseTurn => o::FinishReason::Stop,
        a::StopReason::MaxTokens => o::FinishReason::Length,
        a::StopReason::ToolUse => o::FinishReason::ToolCalls,
        a::StopReason::Refusal => o::FinishReason::ContentFilter,
        a::StopReason::Other(other) if other.contains("context") => o::FinishReason::Length,
        a::StopReason::Other(_) => o::FinishReason::Stop,
    }
}

/// The Anthropic `stop_reason` for an OpenAI `finish_reason`: `stop` is `end_turn`, `length` is
/// `max_tokens`, `tool_calls` and `function_call` are `tool_use`, `content_filter` is
/// `refusal`; unknown reasons are `end_turn`.
pub fn stop_reason_for_finish_reason(reason: &o::FinishReason) -> a::StopReason {
    match reason {
        o::FinishReason::Length => a::StopReason::MaxTokens,
        o::FinishReason::ToolCalls | o::FinishReason::FunctionCall => a::StopReason::ToolUse,
        o::FinishReason::ContentFilter => a::StopReason::Refusal,
        o::FinishReason::Stop | o::FinishReason::Other(_) => a::StopReason::EndTurn,
    }
}

/// Translates an Anthropic response for an OpenAI client. Text blocks are joined into
/// `content` (which is `null` when the model only called tools), `tool_use` blocks become
/// `tool_calls`, thinking blocks are dropped; `model` is the name the client asked for and
/// `created` is now.
pub fn anthropic_response_to_openai(resp: &a::MessagesResponse, model: &str) -> o::ChatResponse {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for block in &resp.content {
        match block {
            a::ContentBlock::Text(block) => text.get_or_insert_with(String::new).push_str(&block.text),
            a::ContentBlock::ToolUse(block) => calls.push(o::ToolCall::Function(o::FunctionToolCall {
                id: block.id.clone(),
                function: o::FunctionCall {
                    name: block.name.clone(),
                    arguments: input_to_arguments(&block.input),
                    extra: Extra::new(),
                },
                extra: Extra::new(),
            })),
            _ => {}
        }
    }
    if calls.is_empty() && text.is_none() {
        text = Some(String::new());
    }
    o::ChatResponse {
        id: resp.id.clone(),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: model.to_owned(),
        choices: vec![o::Choice {
            index: 0,
            message: o::ResponseMessage {
                role: o::Role::Assistant,
                content: text,
                refusal: None,
                tool_calls: (!calls.is_empty()).then_some(calls),
                extra: Extra::new(),
            },
            finish_reason: Some(resp.stop_reason.as_ref().map_or(o::FinishReason::Stop, finish_reason_for_stop_reason)),
            logprobs: None,
            extra: Extra::new(),
        }],
        usage: Some(Usage::from_anthropic(&resp.usage).to_openai()),
        system_fingerprint: None,
        extra: Extra::new(),
    }
}

/// Tool call `arguments` as an Anthropic `input`. Text that is not JSON is kept as a JSON
/// string rather than dropped, so the client sees what the model produced.
fn arguments_to_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// Translates an OpenAI response for an Anthropic client, from its first choice. Content and
/// refusal become text blocks, `tool_calls` become `tool_use` blocks; a `stop` finish with tool
/// calls becomes `tool_use` (some servers report it so) since Anthropic clients loop on it.
pub fn openai_response_to_anthropic(resp: &o::ChatResponse, model: &str) -> a::MessagesResponse {
    let choice = resp.choices.iter().find(|choice| choice.index == 0).or(resp.choices.first());
    let mut content = Vec::new();
    let mut stop_reason = a::StopReason::EndTurn;
    if let Some(choice) = choice {
        let message = &choice.message;
        for text in [&message.content, &message.refusal].into_iter().flatten() {
            if !text.is_empty() {
                content.push(a::ContentBlock::Text(a::TextBlock::new(text.clone())));
            }
        }
        let mut called = false;
        for call in message.tool_calls.iter().flatten() {
            if let o::ToolCall::Function(call) = call {
                called = true;
                content.push(a::ContentBlock::ToolUse(a::ToolUseBlock {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    input: arguments_to_input(&call.function.arguments),
                    cache_control: None,
                    extra: Extra::new(),
                }));
            }
        }
        if let Some(reason) = &choice.finish_reason {
            stop_reason = stop_reason_for_finish_reason(reason);
        }
        if called && stop_reason == a::StopReason::EndTurn {
            stop_reason = a::StopReason::ToolUse;
        }
    }
    a::MessagesResponse {
        id: resp.id.clone(),
        kind: "message".to_owned(),
        role: a::Role::Assistant,
        content,
        model: model.to_owned(),
        stop_reason: Some(stop_reason),
        stop_sequence: None,
        usage: resp.usage.as_ref().map(|usage| Usage::from_openai(usage).to_anthropic()).unwrap_or_default(),
        extra: Extra::new(),
    }
}
