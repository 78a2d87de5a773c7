//! Notifications to webhooks (a limit's `notify webhook "URL" at 80%`):
//! each event is one JSON object POSTed on its own, with an
//! `Idempotency-Key` that stays the same across retries, retried with
//! exponential backoff ([`ATTEMPTS`] times). Sending never blocks a
//! request: events wait in a bounded queue ([`QUEUE`]) and those that do
//! not fit are dropped and counted; at most [`IN_FLIGHT`] deliveries run
//! at once.

use crate::telemetry::metrics::Metrics;
use bytes::Bytes;
use http_body_util::Full;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

pub const QUEUE: usize = 1024;
pub const ATTEMPTS: u32 = 5;
pub const IN_FLIGHT: usize = 16;
/// The first retry's wait; each next one doubles it.
const BACKOFF: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_secs(10);

/// One event for one webhook.
pub struct Note {
    pub url: String,
    /// The `limit` it is about (the metric's label).
    pub limit: String,
    /// Stays the same across retries, so a receiver can drop a repeat.
    pub id: String,
    pub body: serde_json::Value,
}

pub struct Notifier {
    tx: OnceLock<mpsc::Sender<Note>>,
    metrics: Arc<Metrics>,
}

impl Notifier {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Notifier { tx: OnceLock::new(), metrics }
    }

    /// Queues `note`; the delivery task starts on first use, on the
    /// current Tokio runtime.
    pub fn send(&self, note: Note) {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            match (tokio::runtime::Handle::try_current(), crate::net::https::client::<Full<Bytes>>(None)) {
                (Ok(rt), Ok(client)) => {
                    rt.spawn(deliver(rx, client, self.metrics.clone()));
                }
                (_, Err(e)) => tracing::warn!(target: "hapax::notify", error = %e, "cannot make the webhook client"),
                (Err(_), _) => {}
            }
            tx
        });
        let limit = note.limit.clone();
        if tx.try_send(note).is_err() {
            self.metrics.limit_notifications.with_label_values(&[&limit, "dropped"]).inc();
        }
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

async fn deliver(mut rx: mpsc::Receiver<Note>, client: Client, metrics: Arc<Metrics>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(note) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (client, metrics) = (client.clone(), metrics.clone());
        tokio::spawn(async move {
            let result = if post(&client, &note).await { "sent" } else { "failed" };
            metrics.limit_notifications.with_label_values(&[&note.limit, result]).inc();
            drop(slot);
        });
    }
}

/// Posts until the receiver answers 2xx or the attempts run out.
async fn post(client: &Client, note: &Note) -> bool {
    let Ok(uri) = note.url.parse::<http::Uri>() else { return false };
    let body = Bytes::from(note.body.to_string());
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(BACKOFF * 2u32.pow(attempt - 1)).await;
        }
        let req = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", &note.id)
            .header(http::header::USER_AGENT, concat!("hapax/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body.clone()));
        let Ok(req) = req else { return false };
        match tokio::time::timeout(TIMEOUT, client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => return true,
            Ok(Ok(resp)) => {
                tracing::warn!(target: "hapax::notify", url = %note.url, status = resp.status().as_u16(), attempt, "webhook refused a notification")
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "hapax::notify", url = %note.url, error = %e, attempt, "webhook unreachable")
            }
            Err(_) => tracing::warn!(target: "hapax::notify", url = %note.url, attempt, "webhook timed out"),
        }
    }
    false
}
