//! Cedar authorization against the real binary: a matrix of clients (by
//! team, role and inherited role) × routes × models, denial by default, a
//! context condition on a header, a forbidden stream, a fallback the
//! caller may not use, the admin listener's Cedar actions, and a reload
//! that changes the Cedar file (a broken one keeps the running policies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::path::Path;
use std::process::Command;
use support::*;

const POLICY: &str = r#"gateway {
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}
auth { api_keys store }
authz {
  cedar   "rbac.cedar"
  default deny
  role    "lead" inherits ["researcher"]
  headers ["x-project"]
}
provider openai { type mock }
provider claude { type mock }
provider broken { type mock; mode error }
route chat {
  match POST "/v1/chat/completions"
  when  request.model matches "gpt-*"
  to    openai
}
route reason {
  match POST "/v1/chat/completions"
  when  request.model == "o1"
  to    openai model "o1"
}
route fb {
  match    POST "/v1/chat/completions"
  when     request.model == "fb"
  to       broken model "fb"
  fallback [claude model "claude-x", openai model "gpt-4o"]
}
route other {
  match POST "/v1/*"
  to    claude model "claude-x"
}
"#;

const CEDAR: &str = r#"
// Team research may use the gpt-* route, but not o1 (unless a researcher).
@id("research-chat")
permit (principal in Hapax::Team::"research", action == Hapax::Action::"call", resource in Hapax::Route::"chat");

@id("researchers-everything")
permit (principal in Hapax::Role::"researcher", action == Hapax::Action::"call", resource);

@id("no-o1-for-research")
forbid (principal in Hapax::Team::"research", action, resource == Hapax::Model::"o1")
unless { principal in Hapax::Role::"researcher" };

// Anyone, on route `other`, for project apollo only.
@id("apollo")
permit (principal, action == Hapax::Action::"call", resource in Hapax::Route::"other")
when { context.headers has "x-project" && context.headers["x-project"] == "apollo" };

@id("interns-do-not-stream")
forbid (principal in Hapax::Role::"intern", action == Hapax::Action::"stream", resource);

// The fallback route, but never its claude arm.
@id("fallback")
permit (principal, action == Hapax::Action::"call", resource in Hapax::Route::"fb")
unless { resource == Hapax::Model::"claude-x" };

@id("ops-read-keys")
permit (principal in Hapax::Role::"ops", action == Hapax::Action::"admin_read", resource == Hapax::Admin::"keys");

@id("ops-manage-keys")
permit (principal in Hapax::Role::"ops", action == Hapax::Action::"keys_manage", resource == Hapax::Admin::"keys");
"#;

/// One cell of the matrix: who, their key, the model, extra headers, the status.
type Cell<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], u16);

/// `hapax keys create ARGS POLICY`: the new key.
fn key(policy: &Path, args: &[&str]) -> String {
    let out = Command::new(hapax_bin()).args(["keys", "create"]).args(args).arg(policy).output().expect("hapax keys");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").to_string()
}

async fn chat_as(url: &str, key: &str, model: &str, extra: &[(&str, &str)]) -> Resp {
    let mut headers = vec![("x-api-key", key)];
    headers.extend_from_slice(extra);
    request(&client(), "POST", &format!("{url}/v1/chat/completions"), &chat(model, false), &headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cedar_decides_every_request_by_client_route_model_and_context() {
    let dir = TempDir::new("authz");
    let policy = dir.path().join("policy.hapax");
    std::fs::write(&policy, POLICY).unwrap();
    std::fs::write(dir.path().join("rbac.cedar"), CEDAR).unwrap();
    let alice = key(&policy, &["--client", "alice", "--team", "research"]);
    let bob = key(&policy, &["--client", "bob", "--roles", "lead"]);
    let carol = key(&policy, &["--client", "carol", "--team", "research", "--roles", "intern"]);
    let dave = key(&policy, &["--client", "dave"]);
    let ops = key(&policy, &["--client", "olga", "--roles", "ops"]);
    let root = key(&policy, &["--client", "root", "--roles", "admin"]);
    let gw = Gateway::start_in(dir, policy.clone(), &[]);
    let url = gw.url.clone();

    // The matrix: (who, model, extra headers) -> status.
    let apollo = [("x-project", "apollo")];
    let zeus = [("x-project", "zeus")];
    let cells: Vec<Cell> = vec![
        // alice: team research, no role.
        ("alice", &alice, "gpt-4o", &[], 200),
        ("alice", &alice, "o1", &[], 403),
        ("alice", &alice, "claude-x", &[], 403),
        ("alice", &alice, "claude-x", &apollo, 200),
        // bob: lead, which inherits researcher: everything.
        ("bob", &bob, "gpt-4o", &[], 200),
        ("bob", &bob, "o1", &[], 200),
        ("bob", &bob, "claude-x", &[], 200),
        // carol: research and intern: chat, not o1.
        ("carol", &carol, "gpt-4o", &[], 200),
        ("carol", &carol, "o1", &[], 403),
        // dave: nothing but the context condition (denied by default).
        ("dave", &dave, "gpt-4o", &[], 403),
        ("dave", &dave, "o1", &[], 403),
        ("dave", &dave, "claude-x", &apollo, 200),
        ("dave", &dave, "claude-x", &zeus, 403),
        // A forged identity header changes nothing.
        ("dave", &dave, "gpt-4o", &[("x-hapax-client", "bob")], 403),
    ];
    let mut wrong = Vec::new();
    for (who, k, model, extra, want) in &cells {
        let r = chat_as(&url, k, model, extra).await;
        if r.status != *want {
            wrong.push(format!("{who} {model} {extra:?}: want {want}, got {} {}", r.status, r.text()));
        }
        if r.status == 403 {
            // The client's format, and no policy internals.
            assert_eq!(r.json()["error"]["type"], "permission_error", "{}", r.text());
            let text = r.text();
            assert!(!text.contains("no-o1") && !text.contains("policy") && !text.contains("Hapax::"), "{text}");
        }
    }
    assert!(wrong.is_empty(), "cells with the wrong status:\n{}", wrong.join("\n"));

    // On the Anthropic API a denial is Anthropic-shaped.
    let r = request(
        &client(),
        "POST",
        &format!("{url}/v1/messages"),
        &messages("claude-x", false),
        &[("x-api-key", &dave)],
    )
    .await;
    assert_eq!((r.status, r.json()["type"].as_str()), (403, Some("error")), "{}", r.text());

    // No credential is still 401, before authorization.
    assert_eq!(
        request(&client(), "POST", &format!("{url}/v1/chat/completions"), &chat("gpt-4o", false), &[]).await.status,
        401
    );

    // A stream is a call, and a policy may forbid streaming.
    let s = stream(&format!("{url}/v1/chat/completions"), &chat("gpt-4o", true), &[("x-api-key", &alice)]).await;
    assert_eq!(s.status, 200, "{}", s.text());
    let s = stream(&format!("{url}/v1/chat/completions"), &chat("gpt-4o", true), &[("x-api-key", &carol)]).await;
    assert_eq!(s.status, 403, "{}", s.text());

    // The fallback chain skips the target the caller may not use.
    let r = chat_as(&url, &dave, "fb", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-hapax-target"), "openai/gpt-4o");

    // The admin listener: the built-in policy lets `admin` in; `ops` may
    // read keys but not make them; others get 403.
    let admin = gw.admin.clone().unwrap();
    let keys_url = format!("{admin}/admin/api/keys");
    let as_ = |k: &str| format!("Bearer {k}");
    let get_keys = |k: String| {
        let u = keys_url.clone();
        async move { request(&client(), "GET", &u, "", &[("authorization", &k)]).await.status }
    };
    assert_eq!(get_keys(as_(&root)).await, 200);
    assert_eq!(get_keys(as_(&ops)).await, 200);
    assert_eq!(get_keys(as_(&bob)).await, 403);
    let post = |k: String| {
        let u = keys_url.clone();
        async move { request(&client(), "POST", &u, r#"{"client":"x"}"#, &[("authorization", &k)]).await.status }
    };
    assert_eq!(post(as_(&root)).await, 201);
    // `keys_manage` may not mint a role its holder lacks (an admin key).
    let make = |k: String, roles: &'static str| {
        let u = keys_url.clone();
        async move {
            let body = format!(r#"{{"client":"x","roles":{roles}}}"#);
            request(&client(), "POST", &u, &body, &[("authorization", &k)]).await.status
        }
    };
    assert_eq!(make(as_(&ops), r#"["admin"]"#).await, 403);
    assert_eq!(make(as_(&ops), r#"["ops"]"#).await, 201);
    assert_eq!(make(as_(&bob), r#"[]"#).await, 403);
    // Nor rotate the admin's key into one it holds.
    let root_id = &root[4..16];
    let rot =
        request(&client(), "POST", &format!("{keys_url}/{root_id}/rotate"), "", &[("authorization", &as_(&ops))]).await;
    assert_eq!(rot.status, 403, "{}", rot.text());
    let metrics = request(&client(), "GET", &format!("{admin}/metrics"), "", &[("authorization", &as_(&ops))]).await;
    assert_eq!(metrics.status, 403);

    // A reload recompiles the Cedar file: dave may now use `chat`.
    let cedar = gw.policy.parent().unwrap().join("rbac.cedar");
    std::fs::write(
        &cedar,
        format!("{CEDAR}\n@id(\"dave\") permit (principal == Hapax::Client::\"dave\", action == Hapax::Action::\"call\", resource in Hapax::Route::\"chat\");\n"),
    )
    .unwrap();
    eventually("dave allowed after the reload", async || {
        let r = chat_as(&url, &dave, "gpt-4o", &[]).await;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    })
    .await;
    // A Cedar file with an error is refused: the running policies stay.
    std::fs::write(&cedar, "permit (principal, action, resource) when { 1 + };").unwrap();
    let root_bearer = as_(&root);
    eventually("the broken Cedar file refused", async || {
        let m = request(&client(), "GET", &format!("{admin}/metrics"), "", &[("authorization", &root_bearer)]).await;
        let refused = m.text().contains("hapax_reloads_total{result=\"failed\"} 1");
        if refused && gw.stderr().contains("E0801") {
            Ok(())
        } else {
            Err("no refused reload yet".to_string())
        }
    })
    .await;
    assert_eq!(chat_as(&url, &dave, "gpt-4o", &[]).await.status, 200);
    assert_eq!(chat_as(&url, &dave, "o1", &[]).await.status, 403);
}
