//! Identity against the real binary: keys issued by `hapax keys` while the
//! gateway runs take effect at once, and revoked, rotated and expired ones
//! stop; both credential headers on both APIs; 401 in the client's format;
//! open paths; `client.*` from the key and the `client` block, never from a
//! header; the admin listener's credential rules and its keys API; and no
//! body is read before the credential is checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const POLICY: &str = r#"gateway {
  listen   http "127.0.0.1:0"
  admin    "127.0.0.1:0"
  data_dir "state"
}
auth {
  api_keys store
  open     ["/v1/models"]
}
client acme { team "research"; roles ["reader"] }
provider m { type mock }
route research {
  match POST "/v1/*"
  when  client.team == "research"
  to    m
}
route everyone {
  match POST "/v1/*"
  to    m
}
"#;

/// `hapax keys ARGS POLICY`: stdout, and the last line (a new key).
fn keys(policy: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(hapax_bin()).arg("keys").args(args).arg(policy).output().expect("hapax keys");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "hapax keys {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or("").to_string();
    (stdout, last)
}

async fn call(url: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let body = if path == "/v1/messages" { messages("m", false) } else { chat("m", false) };
    request(&client(), "POST", &format!("{url}{path}"), &body, headers).await
}

/// Waits until `path` answers `status` with these headers (a change made
/// by another process shows within a second).
async fn until(url: &str, path: &str, headers: &[(&str, &str)], status: u16) -> Resp {
    until_where(url, path, headers, |r| r.status == status).await
}

async fn until_where(url: &str, path: &str, headers: &[(&str, &str)], done: impl Fn(&Resp) -> bool) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = call(url, path, headers).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "{path} {headers:?}: still {} {}", r.status, r.text());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_the_cli_and_the_admin_api_authenticate_requests() {
    let gw = Gateway::start(POLICY);
    let policy = gw.policy.clone();
    let url = gw.url.clone();
    let admin = gw.admin.clone().unwrap();

    // No credential: 401 in each API's own format.
    let r = call(&url, "/v1/chat/completions", &[]).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = call(&url, "/v1/messages", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        (r.json()["type"].as_str(), r.json()["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error"))
    );
    // An open path needs none.
    assert_eq!(get(&format!("{url}/v1/models")).await.status, 200);

    // A key made by the CLI while serving works at once, with either header
    // on either API; its client's team comes from the `client` block.
    let (listed, key) = keys(&policy, &["create", "--client", "acme", "--roles", "admin"]);
    assert!(key.starts_with("hpx_") && listed.contains("shown once"), "{listed}");
    let bearer = format!("Bearer {key}");
    let r = until(&url, "/v1/chat/completions", &[("authorization", &bearer)], 200).await;
    assert_eq!(r.header("x-hapax-route"), "research");
    assert_eq!(call(&url, "/v1/messages", &[("authorization", &bearer)]).await.status, 200);
    assert_eq!(call(&url, "/v1/chat/completions", &[("x-api-key", &key)]).await.status, 200);
    assert_eq!(call(&url, "/v1/messages", &[("x-api-key", &key)]).await.status, 200);
    // A header cannot claim another identity.
    let r = call(&url, "/v1/chat/completions", &[("x-api-key", &key), ("x-hapax-client", "nobody")]).await;
    assert_eq!(r.header("x-hapax-route"), "research");
    // Another client's key routes by its own identity.
    let (_, other) = keys(&policy, &["create", "--client", "someone"]);
    let r = until(&url, "/v1/chat/completions", &[("x-api-key", &other)], 200).await;
    assert_eq!(r.header("x-hapax-route"), "everyone");

    // Garbled and forged credentials.
    let wrong_secret = format!("{}{}", &key[..17], "A".repeat(key.len() - 17));
    for bad in [
        "Bearer hpx_zz".to_string(),
        "Basic YWRtaW46YWRtaW4=".to_string(),
        "Bearer".to_string(),
        format!("Bearer {wrong_secret}"),
        format!("Bearer {key}x"),
        format!("Bearer hpx_000000000000_{}", "A".repeat(43)),
    ] {
        let r = call(&url, "/v1/chat/completions", &[("authorization", &bad)]).await;
        assert_eq!(r.status, 401, "{bad}: {}", r.text());
    }

    // Listing shows ids, never keys.
    let (list, _) = keys(&policy, &["list"]);
    assert!(list.contains("acme") && list.contains("admin") && list.contains("active"), "{list}");
    assert!(!list.contains(&key[17..]), "a key was printed");

    // Rotation: the new key works, the old one stops.
    let (_, rotated) = keys(&policy, &["rotate", &key]);
    until(&url, "/v1/chat/completions", &[("x-api-key", &key)], 401).await;
    let admin_bearer = format!("Bearer {rotated}");
    until(&url, "/v1/chat/completions", &[("authorization", &admin_bearer)], 200).await;

    // Revocation by id.
    let other_id = &other[4..16];
    keys(&policy, &["revoke", other_id]);
    until(&url, "/v1/chat/completions", &[("x-api-key", &other)], 401).await;

    // An expired key is refused, saying so.
    let (_, brief) = keys(&policy, &["create", "--client", "acme", "--expires", "1s"]);
    until_where(&url, "/v1/chat/completions", &[("x-api-key", &brief)], |r| {
        r.status == 401 && r.text().contains("the API key has expired")
    })
    .await;

    // The admin listener: health for anyone, the rest for admins only.
    assert_eq!(get(&format!("{admin}/healthz")).await.status, 200);
    let c = client();
    let r = request(&c, "GET", &format!("{admin}/metrics"), "", &[]).await;
    assert_eq!(r.status, 401);
    let (_, reader) = keys(&policy, &["create", "--client", "acme"]);
    until(&url, "/v1/chat/completions", &[("x-api-key", &reader)], 200).await;
    let r = request(&c, "GET", &format!("{admin}/metrics"), "", &[("x-api-key", &reader)]).await;
    assert_eq!(r.status, 403, "acme's `reader` role from its block is not admin: {}", r.text());
    let r = request(&c, "GET", &format!("{admin}/metrics"), "", &[("authorization", &admin_bearer)]).await;
    assert_eq!(r.status, 200);
    // The admin API issues a key that works at once.
    let r = request(
        &c,
        "POST",
        &format!("{admin}/admin/api/keys"),
        r#"{"client":"api-made","roles":["x"],"expires":"90d"}"#,
        &[("authorization", &admin_bearer)],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(r.json()["state"], "active");
    until(&url, "/v1/chat/completions", &[("x-api-key", &made)], 200).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = request(&c, "GET", &format!("{admin}/admin/api/keys"), "", &[("authorization", &admin_bearer)]).await;
    assert!(r.text().contains(&id) && !r.text().contains(&made), "{}", r.text());
    let r =
        request(&c, "POST", &format!("{admin}/admin/api/keys/{id}/revoke"), "", &[("authorization", &admin_bearer)])
            .await;
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("revoked")), "{}", r.text());
    until(&url, "/v1/chat/completions", &[("x-api-key", &made)], 401).await;
    let r = request(
        &c,
        "POST",
        &format!("{admin}/admin/api/keys"),
        r#"{"client":"x","bogus":1}"#,
        &[("authorization", &admin_bearer)],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(&c, "GET", &format!("{admin}/admin/api/keys"), "", &[("x-api-key", &reader)]).await;
    assert_eq!(r.status, 403);

    // No key or secret ever reaches the log.
    let log = gw.stderr();
    for k in [&key, &rotated, &other, &made, &reader] {
        assert!(!log.contains(&k[17..]), "a secret is in the log");
    }
    assert!(log.contains("\"client\":\"acme\""), "the access log names the client");
}

/// A request without a valid credential is refused from its head: a body
/// it announces is never waited for.
#[test]
fn no_body_is_read_before_the_credential_is_checked() {
    let gw = Gateway::start(POLICY);
    let mut s = std::net::TcpStream::connect(gw.url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n{{").unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

/// The model list needs a credential unless `open` lists it, on HTTP/1 and
/// HTTP/2 alike; the health endpoints never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_list_needs_a_credential_and_health_does_not() {
    let gw = Gateway::start(&POLICY.replace("  open     [\"/v1/models\"]\n", ""));
    let (_, key) = keys(&gw.policy, &["create", "--client", "acme"]);
    let url = format!("{}/v1/models", gw.url);
    assert_eq!(get(&url).await.status, 401);
    let deadline = Instant::now() + Duration::from_secs(5);
    while request(&client(), "GET", &url, "", &[("x-api-key", &key)]).await.status != 200 {
        assert!(Instant::now() < deadline, "the key was not seen");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // HTTP/2 by prior knowledge skips the HTTP/1 head check: same answer.
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let r = h2.request(http::Request::get(&url).body(Default::default()).unwrap()).await.unwrap();
    assert_eq!(r.status(), 401);
    for path in ["/healthz", "/readyz"] {
        assert_eq!(get(&format!("{}{path}", gw.url)).await.status, 200, "{path}");
    }
}

/// Without `auth`, the admin API answers on a loopback admin listener only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_the_admin_api_is_loopback_only() {
    let gw =
        Gateway::start(&format!("{GATEWAY}provider m {{ type mock }}\nroute r {{ match POST \"/v1/*\"; to m }}\n"));
    let admin = gw.admin.clone().unwrap();
    let r =
        request(&client(), "POST", &format!("{admin}/admin/api/keys"), r#"{"client":"boot","roles":["admin"]}"#, &[])
            .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(gw.stderr().contains("the admin API answers anyone on this machine"), "{}", gw.stderr());
}
