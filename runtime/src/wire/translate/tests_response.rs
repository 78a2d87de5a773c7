//! Tests of response translation, both directions.

use serde_json::{json, Value};

use super::*;
use crate::wire::{anthropic as a, openai as o};

fn anthropic_response(body: Value) -> a::MessagesResponse {
    serde_json::from_value(body).unwrap()
}

fn openai_response(body: Value) -> o::ChatResponse {
    serde_json::from_value(body).unwrap()
}

#[test]
fn anthropic_text_and_tools_to_openai() {
    let resp = anthropic_response(json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Sure, "},
            {"type": "text", "text": "checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 11, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 4}
    }));
    let mut translated = serde_json::to_value(anthropic_response_to_openai(&resp, "my-model")).unwrap();
    assert!(translated["created"].as_u64().unwrap() > 1_600_000_000);
    translated["created"] = json!(0);
    assert_eq!(
        translated,
        json!({
            "id": "msg_01", "object": "chat.completion", "created": 0, "model": "my-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Sure, checking.", "tool_calls": [
                    {"type": "function", "id": "toolu_1",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]},
                "finish_reason": "tool_calls",
                "logprobs": null
            }],
            "usage": {"prompt_tokens": 124, "completion_tokens": 11, "total_tokens": 135,
                      "prompt_tokens_details": {"cached_tokens": 100}}
        })
    );
}

#[test]
fn tool_only_answer_has_null_content() {
    let resp = anthropic_response(json!({
        "id": "m", "type": "message", "role": "assistant", "model": "c",
        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}
    }));
    let translated = anthropic_response_to_openai(&resp, "x");
    assert_eq!(translated.choices[0].message.content, None);
    let json = serde_json::to_value(&translated).unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], Value::Null);
    assert!(json["choices"][0]["message"].as_object().unwrap().contains_key("content"));
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("something_new", "stop"),
    ] {
        let resp = anthropic_response(json!({
            "id": "m", "type": "message", "role": "assistant", "model": "c",
            "content": [{"type": "text", "text": "x"}], "stop_reason": stop,
            "usage": {"input_tokens": 1, "output_tokens": 1}
        }));
        let translated = anthropic_response_to_openai(&resp, "x");
        assert_eq!(translated.choices[0].finish_reason.as_ref().map(o::FinishReason::as_str), Some(finish));
    }
}

#[test]
fn openai_text_and_tools_to_anthropic() {
    let resp = openai_response(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
                {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": ""}}
            ]}}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                  "prompt_tokens_details": {"cached_tokens": 30}}
    }));
    let translated = serde_json::to_value(openai_response_to_anthropic(&resp, "claude-alias")).unwrap();
    assert_eq!(
        translated,
        json!({
            "id": "chatcmpl-1", "type": "message", "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "call_2", "name": "g", "input": "not json"},
                {"type": "tool_use", "id": "call_3", "name": "h", "input": {}}
            ],
            "model": "claude-alias",
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 7, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 30}
        })
    );
}

#[test]
fn finish_reasons_map_to_stop_reasons() {
    for (finish, tools, stop) in [
        ("stop", false, "end_turn"),
        ("stop", true, "tool_use"),
        ("length", false, "max_tokens"),
        ("tool_calls", true, "tool_use"),
        ("function_call", false, "tool_use"),
        ("content_filter", false, "refusal"),
    ] {
        let calls = if tools {
            json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
        } else {
            Value::Null
        };
        let resp = openai_response(json!({
            "id": "x", "model": "m",
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": "t", "tool_calls": calls}}]
        }));
        let translated = openai_response_to_anthropic(&resp, "m");
        assert_eq!(translated.stop_reason.as_ref().map(a::StopReason::as_str), Some(stop));
    }
}

#[test]
fn refusal_and_missing_choices_and_usage() {
    let resp = openai_response(json!({
        "id": "x", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": null, "refusal": "I can't."}}]
    }));
    let translated = openai_response_to_anthropic(&resp, "m");
    assert_eq!(translated.content, vec![a::ContentBlock::Text(a::TextBlock::new("I can't."))]);
    assert_eq!(translated.usage.input_tokens, 0);

    let empty = openai_response(json!({"id": "x", "model": "m", "choices": []}));
    let translated = openai_response_to_anthropic(&empty, "m");
    assert!(translated.content.is_empty());
    assert_eq!(translated.stop_reason, Some(a::StopReason::EndTurn));
}

#[test]
fn response_round_trip_keeps_content_and_usage() {
    let original = anthropic_response(json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "c",
        "content": [{"type": "text", "text": "hi"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"k": [true, null]}}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": 5,
                  "cache_creation_input_tokens": 0}
    }));
    let there = anthropic_response_to_openai(&original, "c");
    let back = openai_response_to_anthropic(&there, "c");
    assert_eq!(back, original);
}
