//! Connections, routing, fault knobs, auth, stats and the `/_mock` admin API.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::pending;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::sleep;

use crate::body::{self, MockBody, Pacing};
use crate::common::{to_json, ApiError, Reply};
use crate::{anthropic, openai, Knobs, Stats};

/// Largest request body accepted.
const MAX_BODY: usize = 32 << 20;
/// Distinct unknown paths counted individually in the stats; later ones are
/// counted under [`OTHER_PATHS`].
const MAX_OTHER_PATHS: usize = 256;
const OTHER_PATHS: &str = "(other)";

/// Process-wide server state.
pub(crate) struct State {
    pub(crate) latency: Duration,
    pub(crate) require_key: Option<String>,
    pub(crate) knobs: RwLock<Knobs>,
    pub(crate) counters: Counters,
    /// `rate_limit`'s window: the second it counts and the requests in it.
    pub(crate) window: Mutex<(u64, u64)>,
}

impl State {
    pub(crate) fn knobs(&self) -> Knobs {
        *self.knobs.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_knobs(&self, knobs: Knobs) {
        *self.knobs.write().unwrap_or_else(PoisonError::into_inner) = knobs;
    }

    /// Counts a request against `limit` per second: what remains after it
    /// and the milliseconds to the next second, or `None` when over.
    fn take(&self, limit: u64) -> (Option<u64>, u64) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let (second, reset_ms) = (now.as_secs(), 1000 - u64::from(now.subsec_millis()));
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if w.0 != second {
            *w = (second, 0);
        }
        if w.1 >= limit {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return (None, reset_ms);
        }
        w.1 += 1;
        (Some(limit - w.1), reset_ms)
    }
}

/// The endpoints the mock implements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Chat,
    Completions,
    Embeddings,
    Models,
    ModelsRoot,
    Messages,
    CountTokens,
}

impl Route {
    const ALL: [Self; 7] = [
        Self::Chat,
        Self::Completions,
        Self::Embeddings,
        Self::Models,
        Self::ModelsRoot,
        Self::Messages,
        Self::CountTokens,
    ];

    fn path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Completions => "/v1/completions",
            Self::Embeddings => "/v1/embeddings",
            Self::Models => "/v1/models",
            Self::ModelsRoot => "/models",
            Self::Messages => "/v1/messages",
            Self::CountTokens => "/v1/messages/count_tokens",
        }
    }

    fn parse(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.path() == path)
    }

    fn method(self) -> Method {
        match self {
            Self::Models | Self::ModelsRoot => Method::GET,
            _ => Method::POST,
        }
    }
}

/// Request counters; known routes are lock-free.
#[derive(Default)]
pub(crate) struct Counters {
    total: AtomicU64,
    rate_limited: AtomicU64,
    known: [AtomicU64; Route::ALL.len()],
    other: Mutex<HashMap<String, u64>>,
}

impl Counters {
    fn record(&self, route: Option<Route>, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        match route {
            Some(route) => {
                self.known[route as usize].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
                let key = if other.len() < MAX_OTHER_PATHS || other.contains_key(path) { path } else { OTHER_PATHS };
                *other.entry(key.to_owned()).or_default() += 1;
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let mut by_path: BTreeMap<String, u64> =
            self.other.lock().unwrap_or_else(PoisonError::into_inner).clone().into_iter().collect();
        for route in Route::ALL {
            let n = self.known[route as usize].load(Ordering::Relaxed);
            if n > 0 {
                by_path.insert(route.path().to_owned(), n);
            }
        }
        Stats {
            requests: self.total.load(Ordering::Relaxed),
            by_path,
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
        other.clear();
        self.total.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
        self.known.iter().for_each(|n| n.store(0, Ordering::Relaxed));
    }
}

/// Lets a request drop its own connection, optionally with a TCP reset.
#[derive(Default)]
pub(crate) struct ConnCtl {
    killed: Notify,
    reset: AtomicBool,
}

impl ConnCtl {
    /// Drops the connection; with `reset`, the peer gets a TCP RST.
    pub(crate) fn kill(&self, reset: bool) {
        if reset {
            self.reset.store(true, Ordering::Relaxed);
        }
        self.killed.notify_one();
    }
}

/// The accepted socket; on drop after a reset kill it closes with RST.
struct ConnIo {
    tcp: TcpStream,
    ctl: Arc<ConnCtl>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.ctl.reset.load(Ordering::Relaxed) {
            // Best effort: without it the peer sees a FIN instead of a reset.
            let _ = self.tcp.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Accepts connections forever, serving HTTP/1.1 and h2c on each.
pub(crate) async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            // E.g. out of file descriptors: back off instead of spinning.
            Err(_) => {
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve_connection(tcp, builder.clone(), state.clone()));
    }
}

async fn serve_connection(tcp: TcpStream, builder: Arc<auto::Builder<TokioExecutor>>, state: Arc<State>) {
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(ConnIo { tcp, ctl: ctl.clone() });
    let service_ctl = ctl.clone();
    let service = service_fn(move |req| handle(state.clone(), service_ctl.clone(), req));
    tokio::select! {
        _ = builder.serve_connection(io, service) => {}
        () = ctl.killed.notified() => {}
    }
}

/// Which error shape (and auth header) a request gets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    fn error(self, err: &ApiError) -> Response<MockBody> {
        let doc = match self {
            Self::OpenAi => openai::error_body(err),
            Self::Anthropic => anthropic::error_body(err),
        };
        let mut resp = body::json(err.status, doc);
        if err.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

async fn handle(
    state: Arc<State>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    Ok(if req.uri().path().starts_with("/_mock/") { admin(&state, req).await } else { api(&state, ctl, req).await })
}

async fn api(state: &State, ctl: Arc<ConnCtl>, req: Request<Incoming>) -> Response<MockBody> {
    let path = req.uri().path();
    let route = Route::parse(path);
    state.counters.record(route, path);
    let api = if path.starts_with("/v1/messages") || req.headers().contains_key("anthropic-version") {
        Api::Anthropic
    } else {
        Api::OpenAi
    };
    let knobs = match request_knobs(state.knobs(), req.headers()) {
        Ok(knobs) => knobs,
        Err(err) => return api.error(&err),
    };
    if knobs.reset {
        ctl.kill(true);
        return pending().await;
    }

    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return api.error(&ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large or unreadable"))
        }
    };
    let delay = state.latency + Duration::from_millis(knobs.delay_ms);
    if !delay.is_zero() {
        sleep(delay).await;
    }
    let limited = knobs.rate_limit.map(|limit| (limit, state.take(limit)));
    let answer = match limited {
        Some((_, (None, _))) => Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "mock upstream: rate limit reached")),
        _ => respond(state, api, route, &parts, &body, &knobs),
    };
    let mut resp = match answer {
        Ok(Reply::Json(doc)) => body::json(StatusCode::OK, doc),
        Ok(Reply::Events(events)) => body::sse(
            events,
            Pacing { trickle: Duration::from_millis(knobs.trickle_ms), disconnect_after: knobs.disconnect_after, ctl },
        ),
        Err(err) => api.error(&err),
    };
    if let Some((limit, (remaining, reset_ms))) = limited {
        let h = resp.headers_mut();
        h.insert("x-ratelimit-limit-requests", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining-requests", HeaderValue::from(remaining.unwrap_or(0)));
        if let Ok(v) = HeaderValue::from_str(&format!("{reset_ms}ms")) {
            h.insert("x-ratelimit-reset-requests", v);
        }
    }
    resp
}

fn respond(
    state: &State,
    api: Api,
    route: Option<Route>,
    parts: &http::request::Parts,
    body: &[u8],
    knobs: &Knobs,
) -> Result<Reply, ApiError> {
    let invalid_url = || format!("Invalid URL ({} {})", parts.method, parts.uri.path());
    let route = route.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, invalid_url()))?;
    if parts.method != route.method() {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, invalid_url()));
    }
    check_auth(state, api, &parts.headers)?;
    if let Some(status) = knobs.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = format!("mock upstream: injected status {}", status.as_u16());
        return Err(ApiError::new(status, message));
    }
    if matches!(route, Route::Messages | Route::CountTokens) && !parts.headers.contains_key("anthropic-version") {
        return Err(ApiError::bad_request("anthropic-version: header is required"));
    }
    match route {
        Route::Chat => openai::chat(body),
        Route::Completions => openai::completions(body),
        Route::Embeddings => openai::embeddings(body),
        Route::Models | Route::ModelsRoot => Ok(Reply::Json(Bytes::from_static(match api {
            Api::OpenAi => openai::MODELS.as_bytes(),
            Api::Anthropic => anthropic::MODELS.as_bytes(),
        }))),
        Route::Messages => anthropic::messages(body),
        Route::CountTokens => anthropic::count_tokens(body),
    }
}

fn check_auth(state: &State, api: Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = state.require_key.as_deref() else {
        return Ok(());
    };
    let (given, message) = match api {
        Api::OpenAi => (
            headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")),
            "Incorrect API key provided.",
        ),
        Api::Anthropic => (headers.get("x-api-key").and_then(|v| v.to_str().ok()), "invalid x-api-key"),
    };
    if given == Some(key) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, message))
    }
}

/// The process knobs overridden by any `x-mock-*` request headers.
fn request_knobs(mut knobs: Knobs, headers: &HeaderMap) -> Result<Knobs, ApiError> {
    if let Some(status) = header(headers, "x-mock-status")? {
        knobs.status = Some(status);
    }
    if let Some(ms) = header(headers, "x-mock-delay-ms")? {
        knobs.delay_ms = ms;
    }
    if let Some(ms) = header(headers, "x-mock-trickle-ms")? {
        knobs.trickle_ms = ms;
    }
    if let Some(n) = header(headers, "x-mock-rate-limit")? {
        knobs.rate_limit = Some(n);
    }
    if let Some(k) = header(headers, "x-mock-disconnect-after")? {
        knobs.disconnect_after = Some(k);
    }
    if let Some(reset) = header::<u8>(headers, "x-mock-reset")? {
        knobs.reset = reset != 0;
    }
    knobs.validate().map_err(ApiError::bad_request)?;
    Ok(knobs)
}

fn header<T: FromStr>(headers: &HeaderMap, name: &'static str) -> Result<Option<T>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| ApiError::bad_request(format!("invalid {name} header")))
        })
        .transpose()
}

async fn admin(state: &State, req: Request<Incoming>) -> Response<MockBody> {
    let ok = |doc| body::json(StatusCode::OK, doc);
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/_mock/stats") => ok(to_json(&state.counters.snapshot())),
        (&Method::DELETE, "/_mock/stats") => {
            state.counters.reset();
            ok(to_json(&state.counters.snapshot()))
        }
        (&Method::GET, "/_mock/config") => ok(to_json(&state.knobs())),
        (&Method::POST, "/_mock/config") => match update_config(state, req.into_body()).await {
            Ok(knobs) => ok(to_json(&knobs)),
            Err(err) => Api::OpenAi.error(&err),
        },
        (method, path) => {
            Api::OpenAi.error(&ApiError::new(StatusCode::NOT_FOUND, format!("Invalid URL ({method} {path})")))
        }
    }
}

async fn update_config(state: &State, body: Incoming) -> Result<Knobs, ApiError> {
    let body =
        Limited::new(body, MAX_BODY).collect().await.map_err(|_| ApiError::bad_request("unreadable body"))?.to_bytes();
    let knobs: Knobs =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid mock config: {e}")))?;
    knobs.validate().map_err(ApiError::bad_request)?;
    state.set_knobs(knobs);
    Ok(knobs)
}
