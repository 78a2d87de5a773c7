//! Format translation through the gateway: an OpenAI client served by an
//! Anthropic provider and an Anthropic client served by an OpenAI provider,
//! whole and streamed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use support::*;

async fn setup() -> (hapax_mock_upstream::MockServer, Gateway) {
    let up = mock_upstream().await;
    let policy = format!(
        r#"{GATEWAY}
provider oa {{
  type openai
  base_url "{url}/v1"
  {MOCK_KNOBS}
  api_key env("HAPAX_TEST_KEY")
}}
provider an {{
  type anthropic
  base_url "{url}"
  {MOCK_KNOBS}
  api_key env("HAPAX_TEST_KEY")
}}
route openai_client {{
  match POST "/v1/chat/completions"
  to an model "claude-sonnet-4-5"
}}
route anthropic_client {{
  match POST "/v1/messages"
  to oa model "gpt-4o"
}}
"#,
        url = up.url("")
    );
    let dir = TempDir::new("translate");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy).unwrap();
    let gw = Gateway::start_in(dir, path, &[("HAPAX_TEST_KEY", "k")]);
    (up, gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_client_anthropic_provider() {
    let (up, gw) = setup().await;
    let r = post(&format!("{}/v1/chat/completions", gw.url), &chat("whatever", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-hapax-target"), "an/claude-sonnet-4-5");
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: hello there");
    assert!(v["usage"]["prompt_tokens"].as_u64().is_some());
    assert_eq!(up.stats().by_path.get("/v1/messages"), Some(&1));

    let s = stream(&format!("{}/v1/chat/completions", gw.url), &chat("whatever", true), &[]).await;
    assert_eq!(s.status, 200);
    let data = s.data();
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{}", s.text());
    let mut text = String::new();
    for d in &data[..data.len() - 1] {
        let v: serde_json::Value = serde_json::from_str(d).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk", "{d}");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(c);
        }
    }
    assert_eq!(text, "mock reply to: hello there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_client_openai_provider() {
    let (up, gw) = setup().await;
    let r = post(&format!("{}/v1/messages", gw.url), &messages("claude-x", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-hapax-target"), "oa/gpt-4o");
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["content"][0]["text"], "mock reply to: hello there");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(up.stats().by_path.get("/v1/chat/completions"), Some(&1));

    let s = stream(&format!("{}/v1/messages", gw.url), &messages("claude-x", true), &[]).await;
    assert_eq!(s.status, 200);
    let events = s.events();
    assert_eq!(events.first().map(String::as_str), Some("message_start"), "{}", s.text());
    assert_eq!(events.last().map(String::as_str), Some("message_stop"), "{}", s.text());
    assert!(events.iter().any(|e| e == "content_block_delta"));
    let mut text = String::new();
    for d in s.data() {
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        if v["type"] == "content_block_delta" {
            text.push_str(v["delta"]["text"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(text, "mock reply to: hello there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_are_translated() {
    let (_up, gw) = setup().await;
    let c = client();
    // An Anthropic 400 reaches the OpenAI client as an OpenAI error.
    let r =
        request(&c, "POST", &format!("{}/v1/chat/completions", gw.url), &chat("m", false), &[("x-mock-status", "400")])
            .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let v = r.json();
    assert!(v["error"]["message"].is_string(), "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    // An OpenAI 429 reaches the Anthropic client as an Anthropic error.
    let r = request(&c, "POST", &format!("{}/v1/messages", gw.url), &messages("m", false), &[("x-mock-status", "429")])
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "rate_limit_error");
}
