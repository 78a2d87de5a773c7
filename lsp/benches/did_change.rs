//! How long an edit takes to show up as diagnostics: the time from sending
//! `didChange` on a generated 5,000-line policy to receiving its
//! `publishDiagnostics`, with the server running in process over an
//! in-memory connection (no stdio framing, otherwise the real loop).
//!
//! Run with `cargo bench -p hapax-lsp`. It reports the latency of edits
//! made 200 ms apart (typing speed: each is checked at once), and of edits
//! sent back to back (each waits for the rest of the 50 ms debounce window
//! after the previous check). Target: under 100 ms.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness fails loudly, as a test does"
)]

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A policy of `lines` lines: providers, limits and routes that use them.
fn policy(lines: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while out.len() < lines {
        let block = [
            format!("provider p{i} {{"),
            "  type    mock".into(),
            "  latency 20ms".into(),
            "  timeout 30s".into(),
            "}".into(),
            String::new(),
            format!("limit l{i} {{"),
            "  by       client.id".into(),
            "  requests 600 per 1m".into(),
            "}".into(),
            String::new(),
            format!("route r{i} {{"),
            format!("  match    POST \"/v1/r{i}/*\""),
            "  when     request.model matches \"gpt-4*\" and client.tier == \"gold\"".into(),
            format!("  use      l{i}"),
            format!("  to       p{i} model \"gpt-4o\""),
            format!("  fallback [p{i}]"),
            "  timeout  45s".into(),
            "}".into(),
            String::new(),
        ];
        out.extend(block);
        i += 1;
    }
    out.truncate(lines);
    out.join("\n") + "\n"
}

fn wait_for_publish(client: &Connection, uri: &str) -> Value {
    loop {
        match client.receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Message::Notification(n)) if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri => {
                return n.params
            }
            Ok(_) => {}
            Err(e) => panic!("no diagnostics: {e}"),
        }
    }
}

fn measure(debounce_ms: u64, pause: Duration, rounds: usize) -> Vec<Duration> {
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || hapax_lsp::serve(server, Vec::new()));
    let init = Request::new(
        RequestId::from(1),
        "initialize".into(),
        json!({ "capabilities": {}, "initializationOptions": { "debounceMs": debounce_ms } }),
    );
    client.sender.send(init.into()).expect("send");
    loop {
        if let Ok(Message::Response(_)) = client.receiver.recv_timeout(Duration::from_secs(30)) {
            break;
        }
    }
    client.sender.send(Notification::new("initialized".into(), json!({})).into()).expect("send");
    let text = policy(5_000);
    assert_eq!(text.lines().count(), 5_000);
    let uri = "file:///tmp/hapax-bench/big.hapax";
    client
        .sender
        .send(
            Notification::new(
                "textDocument/didOpen".into(),
                json!({ "textDocument": { "uri": uri, "languageId": "hapax", "version": 1, "text": text } }),
            )
            .into(),
        )
        .expect("send");
    let first = wait_for_publish(&client, uri);
    assert_eq!(first["diagnostics"], json!([]), "the generated policy must be clean");
    // Each round edits line 2500 (the `latency` of a provider in the middle),
    // alternating between a valid value and a typo that is an error.
    let line =
        text.lines().enumerate().skip(2_400).find(|(_, l)| l.trim_start().starts_with("latency")).map_or(2, |(n, _)| n);
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let new_line = if round % 2 == 0 { "  latncy 20ms" } else { "  latency 20ms" };
        let change = json!({
            "textDocument": { "uri": uri, "version": round + 2 },
            "contentChanges": [{ "range": { "start": { "line": line, "character": 0 }, "end": { "line": line, "character": 14 } }, "text": new_line }],
        });
        std::thread::sleep(pause);
        let start = Instant::now();
        client.sender.send(Notification::new("textDocument/didChange".into(), change).into()).expect("send");
        let params = wait_for_publish(&client, uri);
        times.push(start.elapsed());
        let n = params["diagnostics"].as_array().map_or(0, Vec::len);
        assert_eq!(n, usize::from(round % 2 == 0), "round {round}: {params}");
    }
    client.sender.send(Request::new(RequestId::from(2), "shutdown".into(), Value::Null).into()).expect("send");
    client.sender.send(Notification::new("exit".into(), Value::Null).into()).expect("send");
    let _ = thread.join();
    times
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "{label}: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms ({} edits of a 5,000-line policy)",
        ms(median),
        ms(p90),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

/// The compiler alone: load and check the same policy from memory.
fn check_only(rounds: usize) -> Vec<Duration> {
    let path = std::path::PathBuf::from("/tmp/hapax-bench/big.hapax");
    let mut fs = hapax_lang::MemFs::default();
    fs.files.insert(path.clone(), policy(5_000));
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let checked = hapax_lang::check_paths(std::slice::from_ref(&path), &fs, hapax_lang::Mode::Check);
            assert!(checked.is_ok_and(|c| c.diags.0.is_empty()));
            start.elapsed()
        })
        .collect()
}

/// The parser alone, on the same policy.
fn parse_only(rounds: usize) -> Vec<Duration> {
    let text = policy(5_000);
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let (ast, errors) = hapax_lang::syntax::parse(hapax_lang::span::FileId(0), &text);
            assert!(errors.is_empty() && !ast.items.is_empty());
            start.elapsed()
        })
        .collect()
}

fn main() {
    // `cargo test --benches` runs this binary too; keep that quick.
    let rounds = if std::env::args().any(|a| a == "--bench") { 30 } else { 4 };
    report("hapax_lang::syntax::parse alone (for comparison)", parse_only(rounds));
    report("hapax_lang::check_paths alone (for comparison)", check_only(rounds));
    report("didChange -> publishDiagnostics, edits 200 ms apart", measure(50, Duration::from_millis(200), rounds));
    report("didChange -> publishDiagnostics, edits back to back", measure(50, Duration::ZERO, rounds));
}
