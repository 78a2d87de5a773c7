//! `sink webhook "URL"`: batches of sealed lines POSTed as JSON Lines
//! (`application/x-ndjson`), up to [`MAX_BATCH`] lines or every
//! [`EVERY`], retried with backoff. Each batch carries an
//! `Idempotency-Key` (the hash of its last line), so a receiver can drop a
//! batch it already took when a retry follows a lost answer. A receiver
//! that falls behind by more than [`BUFFER`] lines (each at most about
//! 30 KiB) loses the excess,
//! counted in `hapax_audit_dropped_total{kind="webhook"}`; the file sink
//! is unaffected.

use crate::telemetry::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 500;
const EVERY: Duration = Duration::from_secs(1);
const BUFFER: usize = 2_000;
const ATTEMPTS: u32 = 6;

pub struct Sender {
    tx: mpsc::Sender<Arc<str>>,
    metrics: Arc<Metrics>,
}

impl Sender {
    /// Starts delivering; the task ends once this sender is dropped and
    /// what it queued is delivered (or given up).
    pub fn start(
        url: &str,
        metrics: Arc<Metrics>,
        rt: &tokio::runtime::Handle,
    ) -> Result<(Sender, tokio::task::JoinHandle<()>), String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("invalid audit webhook URL `{url}`: {e}"))?;
        let client = crate::net::https::client::<Full<Bytes>>(None)?;
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = rt.spawn(deliver(uri, client, rx, metrics.clone()));
        Ok((Sender { tx, metrics }, task))
    }

    pub fn send(&self, line: Arc<str>) {
        if self.tx.try_send(line).is_err() {
            self.metrics.audit_dropped.with_label_values(&["webhook"]).inc();
        }
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

async fn deliver(uri: http::Uri, client: Client, mut rx: mpsc::Receiver<Arc<str>>, metrics: Arc<Metrics>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + EVERY;
        while batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(line)) => batch.push(line),
                Ok(None) | Err(_) => break,
            }
        }
        let key = batch.last().and_then(|l| l.rsplit("\"hash\":\"").next()).unwrap_or("").trim_end_matches("\"}");
        let key = key.to_string();
        let mut body = String::with_capacity(batch.iter().map(|l| l.len() + 1).sum());
        for l in &batch {
            body.push_str(l);
            body.push('\n');
        }
        let body = Bytes::from(body);
        let mut sent = false;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << attempt.min(6))).await;
            }
            let req = http::Request::post(uri.clone())
                .header(http::header::CONTENT_TYPE, "application/x-ndjson")
                .header("idempotency-key", key.as_str())
                .body(Full::new(body.clone()));
            let Ok(req) = req else { break };
            match tokio::time::timeout(Duration::from_secs(10), client.request(req)).await {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    sent = true;
                    break;
                }
                Ok(Ok(resp)) => {
                    let s = resp.status();
                    tracing::warn!(target: "hapax::audit", status = s.as_u16(), attempt, "the audit webhook refused a batch");
                    if s.is_client_error()
                        && s != http::StatusCode::TOO_MANY_REQUESTS
                        && s != http::StatusCode::REQUEST_TIMEOUT
                    {
                        break;
                    }
                }
                Ok(Err(e)) => tracing::warn!(target: "hapax::audit", error = %e, attempt, "the audit webhook failed"),
                Err(_) => tracing::warn!(target: "hapax::audit", attempt, "the audit webhook timed out"),
            }
        }
        if !sent {
            metrics.audit_dropped.with_label_values(&["webhook"]).inc_by(batch.len() as u64);
        }
    }
}
