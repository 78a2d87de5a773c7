//! The admit phase: the route's `use` limits, in order. Each reserves one
//! request and the request's estimated tokens under its key (`by`); the
//! first that is exhausted answers 429 in the client's format with
//! `Retry-After` (seconds until the request would be admitted) and gives
//! back what the earlier ones reserved. Tokens are settled to the real
//! usage when the answer is done (see `Record::finish`).
//!
//! Every answer of a route with limits carries the rate-limit headers of
//! the limit closest to exhaustion in each dimension: OpenAI's
//! `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, or Anthropic's
//! `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` on
//! `/v1/messages`.

use super::Exchange;
use crate::http::error::GatewayError;
use crate::http::ingress::Ingress;
use crate::state::limiter::{self, Crossing, Grant, RateLimiter, Status};
use crate::state::State;
use crate::telemetry::audit::Event;
use crate::telemetry::notify::Note;
use crate::telemetry::record::Settle;
use crate::wire::Api;
use hapax_lang::expr::RequestView;
use hapax_lang::graph::{Limit, Route, Target};
use http::header::{HeaderName, HeaderValue};
use std::sync::Arc;

/// The output tokens reserved when a request names no `max_tokens` and its
/// model's output limit is not in the price table.
pub const DEFAULT_OUTPUT_TOKENS: u64 = 4096;

/// The tokens a request is expected to use: its prompt plus its
/// `max_tokens` (or `max_completion_tokens`), else the model's output limit
/// from the price table, else [`DEFAULT_OUTPUT_TOKENS`].
pub fn estimate(ingress: &Ingress, model: Option<&str>) -> u64 {
    let out = ingress
        .body()
        .and_then(|b| b.get("max_tokens").or_else(|| b.get("max_completion_tokens")))
        .and_then(serde_json::Value::as_u64)
        .or_else(|| model.and_then(hapax_stdlib::prices::lookup).and_then(|p| p.max_output_tokens))
        .unwrap_or(DEFAULT_OUTPUT_TOKENS);
    ingress.tokens().saturating_add(out)
}

pub fn admit(
    ex: &mut Exchange,
    state: &State,
    route: &Route,
    primary: &Target,
    ingress: &Ingress,
) -> Result<(), GatewayError> {
    if route.limits.is_empty() {
        return Ok(());
    }
    let now = limiter::now_ms();
    let tokens = estimate(ingress, primary.model.as_deref().or(ingress.model()));
    let mut requests: Option<Status> = None;
    let mut token_status: Option<Status> = None;
    let mut held: Vec<Held> = Vec::with_capacity(route.limits.len());
    for id in &route.limits {
        let decl = &ex.snap.graph.limits[id.index()];
        let Some(lim) = ex.snap.limits.get(id.index()).cloned() else { continue };
        let key = match &decl.by {
            Some(by) => limiter::Limiter::key(&by.eval(ingress).to_key()),
            None => String::new(),
        };
        match lim.reserve(&key, now, if lim.limits_tokens() { tokens } else { 0 }) {
            Ok(grant) => {
                requests = closest(requests, grant.requests);
                token_status = closest(token_status, grant.tokens_status);
                for c in &grant.crossed {
                    announce(ex, state, decl, &grant.key, c);
                }
                held.push(Held(lim, grant));
            }
            Err(refused) => {
                for Held(l, g) in held.drain(..) {
                    l.release(&g);
                }
                match refused.dimension {
                    "requests" => requests = Some(refused.status),
                    "tokens" => token_status = Some(refused.status),
                    _ => {}
                }
                ex.limit_headers = headers(ex.api, requests, token_status, now);
                tracing::info!(
                    target: "hapax::limit",
                    limit = %lim.name(),
                    dimension = refused.dimension,
                    client = ex.rec.client.as_deref().unwrap_or(""),
                    "request refused: limit exhausted"
                );
                let retry = refused.retry_ms.map(|ms| ms.div_ceil(1000).max(1));
                let name = lim.name();
                let msg = match (refused.dimension, refused.retry_ms) {
                    ("keys", _) => format!("limit `{name}` is tracking too many keys; try again later"),
                    (d, None) => format!("the request's {d} alone exceed limit `{name}`"),
                    (d, Some(_)) => format!("rate limit `{name}` reached for {d}; retry after the time in Retry-After"),
                };
                return Err(GatewayError::rate_limited(msg, retry));
            }
        }
    }
    ex.limit_headers = headers(ex.api, requests, token_status, now);
    ex.rec.grants.extend(held.into_iter().map(|h| Box::new(h) as Box<dyn Settle>));
    Ok(())
}

/// A key crossed a `notify` threshold: the webhooks that asked for it get
/// an event, and the log and the audit log say so.
fn announce(ex: &Exchange, state: &State, decl: &Limit, key: &str, c: &Crossing) {
    let percent = (c.at * 100.0).round() as u64;
    tracing::info!(
        target: "hapax::limit",
        limit = %decl.decl.name,
        key,
        dimension = c.dimension,
        percent,
        used = c.used,
        limit_value = c.limit,
        "limit threshold crossed"
    );
    let client = ex.rec.client.as_deref().unwrap_or("");
    let time = crate::telemetry::audit::chain::rfc3339(std::time::SystemTime::now());
    let body = serde_json::json!({
        "type": "limit.threshold",
        "limit": decl.decl.name,
        "key": key,
        "client": client,
        "dimension": c.dimension,
        "threshold_percent": percent,
        "used": c.used,
        "allowed": c.limit,
        "reset_seconds": c.reset_ms.div_ceil(1000),
        "time": time,
    });
    if let Some(audit) = &ex.snap.audit {
        audit.emit_nonblocking(
            Event::new("limit")
                .set("limit", decl.decl.name.as_str())
                .set("key", key)
                .set("client", client)
                .set("dimension", c.dimension)
                .set("threshold_percent", percent)
                .set("used", c.used)
                .set("allowed", c.limit),
        );
    }
    for n in decl.notify.iter().filter(|n| n.at == c.at) {
        state.notifier.send(Note {
            url: n.url.clone(),
            limit: decl.decl.name.clone(),
            id: format!("{:032x}", rand::random::<u128>()),
            body: body.clone(),
        });
    }
}

/// A limit's reservation for one request.
struct Held(Arc<dyn RateLimiter>, Grant);

impl Settle for Held {
    /// The tokens reserved become the tokens used: the provider's usage, or
    /// for a stream cut short before it, the prompt plus what was
    /// delivered. A failed request used none; a success with no usage at
    /// all keeps what was reserved.
    fn settle(self: Box<Self>, used: Option<u64>, success: bool) {
        let used = match (used, success) {
            (Some(u), true) => u,
            (None, true) => self.1.tokens,
            (_, false) => 0,
        };
        self.0.settle(&self.1, used, limiter::now_ms());
    }
}

/// The status with the smaller share remaining.
fn closest(a: Option<Status>, b: Option<Status>) -> Option<Status> {
    match (a, b) {
        (Some(a), Some(b)) => {
            // remaining/limit compared without division.
            let a_share = u128::from(a.remaining) * u128::from(b.limit.max(1));
            let b_share = u128::from(b.remaining) * u128::from(a.limit.max(1));
            Some(if b_share < a_share { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// The header names, by API and dimension: limit, remaining, reset.
const NAMES: [[[HeaderName; 3]; 2]; 2] = [
    [
        [
            HeaderName::from_static("x-ratelimit-limit-requests"),
            HeaderName::from_static("x-ratelimit-remaining-requests"),
            HeaderName::from_static("x-ratelimit-reset-requests"),
        ],
        [
            HeaderName::from_static("x-ratelimit-limit-tokens"),
            HeaderName::from_static("x-ratelimit-remaining-tokens"),
            HeaderName::from_static("x-ratelimit-reset-tokens"),
        ],
    ],
    [
        [
            HeaderName::from_static("anthropic-ratelimit-requests-limit"),
            HeaderName::from_static("anthropic-ratelimit-requests-remaining"),
            HeaderName::from_static("anthropic-ratelimit-requests-reset"),
        ],
        [
            HeaderName::from_static("anthropic-ratelimit-tokens-limit"),
            HeaderName::from_static("anthropic-ratelimit-tokens-remaining"),
            HeaderName::from_static("anthropic-ratelimit-tokens-reset"),
        ],
    ],
];

fn headers(api: Api, requests: Option<Status>, tokens: Option<Status>, now: u64) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(6);
    let anthropic = api == Api::Anthropic;
    for (dim, status) in [requests, tokens].into_iter().enumerate() {
        let Some(s) = status else { continue };
        let [limit, remaining, reset] = &NAMES[usize::from(anthropic)][dim];
        let when = if anthropic {
            // An RFC 3339 time, to the second.
            let t = crate::telemetry::audit::chain::rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(now + s.reset_ms),
            );
            t.split('.').next().map(|r| format!("{r}Z")).unwrap_or_default()
        } else {
            openai_duration(s.reset_ms)
        };
        out.push((limit.clone(), HeaderValue::from(s.limit)));
        out.push((remaining.clone(), HeaderValue::from(s.remaining)));
        if let Ok(v) = HeaderValue::from_str(&when) {
            out.push((reset.clone(), v));
        }
    }
    out
}

/// OpenAI's duration format: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
pub fn openai_duration(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m) = (ms / 3_600_000, (ms / 60_000) % 60);
    let s = (ms % 60_000) as f64 / 1000.0;
    let secs = format!("{s:.3}");
    let secs = secs.trim_end_matches('0').trim_end_matches('.');
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_openai_s() {
        assert_eq!(openai_duration(20), "20ms");
        assert_eq!(openai_duration(1000), "1s");
        assert_eq!(openai_duration(1500), "1.5s");
        assert_eq!(openai_duration(360_000), "6m0s");
        assert_eq!(openai_duration(3_723_000), "1h2m3s");
    }

    #[test]
    fn the_closest_to_exhaustion_wins() {
        let s = |limit, remaining| Some(Status { limit, remaining, reset_ms: 0 });
        assert_eq!(closest(s(100, 50), s(10, 2)), s(10, 2));
        assert_eq!(closest(s(10, 2), s(100, 50)), s(10, 2));
        assert_eq!(closest(None, s(1, 1)), s(1, 1));
    }
}
