//! State that outlives a reload. Each provider's runtime (pooled client,
//! circuit breaker, health) is kept under the provider's name, the
//! fingerprint of its declaration and a hash of its resolved key, so an
//! unchanged declaration keeps its connections and breaker across reloads
//! and a changed one starts fresh.

use crate::state::jwks::Verifier;
use crate::state::keys::Live;
use crate::state::limiter::{Limiter, RateLimiter};
use crate::state::usage::{Flusher, Kept, UsageStore};
use crate::telemetry::audit::Auditor;
use crate::telemetry::metrics::Metrics;
use crate::upstream::provider::Upstream;
use hapax_lang::expr::stable_hash;
use hapax_lang::graph::Provider;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

type Key = (String, u64, Option<u64>);

/// Drains the limiters into their stores; a limiter no snapshot holds any
/// more is drained once more under the lock (nothing can reach it then)
/// and forgotten.
fn flush(limiters: &Mutex<HashMap<(String, u64), Kept>>, flusher: &Mutex<Flusher>) {
    let lock = || limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let kept: Vec<Kept> =
        lock().values().map(|k| Kept { limiter: k.limiter.clone(), store: k.store.clone() }).collect();
    let mut flusher = flusher.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = crate::state::limiter::now_ms();
    flusher.flush(&kept, now);
    drop(kept);
    let mut map = lock();
    let unused: Vec<_> =
        map.iter().filter(|(_, k)| Arc::strong_count(&k.limiter) == 1).map(|(n, _)| n.clone()).collect();
    let gone: Vec<Kept> = unused.iter().filter_map(|n| map.remove(n)).collect();
    drop(map);
    flusher.flush(&gone, now);
}

pub struct State {
    pub metrics: Arc<Metrics>,
    /// Where limit notifications go out.
    pub notifier: crate::telemetry::notify::Notifier,
    upstreams: Mutex<HashMap<Key, Weak<Upstream>>>,
    /// The live key tables, by the store's folder.
    keys: Mutex<HashMap<std::path::PathBuf, Weak<Live>>>,
    /// The JWT verifiers (with the keys they fetched), by their definition.
    jwts: Mutex<HashMap<String, Weak<Verifier>>>,
    /// The process's one audit writer, once a policy declared `audit`.
    audit: Mutex<Option<Arc<Auditor>>>,
    /// The limiters, by name and definition: a reload that leaves a
    /// `limit` unchanged keeps its counters; a changed one starts afresh.
    /// Each is written to its usage store every second (see
    /// [`crate::state::usage`]), and forgotten once written and unused.
    limiters: Arc<Mutex<HashMap<(String, u64), Kept>>>,
    /// The usage stores, by `data_dir`.
    usage: Mutex<HashMap<std::path::PathBuf, Weak<UsageStore>>>,
    flusher: Arc<Mutex<Flusher>>,
    flushing: std::sync::Once,
}

impl State {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        let notifier = crate::telemetry::notify::Notifier::new(metrics.clone());
        let flusher = Arc::new(Mutex::new(Flusher::new(metrics.clone())));
        State {
            notifier,
            metrics,
            upstreams: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            jwts: Mutex::new(HashMap::new()),
            audit: Mutex::new(None),
            limiters: Arc::new(Mutex::new(HashMap::new())),
            usage: Mutex::new(HashMap::new()),
            flusher,
            flushing: std::sync::Once::new(),
        }
    }

    /// The usage store under `data_dir`.
    pub fn usage_store(&self, data_dir: &std::path::Path) -> Result<Arc<UsageStore>, String> {
        let mut map = self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = map.get(data_dir).and_then(Weak::upgrade) {
            return Ok(s);
        }
        let s = Arc::new(UsageStore::open(data_dir).map_err(|e| e.to_string())?);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(data_dir.to_path_buf(), Arc::downgrade(&s));
        Ok(s)
    }

    /// The limiter of a `limit` declaration: the running one when its
    /// definition is unchanged, else a new one that takes back the calendar
    /// usage its store kept.
    pub fn limiter(
        &self,
        limit: &hapax_lang::graph::Limit,
        data_dir: &std::path::Path,
    ) -> Result<Arc<dyn RateLimiter>, String> {
        let key = (limit.decl.name.clone(), limit.decl.fingerprint);
        let mut map = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = map.get(&key) {
            return Ok(k.limiter.clone());
        }
        let store = self.usage_store(data_dir)?;
        let l = Arc::new(Limiter::new(limit));
        if l.has_calendar() {
            let rows = store.quotas(&l.name, l.fingerprint).map_err(|e| e.to_string())?;
            l.restore(rows, crate::state::limiter::now_ms());
        }
        map.insert(key, Kept { limiter: l.clone(), store });
        drop(map);
        self.flushing.call_once(|| {
            let (limiters, flusher) = (self.limiters.clone(), self.flusher.clone());
            let spawned = std::thread::Builder::new().name("hapax-usage".into()).spawn(move || loop {
                std::thread::sleep(crate::state::usage::EVERY);
                flush(&limiters, &flusher);
            });
            if let Err(e) = spawned {
                tracing::warn!(target: "hapax::limit", error = %e, "cannot start the usage writer");
            }
        });
        Ok(l)
    }

    /// Writes every limiter's usage now (at shutdown).
    pub fn flush_usage(&self) {
        flush(&self.limiters, &self.flusher);
    }

    /// The auditor, started or reconfigured for `audit`.
    pub fn auditor(&self, audit: &hapax_lang::graph::Audit) -> Result<Arc<Auditor>, String> {
        let mut slot = self.audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(a) = slot.as_ref() {
            a.configure(audit)?;
            return Ok(a.clone());
        }
        let a = Auditor::start(audit, self.metrics.clone())?;
        *slot = Some(a.clone());
        Ok(a)
    }

    /// Writes every audit event still queued and stops the writer.
    pub async fn close_audit(&self, limit: std::time::Duration) {
        let a = self.audit.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(a) = a {
            a.close(limit).await;
        }
    }

    /// The live keys of the store under `data_dir`: the running table when
    /// there is one, else a new one (which opens or creates the store).
    pub fn keys(&self, data_dir: &std::path::Path) -> Result<Arc<Live>, String> {
        let mut map = self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(live) = map.get(data_dir).and_then(Weak::upgrade) {
            return Ok(live);
        }
        let live = Live::start(data_dir).map_err(|e| e.to_string())?;
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(data_dir.to_path_buf(), Arc::downgrade(&live));
        Ok(live)
    }

    /// The verifier of a `jwt` block. One whose keys come from a URL is
    /// kept while the block does not change, so a reload does not drop the
    /// keys it fetched; one reading a file reads it again at each reload.
    pub fn jwt(&self, jwt: &hapax_lang::graph::Jwt) -> Result<Arc<Verifier>, String> {
        let remote = jwt.jwks.as_deref().is_some_and(|j| j.starts_with("https://") || j.starts_with("http://"));
        if !remote {
            return Verifier::start(jwt);
        }
        let key = format!("{jwt:?}");
        let mut map = self.jwts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        let v = Verifier::start(jwt)?;
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&v));
        Ok(v)
    }

    /// The runtime of a provider: the existing one when its declaration did
    /// not change, else a new one. Resolves the provider's secret.
    pub fn upstream(&self, p: &Provider) -> Result<Arc<Upstream>, String> {
        let secret = p
            .api_key
            .as_ref()
            .map(|s| s.resolve())
            .transpose()
            .map_err(|e| format!("provider `{}`: {e}", p.decl.name))?;
        let key = (p.decl.name.clone(), p.decl.fingerprint, secret.as_deref().map(stable_hash));
        let mut map = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(up) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(up);
        }
        let up = Arc::new(Upstream::new(p, secret, &self.metrics)?);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&up));
        Ok(up)
    }
}
