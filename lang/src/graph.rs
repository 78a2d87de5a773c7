//! The compiled routing graph: the immutable program the runtime executes.
//! Every reference is resolved to an index, every expression is compiled and
//! routes are indexed so that matching a request does not scan them all.

use crate::expr::{stable_hash, CExpr, RequestView};
use crate::fxhash::FxHasher;
use crate::span::Loc;
use regex::Regex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

macro_rules! ids {
    ($($name:ident),*) => {$(
        /// An index into the graph's table of that kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}
ids!(ProviderId, TierId, ClientId, LimitId, QueueId, CacheId, ScriptId, RouteId, SlaId, BudgetId);

/// Where a declaration came from and a fingerprint of its definition; state
/// kept across reloads is keyed by both, so a changed definition starts fresh.
#[derive(Debug, Clone)]
pub struct Decl {
    pub name: String,
    pub loc: Loc,
    pub fingerprint: u64,
}

/// A secret's source; its value is read only when serving.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

impl Secret {
    /// Reads the secret's value.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Secret::Env(v) => std::env::var(v).map_err(|_| format!("environment variable `{v}` is not set")),
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end().to_string())
                .map_err(|e| format!("cannot read `{}`: {e}", p.display())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ListenProto {
    Http,
    Https,
    H3,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub proto: ListenProto,
    pub addr: String,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub congestion: Option<String>,
    pub zero_rtt: bool,
    pub max_streams: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    pub listeners: Vec<Listener>,
    pub admin: Option<String>,
    pub max_body: u64,
    pub data_dir: PathBuf,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// How long a worker keeps polling for events after work before it
    /// sleeps; zero turns polling off.
    pub busy_poll: Duration,
    /// Open client connections, over all listeners; more are refused.
    pub max_connections: u64,
    /// Concurrent streams on one HTTP/2 connection.
    pub http2_max_streams: u32,
    /// Request body bytes held in memory at once, over all connections;
    /// a body that would pass it is answered 503.
    pub max_body_memory: u64,
    /// The largest provider answer read whole (not streamed).
    pub max_answer: u64,
    /// The longest line or event of a provider's event stream.
    pub max_event: u64,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            listeners: vec![Listener {
                proto: ListenProto::Http,
                addr: "127.0.0.1:8080".into(),
                cert: None,
                key: None,
                congestion: None,
                zero_rtt: false,
                max_streams: None,
            }],
            admin: None,
            max_body: 8 * 1024 * 1024,
            data_dir: PathBuf::from("./hapax-data"),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            shutdown_grace: Duration::from_secs(30),
            busy_poll: Duration::from_micros(50),
            max_connections: 10_000,
            http2_max_streams: 128,
            max_body_memory: 512 * 1024 * 1024,
            max_answer: 64 * 1024 * 1024,
            max_event: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Ollama,
    Azure,
    OpenAiCompatible,
    Mock,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "openai" => Self::OpenAi,
            "anthropic" => Self::Anthropic,
            "ollama" => Self::Ollama,
            "azure" => Self::Azure,
            "openai_compatible" => Self::OpenAiCompatible,
            "mock" => Self::Mock,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Ollama => "ollama",
            Self::Azure => "azure",
            Self::OpenAiCompatible => "openai_compatible",
            Self::Mock => "mock",
        }
    }
    /// The provider's public endpoint when `base_url` is not given.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Ollama => Some("http://127.0.0.1:11434"),
            Self::Mock => Some(""),
            Self::Azure | Self::OpenAiCompatible => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockMode {
    Normal,
    Slow,
    Flaky,
    Error,
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub max_idle: usize,
    pub idle_timeout: Duration,
    pub http2: bool,
}

#[derive(Debug, Clone)]
pub struct Health {
    pub every: Duration,
    pub path: String,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub failures: u32,
    pub within: Duration,
    pub open_for: Duration,
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub decl: Decl,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub pool: Pool,
    pub health: Option<Health>,
    pub breaker: Option<Breaker>,
    pub latency: Duration,
    pub api_version: Option<String>,
    pub models: Vec<String>,
    /// Request headers passed to the provider beyond the default allowlist
    /// (lowercase).
    pub forward: Vec<String>,
    pub mode: MockMode,
}

#[derive(Debug, Clone)]
pub struct Tier {
    pub decl: Decl,
    pub priority: i64,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub decl: Decl,
    pub tier: Option<TierId>,
    pub team: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Jwt {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks: Option<String>,
    /// A PEM certificate authority to trust for an `https` JWKS URL.
    pub ca: Option<PathBuf>,
    pub claims: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Auth {
    pub api_keys: bool,
    pub jwt: Option<Jwt>,
    pub open: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Authz {
    pub cedar: PathBuf,
    pub default_allow: bool,
    /// `role "A" inherits ["B", ...]`: a client with role A also has B.
    pub roles: Vec<(String, Vec<String>)>,
    /// The request headers (lowercase) given to Cedar as `context.headers`.
    pub headers: Vec<String>,
    /// The Cedar policies, compiled and validated; `None` until the whole
    /// policy checked (or when the Cedar file has errors).
    pub compiled: Option<std::sync::Arc<crate::authz::Cedar>>,
}

/// A calendar window, reset at UTC boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// The window of a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    Sliding(Duration),
    Calendar(Calendar),
}

/// `COUNT per WINDOW`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: f64,
    pub window: Window,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Local,
    Cluster,
}

#[derive(Debug, Clone)]
pub struct Limit {
    pub decl: Decl,
    pub by: Option<CExpr>,
    pub requests: Option<Rate>,
    pub tokens: Option<Rate>,
    pub burst: Option<u64>,
    pub scope: Scope,
    /// `notify webhook "URL" at 80%`: where and at what share of the limit
    /// a key's crossing is announced.
    pub notify: Vec<Notify>,
}

/// `notify webhook "URL" at PCT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub url: String,
    /// A share of the limit, in (0, 1].
    pub at: f64,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub decl: Decl,
    pub capacity_min: u64,
    pub capacity_max: u64,
    pub adaptive: bool,
    pub concurrency: u64,
    pub priority_order: bool,
    pub max_wait: Duration,
    pub retry_after: Duration,
    pub persist: bool,
}

#[derive(Debug, Clone)]
pub struct Cache {
    pub decl: Decl,
    pub key: Vec<CExpr>,
    pub when: Option<CExpr>,
    pub ttl: Duration,
    pub max_size: u64,
    pub scope: Scope,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub decl: Decl,
    pub path: PathBuf,
}

/// A provider and, optionally, the model to ask it for.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub provider: ProviderId,
    pub model: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Arm {
    /// Weight in basis points (10000 = 100%).
    pub weight: u32,
    pub target: Target,
}

/// Where a route sends its requests.
#[derive(Debug, Clone)]
pub enum Targets {
    One(Target),
    Split { by: Option<CExpr>, arms: Vec<Arm> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Request,
    Response,
}

#[derive(Debug, Clone)]
pub struct Retry {
    pub attempts: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// The path a route matches.
#[derive(Debug, Clone)]
pub enum PathPattern {
    Exact(String),
    /// `/v1/*`: everything under the prefix (which keeps its trailing `/`).
    Prefix(String),
    Glob(String, Regex),
}

impl PathPattern {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(p) => path.starts_with(p.as_str()),
            PathPattern::Glob(_, re) => re.is_match(path),
        }
    }
    /// The pattern as written in the policy.
    pub fn pattern(&self) -> String {
        match self {
            PathPattern::Exact(p) | PathPattern::Glob(p, _) => p.clone(),
            PathPattern::Prefix(p) => format!("{p}*"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub decl: Decl,
    pub method: Option<String>,
    pub path: PathPattern,
    pub when: Option<CExpr>,
    pub targets: Targets,
    pub fallback: Vec<Target>,
    pub retry: Option<Retry>,
    pub timeout: Option<Duration>,
    pub limits: Vec<LimitId>,
    pub queue: Option<QueueId>,
    pub cache: Option<CacheId>,
    pub transforms: Vec<(Stage, ScriptId)>,
    pub sla: Option<SlaId>,
    pub budget: Option<BudgetId>,
    /// What the route's `when` says about `request.model`, for the index.
    pub model_key: ModelKey,
    /// `fallback [route other]`: that route's targets, already expanded
    /// into `fallback` by the checker.
    pub fallback_routes: Vec<(RouteId, crate::span::Span)>,
}

impl Route {
    /// Every target the route may use, primary ones first, then fallbacks.
    pub fn all_targets(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = match &self.targets {
            Targets::One(t) => vec![t],
            Targets::Split { arms, .. } => arms.iter().map(|a| &a.target).collect(),
        };
        out.extend(self.fallback.iter());
        out
    }

    /// Picks the primary target: the only one, or a split arm by the sticky
    /// key (when `split by` is given) or by `roll` (any random number).
    pub fn pick<R: RequestView + ?Sized>(&self, req: &R, roll: u64) -> &Target {
        match &self.targets {
            Targets::One(t) => t,
            Targets::Split { by, arms } => {
                let n = match by {
                    Some(e) => stable_hash(&e.eval(req).to_key()),
                    None => roll,
                } % 10_000;
                let mut acc = 0u64;
                for arm in arms {
                    acc += u64::from(arm.weight);
                    if n < acc {
                        return &arm.target;
                    }
                }
                // Weights sum to 10000 (checked), so this is the last arm.
                &arms[arms.len() - 1].target
            }
        }
    }
}

/// The constraint a route puts on `request.model`, used to index routes.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelKey {
    Any,
    Exact(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct LatencyObjective {
    pub percentile: f64,
    pub below: Duration,
    pub over: Duration,
}

#[derive(Debug, Clone)]
pub enum Alert {
    Webhook(String),
    Log,
}

#[derive(Debug, Clone)]
pub struct Sla {
    pub decl: Decl,
    pub availability: Option<(f64, Duration)>,
    pub latency: Vec<LatencyObjective>,
    pub error_rate: Option<(f64, Duration)>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone)]
pub enum OnExceed {
    Block,
    Warn,
    Downgrade(Target),
}

#[derive(Debug, Clone)]
pub struct Budget {
    pub decl: Decl,
    pub applies: Option<CExpr>,
    pub spend_usd: f64,
    pub window: Window,
    pub warn_at: Option<f64>,
    pub on_exceed: OnExceed,
}

#[derive(Debug, Clone)]
pub struct Price {
    pub model: String,
    pub loc: Loc,
    pub input_per_mtok: Option<f64>,
    pub output_per_mtok: Option<f64>,
    pub cached_input_per_mtok: Option<f64>,
    pub context_window: Option<u64>,
}

/// Where audit events go.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    /// A JSON Lines file, rotated and pruned.
    File(PathBuf),
    Stdout,
    /// Batches of JSON Lines POSTed to a URL.
    Webhook(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sink {
    pub kind: SinkKind,
    /// `hourly`, `daily`, `weekly` or `never` (files only).
    pub rotate: Option<String>,
    /// How long rotated files are kept (files only).
    pub keep: Option<Duration>,
    /// Rotate a file when it would grow past this many bytes.
    pub max_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub sinks: Vec<Sink>,
    /// Expression paths (`request.body.messages`, `request.header["x"]`)
    /// whose values are hashed or masked before anything is written.
    pub redact: Vec<String>,
    pub log_prompts: bool,
    /// `on_full block`: a request waits for the audit writer rather than
    /// its event being dropped.
    pub block_when_full: bool,
}

/// How this node names itself in a cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeName {
    Literal(String),
    Secret(Secret),
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub store: String,
    pub node: Option<NodeName>,
}

/// The request of a `test` block.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub method: String,
    pub path: String,
    pub model: Option<String>,
    pub client: Option<ClientId>,
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    pub stream: bool,
    pub tokens: u64,
}

/// What a `test` block expects.
#[derive(Debug, Clone, Default)]
pub struct TestExpect {
    pub route: Option<RouteId>,
    pub targets: Option<Vec<ProviderId>>,
    pub allow: Option<bool>,
    pub limits: Option<Vec<LimitId>>,
    pub status: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct TestCase {
    pub decl: Decl,
    pub request: TestRequest,
    pub expect: TestExpect,
}

/// The compiled program.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub gateway: Gateway,
    pub providers: Vec<Provider>,
    pub tiers: Vec<Tier>,
    pub clients: Vec<Client>,
    pub auth: Option<Auth>,
    pub authz: Option<Authz>,
    pub limits: Vec<Limit>,
    pub queues: Vec<Queue>,
    pub caches: Vec<Cache>,
    pub scripts: Vec<Script>,
    pub routes: Vec<Route>,
    pub slas: Vec<Sla>,
    pub budgets: Vec<Budget>,
    pub prices: Vec<Price>,
    pub audit: Option<Audit>,
    pub cluster: Option<Cluster>,
    pub tests: Vec<TestCase>,
    pub index: RouteIndex,
}

impl Graph {
    pub fn provider(&self, id: ProviderId) -> &Provider {
        &self.providers[id.index()]
    }
    pub fn route(&self, id: RouteId) -> &Route {
        &self.routes[id.index()]
    }
    pub fn provider_by_name(&self, name: &str) -> Option<ProviderId> {
        self.providers.iter().position(|p| p.decl.name == name).map(|i| ProviderId(i as u32))
    }
    pub fn route_by_name(&self, name: &str) -> Option<RouteId> {
        self.routes.iter().position(|r| r.decl.name == name).map(|i| RouteId(i as u32))
    }

    /// The price of a model: the stdlib table, with any `price` block of
    /// the policy overriding it field by field.
    pub fn price(&self, model: &str) -> Option<hapax_stdlib::prices::ModelPrice> {
        let base = hapax_stdlib::prices::lookup(model).cloned();
        let over = self.prices.iter().find(|p| p.model == model);
        match (base, over) {
            (base, None) => base,
            (base, Some(o)) => {
                let mut p = base.unwrap_or(hapax_stdlib::prices::ModelPrice {
                    model: model.to_string(),
                    provider: String::new(),
                    input_per_mtok: 0.0,
                    output_per_mtok: 0.0,
                    cached_input_per_mtok: None,
                    context_window: 0,
                    max_output_tokens: None,
                });
                p.model = model.to_string();
                if let Some(v) = o.input_per_mtok {
                    p.input_per_mtok = v;
                }
                if let Some(v) = o.output_per_mtok {
                    p.output_per_mtok = v;
                }
                if o.cached_input_per_mtok.is_some() {
                    p.cached_input_per_mtok = o.cached_input_per_mtok;
                }
                if let Some(v) = o.context_window {
                    p.context_window = v;
                }
                Some(p)
            }
        }
    }

    /// The first route, in file order, whose `match` and `when` hold.
    pub fn match_route<R: RequestView + ?Sized>(&self, req: &R) -> Option<RouteId> {
        let method = req.method();
        let model = req.model();
        let mut best: Option<u32> = None;
        let mut consider = |ids: &[u32]| {
            for &id in ids {
                if best.is_some_and(|b| b <= id) {
                    // Candidate lists are sorted: nothing later can win.
                    break;
                }
                let r = &self.routes[id as usize];
                if r.method.as_deref().is_some_and(|m| m != method) || !r.path.matches(req.path()) {
                    continue;
                }
                if r.when.as_ref().is_none_or(|w| w.test(req)) {
                    best = Some(id);
                    break;
                }
            }
        };
        let path = req.path();
        if let Some(bucket) = self.index.exact.get(path) {
            bucket.candidates(model, &mut consider);
        }
        // Every prefix of the path that ends in `/`, longest first.
        if !self.index.prefix.is_empty() {
            for (i, _) in path.match_indices('/') {
                if let Some(bucket) = self.index.prefix.get(&path[..=i]) {
                    bucket.candidates(model, &mut consider);
                }
            }
        }
        self.index.other.candidates(model, &mut consider);
        best.map(RouteId)
    }
}

/// The route index's tables: their keys come from the policy, so a request
/// cannot flood them, and a fast hash serves (see [`FxHasher`]).
type IndexMap<V> = HashMap<String, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Route ids grouped by what they require of `request.model`.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    by_model: IndexMap<Vec<u32>>,
    any_model: Vec<u32>,
}

impl Bucket {
    fn add(&mut self, id: u32, key: &ModelKey) {
        match key {
            ModelKey::Any => self.any_model.push(id),
            ModelKey::Exact(models) => {
                for m in models {
                    self.by_model.entry(m.clone()).or_default().push(id);
                }
            }
        }
    }
    fn candidates(&self, model: Option<&str>, f: &mut impl FnMut(&[u32])) {
        if let Some(list) = model.and_then(|m| self.by_model.get(m)) {
            f(list);
        }
        f(&self.any_model);
    }
}

/// The index that makes matching independent of the number of routes when
/// routes differ by path or model.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    exact: IndexMap<Bucket>,
    prefix: IndexMap<Bucket>,
    other: Bucket,
}

impl RouteIndex {
    pub fn build(routes: &[Route]) -> Self {
        let mut idx = RouteIndex::default();
        for (i, r) in routes.iter().enumerate() {
            let id = i as u32;
            match &r.path {
                PathPattern::Exact(p) => idx.exact.entry(p.clone()).or_default().add(id, &r.model_key),
                PathPattern::Prefix(p) => idx.prefix.entry(p.clone()).or_default().add(id, &r.model_key),
                PathPattern::Glob(..) => idx.other.add(id, &r.model_key),
            }
        }
        idx
    }
}
