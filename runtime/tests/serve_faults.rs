//! Faults: upstream errors, timeouts, resets and refused connections, with
//! and without a fallback; the circuit breaker opening and half-opening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use hapax_mock_upstream::Knobs;
use support::*;

/// Request headers of a case.
type Headers = &'static [(&'static str, &'static str)];

fn write_policy(body: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("faults");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, format!("{GATEWAY}\n{body}")).unwrap();
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_hides_every_upstream_fault() {
    let bad = mock_upstream().await;
    let good = mock_upstream().await;
    let (dir, path) = write_policy(&format!(
        r#"provider bad {{ type openai_compatible; base_url "{}/v1"; {MOCK_KNOBS} }}
provider good {{ type openai_compatible; base_url "{}/v1"; {MOCK_KNOBS} }}
route chat {{
  match POST "/v1/chat/completions"
  to bad
  fallback [good]
  retry 1 backoff 5ms..20ms
  timeout 300ms
}}
"#,
        bad.url(""),
        good.url("")
    ));
    let gw = Gateway::start_in(dir, path, &[]);
    let faults = [
        ("500", Knobs { status: Some(500), ..Default::default() }),
        ("503", Knobs { status: Some(503), ..Default::default() }),
        ("timeout", Knobs { delay_ms: 3000, ..Default::default() }),
        ("reset", Knobs { reset: true, ..Default::default() }),
        // Last: after a 429 the provider is paced (`upstream::pacer`).
        ("429", Knobs { status: Some(429), ..Default::default() }),
    ];
    let url = format!("{}/v1/chat/completions", gw.url);
    for (name, knobs) in faults {
        bad.set_knobs(knobs);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    let r = post(&url, &chat("m", false)).await;
                    (r.status, r.header("x-hapax-target").to_string(), r.text())
                } else {
                    let s = stream(&url, &chat("m", true), &[]).await;
                    let done = s.data().last().cloned().unwrap_or_default();
                    (
                        s.status,
                        s.headers.get("x-hapax-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
                        done,
                    )
                }
            }));
        }
        for t in tasks {
            let (status, target, body) = t.await.unwrap();
            assert_eq!(status, 200, "fault {name}: {body}");
            assert_eq!(target, "good/m", "fault {name}");
            if body.starts_with('[') || !body.starts_with('{') {
                assert_eq!(body, "[DONE]", "fault {name}");
            }
        }
    }
    let m = get(&format!("{}/metrics", gw.admin.clone().unwrap())).await.text();
    for kind in ["status", "timeout", "reset"] {
        assert!(m.contains(&format!("hapax_upstream_errors_total{{kind=\"{kind}\",provider=\"bad\"}}")), "{kind}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fallback_the_client_gets_the_right_status() {
    let up = mock_upstream().await;
    // A port with nobody listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (dir, path) = write_policy(&format!(
        r#"provider up {{ type openai; base_url "{}/v1"; {MOCK_KNOBS} }}
provider gone {{ type openai; base_url "http://{closed}/v1" }}
route nowhere {{
  match POST "/v1/chat/completions"
  when request.model == "gone"
  to gone
}}
route chat {{
  match POST "/v1/chat/completions"
  to up
  timeout 300ms
}}
"#,
        up.url("")
    ));
    let gw = Gateway::start_in(dir, path, &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let c = client();
    let cases: [(Headers, u16, &str); 6] = [
        // The provider refusing the gateway's key is the gateway's fault.
        (&[("x-mock-status", "401")], 502, "upstream_auth_error"),
        (&[("x-mock-status", "403")], 502, "upstream_auth_error"),
        (&[("x-mock-status", "500")], 500, ""),
        (&[("x-mock-status", "503")], 503, ""),
        (&[("x-mock-delay-ms", "2000")], 504, "upstream_timeout"),
        (&[("x-mock-reset", "1")], 502, "upstream_reset"),
    ];
    for (headers, status, code) in cases {
        let r = request(&c, "POST", &url, &chat("m", false), headers).await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
        let v = r.json();
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
        if !code.is_empty() {
            assert_eq!(v["error"]["code"], code, "{v}");
        }
        assert_eq!(r.header("x-hapax-route"), "chat");
    }
    let r = post(&url, &chat("gone", false)).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "upstream_connect_error");

    // Once bytes have been streamed nothing can be retried: the stream ends
    // with an error event.
    let s = stream(&url, &chat("m", true), &[("x-mock-disconnect-after", "2")]).await;
    assert_eq!(s.status, 200);
    let last = s.data().last().cloned().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
    assert!(v["error"]["message"].is_string(), "{}", s.text());

    // Last, as the provider is paced after it (`upstream::pacer`): its 429
    // reaches the client.
    let r = request(&c, "POST", &url, &chat("m", false), &[("x-mock-status", "429")]).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), "1");
}

/// A gateway whose one provider, `up`, has a breaker that opens after three
/// failures and stays open for `open_for`.
async fn breaker_gateway(open_for: &str) -> (hapax_mock_upstream::MockServer, Gateway) {
    let up = mock_upstream().await;
    let (dir, path) = write_policy(&format!(
        r#"provider up {{
  type openai
  base_url "{}/v1"
  {MOCK_KNOBS}
  breaker {{ failures 3 within 10s; open_for {open_for} }}
}}
route chat {{
  match POST "/v1/chat/completions"
  to up
}}
"#,
        up.url("")
    ));
    (up, Gateway::start_in(dir, path, &[]))
}

/// The breaker's state as `/metrics` shows it: the gauge changes when the
/// breaker does (a failure opens it, an admitted probe half-opens it), never
/// on a timer, so it can be read at leisure.
const BREAKER_OPEN: &str = "hapax_breaker_state{provider=\"up\"} 1";
const BREAKER_CLOSED: &str = "hapax_breaker_state{provider=\"up\"} 0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_answers_without_asking_the_provider() {
    // `open_for` is far longer than the test: it stays open while we look.
    let (up, gw) = breaker_gateway("5m").await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let admin = gw.admin.clone().unwrap();
    up.set_knobs(Knobs { status: Some(500), ..Default::default() });
    for _ in 0..3 {
        assert_eq!(post(&url, &chat("m", false)).await.status, 500);
    }
    for _ in 0..3 {
        let r = post(&url, &chat("m", false)).await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "circuit_open");
    }
    assert_eq!(up.stats().requests, 3);
    let m = metrics_with(&admin, BREAKER_OPEN).await;
    assert!(m.contains(BREAKER_OPEN), "{m}");
    assert_eq!(get(&format!("{admin}/readyz")).await.status, 503);
}

/// Sends requests until one is not refused by the open breaker (the probe,
/// once `open_for` has passed) and returns its status; refused ones never
/// reach the provider.
async fn until_the_probe(url: &str) -> u16 {
    eventually("a probe once `open_for` has passed", async || {
        let r = post(url, &chat("m", false)).await;
        match r.status {
            503 if r.text().contains("circuit_open") => Err(r.text()),
            status => Ok(status),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_then_lets_a_probe_through() {
    // A short `open_for`, so that the test can wait it out; nothing below
    // depends on reaching the gateway before it ends.
    let (up, gw) = breaker_gateway("300ms").await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let admin = gw.admin.clone().unwrap();
    up.set_knobs(Knobs { status: Some(500), ..Default::default() });
    for _ in 0..3 {
        assert_eq!(post(&url, &chat("m", false)).await.status, 500);
    }
    let m = metrics_with(&admin, BREAKER_OPEN).await;
    assert!(m.contains(BREAKER_OPEN), "three failures open it: {m}");

    // Half-open after `open_for`: one probe; it succeeds and closes the breaker.
    up.set_knobs(Knobs::default());
    assert_eq!(until_the_probe(&url).await, 200);
    assert_eq!(up.stats().requests, 4, "only the probe reached the provider");
    let m = metrics_with(&admin, BREAKER_CLOSED).await;
    assert!(m.contains(BREAKER_CLOSED), "{m}");
    assert_eq!(post(&url, &chat("m", false)).await.status, 200);
    assert_eq!(get(&format!("{admin}/readyz")).await.status, 200);

    // A failed probe reopens it.
    up.set_knobs(Knobs { status: Some(500), ..Default::default() });
    for _ in 0..3 {
        assert_eq!(post(&url, &chat("m", false)).await.status, 500);
    }
    let m = metrics_with(&admin, BREAKER_OPEN).await;
    assert!(m.contains(BREAKER_OPEN), "{m}");
    let before = up.stats().requests;
    assert_eq!(until_the_probe(&url).await, 500, "the probe goes through");
    assert_eq!(up.stats().requests, before + 1, "only the probe reached the provider");
    let m = metrics_with(&admin, BREAKER_OPEN).await;
    assert!(m.contains(BREAKER_OPEN), "and its failure reopens the breaker: {m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_failure_modes_and_fallback() {
    let (dir, path) = write_policy(
        r#"provider broken { type mock; mode error }
provider flaky { type mock; mode flaky }
provider slow { type mock; mode slow }
provider ok { type mock }
route slow { match POST "/v1/chat/completions"; when request.model == "slow"; to slow; timeout 200ms }
route flaky { match POST "/v1/chat/completions"; when request.model == "flaky"; to flaky }
route broken { match POST "/v1/chat/completions"; when request.model == "broken"; to broken }
route chat { match POST "/v1/chat/completions"; to broken; fallback [ok] }
"#,
    );
    let gw = Gateway::start_in(dir, path, &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let r = post(&url, &chat("x", false)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-hapax-target"), "ok/x");
    assert_eq!(post(&url, &chat("broken", false)).await.status, 500);
    assert_eq!(post(&url, &chat("slow", false)).await.status, 504);
    let statuses: Vec<u16> =
        [post(&url, &chat("flaky", false)).await.status, post(&url, &chat("flaky", false)).await.status].into();
    assert_eq!(statuses, [200, 500]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_take_a_provider_out_and_back() {
    let up = mock_upstream().await;
    let (dir, path) = write_policy(&format!(
        r#"provider sick {{
  type openai
  base_url "{}/v1"
  {MOCK_KNOBS}
  health {{ every 100ms; path "/models" }}
}}
provider ok {{ type mock }}
route only_sick {{ match POST "/v1/chat/completions"; when request.model == "only"; to sick }}
route chat {{ match POST "/v1/chat/completions"; to sick; fallback [ok] }}
"#,
        up.url("")
    ));
    let gw = Gateway::start_in(dir, path, &[]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let admin = gw.admin.clone().unwrap();
    let r = post(&url, &chat("m", false)).await;
    assert_eq!(r.header("x-hapax-target"), "sick/m");

    up.set_knobs(Knobs { status: Some(500), ..Default::default() });
    // The next health check marks it unhealthy (the flag is set before the gauge).
    let unhealthy = "hapax_provider_healthy{provider=\"sick\"} 0";
    let m = metrics_with(&admin, unhealthy).await;
    assert!(m.contains(unhealthy), "{m}");
    let before = up.stats().by_path.get("/v1/chat/completions").copied();
    let r = post(&url, &chat("m", false)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-hapax-target"), "ok/m", "an unhealthy provider is skipped");
    assert_eq!(up.stats().by_path.get("/v1/chat/completions").copied(), before, "without being asked");
    let r = get(&format!("{admin}/readyz")).await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("only_sick"), "{}", r.text());
    assert_eq!(post(&url, &chat("only", false)).await.status, 503);

    // A passing health check brings it back.
    up.set_knobs(Knobs::default());
    eventually("the provider is ready again", async || {
        let r = get(&format!("{admin}/readyz")).await;
        if r.status == 200 {
            Ok(())
        } else {
            Err(r.text())
        }
    })
    .await;
    assert_eq!(post(&url, &chat("m", false)).await.header("x-hapax-target"), "sick/m");
}
