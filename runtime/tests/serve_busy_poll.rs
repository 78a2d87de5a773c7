//! Busy polling (`gateway { busy_poll }`) against the real binary: after
//! traffic stops, the workers stop polling and the gateway goes back to
//! sleep, so an idle gateway uses no CPU.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::time::{Duration, Instant};
use support::*;

/// Nanoseconds all of the process's threads have run on a CPU.
fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the gateway runs") {
        let stat = std::fs::read_to_string(task.expect("task").path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    total
}

#[tokio::test]
async fn workers_stop_polling_once_traffic_stops() {
    let mock = mock_upstream().await;
    let gw = Gateway::start(&format!(
        "gateway {{\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n  busy_poll 1ms\n}}\n\
         provider up {{ type openai_compatible; base_url \"{}\" }}\n\
         route chat {{ match POST \"/v1/chat/completions\"; to up }}\n",
        mock.url("/v1")
    ));
    let url = format!("{}/v1/chat/completions", gw.url);
    let before = cpu_ns(gw.child.id());
    for _ in 0..300 {
        assert_eq!(post(&url, &chat("gpt-4o-mini", false)).await.status, 200);
    }
    let busy = cpu_ns(gw.child.id()) - before;
    assert!(busy > 0);
    // Idle: a worker that kept polling would use a core for the whole second.
    // When the workers go back to sleep after the last request is theirs to
    // decide, so measure one-second windows until one is quiet.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let start = cpu_ns(gw.child.id());
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = cpu_ns(gw.child.id()) - start;
        if idle < 100_000_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle gateway still ran {idle} ns in a second ({busy} ns for the 300 requests)"
        );
    }
}
