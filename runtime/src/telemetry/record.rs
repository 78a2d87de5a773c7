//! Accounting: one record per request, finished exactly once (when the
//! answer is complete, or when it is dropped because the client went away),
//! which writes the access log line and the request metrics. Streams carry
//! their record to the end of the stream.
//!
//! Logs hold ids, names, statuses and timings; never prompt text or keys.

use crate::http::error::GatewayError;
use crate::http::request::Headers;
use crate::telemetry::audit::{Auditor, Event};
use crate::telemetry::metrics::Metrics;
use crate::wire::Api;
use crate::wire::Usage;
use bytes::Bytes;
use hapax_lang::authz::Decision;
use http::{HeaderValue, Method, StatusCode, Uri};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Record {
    metrics: Arc<Metrics>,
    pub request_id: HeaderValue,
    pub method: Method,
    pub uri: Uri,
    pub start: Instant,
    pub route: Option<HeaderValue>,
    pub provider: Option<Arc<str>>,
    /// The model asked of the provider.
    pub model: Option<String>,
    /// The authenticated client and the id of its key (never the key).
    pub client: Option<String>,
    pub key_id: Option<String>,
    /// Whether `model` may be a metric label (else it is counted as
    /// `other`); see `Snapshot::model_label`.
    pub model_known: bool,
    pub status: StatusCode,
    pub stream: bool,
    pub prompt_estimate: u64,
    pub upstream_start: Option<Instant>,
    pub ttft: Option<Duration>,
    pub usage: Option<Usage>,
    /// The output tokens a stream delivered, estimated from its text (four
    /// bytes a token), when a limit needs it: what a stream cut short
    /// before its usage is charged.
    pub delivered: Option<u64>,
    pub attempts: u32,
    pub error: Option<&'static str>,
    /// An answer whose usage is read when the record is finished.
    usage_in: Option<(Api, Bytes)>,
    live: bool,
    /// Where the request's audit event goes, when `audit` is declared.
    pub audit: Option<Arc<Auditor>>,
    /// Cedar's decision, when `authz` is declared and the request got that far.
    pub decision: Option<Decision>,
    /// The request as the audit event shows it (headers, and the body under
    /// `log_prompts on`), before redaction.
    pub audit_request: Option<serde_json::Value>,
    /// The request body for the audit event (under `log_prompts on`).
    pub audit_body: Option<Bytes>,
    /// What the route's limits reserved, settled when the record finishes.
    pub grants: Vec<Box<dyn Settle>>,
}

/// A reservation to settle once the answer is done (a limit's tokens).
pub trait Settle: Send {
    /// `used`: the tokens the provider reported, when it did; `success`:
    /// whether the answer was a success.
    fn settle(self: Box<Self>, used: Option<u64>, success: bool);
}

/// Finishes a record when dropped; see [`crate::http::body::Body::finish_after`].
pub struct Finish(Record);

impl Drop for Finish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

impl Record {
    pub fn start(metrics: Arc<Metrics>, request_id: HeaderValue, method: Method, uri: Uri) -> Self {
        metrics.in_flight.inc();
        Record {
            metrics,
            request_id,
            method,
            uri,
            start: Instant::now(),
            route: None,
            provider: None,
            model: None,
            client: None,
            key_id: None,
            model_known: false,
            status: StatusCode::OK,
            stream: false,
            prompt_estimate: 0,
            upstream_start: None,
            ttft: None,
            usage: None,
            delivered: None,
            attempts: 0,
            error: None,
            usage_in: None,
            live: true,
            audit: None,
            decision: None,
            audit_request: None,
            audit_body: None,
            grants: Vec::new(),
        }
    }

    /// Reads the usage off `answer` (in `api`'s format) when the record is
    /// finished, after the answer was sent.
    pub fn usage_later(&mut self, api: Api, answer: Bytes) {
        self.usage_in = Some((api, answer));
    }

    /// Finishes the record once the answer was sent (a record handed off to
    /// a stream, or already finished, has nothing left to do).
    /// Boxed: it travels in the response's body, which is moved several times.
    pub fn after_sending(self) -> Option<crate::http::body::AfterSent> {
        self.live.then(|| Box::new(Finish(self)) as crate::http::body::AfterSent)
    }

    pub fn fail(&mut self, err: &GatewayError) {
        self.status = err.status;
        self.error = Some(err.kind.as_str());
    }

    /// Moves the record into a stream body, which finishes it at the end of
    /// the stream; this one is then inert.
    pub fn hand_off(&mut self) -> Record {
        let other = Record {
            metrics: self.metrics.clone(),
            request_id: self.request_id.clone(),
            method: self.method.clone(),
            uri: self.uri.clone(),
            start: self.start,
            route: self.route.take(),
            provider: self.provider.take(),
            model: self.model.take(),
            client: self.client.take(),
            key_id: self.key_id.take(),
            model_known: self.model_known,
            status: self.status,
            stream: self.stream,
            prompt_estimate: self.prompt_estimate,
            upstream_start: self.upstream_start,
            ttft: self.ttft,
            usage: self.usage,
            delivered: self.delivered,
            attempts: self.attempts,
            error: self.error,
            usage_in: self.usage_in.take(),
            live: self.live,
            audit: self.audit.take(),
            decision: self.decision.take(),
            audit_request: self.audit_request.take(),
            audit_body: self.audit_body.take(),
            grants: std::mem::take(&mut self.grants),
        };
        self.live = false;
        other
    }

    /// Writes the log line and the metrics, once.
    pub fn finish(&mut self) {
        if !self.live {
            return;
        }
        self.live = false;
        let m = &self.metrics;
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.start);
        let route = self.route.as_ref().and_then(|r| r.to_str().ok()).unwrap_or("");
        let provider = self.provider.as_deref().unwrap_or("");
        let model = self.model.as_deref().unwrap_or("");
        let label = if self.model_known || model.is_empty() { model } else { "other" };
        let upstream = self.upstream_start.map(|t| now.saturating_duration_since(t));
        if let Some((api, answer)) = self.usage_in.take() {
            self.usage = crate::wire::Usage::from_body(api, &answer);
        }
        let (tokens_in, tokens_out) = match &self.usage {
            Some(u) => (u.input_tokens, u.output_tokens),
            None => (self.prompt_estimate, 0),
        };
        // Limits: the tokens reserved become the tokens used (see
        // `pipeline::admit::Held`); a stream cut short before its usage
        // used its prompt and what it delivered.
        let cut = self.error.is_some();
        let used = match (&self.usage, self.delivered) {
            (Some(u), Some(out)) if cut => Some(u.input_tokens + u.output_tokens.max(out)),
            (Some(u), _) => Some(u.input_tokens + u.output_tokens),
            (None, Some(out)) => Some(self.prompt_estimate + out),
            (None, None) => None,
        };
        for grant in self.grants.drain(..) {
            grant.settle(used, self.status.is_success());
        }
        m.answered(route, provider, label, self.status.as_str(), |s| {
            s.requests.inc();
            s.duration.observe(elapsed.as_secs_f64());
            if let Some(u) = upstream {
                s.upstream(m, provider).observe(u.as_secs_f64());
            }
            if let Some(t) = self.ttft {
                s.ttft(m, provider).observe(t.as_secs_f64());
            }
            if !provider.is_empty() && self.status.is_success() {
                s.tokens_in(m, provider, label).inc_by(tokens_in);
                if tokens_out > 0 {
                    s.tokens_out(m, provider, label).inc_by(tokens_out);
                }
            }
        });
        // After the counts, so that a scrape that sees the request gone also
        // sees it counted.
        m.in_flight.dec();
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            target: "hapax::access",
            request_id = self.request_id.to_str().unwrap_or(""),
            method = self.method.as_str(),
            path = self.uri.path(),
            route,
            provider,
            model,
            client = self.client.as_deref().unwrap_or(""),
            key_id = self.key_id.as_deref().unwrap_or(""),
            status = self.status.as_u16(),
            stream = self.stream,
            latency_ms = ms(elapsed),
            upstream_ms = upstream.map_or(0.0, ms),
            ttft_ms = self.ttft.map_or(0.0, ms),
            tokens_in,
            tokens_out,
            attempts = self.attempts,
            error = self.error.unwrap_or(""),
            "request"
        );
        if let Some(audit) = self.audit.take() {
            let mut e = Event::new("request")
                .set("request_id", self.request_id.to_str().unwrap_or(""))
                .set("method", self.method.as_str())
                .set("path", self.uri.path())
                .set("client", self.client.as_deref())
                .set("key_id", self.key_id.as_deref())
                .set("route", route)
                .set("provider", provider)
                .set("model", model)
                .set("status", self.status.as_u16())
                .set("error", self.error)
                .set("stream", self.stream)
                .set("tokens", serde_json::json!({ "input": tokens_in, "output": tokens_out }))
                .set("latency_ms", ms(elapsed))
                .set("attempts", self.attempts)
                .set("request", self.audit_request.take());
            if let Some(d) = self.decision.take() {
                e = e.set("decision", if d.allow { "allow" } else { "deny" }).set("policies", d.policies);
                if d.errors > 0 {
                    e = e.set("policy_errors", d.errors);
                }
            }
            e.body = self.audit_body.take();
            audit.emit(e);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if self.live && self.error.is_none() {
            // Dropped before the answer was made: the client went away and
            // its request was cancelled (nginx's 499).
            self.status = StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST);
            self.error = Some("client_closed");
        }
        self.finish();
    }
}

/// Each byte's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [digits[b >> 4], digits[b & 0xf]];
        b += 1;
    }
    t
};

/// The request id: the client's `x-request-id` when it is reasonable, else a
/// fresh one: 32 hex digits, random per thread and counting up from there
/// (unique, unpredictable across processes, and cheaper than asking the
/// random generator for 128 bits per request).
pub fn request_id(headers: &Headers) -> HeaderValue {
    if let Some(b) = headers.get("x-request-id") {
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
            // Printable ASCII is always a valid header value.
            if let Ok(v) = HeaderValue::from_bytes(b) {
                return v;
            }
        }
    }
    thread_local! {
        static NEXT: std::cell::Cell<u128> = std::cell::Cell::new(rand::random());
    }
    let n = NEXT.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(1));
        n
    });
    let mut hex = [0u8; 32];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    // 32 lowercase hex digits are always a valid header value.
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

#[cfg(test)]
mod tests {
    use super::request_id;
    use crate::http::request::Headers;

    #[test]
    fn request_ids_are_the_clients_or_fresh_hex() {
        let none = Headers::default();
        let (a, b) = (request_id(&none), request_id(&none));
        for id in [&a, &b] {
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
        assert_ne!(a, b);
        let mut theirs = http::HeaderMap::new();
        theirs.insert("x-request-id", http::HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&Headers::from_map(&theirs)), "abc-123");
        theirs.insert("x-request-id", http::HeaderValue::from_static("has space"));
        assert_eq!(request_id(&Headers::from_map(&theirs)).len(), 32);
    }
}
