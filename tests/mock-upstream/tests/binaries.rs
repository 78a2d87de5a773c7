//! The two binaries end to end: `mock-upstream`'s CLI and `hapax-load`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use hapax_mock_upstream::Config;
use http::{Method, StatusCode};
use serde_json::Value;
use support::{start, Client};

/// Kills the child process when dropped, even if the test panics.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_upstream_cli_knobs_and_env_key() {
    let mut child = Reaper(
        Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
            .args(["--listen", "127.0.0.1:0", "--status", "503"])
            .env("MOCK_REQUIRE_KEY", "sk-env")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        .and_then(|a| a.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert_ne!(addr.port(), 0);

    let mut client = Client::connect(addr, false).await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut send = async |headers: &[(&str, &str)]| {
        client.send(Method::POST, "/v1/chat/completions", headers, body).await.unwrap()
    };
    assert_eq!(send(&[]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&[("authorization", "Bearer sk-env")]).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let mut admin = Client::connect(addr, false).await;
    let resp = admin.send(Method::POST, "/_mock/config", &[], "{}").await.unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(send(&[("authorization", "Bearer sk-env")]).await.status, StatusCode::OK);
}

/// Runs `hapax-load` with `args` and parses its summary line.
async fn load(args: Vec<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hapax-load")).args(&args).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "hapax-load failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn args(url: &str, extra: &[&str]) -> Vec<String> {
    ["--url", url].iter().chain(extra).map(|s| s.to_string()).collect()
}

fn assert_percentiles(summary: &Value, ttfb: bool) {
    let p = |key: &str| summary[key].as_u64().unwrap_or_else(|| panic!("{key} in {summary}"));
    assert!(p("p50_us") <= p("p90_us") && p("p90_us") <= p("p99_us") && p("p99_us") <= p("max_us"));
    if ttfb {
        assert!(p("ttfb_p50_us") <= p("ttfb_p99_us"));
    } else {
        assert!(summary["ttfb_p50_us"].is_null());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hapax_load_counts_requests() {
    let server = start(Config::default()).await;
    let url = server.url("/v1/chat/completions");

    let summary = load(args(&url, &["--concurrency", "4", "--requests", "200"])).await;
    assert_eq!(summary["requests"], 200);
    assert_eq!(summary["errors"], 0);
    assert_eq!(summary["non_2xx"], 0);
    assert!(summary["rps"].as_f64().unwrap() > 0.0);
    assert_percentiles(&summary, false);
    assert_eq!(server.stats().requests, 200, "exactly the requested count reaches the upstream");

    let summary =
        load(args(&url, &["--concurrency", "3", "--duration", "300ms", "--warmup", "100ms", "--stream", "--http2"]))
            .await;
    assert!(summary["requests"].as_u64().unwrap() > 0);
    assert_eq!(summary["errors"], 0);
    // At least the 300 ms asked for, and it stops then: far short of the
    // default 10 s, with room for a busy machine.
    let duration = summary["duration_s"].as_f64().unwrap();
    assert!((0.3..3.0).contains(&duration), "{summary}");
    assert_percentiles(&summary, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hapax_load_counts_failures() {
    let server = start(Config::default()).await;
    let url = server.url("/v1/chat/completions");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#;

    let summary = load(args(
        &url,
        &["--concurrency", "2", "--requests", "20", "--header", "x-mock-status: 500", "--body-json", body],
    ))
    .await;
    assert_eq!(summary["requests"], 20);
    assert_eq!(summary["non_2xx"], 20);

    let summary = load(args(&url, &["--concurrency", "2", "--requests", "20", "--header", "x-mock-reset: 1"])).await;
    assert_eq!(summary["requests"], 0);
    assert_eq!(summary["errors"], 20);
    assert!(summary["p50_us"].is_null());

    let summary = load(args(
        &url,
        &["--concurrency", "2", "--requests", "4", "--timeout", "50ms", "--header", "x-mock-delay-ms: 1000"],
    ))
    .await;
    assert_eq!(summary["errors"], 4, "timeouts are errors: {summary}");
}
