//! Hot reload: rewriting the policy while clients keep sending requests.
//! Valid edits take effect, broken ones are ignored, no request fails, and
//! provider state survives a reload that does not change the provider.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::*;

fn policy(route: &str, broken: bool) -> String {
    format!(
        "{GATEWAY}\nprovider m {{ type mock; latency 1ms }}\nroute {route} {{\n  match POST \"/v1/chat/completions\"\n  to {}\n}}\n",
        if broken { "nope" } else { "m" }
    )
}

/// `hapax_reloads_total{result}` in the admin listener's metrics.
async fn reloads(admin: &str, result: &str) -> u64 {
    let m = get(&format!("{admin}/metrics")).await.text();
    m.lines()
        .find_map(|l| l.strip_prefix(&format!("hapax_reloads_total{{result=\"{result}\"}} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_rewrites_under_load_lose_no_request() {
    let gw = Gateway::start(&policy("r0", false));
    let url = format!("{}/v1/chat/completions", gw.url);
    let admin = gw.admin.clone().unwrap();
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
        let failed = reloads(&admin, "failed").await;
        std::fs::write(&gw.policy, policy(&name, broken)).unwrap();
        if broken {
            // The watcher has seen it and refused it (had we written the next
            // edit before, the two could have made one reload).
            eventually(&format!("edit {i} is refused"), async || {
                let now = reloads(&admin, "failed").await;
                if now > failed {
                    Ok(())
                } else {
                    Err(format!("{now} failed reloads\n{}", gw.stderr()))
                }
            })
            .await;
            let r = post(&url, &chat("m", false)).await;
            assert_eq!(
                (r.status, r.header("x-hapax-route")),
                (200, current.as_str()),
                "a broken edit must not be applied"
            );
        } else {
            eventually(&format!("edit {i} is applied"), async || {
                let route = last_route.lock().unwrap().clone();
                if route == name {
                    Ok(())
                } else {
                    Err(format!("route {route}\n{}", gw.stderr()))
                }
            })
            .await;
            current = name;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "{}", gw.stderr());
    assert!(sent.load(Ordering::Relaxed) > 40);
    assert!(reloads(&admin, "ok").await >= 15);
    assert!(reloads(&admin, "failed").await >= 5);
    assert!(gw.stderr().contains("unknown provider `nope`"), "diagnostics are logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_and_unchanged_providers_keep_their_breaker() {
    let up = mock_upstream().await;
    let text = |route: &str| {
        format!(
            "{GATEWAY}\nprovider up {{\n  type openai\n  base_url \"{}/v1\"\n  breaker {{ failures 2 within 10s; open_for 5m }}\n}}\nroute {route} {{\n  match POST \"/v1/chat/completions\"\n  to up\n}}\n",
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
    // `open_for` is far longer than the test: only a new breaker would be closed.
    let r = eventually("the reload is applied", async || {
        let r = post(&url, &chat("m", false)).await;
        if r.header("x-hapax-route") == "b" {
            Ok(r)
        } else {
            Err(format!("route {}", r.header("x-hapax-route")))
        }
    })
    .await;
    assert_eq!(r.status, 503, "the breaker stayed open across the reload: {}", r.text());
}
