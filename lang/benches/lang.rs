//! Benchmarks of the language front end: checking a large policy and
//! matching requests in a large routing graph.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness fails loudly, as a test does"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hapax_lang::expr::{ClientInfo, RequestView};
use hapax_lang::{check, load, Graph, MemFs, Mode};
use std::path::PathBuf;

/// A policy of `n` routes, each distinguished by model, 6 lines per route.
pub fn policy(n: usize) -> String {
    let mut s = String::from("provider p { type mock }\nlimit l { by client.id; requests 600 per 1m }\n\n");
    for i in 0..n {
        s.push_str(&format!(
            "route r{i} {{\n  match POST \"/v1/chat/completions\"\n  when  request.model == \"model-{i}\" and client.tier == \"gold\"\n  use   l\n  to    p model \"m{i}\"\n}}\n"
        ));
    }
    s
}

fn checked(fs: &MemFs) -> hapax_lang::Checked {
    let checked = check(load(&[PathBuf::from("/b/main.hapax")], fs).expect("loads"), fs, Mode::Check);
    assert!(checked.ok(), "{:?}", checked.diags.0.first());
    checked
}

fn compile(src: &str) -> Graph {
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/b/main.hapax"), src.to_string());
    checked(&fs).graph
}

struct Req {
    model: String,
    client: ClientInfo,
}

impl RequestView for Req {
    fn method(&self) -> &str {
        "POST"
    }
    fn path(&self) -> &str {
        "/v1/chat/completions"
    }
    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }
    fn stream(&self) -> bool {
        false
    }
    fn tokens(&self) -> u64 {
        100
    }
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
    fn body(&self) -> Option<&serde_json::Value> {
        None
    }
    fn client(&self) -> Option<&ClientInfo> {
        Some(&self.client)
    }
}

fn bench_check(c: &mut Criterion) {
    let src = policy(10_000);
    eprintln!("10k-route policy: {} lines, {} bytes", src.lines().count(), src.len());
    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/b/main.hapax"), src.clone());
    // Freeing the trees is left out of this timing; the end-to-end run of
    // `hapax check` in docs/benchmarks.md includes it.
    g.bench_function("10k_routes", |b| b.iter_with_large_drop(|| checked(black_box(&fs))));
    g.finish();
}

fn bench_match(c: &mut Criterion) {
    let client = ClientInfo { id: "c".into(), tier: Some("gold".into()), team: None, roles: vec![] };
    let mut g = c.benchmark_group("match_route");
    for n in [10usize, 10_000] {
        let graph = compile(&policy(n));
        // The last route: the worst case for a linear scan.
        let req = Req { model: format!("model-{}", n - 1), client: client.clone() };
        assert_eq!(graph.match_route(&req).map(|r| r.0 as usize), Some(n - 1));
        g.bench_function(format!("{n}_routes"), |b| b.iter(|| graph.match_route(black_box(&req))));
    }
    g.finish();
}

criterion_group!(benches, bench_check, bench_match);
criterion_main!(benches);
