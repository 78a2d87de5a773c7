//! Each provider type's wire against the real binary: the path, the
//! credential header and the api version each one sends, and connection
//! reuse over HTTP/1.1 and, with `pool { http2 on }`, HTTP/2. Every provider
//! has an upstream of its own that records what reaches it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::*;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    version: http::Version,
    target: String,
    authorization: Option<String>,
    api_key: Option<String>,
    /// Every header name it got, lowercase.
    names: Vec<String>,
}

/// An upstream that answers every request with one chat completion and
/// keeps what it saw and how many connections it accepted.
struct Recorder {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

async fn recorder() -> Recorder {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (log, count) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                    log.lock().expect("log").push(Seen {
                        version: req.version(),
                        target: req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                        authorization: header("authorization"),
                        api_key: header("api-key"),
                        names: req.headers().keys().map(|n| n.as_str().to_string()).collect(),
                    });
                    async {
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(ANSWER.as_bytes())))
                                .expect("answer"),
                        )
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    Recorder { addr, seen, connections }
}

#[tokio::test]
async fn each_provider_type_sends_its_own_path_credentials_and_version() {
    let (oa, az, ol, h2) = (recorder().await, recorder().await, recorder().await, recorder().await);
    let policy = format!(
        "{GATEWAY}\
         provider oa {{ type openai; base_url \"http://{}/v1\"; api_key env(\"K_OA\") }}\n\
         provider az {{ type azure; base_url \"http://{}\"; api_key env(\"K_AZ\"); api_version \"2024-06-01\" }}\n\
         provider ol {{ type ollama; base_url \"http://{}\" }}\n\
         provider h2 {{ type openai_compatible; base_url \"http://{}/v1\"; api_key env(\"K_H2\"); pool {{ http2 on }} }}\n\
         route to_az {{ match POST \"/v1/chat/completions\"; when request.header[\"x-to\"] == \"az\"; to az }}\n\
         route to_ol {{ match POST \"/v1/chat/completions\"; when request.header[\"x-to\"] == \"ol\"; to ol }}\n\
         route to_h2 {{ match POST \"/v1/chat/completions\"; when request.header[\"x-to\"] == \"h2\"; to h2 }}\n\
         route to_oa {{ match POST \"/v1/chat/completions\"; to oa }}\n",
        oa.addr, az.addr, ol.addr, h2.addr
    );
    let dir = TempDir::new("providers");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy).expect("write policy");
    // One worker, so every request to a provider goes through the same pool.
    let env = [("K_OA", "k-oa"), ("K_AZ", "k-az"), ("K_H2", "k-h2"), ("HAPAX_WORKERS", "1")];
    let gw = Gateway::start_in(dir, path, &env);
    let url = format!("{}/v1/chat/completions", gw.url);
    let http = client();
    for to in ["oa", "az", "ol", "h2"] {
        for _ in 0..3 {
            let resp = request(&http, "POST", &url, &chat("gpt-4o-mini", false), &[("x-to", to)]).await;
            assert_eq!(resp.status, 200, "{to}: {}", resp.text());
            assert_eq!(resp.json()["usage"]["total_tokens"], 4, "{to}");
        }
    }
    let seen = |r: &Recorder| r.seen.lock().expect("log").clone();

    // OpenAI: its path under the base URL, a bearer token, HTTP/1.1.
    for s in seen(&oa) {
        assert_eq!(s.target, "/v1/chat/completions");
        assert_eq!(s.authorization.as_deref(), Some("Bearer k-oa"));
        assert_eq!((s.api_key, s.version), (None, http::Version::HTTP_11));
    }
    // Azure: the model names the deployment, the version is a query
    // parameter, the key goes in `api-key` and there is no bearer token.
    for s in seen(&az) {
        assert_eq!(s.target, "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-06-01");
        assert_eq!(s.api_key.as_deref(), Some("k-az"));
        assert_eq!(s.authorization, None);
    }
    // Ollama: `/v1` is added to a base URL written without it; no key.
    for s in seen(&ol) {
        assert_eq!(s.target, "/v1/chat/completions");
        assert_eq!((s.authorization, s.api_key), (None, None));
    }
    // `pool { http2 on }`: HTTP/2 to a server that speaks it in clear text.
    for s in seen(&h2) {
        assert_eq!(s.version, http::Version::HTTP_2);
        assert_eq!(s.target, "/v1/chat/completions");
        assert_eq!(s.authorization.as_deref(), Some("Bearer k-h2"));
    }
    // Three requests each, over one kept-alive connection per provider.
    for (name, r) in [("oa", &oa), ("az", &az), ("ol", &ol), ("h2", &h2)] {
        assert_eq!(seen(r).len(), 3, "{name}");
        assert_eq!(r.connections.load(Ordering::SeqCst), 1, "{name}: connections");
    }
}

/// Client headers reach a provider through an allowlist: `accept`,
/// `user-agent` and what the provider's `forward` lists, never a name with
/// `_` or one that `Connection` names; nothing from the request can change
/// an Azure URL.
#[tokio::test]
async fn only_allowed_headers_reach_providers_and_deployments_cannot_change_the_url() {
    let (plain, open, az) = (recorder().await, recorder().await, recorder().await);
    let policy = format!(
        "{GATEWAY}\
         provider plain {{ type openai; base_url \"http://{}/v1\" }}\n\
         provider open {{ type openai; base_url \"http://{}/v1\"; forward [\"OpenAI-Organization\", \"x-forwarded-for\", \"x-conn\"] }}\n\
         provider az {{ type azure; base_url \"http://{}\"; api_key env(\"K_AZ\") }}\n\
         route p {{ match POST \"/v1/chat/completions\"; when request.model == \"p\"; to plain }}\n\
         route o {{ match POST \"/v1/chat/completions\"; when request.model == \"o\"; to open }}\n\
         route a {{ match POST \"/v1/chat/completions\"; to az }}\n",
        plain.addr, open.addr, az.addr
    );
    let dir = TempDir::new("forward");
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy).unwrap();
    let gw = Gateway::start_in(dir, path, &[("K_AZ", "k-az")]);
    let url = format!("{}/v1/chat/completions", gw.url);
    let sent = [
        ("accept", "application/json"),
        ("user-agent", "sdk/1"),
        ("openai-organization", "org-client"),
        ("openai-project", "proj-client"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-team", "t"),
        ("x_team", "t"),
        ("cookie", "c=1"),
        ("x-conn", "1"),
        ("connection", "x-conn"),
    ];
    let c = client();
    for model in ["p", "o"] {
        let r = request(&c, "POST", &url, &chat(model, false), &sent).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let names = |r: &Recorder| {
        let mut n: Vec<String> = r.seen.lock().unwrap()[0].names.clone();
        n.retain(|n| !["host", "content-type", "content-length", "x-request-id"].contains(&n.as_str()));
        n.sort();
        n
    };
    assert_eq!(names(&plain), ["accept", "user-agent"]);
    assert_eq!(names(&open), ["accept", "openai-organization", "user-agent", "x-forwarded-for"]);

    // A deployment name is the request's `model`: nothing in it may reach
    // the URL but Azure's own alphabet.
    for model in ["a/b", "../x", "a?b=1", "a#b", "a%2Fb", "..", "a b"] {
        let r = request(&c, "POST", &url, &chat(model, false), &[]).await;
        assert_eq!(r.status, 400, "{model}: {}", r.text());
    }
    assert!(az.seen.lock().unwrap().is_empty(), "no request reached azure");
    let r = request(&c, "POST", &url, &chat("gpt-4o.mini_1", false), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        az.seen.lock().unwrap()[0].target,
        "/openai/deployments/gpt-4o.mini_1/chat/completions?api-version=2024-10-21"
    );
}
