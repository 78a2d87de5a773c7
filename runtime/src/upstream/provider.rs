//! A provider at run time: where its endpoints are, how to authenticate,
//! its pooled HTTP client, its circuit breaker and its health. One
//! `Upstream` lives as long as the provider's declaration is unchanged, across
//! reloads (see the state registry).

use crate::http::error::GatewayError;
use crate::http::ingress::Endpoint;
use crate::net::http1::client as h1;
use crate::telemetry::metrics::Metrics;
use crate::upstream::breaker::Breaker;
use crate::wire::Api;
use bytes::Bytes;
use futures_util::future::{Either, FutureExt};
use hapax_lang::graph::{MockMode, Provider, ProviderKind};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prometheus::IntGauge;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

pub use crate::net::http1::client::Header;

static VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");
use std::time::Duration;
use tokio::time::Instant;

/// The pooled client of one provider.
pub type HttpClient = Client<Connector, Full<Bytes>>;

const ANTHROPIC_VERSION: &str = "2023-06-01";
const AZURE_API_VERSION: &str = "2024-10-21";

/// The mock provider's knobs.
pub struct MockConfig {
    pub latency: Duration,
    pub mode: MockMode,
    /// Requests seen, for `flaky` (every second one fails).
    pub count: AtomicU64,
}

/// Fixed endpoint URIs, computed once.
struct Endpoints {
    chat: Option<Uri>,
    completions: Option<Uri>,
    embeddings: Option<Uri>,
    messages: Option<Uri>,
}

pub struct Upstream {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    /// The API it speaks; `None` for the mock, which answers locally in
    /// whatever API the client speaks.
    pub api: Option<Api>,
    pub timeout: Duration,
    pub models: Vec<String>,
    /// Request headers let through beyond the default allowlist (lowercase).
    pub forward: Vec<Box<[u8]>>,
    base: String,
    /// The authentication header, when a key is set.
    auth: Option<(HeaderName, HeaderValue)>,
    anthropic_version: HeaderValue,
    azure_version: String,
    endpoints: Endpoints,
    transport: Transport,
    pub breaker: Option<Breaker>,
    /// Held to a rate while the provider signals its own limit.
    pub pacer: crate::upstream::pacer::Pacer,
    healthy: Arc<AtomicBool>,
    pub mock: MockConfig,
    health_task: Option<tokio::task::AbortHandle>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(t) = &self.health_task {
            t.abort();
        }
    }
}

/// An Azure deployment name taken from the request's `model`, which goes
/// into the URL's path: Azure's own alphabet, no `/ ? # %` and no `..`,
/// so nothing from the client can change which URL is asked.
fn valid_deployment(model: &str) -> bool {
    model.len() <= 64
        && model.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !model.contains("..")
}

impl Upstream {
    /// Builds the provider's runtime; spawns its health checks, so it must
    /// run inside the tokio runtime.
    pub fn new(p: &Provider, secret: Option<String>, metrics: &Metrics) -> Result<Self, String> {
        let name: Arc<str> = Arc::from(p.decl.name.as_str());
        let api = match p.kind {
            ProviderKind::Mock => None,
            ProviderKind::Anthropic => Some(Api::Anthropic),
            _ => Some(Api::OpenAi),
        };
        let base = p.base_url.trim_end_matches('/').to_string();
        if api.is_some() {
            base.parse::<Uri>()
                .ok()
                .filter(|u| u.scheme().is_some() && u.authority().is_some())
                .ok_or_else(|| format!("provider `{name}`: `{}` is not an absolute http(s) URL", p.base_url))?;
        }
        let auth = match secret {
            None => None,
            Some(key) => {
                let (header, value) = match p.kind {
                    ProviderKind::Anthropic => ("x-api-key", key),
                    ProviderKind::Azure => ("api-key", key),
                    _ => ("authorization", format!("Bearer {key}")),
                };
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    format!("provider `{name}`: the api key contains characters not allowed in a header")
                })?;
                value.set_sensitive(true);
                Some((HeaderName::from_static(header), value))
            }
        };
        let anthropic_version = match (p.kind, &p.api_version) {
            (ProviderKind::Anthropic, Some(v)) => {
                HeaderValue::from_str(v).map_err(|_| format!("provider `{name}`: invalid api_version"))?
            }
            _ => HeaderValue::from_static(ANTHROPIC_VERSION),
        };
        let azure_version = p.api_version.clone().unwrap_or_else(|| AZURE_API_VERSION.to_string());
        let endpoints = endpoints(p.kind, &base)?;
        let transport = if api.is_none() { Transport::Local } else { Transport::new(p, &base)? };
        let breaker = p.breaker.as_ref().map(|b| Breaker::new(b, metrics.breaker_state.with_label_values(&[&name])));
        let healthy = Arc::new(AtomicBool::new(true));
        let gauge = metrics.provider_healthy.with_label_values(&[&name]);
        gauge.set(1);
        let mut up = Upstream {
            name,
            kind: p.kind,
            api,
            timeout: p.timeout,
            models: p.models.clone(),
            forward: p.forward.iter().map(|f| f.as_bytes().into()).collect(),
            base,
            auth,
            anthropic_version,
            azure_version,
            endpoints,
            transport,
            breaker,
            pacer: crate::upstream::pacer::Pacer::default(),
            healthy,
            mock: MockConfig { latency: p.latency, mode: p.mode, count: AtomicU64::new(0) },
            health_task: None,
        };
        if let (Some(h), true) = (&p.health, api.is_some()) {
            let uri: Uri = format!("{}{}", up.base, h.path)
                .parse()
                .map_err(|_| format!("provider `{}`: health path `{}` does not make a valid URL", up.name, h.path))?;
            let check = HealthCheck {
                name: up.name.clone(),
                transport: up.transport.clone(),
                uri,
                headers: up.fixed_headers().map(|(n, v)| (n.clone(), v.clone())).collect(),
                every: h.every,
                timeout: h.timeout,
                flag: up.healthy.clone(),
                gauge,
            };
            up.health_task = Some(tokio::spawn(check.run()).abort_handle());
        }
        Ok(up)
    }

    /// Sends a request to the provider and reads the head of its answer;
    /// `keep` chooses the answer headers to return. Whether `deadline` is
    /// watched here, see [`Upstream::keeps_deadline`].
    ///
    /// Not an `async fn`: the future is the client's own, with the error
    /// mapped, so that no extra layer of state is built and moved per request.
    pub fn send<'a>(
        &'a self,
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a [Header<'a>],
        body: Bytes,
        keep: fn(&str) -> bool,
        deadline: Instant,
    ) -> impl Future<Output = Result<UpResponse, GatewayError>> + Send + 'a {
        self.transport.send(method, uri, headers, body, keep, deadline).map(move |r| {
            r.map_err(|e| match e {
                SendError::Timeout => GatewayError::timeout(&self.name),
                SendError::Connect(why) => {
                    tracing::debug!(target: "hapax::upstream", provider = %self.name, error = %why, "cannot connect");
                    GatewayError::connect(&self.name)
                }
                SendError::Protocol(why) => GatewayError::protocol(&self.name, why),
                SendError::Other(why) => {
                    tracing::debug!(target: "hapax::upstream", provider = %self.name, error = %why, "upstream request failed");
                    GatewayError::reset(&self.name)
                }
            })
        })
    }

    /// Healthy: the last health check passed (or there is none) and the
    /// breaker is not open.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
            && self.breaker.as_ref().is_none_or(|b| b.state() != crate::upstream::breaker::BreakerState::Open)
    }

    /// Whether the client itself keeps the deadline given to
    /// [`Upstream::send`], for the answer's head and body (our HTTP/1.1
    /// client does, with its connection's timer); otherwise the caller
    /// bounds the exchange.
    pub fn keeps_deadline(&self) -> bool {
        matches!(self.transport, Transport::H1(_))
    }

    pub fn health_flag(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Headers every request to this provider carries: authentication and,
    /// for Anthropic, the API version.
    pub fn fixed_headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> + '_ {
        let version = (self.kind == ProviderKind::Anthropic).then_some((&VERSION_HEADER, &self.anthropic_version));
        self.auth.iter().map(|(n, v)| (n, v)).chain(version)
    }

    /// The URI of an endpoint in the provider's own format (`Messages` for
    /// Anthropic, the OpenAI endpoints otherwise).
    pub fn uri(&self, endpoint: Endpoint, model: &str) -> Result<Uri, GatewayError> {
        if self.kind == ProviderKind::Azure {
            let suffix = match endpoint {
                Endpoint::Chat | Endpoint::Messages => "chat/completions",
                Endpoint::Completions => "completions",
                Endpoint::Embeddings => "embeddings",
                Endpoint::Models => return Err(GatewayError::unsupported("azure has no model list endpoint")),
            };
            if model.is_empty() {
                return Err(GatewayError::bad_request("a `model` (the azure deployment) is required"));
            }
            if !valid_deployment(model) {
                return Err(GatewayError::bad_request(
                    "the `model` (the azure deployment) may hold only letters, digits, `-`, `_` and `.`, and not `..`",
                ));
            }
            return format!("{}/openai/deployments/{}/{suffix}?api-version={}", self.base, model, self.azure_version)
                .parse()
                .map_err(|_| GatewayError::bad_request(format!("`{model}` is not a valid azure deployment name")));
        }
        let uri = match (self.api, endpoint) {
            (Some(Api::Anthropic), Endpoint::Chat | Endpoint::Messages) => &self.endpoints.messages,
            (Some(Api::Anthropic), e) => {
                return Err(GatewayError::unsupported(format!(
                    "provider `{}` (anthropic) does not support {}",
                    self.name,
                    e.describe()
                )))
            }
            (_, Endpoint::Chat | Endpoint::Messages) => &self.endpoints.chat,
            (_, Endpoint::Completions) => &self.endpoints.completions,
            (_, Endpoint::Embeddings) => &self.endpoints.embeddings,
            (_, Endpoint::Models) => &None,
        };
        uri.clone().ok_or_else(|| {
            GatewayError::unsupported(format!("provider `{}` does not support {}", self.name, endpoint.describe()))
        })
    }
}

fn endpoints(kind: ProviderKind, base: &str) -> Result<Endpoints, String> {
    let parse = |suffix: &str| -> Result<Option<Uri>, String> {
        format!("{base}{suffix}")
            .parse::<Uri>()
            .map(Some)
            .map_err(|_| format!("`{base}` does not make valid endpoint URLs"))
    };
    // Ollama's OpenAI-compatible API lives under `/v1`; its base URL is
    // usually written without it.
    let v1 = |base: &str| if base.ends_with("/v1") { "" } else { "/v1" };
    Ok(match kind {
        ProviderKind::Mock | ProviderKind::Azure => {
            Endpoints { chat: None, completions: None, embeddings: None, messages: None }
        }
        ProviderKind::Anthropic => Endpoints {
            chat: None,
            completions: None,
            embeddings: None,
            messages: parse(&format!("{}/messages", v1(base)))?,
        },
        ProviderKind::Ollama => {
            let p = v1(base);
            Endpoints {
                chat: parse(&format!("{p}/chat/completions"))?,
                completions: parse(&format!("{p}/completions"))?,
                embeddings: parse(&format!("{p}/embeddings"))?,
                messages: None,
            }
        }
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => Endpoints {
            chat: parse("/chat/completions")?,
            completions: parse("/completions")?,
            embeddings: parse("/embeddings")?,
            messages: None,
        },
    })
}

type Connector = HttpsConnector<HttpConnector>;

/// How requests reach a provider: our HTTP/1.1 client, or hyper's when the
/// provider speaks HTTP/2 (`pool { http2 on }`).
#[derive(Clone)]
enum Transport {
    /// The mock provider answers in process.
    Local,
    H1(h1::Client),
    /// One hyper client per worker plus one for the control plane (see
    /// [`crate::net::workers`]), so a connection is only used on the thread that
    /// drives it.
    Hyper(Arc<Vec<HttpClient>>),
}

enum SendError {
    Connect(String),
    Timeout,
    /// The provider's answer breaks HTTP (ambiguous or malformed framing).
    Protocol(&'static str),
    Other(String),
}

impl Transport {
    fn new(p: &Provider, base: &str) -> Result<Transport, String> {
        let connect_timeout = p.timeout.min(Duration::from_secs(10));
        let tls = tls_config(p.pool.http2).map_err(|e| format!("provider `{}`: {e}", p.decl.name))?;
        if !p.pool.http2 {
            let uri: Uri = base.parse().map_err(|_| format!("provider `{}`: invalid base_url", p.decl.name))?;
            let pool = h1::PoolConfig { max_idle: p.pool.max_idle, idle_timeout: p.pool.idle_timeout, connect_timeout };
            return h1::Client::new(&uri, pool, tls)
                .map(Transport::H1)
                .map_err(|e| format!("provider `{}`: {e}", p.decl.name));
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let clients = (0..=crate::net::workers::count()).map(|_| build_client(p, connector.clone())).collect();
        Ok(Transport::Hyper(Arc::new(clients)))
    }

    /// The H1 client's future as it is; hyper's, boxed (only `http2 on`
    /// providers take that path).
    fn send<'a>(
        &'a self,
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a [Header<'a>],
        body: Bytes,
        keep: fn(&str) -> bool,
        deadline: Instant,
    ) -> impl Future<Output = Result<UpResponse, SendError>> + Send + 'a {
        type Boxed<'a> = Pin<Box<dyn Future<Output = Result<UpResponse, SendError>> + Send + 'a>>;
        match self {
            Transport::H1(client) => {
                let target = uri.path_and_query().map_or("/", |p| p.as_str());
                Either::Left(client.send(method, target, headers, body, keep, deadline).map(|r| {
                    let r = r.map_err(|e| match e {
                        h1::Error::Connect(e) => SendError::Connect(e.to_string()),
                        h1::Error::TimedOut => SendError::Timeout,
                        h1::Error::Protocol(why) => SendError::Protocol(why),
                        e => SendError::Other(e.to_string()),
                    })?;
                    Ok(UpResponse {
                        status: r.status,
                        headers: r.headers,
                        event_stream: r.event_stream,
                        body: UpBody::H1(r.body),
                    })
                }))
            }
            Transport::Hyper(clients) => {
                // Both were checked where they came from (a parsed head, the policy).
                let owned = headers
                    .iter()
                    .filter_map(|(n, v)| Some((HeaderName::from_bytes(n).ok()?, HeaderValue::from_bytes(v).ok()?)))
                    .collect();
                let boxed: Boxed<'a> = Box::pin(hyper_send(clients, method.clone(), uri.clone(), owned, body, keep));
                Either::Right(boxed)
            }
            Transport::Local => {
                let boxed: Boxed<'a> = Box::pin(std::future::ready(Err(SendError::Other(
                    "the mock provider has no network client".into(),
                ))));
                Either::Right(boxed)
            }
        }
    }
}

/// One exchange on a hyper client (HTTP/2 providers).
async fn hyper_send(
    clients: &[HttpClient],
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    keep: fn(&str) -> bool,
) -> Result<UpResponse, SendError> {
    let client = clients
        .get(crate::net::workers::index())
        .or(clients.last())
        .ok_or_else(|| SendError::Other("no client".into()))?;
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    req.headers_mut().extend(headers);
    let resp = client.request(req).await.map_err(|e| {
        if e.is_connect() {
            SendError::Connect(e.to_string())
        } else {
            SendError::Other(e.to_string())
        }
    })?;
    let (parts, body) = resp.into_parts();
    let mut kept = HeaderMap::new();
    for (n, v) in &parts.headers {
        if keep(n.as_str()) {
            kept.append(n.clone(), v.clone());
        }
    }
    let event_stream = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| crate::net::http1::codec::is_event_stream(v.as_bytes()));
    Ok(UpResponse { status: parts.status, headers: kept, event_stream, body: UpBody::Hyper(body) })
}

/// rustls set up for providers: the ring provider, the Mozilla root set,
/// and ALPN `http/1.1` for our client (hyper-rustls sets `h2, http/1.1` for
/// hyper's). Built once per process; every provider shares it.
fn tls_config(http2: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    static H1: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    static H2: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let build = || {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tls setup failed: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        // hyper-rustls sets `h2, http/1.1` itself, and refuses a config
        // that already has protocols.
        if !http2 {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Ok(Arc::new(config))
    };
    if http2 { H2.get_or_init(build) } else { H1.get_or_init(build) }.clone()
}

/// A provider's answer: status, the headers asked for, and the body.
pub struct UpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// `content-type: text/event-stream`.
    pub event_stream: bool,
    pub body: UpBody,
}

/// A provider's answer body, from either client.
pub enum UpBody {
    H1(h1::AnswerBody),
    Hyper(Incoming),
}

impl UpBody {
    /// The next piece of data; `Err` when the provider broke off.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match self {
            UpBody::H1(b) => b.poll_data(cx).map(|o| o.map(|r| r.map_err(BodyError::from))),
            UpBody::Hyper(body) => loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Poll::Ready(Some(Ok(data)));
                            }
                        }
                    }
                    Poll::Ready(Some(Err(_))) => return Poll::Ready(Some(Err(BodyError::Broken))),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    /// The whole body, at most `limit` bytes.
    pub async fn collect(self, limit: usize) -> Result<Bytes, BodyError> {
        match self {
            UpBody::H1(b) => b.collect(limit).await.map_err(BodyError::from),
            // Boxed: only `http2 on` providers take this path.
            UpBody::Hyper(body) => {
                Box::pin(Limited::new(body, limit).collect()).await.map(|c| c.to_bytes()).map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                        BodyError::TooLarge
                    } else {
                        BodyError::Broken
                    }
                })
            }
        }
    }

    /// Lifts the exchange's deadline from the rest of the body: a stream's
    /// reader watches the time between events itself.
    pub fn lift_deadline(&mut self) {
        if let UpBody::H1(b) = self {
            b.set_deadline(None);
        }
    }
}

/// Why a provider's answer body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Cut off or broken.
    Broken,
    /// Larger than the gateway reads whole (`max_answer`).
    TooLarge,
    /// Not complete by the exchange's deadline.
    TimedOut,
}

impl From<h1::Error> for BodyError {
    fn from(e: h1::Error) -> Self {
        match e {
            h1::Error::TimedOut => BodyError::TimedOut,
            h1::Error::TooLarge => BodyError::TooLarge,
            _ => BodyError::Broken,
        }
    }
}

fn build_client(p: &Provider, connector: Connector) -> HttpClient {
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(p.pool.idle_timeout)
        .pool_max_idle_per_host(p.pool.max_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new());
    // Plain-text HTTP/2 needs prior knowledge; over TLS, ALPN decides.
    if p.base_url.starts_with("http://") {
        b.http2_only(true);
    }
    b.build(connector)
}

struct HealthCheck {
    name: Arc<str>,
    transport: Transport,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    every: Duration,
    timeout: Duration,
    flag: Arc<AtomicBool>,
    gauge: IntGauge,
}

impl HealthCheck {
    async fn run(self) {
        loop {
            let ok = self.probe().await;
            let was = self.flag.swap(ok, Ordering::Relaxed);
            self.gauge.set(i64::from(ok));
            if was != ok {
                if ok {
                    tracing::info!(target: "hapax::health", provider = %self.name, "provider is healthy again");
                } else {
                    tracing::warn!(target: "hapax::health", provider = %self.name, "provider failed its health check");
                }
            }
            tokio::time::sleep(self.every).await;
        }
    }

    async fn probe(&self) -> bool {
        let call = async {
            let deadline = Instant::now() + self.timeout;
            let headers: Vec<Header> =
                self.headers.iter().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())).collect();
            let resp =
                self.transport.send(&Method::GET, &self.uri, &headers, Bytes::new(), |_| false, deadline).await.ok()?;
            let ok = resp.status.is_success() || resp.status.is_redirection();
            // Read the body so the connection goes back to the pool.
            let _ = resp.body.collect(1024 * 1024).await;
            Some(ok)
        };
        matches!(tokio::time::timeout(self.timeout, call).await, Ok(Some(true)))
    }
}
