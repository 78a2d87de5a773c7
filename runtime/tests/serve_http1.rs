//! Our HTTP/1.1 server, over raw sockets against the real binary: pipelined
//! requests, `expect: 100-continue`, chunked request bodies, HTTP/1.0,
//! `connection: close`, refused heads and bodies, a client that leaves
//! while its answer is made, and an idle connection at shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::*;

const POLICY: &str = "provider m { type mock }\nroute chat { match POST \"/v1/chat/completions\"; to m }\n";

fn gateway(extra: &str) -> Gateway {
    Gateway::start(&format!(
        "gateway {{\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  max_body 4KiB\n{extra}}}\n{POLICY}"
    ))
}

fn connect(gw: &Gateway) -> TcpStream {
    let s = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// One answer read off `s`: its head (lowercase) and its body, framed by
/// `content-length`, chunks, or the end of the connection.
fn answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> (String, String) {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
    buf.drain(..end);
    let header =
        |name: &str| head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(|v| v.trim().to_string()));
    let body = if let Some(n) = header("content-length") {
        let n: usize = n.parse().unwrap();
        while buf.len() < n {
            fill(s, buf);
        }
        buf.drain(..n).collect::<Vec<u8>>()
    } else if header("transfer-encoding").as_deref() == Some("chunked") {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(s, buf);
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap(), 16).unwrap();
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(s, buf);
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break body;
            }
        }
    } else {
        let _ = s.read_to_end(buf);
        std::mem::take(buf)
    };
    (head, String::from_utf8_lossy(&body).into_owned())
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).expect("read");
    assert!(n > 0, "the connection closed early; got {:?}", String::from_utf8_lossy(buf));
    buf.extend_from_slice(&chunk[..n]);
}

fn post(body: &str, extra: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Whether the server closed the connection (read gives end of stream).
fn closed(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    s.read_to_end(buf).is_ok()
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gw = gateway("");
    let mut s = connect(&gw);
    let a = post(&chat("first-model", false), "");
    let b = post(&chat("second-model", false), "x-request-id: second\r\n");
    s.write_all(format!("{a}{b}").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let (h1, b1) = answer(&mut s, &mut buf);
    let (h2, b2) = answer(&mut s, &mut buf);
    assert!(h1.starts_with("http/1.1 200 ok\r\n"), "{h1}");
    assert!(b1.contains("first-model"), "{b1}");
    assert!(h2.contains("x-request-id: second"), "{h2}");
    assert!(b2.contains("second-model"), "{b2}");
    assert!(h1.contains("\r\ndate: "), "{h1}");
    // Still open for a third.
    s.write_all(post(&chat("m", false), "").as_bytes()).unwrap();
    let (h3, _) = answer(&mut s, &mut buf);
    assert!(h3.starts_with("http/1.1 200"), "{h3}");
}

#[test]
fn expect_continue_is_answered_before_the_body() {
    let gw = gateway("");
    let mut s = connect(&gw);
    let body = chat("m", false);
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    while !buf.ends_with(b"\r\n\r\n") {
        fill(&mut s, &mut buf);
    }
    assert_eq!(String::from_utf8_lossy(&buf), "HTTP/1.1 100 Continue\r\n\r\n");
    buf.clear();
    s.write_all(body.as_bytes()).unwrap();
    let (head, text) = answer(&mut s, &mut buf);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(text.contains("chat.completion"), "{text}");
}

#[test]
fn a_chunked_body_arriving_in_pieces_is_read_whole() {
    let gw = gateway("");
    let mut s = connect(&gw);
    let body = chat("chunked-model", false);
    let (a, b) = body.split_at(10);
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
    write!(s, "{:x}\r\n{a}\r\n", a.len()).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    write!(s, "{:x};ext=1\r\n{b}\r\n0\r\ntrailer: x\r\n\r\n", b.len()).unwrap();
    let mut buf = Vec::new();
    let (head, text) = answer(&mut s, &mut buf);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(text.contains("chunked-model"), "{text}");
}

#[test]
fn http10_and_connection_close_end_the_connection() {
    let gw = gateway("");
    // HTTP/1.0: a length-framed answer, then the end of the connection.
    let mut s = connect(&gw);
    let body = chat("m", false);
    write!(s, "POST /v1/chat/completions HTTP/1.0\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut buf = Vec::new();
    let (head, text) = answer(&mut s, &mut buf);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(text.contains("chat.completion"));
    assert!(closed(&mut s, &mut buf));

    // HTTP/1.0 stream: no chunks; the end of the connection ends it.
    let mut s = connect(&gw);
    let body = chat("m", true);
    write!(s, "POST /v1/chat/completions HTTP/1.0\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut buf = Vec::new();
    let (head, text) = answer(&mut s, &mut buf);
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // HTTP/1.1 with `connection: close`.
    let mut s = connect(&gw);
    s.write_all(post(&chat("m", false), "connection: close\r\n").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let (head, _) = answer(&mut s, &mut buf);
    assert!(head.contains("connection: close"), "{head}");
    assert!(closed(&mut s, &mut buf));
}

#[test]
fn a_streamed_answer_is_chunked_and_the_connection_reused() {
    let gw = gateway("");
    let mut s = connect(&gw);
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(post(&chat("m", true), "").as_bytes()).unwrap();
        let (head, text) = answer(&mut s, &mut buf);
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
}

#[test]
fn broken_heads_get_a_clear_error_and_a_close() {
    let gw = gateway("");
    let many: String = (0..120).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let huge = format!("x-big: {}\r\n", "a".repeat(70 * 1024));
    for (raw, status) in [
        ("GARBAGE\r\n\r\n".to_string(), "400"),
        (
            "POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            "400",
        ),
        ("POST /v1/chat/completions HTTP/1.1\r\ncontent-length: -3\r\n\r\n".to_string(), "400"),
        (format!("GET /v1/models HTTP/1.1\r\n{many}\r\n"), "431"),
        (format!("GET /v1/models HTTP/1.1\r\n{huge}\r\n"), "431"),
    ] {
        let mut s = connect(&gw);
        let _ = s.write_all(raw.as_bytes());
        let mut buf = Vec::new();
        let (head, text) = answer(&mut s, &mut buf);
        assert!(head.starts_with(&format!("http/1.1 {status} ")), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"]["message"].is_string(), "{text}");
        assert!(closed(&mut s, &mut buf));
    }
    // The gateway is still serving.
    let mut s = connect(&gw);
    s.write_all(post(&chat("m", false), "").as_bytes()).unwrap();
    let (head, _) = answer(&mut s, &mut Vec::new());
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[test]
fn refused_bodies_are_answered_in_the_clients_format() {
    let gw = gateway("  idle_timeout 400ms\n");
    // Declared too large: 413 at once, without waiting for the body.
    let mut s = connect(&gw);
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let (head, text) = answer(&mut s, &mut buf);
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(text.contains("4096"), "{text}");

    // Chunked past the limit.
    let mut s = connect(&gw);
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n").unwrap();
    for _ in 0..5 {
        write!(s, "400\r\n{}\r\n", "a".repeat(1024)).unwrap();
    }
    let (head, _) = answer(&mut s, &mut Vec::new());
    assert!(head.starts_with("http/1.1 413"), "{head}");

    // Broken chunks.
    let mut s = connect(&gw);
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n").unwrap();
    let (head, _) = answer(&mut s, &mut Vec::new());
    assert!(head.starts_with("http/1.1 400"), "{head}");

    // A body that stops coming: the idle timeout answers for it. Timed from
    // before the bytes are sent, so that the gateway's timer cannot have
    // started earlier.
    let mut s = connect(&gw);
    let start = Instant::now();
    write!(s, "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{{\"model\"").unwrap();
    let (head, text) = answer(&mut s, &mut Vec::new());
    assert!(head.starts_with("http/1.1 408"), "{head}");
    // Anthropic's endpoint, Anthropic's error shape.
    assert!(text.contains("\"type\":\"error\""), "{text}");
    assert!(start.elapsed() >= Duration::from_millis(300), "answered before `idle_timeout`: {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_before_its_answer_cancels_the_request() {
    let up = mock_upstream().await;
    let gw = Gateway::start(&format!(
        "{GATEWAY}\nprovider up {{ type openai; base_url \"{}/v1\"; {MOCK_KNOBS} }}\nroute chat {{ match POST \"/v1/chat/completions\"; to up }}\n",
        up.url("")
    ));
    let admin = gw.admin.clone().unwrap();
    {
        let mut s = connect(&gw);
        s.write_all(post(&chat("m", false), "x-mock-delay-ms: 5000\r\n").as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        while !get(&format!("{admin}/metrics")).await.text().contains("hapax_requests_in_flight 1") {
            assert!(Instant::now() < deadline, "the request never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropping the socket closes the connection.
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let m = get(&format!("{admin}/metrics")).await.text();
        // Counted as nginx counts it: 499, the client closed the request.
        // (The gauge drops a moment before the count rises: wait for both.)
        if m.contains("hapax_requests_in_flight 0") && m.contains("status=\"499\"} 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the request was not dropped: {m}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn an_idle_connection_does_not_hold_up_shutdown() {
    let mut gw = gateway("  shutdown_grace 20s\n");
    let mut s = connect(&gw);
    s.write_all(post(&chat("m", false), "").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let (head, _) = answer(&mut s, &mut buf);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // Kept alive and idle when SIGTERM comes: closed at once.
    let start = Instant::now();
    gw.terminate();
    let status = gw.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(closed(&mut s, &mut buf));
}
