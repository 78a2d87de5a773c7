//! Failing closed: `hapax serve` refuses to start on, and refuses to reload
//! into, a policy that declares something it does not enforce, with one
//! diagnostic per use. Every refused entry of the runtime's list is tried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use hapax_runtime::enforcement;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const PROVIDER: &str = "provider m { type mock; latency 1ms }\n";

fn route(extra: &str) -> String {
    format!("route r {{\n  match POST \"/v1/chat/completions\"\n  to m\n{extra}}}\n")
}

/// A policy that uses the refused declaration `path` (and, where it needs
/// one, what it refers to), otherwise valid.
fn uses(path: &str) -> Option<String> {
    let gateway_with = |listen: &str| format!("gateway {{\n  listen http \"127.0.0.1:0\"\n  {listen}\n}}\n");
    let tls = "cert \"c.pem\"; key \"k.pem\"";
    let body = match path {
        "gateway.listen h3" => gateway_with(&format!("listen h3 \"127.0.0.1:0\" {{ {tls} }}")),
        "gateway.listen.congestion" => {
            gateway_with(&format!("listen https \"127.0.0.1:0\" {{ {tls}; congestion bbr }}"))
        }
        "gateway.listen.zero_rtt" => gateway_with(&format!("listen https \"127.0.0.1:0\" {{ {tls}; zero_rtt on }}")),
        "gateway.listen.max_streams" => {
            gateway_with(&format!("listen https \"127.0.0.1:0\" {{ {tls}; max_streams 9 }}"))
        }
        "route.use" => format!("limit l {{ requests 1 per 1m }}\n{}", route("  use l\n")),
        "route.queue" => format!("queue q {{ capacity 10; concurrency 1 }}\n{}", route("  queue q\n")),
        "route.cache" => format!("cache c {{ key [request.model]; ttl 1m }}\n{}", route("  cache c\n")),
        "route.transform" => format!("script s \"s.rhai\"\n{}", route("  transform request s\n")),
        "route.sla" => format!("sla s {{ availability 99% over 1d }}\n{}", route("  sla s\n")),
        "route.budget" => format!("budget b {{ spend 5 USD per day }}\n{}", route("  budget b\n")),
        "tier" => "tier gold { priority 10 }\n".into(),
        "client" => "client c { team \"t\" }\n".into(),
        "auth" => "auth { api_keys store }\n".into(),
        "auth.jwt" => {
            "auth {\n  jwt { issuer \"https://id.example.com\"; audience \"hapax\"; jwks file(\"jwks.json\") }\n}\n"
                .into()
        }
        "authz" => "authz { cedar \"rbac.cedar\"; default deny }\n".into(),
        "audit" => "audit { sink stdout }\n".into(),
        "limit" => "limit l { requests 1 per 1m }\n".into(),
        "queue" => "queue q { capacity 10 }\n".into(),
        "cache" => "cache c { key [request.model]; ttl 1m }\n".into(),
        "script" => "script s \"s.rhai\"\n".into(),
        "sla" => "sla s { availability 99% over 1d }\n".into(),
        "budget" => "budget b { spend 5 USD per day }\n".into(),
        "price" => "price \"m\" { input 1 USD per 1M; output 1 USD per 1M }\n".into(),
        "cluster" => "cluster { store \"redis://127.0.0.1:1\" }\n".into(),
        _ => return None,
    };
    let gateway = if body.starts_with("gateway") { "" } else { "gateway { listen http \"127.0.0.1:0\" }\n" };
    let route = if body.contains("route r") { String::new() } else { route("") };
    Some(format!("{gateway}{PROVIDER}{body}{route}"))
}

/// The words the diagnostic names for `path`.
fn named(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.to_string()
}

fn folder_with_files(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    for (f, text) in [
        ("c.pem", "cert"),
        ("k.pem", "key"),
        ("s.rhai", "request"),
        ("rbac.cedar", "forbid(principal, action, resource);\n"),
        ("jwks.json", "{\"keys\":[]}"),
    ] {
        std::fs::write(dir.path().join(f), text).expect("write");
    }
    dir
}

fn serve_once(dir: &Path, policy: &str) -> (Option<i32>, String, String) {
    let path = dir.join("policy.hapax");
    std::fs::write(&path, policy).expect("write policy");
    let out = Command::new(hapax_bin())
        .arg("serve")
        .arg(&path)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run hapax serve");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn every_refused_declaration_stops_serve_from_starting() {
    let dir = folder_with_files("refused");
    let refused = enforcement::refused();
    // 20 before `authz` (serve_authz), `audit` (serve_audit), `limit` and
    // `use` (serve_limits) landed.
    assert!(refused.len() >= 15, "the list shrank to {}: each removal needs its feature", refused.len());
    for path in refused {
        let Some(policy) = uses(path) else { panic!("no policy here uses the refused `{path}`: add one to `uses`") };
        let (code, stdout, stderr) = serve_once(dir.path(), &policy);
        assert_eq!(code, Some(1), "`{path}`: serve must exit 1\n{stderr}");
        assert!(!stdout.contains("listening on"), "`{path}`: serve must not listen\n{stdout}");
        let want = format!("`{}` is declared but `hapax serve` does not enforce it yet", named(path));
        let want = want.replace("`h3`", "`listen h3`");
        assert!(stderr.contains("error[E0701]") && stderr.contains(&want), "`{path}`: {want}\n{stderr}");
        assert!(stderr.contains("policy.hapax:"), "`{path}`: the diagnostic names file:line:col\n{stderr}");
        // Nothing else is wrong with the policy: only E0701 errors.
        let errors = stderr.matches("error[").count();
        assert_eq!(errors, stderr.matches("error[E0701]").count(), "`{path}`: {stderr}");
    }
}

/// The case from the issue: an operator declares keys, a deny-all Cedar
/// policy and a limit of one request a minute, and expects protection.
/// Every part of it is enforced now, so serve starts and protects: no key
/// is 401, a valid key is denied by Cedar (403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protected_looking_policy_now_protects() {
    let dir = folder_with_files("issue");
    let policy = format!(
        "gateway {{ listen http \"127.0.0.1:0\"; data_dir \"state\" }}\n{PROVIDER}auth {{ api_keys store }}\nauthz {{ cedar \"rbac.cedar\"; default deny }}\nlimit one {{ requests 1 per 1m }}\n{}",
        route("  use one\n")
    );
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy).expect("write policy");
    let out =
        Command::new(hapax_bin()).args(["keys", "create", "--client", "c"]).arg(&path).output().expect("hapax keys");
    let key = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").to_string();
    let gw = Gateway::start_in(dir, path, &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    assert_eq!(post(&url, &chat("m", false)).await.status, 401);
    for _ in 0..3 {
        let r = request(&client(), "POST", &url, &chat("m", false), &[("x-api-key", &key)]).await;
        assert_eq!(r.status, 403, "{}", r.text());
    }
}

fn reloads(metrics: &str, result: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("hapax_reloads_total{{result=\"{result}\"}} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_brings_in_a_refused_declaration_is_refused() {
    let dir = folder_with_files("reload");
    let policy = |route: &str, extra: &str| {
        format!("{GATEWAY}{PROVIDER}{extra}route {route} {{\n  match POST \"/v1/chat/completions\"\n  to m\n}}\n")
    };
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy("a", "")).expect("write");
    let gw = Gateway::start_in(dir, path.clone(), &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let admin = gw.admin.clone().expect("admin listener");
    assert_eq!(post(&url, &chat("m", false)).await.header("x-hapax-route"), "a");

    // The edit renames the route and adds a queue: refused whole.
    std::fs::write(&path, policy("b", "queue q { capacity 10 }\n")).expect("write");
    let _ = Command::new("kill").args(["-HUP", &gw.child.id().to_string()]).status();
    let m = metrics_with(&admin, "hapax_reloads_total{result=\"failed\"}").await;
    assert!(reloads(&m, "failed") >= 1, "the reload must count as failed:\n{m}");
    assert_eq!(reloads(&m, "ok"), 0, "{m}");
    let r = post(&url, &chat("m", false)).await;
    assert_eq!((r.status, r.header("x-hapax-route")), (200, "a"), "the running policy stays");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.stderr().contains("E0701") {
        assert!(Instant::now() < deadline, "the diagnostics are logged:\n{}", gw.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gw.stderr().contains("`queue` is declared but `hapax serve` does not enforce it yet"), "{}", gw.stderr());

    // Taking it out again reloads.
    std::fs::write(&path, policy("c", "")).expect("write");
    let _ = Command::new("kill").args(["-HUP", &gw.child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while post(&url, &chat("m", false)).await.header("x-hapax-route") != "c" {
        assert!(Instant::now() < deadline, "the clean policy must load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
