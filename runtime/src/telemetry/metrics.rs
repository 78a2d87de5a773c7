//! Prometheus metrics, one registry per process, served as text on the
//! admin listener's `/metrics`. Gateway overhead is the difference between
//! `hapax_request_duration_seconds` and `hapax_upstream_duration_seconds`.

use hapax_lang::fxhash::FxHasher;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Every metric the data plane records.
pub struct Metrics {
    registry: Registry,
    /// By route, provider, model and status.
    pub requests: IntCounterVec,
    /// From the first byte of the request to the last byte of the answer.
    pub request_duration: HistogramVec,
    /// From sending upstream to the end of its answer.
    pub upstream_duration: HistogramVec,
    /// From the request to the first streamed byte.
    pub ttft: HistogramVec,
    /// Tokens by provider, model and direction (`in` or `out`).
    pub tokens: IntCounterVec,
    /// Failed upstream attempts by provider and kind.
    pub upstream_errors: IntCounterVec,
    /// 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// 1 healthy, 0 not.
    pub provider_healthy: IntGaugeVec,
    /// Reloads by result (`ok` or `failed`).
    pub reloads: IntCounterVec,
    pub in_flight: IntGauge,
    /// Audit events written, by kind.
    pub audit_events: IntCounterVec,
    /// Audit events lost, by kind (`webhook`: lines a webhook could not take).
    pub audit_dropped: IntCounterVec,
    /// Requests a limit admitted or refused, by limit, key (at most
    /// `usage::LABELLED_KEYS` keys, the rest as `_other`) and result.
    pub limit_requests: IntCounterVec,
    /// Tokens used under a limit, by limit and key (bounded as above).
    pub limit_tokens: IntCounterVec,
    /// `notify` events, by limit and result (`sent`, `failed`, `dropped`).
    pub limit_notifications: IntCounterVec,
    /// The rate Hapax lets through to a provider that signalled its own
    /// limit (requests per second); absent while it is not held back.
    pub provider_rate: prometheus::GaugeVec,
    /// Request body bytes held, read when metrics are rendered.
    body_memory: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("hapax_requests_total", "Requests answered, by route, provider, model and status"),
            &["route", "provider", "model", "status"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new("hapax_request_duration_seconds", "Total time to answer a request")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new("hapax_upstream_duration_seconds", "Time spent waiting on the provider")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["provider"],
        )?;
        let ttft = HistogramVec::new(
            HistogramOpts::new("hapax_time_to_first_token_seconds", "Time from the request to the first streamed byte")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["provider"],
        )?;
        let tokens = IntCounterVec::new(
            Opts::new("hapax_tokens_total", "Tokens by provider, model and direction"),
            &["provider", "model", "direction"],
        )?;
        let upstream_errors = IntCounterVec::new(
            Opts::new("hapax_upstream_errors_total", "Failed upstream attempts by provider and kind"),
            &["provider", "kind"],
        )?;
        let breaker_state = IntGaugeVec::new(
            Opts::new("hapax_breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open"),
            &["provider"],
        )?;
        let provider_healthy =
            IntGaugeVec::new(Opts::new("hapax_provider_healthy", "1 when the provider is healthy"), &["provider"])?;
        let reloads = IntCounterVec::new(Opts::new("hapax_reloads_total", "Policy reloads by result"), &["result"])?;
        let in_flight = IntGauge::new("hapax_requests_in_flight", "Requests being answered")?;
        let body_memory = IntGauge::new(
            "hapax_request_body_bytes_held",
            "Request body bytes held in memory (max_body_memory bounds it)",
        )?;
        registry.register(Box::new(body_memory.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(ttft.clone()))?;
        registry.register(Box::new(tokens.clone()))?;
        registry.register(Box::new(upstream_errors.clone()))?;
        registry.register(Box::new(breaker_state.clone()))?;
        registry.register(Box::new(provider_healthy.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        let audit_events =
            IntCounterVec::new(Opts::new("hapax_audit_events_total", "Audit events written, by kind"), &["kind"])?;
        let audit_dropped = IntCounterVec::new(
            Opts::new("hapax_audit_dropped_total", "Audit events dropped because a sink fell behind, by kind"),
            &["kind"],
        )?;
        let limit_requests = IntCounterVec::new(
            Opts::new("hapax_limit_requests_total", "Requests a limit admitted or refused, by limit, key and result"),
            &["limit", "key", "result"],
        )?;
        let limit_tokens = IntCounterVec::new(
            Opts::new("hapax_limit_tokens_total", "Tokens used under a limit, by limit and key"),
            &["limit", "key"],
        )?;
        let limit_notifications = IntCounterVec::new(
            Opts::new("hapax_limit_notifications_total", "Limit notifications, by limit and result"),
            &["limit", "result"],
        )?;
        let provider_rate = prometheus::GaugeVec::new(
            Opts::new(
                "hapax_provider_rate_limit",
                "Requests per second let through to a provider that signalled its own rate limit (AIMD)",
            ),
            &["provider"],
        )?;
        registry.register(Box::new(limit_requests.clone()))?;
        registry.register(Box::new(limit_tokens.clone()))?;
        registry.register(Box::new(limit_notifications.clone()))?;
        registry.register(Box::new(provider_rate.clone()))?;
        registry.register(Box::new(audit_events.clone()))?;
        registry.register(Box::new(audit_dropped.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            request_duration,
            upstream_duration,
            ttft,
            tokens,
            upstream_errors,
            breaker_state,
            provider_healthy,
            reloads,
            in_flight,
            audit_events,
            audit_dropped,
            limit_requests,
            limit_tokens,
            limit_notifications,
            provider_rate,
            body_memory,
        })
    }

    /// Adds `n` to the counter of `vec` for these labels.
    pub fn add(&self, vec: &IntCounterVec, labels: &[&str], n: u64) {
        series(address(vec), labels, || vec.with_label_values(labels), |c: &IntCounter| c.inc_by(n));
    }

    /// Counts an answered request in all its series, found with one lookup.
    pub fn answered(&self, route: &str, provider: &str, model: &str, status: &str, with: impl FnOnce(&Answered)) {
        let make = || Answered {
            requests: self.requests.with_label_values(&[route, provider, model, status]),
            duration: self.request_duration.with_label_values(&[route]),
            upstream: OnceCell::new(),
            ttft: OnceCell::new(),
            tokens_in: OnceCell::new(),
            tokens_out: OnceCell::new(),
        };
        series(address(self), &[route, provider, model, status], make, with);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        self.body_memory.set(i64::try_from(crate::http::body::body_memory_held()).unwrap_or(i64::MAX));
        let mut out = Vec::with_capacity(8192);
        // Encoding into a Vec only fails on a malformed metric family, which
        // the typed constructors above cannot produce.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

/// A labelled series, found through a per-thread cache: one cheap hash of
/// the labels and no lock, where `with_label_values` takes a SipHash of every
/// label and a read lock shared by all workers.
fn series<M: 'static>(owner: usize, labels: &[&str], make: impl FnOnce() -> M, with: impl FnOnce(&M)) {
    thread_local! {
        static CACHE: RefCell<HashMap<u64, Vec<Cached>, BuildHasherDefault<FxHasher>>> = RefCell::default();
    }
    let mut h = FxHasher::default();
    h.write_usize(owner);
    for l in labels {
        h.write(l.as_bytes());
        h.write_u8(0xff);
    }
    let key = h.finish();
    /// Entries a thread keeps; labels are bounded (see `Snapshot::model_label`),
    /// but routes and providers renamed by reloads would pile up.
    const KEPT: usize = 4096;
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= KEPT && !cache.contains_key(&key) {
            cache.clear();
        }
        let slot = cache.entry(key).or_default();
        let found = slot.iter().find(|e| {
            e.owner == owner && e.labels.len() == labels.len() && e.labels.iter().zip(labels).all(|(a, b)| **a == **b)
        });
        if let Some(m) = found.and_then(|e| e.metric.downcast_ref::<M>()) {
            return with(m);
        }
        let m = make();
        with(&m);
        slot.push(Cached { owner, labels: labels.iter().map(|l| Box::from(*l)).collect(), metric: Box::new(m) });
    })
}

fn address<T>(x: &T) -> usize {
    x as *const T as usize
}

/// The series of one route, provider, model and status. Those a request
/// may not touch are made the first time one does, so that no empty series
/// appears.
pub struct Answered {
    pub requests: IntCounter,
    pub duration: Histogram,
    upstream: OnceCell<Histogram>,
    ttft: OnceCell<Histogram>,
    tokens_in: OnceCell<IntCounter>,
    tokens_out: OnceCell<IntCounter>,
}

impl Answered {
    pub fn upstream(&self, m: &Metrics, provider: &str) -> &Histogram {
        self.upstream.get_or_init(|| m.upstream_duration.with_label_values(&[provider]))
    }
    pub fn ttft(&self, m: &Metrics, provider: &str) -> &Histogram {
        self.ttft.get_or_init(|| m.ttft.with_label_values(&[provider]))
    }
    pub fn tokens_in(&self, m: &Metrics, provider: &str, model: &str) -> &IntCounter {
        self.tokens_in.get_or_init(|| m.tokens.with_label_values(&[provider, model, "in"]))
    }
    pub fn tokens_out(&self, m: &Metrics, provider: &str, model: &str) -> &IntCounter {
        self.tokens_out.get_or_init(|| m.tokens.with_label_values(&[provider, model, "out"]))
    }
}

struct Cached {
    owner: usize,
    labels: Box<[Box<str>]>,
    metric: Box<dyn std::any::Any>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let m = Metrics::new().unwrap();
        m.requests.with_label_values(&["chat", "mock", "m", "200"]).inc();
        m.in_flight.inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(text.contains("hapax_requests_total{model=\"m\",provider=\"mock\",route=\"chat\",status=\"200\"} 1"));
        assert!(text.contains("hapax_requests_in_flight 1"));
    }

    #[test]
    fn cached_series_are_the_registered_ones() {
        let a = Metrics::new().unwrap();
        let b = Metrics::new().unwrap();
        for _ in 0..3 {
            a.add(&a.requests, &["chat", "p", "m", "200"], 1);
        }
        b.add(&b.requests, &["chat", "p", "m", "200"], 1);
        a.add(&a.requests, &["chat", "p", "m2", "200"], 1);
        assert_eq!(a.requests.with_label_values(&["chat", "p", "m", "200"]).get(), 3);
        assert_eq!(a.requests.with_label_values(&["chat", "p", "m2", "200"]).get(), 1);
        assert_eq!(b.requests.with_label_values(&["chat", "p", "m", "200"]).get(), 1);
        // An answered request: its series in one lookup; the lazy ones only
        // when touched.
        for _ in 0..2 {
            a.answered("chat", "p", "m", "200", |s| {
                s.requests.inc();
                s.duration.observe(0.1);
                s.tokens_in(&a, "p", "m").inc_by(7);
            });
        }
        assert_eq!(a.requests.with_label_values(&["chat", "p", "m", "200"]).get(), 5);
        assert_eq!(a.request_duration.with_label_values(&["chat"]).get_sample_count(), 2);
        assert_eq!(a.tokens.with_label_values(&["p", "m", "in"]).get(), 14);
        let text = String::from_utf8(a.render()).unwrap();
        assert!(!text.contains("direction=\"out\""), "{text}");
        assert!(!text.contains("hapax_upstream_duration_seconds_count"), "{text}");
        // Another thread has its own cache, over the same series.
        let r = std::thread::scope(|s| s.spawn(|| a.add(&a.requests, &["chat", "p", "m", "200"], 1)).join());
        assert!(r.is_ok());
        assert_eq!(a.requests.with_label_values(&["chat", "p", "m", "200"]).get(), 6);
    }
}
