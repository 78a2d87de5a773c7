//! Prometheus metrics, one registry per process, served as text on the
//! admin listener's `/metrics`. Gateway overhead is the difference between
//! `hapax_request_duration_seconds` and `hapax_upstream_duration_seconds`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

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
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8192);
        // Encoding into a Vec only fails on a malformed metric family, which
        // the typed constructors above cannot produce.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
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
}
