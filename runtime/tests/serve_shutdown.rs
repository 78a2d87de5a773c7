//! Graceful shutdown: a stream in progress when SIGTERM arrives completes;
//! new connections are refused; the process exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stream_in_progress_completes() {
    let up = mock_upstream().await;
    let policy = format!(
        "gateway {{\n  listen http \"127.0.0.1:0\"\n  shutdown_grace 8s\n}}\nprovider up {{ type openai; base_url \"{}/v1\"; {MOCK_KNOBS} }}\nroute chat {{\n  match POST \"/v1/chat/completions\"\n  to up\n}}\n",
        up.url("")
    );
    let mut gw = Gateway::start(&policy);
    let url = format!("{}/v1/chat/completions", gw.url);
    let c = client();
    let req = http::Request::post(&url)
        .header("content-type", "application/json")
        .header("x-mock-trickle-ms", "150")
        .body(http_body_util::Full::new(bytes::Bytes::from(chat("m", true))))
        .unwrap();
    let resp = c.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let mut text = String::from_utf8_lossy(&first).into_owned();

    gw.terminate();
    // No new connections once draining: the listener closes (when the
    // signal has been handled, so wait for it rather than for a fixed time).
    let addr = gw.url.trim_start_matches("http://").to_string();
    eventually("the listener is closed", async || match std::net::TcpStream::connect(&addr) {
        Ok(_) => Err(format!("{addr} still accepts connections")),
        Err(_) => Ok(()),
    })
    .await;

    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), body.frame()).await.unwrap() {
        if let Ok(d) = frame.unwrap().into_data() {
            text.push_str(&String::from_utf8_lossy(&d));
        }
    }
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let status = gw.wait_exit(Duration::from_secs(5)).expect("exits after the stream");
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
}
