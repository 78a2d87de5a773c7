//! Connections: h2c by prior knowledge, the header read timeout against
//! slow clients, the idle timeout, and a client that goes away mid-stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge() {
    let gw = Gateway::start(&format!(
        "{GATEWAY}\nprovider m {{ type mock }}\nroute chat {{ match POST \"/v1/chat/completions\"; to m }}\n"
    ));
    let tcp = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    let body = h2_chats(tcp, &gw.url, 3).await;
    assert!(!body.is_empty());
}

#[test]
fn slow_and_idle_clients_are_cut_off() {
    let gw = Gateway::start(
        "gateway {\n  listen http \"127.0.0.1:0\"\n  header_timeout 300ms\n  idle_timeout 600ms\n}\nprovider m { type mock }\nroute chat { match POST \"/v1/chat/completions\"; to m }\n",
    );
    let addr = gw.url.trim_start_matches("http://").to_string();
    // Headers that never finish. Timed from before the connection exists,
    // so that the gateway's timer cannot have started earlier.
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(3), "the slow client was not cut off ({waited:?})");
    assert!(waited >= Duration::from_millis(250), "cut off before `header_timeout` ({waited:?})");

    // A kept-alive connection with nothing to do is closed.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = chat("m", false);
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(3), "the idle connection stayed open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_cancels_the_request() {
    let up = mock_upstream().await;
    let gw = Gateway::start(&format!(
        "{GATEWAY}\nprovider up {{ type openai; base_url \"{}/v1\"; {MOCK_KNOBS} }}\nroute chat {{ match POST \"/v1/chat/completions\"; to up }}\n",
        up.url("")
    ));
    let admin = gw.admin.clone().unwrap();
    {
        let c = client();
        let req = http::Request::post(format!("{}/v1/chat/completions", gw.url))
            .header("content-type", "application/json")
            .header("x-mock-trickle-ms", "500")
            .body(Full::new(Bytes::from(chat("m", true))))
            .unwrap();
        let resp = c.request(req).await.unwrap();
        let mut body = resp.into_body();
        let _first = body.frame().await.unwrap().unwrap();
        let m = get(&format!("{admin}/metrics")).await.text();
        assert!(m.contains("hapax_requests_in_flight 1"), "{m}");
        // Dropping the body and the client closes the connection.
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let m = get(&format!("{admin}/metrics")).await.text();
        if m.contains("hapax_requests_in_flight 0") {
            break;
        }
        assert!(Instant::now() < deadline, "the request was not dropped: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each worker listens on a socket of its own (`SO_REUSEPORT`), so that the
/// kernel spreads connections over the workers: the port has as many
/// listening sockets as there are workers, and every connection is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_has_its_own_listening_socket() {
    let dir = TempDir::new("gw");
    let policy = dir.path().join("policy.hapax");
    std::fs::write(
        &policy,
        format!("{GATEWAY}\nprovider m {{ type mock }}\nroute chat {{ match POST \"/v1/chat/completions\"; to m }}\n"),
    )
    .unwrap();
    let gw = Gateway::start_in(dir, policy, &[("HAPAX_WORKERS", "3")]);
    let port: u16 = gw.url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap();
    // /proc/net/tcp: local address as HEX_IP:HEX_PORT, state 0A is LISTEN.
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let listening = table
        .lines()
        .skip(1)
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(3) == Some(&"0A") && cols.get(1).is_some_and(|a| a.ends_with(&format!(":{port:04X}")))
        })
        .count();
    assert_eq!(listening, 3, "{table}");
    for _ in 0..12 {
        let r = post(&format!("{}/v1/chat/completions", gw.url), &chat("m", false)).await;
        assert_eq!(r.status, 200);
    }
}
