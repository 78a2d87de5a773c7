//! Rate limits against the real binary: a request limit per client answers
//! 429 with a computed Retry-After and the rate-limit headers in each API's
//! names; keys are counted apart; a token limit holds under 200 concurrent
//! requests (no check-then-increment race); a request whose tokens alone
//! exceed the limit is refused without a Retry-After; an unchanged limit
//! keeps its counters across a reload and a changed one starts afresh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

fn policy(requests: u32) -> String {
    format!(
        r#"gateway {{
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}}
auth {{ api_keys store; open ["/metrics"] }}
provider m {{ type mock }}
limit per_client {{
  by       client.id
  requests {requests} per 1m
}}
limit team_tokens {{
  by     client.team
  tokens 20k per 1m
}}
route chat {{
  match POST "/v1/*"
  when  client.team != "crowd"
  use   per_client, team_tokens
  to    m
}}
limit crowd_tokens {{
  by     client.team
  tokens 10k per 1h
}}
provider slow {{ type mock; latency 500ms }}
route crowd {{
  match POST "/v1/*"
  use   crowd_tokens
  to    slow
}}
"#
    )
}

fn key(policy: &Path, args: &[&str]) -> String {
    let out = Command::new(hapax_bin()).args(["keys", "create"]).args(args).arg(policy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string()
}

fn body(max_tokens: u64) -> String {
    serde_json::json!({
        "model": "m",
        "max_tokens": max_tokens,
        "messages": [{ "role": "user", "content": "hi" }]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_with_retry_after_and_headers_and_hold_under_concurrency() {
    let dir = TempDir::new("limits");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy(3)).unwrap();
    let alice = key(&path, &["--client", "alice", "--team", "research"]);
    let bob = key(&path, &["--client", "bob", "--team", "research"]);
    let crowd = key(&path, &["--client", "many", "--team", "crowd"]);
    let gw = Gateway::start_in(dir, path.clone(), &[]);
    let chat_url = format!("{}/v1/chat/completions", gw.url);
    let send = |k: String, max: u64| {
        let u = chat_url.clone();
        async move { request(&client(), "POST", &u, &body(max), &[("x-api-key", &k)]).await }
    };

    // Three requests a minute for alice, each telling her what is left.
    for left in [2, 1, 0] {
        let r = send(alice.clone(), 10).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-requests"), "3");
        assert_eq!(r.header("x-ratelimit-remaining-requests"), left.to_string());
        assert!(r.header("x-ratelimit-reset-requests").ends_with('s'), "{}", r.header("x-ratelimit-reset-requests"));
        assert_eq!(r.header("x-ratelimit-limit-tokens"), "20000");
    }
    let r = send(alice.clone(), 10).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error", "{}", r.text());
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "computed from the window: {retry}");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "0");
    // Anthropic's shape and header names on /v1/messages.
    let m =
        request(&client(), "POST", &format!("{}/v1/messages", gw.url), &messages("m", false), &[("x-api-key", &alice)])
            .await;
    assert_eq!(m.status, 429);
    assert_eq!(
        (m.json()["type"].as_str(), m.json()["error"]["type"].as_str()),
        (Some("error"), Some("rate_limit_error"))
    );
    assert_eq!(m.header("anthropic-ratelimit-requests-limit"), "3");
    assert_eq!(m.header("anthropic-ratelimit-requests-remaining"), "0");
    assert!(m.header("anthropic-ratelimit-requests-reset").ends_with('Z'));
    // Bob is counted apart (by client.id).
    assert_eq!(send(bob.clone(), 10).await.status, 200);

    // A request whose tokens alone exceed the limit: no Retry-After.
    let r = send(bob.clone(), 50_000).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), "");

    // 200 concurrent requests against 10k tokens an hour, each reserving at
    // least its 100 max_tokens while the (slow) provider answers: never
    // more than 100 get through, even though they all arrive together.
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (u, k) = (chat_url.clone(), crowd.clone());
            tokio::spawn(async move { request(&client(), "POST", &u, &body(100), &[("x-api-key", &k)]).await.status })
        })
        .collect();
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("unexpected status {s}"),
        }
    }
    assert!((1..=100).contains(&ok), "{ok} admitted");
    assert_eq!(ok + limited, 200);

    // A reload that leaves the limit unchanged keeps alice's count...
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("# touched\n");
    std::fs::write(&path, &text).unwrap();
    let admin = gw.admin.clone().unwrap();
    reloaded(&admin, 1).await;
    assert_eq!(send(alice.clone(), 10).await.status, 429);
    // ...and a changed one starts afresh.
    std::fs::write(&path, policy(5)).unwrap();
    reloaded(&admin, 2).await;
    let r = send(alice.clone(), 10).await;
    assert_eq!((r.status, r.header("x-ratelimit-limit-requests")), (200, "5"), "{}", r.text());
}

async fn reloaded(admin: &str, n: u32) {
    let want = format!("hapax_reloads_total{{result=\"ok\"}} {n}");
    eventually("the reload", async || {
        let m = get(&format!("{admin}/metrics")).await.text();
        if m.contains(&want) {
            Ok(())
        } else {
            Err(m.lines().filter(|l| l.contains("reloads")).collect::<Vec<_>>().join("\n"))
        }
    })
    .await;
}
