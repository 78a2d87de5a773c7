//! Tests of request translation, both directions.

use serde_json::{json, Value};

use super::*;
use crate::wire::{anthropic as a, openai as o};

fn openai(body: Value) -> o::ChatRequest {
    serde_json::from_value(body).unwrap()
}

fn anthropic(body: Value) -> a::MessagesRequest {
    serde_json::from_value(body).unwrap()
}

fn to_anthropic(body: Value) -> Value {
    serde_json::to_value(openai_request_to_anthropic(&openai(body), 4096).unwrap()).unwrap()
}

fn to_openai(body: Value) -> Value {
    serde_json::to_value(anthropic_request_to_openai(&anthropic(body)).unwrap()).unwrap()
}

#[test]
fn openai_conversation_with_tools_and_images_to_anthropic() {
    let translated = to_anthropic(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}
            ]},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "zoom", "arguments": "{\"image\":1}"}},
                {"id": "call_2", "type": "function", "function": {"name": "zoom", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
            {"role": "user", "content": "And now?"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "zoom", "description": "Zooms.",
             "parameters": {"type": "object", "properties": {"image": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "noop"}}
        ],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "max_tokens": 300,
        "temperature": 1.5,
        "top_p": 0.5,
        "stop": "END",
        "stream": true,
        "user": "user-7",
        "seed": 1,
        "response_format": {"type": "text"}
    }));
    assert_eq!(
        translated,
        json!({
            "model": "gpt-4o",
            "max_tokens": 300,
            "system": [
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me look."},
                    {"type": "tool_use", "id": "call_1", "name": "zoom", "input": {"image": 1}},
                    {"type": "tool_use", "id": "call_2", "name": "zoom", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
                    {"type": "text", "text": "And now?"}
                ]}
            ],
            "metadata": {"user_id": "user-7"},
            "stop_sequences": ["END"],
            "stream": true,
            "temperature": 1.0,
            "top_p": 0.5,
            "tools": [
                {"name": "zoom", "description": "Zooms.",
                 "input_schema": {"type": "object", "properties": {"image": {"type": "integer"}}}},
                {"name": "noop", "input_schema": {"type": "object", "properties": {}}}
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
        })
    );
}

#[test]
fn single_system_message_stays_a_string_and_defaults_apply() {
    let translated = to_anthropic(json!({
        "model": "m",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    }));
    assert_eq!(
        translated,
        json!({"model": "m", "max_tokens": 4096, "system": "sys",
               "messages": [{"role": "user", "content": "hi"}]})
    );
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() {
    let req = openai(json!({"model": "m", "messages": [], "max_tokens": 10, "max_completion_tokens": 20}));
    assert_eq!(openai_request_to_anthropic(&req, 1).unwrap().max_tokens, 20);
}

#[test]
fn stop_list_and_empty_stop() {
    let req = openai(json!({"model": "m", "messages": [], "stop": ["a", "b"]}));
    assert_eq!(
        openai_request_to_anthropic(&req, 1).unwrap().stop_sequences,
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
    let req = openai(json!({"model": "m", "messages": [], "stop": []}));
    assert_eq!(openai_request_to_anthropic(&req, 1).unwrap().stop_sequences, None);
}

#[test]
fn tool_choice_variants_to_anthropic() {
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let cases = [
        (json!("auto"), None, json!({"type": "auto"})),
        (json!("none"), None, json!({"type": "none"})),
        (json!("required"), None, json!({"type": "any"})),
        (json!({"type": "function", "function": {"name": "f"}}), None, json!({"type": "tool", "name": "f"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            Some(false),
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
        ),
        (Value::Null, Some(false), json!({"type": "auto", "disable_parallel_tool_use": true})),
    ];
    for (choice, parallel, expected) in cases {
        let mut body = json!({"model": "m", "messages": [], "tools": tools.clone()});
        if !choice.is_null() {
            body["tool_choice"] = choice;
        }
        if let Some(parallel) = parallel {
            body["parallel_tool_calls"] = json!(parallel);
        }
        assert_eq!(to_anthropic(body)["tool_choice"], expected);
    }
    // No tools: no tool choice, which Anthropic would reject.
    let body = json!({"model": "m", "messages": [], "tool_choice": "required"});
    assert_eq!(to_anthropic(body).get("tool_choice"), None);
}

#[test]
fn assistant_turns_merge_and_empty_ones_vanish() {
    let translated = to_anthropic(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "refusal", "refusal": "no"}]}
        ]
    }));
    assert_eq!(
        translated["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "no"}]}
        ])
    );
}

#[test]
fn refusals_to_anthropic() {
    let cases: [(Value, &str); 7] = [
        (json!({"model": "m", "n": 2, "messages": []}), "`n` = `2` cannot be expressed in the anthropic api"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "content part `input_audio` cannot be expressed in the anthropic api",
        ),
        (
            json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "message role `function` cannot be expressed in the anthropic api",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "invalid message at index 0: a `tool` message needs `tool_call_id`",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]}),
            "invalid image url: only base64 `data:` urls are supported",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]}),
            "invalid image url: only `http(s)` and base64 `data:` urls are supported",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
            "the arguments of tool call `call_9` are not a json object",
        ),
    ];
    for (body, message) in cases {
        let err = openai_request_to_anthropic(&openai(body), 1).unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.status(), 400);
    }
    let array_args = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]});
    assert!(matches!(
        openai_request_to_anthropic(&openai(array_args), 1),
        Err(TranslateError::InvalidToolArguments { source: None, .. })
    ));
}

#[test]
fn anthropic_conversation_to_openai() {
    let translated = to_openai(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 512,
        "system": [{"type": "text", "text": "Line one."}, {"type": "text", "text": "Line two."}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "zoom", "input": {"level": 2}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "zoomed"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"type": "text", "text": "Thanks"}
            ]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_3", "name": "zoom", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_3"}]}
        ],
        "tools": [{"name": "zoom", "description": "Zooms.", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "top_p": 0.8,
        "top_k": 5,
        "stream": true,
        "metadata": {"user_id": "u-9"},
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    }));
    assert_eq!(
        translated,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "Line one.\nLine two."},
                {"role": "user", "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                ]},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"type": "function", "id": "toolu_1", "function": {"name": "zoom", "arguments": "{\"level\":2}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "zoomed"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": [
                    {"type": "text", "text": "a"}, {"type": "text", "text": "b"}
                ]},
                {"role": "user", "content": "Thanks"},
                {"role": "assistant", "tool_calls": [
                    {"type": "function", "id": "toolu_3", "function": {"name": "zoom", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_3", "content": ""}
            ],
            "max_completion_tokens": 512,
            "temperature": 0.3,
            "top_p": 0.8,
            "stop": ["END"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "zoom", "description": "Zooms.",
                       "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "parallel_tool_calls": false,
            "user": "u-9"
        })
    );
}

#[test]
fn tool_choice_variants_to_openai() {
    let cases = [
        (json!({"type": "auto"}), json!("auto"), None),
        (json!({"type": "none"}), json!("none"), None),
        (json!({"type": "any"}), json!("required"), None),
        (json!({"type": "tool", "name": "f"}), json!({"type": "function", "function": {"name": "f"}}), None),
        (json!({"type": "auto", "disable_parallel_tool_use": true}), json!("auto"), Some(false)),
    ];
    for (choice, expected, parallel) in cases {
        let translated = to_openai(json!({
            "model": "m", "max_tokens": 1, "messages": [],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": choice
        }));
        assert_eq!(translated["tool_choice"], expected);
        assert_eq!(translated.get("parallel_tool_calls").and_then(Value::as_bool), parallel);
    }
}

#[test]
fn plain_strings_and_no_stream_options_without_stream() {
    let translated = to_openai(json!({
        "model": "m", "max_tokens": 5, "system": "sys",
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    }));
    assert_eq!(
        translated,
        json!({"model": "m", "max_completion_tokens": 5, "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo"}
        ]})
    );
}

#[test]
fn refusals_to_openai() {
    let cases: [(Value, &str); 4] = [
        (
            json!({"model": "m", "max_tokens": 1, "messages": [],
                   "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "server tool `web_search_20250305` cannot be expressed in the openai api",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "x"}}]}]}),
            "`document` block in a user message cannot be expressed in the openai api",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}]}]}),
            "`image` block in a tool result cannot be expressed in the openai api",
        ),
        (
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "image source `file` cannot be expressed in the openai api",
        ),
    ];
    for (body, message) in cases {
        let err = anthropic_request_to_openai(&anthropic(body)).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn round_trip_through_anthropic_keeps_the_conversation() {
    let original = openai(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":[1,2]}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "done"},
            {"role": "assistant", "content": "ok"}
        ],
        "max_completion_tokens": 9,
        "stop": ["s"],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto"
    }));
    let there = openai_request_to_anthropic(&original, 1).unwrap();
    let back = anthropic_request_to_openai(&there).unwrap();
    assert_eq!(back, original);
}
