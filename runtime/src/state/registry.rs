//! State that outlives a reload. Each provider's runtime (pooled client,
//! circuit breaker, health) is kept under the provider's name, the
//! fingerprint of its declaration and a hash of its resolved key, so an
//! unchanged declaration keeps its connections and breaker across reloads
//! and a changed one starts fresh.

use crate::telemetry::metrics::Metrics;
use crate::upstream::provider::Upstream;
use hapax_lang::expr::stable_hash;
use hapax_lang::graph::Provider;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

type Key = (String, u64, Option<u64>);

pub struct State {
    pub metrics: Arc<Metrics>,
    upstreams: Mutex<HashMap<Key, Weak<Upstream>>>,
}

impl State {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        State { metrics, upstreams: Mutex::new(HashMap::new()) }
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
