//! The audit log against the real binary: every decision, authentication
//! failure, admin action, key change and reload is an event; a known secret
//! and prompt appear in no log or audit file; the file rotates by size and
//! the chain verifies across the rotated files, and `hapax audit verify`
//! catches an edited, a deleted and a swapped line; search and the live
//! tail in the admin API; a webhook that fails first gets every line once
//! it recovers, batches carrying idempotency keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use http_body_util::BodyExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

const CEDAR: &str = r#"
@id("alice-chats")
permit (principal == Hapax::Client::"alice", action == Hapax::Action::"call", resource);
"#;

fn policy(webhook: u16) -> String {
    format!(
        r#"gateway {{
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}}
auth  {{ api_keys store }}
authz {{ cedar "rbac.cedar"; default deny }}
audit {{
  sink   file "logs/audit.jsonl" {{ rotate daily; keep 30d; max_size 4KiB }}
  sink   webhook "http://127.0.0.1:{webhook}/audit"
  redact [request.body.messages, request.header["x-user"]]
  log_prompts on
}}
provider m {{ type mock }}
route chat {{
  match POST "/v1/*"
  to    m
}}
"#
    )
}

const SECRET_PROMPT: &str = "the launch code is 0451-tangerine";
const SECRET_USER: &str = "night-owl@example.com";

fn key(policy: &Path, args: &[&str]) -> String {
    let out = Command::new(hapax_bin()).args(["keys", "create"]).args(args).arg(policy).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string()
}

/// The audit files, oldest first: the rotated ones, then the active one.
fn audit_files(dir: &Path) -> Vec<PathBuf> {
    let logs = dir.join("logs");
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(&logs)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("audit-"))
        .collect();
    rotated.sort();
    rotated.push(logs.join("audit.jsonl"));
    rotated
}

fn events(files: &[PathBuf]) -> Vec<Value> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn verify(files: &[PathBuf]) -> (Option<i32>, String) {
    let out = Command::new(hapax_bin()).args(["audit", "verify"]).args(files).output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

async fn admin_get(url: &str, bearer: &str) -> Resp {
    request(&client(), "GET", url, "", &[("authorization", bearer)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_audited_redacted_chained_searchable_and_delivered() {
    let (port, batches, calls) = webhook().await;
    let dir = TempDir::new("audit");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy(port)).unwrap();
    std::fs::write(dir.path().join("rbac.cedar"), CEDAR).unwrap();
    let alice = key(&path, &["--client", "alice"]);
    let bob = key(&path, &["--client", "bob"]);
    let root = key(&path, &["--client", "root", "--roles", "admin"]);
    let mut gw = Gateway::start_in(dir, path.clone(), &[]);
    let (url, admin) = (gw.url.clone(), gw.admin.clone().unwrap());
    let root_bearer = format!("Bearer {root}");

    // The live tail, filtered to alice, before anything happens.
    let tail = {
        let u = format!("{admin}/admin/api/audit/stream?client=alice");
        let b = root_bearer.clone();
        tokio::spawn(async move {
            let resp = send(&client(), "GET", &u, "", &[("authorization", &b)]).await;
            assert_eq!(resp.status(), 200);
            let mut body = resp.into_body();
            let mut seen = String::new();
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(20), body.frame()).await {
                if let Ok(d) = frame.into_data() {
                    seen.push_str(&String::from_utf8_lossy(&d));
                    if seen.contains("\"client\":\"alice\"") {
                        break;
                    }
                }
            }
            seen
        })
    };
    // Alice, with a secret prompt and a header to redact, and her key; sent
    // until the tail (which subscribes when its request is served) sees her.
    let body = serde_json::json!({
        "model": "m",
        "messages": [{ "role": "user", "content": SECRET_PROMPT }]
    })
    .to_string();
    let chat_url = format!("{url}/v1/chat/completions");
    let alice_bearer = format!("Bearer {alice}");
    let mut sent = 0;
    while !tail.is_finished() {
        assert!(sent < 200, "the tail never saw alice");
        let r =
            request(&client(), "POST", &chat_url, &body, &[("authorization", &alice_bearer), ("x-user", SECRET_USER)])
                .await;
        assert_eq!(r.status, 200, "{}", r.text());
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = tail.await.unwrap();
    assert!(seen.contains("data: {") && seen.contains("\"decision\":\"allow\""), "{seen}");
    assert!(!seen.contains(SECRET_PROMPT) && !seen.contains(SECRET_USER), "{seen}");

    // The attacks: each refused and audited.
    let wrong = format!("{}{}", &alice[..17], "A".repeat(alice.len() - 17));
    let attacks: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 401),
        (vec![("authorization", "Bearer garbage".into())], 401),
        (vec![("authorization", format!("Bearer {wrong}"))], 401),
        (vec![("x-api-key", "hpx_000000000000_nope".into())], 401),
        (vec![("authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into())], 401),
        (vec![("x-api-key", bob.clone()), ("x-hapax-client", "alice".into())], 403),
    ];
    for (headers, want) in &attacks {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = request(&client(), "POST", &chat_url, &chat("m", false), &h).await;
        assert_eq!(r.status, *want, "{headers:?}: {}", r.text());
    }
    // Over raw HTTP/1 with the header names as a client may write them: a
    // capitalized key header and a header to redact, and a user agent cut
    // in the middle of a character after a wrong key.
    let addr = url.trim_start_matches("http://").to_string();
    let raw = |head: String| {
        let addr = addr.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).into_owned()
        }
    };
    let req = |headers: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let answer =
        raw(req(&format!("X-Api-Key: {alice}\r\nX-User: {SECRET_USER}\r\nAuthorization: Bearer {alice}\r\n"))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let ua = format!("{}\u{e9}", "A".repeat(255));
    let answer = raw(req(&format!("X-Api-Key: {wrong}\r\nUser-Agent: {ua}\r\n"))).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // The admin listener: none, a non-admin, an admin creating a key.
    assert_eq!(request(&client(), "GET", &format!("{admin}/admin/api/keys"), "", &[]).await.status, 401);
    assert_eq!(admin_get(&format!("{admin}/admin/api/keys"), &format!("Bearer {bob}")).await.status, 403);
    let made = request(
        &client(),
        "POST",
        &format!("{admin}/admin/api/keys"),
        r#"{"client":"carol"}"#,
        &[("authorization", &root_bearer)],
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let carol = made.json()["key"].as_str().unwrap().to_string();
    // The key works (Cedar refuses carol, so 403) once the table saw it.
    eventually("carol's key live", async || {
        let r = request(&client(), "POST", &chat_url, &chat("m", false), &[("x-api-key", &carol)]).await;
        if r.status == 403 {
            Ok(())
        } else {
            Err(format!("{}", r.status))
        }
    })
    .await;
    // A reload.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("# touched\n");
    std::fs::write(&path, text).unwrap();
    // Enough traffic to rotate the 4 KiB file a few times.
    for _ in 0..30 {
        let r = request(&client(), "POST", &chat_url, &body, &[("x-api-key", &alice)]).await;
        assert_eq!(r.status, 200);
    }

    // Search: the denials, newest first, each with its reason.
    let found = eventually("the denials searchable", async || {
        let r = admin_get(&format!("{admin}/admin/api/audit?decision=deny&limit=50"), &root_bearer).await;
        let data = r.json()["data"].as_array().cloned().unwrap_or_default();
        let kinds: Vec<&str> = data.iter().filter_map(|e| e["kind"].as_str()).collect();
        let reload = admin_get(&format!("{admin}/admin/api/audit?kind=reload"), &root_bearer).await;
        let reloaded = reload.json()["data"].as_array().is_some_and(|d| !d.is_empty());
        if kinds.iter().filter(|k| **k == "auth").count() >= 6
            && kinds.contains(&"request")
            && kinds.contains(&"admin")
            && reloaded
        {
            Ok(data)
        } else {
            Err(format!("{kinds:?} reloaded={reloaded}"))
        }
    })
    .await;
    let bob_denied = found.iter().find(|e| e["kind"] == "request" && e["client"] == "bob").unwrap();
    assert_eq!(bob_denied["status"].as_u64(), Some(403), "{bob_denied}");
    assert_eq!((bob_denied["provider"].as_str(), bob_denied["model"].as_str()), (Some("m"), Some("m")), "{bob_denied}");
    let ts: Vec<&str> = found.iter().filter_map(|e| e["ts"].as_str()).collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first: {ts:?}");
    assert_eq!(admin_get(&format!("{admin}/admin/api/audit?decision=perhaps"), &root_bearer).await.status, 400);
    assert_eq!(admin_get(&format!("{admin}/admin/api/audit"), &format!("Bearer {alice}")).await.status, 403);

    // Stop: everything is written and the chain verifies across rotations.
    gw.terminate();
    assert!(gw.wait_exit(Duration::from_secs(20)).is_some_and(|s| s.success()));
    let files = audit_files(gw.dir.path());
    assert!(files.len() >= 3, "the 4 KiB file rotated: {files:?}");
    let all = events(&files);
    let (code, out) = verify(&files);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("ok: {} events", all.len())) && out.contains("from the start"), "{out}");
    // Versioned, stamped, sequential.
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["v"], 1);
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{e}");
        assert!(e["ts"].as_str().unwrap().ends_with('Z'));
    }
    let kinds: std::collections::HashSet<&str> = all.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in ["start", "request", "auth", "admin", "key", "reload", "stop"] {
        assert!(kinds.contains(k), "no `{k}` event in {kinds:?}");
    }
    let allowed = all.iter().find(|e| e["kind"] == "request" && e["client"] == "alice").unwrap();
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["policies"], serde_json::json!(["alice-chats"]));
    assert_eq!(allowed["request"]["body"]["messages"], "[redacted]", "{allowed}");
    assert!(allowed["request"]["headers"]["x-user"].as_str().unwrap().starts_with("sha256:"));
    assert!(allowed["request"]["headers"].get("authorization").is_none());
    // The request sent with capitalized names: no key, the user hashed.
    let capital = all.iter().find(|e| e["kind"] == "request" && e["request"]["headers"]["host"] == "x").unwrap();
    assert!(capital["request"]["headers"]["x-user"].as_str().unwrap().starts_with("sha256:"), "{capital}");
    assert!(capital["request"]["headers"].get("x-api-key").is_none(), "{capital}");
    // The cut user agent is in its auth event, whole characters only.
    assert!(all.iter().any(|e| e["kind"] == "auth" && e["user_agent"] == "A".repeat(255)));
    assert!(all.iter().any(|e| e["kind"] == "key" && e["action"] == "key_added" && e["client"] == "carol"));

    // Redaction: the secrets are in no file the gateway wrote.
    let mut written = files.clone();
    written.push(gw.dir.path().join("stderr.log"));
    for f in &written {
        let text = std::fs::read_to_string(f).unwrap();
        for secret in [SECRET_PROMPT, SECRET_USER, &alice, &bob, &root, &carol, &alice[17..]] {
            assert!(!text.contains(secret), "{} contains a secret", f.display());
        }
    }

    // The webhook failed its first batch, then took every line once.
    let lines = eventually("the webhook caught up", async || {
        let got = batches.lock().unwrap().clone();
        let mut keys = std::collections::HashSet::new();
        let lines: Vec<String> = got
            .iter()
            .filter(|(k, _)| keys.insert(k.clone()))
            .flat_map(|(_, b)| b.lines().map(str::to_string).collect::<Vec<_>>())
            .collect();
        if lines.len() >= all.len() {
            Ok(lines)
        } else {
            Err(format!("{} of {}", lines.len(), all.len()))
        }
    })
    .await;
    assert!(*calls.lock().unwrap() >= 2, "a retry followed the 500");
    let first_file_line = std::fs::read_to_string(&files[0]).unwrap().lines().next().unwrap().to_string();
    assert_eq!(lines[0], first_file_line, "the retried batch came first, unchanged");

    // Tampering: an edited, a deleted and a swapped line are each named.
    let target = files.iter().max_by_key(|f| std::fs::read_to_string(f).unwrap().lines().count()).unwrap().clone();
    let name = target.file_name().unwrap().to_string_lossy().into_owned();
    let original = std::fs::read_to_string(&target).unwrap();
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    assert!(lines.len() >= 4);
    let check = |lines: &[String], want: usize| {
        std::fs::write(&target, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let (code, out) = verify(&files);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains(&format!("first bad line: {want}")) && out.contains(&format!("{name}:{want}:")),
            "want line {want}: {out}"
        );
    };
    let mut edited = lines.clone();
    edited[1] = edited[1].replacen("\"v\":1", "\"v\":2", 1);
    check(&edited, 2);
    let mut deleted = lines.clone();
    deleted.remove(1);
    check(&deleted, 2);
    lines.swap(1, 2);
    check(&lines, 2);
}
