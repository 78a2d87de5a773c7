//! A provider at run time: where its endpoints are, how to authenticate,
//! its pooled HTTP client, its circuit breaker and its health. One
//! `Upstream` lives as long as the provider's declaration is unchanged, across
//! reloads (see [`crate::state`]).

use crate::breaker::Breaker;
use crate::error::GatewayError;
use crate::ingress::Endpoint;
use crate::metrics::Metrics;
use bytes::Bytes;
use hapax_lang::graph::{MockMode, Provider, ProviderKind};
use http::header::{HeaderName, HeaderValue};
use http::Uri;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prometheus::IntGauge;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The pooled client of one provider.
pub type HttpClient = Client<Connector, Full<Bytes>>;

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    /// Answers locally in whatever format the client speaks.
    Mock,
}

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
    pub wire: Wire,
    pub timeout: Duration,
    pub models: Vec<String>,
    base: String,
    /// The authentication header, when a key is set.
    auth: Option<(HeaderName, HeaderValue)>,
    anthropic_version: HeaderValue,
    azure_version: String,
    endpoints: Endpoints,
    /// One pool per worker plus one for the control plane (see
    /// [`crate::workers`]), so a connection is only used on the thread that
    /// drives it.
    clients: Vec<HttpClient>,
    pub breaker: Option<Breaker>,
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

impl Upstream {
    /// Builds the provider's runtime; spawns its health checks, so it must
    /// run inside the tokio runtime.
    pub fn new(p: &Provider, secret: Option<String>, metrics: &Metrics) -> Result<Self, String> {
        let name: Arc<str> = Arc::from(p.decl.name.as_str());
        let wire = match p.kind {
            ProviderKind::Mock => Wire::Mock,
            ProviderKind::Anthropic => Wire::Anthropic,
            _ => Wire::OpenAi,
        };
        let base = p.base_url.trim_end_matches('/').to_string();
        if wire != Wire::Mock {
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
        let clients = if wire == Wire::Mock {
            Vec::new()
        } else {
            let connector = build_connector(p)?;
            (0..=crate::workers::count()).map(|_| build_client(p, connector.clone())).collect()
        };
        let breaker = p.breaker.as_ref().map(|b| Breaker::new(b, metrics.breaker_state.with_label_values(&[&name])));
        let healthy = Arc::new(AtomicBool::new(true));
        let gauge = metrics.provider_healthy.with_label_values(&[&name]);
        gauge.set(1);
        let mut up = Upstream {
            name,
            kind: p.kind,
            wire,
            timeout: p.timeout,
            models: p.models.clone(),
            base,
            auth,
            anthropic_version,
            azure_version,
            endpoints,
            clients,
            breaker,
            healthy,
            mock: MockConfig { latency: p.latency, mode: p.mode, count: AtomicU64::new(0) },
            health_task: None,
        };
        if let (Some(h), Some(client)) = (&p.health, up.client()) {
            let uri: Uri = format!("{}{}", up.base, h.path)
                .parse()
                .map_err(|_| format!("provider `{}`: health path `{}` does not make a valid URL", up.name, h.path))?;
            let check = HealthCheck {
                name: up.name.clone(),
                client: client.clone(),
                uri,
                headers: up.fixed_headers(),
                every: h.every,
                timeout: h.timeout,
                flag: up.healthy.clone(),
                gauge,
            };
            up.health_task = Some(tokio::spawn(check.run()).abort_handle());
        }
        Ok(up)
    }

    /// The current thread's pool.
    pub fn client(&self) -> Option<&HttpClient> {
        self.clients.get(crate::workers::index()).or(self.clients.last())
    }

    /// Healthy: the last health check passed (or there is none) and the
    /// breaker is not open.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
            && self.breaker.as_ref().is_none_or(|b| b.state() != crate::breaker::BreakerState::Open)
    }

    pub fn health_flag(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Headers every request to this provider carries: authentication and,
    /// for Anthropic, the API version.
    pub fn fixed_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = Vec::with_capacity(2);
        if let Some((n, v)) = &self.auth {
            h.push((n.clone(), v.clone()));
        }
        if self.kind == ProviderKind::Anthropic {
            h.push((HeaderName::from_static("anthropic-version"), self.anthropic_version.clone()));
        }
        h
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
            return format!("{}/openai/deployments/{}/{suffix}?api-version={}", self.base, model, self.azure_version)
                .parse()
                .map_err(|_| GatewayError::bad_request(format!("`{model}` is not a valid azure deployment name")));
        }
        let uri = match (self.wire, endpoint) {
            (Wire::Anthropic, Endpoint::Chat | Endpoint::Messages) => &self.endpoints.messages,
            (Wire::Anthropic, e) => {
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

fn build_connector(p: &Provider) -> Result<Connector, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(p.timeout.min(Duration::from_secs(10))));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("provider `{}`: tls setup failed: {e}", p.decl.name))?
        .https_or_http();
    Ok(if p.pool.http2 {
        builder.enable_all_versions().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    })
}

fn build_client(p: &Provider, connector: Connector) -> HttpClient {
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(p.pool.idle_timeout)
        .pool_max_idle_per_host(p.pool.max_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new());
    // Plain-text HTTP/2 needs prior knowledge; over TLS, ALPN decides.
    if p.pool.http2 && p.base_url.starts_with("http://") {
        b.http2_only(true);
    }
    b.build(connector)
}

struct HealthCheck {
    name: Arc<str>,
    client: HttpClient,
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
        let mut req = http::Request::get(self.uri.clone());
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        let Ok(req) = req.body(Full::new(Bytes::new())) else {
            return false;
        };
        let call = async {
            let resp = self.client.request(req).await.ok()?;
            let ok = resp.status().is_success() || resp.status().is_redirection();
            // Drain the body so the connection goes back to the pool.
            let _ = resp.into_body().collect().await;
            Some(ok)
        };
        matches!(tokio::time::timeout(self.timeout, call).await, Ok(Some(true)))
    }
}
