//! Quotas against the real binary: 200 concurrent requests against
//! `requests 50 per 1m` admit exactly 50; tokens are settled to the real
//! usage of whole, streamed and cut-short answers; calendar quotas survive
//! a graceful stop and a `kill -9`, and a changed definition starts afresh;
//! the admin API and `hapax limits show` show, reset and extend a key's
//! quota and its hourly usage; `notify` posts once per key and window,
//! retried, and audited; a provider that signals its rate limit is paced
//! (AIMD) and let go once it recovers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

fn key(policy: &Path, args: &[&str]) -> String {
    let out = Command::new(hapax_bin()).args(["keys", "create"]).args(args).arg(policy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string()
}

fn chat_body(max_tokens: u64, stream: bool, include_usage: bool) -> String {
    let mut v = serde_json::json!({
        "model": "m",
        "max_tokens": max_tokens,
        "stream": stream,
        "messages": [{ "role": "user", "content": "tell me a story about a lighthouse" }]
    });
    if include_usage {
        v["stream_options"] = serde_json::json!({ "include_usage": true });
    }
    v.to_string()
}

/// A key's usage of one limit, from the admin API.
async fn usage(admin: &str, limit: &str, key: &str, auth: &[(&str, &str)]) -> Value {
    let r = request(&client(), "GET", &format!("{admin}/admin/api/limits/{limit}/keys/{key}"), "", auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Waits for the admin metrics (read with an admin credential) to show
/// `needle`: the limit counters are written every second.
async fn admin_metrics_with(admin: &str, auth: &[(&str, &str)], needle: &str) {
    eventually(needle, async || {
        let m = request(&client(), "GET", &format!("{admin}/metrics"), "", auth).await.text();
        if m.contains(needle) {
            Ok(())
        } else {
            Err(m.lines().filter(|l| l.contains("hapax_limit")).collect::<Vec<_>>().join("\n"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_requests_against_fifty_a_minute_admit_exactly_fifty() {
    let gw = Gateway::start(&format!(
        r#"{GATEWAY}
provider m {{ type mock; latency 20ms }}
limit fifty {{ requests 50 per 1m }}
route chat {{
  match POST "/v1/chat/completions"
  use   fifty
  to    m
}}
"#
    ));
    let url = format!("{}/v1/chat/completions", gw.url);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let u = url.clone();
            tokio::spawn(async move { request(&client(), "POST", &u, &chat("m", false), &[]).await })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.header("x-ratelimit-limit-requests"), "50");
        match r.status {
            200 => ok += 1,
            429 => {
                limited += 1;
                let retry: u64 = r.header("retry-after").parse().unwrap();
                assert!((1..=60).contains(&retry), "{retry}");
                assert_eq!(r.header("x-ratelimit-remaining-requests"), "0");
                assert!(r.header("x-ratelimit-reset-requests").ends_with('s'));
            }
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    assert_eq!((ok, limited), (50, 150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_settled_to_whole_streamed_and_cut_short_answers() {
    let up = mock_upstream().await;
    let gw = Gateway::start(&format!(
        r#"{GATEWAY}
provider up {{ type openai_compatible; base_url "{}/v1"; {MOCK_KNOBS} }}
limit tok {{
  by     request.header["x-user"]
  tokens 1M per 1h
}}
route chat {{
  match POST "/v1/chat/completions"
  use   tok
  to    up
}}
"#,
        up.url("")
    ));
    let admin = gw.admin.clone().unwrap();
    let url = format!("{}/v1/chat/completions", gw.url);
    let used = async |user: &str| usage(&admin, "tok", user, &[]).await["tokens"]["used"].as_u64().unwrap();

    // A whole answer: the reservation (prompt + 1000) is settled to the
    // provider's usage.
    let r = request(&client(), "POST", &url, &chat_body(1000, false, false), &[("x-user", "whole")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reported = r.json()["usage"]["total_tokens"].as_u64().unwrap();
    let remaining: u64 = r.header("x-ratelimit-remaining-tokens").parse().unwrap();
    assert!(1_000_000 - remaining >= 1000, "the reservation held prompt + max_tokens: {remaining}");
    eventually("the settled usage", async || match used("whole").await {
        n if n == reported => Ok(()),
        n => Err(format!("{n} used, the provider reported {reported}")),
    })
    .await;

    // A streamed answer with its usage chunk.
    let s = stream(&url, &chat_body(1000, true, true), &[("x-user", "streamed")]).await;
    let last_usage = s
        .data()
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|v| v["usage"]["total_tokens"].as_u64())
        .expect("a usage chunk");
    eventually("the streamed usage", async || match used("streamed").await {
        n if n == last_usage => Ok(()),
        n => Err(format!("{n} used, the stream reported {last_usage}")),
    })
    .await;

    // A stream cut short after two events, before any usage: charged its
    // prompt and what it delivered, far less than the 1000 reserved.
    let s = stream(&url, &chat_body(1000, true, true), &[("x-user", "cut"), ("x-mock-disconnect-after", "2")]).await;
    let delivered: usize = s
        .data()
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::len))
        .sum();
    assert!(delivered > 0, "{}", s.text());
    eventually("the cut-short charge", async || match used("cut").await {
        n if n >= delivered.div_ceil(4) as u64 && n < 1000 => Ok(()),
        n => Err(format!("{n} charged for {delivered} bytes delivered")),
    })
    .await;
}

fn daily(requests: u32) -> String {
    format!(
        r#"gateway {{
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}}
provider m {{ type mock }}
limit daily {{
  by       request.header["x-user"]
  requests {requests} per day
}}
route chat {{
  match POST "/v1/chat/completions"
  use   daily
  to    m
}}
"#
    )
}

/// The requests of `user` the store under `dir` holds for today.
fn stored(dir: &Path, user: &str) -> Option<i64> {
    let db = rusqlite::Connection::open(dir.join("state/usage.db")).ok()?;
    db.query_row("SELECT used FROM quota WHERE limit_name = 'daily' AND key = ?1", [user], |r| r.get(0)).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_quotas_survive_a_stop_and_a_kill_and_restart_when_changed() {
    let dir = TempDir::new("quotas");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, daily(3)).unwrap();
    let mut gw = Gateway::start_in(dir, path.clone(), &[]);
    let send = async |gw: &Gateway, user: &str| {
        request(&client(), "POST", &format!("{}/v1/chat/completions", gw.url), &chat("m", false), &[("x-user", user)])
            .await
    };
    for _ in 0..3 {
        assert_eq!(send(&gw, "ann").await.status, 200);
    }
    assert_eq!(send(&gw, "ann").await.status, 429);
    for _ in 0..2 {
        assert_eq!(send(&gw, "bob").await.status, 200);
    }

    // A graceful stop writes the last counts.
    gw.terminate();
    assert!(gw.wait_exit(Duration::from_secs(10)).is_some());
    let dir = std::mem::replace(&mut gw.dir, TempDir(std::path::PathBuf::new()));
    drop(gw);
    assert_eq!(stored(dir.path(), "ann"), Some(3));
    let mut gw = Gateway::start_in(dir, path.clone(), &[]);
    let r = send(&gw, "ann").await;
    assert_eq!(r.status, 429, "the quota survived the restart: {}", r.text());
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry), "until the UTC day ends: {retry}");
    assert_eq!(send(&gw, "bob").await.status, 200);

    // kill -9 once the writer (every second) has the count: nothing lost.
    let dir_path = gw.dir.path().to_path_buf();
    eventually("bob's count in the store", async || match stored(&dir_path, "bob") {
        Some(3) => Ok(()),
        n => Err(format!("{n:?}")),
    })
    .await;
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    let dir = std::mem::replace(&mut gw.dir, TempDir(std::path::PathBuf::new()));
    drop(gw);
    let gw = Gateway::start_in(dir, path.clone(), &[]);
    assert_eq!(send(&gw, "bob").await.status, 429, "bob's quota survived kill -9");

    // A changed definition starts afresh.
    std::fs::write(&path, daily(5)).unwrap();
    let admin = gw.admin.clone().unwrap();
    eventually("the reload", async || {
        let m = get(&format!("{admin}/metrics")).await.text();
        if m.contains("hapax_reloads_total{result=\"ok\"} 1") {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await;
    let r = send(&gw, "ann").await;
    assert_eq!((r.status, r.header("x-ratelimit-remaining-requests")), (200, "4"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_reset_and_extend_quotas_and_keys_are_notified_once_per_window() {
    let (hook, posts, calls) = webhook().await;
    let dir = TempDir::new("quota-admin");
    let path = dir.path().join("policy.hapax");
    std::fs::write(
        &path,
        format!(
            r#"gateway {{
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}}
auth {{ api_keys store }}
audit {{ sink file "audit.jsonl" }}
provider m {{ type mock }}
limit per_client {{
  by       client.id
  requests 2 per 1m
  tokens   50k per day
  notify   webhook "http://127.0.0.1:{hook}/hook" at 50%
}}
route chat {{
  match POST "/v1/chat/completions"
  use   per_client
  to    m
}}
"#
        ),
    )
    .unwrap();
    let alice = key(&path, &["--client", "alice/ops"]);
    let root = key(&path, &["--client", "root", "--roles", "admin"]);
    let gw = Gateway::start_in(dir, path.clone(), &[]);
    let admin = gw.admin.clone().unwrap();
    let bearer = format!("Bearer {root}");
    let auth: &[(&str, &str)] = &[("authorization", &bearer)];
    let url = format!("{}/v1/chat/completions", gw.url);
    let send = async || request(&client(), "POST", &url, &chat("m", false), &[("x-api-key", &alice)]).await.status;
    // The key has a slash: percent-encoded in the path.
    let alice_url = format!("{admin}/admin/api/limits/per_client/keys/alice%2Fops");

    assert_eq!((send().await, send().await, send().await), (200, 200, 429));
    let u = usage(&admin, "per_client", "alice%2Fops", auth).await;
    assert_eq!(
        (u["key"].as_str(), u["requests"]["used"].as_u64(), u["requests"]["remaining"].as_u64()),
        (Some("alice/ops"), Some(2), Some(0)),
        "{u}"
    );
    assert!(u["tokens"]["used"].as_u64().unwrap() > 0, "{u}");
    let list = request(&client(), "GET", &format!("{admin}/admin/api/limits"), "", auth).await.json();
    assert_eq!(list["data"][0]["name"], "per_client", "{list}");
    assert_eq!(list["data"][0]["keys"], 1, "{list}");
    assert_eq!(list["data"][0]["requests"]["per"], "1m", "{list}");

    // A one-off extra request, then the limit holds again.
    let r = request(&client(), "POST", &format!("{alice_url}/allowance"), r#"{"requests": 1}"#, auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json()["requests"]["limit"].as_u64(), r.json()["requests"]["extra"].as_u64()), (Some(3), Some(1)));
    assert_eq!((send().await, send().await), (200, 429));
    // A reset gives the window back.
    let r = request(&client(), "DELETE", &alice_url, "", auth).await;
    assert_eq!((r.status, r.json()["reset"].as_bool()), (200, Some(true)), "{}", r.text());
    // (The extra allowance stands until its window ends: 3 in all.)
    assert_eq!((send().await, send().await), (200, 200));

    // Hostile or wrong input: clear errors, nothing changes.
    for (method, url, body, status) in [
        ("POST", format!("{alice_url}/allowance"), "{\"requests\": -1}", 400),
        ("POST", format!("{alice_url}/allowance"), "not json", 400),
        ("POST", format!("{alice_url}/allowance"), "{}", 400),
        ("GET", format!("{admin}/admin/api/limits/nope"), "", 404),
        ("GET", format!("{admin}/admin/api/limits/per_client/keys/%FF"), "", 400),
        ("GET", format!("{admin}/admin/api/limits/per_client/usage?since=yesterday"), "", 400),
        ("GET", format!("{admin}/admin/api/limits/per_client/usage?per=week"), "", 400),
        ("GET", format!("{admin}/admin/api/limits/per_client/usage?drop=1"), "", 400),
    ] {
        let r = request(&client(), method, &url, body, auth).await;
        assert_eq!(r.status, status, "{method} {url}: {}", r.text());
    }
    // A client without the admin role may not look.
    let r = request(&client(), "GET", &format!("{admin}/admin/api/limits"), "", &[("x-api-key", &alice)]).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(usage(&admin, "per_client", "alice%2Fops", auth).await["requests"]["used"], 2);

    // The hour's analytics: 5 admitted, 2 refused.
    let r = request(&client(), "GET", &format!("{admin}/admin/api/limits/per_client/usage?per=hour"), "", auth).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = r.json()["data"].as_array().unwrap().clone();
    let row = rows.iter().find(|r| r["key"] == "alice/ops").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!((row["requests"].as_u64(), row["refused"].as_u64()), (Some(5), Some(2)), "{row}");
    assert!(row["tokens"].as_u64().unwrap() > 0);
    let day = request(
        &client(),
        "GET",
        &format!("{admin}/admin/api/limits/per_client/usage?per=day&key=alice%2Fops"),
        "",
        auth,
    )
    .await
    .json();
    assert_eq!(day["data"][0]["requests"], 5, "{day}");
    // And in the metrics, under the key's own label.
    let needle = "hapax_limit_requests_total{key=\"alice/ops\",limit=\"per_client\",result=\"admitted\"} 5";
    admin_metrics_with(&admin, auth, needle).await;

    // `hapax limits show` reads the same.
    let out = Command::new(hapax_bin())
        .args(["limits", "show", "--admin", &admin, "--key", &root])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("limit per_client: requests 2 per 1m, tokens 50000 per day; 1 key(s) with usage"), "{text}");
    assert!(text.contains("alice/ops  2/3 +1 (1 left"), "{text}");
    let out = Command::new(hapax_bin())
        .args(["limits", "show", "--admin", &admin, "--key", "wrong"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"), "{}", String::from_utf8_lossy(&out.stderr));

    // Notified at 50%: once in the first window (the first delivery failed
    // and was retried with the same idempotency key), once more after the
    // reset.
    eventually("the notifications", async || {
        let got = posts.lock().unwrap().clone();
        if got.len() >= 2 {
            Ok(got)
        } else {
            Err(format!("{got:?}"))
        }
    })
    .await;
    let got = posts.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(*calls.lock().unwrap(), 3, "one retry after the 500");
    assert_ne!(got[0].0, got[1].0, "two events, two idempotency keys");
    // (The retried first event may arrive after the second.)
    let mut events: Vec<Value> = got.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    events.sort_by_key(|e| e["used"].as_u64());
    let shape = |e: &Value| {
        let f = |k: &str| e[k].clone();
        (f("type"), f("limit"), f("key"), f("dimension"), f("threshold_percent"), f("used"), f("allowed"))
    };
    let v = |s: &str| Value::from(s);
    assert_eq!(
        shape(&events[0]),
        (v("limit.threshold"), v("per_client"), v("alice/ops"), v("requests"), 50.into(), 1.into(), 2.into())
    );
    assert_eq!(
        shape(&events[1]),
        (v("limit.threshold"), v("per_client"), v("alice/ops"), v("requests"), 50.into(), 2.into(), 3.into()),
        "after the reset, with the extra allowance"
    );
    admin_metrics_with(&admin, auth, "hapax_limit_notifications_total{limit=\"per_client\",result=\"sent\"} 2").await;
    // And audited.
    let audit_path = gw.dir.path().join("audit.jsonl");
    eventually("the audited crossing", async || {
        let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
        let limits = text.lines().filter(|l| l.contains("\"kind\":\"limit\"")).count();
        if limits == 2 {
            Ok(())
        } else {
            Err(format!("{limits} limit events"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_signals_its_limit_is_paced_and_let_go_when_it_recovers() {
    let up = mock_upstream().await;
    // The provider takes 20 requests a second; more get its 429.
    up.set_knobs(hapax_mock_upstream::Knobs { rate_limit: Some(20), ..Default::default() });
    let gw = Gateway::start(&format!(
        r#"{GATEWAY}
provider up {{ type openai_compatible; base_url "{}/v1" }}
route chat {{
  match POST "/v1/chat/completions"
  to    up
}}
"#,
        up.url("")
    ));
    let admin = gw.admin.clone().unwrap();
    let url = format!("{}/v1/chat/completions", gw.url);
    // Three seconds of 16 clients sending as fast as they can.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let u = url.clone();
            tokio::spawn(async move {
                let (mut ok, mut paced) = (0u32, 0u32);
                while std::time::Instant::now() < until {
                    let r = request(&client(), "POST", &u, &chat("m", false), &[]).await;
                    match r.status {
                        200 => ok += 1,
                        429 => {
                            paced += 1;
                            assert!(!r.header("retry-after").is_empty(), "{}", r.text());
                        }
                        s => panic!("{s}: {}", r.text()),
                    }
                }
                (ok, paced)
            })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (o, p) = t.await.unwrap();
        ok += o;
        refused += p;
    }
    let m = metrics_with(&admin, "hapax_provider_rate_limit{provider=\"up\"}").await;
    let rate: f64 = m
        .lines()
        .find(|l| l.starts_with("hapax_provider_rate_limit{provider=\"up\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    eprintln!(
        "pacing: {ok} answered, {refused} refused to clients, {} of {} refused upstream, held at {rate}/s",
        up.stats().rate_limited,
        up.stats().requests
    );
    assert!(rate <= 40.0, "held to about what the provider takes (20/s): {rate}");
    let upstream_429 = up.stats().rate_limited;
    let sent = up.stats().requests;
    assert!(upstream_429 < sent / 2, "pacing kept most requests within the provider's limit: {upstream_429} of {sent} refused upstream ({ok} ok, {refused} refused to clients)");
    // Quiet traffic well under the limit: the rate climbs back and the
    // pacing is lifted.
    eventually("the pacing lifted", async || {
        let r = request(&client(), "POST", &url, &chat("m", false), &[]).await;
        let m = get(&format!("{admin}/metrics")).await.text();
        if r.status == 200 && !m.contains("hapax_provider_rate_limit{") {
            Ok(())
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err(m.lines().filter(|l| l.contains("rate_limit")).collect::<Vec<_>>().join("\n"))
        }
    })
    .await;
}
