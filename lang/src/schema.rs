//! What may be written where: the block kinds, the settings each block
//! takes, their choices and what names they refer to. The checker rejects
//! what is not here (with did-you-mean) and the language server completes
//! from it. Each entry's documentation lives in `hapax_stdlib::docs`.

/// What kind of declaration a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    Provider,
    Tier,
    Client,
    Limit,
    Queue,
    Cache,
    Script,
    Route,
    Sla,
    Budget,
}

impl RefKind {
    /// The block keyword that declares this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            RefKind::Provider => "provider",
            RefKind::Tier => "tier",
            RefKind::Client => "client",
            RefKind::Limit => "limit",
            RefKind::Queue => "queue",
            RefKind::Cache => "cache",
            RefKind::Script => "script",
            RefKind::Route => "route",
            RefKind::Sla => "sla",
            RefKind::Budget => "budget",
        }
    }
    pub fn from_keyword(k: &str) -> Option<RefKind> {
        ALL_REF_KINDS.iter().copied().find(|r| r.keyword() == k)
    }
}

pub const ALL_REF_KINDS: &[RefKind] = &[
    RefKind::Provider,
    RefKind::Tier,
    RefKind::Client,
    RefKind::Limit,
    RefKind::Queue,
    RefKind::Cache,
    RefKind::Script,
    RefKind::Route,
    RefKind::Sla,
    RefKind::Budget,
];

/// How a top-level block is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `gateway { ... }`: no name, at most one such block.
    Singleton,
    /// `route chat { ... }`.
    Name,
    /// `price "gpt-4o" { ... }`.
    Str,
    /// `script name "path"` (no block).
    NameAndPath,
    /// `import "file.hapax"` (no block).
    Path,
}

/// One setting of a block.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    /// May be given more than once.
    pub repeat: bool,
    /// The words it accepts as its first argument, for completion and
    /// did-you-mean (empty when it is not a choice).
    pub choices: &'static [&'static str],
    /// What declared names its arguments refer to.
    pub refers: Option<RefKind>,
    /// The context of its nested block, if it takes one.
    pub block: Option<&'static str>,
}

const fn s(key: &'static str) -> Setting {
    Setting { key, repeat: false, choices: &[], refers: None, block: None }
}
const fn choice(key: &'static str, choices: &'static [&'static str]) -> Setting {
    Setting { key, repeat: false, choices, refers: None, block: None }
}
const fn refer(key: &'static str, r: RefKind) -> Setting {
    Setting { key, repeat: false, choices: &[], refers: Some(r), block: None }
}
const fn nested(key: &'static str, ctx: &'static str) -> Setting {
    Setting { key, repeat: false, choices: &[], refers: None, block: Some(ctx) }
}

pub const ON_OFF: &[&str] = &["on", "off"];
pub const PROVIDER_TYPES: &[&str] = &["openai", "anthropic", "ollama", "azure", "openai_compatible", "mock"];
pub const SCOPES: &[&str] = &["local", "cluster"];
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A kind of block, top-level or nested, by its context path.
#[derive(Debug, Clone, Copy)]
pub struct BlockSpec {
    /// `provider`, `provider.pool`, ...
    pub context: &'static str,
    pub naming: Naming,
    pub settings: &'static [Setting],
}

impl BlockSpec {
    pub fn setting(&self, key: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
    /// The top-level keyword of this block, or the last part of a nested
    /// context.
    pub fn keyword(&self) -> &'static str {
        self.context.rsplit('.').next().unwrap_or(self.context)
    }
}

const fn top(context: &'static str, naming: Naming, settings: &'static [Setting]) -> BlockSpec {
    BlockSpec { context, naming, settings }
}

/// Every block kind, top-level first.
pub const BLOCKS: &[BlockSpec] = &[
    top("import", Naming::Path, &[]),
    top(
        "gateway",
        Naming::Singleton,
        &[
            Setting {
                key: "listen",
                repeat: true,
                choices: &["http", "https", "h3"],
                refers: None,
                block: Some("gateway.listen"),
            },
            s("admin"),
            s("max_body"),
            s("data_dir"),
            s("header_timeout"),
            s("idle_timeout"),
            s("shutdown_grace"),
            s("busy_poll"),
            s("max_connections"),
            s("http2_max_streams"),
            s("max_body_memory"),
            s("max_answer"),
            s("max_event"),
        ],
    ),
    top(
        "provider",
        Naming::Name,
        &[
            choice("type", PROVIDER_TYPES),
            s("base_url"),
            s("api_key"),
            s("timeout"),
            nested("pool", "provider.pool"),
            nested("health", "provider.health"),
            nested("breaker", "provider.breaker"),
            s("latency"),
            s("api_version"),
            s("models"),
            s("forward"),
            choice("mode", &["normal", "slow", "flaky", "error"]),
        ],
    ),
    top("tier", Naming::Name, &[s("priority")]),
    top("client", Naming::Name, &[refer("tier", RefKind::Tier), s("team"), s("roles")]),
    top("auth", Naming::Singleton, &[choice("api_keys", &["store", "off"]), nested("jwt", "auth.jwt"), s("open")]),
    top(
        "authz",
        Naming::Singleton,
        &[
            s("cedar"),
            choice("default", &["allow", "deny"]),
            Setting { key: "role", repeat: true, choices: &[], refers: None, block: None },
            s("headers"),
        ],
    ),
    top(
        "limit",
        Naming::Name,
        &[
            s("by"),
            s("requests"),
            s("tokens"),
            s("burst"),
            choice("scope", SCOPES),
            Setting { key: "notify", repeat: true, choices: &["webhook"], refers: None, block: None },
        ],
    ),
    top(
        "queue",
        Naming::Name,
        &[
            s("capacity"),
            s("concurrency"),
            choice("order", &["priority", "fifo"]),
            s("max_wait"),
            choice("on_full", &["reject"]),
            choice("persist", ON_OFF),
        ],
    ),
    top("cache", Naming::Name, &[s("key"), s("when"), s("ttl"), s("max_size"), choice("scope", SCOPES)]),
    top("script", Naming::NameAndPath, &[]),
    top(
        "route",
        Naming::Name,
        &[
            Setting { key: "match", repeat: false, choices: METHODS, refers: None, block: None },
            s("when"),
            refer("to", RefKind::Provider),
            Setting { key: "split", repeat: false, choices: &["by"], refers: None, block: Some("route.split") },
            refer("fallback", RefKind::Provider),
            s("retry"),
            s("timeout"),
            refer("use", RefKind::Limit),
            refer("queue", RefKind::Queue),
            refer("cache", RefKind::Cache),
            Setting {
                key: "transform",
                repeat: true,
                choices: &["request", "response"],
                refers: Some(RefKind::Script),
                block: None,
            },
            refer("sla", RefKind::Sla),
            refer("budget", RefKind::Budget),
        ],
    ),
    top(
        "sla",
        Naming::Name,
        &[
            s("availability"),
            Setting { key: "latency", repeat: true, choices: &["p50", "p90", "p95", "p99"], refers: None, block: None },
            s("error_rate"),
            Setting { key: "alert", repeat: true, choices: &["webhook", "log"], refers: None, block: None },
        ],
    ),
    top(
        "budget",
        Naming::Name,
        &[s("for"), s("spend"), s("warn_at"), choice("on_exceed", &["block", "warn", "downgrade"])],
    ),
    top("price", Naming::Str, &[s("input"), s("output"), s("cached_input"), s("context")]),
    top(
        "audit",
        Naming::Singleton,
        &[
            Setting {
                key: "sink",
                repeat: true,
                choices: &["file", "stdout", "webhook"],
                refers: None,
                block: Some("audit.sink"),
            },
            s("redact"),
            choice("log_prompts", ON_OFF),
            choice("on_full", &["drop", "block"]),
        ],
    ),
    top("cluster", Naming::Singleton, &[s("store"), s("node")]),
    top("test", Naming::Name, &[nested("request", "test.request"), nested("expect", "test.expect")]),
    // Nested blocks.
    top(
        "gateway.listen",
        Naming::Singleton,
        &[
            s("cert"),
            s("key"),
            choice("congestion", &["bbr", "cubic", "newreno"]),
            choice("zero_rtt", ON_OFF),
            s("max_streams"),
        ],
    ),
    top("provider.pool", Naming::Singleton, &[s("max_idle"), s("idle_timeout"), choice("http2", ON_OFF)]),
    top("provider.health", Naming::Singleton, &[s("every"), s("path"), s("timeout")]),
    top("provider.breaker", Naming::Singleton, &[s("failures"), s("open_for")]),
    top(
        "auth.jwt",
        Naming::Singleton,
        &[s("issuer"), s("audience"), s("jwks"), s("ca"), nested("claims", "auth.jwt.claims")],
    ),
    top("auth.jwt.claims", Naming::Singleton, &[s("client"), s("team"), s("roles"), s("tier")]),
    top(
        "audit.sink",
        Naming::Singleton,
        &[choice("rotate", &["hourly", "daily", "weekly", "never"]), s("keep"), s("max_size")],
    ),
    top("route.split", Naming::Singleton, &[]),
    top(
        "test.request",
        Naming::Singleton,
        &[
            choice("method", METHODS),
            s("path"),
            s("model"),
            refer("client", RefKind::Client),
            Setting { key: "header", repeat: true, choices: &[], refers: None, block: None },
            s("body"),
            s("stream"),
            s("tokens"),
        ],
    ),
    top(
        "test.expect",
        Naming::Singleton,
        &[
            refer("route", RefKind::Route),
            refer("target", RefKind::Provider),
            s("allow"),
            refer("limits", RefKind::Limit),
            s("status"),
        ],
    ),
];

/// The top-level block kinds.
pub fn top_level() -> impl Iterator<Item = &'static BlockSpec> {
    BLOCKS.iter().filter(|b| !b.context.contains('.'))
}

/// The block spec for a context path.
pub fn block(context: &str) -> Option<&'static BlockSpec> {
    BLOCKS.iter().find(|b| b.context == context)
}

/// The roots and fields of expression paths; `request.header` and
/// `request.body` take an index or any JSON path.
pub const PATHS: &[(&str, &[&str])] = &[
    ("request", &["method", "path", "model", "stream", "tokens", "header", "body"]),
    ("client", &["id", "tier", "team", "roles"]),
    ("time", &["hour", "weekday"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_documented() {
        let mut missing = Vec::new();
        for b in top_level() {
            if hapax_stdlib::docs::lookup("", b.context).is_none() {
                missing.push(b.context.to_string());
            }
        }
        for b in BLOCKS {
            for s in b.settings {
                if hapax_stdlib::docs::lookup(b.context, s.key).is_none() {
                    missing.push(format!("{}.{}", b.context, s.key));
                }
            }
        }
        assert!(missing.is_empty(), "undocumented: {missing:?}");
    }

    #[test]
    fn nested_contexts_exist() {
        for b in BLOCKS {
            for s in b.settings {
                if let Some(ctx) = s.block {
                    assert!(block(ctx).is_some(), "{ctx}");
                }
            }
        }
    }
}
