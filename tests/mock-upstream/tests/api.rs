//! Wire-format tests: every endpoint's JSON shape and the streaming event
//! order of both formats, over HTTP/1.1 and h2c.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use hapax_mock_upstream::Config;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, post, start, Client, ANTHROPIC};

const CHAT: &str = "/v1/chat/completions";

fn chat_body(content: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": content},
        ],
    })
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
}

#[tokio::test]
async fn chat_completion_shape() {
    let server = start(Config::default()).await;
    let user = "Tell me something interesting about the sea, please, at length";
    let resp = post(&server, CHAT, &[], &chat_body(user)).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-type"], "application/json");
    let doc = resp.json();
    assert!(doc["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(doc["object"], "chat.completion");
    assert!(doc["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(doc["model"], "gpt-4o-mini");
    let choice = &doc["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    let reply = format!("mock reply to: {}", &user[..40]);
    assert_eq!(choice["message"]["content"], reply.as_str());
    let prompt_tokens = ("You are terse.".len() + user.len()) / 4;
    let words = reply.split_whitespace().count();
    assert_eq!(
        doc["usage"],
        json!({"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words})
    );
}

#[tokio::test]
async fn chat_content_parts_and_minimum_tokens() {
    let server = start(Config::default()).await;
    let body = json!({
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]}],
    });
    let doc = post(&server, CHAT, &[], &body).await.json();
    assert_eq!(doc["choices"][0]["message"]["content"], "mock reply to: hi");
    assert_eq!(doc["usage"]["prompt_tokens"], 1);
}

/// Checks a chat stream and returns its chunks (without `[DONE]`).
fn check_chat_stream(resp: &support::Resp, include_usage: bool) -> Vec<Value> {
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-type"], "text/event-stream");
    let events = resp.events();
    assert!(events.iter().all(|(name, _)| name.is_none()));
    assert_eq!(events.last().unwrap().1, "[DONE]");
    assert_eq!(resp.frames.len(), events.len(), "one frame per event");
    let chunks = resp.event_json();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], id);
        assert_eq!(chunk["model"], "gpt-4o-mini");
        assert_eq!(chunk.get("usage").is_some(), include_usage);
    }
    chunks
}

#[tokio::test]
async fn chat_stream_event_order_with_usage() {
    let server = start(Config::default()).await;
    let mut body = chat_body("Hello there friend");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = post(&server, CHAT, &[], &body).await;
    let chunks = check_chat_stream(&resp, true);

    assert_eq!(chunks[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    let words = ["mock ", "reply ", "to: ", "Hello ", "there ", "friend"];
    for (chunk, word) in chunks[1..].iter().zip(words) {
        assert_eq!(chunk["choices"][0]["delta"], json!({"content": word}));
        assert_eq!(chunk["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(chunk["usage"], Value::Null);
    }
    let finish = &chunks[words.len() + 1];
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[words.len() + 2];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], json!({"prompt_tokens": 8, "completion_tokens": 6, "total_tokens": 14}));
    assert_eq!(chunks.len(), words.len() + 3);
}

#[tokio::test]
async fn chat_stream_without_usage() {
    let server = start(Config::default()).await;
    let mut body = chat_body("Hi");
    body["stream"] = json!(true);
    let resp = post(&server, CHAT, &[], &body).await;
    let chunks = check_chat_stream(&resp, false);
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "mock reply to: Hi");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn chat_tool_calls() {
    let server = start(Config::default()).await;
    let mut body = chat_body("Please call tool get_weather");
    body["tools"] = weather_tool();
    let doc = post(&server, CHAT, &[], &body).await.json();
    let choice = &doc["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"], json!({"name": "get_weather", "arguments": "{}"}));

    // Without tools the same text gets a plain answer.
    let doc = post(&server, CHAT, &[], &chat_body("Please call tool get_weather")).await.json();
    assert_eq!(doc["choices"][0]["finish_reason"], "stop");

    body["stream"] = json!(true);
    let chunks = check_chat_stream(&post(&server, CHAT, &[], &body).await, false);
    assert_eq!(chunks.len(), 3);
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["content"], Value::Null);
    assert_eq!(first["tool_calls"][0]["index"], 0);
    assert_eq!(first["tool_calls"][0]["function"], json!({"name": "get_weather", "arguments": ""}));
    assert_eq!(
        chunks[1]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
    );
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn legacy_completions() {
    let server = start(Config::default()).await;
    let doc = post(
        &server,
        "/v1/completions",
        &[],
        &json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test"}),
    )
    .await
    .json();
    assert!(doc["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(doc["object"], "text_completion");
    assert_eq!(doc["choices"][0]["text"], "mock reply to: Say this is a test");
    assert_eq!(doc["choices"][0]["finish_reason"], "stop");
    assert_eq!(doc["usage"], json!({"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}));

    let body = json!({"model": "m", "prompt": ["a b", "c"], "stream": true, "stream_options": {"include_usage": true}});
    let resp = post(&server, "/v1/completions", &[], &body).await;
    assert_eq!(resp.events().last().unwrap().1, "[DONE]");
    let chunks = resp.event_json();
    let text = |index: u64| -> String {
        chunks
            .iter()
            .filter(|c| c["choices"][0]["index"] == index)
            .filter_map(|c| c["choices"][0]["text"].as_str())
            .collect()
    };
    assert_eq!(text(0), "mock reply to: a b");
    assert_eq!(text(1), "mock reply to: c");
    let finished = chunks.iter().filter(|c| c["choices"][0]["finish_reason"] == "stop");
    assert_eq!(finished.count(), 2);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 9);
}

#[tokio::test]
async fn embeddings() {
    let server = start(Config::default()).await;
    let doc =
        post(&server, "/v1/embeddings", &[], &json!({"model": "text-embedding-3-small", "input": ["hello", "world"]}))
            .await
            .json();
    assert_eq!(doc["object"], "list");
    assert_eq!(doc["model"], "text-embedding-3-small");
    assert_eq!(doc["usage"], json!({"prompt_tokens": 2, "total_tokens": 2}));
    let data = doc["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().unwrap().len(), 8);
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);

    let single = post(&server, "/v1/embeddings", &[], &json!({"model": "m", "input": "hello"})).await.json();
    assert_eq!(single["data"][0]["embedding"], data[0]["embedding"], "deterministic");

    let b64 =
        post(&server, "/v1/embeddings", &[], &json!({"model": "m", "input": "hello", "encoding_format": "base64"}))
            .await
            .json();
    // 8 little-endian f32 = 32 bytes = 44 base64 characters.
    assert_eq!(b64["data"][0]["embedding"].as_str().unwrap().len(), 44);

    let sized =
        post(&server, "/v1/embeddings", &[], &json!({"model": "m", "input": "x", "dimensions": 3})).await.json();
    assert_eq!(sized["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let resp = post(&server, "/v1/embeddings", &[], &json!({"model": "m", "input": []})).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn models() {
    let server = start(Config::default()).await;
    for path in ["/v1/models", "/models"] {
        let resp = call(&server, Method::GET, path, &[], "").await;
        assert_eq!(resp.status, StatusCode::OK);
        let doc = resp.json();
        assert_eq!(doc["object"], "list");
        assert!(doc["data"].as_array().unwrap().len() >= 3);
        assert_eq!(doc["data"][0]["object"], "model");
    }
    let doc = call(&server, Method::GET, "/v1/models", &[ANTHROPIC], "").await.json();
    assert_eq!(doc["data"][0]["type"], "model");
    assert_eq!(doc["has_more"], false);
}

fn messages_body(content: Value) -> Value {
    json!({
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 256,
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [{"role": "user", "content": content}],
    })
}

#[tokio::test]
async fn anthropic_message_shape() {
    let server = start(Config::default()).await;
    let body = messages_body(json!([{"type": "text", "text": "Hello, Claude"}]));
    let resp = post(&server, "/v1/messages", &[ANTHROPIC], &body).await;
    assert_eq!(resp.status, StatusCode::OK);
    let doc = resp.json();
    assert!(doc["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(doc["type"], "message");
    assert_eq!(doc["role"], "assistant");
    assert_eq!(doc["model"], "claude-sonnet-4-20250514");
    assert_eq!(doc["content"], json!([{"type": "text", "text": "mock reply to: Hello, Claude"}]));
    assert_eq!(doc["stop_reason"], "end_turn");
    assert_eq!(doc["stop_sequence"], Value::Null);
    // ("Be brief." + "Hello, Claude") = 22 chars -> 5 tokens.
    assert_eq!(doc["usage"], json!({"input_tokens": 5, "output_tokens": 5}));

    let string_content =
        post(&server, "/v1/messages", &[ANTHROPIC], &messages_body(json!("Hello, Claude"))).await.json();
    assert_eq!(string_content["content"], doc["content"]);

    let counted = post(&server, "/v1/messages/count_tokens", &[ANTHROPIC], &body).await.json();
    assert_eq!(counted, json!({"input_tokens": 5}));
}

#[tokio::test]
async fn anthropic_request_validation() {
    let server = start(Config::default()).await;
    let body = messages_body(json!("hi"));
    let resp = post(&server, "/v1/messages", &[], &body).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.json()["error"]["message"], "anthropic-version: header is required");

    let mut no_max = body.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let resp = post(&server, "/v1/messages", &[ANTHROPIC], &no_max).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json(),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
    );
}

#[tokio::test]
async fn anthropic_stream_event_order() {
    let server = start(Config::default()).await;
    let mut body = messages_body(json!("Hi there"));
    body["stream"] = json!(true);
    let resp = post(&server, "/v1/messages", &[ANTHROPIC], &body).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.headers["content-type"], "text/event-stream");
    let events = resp.events();
    assert_eq!(resp.frames.len(), events.len(), "one frame per event");
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    let deltas = ["mock ", "reply ", "to: ", "Hi ", "there"];
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(deltas.iter().map(|_| "content_block_delta"));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);

    let data = resp.event_json();
    for ((name, _), doc) in events.iter().zip(&data) {
        assert_eq!(doc["type"], name.as_deref().unwrap(), "data type matches the event name");
    }
    let message = &data[0]["message"];
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["content"], json!([]));
    assert_eq!(message["stop_reason"], Value::Null);
    assert_eq!(message["usage"], json!({"input_tokens": 4, "output_tokens": 1}));
    assert_eq!(
        data[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    for (doc, word) in data[3..].iter().zip(deltas) {
        assert_eq!(doc["delta"], json!({"type": "text_delta", "text": word}));
        assert_eq!(doc["index"], 0);
    }
    let n = data.len();
    assert_eq!(data[n - 3], json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        data[n - 2],
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 5}})
    );
    assert_eq!(data[n - 1], json!({"type": "message_stop"}));
}

#[tokio::test]
async fn anthropic_tool_use() {
    let server = start(Config::default()).await;
    let mut body = messages_body(json!("please call tool"));
    body["tools"] = json!([{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}]);
    let doc = post(&server, "/v1/messages", &[ANTHROPIC], &body).await.json();
    assert_eq!(doc["stop_reason"], "tool_use");
    let block = &doc["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "lookup");
    assert_eq!(block["input"], json!({}));

    body["stream"] = json!(true);
    let data = post(&server, "/v1/messages", &[ANTHROPIC], &body).await.event_json();
    assert_eq!(data[1]["content_block"]["type"], "tool_use");
    assert_eq!(data[1]["content_block"]["name"], "lookup");
    assert_eq!(data[1]["content_block"]["input"], json!({}));
    let json_deltas: String = data
        .iter()
        .filter(|d| d["delta"]["type"] == "input_json_delta")
        .map(|d| d["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(json_deltas, "{}");
    let stop = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(stop["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn errors_use_each_api_shape() {
    let server = start(Config::default()).await;
    let resp = call(&server, Method::POST, CHAT, &[], "{not json").await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let doc = resp.json();
    assert_eq!(doc["error"]["type"], "invalid_request_error");
    assert_eq!(doc["error"]["param"], Value::Null);
    assert_eq!(doc["error"]["code"], Value::Null);
    assert!(doc["error"]["message"].is_string());

    let resp = call(&server, Method::POST, "/v1/messages", &[ANTHROPIC], "{not json").await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let doc = resp.json();
    assert_eq!(doc["type"], "error");
    assert_eq!(doc["error"]["type"], "invalid_request_error");

    let resp = post(&server, CHAT, &[], &json!({"messages": []})).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);

    let resp = call(&server, Method::POST, "/v1/nothing", &[], "{}").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert_eq!(resp.json()["error"]["message"], "Invalid URL (POST /v1/nothing)");

    let resp = call(&server, Method::GET, CHAT, &[], "").await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn keep_alive_and_h2c() {
    let server = start(Config::default()).await;
    for h2 in [false, true] {
        let mut client = Client::connect(server.addr(), h2).await;
        for _ in 0..3 {
            let resp = client.send(Method::POST, CHAT, &[], &chat_body("hi").to_string()).await.unwrap();
            assert_eq!(resp.json()["choices"][0]["message"]["content"], "mock reply to: hi");
        }
        let mut body = chat_body("hi");
        body["stream"] = json!(true);
        let resp = client.send(Method::POST, CHAT, &[], &body.to_string()).await.unwrap();
        check_chat_stream(&resp, false);
    }
    assert_eq!(server.stats().requests, 8);
}
