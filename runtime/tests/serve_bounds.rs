//! The gateway's global bounds against the real binary: metric labels a
//! client cannot grow, `max_connections`, `max_body_memory`, `max_answer`
//! and `max_event` against hostile clients and providers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A provider that answers every request with `answer`, as raw bytes.
async fn canned(answer: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// One request with `body` on a connection of its own; the whole answer.
fn post_once(url: &str, body: &str) -> String {
    let mut s = connect(url);
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn connect(url: &str) -> TcpStream {
    let s = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_model_names_are_counted_as_other() {
    let gw = Gateway::start(&format!(
        "{GATEWAY}provider m {{ type mock; models [\"mine\"] }}\nroute chat {{ match POST \"/v1/chat/completions\"; to m }}\n"
    ));
    let url = format!("{}/v1/chat/completions", gw.url);
    let c = client();
    for i in 0..300 {
        let r = request(&c, "POST", &url, &chat(&format!("made-up-{i}-{}", "x".repeat(150)), false), &[]).await;
        assert_eq!(r.status, 200);
    }
    for model in ["mine", "gpt-4o", "gpt-4o-2024-08-06"] {
        assert_eq!(request(&c, "POST", &url, &chat(model, false), &[]).await.status, 200);
    }
    // Each request is counted just after its answer: wait for the last one.
    let m = metrics_with(gw.admin.as_deref().unwrap(), "model=\"gpt-4o-2024-08-06\"").await;
    assert!(!m.contains("made-up-"), "a client's model name became a label");
    assert!(m.contains("model=\"other\",provider=\"m\",route=\"chat\",status=\"200\"} 300"), "{m}");
    for known in ["mine", "gpt-4o", "gpt-4o-2024-08-06"] {
        assert!(m.contains(&format!("model=\"{known}\"")), "{known}: {m}");
    }
    // The log still says which model was asked for.
    assert!(gw.stderr().contains("made-up-299-"), "the access log keeps the name");
}

#[test]
fn connections_beyond_max_connections_are_refused_and_admin_stays_open() {
    let gw = Gateway::start(
        "gateway {\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  max_connections 3\n}\nprovider m { type mock }\nroute chat { match POST \"/v1/chat/completions\"; to m }\n",
    );
    // Three idle connections, each shown to be served.
    let mut held: Vec<TcpStream> = (0..3).map(|_| connect(&gw.url)).collect();
    for s in &mut held {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    }
    // The fourth is told 503 and closed, without waiting in a queue.
    let mut extra = connect(&gw.url);
    let mut out = Vec::new();
    let _ = extra.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(out.contains("gateway_overloaded") && out.contains("retry-after: 1"), "{out}");
    // The admin listener is not counted.
    let admin = gw.admin.clone().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(rt.block_on(get(&format!("{admin}/metrics"))).status, 200);
    // Once one closes, a new connection is served again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect(&gw.url);
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot is not reused: {}", String::from_utf8_lossy(&out));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bodies_beyond_max_body_memory_are_answered_503_until_memory_frees() {
    let gw = Gateway::start(
        "gateway {\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  max_body 3KiB\n  max_body_memory 4KiB\n}\nprovider m { type mock }\nroute chat { match POST \"/v1/chat/completions\"; to m }\n",
    );
    let body = |n: usize| {
        let pad = "x".repeat(n - 60);
        format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{pad}"}}]}}"#)
    };
    let big = body(3000);
    // A slow client holds 3000 bytes: it declared them and sent a part.
    let mut slow = connect(&gw.url);
    write!(slow, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", big.len()).unwrap();
    slow.write_all(&big.as_bytes()[..100]).unwrap();
    // Wait until the gateway holds the slow body's memory (the gauge shows
    // it), so that nothing else can take it first.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let held = format!("hapax_request_body_bytes_held {}", big.len());
    let m = rt.block_on(metrics_with(gw.admin.as_deref().unwrap(), &held));
    assert!(m.contains(&held), "{m}");
    // Another 3000 would pass 4 KiB: 503 with Retry-After, at once.
    let out = post_once(&gw.url, &big);
    let refused = out;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1") && refused.contains("gateway_overloaded"), "{refused}");
    // A small body still fits beside it.
    let small = body(500);
    let out = post_once(&gw.url, &small);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // The slow one finishes and is answered; then the memory is free again.
    slow.write_all(&big.as_bytes()[100..]).unwrap();
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let out = post_once(&gw.url, &big);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    // The gauge shows what is held (nothing, between requests).
    let m = rt.block_on(metrics_with(gw.admin.as_deref().unwrap(), "hapax_request_body_bytes_held 0"));
    assert!(m.contains("hapax_request_body_bytes_held 0"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answer_beyond_max_answer_or_max_event_is_a_provider_error() {
    let big = format!(r#"{{"id":"x","object":"chat.completion","pad":"{}","choices":[]}}"#, "y".repeat(4000));
    let whole = canned(
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{big}", big.len())
            .into_bytes(),
    )
    .await;
    // An event stream whose one line never ends.
    let endless = canned(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 8008\r\n\r\ndata: {}",
            "z".repeat(8002)
        )
        .into_bytes(),
    )
    .await;
    let gw = Gateway::start(&format!(
        "gateway {{\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  max_answer 2KiB\n  max_event 1KiB\n}}\n\
         provider whole {{ type openai; base_url \"http://{whole}/v1\" }}\n\
         provider endless {{ type openai; base_url \"http://{endless}/v1\" }}\n\
         route w {{ match POST \"/v1/chat/completions\"; when request.model == \"w\"; to whole }}\n\
         route e {{ match POST \"/v1/chat/completions\"; to endless }}\n"
    ));
    let url = format!("{}/v1/chat/completions", gw.url);
    let r = post(&url, &chat("w", false)).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_protocol_error", "{}", r.text());
    let s = stream(&url, &chat("e", true), &[]).await;
    let text = s.text();
    assert!(text.contains("upstream_stream_error"), "the stream ends with an error event: {text}");
    assert!(gw.stderr().contains("longer than max_event"), "the log says why");
    assert!(text.len() < 2048, "the long line was not passed on: {} bytes", text.len());
}

/// A provider's answer is read as strictly as a client's request: both
/// framings at once, or a malformed length, is a provider error (502), and
/// that connection is never used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answer_with_ambiguous_framing_is_a_provider_error() {
    let body = r#"{"id":"x","object":"chat.completion","choices":[]}"#;
    let mut addrs = Vec::new();
    for head in [
        format!("content-length: {}\r\ntransfer-encoding: chunked", body.len()),
        format!("content-length: {0}\r\ncontent-length: {0}", body.len()),
        format!("content-length: +{}", body.len()),
        "transfer-encoding: gzip, chunked".to_string(),
    ] {
        let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{head}\r\n\r\n{body}");
        addrs.push((head, canned(answer.into_bytes()).await));
    }
    let mut policy = String::from(GATEWAY);
    for (i, (_, addr)) in addrs.iter().enumerate() {
        policy.push_str(&format!(
            "provider p{i} {{ type openai; base_url \"http://{addr}/v1\" }}\nroute r{i} {{ match POST \"/v1/chat/completions\"; when request.model == \"m{i}\"; to p{i} }}\n"
        ));
    }
    let gw = Gateway::start(&policy);
    let url = format!("{}/v1/chat/completions", gw.url);
    for (i, (head, _)) in addrs.iter().enumerate() {
        let r = post(&url, &chat(&format!("m{i}"), false)).await;
        assert_eq!(r.status, 502, "{head}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "upstream_protocol_error", "{head}: {}", r.text());
    }
}
