//! Benchmarks of functions on the request path: reading a request body
//! (our one-pass scan against serde_json) and reading usage off an answer.
//!
//!   cargo bench -p hapax-runtime --bench hot_path

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness fails loudly, as a test does"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hapax_runtime::wire::{scan, Usage};

/// The load benchmark's request body, and a larger chat with a system
/// prompt, content parts and tools.
const SMALL: &str =
    r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short about load balancing."}]}"#;

fn large() -> String {
    let text = "The quick brown fox jumps over the lazy dog, \"quoted\" and caf\u{e9}. ".repeat(20);
    serde_json::json!({
        "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true}, "temperature": 0.2,
        "messages": [
            {"role": "system", "content": text},
            {"role": "user", "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": text},
            {"role": "user", "content": text},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}],
    })
    .to_string()
}

fn bodies(c: &mut Criterion) {
    let large = large();
    for (name, body) in [("small", SMALL), ("large", large.as_str())] {
        let mut g = c.benchmark_group(format!("request_body_{name}"));
        g.bench_function("scan", |b| b.iter(|| scan::scan(black_box(body.as_bytes())).is_ok()));
        g.bench_function("serde_json_value", |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes())).is_ok())
        });
        g.bench_function("serde_json_ignored", |b| {
            b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body.as_bytes())).is_ok())
        });
        g.finish();
    }
}

fn usage(c: &mut Criterion) {
    let answer = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x".repeat(400)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 100, "total_tokens": 112}
    })
    .to_string();
    c.bench_function("usage_from_openai_answer", |b| b.iter(|| Usage::from_openai_body(black_box(answer.as_bytes()))));
}

criterion_group!(benches, bodies, usage);
criterion_main!(benches);
