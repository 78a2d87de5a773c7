//! An `openai` provider backed by the mock upstream: whole and streamed chat
//! completions, embeddings, legacy completions, the model list, model
//! rewriting, and the gateway's own 400/404/413 answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::time::Duration;
use support::*;

async fn setup(extra: &str) -> (hapax_mock_upstream::MockServer, Gateway) {
    let config = hapax_mock_upstream::Config { require_key: Some("sk-test".into()), ..Default::default() };
    let up = hapax_mock_upstream::MockServer::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let policy = format!(
        r#"gateway {{
  listen http "127.0.0.1:0"
  admin "127.0.0.1:0"
  max_body 2KiB
}}
provider up {{
  type openai
  base_url "{}/v1"
  {MOCK_KNOBS}
  api_key env("HAPAX_TEST_KEY")
  models ["gpt-4o-mini"]
}}
route research {{
  match POST "/v1/chat/completions"
  when request.header["x-team"] == "research"
  to up
}}
route rewritten {{
  match POST "/v1/chat/completions"
  when request.model == "alias"
  to up model "gpt-4o"
}}
route chat {{
  match POST "/v1/chat/completions"
  to up
}}
route embeddings {{
  match POST "/v1/embeddings"
  to up
}}
route completions {{
  match POST "/v1/completions"
  when request.model != "nobody"
  to up
}}
{extra}"#,
        up.url("")
    );
    let dir = TempDir::new("openai");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy).unwrap();
    let gw = Gateway::start_in(dir, path, &[("HAPAX_TEST_KEY", "sk-test")]);
    (up, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_whole() {
    let (up, gw) = setup("").await;
    let r = post(&format!("{}/v1/chat/completions", gw.url), &chat("gpt-4o-mini", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-hapax-route"), "chat");
    assert_eq!(r.header("x-hapax-target"), "up/gpt-4o-mini");
    assert!(!r.header("x-request-id").is_empty());
    let v = r.json();
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: hello there");
    assert_eq!(up.stats().by_path.get("/v1/chat/completions"), Some(&1));

    // The target's model replaces the client's.
    let r = post(&format!("{}/v1/chat/completions", gw.url), &chat("alias", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-hapax-route"), "rewritten");
    assert_eq!(r.header("x-hapax-target"), "up/gpt-4o");
    assert_eq!(r.json()["model"], "gpt-4o");

    // A client request id is kept.
    let c = client();
    let r = request(
        &c,
        "POST",
        &format!("{}/v1/chat/completions", gw.url),
        &chat("m", false),
        &[("x-request-id", "abc-123")],
    )
    .await;
    assert_eq!(r.header("x-request-id"), "abc-123");
}

/// Over a raw socket, so the names keep the client's case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_are_read_in_any_case_and_client_credentials_stay_behind() {
    use std::io::{Read, Write};
    let (up, gw) = setup("").await;
    let addr = gw.url.trim_start_matches("http://").to_string();
    let body = chat("gpt-4o-mini", false);
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // The mock provider wants the gateway's key: had the client's
        // credentials been passed on, it would have read them first.
        write!(
            s,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-TEAM: research\r\nAUTHORIZATION: Bearer sk-client\r\nX-Api-Key: sk-client\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\nx-hapax-route: research\r\n"), "{answer}");
    assert_eq!(up.stats().by_path.get("/v1/chat/completions"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_streamed_in_order() {
    let (_up, gw) = setup("").await;
    let body = serde_json::json!({
        "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello there"}]
    })
    .to_string();
    let s = stream(&format!("{}/v1/chat/completions", gw.url), &body, &[("x-mock-trickle-ms", "30")]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.headers.get("content-type").unwrap(), "text/event-stream");
    let data = s.data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    let mut text = String::new();
    for d in &data[..data.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(d).unwrap();
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
    }
    assert_eq!(text, "mock reply to: hello there");
    // Events are forwarded as they come, not buffered to the end.
    assert!(s.frames.len() >= 3, "{} frames", s.frames.len());
    let spread = s.frames.last().unwrap().0 - s.frames.first().unwrap().0;
    assert!(spread >= Duration::from_millis(60), "frames arrived together ({spread:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_completions_and_models() {
    let (_up, gw) = setup("").await;
    let r = post(&format!("{}/v1/embeddings", gw.url), r#"{"model":"text-embedding-3-small","input":["a","b"]}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert!(v["data"][0]["embedding"].as_array().is_some_and(|e| !e.is_empty()));

    let r =
        post(&format!("{}/v1/completions", gw.url), r#"{"model":"gpt-3.5-turbo-instruct","prompt":"say hi"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["object"], "text_completion");

    let r = get(&format!("{}/v1/models", gw.url)).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "gpt-4o"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_are_openai_shaped() {
    let (up, gw) = setup("").await;
    // Malformed JSON.
    let r = post(&format!("{}/v1/chat/completions", gw.url), "{\"model\": ").await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("not valid JSON"));
    // No route for the model.
    let r = post(&format!("{}/v1/completions", gw.url), r#"{"model":"nobody","prompt":"x"}"#).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    // Unknown endpoint.
    let r = post(&format!("{}/v2/whatever", gw.url), "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "not_found");
    // Too large: refused without reading it whole.
    let big = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(4096));
    let r = post(&format!("{}/v1/chat/completions", gw.url), &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "request_too_large");
    // Anthropic-shaped errors on the Anthropic endpoint.
    let r = post(&format!("{}/v1/messages", gw.url), "not json").await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    // None of these reached the provider.
    assert_eq!(up.stats().requests, 0);
    // Liveness and readiness on both listeners, metrics on the admin one.
    assert_eq!(get(&format!("{}/healthz", gw.url)).await.status, 200);
    assert_eq!(get(&format!("{}/readyz", gw.url)).await.status, 200);
    let admin = gw.admin.clone().unwrap();
    assert_eq!(get(&format!("{admin}/readyz")).await.status, 200);
    let counted = "hapax_requests_total{model=\"\",provider=\"\",route=\"\",status=\"404\"} 2";
    let m = metrics_with(&admin, counted).await;
    assert!(m.contains(counted), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_tokens_and_latency() {
    let (_up, gw) = setup("").await;
    for _ in 0..3 {
        let r = post(&format!("{}/v1/chat/completions", gw.url), &chat("gpt-4o-mini", false)).await;
        assert_eq!(r.status, 200);
    }
    let counted = "hapax_requests_total{model=\"gpt-4o-mini\",provider=\"up\",route=\"chat\",status=\"200\"} 3";
    let m = metrics_with(gw.admin.as_deref().unwrap(), counted).await;
    assert!(m.contains(counted), "{m}");
    assert!(m.contains("hapax_tokens_total{direction=\"out\",model=\"gpt-4o-mini\",provider=\"up\"}"), "{m}");
    assert!(m.contains("hapax_request_duration_seconds_count{route=\"chat\"} 3"), "{m}");
    assert!(m.contains("hapax_upstream_duration_seconds_count{provider=\"up\"} 3"), "{m}");
    assert!(m.contains("hapax_requests_in_flight 0"), "{m}");
    assert!(m.contains("hapax_provider_healthy{provider=\"up\"} 1"), "{m}");
    // A streamed answer records its time to first token.
    let s = stream(&format!("{}/v1/chat/completions", gw.url), &chat("gpt-4o-mini", true), &[]).await;
    assert_eq!(s.status, 200);
    let first = "hapax_time_to_first_token_seconds_count{provider=\"up\"} 1";
    let m = metrics_with(gw.admin.as_deref().unwrap(), "hapax_time_to_first_token_seconds_count").await;
    assert!(m.contains(first), "{m}");
}

/// The log is JSON lines; the access line carries the request id; neither
/// the prompt nor a credential (the gateway's or a client's) is written,
/// whether the request succeeds or the provider refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_with_the_request_id_and_no_prompt_or_secret() {
    let (up, gw) = setup("").await;
    let c = client();
    let url = format!("{}/v1/chat/completions", gw.url);
    let prompt = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"my secret plan 7c1d"}]}"#;
    let ok =
        request(&c, "POST", &url, prompt, &[("x-request-id", "log-1"), ("authorization", "Bearer sk-client-9f")]).await;
    assert_eq!(ok.status, 200);
    // The provider fails: the failed request is logged too.
    up.set_knobs(hapax_mock_upstream::Knobs { status: Some(500), ..Default::default() });
    let failed = request(&c, "POST", &url, prompt, &[("x-request-id", "log-2")]).await;
    assert_eq!(failed.status, 500, "the provider's status is passed on");
    // The access line is written once the answer is sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gw.stderr().contains("log-2") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = gw.stderr();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for id in ["log-1", "log-2"] {
        let line = lines.iter().find(|l| l["fields"]["request_id"] == id || l["request_id"] == id);
        assert!(line.is_some(), "no log line for {id}:\n{log}");
    }
    for secret in ["my secret plan", "7c1d", "sk-test", "sk-client-9f"] {
        assert!(!log.contains(secret), "`{secret}` is in the log:\n{log}");
    }
}
