//! Documentation of every keyword of the `.hapax` language and of the paths expressions can
//! read, for editor hover and `hapax explain KEYWORD`.
//!
//! A keyword is identified by its *context*, the path of enclosing block kinds joined by `.`
//! (`""` at top level, `"provider.pool"` inside a provider's `pool { ... }`), and its key.
//! The same key can mean different things in different contexts: `timeout` in a provider
//! bounds one upstream call, in a route it bounds the whole answer.

/// Documentation of one keyword in one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeywordDoc {
    /// Enclosing block kinds joined by `.`, `""` for a top-level block kind.
    pub context: &'static str,
    /// The keyword itself.
    pub key: &'static str,
    /// One plain sentence, ending with a period, for a reader who never saw the code.
    pub summary: &'static str,
    /// A one-line usage pattern, with placeholders in capitals.
    pub syntax: &'static str,
    /// A one-line example that is valid in this context.
    pub example: &'static str,
}

const fn kw(
    context: &'static str,
    key: &'static str,
    summary: &'static str,
    syntax: &'static str,
    example: &'static str,
) -> KeywordDoc {
    KeywordDoc { context, key, summary, syntax, example }
}

const KEYWORDS: &[KeywordDoc] = &[
    // Top-level block kinds.
    kw(
        "",
        "import",
        "Includes another .hapax file, whose declarations share one global namespace with this file.",
        r#"import "PATH""#,
        r#"import "providers.hapax""#,
    ),
    kw(
        "",
        "gateway",
        "Configures the gateway process itself: its listeners, admin endpoint, body size limit, state directory and timeouts.",
        "gateway { SETTINGS }",
        r#"gateway { listen http "127.0.0.1:8080"; admin "127.0.0.1:9090"; max_body 8MiB }"#,
    ),
    kw(
        "",
        "provider",
        "Declares an upstream model provider that routes can send requests to.",
        "provider NAME { type KIND; base_url \"URL\"; api_key SECRET; ... }",
        r#"provider openai { type openai; base_url "https://api.openai.com/v1"; api_key env("OPENAI_API_KEY") }"#,
    ),
    kw(
        "",
        "tier",
        "Declares a named service tier whose priority decides which queued requests go upstream first.",
        "tier NAME { priority N }",
        "tier gold { priority 10 }",
    ),
    kw(
        "",
        "client",
        "Declares a known client together with its tier, team and roles.",
        r#"client NAME { tier TIER; team "TEAM"; roles ["ROLE", ...] }"#,
        r#"client research { tier gold; team "research"; roles ["researcher"] }"#,
    ),
    kw(
        "",
        "auth",
        "Configures how callers prove who they are: gateway-issued API keys, JSON Web Tokens, and endpoints that need no authentication.",
        r#"auth { api_keys store; jwt { ... }; open ["PATH", ...] }"#,
        r#"auth { api_keys store; open ["/healthz"] }"#,
    ),
    kw(
        "",
        "authz",
        "Configures authorization: the Cedar policies that decide what each client may do and the decision when none applies.",
        r#"authz { cedar "FILE"; default allow|deny }"#,
        r#"authz { cedar "rbac.cedar"; default deny }"#,
    ),
    kw(
        "",
        "limit",
        "Declares a rate limit on requests or tokens, counted separately for each value of its `by` expression.",
        "limit NAME { by EXPR; requests N per WINDOW; tokens N per WINDOW; burst N; scope local|cluster }",
        "limit per_client { by client.id; requests 600 per 1m; tokens 200k per 1m }",
    ),
    kw(
        "",
        "queue",
        "Declares a queue where requests wait for a free upstream slot instead of being rejected when the provider is busy.",
        "queue NAME { capacity N; concurrency N; order priority|fifo; max_wait DURATION; on_full ACTION }",
        "queue interactive { capacity 1000..5000 adaptive; concurrency 64; order priority; max_wait 30s }",
    ),
    kw(
        "",
        "cache",
        "Declares a response cache: which request fields identify an entry, which requests may use it, and how long entries live.",
        "cache NAME { key [EXPR, ...]; when EXPR; ttl DURATION; max_size SIZE; scope local|cluster }",
        "cache exact { key [request.model, request.body.messages]; when not request.stream; ttl 10m }",
    ),
    kw(
        "",
        "script",
        "Names a Rhai script file that routes can run to transform requests or responses.",
        r#"script NAME "FILE.rhai""#,
        r#"script add_system_prompt "scripts/add_system_prompt.rhai""#,
    ),
    kw(
        "",
        "route",
        "Declares a route, which says which requests it takes and where they go, with routes tried in file order until one matches.",
        r#"route NAME { match METHOD "PATH"; when EXPR; to PROVIDER [model "MODEL"]; ... }"#,
        r#"route chat { match POST "/v1/chat/completions"; to openai model "gpt-4o-mini" }"#,
    ),
    kw(
        "",
        "sla",
        "Declares service-level objectives for availability, latency and error rate, and where to send an alert when one is breached.",
        "sla NAME { availability PCT over DURATION; latency pNN below DURATION over DURATION; ... }",
        "sla chat { availability 99.9% over 30d; latency p99 below 1500ms over 5m }",
    ),
    kw(
        "",
        "budget",
        "Declares a spending budget for the requests it selects and what happens once it is spent.",
        "budget NAME { for EXPR; spend MONEY per PERIOD; warn_at PCT; on_exceed ACTION }",
        r#"budget research_spend { for client.team == "research"; spend 500 USD per month; warn_at 80% }"#,
    ),
    kw(
        "",
        "price",
        "Sets the price of a model for cost accounting and budgets, overriding the built-in price table.",
        r#"price "MODEL" { input MONEY per 1M; output MONEY per 1M; cached_input MONEY per 1M; context N }"#,
        r#"price "gpt-4o" { input 2.50 USD per 1M; output 10 USD per 1M }"#,
    ),
    kw(
        "",
        "audit",
        "Configures the audit log: where records are written, which fields are redacted, and whether prompts may be recorded.",
        r#"audit { sink file "PATH" { ... }; redact [PATH, ...]; log_prompts on|off }"#,
        r#"audit { sink file "logs/audit.jsonl"; redact [request.body.messages]; log_prompts off }"#,
    ),
    kw(
        "",
        "cluster",
        "Joins several gateway nodes through a shared store so that limits, caches, queues and budgets count across all of them.",
        r#"cluster { store "URL"; node NAME }"#,
        r#"cluster { store "redis://127.0.0.1:6379"; node env("HOSTNAME") }"#,
    ),
    kw(
        "",
        "test",
        "Declares a policy test: a sample request and the routing decision it must get, checked without contacting any provider.",
        "test NAME { request { ... }; expect { ... } }",
        r#"test gold_gets_gpt4o { request { method POST; path "/v1/chat/completions"; client research }; expect { route chat_gpt4 } }"#,
    ),
    // gateway { ... }
    kw(
        "gateway",
        "listen",
        "Opens a listener for client traffic on an address, over plain HTTP, HTTPS or HTTP/3.",
        r#"listen http|https|h3 "HOST:PORT" [{ SETTINGS }]"#,
        r#"listen https "127.0.0.1:8443" { cert "certs/server.pem"; key "certs/server.key" }"#,
    ),
    kw(
        "gateway",
        "admin",
        "Sets the address of the admin listener, which serves metrics, the admin API and the dashboard.",
        r#"admin "HOST:PORT""#,
        r#"admin "127.0.0.1:9090""#,
    ),
    kw(
        "gateway",
        "max_body",
        "Sets the largest request body the gateway accepts, answering 413 for anything bigger.",
        "max_body SIZE",
        "max_body 8MiB",
    ),
    kw(
        "gateway",
        "max_connections",
        "Sets how many client connections may be open at once over all listeners; a new one beyond it is answered 503 and closed (TLS ones are closed) instead of waiting.",
        "max_connections COUNT",
        "max_connections 10000",
    ),
    kw(
        "gateway",
        "http2_max_streams",
        "Sets how many requests one HTTP/2 client connection may have in flight at once.",
        "http2_max_streams COUNT",
        "http2_max_streams 128",
    ),
    kw(
        "gateway",
        "max_body_memory",
        "Sets how many bytes of request bodies the gateway holds at once over all connections; a body that would pass it is answered 503 with Retry-After.",
        "max_body_memory SIZE",
        "max_body_memory 512MiB",
    ),
    kw(
        "gateway",
        "max_answer",
        "Sets the largest answer the gateway reads whole from a provider (streams are never read whole); a larger one is a provider error (502).",
        "max_answer SIZE",
        "max_answer 64MiB",
    ),
    kw(
        "gateway",
        "max_event",
        "Sets the longest line or event the gateway accepts in a provider's event stream; a longer one ends the stream with an error event.",
        "max_event SIZE",
        "max_event 1MiB",
    ),
    kw(
        "gateway",
        "data_dir",
        "Sets the directory where the gateway keeps its embedded state (SQLite) when there is no cluster block.",
        r#"data_dir "PATH""#,
        r#"data_dir "./hapax-data""#,
    ),
    kw(
        "gateway",
        "header_timeout",
        "Sets how long a client may take to send its request headers before the connection is closed, which protects against slow clients.",
        "header_timeout DURATION",
        "header_timeout 10s",
    ),
    kw(
        "gateway",
        "idle_timeout",
        "Sets how long a client connection may stay idle before the gateway closes it, which protects against clients that hold connections open.",
        "idle_timeout DURATION",
        "idle_timeout 60s",
    ),
    kw(
        "gateway",
        "shutdown_grace",
        "Sets how long in-flight requests may take to finish after the gateway receives SIGTERM, before it exits anyway.",
        "shutdown_grace DURATION",
        "shutdown_grace 30s",
    ),
    kw(
        "gateway",
        "busy_poll",
        "Sets how long a worker keeps polling for events after work before it sleeps (default 50us, at most 1ms, `off` never), which saves the microseconds a sleeping thread takes to wake at the cost of CPU time while traffic flows.",
        "busy_poll DURATION|off",
        "busy_poll 50us",
    ),
    // gateway { listen ... { ... } }
    kw(
        "gateway.listen",
        "cert",
        "Sets the PEM file holding the TLS certificate chain of an https or h3 listener.",
        r#"cert "PATH""#,
        r#"cert "certs/server.pem""#,
    ),
    kw(
        "gateway.listen",
        "key",
        "Sets the PEM file holding the TLS private key of an https or h3 listener.",
        r#"key "PATH""#,
        r#"key "certs/server.key""#,
    ),
    kw(
        "gateway.listen",
        "congestion",
        "Chooses the QUIC congestion control algorithm of an h3 listener.",
        "congestion bbr|cubic|newreno",
        "congestion bbr",
    ),
    kw(
        "gateway.listen",
        "zero_rtt",
        "Turns TLS 0-RTT early data on or off for an h3 listener, which saves a round trip on reconnect but lets the first request be replayed.",
        "zero_rtt on|off",
        "zero_rtt on",
    ),
    kw(
        "gateway.listen",
        "max_streams",
        "Sets how many concurrent streams one HTTP/3 connection may open.",
        "max_streams N",
        "max_streams 256",
    ),
    // provider NAME { ... }
    kw(
        "provider",
        "type",
        "Selects the API protocol the provider speaks, or `mock` for a built-in provider that answers without any network.",
        "type openai|anthropic|ollama|azure|openai_compatible|mock",
        "type anthropic",
    ),
    kw(
        "provider",
        "base_url",
        "Sets the base URL of the provider's API, to which request paths are appended.",
        r#"base_url "URL""#,
        r#"base_url "https://api.openai.com/v1""#,
    ),
    kw(
        "provider",
        "api_key",
        "Sets the provider's API key, read from an environment variable or a file so that it never appears in the policy.",
        r#"api_key env("VAR")|file("PATH")"#,
        r#"api_key env("OPENAI_API_KEY")"#,
    ),
    kw(
        "provider",
        "timeout",
        "Sets how long one call to this provider may take before it counts as failed.",
        "timeout DURATION",
        "timeout 60s",
    ),
    kw(
        "provider",
        "pool",
        "Configures the pool of connections to this provider that are kept open for reuse.",
        "pool { max_idle N; idle_timeout DURATION; http2 on|off }",
        "pool { max_idle 64; idle_timeout 90s; http2 on }",
    ),
    kw(
        "provider",
        "health",
        "Configures active health checks that probe the provider at a fixed interval.",
        r#"health { every DURATION; path "PATH"; timeout DURATION }"#,
        r#"health { every 10s; path "/models" }"#,
    ),
    kw(
        "provider",
        "breaker",
        "Configures the circuit breaker that stops sending traffic to the provider after repeated failures.",
        "breaker { failures N within DURATION; open_for DURATION }",
        "breaker { failures 5 within 30s; open_for 20s }",
    ),
    kw(
        "provider",
        "latency",
        "Sets how long a mock provider waits before it answers, to simulate a real provider's latency.",
        "latency DURATION",
        "latency 20ms",
    ),
    kw(
        "provider",
        "api_version",
        "Sets the API version the provider requires, such as the `api-version` of Azure OpenAI.",
        r#"api_version "VERSION""#,
        r#"api_version "2024-10-21""#,
    ),
    kw(
        "provider",
        "models",
        "Lists the model names this provider serves, which the gateway lists on GET /v1/models.",
        r#"models ["MODEL", ...]"#,
        r#"models ["gpt-4o", "gpt-4o-mini"]"#,
    ),
    kw(
        "provider",
        "forward",
        "Lets these client request headers through to the provider beyond `accept` and `user-agent` (every other one is dropped), such as `openai-organization` to let clients choose what the gateway's key bills.",
        r#"forward ["HEADER", ...]"#,
        r#"forward ["openai-organization", "openai-project"]"#,
    ),
    kw(
        "provider",
        "mode",
        "Sets how a mock provider behaves: normally, slowly, flakily with random failures, or always with an error.",
        "mode normal|slow|flaky|error",
        "mode flaky",
    ),
    // provider NAME { pool { ... } }
    kw(
        "provider.pool",
        "max_idle",
        "Sets how many idle connections to the provider are kept open for reuse.",
        "max_idle N",
        "max_idle 64",
    ),
    kw(
        "provider.pool",
        "idle_timeout",
        "Sets how long an unused pooled connection is kept before it is closed.",
        "idle_timeout DURATION",
        "idle_timeout 90s",
    ),
    kw(
        "provider.pool",
        "http2",
        "Turns HTTP/2 on or off for connections to the provider.",
        "http2 on|off",
        "http2 on",
    ),
    // provider NAME { health { ... } }
    kw(
        "provider.health",
        "every",
        "Sets how often the health check probes the provider.",
        "every DURATION",
        "every 10s",
    ),
    kw(
        "provider.health",
        "path",
        "Sets the path, relative to the provider's base URL, that the health check requests.",
        r#"path "PATH""#,
        r#"path "/models""#,
    ),
    kw(
        "provider.health",
        "timeout",
        "Sets how long one health probe may take before it counts as failed.",
        "timeout DURATION",
        "timeout 2s",
    ),
    // provider NAME { breaker { ... } }
    kw(
        "provider.breaker",
        "failures",
        "Sets how many failed calls within a time window open the circuit breaker.",
        "failures N within DURATION",
        "failures 5 within 30s",
    ),
    kw(
        "provider.breaker",
        "open_for",
        "Sets how long an open breaker sends no traffic to the provider before it lets a trial request through.",
        "open_for DURATION",
        "open_for 20s",
    ),
    // tier NAME { ... }
    kw(
        "tier",
        "priority",
        "Sets the tier's priority, where requests from a higher number leave queues first.",
        "priority N",
        "priority 10",
    ),
    // client NAME { ... }
    kw(
        "client",
        "tier",
        "Puts the client in a tier, which sets the priority of its queued requests.",
        "tier TIER",
        "tier gold",
    ),
    kw(
        "client",
        "team",
        "Sets the client's team, which expressions read as client.team.",
        r#"team "TEAM""#,
        r#"team "research""#,
    ),
    kw(
        "client",
        "roles",
        "Lists the client's roles, which expressions and Cedar policies read as client.roles.",
        r#"roles ["ROLE", ...]"#,
        r#"roles ["researcher"]"#,
    ),
    // auth { ... }
    kw(
        "auth",
        "api_keys",
        "Accepts API keys issued by `hapax keys create` or the admin API and kept in the gateway's store.",
        "api_keys store",
        "api_keys store",
    ),
    kw(
        "auth",
        "jwt",
        "Accepts JSON Web Tokens from an identity provider and maps their claims to the calling client.",
        r#"jwt { issuer "URL"; audience "NAME"; jwks SOURCE; claims { ... } }"#,
        r#"jwt { issuer "https://id.example.com"; audience "hapax"; jwks file("keys/jwks.json") }"#,
    ),
    kw(
        "auth",
        "open",
        "Lists endpoint paths that anyone may call without authenticating.",
        r#"open ["PATH", ...]"#,
        r#"open ["/healthz", "/v1/models"]"#,
    ),
    // auth { jwt { ... } }
    kw(
        "auth.jwt",
        "issuer",
        "Sets the issuer that a token's `iss` claim must equal.",
        r#"issuer "URL""#,
        r#"issuer "https://id.example.com""#,
    ),
    kw(
        "auth.jwt",
        "audience",
        "Sets the audience that a token's `aud` claim must contain.",
        r#"audience "NAME""#,
        r#"audience "hapax""#,
    ),
    kw(
        "auth.jwt",
        "jwks",
        "Sets where the public keys that verify token signatures come from, a local file or a URL.",
        r#"jwks file("PATH")|"URL""#,
        r#"jwks file("keys/jwks.json")"#,
    ),
    kw(
        "auth.jwt",
        "ca",
        "Adds a PEM certificate authority to trust for an `https` JWKS URL, beside the public roots (for an identity provider with a private CA).",
        r#"ca "PATH""#,
        r#"ca "certs/idp-ca.pem""#,
    ),
    kw(
        "auth.jwt",
        "claims",
        "Says which token claims hold the client's id, team, roles and tier.",
        r#"claims { client "CLAIM"; team "CLAIM"; roles "CLAIM"; tier "CLAIM" }"#,
        r#"claims { client "sub"; team "org"; roles "roles"; tier "plan" }"#,
    ),
    // auth { jwt { claims { ... } } }
    kw(
        "auth.jwt.claims",
        "client",
        "Names the token claim that holds the client's id.",
        r#"client "CLAIM""#,
        r#"client "sub""#,
    ),
    kw(
        "auth.jwt.claims",
        "team",
        "Names the token claim that holds the client's team.",
        r#"team "CLAIM""#,
        r#"team "org""#,
    ),
    kw(
        "auth.jwt.claims",
        "roles",
        "Names the token claim that holds the client's list of roles.",
        r#"roles "CLAIM""#,
        r#"roles "roles""#,
    ),
    kw(
        "auth.jwt.claims",
        "tier",
        "Names the token claim that holds the client's tier.",
        r#"tier "CLAIM""#,
        r#"tier "plan""#,
    ),
    // authz { ... }
    kw(
        "authz",
        "cedar",
        "Sets the file of Cedar policies that decide whether a client may make a request.",
        r#"cedar "FILE""#,
        r#"cedar "rbac.cedar""#,
    ),
    kw(
        "authz",
        "default",
        "Sets the decision for a request that no Cedar policy permits or forbids.",
        "default allow|deny",
        "default deny",
    ),
    kw(
        "authz",
        "role",
        "Makes a role inherit others: a client with the role is also in each inherited role (Cedar entity parents).",
        r#"role "ROLE" inherits ["ROLE", ...]"#,
        r#"role "lead" inherits ["researcher", "reader"]"#,
    ),
    kw(
        "authz",
        "headers",
        "Lists the request headers Cedar policies may read as `context.headers`.",
        r#"headers ["NAME", ...]"#,
        r#"headers ["x-project"]"#,
    ),
    // limit NAME { ... }
    kw(
        "limit",
        "by",
        "Sets the expression whose value picks the counter, such as one counter per client.",
        "by EXPR",
        "by client.id",
    ),
    kw(
        "limit",
        "requests",
        "Sets how many requests each counter allows per time window.",
        "requests N per DURATION|minute|hour|day|week|month",
        "requests 600 per 1m",
    ),
    kw(
        "limit",
        "tokens",
        "Sets how many prompt plus completion tokens each counter allows per time window.",
        "tokens N per DURATION|minute|hour|day|week|month",
        "tokens 200k per 1m",
    ),
    kw(
        "limit",
        "burst",
        "Sets how many requests may arrive at once above the steady rate before the limit applies.",
        "burst N",
        "burst 50",
    ),
    kw(
        "limit",
        "notify",
        "Posts an event to a webhook, once per key and window, when a key's usage crosses a share of the limit.",
        r#"notify webhook "URL" at PCT"#,
        r#"notify webhook "http://127.0.0.1:9999/limits" at 80%"#,
    ),
    kw(
        "limit",
        "scope",
        "Chooses whether counters live on this node only or are shared by all nodes through the cluster store.",
        "scope local|cluster",
        "scope cluster",
    ),
    // queue NAME { ... }
    kw(
        "queue",
        "capacity",
        "Sets how many requests may wait, as a fixed number or as a range that adapts to upstream latency.",
        "capacity N|MIN..MAX [adaptive]",
        "capacity 1000..5000 adaptive",
    ),
    kw(
        "queue",
        "concurrency",
        "Sets how many requests from the queue may be in flight upstream at the same time.",
        "concurrency N",
        "concurrency 64",
    ),
    kw(
        "queue",
        "order",
        "Sets the order in which requests leave the queue: by tier priority and first-in first-out within a tier, or first-in first-out only.",
        "order priority|fifo",
        "order priority",
    ),
    kw(
        "queue",
        "max_wait",
        "Sets how long a request may wait in the queue before it is answered with 503 and a Retry-After header.",
        "max_wait DURATION",
        "max_wait 30s",
    ),
    kw(
        "queue",
        "on_full",
        "Sets what happens to a request that arrives when the queue is full, such as a 429 answer with a Retry-After hint.",
        "on_full reject [retry_after DURATION]",
        "on_full reject retry_after 2s",
    ),
    kw(
        "queue",
        "persist",
        "Turns on or off keeping queued requests on disk so that they survive a restart.",
        "persist on|off",
        "persist on",
    ),
    // cache NAME { ... }
    kw(
        "cache",
        "key",
        "Lists the request fields whose values together identify a cached response.",
        "key [EXPR, ...]",
        "key [request.model, request.body.messages, request.body.temperature]",
    ),
    kw(
        "cache",
        "when",
        "Sets the condition a request must meet to be answered from the cache or stored in it.",
        "when EXPR",
        "when request.body.temperature == 0 and not request.stream",
    ),
    kw(
        "cache",
        "ttl",
        "Sets how long a cached response stays valid.",
        "ttl DURATION",
        "ttl 10m",
    ),
    kw(
        "cache",
        "max_size",
        "Sets how much memory the cache may use before the least recently used entries are evicted.",
        "max_size SIZE",
        "max_size 512MiB",
    ),
    kw(
        "cache",
        "scope",
        "Chooses whether the cache lives in this node's memory only or also in the cluster store as a shared second level.",
        "scope local|cluster",
        "scope local",
    ),
    // route NAME { ... }
    kw(
        "route",
        "match",
        "Sets the HTTP method and path pattern that a request must have for this route to take it.",
        r#"match METHOD "PATH_GLOB""#,
        r#"match POST "/v1/chat/completions""#,
    ),
    kw(
        "route",
        "when",
        "Sets an extra condition on the request, the client or the time that must hold for this route to take the request.",
        "when EXPR",
        r#"when request.model matches "gpt-4*" and client.tier == "gold""#,
    ),
    kw(
        "route",
        "to",
        "Sends the route's requests to one provider, optionally replacing the requested model.",
        r#"to PROVIDER [model "MODEL"]"#,
        r#"to openai model "gpt-4o-mini""#,
    ),
    kw(
        "route",
        "split",
        "Divides the route's traffic between several targets by percentage, keeping each value of the `by` expression on the same target.",
        r#"split by EXPR { PCT -> PROVIDER [model "MODEL"]; ... }"#,
        r#"split by client.id { 90% -> openai model "gpt-4o"; 10% -> claude model "claude-sonnet-4-5" }"#,
    ),
    kw(
        "route",
        "fallback",
        "Lists the providers tried in order when the target fails and its retries are spent.",
        "fallback [PROVIDER, ...]",
        "fallback [echo]",
    ),
    kw(
        "route",
        "retry",
        "Sets how many times a failed upstream call is retried and how long to wait between attempts.",
        "retry N [backoff MIN..MAX]",
        "retry 2 backoff 100ms..2s",
    ),
    kw(
        "route",
        "timeout",
        "Sets how long the route may take to answer a request, including retries and fallbacks.",
        "timeout DURATION",
        "timeout 45s",
    ),
    kw(
        "route",
        "use",
        "Applies the named limits in order, and the first one that is exhausted answers 429 with a Retry-After header.",
        "use LIMIT, ...",
        "use per_client, monthly_quota",
    ),
    kw(
        "route",
        "queue",
        "Makes the route's requests wait in the named queue for a free upstream slot.",
        "queue QUEUE",
        "queue interactive",
    ),
    kw(
        "route",
        "cache",
        "Answers the route's requests from the named cache when possible and stores new responses in it.",
        "cache CACHE",
        "cache exact",
    ),
    kw(
        "route",
        "transform",
        "Runs a named script over each request before it goes upstream or over each response before it returns.",
        "transform request|response SCRIPT",
        "transform request add_system_prompt",
    ),
    kw(
        "route",
        "sla",
        "Measures the route's traffic against the named service-level objectives.",
        "sla SLA",
        "sla chat",
    ),
    kw(
        "route",
        "budget",
        "Counts the route's spending against the named budget.",
        "budget BUDGET",
        "budget research_spend",
    ),
    // sla NAME { ... }
    kw(
        "sla",
        "availability",
        "Sets the share of requests that must succeed over a time window.",
        "availability PCT over DURATION",
        "availability 99.9% over 30d",
    ),
    kw(
        "sla",
        "latency",
        "Sets a latency percentile that must stay below a bound over a time window.",
        "latency pNN below DURATION over DURATION",
        "latency p99 below 1500ms over 5m",
    ),
    kw(
        "sla",
        "error_rate",
        "Sets the share of failed requests that must stay below a bound over a time window.",
        "error_rate below PCT over DURATION",
        "error_rate below 1% over 5m",
    ),
    kw(
        "sla",
        "alert",
        "Sets where an alert is sent when an objective is breached.",
        r#"alert webhook "URL""#,
        r#"alert webhook "http://127.0.0.1:9999/alerts""#,
    ),
    // budget NAME { ... }
    kw(
        "budget",
        "for",
        "Sets the condition that selects which requests count against the budget.",
        "for EXPR",
        r#"for client.team == "research""#,
    ),
    kw(
        "budget",
        "spend",
        "Sets how much money the selected requests may cost per calendar period, which resets at UTC boundaries.",
        "spend MONEY per day|week|month",
        "spend 500 USD per month",
    ),
    kw(
        "budget",
        "warn_at",
        "Sets the share of the budget at which a warning is raised.",
        "warn_at PCT",
        "warn_at 80%",
    ),
    kw(
        "budget",
        "on_exceed",
        "Sets what happens once the budget is spent: block requests, only warn, or downgrade them to a cheaper model.",
        r#"on_exceed block|warn|downgrade PROVIDER [model "MODEL"]"#,
        r#"on_exceed downgrade openai model "gpt-4o-mini""#,
    ),
    // price "MODEL" { ... }
    kw(
        "price",
        "input",
        "Sets the price of prompt tokens.",
        "input MONEY per 1M",
        "input 2.50 USD per 1M",
    ),
    kw(
        "price",
        "output",
        "Sets the price of completion tokens.",
        "output MONEY per 1M",
        "output 10 USD per 1M",
    ),
    kw(
        "price",
        "cached_input",
        "Sets the price of prompt tokens that the provider reads from its prompt cache.",
        "cached_input MONEY per 1M",
        "cached_input 1.25 USD per 1M",
    ),
    kw(
        "price",
        "context",
        "Sets the model's context window, the most tokens one call may hold.",
        "context N",
        "context 128k",
    ),
    // audit { ... }
    kw(
        "audit",
        "sink",
        "Sets where audit records are written: a JSON Lines file with rotation, stdout, or a webhook that receives batches.",
        r#"sink file "PATH" [{ rotate PERIOD; keep DURATION; max_size SIZE }] | sink stdout | sink webhook "URL""#,
        r#"sink file "logs/audit.jsonl" { rotate daily; keep 30d }"#,
    ),
    kw(
        "audit",
        "redact",
        "Lists the request fields that are replaced by a placeholder in audit records.",
        "redact [PATH, ...]",
        r#"redact [request.body.messages, request.header["authorization"]]"#,
    ),
    kw(
        "audit",
        "log_prompts",
        "Sets whether audit records may contain the text of prompts.",
        "log_prompts on|off",
        "log_prompts off",
    ),
    kw(
        "audit",
        "on_full",
        "Sets what happens when the audit writer falls behind: drop the event (counted in a metric) or make the request wait.",
        "on_full drop|block",
        "on_full drop",
    ),
    // audit { sink ... { ... } }
    kw(
        "audit.sink",
        "rotate",
        "Sets how often the audit file is closed and a new one started.",
        "rotate hourly|daily|weekly|never",
        "rotate daily",
    ),
    kw(
        "audit.sink",
        "keep",
        "Sets how long rotated audit files are kept before they are deleted.",
        "keep DURATION",
        "keep 30d",
    ),
    kw(
        "audit.sink",
        "max_size",
        "Rotates the audit file before it grows past this size.",
        "max_size SIZE",
        "max_size 100MiB",
    ),
    // cluster { ... }
    kw(
        "cluster",
        "store",
        "Sets the URL of the shared store (Redis) through which cluster nodes share limits, caches, queues and budgets.",
        r#"store "URL""#,
        r#"store "redis://127.0.0.1:6379""#,
    ),
    kw(
        "cluster",
        "node",
        "Sets this node's name, unique within the cluster.",
        r#"node "NAME"|env("VAR")"#,
        r#"node env("HOSTNAME")"#,
    ),
    // test NAME { ... }
    kw(
        "test",
        "request",
        "Describes the sample request that the test runs through the policy.",
        r#"request { method METHOD; path "PATH"; model "MODEL"; client CLIENT; ... }"#,
        r#"request { method POST; path "/v1/chat/completions"; model "gpt-4-turbo"; client research }"#,
    ),
    kw(
        "test",
        "expect",
        "States the outcome the test requires for its sample request.",
        "expect { route ROUTE; target [PROVIDER, ...]; allow true|false; limits [LIMIT, ...]; status N }",
        "expect { route chat_gpt4; target [openai, claude]; allow true }",
    ),
    // test NAME { request { ... } }
    kw(
        "test.request",
        "method",
        "Sets the HTTP method of the sample request.",
        "method METHOD",
        "method POST",
    ),
    kw(
        "test.request",
        "path",
        "Sets the URL path of the sample request.",
        r#"path "PATH""#,
        r#"path "/v1/chat/completions""#,
    ),
    kw(
        "test.request",
        "model",
        "Sets the model that the sample request asks for.",
        r#"model "MODEL""#,
        r#"model "gpt-4-turbo""#,
    ),
    kw(
        "test.request",
        "client",
        "Sets which declared client sends the sample request.",
        "client CLIENT",
        "client research",
    ),
    kw(
        "test.request",
        "header",
        "Adds an HTTP header to the sample request.",
        r#"header "NAME" "VALUE""#,
        r#"header "x-team" "research""#,
    ),
    kw(
        "test.request",
        "body",
        "Sets the JSON body of the sample request.",
        r#"body "JSON""#,
        r#"body "{\"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}""#,
    ),
    kw(
        "test.request",
        "stream",
        "Sets whether the sample request asks for a streamed response.",
        "stream true|false",
        "stream true",
    ),
    kw(
        "test.request",
        "tokens",
        "Sets the estimated number of prompt tokens of the sample request.",
        "tokens N",
        "tokens 1200",
    ),
    // test NAME { expect { ... } }
    kw(
        "test.expect",
        "route",
        "Names the route that must take the sample request.",
        "route ROUTE",
        "route chat_gpt4",
    ),
    kw(
        "test.expect",
        "target",
        "Lists the providers the sample request may be sent to, such as every arm of a split.",
        "target [PROVIDER, ...]",
        "target [openai, claude]",
    ),
    kw(
        "test.expect",
        "allow",
        "States whether the sample request must get through authentication, authorization and limits.",
        "allow true|false",
        "allow true",
    ),
    kw(
        "test.expect",
        "limits",
        "Lists the limits that must apply to the sample request.",
        "limits [LIMIT, ...]",
        "limits [per_client, monthly_quota]",
    ),
    kw(
        "test.expect",
        "status",
        "Sets the HTTP status the sample request must get, such as 404 when no route matches.",
        "status N",
        "status 404",
    ),
];

/// The paths an expression can read: `(path, type, doc)`.
const EXPRESSION_PATHS: &[(&str, &str, &str)] = &[
    ("request.method", "string", "The HTTP method of the request, such as POST."),
    ("request.path", "string", "The URL path of the request, without the query string."),
    ("request.model", "string", "The model named in the request body."),
    ("request.stream", "bool", "Whether the request asks for a streamed response."),
    ("request.tokens", "number", "The estimated number of prompt tokens in the request."),
    ("request.header", "map", r#"The request headers by lower-case name, read as request.header["x-team"]."#),
    (
        "request.body",
        "json",
        "The parsed JSON body of the request, read by path as in request.body.messages[0].content.",
    ),
    ("client.id", "string", "The id of the authenticated client."),
    ("client.tier", "string", "The name of the client's tier."),
    ("client.team", "string", "The client's team."),
    ("client.roles", "list", "The list of the client's roles."),
    ("time.hour", "number", "The current hour of the day in UTC, from 0 to 23."),
    ("time.weekday", "string", "The current day of the week in UTC, one of mon, tue, wed, thu, fri, sat and sun."),
];

/// Every documented keyword, grouped by context in the order of the language reference.
pub fn all() -> &'static [KeywordDoc] {
    KEYWORDS
}

/// The documentation of `key` as written inside `context`.
///
/// An exact `(context, key)` entry wins; otherwise the enclosing contexts are tried from
/// the innermost outwards, ending at top level, so that hover still says something useful
/// inside a nested block that has no entry of its own (`route.split`).
pub fn lookup(context: &str, key: &str) -> Option<&'static KeywordDoc> {
    let mut ctx = context;
    loop {
        if let Some(doc) = KEYWORDS.iter().find(|d| d.context == ctx && d.key == key) {
            return Some(doc);
        }
        if ctx.is_empty() {
            return None;
        }
        ctx = ctx.rfind('.').map_or("", |dot| &ctx[..dot]);
    }
}

/// Every entry for `key`, the top-level one first, for `hapax explain KEYWORD`.
///
/// A qualified key such as `provider.pool.max_idle` names one context exactly and returns
/// at most that entry.
pub fn explain(key: &str) -> Vec<&'static KeywordDoc> {
    if let Some((context, last)) = key.rsplit_once('.') {
        return KEYWORDS.iter().filter(|d| d.context == context && d.key == last).collect();
    }
    let mut found: Vec<&'static KeywordDoc> = KEYWORDS.iter().filter(|d| d.key == key).collect();
    // The sort is stable, so entries after the top-level one keep the reference order.
    found.sort_by_key(|d| !d.context.is_empty());
    found
}

/// The keywords valid directly inside `context`, for completion.
pub fn in_context(context: &str) -> impl Iterator<Item = &'static KeywordDoc> + '_ {
    KEYWORDS.iter().filter(move |d| d.context == context)
}

/// The paths expressions can read, as `(path, type, doc)`.
///
/// Types are `string`, `number`, `bool`, `list`, `map` (indexed by a string) and `json`
/// (navigated by field and index).
pub fn expression_paths() -> &'static [(&'static str, &'static str, &'static str)] {
    EXPRESSION_PATHS
}

/// Whether `text` is one plain sentence: capitalised, ending with a single period, and with
/// no sentence break inside.
#[cfg(test)]
pub(crate) fn is_one_sentence(text: &str) -> bool {
    let starts_upper = text.chars().next().is_some_and(char::is_uppercase);
    let body = text.strip_suffix('.').unwrap_or("");
    starts_upper
        && !body.is_empty()
        && !body.ends_with('.')
        && !text.contains('\n')
        && text.trim() == text
        && ![". ", "! ", "? ", "e.g", "i.e"].iter().any(|stop| body.contains(stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract: every context and the keys it must document, in the brief's order.
    const REQUIRED: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "import", "gateway", "provider", "tier", "client", "auth", "authz", "limit", "queue", "cache",
                "script", "route", "sla", "budget", "price", "audit", "cluster", "test",
            ],
        ),
        (
            "gateway",
            &[
                "listen",
                "admin",
                "max_body",
                "max_connections",
                "http2_max_streams",
                "max_body_memory",
                "max_answer",
                "max_event",
                "data_dir",
                "header_timeout",
                "idle_timeout",
                "shutdown_grace",
                "busy_poll",
            ],
        ),
        ("gateway.listen", &["cert", "key", "congestion", "zero_rtt", "max_streams"]),
        (
            "provider",
            &[
                "type",
                "base_url",
                "api_key",
                "timeout",
                "pool",
                "health",
                "breaker",
                "latency",
                "api_version",
                "models",
                "forward",
                "mode",
            ],
        ),
        ("provider.pool", &["max_idle", "idle_timeout", "http2"]),
        ("provider.health", &["every", "path", "timeout"]),
        ("provider.breaker", &["failures", "open_for"]),
        ("tier", &["priority"]),
        ("client", &["tier", "team", "roles"]),
        ("auth", &["api_keys", "jwt", "open"]),
        ("auth.jwt", &["issuer", "audience", "jwks", "ca", "claims"]),
        ("auth.jwt.claims", &["client", "team", "roles", "tier"]),
        ("authz", &["cedar", "default", "role", "headers"]),
        ("limit", &["by", "requests", "tokens", "burst", "notify", "scope"]),
        ("queue", &["capacity", "concurrency", "order", "max_wait", "on_full", "persist"]),
        ("cache", &["key", "when", "ttl", "max_size", "scope"]),
        (
            "route",
            &[
                "match",
                "when",
                "to",
                "split",
                "fallback",
                "retry",
                "timeout",
                "use",
                "queue",
                "cache",
                "transform",
                "sla",
                "budget",
            ],
        ),
        ("sla", &["availability", "latency", "error_rate", "alert"]),
        ("budget", &["for", "spend", "warn_at", "on_exceed"]),
        ("price", &["input", "output", "cached_input", "context"]),
        ("audit", &["sink", "redact", "log_prompts", "on_full"]),
        ("audit.sink", &["rotate", "keep", "max_size"]),
        ("cluster", &["store", "node"]),
        ("test", &["request", "expect"]),
        ("test.request", &["method", "path", "model", "client", "header", "body", "stream", "tokens"]),
        ("test.expect", &["route", "target", "allow", "limits", "status"]),
    ];

    #[test]
    fn covers_exactly_the_required_keywords() {
        let expected: usize = REQUIRED.iter().map(|(_, keys)| keys.len()).sum();
        assert_eq!(all().len(), expected, "extra or missing entries");
        for (context, keys) in REQUIRED {
            let found: Vec<&str> = in_context(context).map(|d| d.key).collect();
            assert_eq!(&found, keys, "keys of context {context:?}");
        }
    }

    #[test]
    fn no_duplicate_entries() {
        for (i, d) in all().iter().enumerate() {
            assert!(
                !all()[..i].iter().any(|e| e.context == d.context && e.key == d.key),
                "duplicate entry {:?}.{:?}",
                d.context,
                d.key
            );
        }
    }

    #[test]
    fn every_summary_is_one_sentence_and_usage_is_one_line() {
        for d in all() {
            assert!(
                is_one_sentence(d.summary),
                "summary of {:?}.{} is not one sentence: {:?}",
                d.context,
                d.key,
                d.summary
            );
            for (what, text) in [("syntax", d.syntax), ("example", d.example)] {
                assert!(
                    !text.contains('\n') && text.trim() == text,
                    "{what} of {:?}.{} is not one trimmed line",
                    d.context,
                    d.key
                );
                assert!(
                    text.starts_with(d.key)
                        && !text[d.key.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'),
                    "{what} of {:?}.{} does not start with the keyword: {text:?}",
                    d.context,
                    d.key
                );
            }
        }
    }

    #[test]
    fn lookup_is_context_specific() {
        let provider = lookup("provider", "timeout").unwrap();
        let health = lookup("provider.health", "timeout").unwrap();
        let route = lookup("route", "timeout").unwrap();
        assert_eq!(provider.context, "provider");
        assert_eq!(health.context, "provider.health");
        assert_eq!(route.context, "route");
        assert_ne!(provider.summary, route.summary);

        assert_eq!(lookup("provider.pool", "idle_timeout").unwrap().context, "provider.pool");
        assert_eq!(lookup("gateway", "idle_timeout").unwrap().context, "gateway");
        // Inside a route, `queue` names the route's queue, not the top-level block kind.
        assert_eq!(lookup("route", "queue").unwrap().context, "route");
        assert_eq!(lookup("", "queue").unwrap().context, "");
        assert_eq!(lookup("auth.jwt.claims", "tier").unwrap().context, "auth.jwt.claims");
        assert_eq!(lookup("client", "tier").unwrap().context, "client");
        assert_eq!(lookup("", "tier").unwrap().context, "");
    }

    #[test]
    fn lookup_falls_back_to_enclosing_contexts() {
        // `route.split` has no entries of its own, so the route's keywords answer.
        assert_eq!(lookup("route.split", "timeout").unwrap().context, "route");
        // A deeper unknown context walks up to the nearest one that knows the key.
        assert_eq!(lookup("auth.jwt.claims", "issuer").unwrap().context, "auth.jwt");
        assert_eq!(lookup("unknown.block", "route").unwrap().context, "");
        // A keyword known only in an unrelated context is not found.
        assert!(lookup("provider", "max_idle").is_none());
        assert!(lookup("", "max_idle").is_none());
        assert!(lookup("route", "no_such_keyword").is_none());
    }

    #[test]
    fn explain_prefers_top_level() {
        let route = explain("route");
        assert_eq!(route.len(), 2);
        assert_eq!(route[0].context, "");
        assert_eq!(route[1].context, "test.expect");

        let tier = explain("tier");
        assert_eq!(tier[0].context, "");
        assert_eq!(tier.len(), 3);

        let timeout = explain("timeout");
        assert_eq!(timeout.iter().map(|d| d.context).collect::<Vec<_>>(), ["provider", "provider.health", "route"]);

        let qualified = explain("provider.pool.max_idle");
        assert_eq!(qualified.len(), 1);
        assert_eq!(qualified[0].context, "provider.pool");
        assert_eq!(explain("gateway.listen")[0].context, "gateway");

        assert!(explain("nope").is_empty());
        assert!(explain("route.nope").is_empty());
    }

    #[test]
    fn expression_paths_are_documented() {
        let types = ["string", "number", "bool", "list", "map", "json"];
        assert_eq!(expression_paths().len(), 13);
        for (i, (path, ty, doc)) in expression_paths().iter().enumerate() {
            assert!(types.contains(ty), "{path} has unknown type {ty}");
            assert!(is_one_sentence(doc), "doc of {path} is not one sentence: {doc:?}");
            assert!(!expression_paths()[..i].iter().any(|(p, _, _)| p == path), "duplicate path {path}");
        }
        let tokens = expression_paths().iter().find(|(p, _, _)| *p == "request.tokens").unwrap();
        assert_eq!(tokens.1, "number");
    }

    #[test]
    fn one_sentence_check_rejects_bad_text() {
        assert!(is_one_sentence("Sets the thing."));
        assert!(!is_one_sentence("sets the thing."));
        assert!(!is_one_sentence("Sets the thing"));
        assert!(!is_one_sentence("Sets the thing. Then more."));
        assert!(!is_one_sentence("Sets the thing.."));
        assert!(!is_one_sentence(""));
        assert!(!is_one_sentence("Sets e.g. this."));
    }
}
