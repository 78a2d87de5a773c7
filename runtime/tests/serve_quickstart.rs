//! `hapax serve` on the quickstart policy answers chat completions with the
//! built-in mock provider; checked with a raw HTTP/1.1 client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

fn raw_post(url: &str, path: &str, body: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn quickstart_answers_a_chat_completion() {
    // The shipped quickstart, on free ports (8080 may be taken on this machine).
    let text = std::fs::read_to_string(root().join("policies/quickstart.hapax")).expect("quickstart");
    let text = text.replace("127.0.0.1:8080", "127.0.0.1:0").replace("127.0.0.1:9090", "127.0.0.1:0");
    let gw = Gateway::start(&text);
    let out = raw_post(&gw.url, "/v1/chat/completions", &chat("mock-small", false));
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("x-hapax-route: chat"), "{out}");
    assert!(out.contains("x-hapax-target: mock/mock-small"), "{out}");
    assert!(out.contains("x-request-id: "), "{out}");
    let body = out.split("\r\n\r\n").nth(1).expect("body");
    let v: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"].as_str().is_some_and(|c| !c.is_empty()));

    let out = raw_post(&gw.url, "/v1/embeddings", r#"{"model":"mock-small","input":"hi"}"#);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("x-hapax-route: everything_else"), "{out}");
}

#[test]
fn serve_without_paths_uses_the_embedded_quickstart() {
    // Needs the quickstart's fixed ports free on this machine.
    let taken: Vec<u16> =
        [8080, 9090].into_iter().filter(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_err()).collect();
    if !taken.is_empty() {
        skip_or_fail(&format!("the quickstart's fixed ports {taken:?} are in use on 127.0.0.1"));
        return;
    }
    let dir = TempDir::new("embedded");
    let cwd = dir.path().to_path_buf();
    let gw = Gateway::spawn(dir, Vec::new(), &[], Some(&cwd));
    assert_eq!(gw.url, "http://127.0.0.1:8080");
    let out = raw_post(&gw.url, "/v1/chat/completions", &chat("mock-small", false));
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
}

#[test]
fn a_broken_policy_prints_diagnostics_and_exits_1() {
    let dir = TempDir::new("broken");
    let path = dir.path().join("bad.hapax");
    std::fs::write(&path, "provider p { type mock }\nroute r { match POST \"/v1/*\"; to nope }\n").expect("write");
    let out = std::process::Command::new(hapax_bin()).arg("serve").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown provider `nope`"), "{err}");
    assert!(err.contains("bad.hapax:2:"), "{err}");
}
