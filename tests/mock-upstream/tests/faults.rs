//! Fault knobs (headers, process config, `/_mock/config`), auth and stats.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::time::{Duration, Instant};

use hapax_mock_upstream::{Config, Knobs, Stats};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use support::{call, post, start, try_call, Client, ANTHROPIC};

const CHAT: &str = "/v1/chat/completions";

fn chat(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "one two three"}]})
}

fn claude(stream: bool) -> Value {
    json!({"model": "c", "max_tokens": 5, "stream": stream, "messages": [{"role": "user", "content": "one two three"}]})
}

#[tokio::test]
async fn status_header_uses_each_error_shape() {
    let server = start(Config::default()).await;
    let resp = post(&server, CHAT, &[("x-mock-status", "500")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    let doc = resp.json();
    assert_eq!(doc["error"]["type"], "server_error");
    assert_eq!(doc["error"]["param"], Value::Null);
    assert!(doc["error"]["message"].is_string());

    let resp = post(&server, CHAT, &[("x-mock-status", "429")], &chat(true)).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers["retry-after"], "1");
    assert_eq!(resp.headers["content-type"], "application/json");
    assert_eq!(resp.json()["error"]["code"], "rate_limit_exceeded");

    let resp = post(&server, "/v1/messages", &[ANTHROPIC, ("x-mock-status", "529")], &claude(false)).await;
    assert_eq!(resp.status.as_u16(), 529);
    assert_eq!(
        resp.json()["error"],
        json!({"type": "overloaded_error", "message": "mock upstream: injected status 529"})
    );
    let resp = post(&server, "/v1/messages", &[ANTHROPIC, ("x-mock-status", "429")], &claude(false)).await;
    assert_eq!(resp.headers["retry-after"], "1");
    assert_eq!(resp.json()["error"]["type"], "rate_limit_error");

    let resp = post(&server, CHAT, &[("x-mock-status", "200")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "only error statuses are injectable");
    let resp = post(&server, CHAT, &[("x-mock-delay-ms", "soon")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn delay_and_latency() {
    let server = start(Config::default()).await;
    let start_time = Instant::now();
    let resp = post(&server, CHAT, &[("x-mock-delay-ms", "150")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(start_time.elapsed() >= Duration::from_millis(150));

    let slow = start(Config { latency: Duration::from_millis(100), ..Config::default() }).await;
    let start_time = Instant::now();
    post(&slow, CHAT, &[], &chat(false)).await;
    assert!(start_time.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn trickle_paces_stream_events() {
    let server = start(Config::default()).await;
    let start_time = Instant::now();
    let resp = post(&server, CHAT, &[("x-mock-trickle-ms", "30")], &chat(true)).await;
    let events = resp.events();
    // role + 6 words + finish + [DONE] = 9 events, 8 gaps.
    assert_eq!(events.len(), 9);
    assert!(start_time.elapsed() >= Duration::from_millis(8 * 30));
    assert!(resp.body_error.is_none());
}

#[tokio::test]
async fn disconnect_after_k_events() {
    let server = start(Config::default()).await;
    for h2 in [false, true] {
        let mut client = Client::connect(server.addr(), h2).await;
        let resp = client
            .send(Method::POST, CHAT, &[("x-mock-disconnect-after", "3")], &chat(true).to_string())
            .await
            .unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.events().len(), 3, "h2={h2}");
        assert!(resp.body_error.is_some(), "h2={h2}: stream must end abruptly");
        assert!(!resp.text().contains("[DONE]"));
    }

    let resp = post(&server, "/v1/messages", &[ANTHROPIC, ("x-mock-disconnect-after", "2")], &claude(true)).await;
    let names: Vec<_> = resp.events().into_iter().map(|(n, _)| n.unwrap()).collect();
    assert_eq!(names, ["message_start", "content_block_start"]);
    assert!(resp.body_error.is_some());

    // K beyond the stream length changes nothing.
    let resp = post(&server, CHAT, &[("x-mock-disconnect-after", "100")], &chat(true)).await;
    assert!(resp.body_error.is_none());
    assert_eq!(resp.events().last().unwrap().1, "[DONE]");
}

#[tokio::test]
async fn reset_drops_the_connection() {
    let server = start(Config::default()).await;
    let result = try_call(&server, Method::POST, CHAT, &[("x-mock-reset", "1")], &chat(false).to_string()).await;
    assert!(result.is_err(), "no response expected");

    let mut h2 = Client::connect(server.addr(), true).await;
    let result = h2.send(Method::POST, CHAT, &[("x-mock-reset", "1")], &chat(false).to_string()).await;
    assert!(result.is_err(), "no h2 response expected");

    // The server itself is unaffected.
    assert_eq!(post(&server, CHAT, &[("x-mock-reset", "0")], &chat(false)).await.status, StatusCode::OK);
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn auth_requires_the_key() {
    let server = start(Config { require_key: Some("sk-test".into()), ..Config::default() }).await;
    let resp = post(&server, CHAT, &[], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json()["error"]["code"], "invalid_api_key");
    let resp = post(&server, CHAT, &[("authorization", "Bearer wrong")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let resp = post(&server, CHAT, &[("authorization", "Bearer sk-test")], &chat(false)).await;
    assert_eq!(resp.status, StatusCode::OK);

    let resp = post(&server, "/v1/messages", &[ANTHROPIC, ("authorization", "Bearer sk-test")], &claude(false)).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json()["type"], "error");
    assert_eq!(resp.json()["error"]["type"], "authentication_error");
    let resp = post(&server, "/v1/messages", &[ANTHROPIC, ("x-api-key", "sk-test")], &claude(false)).await;
    assert_eq!(resp.status, StatusCode::OK);

    // The admin API needs no key.
    assert_eq!(call(&server, Method::GET, "/_mock/stats", &[], "").await.status, StatusCode::OK);
}

#[tokio::test]
async fn runtime_config_flips_health() {
    let server = start(Config::default()).await;
    let set = |body: &'static str| {
        let server = &server;
        async move { call(server, Method::POST, "/_mock/config", &[], body).await }
    };
    let resp = set(r#"{"status": 503, "delay_ms": 10}"#).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json()["status"], 503);
    assert_eq!(server.knobs(), Knobs { status: Some(503), delay_ms: 10, ..Knobs::default() });
    let config = call(&server, Method::GET, "/_mock/config", &[], "").await.json();
    assert_eq!(config["delay_ms"], 10);

    assert_eq!(post(&server, CHAT, &[], &chat(false)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let resp = post(&server, "/v1/messages", &[ANTHROPIC], &claude(false)).await;
    assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.json()["error"]["type"], "api_error");

    assert_eq!(set("{}").await.status, StatusCode::OK);
    assert_eq!(server.knobs(), Knobs::default());
    assert_eq!(post(&server, CHAT, &[], &chat(false)).await.status, StatusCode::OK);

    assert_eq!(set(r#"{"stauts": 500}"#).await.status, StatusCode::BAD_REQUEST, "unknown field");
    assert_eq!(set(r#"{"status": 302}"#).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(server.knobs(), Knobs::default());

    // Process knobs apply to streams too, and headers override them.
    set(r#"{"disconnect_after": 1}"#).await;
    let resp = post(&server, CHAT, &[], &chat(true)).await;
    assert_eq!(resp.events().len(), 1);
    assert!(resp.body_error.is_some());
    let resp = post(&server, CHAT, &[("x-mock-disconnect-after", "50")], &chat(true)).await;
    assert!(resp.body_error.is_none());

    server.set_knobs(Knobs { reset: true, ..Knobs::default() });
    assert!(try_call(&server, Method::POST, CHAT, &[], "{}").await.is_err());
    assert_eq!(post(&server, CHAT, &[("x-mock-reset", "0")], &chat(false)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn stats_count_upstream_calls() {
    let server = start(Config::default()).await;
    post(&server, CHAT, &[], &chat(false)).await;
    post(&server, CHAT, &[("x-mock-status", "500")], &chat(false)).await;
    post(&server, "/v1/messages", &[ANTHROPIC], &claude(false)).await;
    call(&server, Method::GET, "/v1/models", &[], "").await;
    call(&server, Method::GET, "/nope", &[], "").await;

    let resp = call(&server, Method::GET, "/_mock/stats", &[], "").await;
    let expected = json!({
        "requests": 5,
        "by_path": {"/v1/chat/completions": 2, "/v1/messages": 1, "/v1/models": 1, "/nope": 1},
    });
    assert_eq!(resp.json(), expected);
    let stats: Stats = serde_json::from_value(expected).unwrap();
    assert_eq!(server.stats(), stats);

    let cleared = call(&server, Method::DELETE, "/_mock/stats", &[], "").await.json();
    assert_eq!(cleared, json!({"requests": 0, "by_path": {}}));
    assert_eq!(call(&server, Method::GET, "/_mock/unknown", &[], "").await.status, StatusCode::NOT_FOUND);
    assert_eq!(server.stats().requests, 0, "/_mock calls are not counted");
}
