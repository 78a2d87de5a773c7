//! Shared helpers of the end-to-end tests: build and run the real `hapax`
//! binary on a policy in a temporary folder, talk to it over real sockets,
//! and stop it when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `hapax` binary: `$HAPAX_BIN` (set by `scripts/test`, which builds it
/// once), or built once per test process.
pub fn hapax_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("HAPAX_BIN") {
            return PathBuf::from(bin);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "hapax", "--bin", "hapax"])
            .current_dir(root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p hapax failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
        target.join("debug").join("hapax")
    })
}

/// A fresh temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hapax-e2e-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running gateway; killed when dropped.
pub struct Gateway {
    pub child: Child,
    /// `http://ADDR` (or `https://`) of the first listener.
    pub url: String,
    pub admin: Option<String>,
    pub dir: TempDir,
    pub policy: PathBuf,
}

impl Gateway {
    /// Writes `policy` to `policy.hapax` in a fresh folder and serves it.
    pub fn start(policy: &str) -> Gateway {
        let dir = TempDir::new("gw");
        let path = dir.path().join("policy.hapax");
        std::fs::write(&path, policy).expect("write policy");
        Self::start_in(dir, path, &[])
    }

    /// Serves `policy` (a file in `dir`), with extra environment variables.
    pub fn start_in(dir: TempDir, policy: PathBuf, env: &[(&str, &str)]) -> Gateway {
        Self::spawn(dir, vec![policy.display().to_string()], env, None)
    }

    /// Runs `hapax serve ARGS` in `cwd` (or the folder).
    pub fn spawn(dir: TempDir, args: Vec<String>, env: &[(&str, &str)], cwd: Option<&Path>) -> Gateway {
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let mut cmd = Command::new(hapax_bin());
        cmd.arg("serve")
            .args(&args)
            .current_dir(cwd.unwrap_or(dir.path()))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hapax");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        let mut admin = None;
        // The gateway prints every listener, then the admin one when there is
        // one; read until the first line that is neither.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while url.is_none() || admin.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(if url.is_some() { Duration::from_millis(300) } else { left }) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("listening on ") {
                        url.get_or_insert_with(|| u.trim().to_string());
                    } else if let Some(a) = line.strip_prefix("admin on ") {
                        admin = Some(a.trim().to_string());
                    }
                }
                Err(_) => break,
            }
        }
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("the gateway did not start:\n{log}");
        };
        let policy = dir.path().join("policy.hapax");
        Gateway { child, url, admin, dir, policy }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends a JSON request and waits (at most 20 s) for the response head.
pub async fn send(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> http::Response<hyper::body::Incoming> {
    let mut req = http::Request::builder().method(method).uri(url).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).expect("request");
    tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("answer in time")
        .expect("request failed")
}

pub async fn request(client: &HttpClient, method: &str, url: &str, body: &str, headers: &[(&str, &str)]) -> Resp {
    let resp = send(client, method, url, body, headers).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp { status, headers, body }
}

pub async fn post(url: &str, body: &str) -> Resp {
    request(&client(), "POST", url, body, &[]).await
}

pub async fn get(url: &str) -> Resp {
    request(&client(), "GET", url, "", &[]).await
}

/// A test that cannot run here because `why` (a tool or a port it needs is
/// missing): under CI (`CI` set, not empty) the test fails; elsewhere it says
/// it skipped, and the caller returns.
pub fn skip_or_fail(why: &str) {
    let ci = std::env::var("CI").unwrap_or_default();
    assert!(ci.is_empty(), "{why}; under CI (CI={ci}) a test may not skip");
    eprintln!("skipped: {why}; under CI this test would fail");
}

/// Waits for what a timer or a background task brings about: runs `check`
/// every 20 ms until it gives `Ok`, and fails after 20 s (the machine may be
/// busy) with `what` and the last `Err` it gave.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "{what}: not within 20 s; last seen:\n{last}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The admin listener's metrics once they contain `needle`, or as they are
/// after 5 s: a request is counted just after its answer was sent.
pub async fn metrics_with(admin: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let m = get(&format!("{admin}/metrics")).await.text();
        if m.contains(needle) || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A streamed answer: status, headers and the data frames as they came.
pub struct Streamed {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub frames: Vec<(Instant, Bytes)>,
}

impl Streamed {
    pub fn text(&self) -> String {
        self.frames.iter().map(|(_, b)| String::from_utf8_lossy(b)).collect()
    }
    /// The `data:` payloads in order.
    pub fn data(&self) -> Vec<String> {
        self.text().lines().filter_map(|l| l.strip_prefix("data: ")).map(str::to_string).collect()
    }
    /// The `event:` names in order.
    pub fn events(&self) -> Vec<String> {
        self.text().lines().filter_map(|l| l.strip_prefix("event: ")).map(str::to_string).collect()
    }
}

pub async fn stream(url: &str, body: &str, headers: &[(&str, &str)]) -> Streamed {
    let resp = send(&client(), "POST", url, body, headers).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(20), body.frame()).await.expect("frame in time") {
        if let Ok(data) = frame.expect("frame").into_data() {
            frames.push((Instant::now(), data));
        }
    }
    Streamed { status, headers, frames }
}

/// A chat completion request body.
pub fn chat(model: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{ "role": "user", "content": "hello there" }]
    })
    .to_string()
}

/// An Anthropic messages request body.
pub fn messages(model: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{ "role": "user", "content": "hello there" }]
    })
    .to_string()
}

/// Starts an in-process mock upstream.
pub async fn mock_upstream() -> hapax_mock_upstream::MockServer {
    hapax_mock_upstream::MockServer::start("127.0.0.1:0".parse().expect("addr"), hapax_mock_upstream::Config::default())
        .await
        .expect("mock upstream")
}

/// A gateway block listening on free ports, with an admin listener.
/// The mock upstream's request knobs (`x-mock-status` and the like), let
/// through to a provider by its `forward` (clients' headers are dropped by
/// default).
pub const MOCK_KNOBS: &str =
    r#"forward ["x-mock-status", "x-mock-delay-ms", "x-mock-trickle-ms", "x-mock-disconnect-after", "x-mock-reset"]"#;

pub const GATEWAY: &str = "gateway {\n  listen http \"127.0.0.1:0\"\n  admin \"127.0.0.1:0\"\n}\n";

/// Sends `count` chat requests over one HTTP/2 connection made on `io`
/// (prior knowledge), checks each is answered over HTTP/2 with 200, and
/// returns the last body.
pub async fn h2_chats<IO>(io: IO, url: &str, count: usize) -> Bytes
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), hyper_util::rt::TokioIo::new(io)).await.unwrap();
    tokio::spawn(conn);
    let mut body = Bytes::new();
    for _ in 0..count {
        let req = http::Request::post(format!("{url}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(chat("m", false))))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        body = resp.into_body().collect().await.unwrap().to_bytes();
    }
    body
}

/// A webhook receiver: answers 500 to its first call, then 200; keeps the
/// bodies it took (with their idempotency keys) and counts every call.
pub async fn webhook(
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>, std::sync::Arc<std::sync::Mutex<u32>>) {
    use std::sync::{Arc, Mutex};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let calls: Arc<Mutex<u32>> = Arc::default();
    let (g, c) = (got.clone(), calls.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (g, c) = (g.clone(), c.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (g, c) = (g.clone(), c.clone());
                    async move {
                        let key = req
                            .headers()
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let n = {
                            let mut c = c.lock().unwrap();
                            *c += 1;
                            *c
                        };
                        let status = if n == 1 {
                            500
                        } else {
                            g.lock().unwrap().push((key, String::from_utf8_lossy(&body).into_owned()));
                            200
                        };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(status).body(Full::new(Bytes::new())).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (port, got, calls)
}
