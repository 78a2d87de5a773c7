//! Lowering each kind of block into its compiled form.

use super::values::show;
use super::Checker;
use crate::codes::Code;
use crate::expr::ExprCompiler;
use crate::graph::*;
use crate::schema::RefKind;
use crate::span::{FileId, Span};
use crate::syntax::ast::{Ast, Directive, Expr, ExprKind, Head};
use std::time::Duration;

impl Checker<'_> {
    /// Second pass: lowers every declaration in file order.
    pub(super) fn lower(&mut self, asts: &[Ast]) -> Graph {
        let mut g = Graph::default();
        let mut gateway_seen = false;
        // Tests refer to routes and clients by name, so they are lowered
        // after everything else has been declared.
        let mut tests: Vec<(FileId, &Directive)> = Vec::new();
        for (i, ast) in asts.iter().enumerate() {
            self.file = FileId(i as u32);
            for d in &ast.items {
                let name = d.name_arg().map(|n| n.name).unwrap_or_default();
                let decl = Decl {
                    name,
                    loc: self.loc(d.name_arg().map_or(d.key_span(), |n| n.span)),
                    fingerprint: self.fingerprint(d.span),
                };
                match d.key() {
                    "gateway" if !gateway_seen => {
                        gateway_seen = true;
                        g.gateway = self.gateway(d);
                    }
                    "provider" => g.providers.push(self.provider(d, decl)),
                    "tier" => {
                        let mut priority = 0;
                        for s in self.settings("tier", d.block.as_ref()) {
                            if let Some(n) = self.one(s, "priority 10").and_then(|e| self.count(e)) {
                                priority = n as i64;
                            }
                        }
                        self.block_expected(d, 1);
                        g.tiers.push(Tier { decl, priority });
                    }
                    "client" => g.clients.push(self.client(d, decl)),
                    "gateway" => {
                        // A second block is an error already; its settings are still checked.
                        self.gateway(d);
                    }
                    "auth" if g.auth.is_none() => g.auth = Some(self.auth(d)),
                    "auth" => {
                        self.auth(d);
                    }
                    "authz" if g.authz.is_none() => g.authz = self.authz(d),
                    "authz" => {
                        self.authz(d);
                    }
                    "limit" => g.limits.push(self.limit(d, decl)),
                    "queue" => g.queues.push(self.queue(d, decl)),
                    "cache" => g.caches.push(self.cache(d, decl)),
                    "script" => {
                        let path = match d.args.get(1) {
                            Some(a) if d.args.len() == 2 => self.file_path(&a.value, "the script").unwrap_or_default(),
                            _ => {
                                self.args(d, 2, 2, "script NAME \"path/to/script.rhai\"");
                                Default::default()
                            }
                        };
                        if let Some(b) = &d.block {
                            let e = self
                                .error(
                                    Code::UnknownSetting,
                                    Span::new(b.span.start as usize, b.span.start as usize + 1),
                                    "`script` does not take a block",
                                )
                                .help("write `script NAME \"path/to/script.rhai\"`");
                            self.err(e);
                        }
                        g.scripts.push(Script { decl, path });
                    }
                    "route" => g.routes.push(self.route(d, decl)),
                    "sla" => g.slas.push(self.sla(d, decl)),
                    "budget" => g.budgets.push(self.budget(d, decl)),
                    "price" => {
                        if let Some(p) = self.price(d) {
                            g.prices.push(p);
                        }
                    }
                    "audit" if g.audit.is_none() => g.audit = Some(self.audit(d)),
                    "audit" => {
                        self.audit(d);
                    }
                    "cluster" if g.cluster.is_none() => g.cluster = self.cluster(d),
                    "cluster" => {
                        self.cluster(d);
                    }
                    "test" => tests.push((self.file, d)),
                    "import" if d.args.len() != 1 || d.args[0].value.as_str().is_none() => {
                        let e = self
                            .error(Code::WrongArity, d.head_span(), "`import` takes one file name")
                            .help("write `import \"other.hapax\"`");
                        self.err(e);
                    }
                    _ => {}
                }
            }
        }
        g.index = RouteIndex::build(&g.routes);
        for (file, d) in tests {
            self.file = file;
            let decl = Decl {
                name: d.name_arg().map(|n| n.name).unwrap_or_default(),
                loc: self.loc(d.key_span()),
                fingerprint: 0,
            };
            let t = self.test(d, decl);
            g.tests.push(t);
        }
        g
    }

    /// Reports a top-level block written without its `{ ... }`, or with too
    /// many names.
    fn block_expected(&mut self, d: &Directive, names: usize) {
        if d.args.len() > names {
            let extra = d.args[names].value.span.to(d.args[d.args.len() - 1].value.span);
            let e = self
                .error(
                    Code::WrongArity,
                    extra,
                    format!("`{}` takes {} before its block", d.key(), if names == 0 { "nothing" } else { "one name" }),
                )
                .label("unexpected");
            self.err(e);
        }
        if d.block.is_none() {
            let e = self.error(Code::Syntax, d.head_span(), format!("`{}` needs a block", d.key())).help(format!(
                "write `{} {}{{ ... }}`",
                d.key(),
                if names == 0 { "" } else { "NAME " }
            ));
            self.err(e);
        }
    }

    fn gateway(&mut self, d: &Directive) -> Gateway {
        self.block_expected(d, 0);
        let mut g = Gateway { listeners: Vec::new(), ..Gateway::default() };
        for s in self.settings("gateway", d.block.as_ref()) {
            match s.key() {
                "listen" => {
                    let args = self.args(s, 2, 2, "listen http \"127.0.0.1:8080\"");
                    let (Some(proto), Some(addr)) = (args.first(), args.get(1)) else { continue };
                    let proto = match self.word(proto, &["http", "https", "h3"]) {
                        Some("https") => ListenProto::Https,
                        Some("h3") => ListenProto::H3,
                        Some(_) => ListenProto::Http,
                        None => continue,
                    };
                    let addr = self.address(addr).unwrap_or_default();
                    let mut l = Listener {
                        proto: proto.clone(),
                        addr,
                        cert: None,
                        key: None,
                        congestion: None,
                        zero_rtt: false,
                        max_streams: None,
                    };
                    for t in self.settings("gateway.listen", s.block.as_ref()) {
                        match t.key() {
                            "cert" => {
                                l.cert = self
                                    .one(t, "cert \"certs/server.pem\"")
                                    .and_then(|e| self.file_path(e, "the certificate"))
                            }
                            "key" => {
                                l.key = self
                                    .one(t, "key \"certs/server.key\"")
                                    .and_then(|e| self.file_path(e, "the private key"))
                            }
                            "congestion" => {
                                l.congestion = self
                                    .one(t, "congestion bbr")
                                    .and_then(|e| self.word(e, &["bbr", "cubic", "newreno"]))
                                    .map(str::to_string)
                            }
                            "zero_rtt" => {
                                l.zero_rtt = self.one(t, "zero_rtt on").and_then(|e| self.bool_word(e)).unwrap_or(false)
                            }
                            _ => l.max_streams = self.one(t, "max_streams 256").and_then(|e| self.count(e)),
                        }
                    }
                    // HTTP/3 may share an HTTPS listener's certificate,
                    // wherever that listener is written in the block.
                    let shared = proto == ListenProto::H3
                        && l.cert.is_none()
                        && d.block.as_ref().is_some_and(|b| {
                            b.items.iter().any(|i| {
                                i.key() == "listen"
                                    && i.args.first().and_then(|a| a.value.as_ident()) == Some("https")
                                    && i.block.is_some()
                            })
                        });
                    if proto != ListenProto::Http && !shared && (l.cert.is_none() || l.key.is_none()) {
                        let e = self
                            .error(Code::MissingSetting, s.head_span(), format!("`listen {}` needs a certificate and a key", if proto == ListenProto::H3 { "h3" } else { "https" }))
                            .help("add `{ cert \"server.pem\"; key \"server.key\" }` (an `h3` listener may share the certificate of an `https` one)");
                        self.err(e);
                    }
                    g.listeners.push(l);
                }
                "admin" => g.admin = self.one(s, "admin \"127.0.0.1:9090\"").and_then(|e| self.address(e)),
                "max_body" => {
                    if let Some(n) = self.one(s, "max_body 8MiB").and_then(|e| self.size(e)) {
                        g.max_body = n;
                    }
                }
                "max_body_memory" => {
                    if let Some(n) = self.one(s, "max_body_memory 512MiB").and_then(|e| self.size(e)) {
                        g.max_body_memory = n;
                    }
                }
                "max_answer" => {
                    if let Some(n) = self.one(s, "max_answer 64MiB").and_then(|e| self.size(e)) {
                        g.max_answer = n;
                    }
                }
                "max_event" => {
                    if let Some(n) = self.one(s, "max_event 1MiB").and_then(|e| self.size(e)) {
                        g.max_event = n;
                    }
                }
                "max_connections" => {
                    if let Some(n) = self.one(s, "max_connections 10000").and_then(|e| self.count(e)) {
                        g.max_connections = n;
                    }
                }
                "http2_max_streams" => {
                    if let Some(n) = self.one(s, "http2_max_streams 128").and_then(|e| self.count(e)) {
                        g.http2_max_streams = u32::try_from(n).unwrap_or(u32::MAX);
                    }
                }
                "data_dir" => {
                    if let Some(p) = self.one(s, "data_dir \"./hapax-data\"").and_then(|e| self.string(e)) {
                        g.data_dir = crate::loader::normalize(&self.dir().join(p));
                    }
                }
                "busy_poll" => {
                    if let Some(t) = self.one(s, "busy_poll 50us").and_then(|e| self.busy_poll(e)) {
                        g.busy_poll = t;
                    }
                }
                key => {
                    let usage = format!("{key} 30s");
                    if let Some(t) = self.one(s, &usage).and_then(|e| self.duration(e)) {
                        match key {
                            "header_timeout" => g.header_timeout = t,
                            "idle_timeout" => g.idle_timeout = t,
                            _ => g.shutdown_grace = t,
                        }
                    }
                }
            }
        }
        if g.listeners.is_empty() {
            g.listeners = Gateway::default().listeners;
        }
        let tls = g
            .listeners
            .iter()
            .find(|l| l.proto == ListenProto::Https && l.cert.is_some())
            .map(|l| (l.cert.clone(), l.key.clone()));
        for l in &mut g.listeners {
            if let (ListenProto::H3, None, Some((cert, key))) = (&l.proto, &l.cert, &tls) {
                l.cert = cert.clone();
                l.key = key.clone();
            }
        }
        g
    }

    fn provider(&mut self, d: &Directive, decl: Decl) -> Provider {
        self.block_expected(d, 1);
        let mut p = Provider {
            decl,
            kind: ProviderKind::Mock,
            base_url: String::new(),
            api_key: None,
            timeout: Duration::from_secs(60),
            pool: Pool { max_idle: 64, idle_timeout: Duration::from_secs(90), http2: false },
            health: None,
            breaker: None,
            latency: Duration::ZERO,
            api_version: None,
            models: Vec::new(),
            forward: Vec::new(),
            mode: MockMode::Normal,
        };
        let mut kind = None;
        let mut base_url = None;
        for s in self.settings("provider", d.block.as_ref()) {
            match s.key() {
                "type" => {
                    kind = self
                        .one(s, "type openai")
                        .and_then(|e| self.word(e, crate::schema::PROVIDER_TYPES))
                        .and_then(ProviderKind::parse)
                }
                "base_url" => {
                    base_url = self
                        .one(s, "base_url \"https://api.openai.com/v1\"")
                        .and_then(|e| self.url(e, &["https", "http"]))
                }
                "api_key" => p.api_key = self.one(s, "api_key env(\"OPENAI_API_KEY\")").and_then(|e| self.secret(e)),
                "timeout" => p.timeout = self.one(s, "timeout 60s").and_then(|e| self.duration(e)).unwrap_or(p.timeout),
                "latency" => p.latency = self.one(s, "latency 20ms").and_then(|e| self.duration(e)).unwrap_or_default(),
                "api_version" => p.api_version = self.one(s, "api_version \"2024-10-21\"").and_then(|e| self.string(e)),
                "models" => p.models = self.strings(s),
                "forward" => p.forward = self.header_names(s),
                "mode" => {
                    p.mode = match self
                        .one(s, "mode normal")
                        .and_then(|e| self.word(e, &["normal", "slow", "flaky", "error"]))
                    {
                        Some("slow") => MockMode::Slow,
                        Some("flaky") => MockMode::Flaky,
                        Some("error") => MockMode::Error,
                        _ => MockMode::Normal,
                    }
                }
                "pool" => {
                    for t in self.settings("provider.pool", s.block.as_ref()) {
                        match t.key() {
                            "max_idle" => {
                                p.pool.max_idle =
                                    self.one(t, "max_idle 64").and_then(|e| self.count(e)).unwrap_or(64) as usize
                            }
                            "idle_timeout" => {
                                p.pool.idle_timeout = self
                                    .one(t, "idle_timeout 90s")
                                    .and_then(|e| self.duration(e))
                                    .unwrap_or(p.pool.idle_timeout)
                            }
                            _ => {
                                p.pool.http2 = self.one(t, "http2 on").and_then(|e| self.bool_word(e)).unwrap_or(false)
                            }
                        }
                    }
                }
                "health" => {
                    let mut h = Health {
                        every: Duration::from_secs(10),
                        path: "/models".into(),
                        timeout: Duration::from_secs(5),
                    };
                    for t in self.settings("provider.health", s.block.as_ref()) {
                        match t.key() {
                            "every" => {
                                h.every = self.one(t, "every 10s").and_then(|e| self.duration(e)).unwrap_or(h.every)
                            }
                            "path" => {
                                h.path = self.one(t, "path \"/models\"").and_then(|e| self.string(e)).unwrap_or(h.path)
                            }
                            _ => {
                                h.timeout =
                                    self.one(t, "timeout 5s").and_then(|e| self.duration(e)).unwrap_or(h.timeout)
                            }
                        }
                    }
                    p.health = Some(h);
                }
                "breaker" => {
                    let mut b =
                        Breaker { failures: 5, within: Duration::from_secs(30), open_for: Duration::from_secs(20) };
                    for t in self.settings("provider.breaker", s.block.as_ref()) {
                        if t.key() == "failures" {
                            let args = self.args(t, 1, 3, "failures 5 within 30s");
                            if let Some(n) = args.first().and_then(|e| self.count(e)) {
                                b.failures = n.max(1) as u32;
                            }
                            if args.len() >= 2 {
                                if args[1].as_ident() != Some("within") {
                                    let e = self
                                        .error(
                                            Code::Syntax,
                                            args[1].span,
                                            format!("expected `within`, found {}", show(args[1])),
                                        )
                                        .help("write `failures 5 within 30s`");
                                    self.err(e);
                                } else if let Some(w) = args.get(2) {
                                    if let Some(w) = self.duration(w) {
                                        b.within = w;
                                    }
                                } else {
                                    self.args(t, 3, 3, "failures 5 within 30s");
                                }
                            }
                        } else {
                            b.open_for =
                                self.one(t, "open_for 20s").and_then(|e| self.duration(e)).unwrap_or(b.open_for);
                        }
                    }
                    p.breaker = Some(b);
                }
                _ => {}
            }
        }
        match kind {
            Some(k) => p.kind = k,
            None => {
                if !d.block.as_ref().is_some_and(|b| b.items.iter().any(|i| i.key() == "type")) {
                    let e = self
                        .error(Code::MissingSetting, d.head_span(), format!("provider `{}` has no `type`", p.decl.name))
                        .help(format!("add `type openai` (one of {})", crate::schema::PROVIDER_TYPES.join(", ")));
                    self.err(e);
                }
            }
        }
        p.base_url = match (base_url, p.kind.default_base_url()) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Some(u)) => u.to_string(),
            (None, None) if has_key(d, "base_url") => String::new(),
            (None, None) => {
                let e = self
                    .error(
                        Code::MissingSetting,
                        d.head_span(),
                        format!("provider `{}` of type `{}` needs a `base_url`", p.decl.name, p.kind.as_str()),
                    )
                    .help("add `base_url \"https://...\"`");
                self.err(e);
                String::new()
            }
        };
        if p.kind == ProviderKind::Azure && p.api_version.is_none() {
            p.api_version = Some("2024-10-21".into());
        }
        p
    }

    fn client(&mut self, d: &Directive, decl: Decl) -> Client {
        self.block_expected(d, 1);
        let mut c = Client { decl, tier: None, team: None, roles: Vec::new() };
        for s in self.settings("client", d.block.as_ref()) {
            match s.key() {
                "tier" => c.tier = self.one(s, "tier gold").and_then(|e| self.resolve(RefKind::Tier, e)).map(TierId),
                "team" => c.team = self.one(s, "team \"research\"").and_then(|e| self.string(e)),
                _ => c.roles = self.strings(s),
            }
        }
        c
    }

    fn auth(&mut self, d: &Directive) -> Auth {
        self.block_expected(d, 0);
        let mut a = Auth { api_keys: false, jwt: None, open: Vec::new() };
        for s in self.settings("auth", d.block.as_ref()) {
            match s.key() {
                "api_keys" => {
                    a.api_keys =
                        self.one(s, "api_keys store").and_then(|e| self.word(e, &["store", "off"])) == Some("store")
                }
                "open" => a.open = self.strings(s),
                _ => {
                    let mut j = Jwt { issuer: None, audience: None, jwks: None, ca: None, claims: Vec::new() };
                    for t in self.settings("auth.jwt", s.block.as_ref()) {
                        match t.key() {
                            "issuer" => {
                                j.issuer = self.one(t, "issuer \"https://id.example.com\"").and_then(|e| self.string(e))
                            }
                            "audience" => j.audience = self.one(t, "audience \"hapax\"").and_then(|e| self.string(e)),
                            "jwks" => {
                                j.jwks = match self.one(t, "jwks file(\"keys/jwks.json\")") {
                                    Some(e) if e.as_str().is_some() => self.url(e, &["https", "http"]),
                                    Some(e) => self.secret(e).map(|s| match s {
                                        Secret::File(p) => p.display().to_string(),
                                        Secret::Env(v) => format!("env:{v}"),
                                    }),
                                    None => None,
                                }
                            }
                            "ca" => {
                                j.ca = self
                                    .one(t, "ca \"certs/idp-ca.pem\"")
                                    .and_then(|e| self.file_path(e, "the CA certificate"))
                            }
                            _ => {
                                for c in self.settings("auth.jwt.claims", t.block.as_ref()) {
                                    if let Some(v) = self.one(c, "client \"sub\"").and_then(|e| self.string(e)) {
                                        j.claims.push((c.key().to_string(), v));
                                    }
                                }
                            }
                        }
                    }
                    a.jwt = Some(j);
                }
            }
        }
        a
    }

    fn authz(&mut self, d: &Directive) -> Option<Authz> {
        self.block_expected(d, 0);
        let mut cedar = None;
        let mut default_allow = false;
        let mut roles: Vec<(String, Vec<String>)> = Vec::new();
        let mut headers = Vec::new();
        for s in self.settings("authz", d.block.as_ref()) {
            match s.key() {
                "cedar" => {
                    cedar = self.one(s, "cedar \"rbac.cedar\"").and_then(|e| self.file_path(e, "the Cedar policy file"))
                }
                "role" => {
                    let usage = "role \"admin\" inherits [\"operator\"]";
                    let args = self.args(s, 3, 3, usage);
                    let [name, word, up] = args[..] else { continue };
                    let name = self.string(name);
                    let word = self.word(word, &["inherits"]);
                    let up = match &up.kind {
                        ExprKind::List(items) => items.iter().filter_map(|i| self.string(i)).collect(),
                        _ => self.string(up).into_iter().collect::<Vec<_>>(),
                    };
                    if let (Some(name), Some(_)) = (name, word) {
                        if roles.iter().any(|(r, _)| *r == name) {
                            let e = self
                                .error(Code::DuplicateSetting, s.key_span(), format!("role `{name}` is given twice"))
                                .help("list every role it inherits in one `role` line");
                            self.err(e);
                        } else {
                            roles.push((name, up));
                        }
                    }
                }
                "headers" => {
                    headers = self.strings(s).into_iter().map(|h| h.to_ascii_lowercase()).collect();
                }
                _ => {
                    default_allow =
                        self.one(s, "default deny").and_then(|e| self.word(e, &["allow", "deny"])) == Some("allow")
                }
            }
        }
        // A cycle would make Cedar's entity hierarchy fail for every request.
        if let Some(cycle) = role_cycle(&roles) {
            let at = d
                .block
                .as_ref()
                .and_then(|b| b.items.iter().find(|i| i.key() == "role"))
                .map_or(d.head_span(), |i| i.key_span());
            let e = self
                .error(Code::RoleCycle, at, format!("roles inherit each other in a cycle: {}", cycle.join(" -> ")))
                .help("a role may not inherit itself, directly or through others");
            self.err(e);
        }
        match cedar {
            Some(cedar) => Some(Authz { cedar, default_allow, roles, headers, compiled: None }),
            None => {
                if !d.block.as_ref().is_some_and(|b| b.items.iter().any(|i| i.key() == "cedar")) {
                    let e = self
                        .error(Code::MissingSetting, d.head_span(), "`authz` needs a `cedar` policy file")
                        .help("add `cedar \"rbac.cedar\"`");
                    self.err(e);
                }
                None
            }
        }
    }

    fn scope(&mut self, e: &Expr) -> Scope {
        match self.word(e, crate::schema::SCOPES) {
            Some("cluster") => {
                if !self.has_cluster {
                    let d = self
                        .error(Code::ClusterScopeWithoutCluster, e.span, "`scope cluster` has no cluster to share state with")
                        .help("add a `cluster { store \"redis://...\" }` block, or use `scope local`; until then the state is local");
                    self.err(d);
                }
                Scope::Cluster
            }
            _ => Scope::Local,
        }
    }

    fn limit(&mut self, d: &Directive, decl: Decl) -> Limit {
        self.block_expected(d, 1);
        let mut l = Limit {
            decl,
            by: None,
            requests: None,
            tokens: None,
            burst: None,
            scope: Scope::Local,
            notify: Vec::new(),
        };
        for s in self.settings("limit", d.block.as_ref()) {
            match s.key() {
                "by" => l.by = self.one(s, "by client.id").map(|e| self.value_expr(e)),
                "requests" => l.requests = self.one(s, "requests 600 per 1m").and_then(|e| self.rate(e)),
                "tokens" => l.tokens = self.one(s, "tokens 200k per 1m").and_then(|e| self.rate(e)),
                "burst" => l.burst = self.one(s, "burst 50").and_then(|e| self.count(e)),
                "notify" => {
                    const USAGE: &str = "notify webhook \"http://127.0.0.1:9999/limits\" at 80%";
                    let args = self.args(s, 4, 4, USAGE);
                    if let [kind, url, at, pct] = args.as_slice() {
                        let kind = self.word(kind, &["webhook"]);
                        self.keyword(at, "at", USAGE);
                        let url = self.url(url, &["http", "https"]);
                        let pct = self.percent(pct);
                        if pct == Some(0.0) {
                            let e = self.error(
                                Code::BadValue,
                                args[3].span,
                                "a notification at 0% would fire on every key",
                            );
                            self.err(e.help("use a share above 0%, such as `at 80%`"));
                        } else if let (Some(_), Some(url), Some(at)) = (kind, url, pct) {
                            l.notify.push(Notify { url, at });
                        }
                    }
                }
                _ => l.scope = self.one(s, "scope local").map_or(Scope::Local, |e| self.scope(e)),
            }
        }
        let has = |k: &str| d.block.as_ref().is_some_and(|b| b.items.iter().any(|i| i.key() == k));
        if !has("requests") && !has("tokens") {
            let e = self
                .error(Code::MissingSetting, d.head_span(), format!("limit `{}` limits nothing", l.decl.name))
                .help("add `requests 600 per 1m` or `tokens 200k per 1m`");
            self.err(e);
        }
        l
    }

    fn queue(&mut self, d: &Directive, decl: Decl) -> Queue {
        self.block_expected(d, 1);
        let mut q = Queue {
            decl,
            capacity_min: 1000,
            capacity_max: 1000,
            adaptive: false,
            concurrency: 64,
            priority_order: false,
            max_wait: Duration::from_secs(30),
            retry_after: Duration::from_secs(1),
            persist: false,
        };
        for s in self.settings("queue", d.block.as_ref()) {
            match s.key() {
                "capacity" => {
                    let args = self.args(s, 1, 2, "capacity 1000..5000 adaptive");
                    match args.first().map(|e| &e.kind) {
                        Some(ExprKind::Range { .. }) => {
                            if let Some((lo, hi)) = self.range(args[0]) {
                                q.capacity_min = self.count(lo).unwrap_or(1000);
                                q.capacity_max = self.count(hi).unwrap_or(q.capacity_min);
                            }
                        }
                        Some(_) => {
                            let n = self.count(args[0]).unwrap_or(1000);
                            q.capacity_min = n;
                            q.capacity_max = n;
                        }
                        None => {}
                    }
                    if let Some(a) = args.get(1) {
                        q.adaptive = self.word(a, &["adaptive"]).is_some();
                    }
                }
                "concurrency" => {
                    q.concurrency = self.one(s, "concurrency 64").and_then(|e| self.count(e)).unwrap_or(64).max(1)
                }
                "order" => {
                    q.priority_order = self.one(s, "order priority").and_then(|e| self.word(e, &["priority", "fifo"]))
                        == Some("priority")
                }
                "max_wait" => {
                    q.max_wait = self.one(s, "max_wait 30s").and_then(|e| self.duration(e)).unwrap_or(q.max_wait)
                }
                "on_full" => {
                    let args = self.args(s, 1, 3, "on_full reject retry_after 2s");
                    if let Some(a) = args.first() {
                        self.word(a, &["reject"]);
                    }
                    if args.len() > 1 {
                        if args[1].as_ident() != Some("retry_after") {
                            let e = self
                                .error(
                                    Code::Syntax,
                                    args[1].span,
                                    format!("expected `retry_after`, found {}", show(args[1])),
                                )
                                .help("write `on_full reject retry_after 2s`");
                            self.err(e);
                        } else if let Some(t) = args.get(2).and_then(|e| self.duration(e)) {
                            q.retry_after = t;
                        }
                    }
                }
                _ => q.persist = self.one(s, "persist on").and_then(|e| self.bool_word(e)).unwrap_or(false),
            }
        }
        q
    }

    fn cache(&mut self, d: &Directive, decl: Decl) -> Cache {
        self.block_expected(d, 1);
        let mut c = Cache {
            decl,
            key: Vec::new(),
            when: None,
            ttl: Duration::from_secs(300),
            max_size: 256 * 1024 * 1024,
            scope: Scope::Local,
        };
        for s in self.settings("cache", d.block.as_ref()) {
            match s.key() {
                "key" => {
                    for a in &s.args {
                        match &a.value.kind {
                            ExprKind::List(items) => {
                                for i in items {
                                    let e = self.value_expr(i);
                                    c.key.push(e);
                                }
                            }
                            _ => {
                                let e = self.value_expr(&a.value);
                                c.key.push(e);
                            }
                        }
                    }
                }
                "when" => c.when = self.one(s, "when request.stream == false").map(|e| self.condition(e)),
                "ttl" => c.ttl = self.one(s, "ttl 10m").and_then(|e| self.duration(e)).unwrap_or(c.ttl),
                "max_size" => {
                    c.max_size = self.one(s, "max_size 512MiB").and_then(|e| self.size(e)).unwrap_or(c.max_size)
                }
                _ => c.scope = self.one(s, "scope local").map_or(Scope::Local, |e| self.scope(e)),
            }
        }
        c
    }

    pub(super) fn condition(&mut self, e: &Expr) -> crate::expr::CExpr {
        let mut comp = ExprCompiler { file: self.file, diags: &mut self.diags };
        comp.condition(e)
    }

    pub(super) fn value_expr(&mut self, e: &Expr) -> crate::expr::CExpr {
        let mut comp = ExprCompiler { file: self.file, diags: &mut self.diags };
        comp.value(e)
    }

    /// `provider [model "name"]` from a slice of words.
    pub(super) fn target(&mut self, words: &[&Expr], span: Span) -> Option<Target> {
        let Some(first) = words.first() else {
            let e = self
                .error(Code::WrongArity, span, "expected a target")
                .help("write a provider name, optionally with `model \"name\"`");
            self.err(e);
            return None;
        };
        let provider = self.resolve(RefKind::Provider, first).map(ProviderId);
        let mut model = None;
        match words.len() {
            1 => {}
            3 if words[1].as_ident() == Some("model") => model = self.string(words[2]),
            _ => {
                let rest = words[1].span.to(words[words.len() - 1].span);
                let e = self
                    .error(Code::Syntax, rest, "expected `model \"name\"` after the provider")
                    .help("write `openai model \"gpt-4o\"`, or only the provider to keep the requested model");
                self.err(e);
            }
        }
        Some(Target { provider: provider?, model })
    }

    fn route(&mut self, d: &Directive, decl: Decl) -> Route {
        self.block_expected(d, 1);
        let mut r = Route {
            decl,
            method: None,
            path: PathPattern::Prefix("/".into()),
            when: None,
            targets: Targets::One(Target { provider: ProviderId(0), model: None }),
            fallback: Vec::new(),
            retry: None,
            timeout: None,
            limits: Vec::new(),
            queue: None,
            cache: None,
            transforms: Vec::new(),
            sla: None,
            budget: None,
            model_key: ModelKey::Any,
            fallback_routes: Vec::new(),
        };
        let mut has_match = false;
        let mut to: Option<Span> = None;
        let mut split: Option<Span> = None;
        let mut have_target = false;
        for s in self.settings("route", d.block.as_ref()) {
            match s.key() {
                "match" => {
                    has_match = true;
                    let args = self.args(s, 1, 2, "match POST \"/v1/chat/completions\"");
                    let (method, path) = match args.as_slice() {
                        [p] => (None, *p),
                        [m, p, ..] => (Some(*m), *p),
                        [] => continue,
                    };
                    if let Some(m) = method {
                        r.method = self.word(m, crate::schema::METHODS).map(str::to_string);
                    }
                    if let Some(p) = self.string(path) {
                        if let Some(pat) = self.path_pattern(&p, path.span) {
                            r.path = pat;
                        }
                    }
                }
                "when" => {
                    if let Some(e) = self.one(s, "when request.model == \"gpt-4o\"") {
                        r.model_key = model_key(e);
                        let before = self.diags.len();
                        let c = self.condition(e);
                        let clean = self.diags.len() == before;
                        if let (crate::expr::CExpr::Const(v), true) = (&c, clean) {
                            let e2 = self
                                .error(
                                    Code::ConstantCondition,
                                    e.span,
                                    format!("this condition is always {}", v.truthy()),
                                )
                                .help("it does not depend on the request; remove `when` or compare a request value");
                            self.err(e2);
                        }
                        r.when = Some(c);
                    }
                }
                "to" => {
                    to = Some(s.key_span());
                    let words: Vec<&Expr> = s.args.iter().map(|a| &a.value).collect();
                    if let Some(t) = self.target(&words, s.head_span()) {
                        r.targets = Targets::One(t);
                        have_target = true;
                    }
                }
                "split" => {
                    split = Some(s.key_span());
                    if let Some(t) = self.split(s) {
                        r.targets = t;
                        have_target = true;
                    }
                }
                "fallback" => {
                    for a in &s.args {
                        let items: Vec<&Expr> = match &a.value.kind {
                            ExprKind::List(items) => items.iter().collect(),
                            _ => vec![&a.value],
                        };
                        for item in items {
                            let words: Vec<&Expr> = match &item.kind {
                                ExprKind::Words(w) => w.iter().collect(),
                                _ => vec![item],
                            };
                            if let [kw, name] = words.as_slice() {
                                if kw.as_ident() == Some("route") {
                                    if let Some(id) = self.resolve(RefKind::Route, name) {
                                        r.fallback_routes.push((RouteId(id), item.span));
                                    }
                                    continue;
                                }
                            }
                            if let Some(t) = self.target(&words, item.span) {
                                r.fallback.push(t);
                            }
                        }
                    }
                    if s.args.is_empty() {
                        self.args(s, 1, 1, "fallback [echo]");
                    }
                }
                "retry" => r.retry = self.retry(s),
                "timeout" => r.timeout = self.one(s, "timeout 45s").and_then(|e| self.duration(e)),
                "use" => {
                    if s.args.is_empty() {
                        self.args(s, 1, 1, "use per_client, monthly_quota");
                    }
                    for a in &s.args {
                        let items: Vec<&Expr> = match &a.value.kind {
                            ExprKind::List(items) => items.iter().collect(),
                            _ => vec![&a.value],
                        };
                        for item in items {
                            if let Some(id) = self.resolve(RefKind::Limit, item) {
                                r.limits.push(LimitId(id));
                            }
                        }
                    }
                }
                "queue" => {
                    r.queue =
                        self.one(s, "queue interactive").and_then(|e| self.resolve(RefKind::Queue, e)).map(QueueId)
                }
                "cache" => {
                    r.cache = self.one(s, "cache exact").and_then(|e| self.resolve(RefKind::Cache, e)).map(CacheId)
                }
                "sla" => r.sla = self.one(s, "sla chat").and_then(|e| self.resolve(RefKind::Sla, e)).map(SlaId),
                "budget" => {
                    r.budget = self
                        .one(s, "budget research_spend")
                        .and_then(|e| self.resolve(RefKind::Budget, e))
                        .map(BudgetId)
                }
                _ => {
                    // transform request|response SCRIPT
                    let args = self.args(s, 2, 2, "transform request add_system_prompt");
                    if let [stage, script] = args.as_slice() {
                        let stage = match self.word(stage, &["request", "response"]) {
                            Some("response") => Stage::Response,
                            _ => Stage::Request,
                        };
                        if let Some(id) = self.resolve(RefKind::Script, script) {
                            r.transforms.push((stage, ScriptId(id)));
                        }
                    }
                }
            }
        }
        if !has_match && d.block.is_some() && !has_key(d, "match") {
            let e = self
                .error(Code::MissingSetting, d.head_span(), format!("route `{}` has no `match`", r.decl.name))
                .help(
                    "add `match POST \"/v1/chat/completions\"`, or `match \"/v1/*\"` for every method under a prefix",
                );
            self.err(e);
        }
        match (to, split) {
            (Some(a), Some(b)) => {
                let e = self
                    .error(Code::ConflictingTargets, b, format!("route `{}` has both `to` and `split`", r.decl.name))
                    .related(self.loc(a), "`to` is here")
                    .help("use `to` for one target, or `split` to share traffic between several");
                self.err(e);
            }
            (None, None) if d.block.is_some() && !has_key(d, "to") && !has_key(d, "split") => {
                let e = self
                    .error(Code::NoTarget, d.head_span(), format!("route `{}` has no target", r.decl.name))
                    .help("add `to PROVIDER` or a `split { ... }` block");
                self.err(e);
            }
            _ => {}
        }
        let _ = have_target;
        r
    }

    fn path_pattern(&mut self, p: &str, span: Span) -> Option<PathPattern> {
        if !p.starts_with('/') {
            let e = self
                .error(Code::BadPathPattern, span, format!("the path `{p}` does not start with `/`"))
                .help(format!("write `\"/{p}\"`"));
            self.err(e);
            return None;
        }
        if let Some(prefix) = p.strip_suffix('*') {
            if !prefix.contains(['*', '?', '[']) && prefix.ends_with('/') {
                return Some(PathPattern::Prefix(prefix.to_string()));
            }
        }
        if p.contains(['*', '?', '[']) {
            return match crate::expr::glob_to_regex(p) {
                Ok(re) => Some(PathPattern::Glob(p.to_string(), re)),
                Err(msg) => {
                    let e = self.error(Code::BadGlob, span, format!("invalid path pattern `{p}`")).label(msg);
                    self.err(e);
                    None
                }
            };
        }
        Some(PathPattern::Exact(p.to_string()))
    }

    fn split(&mut self, s: &Directive) -> Option<Targets> {
        let by = match s.args.as_slice() {
            [] => None,
            [kw, e] if kw.value.as_ident() == Some("by") => Some(self.value_expr(&e.value)),
            _ => {
                self.args(s, 0, 0, "split by client.id { 90% -> a; 10% -> b }");
                None
            }
        };
        let Some(block) = &s.block else {
            let e = self
                .error(Code::Syntax, s.head_span(), "`split` needs a block of arms")
                .help("write `split { 90% -> openai; 10% -> claude }`");
            self.err(e);
            return None;
        };
        let mut arms = Vec::new();
        let mut total = 0.0;
        let mut ok = true;
        let mut last_weight: Option<(Span, f64)> = None;
        for a in self.settings("route.split", Some(block)) {
            let Head::Arm(w) = &a.head else { continue };
            let weight = match &w.kind {
                ExprKind::Number { value, unit: crate::syntax::ast::Unit::Percent, .. } => *value,
                _ => {
                    let e = self
                        .error(
                            Code::WrongType,
                            w.span,
                            format!("a split weight is a percentage, found {}", w.describe()),
                        )
                        .help("write it like `90%`");
                    self.err(e);
                    ok = false;
                    continue;
                }
            };
            total += weight;
            last_weight = Some((w.span, weight));
            let words: Vec<&Expr> = a.args.iter().map(|x| &x.value).collect();
            match self.target(&words, a.span) {
                Some(t) => arms.push(Arm { weight: (weight * 100.0).round() as u32, target: t }),
                None => ok = false,
            }
        }
        if arms.is_empty() && ok {
            let e =
                self.error(Code::NoTarget, s.key_span(), "`split` has no arms").help("add arms like `50% -> openai`");
            self.err(e);
            return None;
        }
        if ok && (total - 100.0).abs() > 1e-9 {
            let mut e = self
                .error(Code::SplitSum, s.key_span(), format!("split weights add up to {}%, not 100%", fmt_num(total)))
                .help("make the weights add up to exactly 100%");
            if let Some((span, w)) = last_weight {
                let fixed = w + (100.0 - total);
                if fixed > 0.0 {
                    e = e.fix(
                        format!("set the last weight to {}%", fmt_num(fixed)),
                        self.loc(span),
                        format!("{}%", fmt_num(fixed)),
                    );
                    e.help = Some(format!(
                        "make the weights add up to exactly 100%: the last arm would be {}%",
                        fmt_num(fixed)
                    ));
                }
            }
            self.err(e);
            return None;
        }
        if !ok {
            return None;
        }
        // Rounding must not lose the last basis points.
        let sum: u32 = arms.iter().map(|a| a.weight).sum();
        if let Some(last) = arms.last_mut() {
            last.weight = (last.weight + 10_000).saturating_sub(sum);
        }
        Some(Targets::Split { by, arms })
    }

    fn retry(&mut self, s: &Directive) -> Option<Retry> {
        let args = self.args(s, 1, 3, "retry 2 backoff 100ms..2s");
        let attempts = self.count(args.first()?)? as u32;
        let mut r = Retry { attempts, backoff_min: Duration::from_millis(100), backoff_max: Duration::from_secs(2) };
        if args.len() > 1 {
            if args[1].as_ident() != Some("backoff") {
                let e = self
                    .error(Code::Syntax, args[1].span, format!("expected `backoff`, found {}", show(args[1])))
                    .help("write `retry 2 backoff 100ms..2s`");
                self.err(e);
            } else if let Some((lo, hi)) = args.get(2).and_then(|e| self.range(e)) {
                r.backoff_min = self.duration(lo)?;
                r.backoff_max = self.duration(hi)?;
            } else if args.len() == 2 {
                self.args(s, 3, 3, "retry 2 backoff 100ms..2s");
            }
        }
        Some(r)
    }

    fn sla(&mut self, d: &Directive, decl: Decl) -> Sla {
        self.block_expected(d, 1);
        let mut sla = Sla { decl, availability: None, latency: Vec::new(), error_rate: None, alerts: Vec::new() };
        for s in self.settings("sla", d.block.as_ref()) {
            match s.key() {
                "availability" => {
                    let args = self.args(s, 3, 3, "availability 99.9% over 30d");
                    if let [p, over, w] = args.as_slice() {
                        let p = self.percent(p);
                        self.keyword(over, "over", "availability 99.9% over 30d");
                        if let (Some(p), Some(w)) = (p, self.duration(w)) {
                            sla.availability = Some((p, w));
                        }
                    }
                }
                "latency" => {
                    let args = self.args(s, 5, 5, "latency p99 below 1500ms over 5m");
                    if let [p, below, t, over, w] = args.as_slice() {
                        let pct =
                            match p.as_ident().and_then(|n| n.strip_prefix('p')).and_then(|n| n.parse::<f64>().ok()) {
                                Some(v) if v > 0.0 && v < 100.0 => Some(v),
                                _ => {
                                    let e = self.error(
                                        Code::BadValue,
                                        p.span,
                                        format!("expected a percentile like `p99`, found {}", show(p)),
                                    );
                                    self.err(e);
                                    None
                                }
                            };
                        self.keyword(below, "below", "latency p99 below 1500ms over 5m");
                        self.keyword(over, "over", "latency p99 below 1500ms over 5m");
                        if let (Some(percentile), Some(below), Some(over)) = (pct, self.duration(t), self.duration(w)) {
                            sla.latency.push(LatencyObjective { percentile, below, over });
                        }
                    }
                }
                "error_rate" => {
                    let args = self.args(s, 4, 4, "error_rate below 1% over 5m");
                    if let [below, p, over, w] = args.as_slice() {
                        self.keyword(below, "below", "error_rate below 1% over 5m");
                        self.keyword(over, "over", "error_rate below 1% over 5m");
                        if let (Some(p), Some(w)) = (self.percent(p), self.duration(w)) {
                            sla.error_rate = Some((p, w));
                        }
                    }
                }
                _ => {
                    let args = self.args(s, 1, 2, "alert webhook \"http://127.0.0.1:9999/alerts\"");
                    match args.first().and_then(|e| self.word(e, &["webhook", "log"])) {
                        Some("webhook") => match args.get(1) {
                            Some(u) => {
                                if let Some(u) = self.url(u, &["http", "https"]) {
                                    sla.alerts.push(Alert::Webhook(u));
                                }
                            }
                            None => {
                                self.args(s, 2, 2, "alert webhook \"http://127.0.0.1:9999/alerts\"");
                            }
                        },
                        Some(_) => sla.alerts.push(Alert::Log),
                        None => {}
                    }
                }
            }
        }
        sla
    }

    fn keyword(&mut self, e: &Expr, want: &str, usage: &str) {
        if e.as_ident() != Some(want) {
            let d = self
                .error(Code::Syntax, e.span, format!("expected `{want}`, found {}", show(e)))
                .help(format!("write `{usage}`"));
            self.err(d);
        }
    }

    fn budget(&mut self, d: &Directive, decl: Decl) -> Budget {
        self.block_expected(d, 1);
        let mut b = Budget {
            decl,
            applies: None,
            spend_usd: 0.0,
            window: Window::Calendar(Calendar::Month),
            warn_at: None,
            on_exceed: OnExceed::Block,
        };
        let mut has_spend = false;
        for s in self.settings("budget", d.block.as_ref()) {
            match s.key() {
                "for" => b.applies = self.one(s, "for client.team == \"research\"").map(|e| self.condition(e)),
                "spend" => {
                    has_spend = true;
                    if let Some(e) = self.one(s, "spend 500 USD per month") {
                        match &e.kind {
                            ExprKind::Rate { count, per } => {
                                if let Some(m) = self.money(count) {
                                    b.spend_usd = m;
                                }
                                if let Some(w) = self.window(per) {
                                    b.window = w;
                                }
                            }
                            _ => {
                                let d = self
                                    .error(
                                        Code::WrongType,
                                        e.span,
                                        format!("expected an amount per period, found {}", e.describe()),
                                    )
                                    .help("write `spend 500 USD per month`");
                                self.err(d);
                            }
                        }
                    }
                }
                "warn_at" => b.warn_at = self.one(s, "warn_at 80%").and_then(|e| self.percent(e)),
                _ => {
                    let words: Vec<&Expr> = s.args.iter().map(|a| &a.value).collect();
                    match words.first().and_then(|e| self.word(e, &["block", "warn", "downgrade"])) {
                        Some("warn") => b.on_exceed = OnExceed::Warn,
                        Some("downgrade") => {
                            if let Some(t) = self.target(&words[1..], s.head_span()) {
                                b.on_exceed = OnExceed::Downgrade(t);
                            }
                        }
                        Some(_) => b.on_exceed = OnExceed::Block,
                        None => {
                            if words.is_empty() {
                                self.args(s, 1, 1, "on_exceed block");
                            }
                        }
                    }
                }
            }
        }
        if !has_spend && d.block.is_some() {
            let e = self
                .error(Code::MissingSetting, d.head_span(), format!("budget `{}` has no `spend`", b.decl.name))
                .help("add `spend 500 USD per month`");
            self.err(e);
        }
        b
    }

    fn price(&mut self, d: &Directive) -> Option<Price> {
        let Some(model) = d.args.first().and_then(|a| a.value.as_str()).map(str::to_string) else {
            let e = self
                .error(Code::MissingName, d.head_span(), "`price` needs the model it prices")
                .help("write `price \"gpt-4o\" { input 2.50 USD per 1M; output 10 USD per 1M }`");
            self.err(e);
            return None;
        };
        self.block_expected(d, 1);
        let mut p = Price {
            model,
            loc: self.loc(d.args[0].value.span),
            input_per_mtok: None,
            output_per_mtok: None,
            cached_input_per_mtok: None,
            context_window: None,
        };
        for s in self.settings("price", d.block.as_ref()) {
            if s.key() == "context" {
                p.context_window = self.one(s, "context 128k").and_then(|e| self.count(e));
                continue;
            }
            let Some(e) = self.one(s, "input 2.50 USD per 1M") else { continue };
            let per_m = match &e.kind {
                ExprKind::Rate { count, per } => {
                    let amount = self.money(count);
                    let n = match &per.kind {
                        ExprKind::Number {
                            value,
                            unit: crate::syntax::ast::Unit::None | crate::syntax::ast::Unit::Count,
                            ..
                        } if *value > 0.0 => Some(*value),
                        _ => {
                            let d = self
                                .error(
                                    Code::WrongType,
                                    per.span,
                                    format!("expected a token count after `per`, found {}", per.describe()),
                                )
                                .help("write `per 1M` (per million tokens)");
                            self.err(d);
                            None
                        }
                    };
                    amount.zip(n).map(|(a, n)| a * 1e6 / n)
                }
                _ => self.money(e),
            };
            match s.key() {
                "input" => p.input_per_mtok = per_m,
                "output" => p.output_per_mtok = per_m,
                _ => p.cached_input_per_mtok = per_m,
            }
        }
        Some(p)
    }

    fn audit(&mut self, d: &Directive) -> Audit {
        self.block_expected(d, 0);
        let mut a = Audit { sinks: Vec::new(), redact: Vec::new(), log_prompts: false, block_when_full: false };
        for s in self.settings("audit", d.block.as_ref()) {
            match s.key() {
                "sink" => {
                    let usage = "sink file \"logs/audit.jsonl\"";
                    let args = self.args(s, 1, 2, usage);
                    let kind = match args.first().and_then(|e| self.word(e, &["file", "stdout", "webhook"])) {
                        Some("stdout") => {
                            if args.len() > 1 {
                                self.args(s, 1, 1, "sink stdout");
                            }
                            Some(SinkKind::Stdout)
                        }
                        Some("file") => match args.get(1) {
                            Some(p) => {
                                self.string(p).map(|p| SinkKind::File(crate::loader::normalize(&self.dir().join(p))))
                            }
                            None => {
                                self.args(s, 2, 2, usage);
                                None
                            }
                        },
                        Some(_) => match args.get(1) {
                            Some(u) => self.url(u, &["http", "https"]).map(SinkKind::Webhook),
                            None => {
                                self.args(s, 2, 2, "sink webhook \"https://logs.example.com/hapax\"");
                                None
                            }
                        },
                        None => None,
                    };
                    let mut sink = Sink { kind: SinkKind::Stdout, rotate: None, keep: None, max_size: None };
                    for t in self.settings("audit.sink", s.block.as_ref()) {
                        match t.key() {
                            "rotate" => {
                                sink.rotate = self
                                    .one(t, "rotate daily")
                                    .and_then(|e| self.word(e, &["hourly", "daily", "weekly", "never"]))
                                    .map(str::to_string)
                            }
                            "max_size" => sink.max_size = self.one(t, "max_size 100MiB").and_then(|e| self.size(e)),
                            _ => sink.keep = self.one(t, "keep 30d").and_then(|e| self.duration(e)),
                        }
                    }
                    if let Some(kind) = kind {
                        if !matches!(kind, SinkKind::File(_)) && s.block.is_some() {
                            let e = self
                                .error(Code::UnknownSetting, s.key_span(), "only a `file` sink rotates and keeps files")
                                .help("remove the block after this sink");
                            self.err(e);
                        }
                        sink.kind = kind;
                        a.sinks.push(sink);
                    }
                }
                "on_full" => {
                    a.block_when_full =
                        self.one(s, "on_full drop").and_then(|e| self.word(e, &["drop", "block"])) == Some("block")
                }
                "redact" => {
                    for arg in &s.args {
                        let items: Vec<&Expr> = match &arg.value.kind {
                            ExprKind::List(items) => items.iter().collect(),
                            _ => vec![&arg.value],
                        };
                        for i in items {
                            // Validate as a path; keep its text.
                            let _ = self.value_expr(i);
                            a.redact.push(self.text(i.span).to_string());
                        }
                    }
                }
                _ => a.log_prompts = self.one(s, "log_prompts off").and_then(|e| self.bool_word(e)).unwrap_or(false),
            }
        }
        a
    }

    fn cluster(&mut self, d: &Directive) -> Option<Cluster> {
        self.block_expected(d, 0);
        let mut store = None;
        let mut node = None;
        for s in self.settings("cluster", d.block.as_ref()) {
            match s.key() {
                "store" => {
                    store =
                        self.one(s, "store \"redis://127.0.0.1:6379\"").and_then(|e| self.url(e, &["redis", "rediss"]))
                }
                _ => {
                    node = match self.one(s, "node env(\"HOSTNAME\")") {
                        Some(e) if e.as_str().is_some() => e.as_str().map(|n| NodeName::Literal(n.to_string())),
                        Some(e) => self.secret(e).map(NodeName::Secret),
                        None => None,
                    }
                }
            }
        }
        match store {
            Some(store) => Some(Cluster { store, node }),
            None => {
                if !d.block.as_ref().is_some_and(|b| b.items.iter().any(|i| i.key() == "store")) {
                    let e = self
                        .error(Code::MissingSetting, d.head_span(), "`cluster` needs a `store`")
                        .help("add `store \"redis://127.0.0.1:6379\"`");
                    self.err(e);
                }
                None
            }
        }
    }

    fn test(&mut self, d: &Directive, decl: Decl) -> TestCase {
        self.block_expected(d, 1);
        let mut t = TestCase {
            decl,
            request: TestRequest { method: "POST".into(), path: "/v1/chat/completions".into(), ..Default::default() },
            expect: TestExpect::default(),
        };
        let mut has_expect = false;
        for s in self.settings("test", d.block.as_ref()) {
            if s.key() == "request" {
                for r in self.settings("test.request", s.block.as_ref()) {
                    match r.key() {
                        "method" => {
                            t.request.method = self
                                .one(r, "method POST")
                                .and_then(|e| self.word(e, crate::schema::METHODS))
                                .unwrap_or("POST")
                                .to_string()
                        }
                        "path" => {
                            t.request.path = self
                                .one(r, "path \"/v1/chat/completions\"")
                                .and_then(|e| self.string(e))
                                .unwrap_or_default()
                        }
                        "model" => t.request.model = self.one(r, "model \"gpt-4o\"").and_then(|e| self.string(e)),
                        "client" => {
                            t.request.client = self
                                .one(r, "client research")
                                .and_then(|e| self.resolve(RefKind::Client, e))
                                .map(ClientId)
                        }
                        "header" => {
                            let args = self.args(r, 2, 2, "header \"x-team\" \"research\"");
                            if let [k, v] = args.as_slice() {
                                if let (Some(k), Some(v)) = (self.string(k), self.string(v)) {
                                    t.request.headers.push((k.to_ascii_lowercase(), v));
                                }
                            }
                        }
                        "body" => {
                            if let Some(e) = self.one(r, "body \"{\\\"messages\\\": []}\"") {
                                if let Some(s) = self.string(e) {
                                    match serde_json::from_str(&s) {
                                        Ok(v) => t.request.body = Some(v),
                                        Err(err) => {
                                            let d = self.error(
                                                Code::BadTest,
                                                e.span,
                                                format!("the test body is not valid JSON: {err}"),
                                            );
                                            self.err(d);
                                        }
                                    }
                                }
                            }
                        }
                        "stream" => {
                            t.request.stream =
                                self.one(r, "stream true").and_then(|e| self.bool_word(e)).unwrap_or(false)
                        }
                        _ => t.request.tokens = self.one(r, "tokens 1000").and_then(|e| self.count(e)).unwrap_or(0),
                    }
                }
            } else {
                has_expect = true;
                for x in self.settings("test.expect", s.block.as_ref()) {
                    match x.key() {
                        "route" => {
                            if let Some(e) = self.one(x, "route chat") {
                                if e.as_ident() != Some("none") {
                                    t.expect.route = self.resolve(RefKind::Route, e).map(RouteId);
                                } else {
                                    t.expect.status = Some(404);
                                }
                            }
                        }
                        "target" | "limits" => {
                            let kind = if x.key() == "target" { RefKind::Provider } else { RefKind::Limit };
                            let mut ids = Vec::new();
                            for a in &x.args {
                                let items: Vec<&Expr> = match &a.value.kind {
                                    ExprKind::List(items) => items.iter().collect(),
                                    _ => vec![&a.value],
                                };
                                for i in items {
                                    if let Some(id) = self.resolve(kind, i) {
                                        ids.push(id);
                                    }
                                }
                            }
                            if kind == RefKind::Provider {
                                t.expect.targets = Some(ids.into_iter().map(ProviderId).collect());
                            } else {
                                t.expect.limits = Some(ids.into_iter().map(LimitId).collect());
                            }
                        }
                        "allow" => t.expect.allow = self.one(x, "allow true").and_then(|e| self.bool_word(e)),
                        _ => {
                            t.expect.status = self.one(x, "status 404").and_then(|e| self.count(e)).and_then(|n| {
                                if (100..600).contains(&n) {
                                    Some(n as u16)
                                } else {
                                    let d = self.error(
                                        Code::BadValue,
                                        x.args[0].value.span,
                                        format!("`{n}` is not an HTTP status"),
                                    );
                                    self.err(d);
                                    None
                                }
                            })
                        }
                    }
                }
            }
        }
        if !has_expect && d.block.is_some() {
            let e = self
                .error(Code::BadTest, d.head_span(), format!("test `{}` expects nothing", t.decl.name))
                .help("add `expect { route NAME }`");
            self.err(e);
        }
        t
    }
}

/// Whether a block has a statement with this key, even a broken one.
fn has_key(d: &Directive, key: &str) -> bool {
    d.block.as_ref().is_some_and(|b| b.items.iter().any(|i| i.key() == key))
}

/// What a `when` says of `request.model` in a top-level conjunct, so the
/// route can be indexed by model.
fn model_key(e: &Expr) -> ModelKey {
    use crate::syntax::ast::BinOp;
    match &e.kind {
        ExprKind::Paren(inner) => model_key(inner),
        ExprKind::Binary { op: BinOp::And, lhs, rhs } => match model_key(lhs) {
            ModelKey::Any => model_key(rhs),
            k => k,
        },
        ExprKind::Binary { op: BinOp::Eq, lhs, rhs } => match (lhs.dotted().as_deref(), rhs.as_str()) {
            (Some(["request", "model"]), Some(m)) => ModelKey::Exact(vec![m.to_string()]),
            _ => ModelKey::Any,
        },
        ExprKind::Binary { op: BinOp::In, lhs, rhs } => match (lhs.dotted().as_deref(), &rhs.kind) {
            (Some(["request", "model"]), ExprKind::List(items)) => {
                let models: Option<Vec<String>> = items.iter().map(|i| i.as_str().map(str::to_string)).collect();
                models.map_or(ModelKey::Any, ModelKey::Exact)
            }
            _ => ModelKey::Any,
        },
        _ => ModelKey::Any,
    }
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The first cycle among `role A inherits [B]` lines, as a path A -> … -> A.
fn role_cycle(roles: &[(String, Vec<String>)]) -> Option<Vec<String>> {
    fn walk<'r>(
        role: &'r str,
        roles: &'r [(String, Vec<String>)],
        path: &mut Vec<&'r str>,
        done: &mut std::collections::HashSet<&'r str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|r| *r == role) {
            let mut cycle: Vec<String> = path[at..].iter().map(|r| r.to_string()).collect();
            cycle.push(role.to_string());
            return Some(cycle);
        }
        if !done.insert(role) {
            return None;
        }
        path.push(role);
        let up = roles.iter().find(|(r, _)| r == role).map_or(&[][..], |(_, up)| &up[..]);
        for next in up {
            if let Some(c) = walk(next, roles, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::HashSet::new();
    roles.iter().find_map(|(r, _)| walk(r, roles, &mut Vec::new(), &mut done))
}
