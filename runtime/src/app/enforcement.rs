//! What `hapax serve` enforces: the one list. Every top-level block, every
//! setting of a block that serve runs, and every listener and provider kind
//! of the language schema is here, and is either enforced, refused (serve
//! will not start on a policy that uses it, and `check` warns) or inert by
//! nature. The test below walks the schema, so a declaration added to the
//! language without a line here fails the build's tests: it can never be a
//! silent no-op. A feature that lands moves its lines from `Refused` to
//! `Enforced` in the same commit as its end-to-end test.

/// How `serve` treats a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// Run by serve, with an end-to-end test.
    Enforced,
    /// Not run yet: a policy that uses it does not start.
    Refused,
    /// Has no run-time effect by its nature; the reason says why.
    Inert(&'static str),
}

use Serve::{Enforced, Inert, Refused};

/// Paths into the language schema (see [`hapax_lang::Refused`]).
pub const DECLARATIONS: &[(&str, Serve)] = &[
    ("import", Inert("read by the loader; the imported file's declarations are classified on their own")),
    ("test", Inert("run by `hapax test`, never by serve")),
    ("gateway", Enforced),
    ("gateway.listen", Enforced),
    ("gateway.listen http", Enforced),
    ("gateway.listen https", Enforced),
    ("gateway.listen h3", Refused),
    ("gateway.listen.cert", Enforced),
    ("gateway.listen.key", Enforced),
    ("gateway.listen.congestion", Refused),
    ("gateway.listen.zero_rtt", Refused),
    ("gateway.listen.max_streams", Refused),
    ("gateway.admin", Enforced),
    ("gateway.max_body", Enforced),
    ("gateway.data_dir", Enforced),
    ("gateway.header_timeout", Enforced),
    ("gateway.idle_timeout", Enforced),
    ("gateway.shutdown_grace", Enforced),
    ("gateway.busy_poll", Enforced),
    ("gateway.max_connections", Enforced),
    ("gateway.http2_max_streams", Enforced),
    ("gateway.max_body_memory", Enforced),
    ("gateway.max_answer", Enforced),
    ("gateway.max_event", Enforced),
    ("provider", Enforced),
    ("provider.type", Enforced),
    ("provider.type openai", Enforced),
    ("provider.type anthropic", Enforced),
    ("provider.type ollama", Enforced),
    ("provider.type azure", Enforced),
    ("provider.type openai_compatible", Enforced),
    ("provider.type mock", Enforced),
    ("provider.base_url", Enforced),
    ("provider.api_key", Enforced),
    ("provider.timeout", Enforced),
    ("provider.pool", Enforced),
    ("provider.pool.max_idle", Enforced),
    ("provider.pool.idle_timeout", Enforced),
    ("provider.pool.http2", Enforced),
    ("provider.health", Enforced),
    ("provider.health.every", Enforced),
    ("provider.health.path", Enforced),
    ("provider.health.timeout", Enforced),
    ("provider.breaker", Enforced),
    ("provider.breaker.failures", Enforced),
    ("provider.breaker.open_for", Enforced),
    ("provider.latency", Enforced),
    ("provider.api_version", Enforced),
    ("provider.models", Enforced),
    ("provider.forward", Enforced),
    ("provider.mode", Enforced),
    ("route", Enforced),
    ("route.match", Enforced),
    ("route.when", Enforced),
    ("route.to", Enforced),
    ("route.split", Enforced),
    ("route.fallback", Enforced),
    ("route.retry", Enforced),
    ("route.timeout", Enforced),
    ("route.use", Enforced),
    ("route.queue", Refused),
    ("route.cache", Refused),
    ("route.transform", Refused),
    ("route.sla", Refused),
    ("route.budget", Refused),
    // Identity and what keys on it.
    ("tier", Inert("names a tier and its priority; only queues read the priority, and serve refuses queues")),
    ("client", Enforced),
    ("client.tier", Enforced),
    ("client.team", Enforced),
    ("client.roles", Enforced),
    ("auth", Enforced),
    ("auth.api_keys", Enforced),
    ("auth.open", Enforced),
    ("auth.jwt", Enforced),
    ("auth.jwt.issuer", Enforced),
    ("auth.jwt.audience", Enforced),
    ("auth.jwt.jwks", Enforced),
    ("auth.jwt.ca", Enforced),
    ("auth.jwt.claims", Enforced),
    ("auth.jwt.claims.client", Enforced),
    ("auth.jwt.claims.team", Enforced),
    ("auth.jwt.claims.roles", Enforced),
    ("auth.jwt.claims.tier", Enforced),
    ("authz", Enforced),
    ("authz.cedar", Enforced),
    ("authz.default", Enforced),
    ("authz.role", Enforced),
    ("authz.headers", Enforced),
    ("audit", Enforced),
    ("audit.sink", Enforced),
    ("audit.sink.rotate", Enforced),
    ("audit.sink.keep", Enforced),
    ("audit.sink.max_size", Enforced),
    ("audit.redact", Enforced),
    ("audit.log_prompts", Enforced),
    ("audit.on_full", Enforced),
    // Admission, caching, scripts.
    ("limit", Enforced),
    ("limit.by", Enforced),
    ("limit.requests", Enforced),
    ("limit.tokens", Enforced),
    ("limit.burst", Enforced),
    ("limit.scope", Enforced),
    ("limit.notify", Enforced),
    ("queue", Refused),
    ("cache", Refused),
    ("script", Refused),
    // Accounting.
    ("sla", Refused),
    ("budget", Refused),
    ("price", Refused),
    ("cluster", Refused),
];

/// Settings whose first word chooses a kind; each kind is classified.
#[cfg(test)]
const KINDS: &[&str] = &["gateway.listen", "provider.type"];

/// The declarations serve refuses, for [`hapax_lang::refuse`].
pub fn refused() -> Vec<hapax_lang::Refused> {
    DECLARATIONS.iter().filter(|(_, s)| *s == Refused).map(|(p, _)| *p).collect()
}

/// How serve treats one path, if it is listed.
pub fn lookup(path: &str) -> Option<Serve> {
    DECLARATIONS.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hapax_lang::schema;
    use std::collections::HashSet;

    /// Every path the schema can express that serve must classify: the
    /// top-level blocks; in a block serve runs, each setting (and the
    /// settings of its nested blocks); each kind of the kind settings.
    fn required() -> Vec<String> {
        fn settings(context: &str, out: &mut Vec<String>) {
            let Some(spec) = schema::block(context) else { return };
            for s in spec.settings {
                let path = format!("{context}.{}", s.key);
                out.push(path.clone());
                if KINDS.contains(&path.as_str()) {
                    out.extend(s.choices.iter().map(|c| format!("{path} {c}")));
                }
                if lookup(&path) == Some(Enforced) {
                    if let Some(nested) = s.block {
                        settings(nested, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for b in schema::top_level() {
            out.push(b.context.to_string());
            if lookup(b.context) == Some(Enforced) {
                settings(b.context, &mut out);
            }
        }
        out
    }

    #[test]
    fn every_declaration_of_the_schema_is_enforced_refused_or_inert() {
        let missing: Vec<String> = required().into_iter().filter(|p| lookup(p).is_none()).collect();
        assert!(
            missing.is_empty(),
            "declarations the runtime neither enforces nor refuses (add each to `DECLARATIONS`): {missing:?}"
        );
    }

    /// Whether a path names a block, a setting or a kind of the schema.
    fn in_schema(path: &str) -> bool {
        let (path, kind) = match path.split_once(' ') {
            Some((p, k)) => (p, Some(k)),
            None => (path, None),
        };
        let Some((context, key)) = path.rsplit_once('.') else {
            return kind.is_none() && schema::top_level().any(|b| b.context == path);
        };
        let setting = schema::block(context).and_then(|b| b.setting(key));
        setting.is_some_and(|s| kind.is_none_or(|k| s.choices.contains(&k)))
    }

    #[test]
    fn every_listed_path_is_in_the_schema_once() {
        let mut seen = HashSet::new();
        for (path, _) in DECLARATIONS {
            assert!(seen.insert(*path), "`{path}` is listed twice");
            assert!(in_schema(path), "`{path}` is not a declaration of the language schema");
        }
        assert!(!in_schema("route.usee") && !in_schema("gateway.listen h4") && !in_schema("limits"));
    }

    #[test]
    fn the_features_not_built_yet_are_refused() {
        for p in ["queue", "cache", "script", "budget", "sla"] {
            assert_eq!(lookup(p), Some(Refused), "{p}");
        }
        assert_eq!(lookup("gateway.listen h3"), Some(Refused));
        assert!(refused().contains(&"cluster"));
    }
}
