//! Replays every prefix of real policies as an editor would send them while
//! someone types, with completion and hover requests in between, and checks
//! that every request is answered and that the finished file gets exactly
//! the diagnostics of `hapax check`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// The policies that ship, and the big example of the language contract
/// (the copy in `tests/fixtures`).
fn sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut policies: Vec<PathBuf> = std::fs::read_dir(workspace().join("policies"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "hapax"))
                .collect()
        })
        .unwrap_or_default();
    policies.sort();
    for p in policies {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Ok(text) = std::fs::read_to_string(&p) {
            out.push((name, text));
        }
    }
    let example = include_str!("../../tests/fixtures/language_example.hapax").to_string();
    out.push(("language_example.hapax".into(), example));
    assert!(out.len() >= 2, "no policies found");
    out
}

/// The codes `hapax check --format json` reports for a file.
fn check_codes(path: &std::path::Path) -> Vec<String> {
    let out =
        Command::new(hapax_bin()).args(["check", "--format", "json"]).arg(path).output().expect("run hapax check");
    let mut codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["code"].as_str().map(str::to_string))
        .collect();
    codes.sort();
    codes
}

#[test]
fn every_prefix_while_typing() {
    let dir = temp_dir("fuzz");
    let mut c = Client::start(&dir);
    let mut answered = 0usize;
    for (name, text) in sources() {
        let path = dir.join(&name);
        std::fs::write(&path, &text).expect("write");
        let uri = uri(&path);
        c.open(&uri, "");
        let mut version = 1;
        let mut pending: Vec<i64> = Vec::new();
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).chain([text.len()]).collect();
        let mut prev = 0;
        for (n, &end) in boundaries.iter().enumerate() {
            // Type one character at the end of the buffer.
            version += 1;
            let at = pos_at(&text, prev);
            c.notify(
                "textDocument/didChange",
                json!({
                    "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{ "range": { "start": at, "end": at }, "text": &text[prev..end] }],
                }),
            );
            prev = end;
            let here = pos_at(&text, end);
            pending.push(
                c.send_request("textDocument/completion", json!({ "textDocument": { "uri": uri }, "position": here })),
            );
            if n % 3 == 0 {
                let mid = boundaries[n / 2];
                pending.push(c.send_request(
                    "textDocument/hover",
                    json!({ "textDocument": { "uri": uri }, "position": pos_at(&text, mid) }),
                ));
            }
            if n % 50 == 0 {
                for method in
                    ["textDocument/documentSymbol", "textDocument/semanticTokens/full", "textDocument/foldingRange"]
                {
                    pending.push(c.send_request(method, json!({ "textDocument": { "uri": uri } })));
                }
            }
            // Keep a bounded number of requests in flight.
            if pending.len() > 64 {
                for id in pending.drain(..) {
                    let r = c.response(id);
                    assert!(r.get("error").is_none(), "{name}: request {id} failed at byte {end}: {r}");
                    answered += 1;
                }
                c.clear();
            }
        }
        for id in pending.drain(..) {
            let r = c.response(id);
            assert!(r.get("error").is_none(), "{name}: request {id} failed: {r}");
            answered += 1;
        }
        // The finished file has what `hapax check` reports.
        version += 1;
        c.change_full(&uri, version, &text);
        assert_eq!(codes(&c.diagnostics_at(&uri, version)), check_codes(&path), "{name}");
        c.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }));
        c.clear();
    }
    eprintln!("{answered} requests answered");
    assert!(answered > 1000);
    assert_eq!(c.shutdown(), 0);
}
