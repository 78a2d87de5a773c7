//! Tests of the stream translators: exact output text, and consistency under any chunking.

use bytes::Bytes;
use serde_json::{json, Value};

use super::*;
use crate::wire::sse::SseParser;
use crate::wire::{anthropic as a, openai as o};

/// A typical Anthropic stream: text, then a tool call, with cache reads.
const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\n",
    r#"data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":5,"cache_creation_input_tokens":0}}}"#,
    "\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    "\n\n",
    "event: ping\n",
    r#"data: {"type": "ping"}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    "\n\n",
    "event: content_block_delta\r\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" \"w\u00f6rld\"\n"}}"#,
    "\r\n\r\n",
    "event: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":0}"#,
    "\n\n",
    "event: content_block_start\n",
    r#"data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
    "\n\n",
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"Paris\"}"}}"#,
    "\n\n",
    "event: content_block_stop\n",
    r#"data: {"type":"content_block_stop","index":1}"#,
    "\n\n",
    "event: message_delta\n",
    r#"data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":20}}"#,
    "\n\n",
    "event: message_stop\n",
    r#"data: {"type":"message_stop"}"#,
    "\n\n",
);

const OPENAI_PREFIX: &str =
    r#"data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":42,"model":"gpt-alias","choices":["#;

fn openai_expected(bodies: &[&str]) -> String {
    bodies
        .iter()
        .map(
            |body| {
                if *body == "[DONE]" {
                    "data: [DONE]\n\n".to_owned()
                } else {
                    format!("{OPENAI_PREFIX}{body}\n\n")
                }
            },
        )
        .collect()
}

fn join(frames: &[Bytes]) -> String {
    frames.iter().map(|frame| String::from_utf8_lossy(frame).into_owned()).collect()
}

/// Runs `input` through the SSE parser (cut at `cuts`) and the Anthropic-to-OpenAI translator.
fn anthropic_to_openai(input: &str, cuts: &[usize], include_usage: bool) -> String {
    let mut parser = SseParser::new();
    let mut stream = AnthropicToOpenAiStream::new("gpt-alias", "chatcmpl-x", include_usage).with_created(42);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain([input.len()].iter()) {
        for event in parser.feed(&input.as_bytes()[start..cut]) {
            out.extend(stream.on_event(event.event.as_deref().unwrap_or(""), &event.data).unwrap());
        }
        start = cut;
    }
    if let Some(event) = parser.finish() {
        out.extend(stream.on_event(event.event.as_deref().unwrap_or(""), &event.data).unwrap());
    }
    out.extend(stream.finish());
    join(&out)
}

#[test]
fn anthropic_stream_to_openai_exact_text() {
    let expected = openai_expected(&[
        r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#,
        "{\"index\":0,\"delta\":{\"content\":\" \\\"w\u{f6}rld\\\"\\n\"},\"finish_reason\":null}]}",
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"],"usage":{"prompt_tokens":15,"completion_tokens":20,"total_tokens":35,"prompt_tokens_details":{"cached_tokens":5}}}"#,
        "[DONE]",
    ]);
    assert_eq!(anthropic_to_openai(ANTHROPIC_STREAM, &[], true), expected);
}

#[test]
fn anthropic_stream_to_openai_any_chunking() {
    let expected = anthropic_to_openai(ANTHROPIC_STREAM, &[], true);
    for cut in 0..=ANTHROPIC_STREAM.len() {
        assert_eq!(anthropic_to_openai(ANTHROPIC_STREAM, &[cut], true), expected, "cut at {cut}");
    }
    let every_byte: Vec<usize> = (1..ANTHROPIC_STREAM.len()).collect();
    assert_eq!(anthropic_to_openai(ANTHROPIC_STREAM, &every_byte, true), expected);
}

#[test]
fn anthropic_stream_output_parses_as_openai_chunks() {
    let text = anthropic_to_openai(ANTHROPIC_STREAM, &[], true);
    let mut parser = SseParser::new();
    let events = parser.feed(text.as_bytes());
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last.data, "[DONE]");
    let mut content = String::new();
    let mut arguments = String::new();
    let mut usage = None;
    for event in chunks {
        let chunk: o::ChatChunk = serde_json::from_str(&event.data).unwrap();
        assert_eq!((chunk.id.as_str(), chunk.object.as_str()), ("chatcmpl-x", "chat.completion.chunk"));
        for choice in &chunk.choices {
            content.push_str(choice.delta.content.as_deref().unwrap_or(""));
            for call in choice.delta.tool_calls.iter().flatten() {
                arguments.push_str(call.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or(""));
            }
        }
        if chunk.usage.is_some() {
            usage = chunk.usage;
        }
    }
    assert_eq!(content, "Hello \"w\u{f6}rld\"\n");
    assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), json!({"city": "Paris"}));
    assert_eq!(usage.map(|u| u.total_tokens), Some(35));
}

#[test]
fn anthropic_stream_without_usage_option_or_stop() {
    let mut stream = AnthropicToOpenAiStream::new("gpt-alias", "chatcmpl-x", false).with_created(42);
    let mut out = stream
        .on_event(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
        )
        .unwrap();
    out.extend(stream.finish());
    assert!(stream.is_done());
    assert!(stream.finish().is_empty());
    assert!(stream.on_event("message_stop", r#"{"type":"message_stop"}"#).unwrap().is_empty());
    assert_eq!(
        join(&out),
        openai_expected(&[
            r#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#,
            r#"{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ])
    );
}

#[test]
fn anthropic_max_tokens_is_length() {
    let mut stream = AnthropicToOpenAiStream::new("gpt-alias", "chatcmpl-x", false).with_created(42);
    let out = stream
        .on_event(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}"#,
        )
        .unwrap();
    assert!(join(&out)
        .ends_with(&format!("{OPENAI_PREFIX}{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"length\"}}]}}\n\n")));
    assert_eq!(stream.usage().map(|u| u.output_tokens), Some(3));
}

#[test]
fn anthropic_error_event_becomes_openai_error_and_ends() {
    let mut stream = AnthropicToOpenAiStream::new("gpt-alias", "chatcmpl-x", true).with_created(42);
    let out = stream
        .on_event("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        .unwrap();
    assert_eq!(
        join(&out),
        "data: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\",\"param\":null,\"code\":null}}\n\n"
    );
    assert!(stream.is_done());
    assert!(stream.finish().is_empty());
}

#[test]
fn anthropic_invalid_event_is_an_upstream_error_and_unknown_events_pass() {
    let mut stream = AnthropicToOpenAiStream::new("m", "id", false);
    let err = stream.on_event("content_block_delta", "{not json").unwrap_err();
    assert!(err.is_upstream());
    assert_eq!(err.status(), 502);
    assert!(stream.on_event("ping", "").unwrap().is_empty());
    // Unknown event kinds and block kinds are skipped (after the role chunk).
    let out = stream.on_event("future", r#"{"type":"future","x":1}"#).unwrap();
    assert!(out.is_empty());
    let out = stream
        .on_event(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        )
        .unwrap();
    assert_eq!(out.len(), 1, "only the role chunk");
    let out = stream
        .on_event(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
        )
        .unwrap();
    assert!(out.is_empty());
}

/// A typical OpenAI stream: text, then two tool calls, then a usage chunk.
const OPENAI_STREAM: &[&str] = &[
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" \"there\"\n"},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]},"finish_reason":null}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#,
    r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":12,"total_tokens":42,"prompt_tokens_details":{"cached_tokens":10,"audio_tokens":0}}}"#,
    "[DONE]",
];

fn anthropic_frame(name: &str, body: &str) -> String {
    format!("event: {name}\ndata: {body}\n\n")
}

fn run_openai(stream: &mut OpenAiToAnthropicStream, payloads: &[&str]) -> String {
    let mut out = Vec::new();
    for payload in payloads {
        out.extend(stream.on_data(payload).unwrap());
    }
    out.extend(stream.finish());
    join(&out)
}

const MESSAGE_START: &str = r#"{"type":"message_start","message":{"id":"msg_x","type":"message","role":"assistant","content":[],"model":"claude-alias","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}"#;

#[test]
fn openai_stream_to_anthropic_exact_text() {
    let mut stream = OpenAiToAnthropicStream::new("claude-alias", "msg_x");
    let expected: String = [
        ("message_start", MESSAGE_START),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" \"there\"\n"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"f","input":{}}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_2","name":"g","input":{}}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":20,"cache_read_input_tokens":10,"output_tokens":12}}"#),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .iter()
    .map(|(name, body)| anthropic_frame(name, body))
    .collect();
    assert_eq!(run_openai(&mut stream, OPENAI_STREAM), expected);
    assert!(stream.is_done());
    assert_eq!(stream.usage().map(|u| (u.input_tokens, u.output_tokens)), Some((30, 12)));
}

#[test]
fn openai_stream_output_parses_as_anthropic_events() {
    let mut stream = OpenAiToAnthropicStream::new("claude-alias", "msg_x");
    let text = run_openai(&mut stream, OPENAI_STREAM);
    let mut parser = SseParser::new();
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut stop_reason = None;
    for event in parser.feed(text.as_bytes()) {
        let parsed: a::StreamEvent = serde_json::from_str(&event.data).unwrap();
        assert_eq!(event.event.as_deref(), Some(parsed.kind()));
        match parsed {
            a::StreamEvent::ContentBlockStart(start) => {
                assert_eq!(start.index as usize, blocks.len());
                blocks.push((start.content_block.kind().to_owned(), String::new()));
            }
            a::StreamEvent::ContentBlockDelta(delta) => match delta.delta {
                a::BlockDelta::TextDelta(d) => blocks[delta.index as usize].1.push_str(&d.text),
                a::BlockDelta::InputJsonDelta(d) => blocks[delta.index as usize].1.push_str(&d.partial_json),
                other => panic!("unexpected delta {other:?}"),
            },
            a::StreamEvent::MessageDelta(delta) => stop_reason = delta.delta.stop_reason,
            _ => {}
        }
    }
    assert_eq!(
        blocks,
        [
            ("text".to_owned(), "Hi \"there\"\n".to_owned()),
            ("tool_use".to_owned(), "{\"a\":1}".to_owned()),
            ("tool_use".to_owned(), "{}".to_owned()),
        ]
    );
    assert_eq!(stop_reason, Some(a::StopReason::ToolUse));
}

#[test]
fn openai_stream_without_done_or_usage() {
    let mut stream = OpenAiToAnthropicStream::new("claude-alias", "msg_x");
    let text =
        run_openai(&mut stream, &[r#"{"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"length"}]}"#]);
    let expected: String = [
        ("message_start", MESSAGE_START),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":0}}"#),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .iter()
    .map(|(name, body)| anthropic_frame(name, body))
    .collect();
    assert_eq!(text, expected);
    assert!(stream.finish().is_empty());
    assert!(stream.on_data("[DONE]").unwrap().is_empty());
}

#[test]
fn openai_whole_tool_calls_without_index_are_told_apart_by_id() {
    // Some OpenAI-compatible servers send each call whole, all at index 0.
    let mut stream = OpenAiToAnthropicStream::new("c", "m");
    let text = run_openai(
        &mut stream,
        &[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
        ],
    );
    assert!(text.contains(r#""index":0,"content_block":{"type":"tool_use","id":"a","name":"f","input":{}}"#));
    assert!(text.contains(r#""index":1,"content_block":{"type":"tool_use","id":"b","name":"g","input":{}}"#));
    // `stop` with tool calls is reported as `tool_use`: Anthropic clients loop on it.
    assert!(text.contains(r#""stop_reason":"tool_use""#));
}

#[test]
fn openai_refusal_other_choices_and_empty_payloads() {
    let mut stream = OpenAiToAnthropicStream::new("c", "m");
    let mut out = stream.on_data("").unwrap();
    assert!(out.is_empty());
    out.extend(
        stream
            .on_data(r#"{"choices":[{"index":1,"delta":{"content":"ignored"}},{"index":0,"delta":{"refusal":"No."},"finish_reason":"content_filter"}]}"#)
            .unwrap(),
    );
    out.extend(stream.on_data(" [DONE] ").unwrap());
    let text = join(&out);
    assert!(!text.contains("ignored"));
    assert!(text.contains(r#""delta":{"type":"text_delta","text":"No."}"#));
    assert!(text.contains(r#""stop_reason":"refusal""#));
}

#[test]
fn openai_error_payload_becomes_anthropic_error_event() {
    let mut stream = OpenAiToAnthropicStream::new("c", "m");
    let out = stream
        .on_data(
            r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        )
        .unwrap();
    assert_eq!(
        join(&out),
        anthropic_frame(
            "error",
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}"#
        )
    );
    assert!(stream.is_done());
    assert!(stream.finish().is_empty());
    let mut stream = OpenAiToAnthropicStream::new("c", "m");
    let err = stream.on_data("{\"choices\":").unwrap_err();
    assert!(err.is_upstream());
}

#[test]
fn both_directions_compose() {
    // OpenAI stream -> Anthropic frames -> OpenAI frames gives the same text and arguments.
    let mut to_anthropic = OpenAiToAnthropicStream::new("claude", "msg");
    let anthropic_text = run_openai(&mut to_anthropic, OPENAI_STREAM);
    let openai_text = anthropic_to_openai(&anthropic_text, &[], true);
    let mut parser = SseParser::new();
    let mut content = String::new();
    let mut calls: Vec<(String, String)> = Vec::new();
    let mut finish = None;
    let mut usage = None;
    for event in parser.feed(openai_text.as_bytes()) {
        if event.data == "[DONE]" {
            continue;
        }
        let chunk: o::ChatChunk = serde_json::from_str(&event.data).unwrap();
        usage = chunk.usage.or(usage);
        for choice in chunk.choices {
            finish = choice.finish_reason.or(finish);
            content.push_str(choice.delta.content.as_deref().unwrap_or(""));
            for call in choice.delta.tool_calls.into_iter().flatten() {
                let function = call.function.unwrap_or_default();
                if let Some(id) = call.id {
                    calls.push((id, String::new()));
                }
                if let Some(last) = calls.last_mut() {
                    last.1.push_str(function.arguments.as_deref().unwrap_or(""));
                }
            }
        }
    }
    assert_eq!(content, "Hi \"there\"\n");
    assert_eq!(calls, [("call_1".to_owned(), "{\"a\":1}".to_owned()), ("call_2".to_owned(), "{}".to_owned())]);
    assert_eq!(finish, Some(o::FinishReason::ToolCalls));
    let usage = usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (30, 12));
    assert_eq!(usage.prompt_tokens_details.and_then(|d| d.cached_tokens), Some(10));
}
