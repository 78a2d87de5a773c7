//! The audit log: structured, versioned events (a request's decision, an
//! authentication failure, an admin action or key change, a policy reload),
//! one JSON object per line, hash-chained ([`chain`]) and written by one
//! thread ([`writer`]) to the sinks the policy names: a rotated JSON Lines
//! file, stdout, a webhook ([`webhook`]). `docs/audit.md` documents the
//! fields.
//!
//! Emitting never blocks a request: events go over a bounded channel; when
//! the writer falls behind, `audit { on_full drop }` (the default) drops
//! the event and counts it in `hapax_audit_dropped_total`, `on_full block`
//! makes the request wait. One auditor serves the whole process, so the
//! chain has one writer; a reload reconfigures it in order with the events.

pub mod chain;
pub mod redact;
pub mod search;
mod webhook;
mod writer;

use crate::telemetry::metrics::Metrics;
use hapax_lang::graph::{Audit, SinkKind};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The version of the event format; a change that removes or renames a
/// field raises it.
pub const VERSION: u64 = 1;

/// Events waiting for the writer, at most. An event is a few hundred bytes
/// of fields plus, under `log_prompts on`, a body of at most [`MAX_BODY`]:
/// the queue holds at most about 100 MiB.
const QUEUE: usize = 4096;

/// The largest request body an event carries (under `log_prompts on`); a
/// larger one is noted by its size only.
pub const MAX_BODY: usize = 16 * 1024;

/// Live tails (`/admin/api/audit/stream`) get the sealed lines through
/// this; a tail that falls further behind is told how many it missed.
const TAIL: usize = 1024;

/// One event before it is sealed: its kind and its fields.
#[derive(Debug, Clone)]
pub struct Event {
    pub ts: SystemTime,
    pub kind: &'static str,
    pub fields: Map<String, Value>,
    /// A request body (at most [`MAX_BODY`]), parsed by the writer into
    /// `request.body`, off the request path.
    pub body: Option<bytes::Bytes>,
}

impl Event {
    pub fn new(kind: &'static str) -> Self {
        Event { ts: SystemTime::now(), kind, fields: Map::new(), body: None }
    }

    /// Sets a field; `None` and empty strings are left out.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        let v = value.into();
        if !(v.is_null() || v.as_str() == Some("")) {
            self.fields.insert(key.to_string(), v);
        }
        self
    }
}

enum Msg {
    Event(Event),
    Configure(Box<Config>),
    /// Write what came before, then answer.
    Flush(mpsc::Sender<()>),
}

/// What the writer needs of the `audit` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub audit: Audit,
}

/// The process's auditor.
pub struct Auditor {
    tx: Mutex<Option<SyncSender<Msg>>>,
    block: AtomicBool,
    log_prompts: AtomicBool,
    metrics: Arc<Metrics>,
    tail: tokio::sync::broadcast::Sender<Arc<str>>,
    /// The file sinks' paths, for search.
    files: Mutex<Vec<PathBuf>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The webhook deliveries.
    tasks: writer::Tasks,
}

impl Auditor {
    /// Starts the writer thread with `audit`'s sinks.
    pub fn start(audit: &Audit, metrics: Arc<Metrics>) -> Result<Arc<Auditor>, String> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (tail, _) = tokio::sync::broadcast::channel(TAIL);
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| "the audit log needs the runtime".to_string())?;
        let tasks = writer::Tasks::default();
        let mut w = writer::Writer::new(metrics.clone(), tail.clone(), handle, tasks.clone());
        w.configure(Config { audit: audit.clone() })?;
        let thread = std::thread::Builder::new()
            .name("hapax-audit".into())
            .spawn(move || w.run(rx))
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        let a = Arc::new(Auditor {
            tx: Mutex::new(Some(tx)),
            block: AtomicBool::new(audit.block_when_full),
            log_prompts: AtomicBool::new(audit.log_prompts),
            metrics,
            tail,
            files: Mutex::new(file_paths(audit)),
            thread: Mutex::new(Some(thread)),
            tasks,
        });
        Ok(a)
    }

    /// Applies a changed `audit` block, in order with the events: the
    /// writer checks it (a file it cannot open fails the reload) first.
    pub fn configure(&self, audit: &Audit) -> Result<(), String> {
        // Open the files here first, so that a bad path fails the reload
        // rather than silently losing events later.
        for p in file_paths(audit) {
            writer::check_path(&p)?;
        }
        self.block.store(audit.block_when_full, Ordering::Relaxed);
        self.log_prompts.store(audit.log_prompts, Ordering::Relaxed);
        *self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = file_paths(audit);
        self.send(Msg::Configure(Box::new(Config { audit: audit.clone() })), true);
        Ok(())
    }

    /// Whether request events may carry the request body.
    pub fn log_prompts(&self) -> bool {
        self.log_prompts.load(Ordering::Relaxed)
    }

    /// Hands an event to the writer; never blocks under `on_full drop`.
    pub fn emit(&self, event: Event) {
        self.emit_with(event, self.block.load(Ordering::Relaxed));
    }

    /// Hands an event to the writer without ever waiting, whatever
    /// `on_full` says: for events a client without a credential causes, so
    /// that a flood of them cannot stall the gateway.
    pub fn emit_nonblocking(&self, event: Event) {
        self.emit_with(event, false);
    }

    fn emit_with(&self, event: Event, wait: bool) {
        let kind = event.kind;
        if !self.send(Msg::Event(event), wait) {
            self.metrics.audit_dropped.with_label_values(&[kind]).inc();
        }
    }

    fn send(&self, msg: Msg, wait: bool) -> bool {
        let guard = self.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(tx) = guard.as_ref() else { return false };
        if wait {
            let tx = tx.clone();
            drop(guard);
            return tx.send(msg).is_ok();
        }
        match tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Waits (at most `limit`) until every event sent before is written.
    pub fn flush(&self, limit: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Flush(tx), true) && rx.recv_timeout(limit).is_ok()
    }

    /// Stops the writer once it has written everything, then gives the
    /// webhooks up to `limit` to deliver what they hold (at shutdown).
    pub async fn close(self: &Arc<Self>, limit: Duration) {
        let this = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            this.flush(limit);
            this.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(t) = this.thread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                let _ = t.join();
            }
        })
        .await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!(target: "hapax::audit", "an audit webhook did not finish delivering before shutdown");
        }
    }

    /// The sealed lines as they are written, for live tails.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.tail.subscribe()
    }

    /// The file sinks' paths (the active files).
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn file_paths(audit: &Audit) -> Vec<PathBuf> {
    audit
        .sinks
        .iter()
        .filter_map(|s| match &s.kind {
            SinkKind::File(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}
