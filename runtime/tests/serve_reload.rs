//! Hot reload: rewriting the policy while clients keep sending requests.
//! Valid edits take effect, broken ones are ignored, no request fails, and
//! provider state survives a reload that does not change the provider.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

fn policy(route: &str, broken: bool) -> String {
    format!(
        "{GATEWAY}\nprovider m {{ type mock; latency 1ms }}\nroute {route} {{\n  match POST \"/v1/chat/completions\"\n  to {}\n}}\n",
        if broken { "nope" } else { "m" }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_rewrites_under_load_lose_no_request() {
    let gw = Gateway::start(&policy("r0", false));
    let url = format!("{}/v1/chat/completions", gw.url);
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let last_route = Arc::new(Mutex::new(String::new()));
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (url, stop, failures, sent, last_route) =
            (url.clone(), stop.clone(), failures.clone(), sent.clone(), last_route.clone());
        clients.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                let r = request(&c, "POST", &url, &chat("m", false), &[]).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed: {} {}", r.status, r.text());
                }
                *last_route.lock().unwrap() = r.header("x-hapax-route").to_string();
            }
        }));
    }
    let mut current = "r0".to_string();
    for i in 1..=20 {
        let broken = i % 4 == 0;
        let name = format!("r{i}");
        std::fs::write(&gw.policy, policy(&name, broken)).unwrap();
        if broken {
            // Give the watcher time to see it and refuse it.
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert_eq!(*last_route.lock().unwrap(), current, "a broken edit must not be applied");
        } else {
            // Generous: the machine running the suite may be busy.
            let deadline = Instant::now() + Duration::from_secs(20);
            while *last_route.lock().unwrap() != name {
                assert!(Instant::now() < deadline, "edit {i} was not applied: {}", gw.stderr());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            current = name;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "{}", gw.stderr());
    assert!(sent.load(Ordering::Relaxed) > 40);
    let m = get(&format!("{}/metrics", gw.admin.clone().unwrap())).await.text();
    let count = |result: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("hapax_reloads_total{{result=\"{result}\"}} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(count("ok") >= 15, "{m}");
    assert!(count("failed") >= 5, "{m}");
    assert!(gw.stderr().contains("unknown provider `nope`"), "diagnostics are logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_unchanged_providers_keep_their_breaker() {
    let up = mock_upstream().await;
    let text = |route: &str| {
        format!(
            "{GATEWAY}\nprovider up {{\n  type openai\n  base_url \"{}/v1\"\n  breaker {{ failures 2 within 10s; open_for 30s }}\n}}\nroute {route} {{\n  match POST \"/v1/chat/completions\"\n  to up\n}}\n",
            up.url("")
        )
    };
    let gw = Gateway::start(&text("a"));
    let url = format!("{}/v1/chat/completions", gw.url);
    up.set_knobs(hapax_mock_upstream::Knobs { status: Some(500), ..Default::default() });
    for _ in 0..2 {
        assert_eq!(post(&url, &chat("m", false)).await.status, 500);
    }
    assert_eq!(post(&url, &chat("m", false)).await.status, 503);
    // Change only the route, then SIGHUP (the watcher may get there first).
    std::fs::write(&gw.policy, text("b")).unwrap();
    let _ = std::process::Command::new("kill").args(["-HUP", &gw.child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = post(&url, &chat("m", false)).await;
        if r.header("x-hapax-route") == "b" {
            assert_eq!(r.status, 503, "the breaker stayed open across the reload");
            break;
        }
        assert!(Instant::now() < deadline, "reload not applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
