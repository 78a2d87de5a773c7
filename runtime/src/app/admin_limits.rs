//! The quota endpoints of the admin API, under `/admin/api/limits`:
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /admin/api/limits` | every `limit`: its definition and how many keys have usage |
//! | `GET /admin/api/limits/NAME?max=100` | its keys with usage, the closest to exhaustion first |
//! | `GET /admin/api/limits/NAME/keys/KEY` | one key's usage, remaining and reset, per dimension |
//! | `DELETE /admin/api/limits/NAME/keys/KEY` | forgets the key's usage (a reset) |
//! | `POST /admin/api/limits/NAME/keys/KEY/allowance` | `{"requests": N, "tokens": N}`: a one-off extra allowance until the current window or period ends |
//! | `GET /admin/api/limits/NAME/usage?key=&since=&until=&per=hour\|day` | the usage analytics: admitted and refused requests and tokens per key and hour or day |
//!
//! A key is percent-encoded in the path. `since` and `until` are RFC 3339
//! UTC times or prefixes of them (`2026-12-02`).

use crate::http::error::GatewayError;
use crate::http::ingress::read_body;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::pipeline::Ctx;
use crate::state::limiter::{self, RateLimiter};
use crate::state::snapshot::Snapshot;
use crate::state::usage::{Per, Query};
use crate::telemetry::audit::chain::parse_utc;
use crate::telemetry::audit::search::decode;
use hapax_lang::graph::{Limit, Rate, Window};
use http::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// Keys one answer lists, at most.
const MAX_KEYS: usize = 1000;

pub async fn api(snap: &Snapshot, req: Request, ctx: &Ctx) -> Result<Response, GatewayError> {
    let (method, path) = (req.method.clone(), req.uri.path().to_string());
    let query = req.uri.query().map(str::to_string);
    let rest = path.strip_prefix("/admin/api/limits").unwrap_or("").trim_matches('/');
    let raw: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split('/').collect() };
    let mut parts = Vec::with_capacity(raw.len());
    for p in raw {
        parts.push(decode(p).ok_or_else(|| GatewayError::bad_request("the path is not valid percent-encoded UTF-8"))?);
    }
    let unknown = || GatewayError::not_found(format!("unknown admin endpoint `{method} {path}`"));
    let now = limiter::now_ms();
    let body = match (method.as_str(), parts.iter().map(String::as_str).collect::<Vec<_>>().as_slice()) {
        ("GET", []) => {
            let data: Vec<Value> = snap
                .graph
                .limits
                .iter()
                .zip(&snap.limits)
                .map(|(decl, l)| {
                    let mut d = describe(decl);
                    d["keys"] = l.keys(now, 0).0.into();
                    d
                })
                .collect();
            json!({ "object": "list", "data": data })
        }
        ("GET", [name]) => {
            let (decl, l) = find(snap, name)?;
            let max = param(query.as_deref(), "max")?
                .map_or(Ok(100), |m| m.parse::<usize>())
                .map_err(|_| GatewayError::bad_request("`max` is a number"))?
                .min(MAX_KEYS);
            let (total, keys) = l.keys(now, max);
            let mut d = describe(decl);
            d["keys"] = total.into();
            d["data"] = serde_json::to_value(keys).unwrap_or_default();
            d
        }
        ("GET", [name, "keys", key]) => {
            let (_, l) = find(snap, name)?;
            serde_json::to_value(l.usage(key, now)).unwrap_or_default()
        }
        ("DELETE", [name, "keys", key]) => {
            let (_, l) = find(snap, name)?;
            let had = l.reset(key, now);
            tracing::info!(target: "hapax::admin", limit = %name, key = %key, "limit key reset");
            let mut u = serde_json::to_value(l.usage(key, now)).unwrap_or_default();
            u["reset"] = had.into();
            u
        }
        ("POST", [name, "keys", key, "allowance"]) => {
            let (_, l) = find(snap, name)?;
            let (raw, _held) = read_body(req.body, &req.headers, 64 * 1024, ctx.body_timeout).await?;
            let (requests, tokens) = allowance(&raw)?;
            l.add_allowance(key, requests, tokens, now);
            tracing::info!(target: "hapax::admin", limit = %name, key = %key, requests, tokens, "extra allowance granted");
            serde_json::to_value(l.usage(key, now)).unwrap_or_default()
        }
        ("GET", [name, "usage"]) => {
            find(snap, name)?;
            let q = usage_query(name, query.as_deref())?;
            let store = ctx.state.usage_store(&snap.graph.gateway.data_dir).map_err(GatewayError::internal)?;
            let ctx_state = &ctx.state;
            // What was counted before the query is in the store.
            ctx_state.flush_usage();
            let rows = tokio::task::spawn_blocking(move || store.query(&q))
                .await
                .map_err(|e| GatewayError::internal(format!("the usage query failed: {e}")))?
                .map_err(|e| GatewayError::internal(e.to_string()))?;
            json!({ "object": "list", "data": rows })
        }
        _ => return Err(unknown()),
    };
    Ok(Response::json(StatusCode::OK, body.to_string()))
}

fn find<'s>(snap: &'s Snapshot, name: &str) -> Result<(&'s Limit, &'s Arc<dyn RateLimiter>), GatewayError> {
    let i = snap
        .graph
        .limits
        .iter()
        .position(|l| l.decl.name == name)
        .ok_or_else(|| GatewayError::not_found(format!("no limit `{name}`")))?;
    Ok((&snap.graph.limits[i], &snap.limits[i]))
}

/// A limit's definition, as JSON.
pub fn describe(l: &Limit) -> Value {
    let rate = |r: &Option<Rate>| r.map(|r| json!({ "count": r.count as u64, "per": window(r.window) }));
    let mut d = json!({ "name": l.decl.name });
    if let Some(r) = rate(&l.requests) {
        d["requests"] = r;
    }
    if let Some(r) = rate(&l.tokens) {
        d["tokens"] = r;
    }
    if let Some(b) = l.burst {
        d["burst"] = b.into();
    }
    if !l.notify.is_empty() {
        d["notify_at_percent"] = l.notify.iter().map(|n| (n.at * 100.0).round() as u64).collect::<Vec<_>>().into();
    }
    d
}

/// `1m`, `30s`, `day`, ...
pub fn window(w: Window) -> String {
    match w {
        Window::Calendar(c) => format!("{c:?}").to_lowercase(),
        Window::Sliding(d) => {
            let ms = d.as_millis() as u64;
            match ms {
                m if m % 86_400_000 == 0 => format!("{}d", m / 86_400_000),
                m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
                m if m % 60_000 == 0 => format!("{}m", m / 60_000),
                m if m % 1000 == 0 => format!("{}s", m / 1000),
                m => format!("{m}ms"),
            }
        }
    }
}

/// One query parameter, decoded.
fn param(query: Option<&str>, name: &str) -> Result<Option<String>, GatewayError> {
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            return decode(v)
                .map(Some)
                .ok_or_else(|| GatewayError::bad_request(format!("`{k}` is not valid percent-encoded UTF-8")));
        }
    }
    Ok(None)
}

fn usage_query(limit: &str, query: Option<&str>) -> Result<Query, GatewayError> {
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let k = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !["key", "since", "until", "per"].contains(&k) {
            return Err(GatewayError::bad_request(format!("unknown parameter `{k}`: use key, since, until, per")));
        }
    }
    let time = |name: &str| -> Result<Option<u64>, GatewayError> {
        param(query, name)?
            .map(|v| {
                parse_utc(&v).ok_or_else(|| {
                    GatewayError::bad_request(format!("`{name}` is an RFC 3339 UTC time or a prefix of one"))
                })
            })
            .transpose()
    };
    let per = match param(query, "per")?.as_deref() {
        None | Some("hour") => Per::Hour,
        Some("day") => Per::Day,
        Some(_) => return Err(GatewayError::bad_request("`per` is `hour` or `day`")),
    };
    Ok(Query {
        limit: Some(limit.to_string()),
        key: param(query, "key")?,
        since: time("since")?,
        until: time("until")?,
        per,
    })
}

/// `{"requests": N, "tokens": N}`, each optional, at least one above zero.
fn allowance(raw: &[u8]) -> Result<(u64, u64), GatewayError> {
    let bad = || GatewayError::bad_request(r#"the body is {"requests": N, "tokens": N} (either may be left out)"#);
    let v: Value = serde_json::from_slice(raw).map_err(|_| bad())?;
    let obj = v.as_object().ok_or_else(bad)?;
    if obj.keys().any(|k| k != "requests" && k != "tokens") {
        return Err(bad());
    }
    let n = |k: &str| obj.get(k).map_or(Some(0), Value::as_u64).ok_or_else(bad);
    let (requests, tokens) = (n("requests")?, n("tokens")?);
    if requests == 0 && tokens == 0 {
        return Err(bad());
    }
    Ok((requests, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowances_are_checked() {
        assert_eq!(allowance(br#"{"tokens": 5000}"#).unwrap(), (0, 5000));
        assert_eq!(allowance(br#"{"requests": 2, "tokens": 1}"#).unwrap(), (2, 1));
        for bad in [&br#"{}"#[..], br#"{"tokens": -1}"#, br#"{"tokens": "5"}"#, br#"{"extra": 1}"#, b"[1]", b"nope"] {
            assert!(allowance(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn windows_read_as_written() {
        use std::time::Duration;
        assert_eq!(window(Window::Sliding(Duration::from_secs(60))), "1m");
        assert_eq!(window(Window::Sliding(Duration::from_secs(90))), "90s");
        assert_eq!(window(Window::Calendar(hapax_lang::graph::Calendar::Month)), "month");
    }
}
