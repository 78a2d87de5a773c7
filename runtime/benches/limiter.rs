//! One limiter check: a reservation of a request and its tokens under one
//! key, and its settlement, with a sliding window and a calendar period (the
//! issue's target: under 200 ns uncontended).
//!
//!   cargo bench -p hapax-runtime --bench limiter

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark harness fails loudly, as a test does"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hapax_lang::{check, load, MemFs, Mode};
use hapax_runtime::limiter::{Limiter, RateLimiter};
use std::path::PathBuf;

const POLICY: &str = r#"
provider m { type mock }
limit per_client { by client.id; requests 1G per 1m; tokens 1000G per 1m }
limit monthly { by client.team; tokens 1000G per month }
route chat { match POST "/v1/chat/completions"; use per_client, monthly; to m }
"#;

fn bench(c: &mut Criterion) {
    let mut fs = MemFs::default();
    fs.files.insert(PathBuf::from("/b/main.hapax"), POLICY.to_string());
    let checked = check(load(&[PathBuf::from("/b/main.hapax")], &fs).expect("loads"), &fs, Mode::Check);
    assert!(checked.ok(), "{:?}", checked.diags.0);
    let sliding = Limiter::new(&checked.graph.limits[0]);
    let calendar = Limiter::new(&checked.graph.limits[1]);
    // Keys already known, as in steady traffic.
    for i in 0..1000 {
        sliding.reserve(&format!("client-{i}"), 1, 1).unwrap();
    }
    let mut now = 1_000_000_000_000u64;
    c.bench_function("limiter_reserve_settle_sliding", |b| {
        b.iter(|| {
            now += 1;
            let g = sliding.reserve(black_box("client-7"), now, black_box(4200)).unwrap();
            sliding.settle(&g, black_box(180), now);
        })
    });
    c.bench_function("limiter_reserve_settle_calendar", |b| {
        b.iter(|| {
            now += 1;
            let g = calendar.reserve(black_box("research"), now, black_box(4200)).unwrap();
            calendar.settle(&g, black_box(180), now);
        })
    });
    c.bench_function("limiter_reserve_only_sliding", |b| {
        b.iter(|| {
            now += 1;
            black_box(sliding.reserve(black_box("client-9"), now, black_box(1)).unwrap());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
