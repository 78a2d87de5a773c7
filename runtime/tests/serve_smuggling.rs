//! Request smuggling against the real binary over raw sockets: each hostile
//! request is followed on the same connection by a hidden one. The gateway
//! must refuse the first with its status and close, so the hidden request is
//! never answered (a front proxy that reads framing strictly would not have
//! seen it as a request of its own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

const HIDDEN: &str = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
const CHAT: &str = "POST /v1/chat/completions HTTP/1.1";
const BODY: &str = r#"{"model":"m","messages":[]}"#;

fn gateway() -> Gateway {
    Gateway::start(
        "gateway {\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  max_body 64KiB\n}\nprovider m { type mock }\nroute chat { match POST \"/v1/chat/completions\"; to m }\n",
    )
}

/// Sends `raw` then the hidden request, and reads until the gateway closes.
fn exchange(gw: &Gateway, raw: &str) -> String {
    let mut s = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    s.write_all(HIDDEN.as_bytes()).unwrap();
    let mut out = Vec::new();
    // The gateway closes after a refusal; a read error (a reset, as the
    // unread hidden request is dropped) ends the answer too.
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn statuses(out: &str) -> Vec<&str> {
    out.match_indices("HTTP/1.1 ").filter_map(|(i, _)| out.get(i + 9..i + 12)).collect()
}

/// (what it is, the request, the status it gets)
fn corpus() -> Vec<(&'static str, String, &'static str)> {
    let chunked = |te: &str, body: &str| format!("{CHAT}\r\nHost: x\r\n{te}\r\n\r\n{body}");
    vec![
        (
            "CL.TE",
            format!("{CHAT}\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            "400",
        ),
        (
            "TE.CL",
            format!("{CHAT}\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"),
            "400",
        ),
        (
            "TE.TE, a second coding line",
            chunked("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity", "0\r\n\r\n"),
            "400",
        ),
        ("TE.TE, chunked twice", chunked("Transfer-Encoding: chunked, chunked", "0\r\n\r\n"), "400"),
        ("TE.TE, xchunked", chunked("Transfer-Encoding: xchunked", "0\r\n\r\n"), "400"),
        ("TE.TE, quoted", chunked("Transfer-Encoding: \"chunked\"", "0\r\n\r\n"), "400"),
        ("TE.TE, space before the colon", chunked("Transfer-Encoding : chunked", "0\r\n\r\n"), "400"),
        ("TE.TE, vertical tab", chunked("Transfer-Encoding:\x0bchunked", "0\r\n\r\n"), "400"),
        ("TE.TE, chunked not last", chunked("Transfer-Encoding: chunked, identity", "0\r\n\r\n"), "400"),
        ("an unimplemented coding", chunked("Transfer-Encoding: gzip, chunked", "0\r\n\r\n"), "501"),
        (
            "TE in HTTP/1.0",
            "POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            "400",
        ),
        (
            "two different lengths",
            format!("{CHAT}\r\nHost: x\r\nContent-Length: 27\r\nContent-Length: 5\r\n\r\n{BODY}"),
            "400",
        ),
        (
            "the same length twice",
            format!("{CHAT}\r\nHost: x\r\nContent-Length: 27\r\nContent-Length: 27\r\n\r\n{BODY}"),
            "400",
        ),
        ("a length list", format!("{CHAT}\r\nHost: x\r\nContent-Length: 27, 27\r\n\r\n{BODY}"), "400"),
        ("a signed length", format!("{CHAT}\r\nHost: x\r\nContent-Length: +27\r\n\r\n{BODY}"), "400"),
        ("a chunk size line ending in a bare LF", chunked("Transfer-Encoding: chunked", "3\nabc\r\n0\r\n\r\n"), "400"),
        ("a space after the chunk size", chunked("Transfer-Encoding: chunked", "3 \r\nabc\r\n0\r\n\r\n"), "400"),
        (
            "a chunk size of 17 digits",
            chunked("Transfer-Encoding: chunked", "10000000000000003\r\nabc\r\n0\r\n\r\n"),
            "400",
        ),
        ("an oversized chunk", chunked("Transfer-Encoding: chunked", "ffffffffffffffff\r\nabc"), "413"),
        ("chunk data past its size", chunked("Transfer-Encoding: chunked", "1\r\nab\r\n0\r\n\r\n"), "400"),
        ("obs-fold", format!("{CHAT}\r\nHost: x\r\nX-A: 1\r\n folded\r\nContent-Length: 27\r\n\r\n{BODY}"), "400"),
        (
            "a header name with a space",
            format!("{CHAT}\r\nHost: x\r\nX A: 1\r\nContent-Length: 27\r\n\r\n{BODY}"),
            "400",
        ),
        ("no host", format!("{CHAT}\r\nContent-Length: 27\r\n\r\n{BODY}"), "400"),
        ("two hosts", format!("{CHAT}\r\nHost: x\r\nHost: y\r\nContent-Length: 27\r\n\r\n{BODY}"), "400"),
        ("an invalid host", format!("{CHAT}\r\nHost: a/b@c\r\nContent-Length: 27\r\n\r\n{BODY}"), "400"),
    ]
}

#[test]
fn hostile_framing_is_refused_and_the_hidden_request_never_answered() {
    let gw = gateway();
    for (what, raw, status) in corpus() {
        let out = exchange(&gw, &raw);
        assert_eq!(statuses(&out), [status], "{what}: exactly one answer, {status}\n{out}");
        assert!(!out.contains("\"object\":\"list\""), "{what}: the hidden request was answered\n{out}");
        assert!(out.contains("\"error\""), "{what}: the refusal says why\n{out}");
    }
}

/// `Connection: close` anywhere wins: the request is answered, then the
/// connection closes before the hidden one.
#[test]
fn connection_close_wins_over_keep_alive() {
    let gw = gateway();
    for conn in ["Connection: close\r\nConnection: keep-alive", "Connection: keep-alive, close"] {
        let raw = format!("{CHAT}\r\nHost: x\r\n{conn}\r\nContent-Length: {}\r\n\r\n{BODY}", BODY.len());
        let out = exchange(&gw, &raw);
        assert_eq!(statuses(&out), ["200"], "{conn}\n{out}");
        assert!(!out.contains("\"object\":\"list\""), "{conn}: the hidden request was answered\n{out}");
    }
}

/// The same requests framed properly are answered, and the hidden one after
/// them too: the corpus is refused for its framing, not for being odd.
#[test]
fn well_framed_requests_keep_the_connection() {
    let gw = gateway();
    for raw in [
        format!("{CHAT}\r\nHost: x\r\nContent-Length: {}\r\n\r\n{BODY}", BODY.len()),
        format!(
            "{CHAT}\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x};a=1\r\n{BODY}\r\n0\r\nX-T: 1\r\n\r\n",
            BODY.len()
        ),
        format!(
            "{CHAT}\r\nHost: [::1]:8080\r\nTransfer-Encoding:\tChunKed \r\n\r\n{:x}\r\n{BODY}\r\n0\r\n\r\n",
            BODY.len()
        ),
    ] {
        let mut s = TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        s.write_all(format!("{}Connection: close\r\n\r\n", HIDDEN.strip_suffix("\r\n").unwrap_or(HIDDEN)).as_bytes())
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        assert_eq!(statuses(&out), ["200", "200"], "{raw:?}\n{out}");
        assert!(out.contains("\"object\":\"list\""), "{out}");
    }
}
