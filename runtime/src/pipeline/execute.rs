//! Executing a route: pick the primary target (a split arm, sticky when
//! `split by` is given), then try it and its fallbacks in order. Each target
//! gets `1 + retry` attempts with full-jitter backoff; only failures that are
//! safe to retry move on (connect errors, timeouts, resets, 5xx, 429, an open
//! breaker or an unhealthy provider). Nothing has been sent to the client
//! yet, so every retry is invisible to it.

use crate::http::error::{GatewayError, Origin};
use crate::http::ingress::Ingress;
use crate::state::snapshot::Snapshot;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::record::Record;
use crate::upstream::breaker::Admit;
use crate::upstream::call::{self, Reply};
use crate::upstream::pacer::{self, Signal};
use crate::upstream::provider::Upstream;
use hapax_lang::expr::RequestView;
use hapax_lang::graph::{Retry, Route, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A provider's answer and who gave it.
pub struct Success {
    pub reply: Reply,
    pub upstream: Arc<Upstream>,
    /// The model the provider was asked for.
    pub model: String,
    /// The per-attempt deadline, reused as the idle limit of a stream.
    pub timeout: Duration,
}

/// Runs the route's targets, `primary` (the pick, already authorized)
/// first, until one answers. A fallback the caller may not use is skipped.
pub async fn run(
    snap: &Snapshot,
    route: &Route,
    primary: &Target,
    ingress: &Ingress,
    rec: &mut Record,
    metrics: &Metrics,
) -> Result<Success, GatewayError> {
    let chain = std::iter::once(primary).chain(route.fallback.iter().filter(|t| *t != primary).filter(|t| {
        let (Some(cedar), Some(up)) = (snap.authz.as_deref(), snap.upstreams.get(t.provider.index())) else {
            return true;
        };
        super::authz::allows(cedar, route, &up.name, t, ingress)
    }));
    let tries = 1 + route.retry.as_ref().map_or(0, |r| r.attempts);
    let max_answer = usize::try_from(snap.graph.gateway.max_answer).unwrap_or(usize::MAX);
    let mut last: Option<GatewayError> = None;
    for target in chain {
        let Some(up) = snap.upstreams.get(target.provider.index()) else {
            continue;
        };
        rec.provider = Some(up.name.clone());
        let model = model_for(target, ingress);
        rec.model = Some(model.to_string());
        rec.model_known = snap.model_label(model) == model;
        if !up.health_flag() {
            let e = GatewayError::unhealthy(&up.name);
            metrics.add(&metrics.upstream_errors, &[&up.name, e.kind.as_str()], 1);
            last = Some(e);
            continue;
        }
        let timeout = route.timeout.unwrap_or(up.timeout);
        let rewrite = target.model.is_some() && ingress.model() != Some(model);
        for attempt in 0..tries {
            if attempt > 0 {
                if let Some(r) = &route.retry {
                    tokio::time::sleep(backoff(r, attempt)).await;
                }
            }
            let admit = up.breaker.as_ref().map_or(Admit::Yes, |b| b.admit());
            if admit == Admit::No {
                let e = GatewayError::breaker_open(&up.name);
                metrics.add(&metrics.upstream_errors, &[&up.name, e.kind.as_str()], 1);
                last = Some(e);
                break;
            }
            if let Err(wait) = up.pacer.admit(Instant::now()) {
                let e = GatewayError::paced(&up.name, wait);
                metrics.add(&metrics.upstream_errors, &[&up.name, "paced"], 1);
                last = Some(e);
                break;
            }
            rec.attempts += 1;
            let started = Instant::now();
            rec.upstream_start = Some(started);
            let deadline = tokio::time::Instant::from_std(started) + timeout;
            // Boxed: the attempt's future is large, and moving it through
            // every enclosing future costs more than one allocation.
            match Box::pin(call::call(up, ingress, model, rewrite, &rec.request_id, deadline, max_answer)).await {
                Ok(reply) => {
                    if let Some(b) = &up.breaker {
                        b.record_success();
                    }
                    let said = pacer::left(&reply.headers).map_or(Signal::Quiet, Signal::Left);
                    pace(up, said, metrics);
                    return Ok(Success { reply, upstream: up.clone(), model: model.to_string(), timeout });
                }
                Err(e) => {
                    // Only what the provider did says anything about its
                    // health; a request refused before it was sent does not.
                    if let (Some(b), Origin::Upstream) = (&up.breaker, e.origin) {
                        if e.counts_against_provider() {
                            b.record_failure();
                        } else {
                            b.record_success();
                        }
                    }
                    if e.origin == Origin::Upstream && e.status == http::StatusCode::TOO_MANY_REQUESTS {
                        pace(up, Signal::Limited, metrics);
                    }
                    metrics.add(&metrics.upstream_errors, &[&up.name, e.kind.as_str()], 1);
                    tracing::debug!(target: "hapax::upstream", provider = %up.name, error = %e, attempt, "attempt failed");
                    if !e.retry_safe {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| GatewayError::internal("the route has no target")))
}

/// Tells the provider's pacer what it said, and the metric and the log
/// when its rate changes.
fn pace(up: &Upstream, said: Signal, metrics: &Metrics) {
    match up.pacer.signal(said, Instant::now()) {
        Some(Some(rate)) => {
            metrics.provider_rate.with_label_values(&[&up.name]).set(rate);
            tracing::info!(target: "hapax::upstream", provider = %up.name, rate, signal = ?said, "pacing the provider");
        }
        Some(None) => {
            let _ = metrics.provider_rate.remove_label_values(&[&up.name]);
            tracing::info!(target: "hapax::upstream", provider = %up.name, "the provider recovered; pacing lifted");
        }
        None => {}
    }
}

/// The model to ask the target for: the target's own, else the client's.
fn model_for<'a>(target: &'a Target, ingress: &'a Ingress) -> &'a str {
    target.model.as_deref().or_else(|| ingress.model()).unwrap_or("")
}

/// Full jitter: a uniform wait between zero and the exponential cap.
fn backoff(r: &Retry, attempt: u32) -> Duration {
    let base = r.backoff_min.as_secs_f64();
    let cap = (base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32)).min(r.backoff_max.as_secs_f64());
    Duration::from_secs_f64(rand::random::<f64>() * cap.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_cap() {
        let r = Retry { attempts: 5, backoff_min: Duration::from_millis(100), backoff_max: Duration::from_millis(300) };
        for attempt in 1..6 {
            for _ in 0..100 {
                let d = backoff(&r, attempt);
                assert!(d <= Duration::from_millis(300));
                if attempt == 1 {
                    assert!(d <= Duration::from_millis(100));
                }
            }
        }
    }
}
