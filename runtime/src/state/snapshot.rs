//! A snapshot: the compiled graph plus everything derived from it that the
//! request path needs (provider runtimes by id, the model list). Building one
//! may fail; swapping it in cannot. A request holds one snapshot from start
//! to end, so a reload never changes a request in flight.

use crate::state::jwks::Verifier;
use crate::state::keys::Live;
use crate::state::State;
use crate::telemetry::audit::Auditor;
use crate::upstream::provider::Upstream;
use arc_swap::ArcSwap;
use bytes::Bytes;
use hapax_lang::expr::ClientInfo;
use hapax_lang::fxhash::FxHasher;
use hapax_lang::graph::Graph;
use http::HeaderValue;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

pub struct Snapshot {
    pub graph: Graph,
    /// Indexed by `ProviderId`.
    pub upstreams: Vec<Arc<Upstream>>,
    /// Indexed by `RouteId`: the `x-hapax-route` header value.
    pub route_names: Vec<HeaderValue>,
    /// The `GET /v1/models` answer.
    pub models: Bytes,
    /// The model names a metric label may carry: those the policy names
    /// and those of the price table. Any other is labelled `other`, so a
    /// client cannot grow the metrics with made-up names.
    known_models: HashSet<Box<str>, BuildHasherDefault<FxHasher>>,
    /// The live API keys, when `auth { api_keys store }`.
    pub keys: Option<Arc<Live>>,
    /// The token verifier, when `auth { jwt { ... } }`.
    pub jwt: Option<Arc<Verifier>>,
    /// The attributes `client` blocks give, by client id.
    pub clients: HashMap<String, ClientInfo>,
    /// The Cedar policies, when `authz` is declared.
    pub authz: Option<Arc<hapax_lang::authz::Cedar>>,
    /// The audit log, when `audit` is declared.
    pub audit: Option<Arc<Auditor>>,
    /// Indexed by `LimitId`.
    pub limits: Vec<Arc<dyn crate::state::limiter::RateLimiter>>,
}

/// The snapshot being served.
pub type Current = ArcSwap<Snapshot>;

impl Snapshot {
    pub fn build(graph: Graph, state: &State) -> Result<Snapshot, String> {
        let upstreams = graph.providers.iter().map(|p| state.upstream(p)).collect::<Result<Vec<_>, _>>()?;
        let route_names = graph
            .routes
            .iter()
            .map(|r| HeaderValue::from_str(&r.decl.name).unwrap_or_else(|_| HeaderValue::from_static("invalid")))
            .collect();
        let models = model_list(&graph);
        let mut known_models: HashSet<Box<str>, BuildHasherDefault<FxHasher>> = HashSet::default();
        known_models.extend(hapax_stdlib::prices::table().iter().map(|p| Box::from(p.model.as_str())));
        known_models.extend(graph.prices.iter().map(|p| Box::from(p.model.as_str())));
        known_models.extend(graph.providers.iter().flat_map(|p| p.models.iter().map(|m| Box::from(m.as_str()))));
        for r in &graph.routes {
            known_models.extend(r.all_targets().iter().filter_map(|t| t.model.as_deref()).map(Box::from));
        }
        let keys = match &graph.auth {
            Some(a) if a.api_keys => Some(state.keys(&graph.gateway.data_dir)?),
            _ => None,
        };
        let jwt = match graph.auth.as_ref().and_then(|a| a.jwt.as_ref()) {
            Some(j) => Some(state.jwt(j)?),
            None => None,
        };
        let clients = graph
            .clients
            .iter()
            .map(|c| {
                let tier = c.tier.map(|t| graph.tiers[t.index()].decl.name.clone());
                let info = ClientInfo { id: c.decl.name.clone(), tier, team: c.team.clone(), roles: c.roles.clone() };
                (c.decl.name.clone(), info)
            })
            .collect();
        let authz = match &graph.authz {
            Some(a) => Some(a.compiled.clone().ok_or("the Cedar policies did not compile")?),
            None => None,
        };
        let audit = match &graph.audit {
            Some(a) => Some(state.auditor(a)?),
            None => None,
        };
        if let Some(live) = &keys {
            live.audit.store(audit.clone());
        }
        let limits =
            graph.limits.iter().map(|l| state.limiter(l, &graph.gateway.data_dir)).collect::<Result<_, _>>()?;
        Ok(Snapshot { graph, upstreams, route_names, models, known_models, keys, jwt, clients, authz, audit, limits })
    }

    /// The metric label for `model`: itself when the policy or the price
    /// table knows it (a dated name like `gpt-4o-2024-08-06` counts as
    /// known through its price), else `other`.
    pub fn model_label<'m>(&self, model: &'m str) -> &'m str {
        if self.known_models.contains(model) || hapax_stdlib::prices::lookup(model).is_some() {
            model
        } else {
            "other"
        }
    }

    /// `None` when ready, else why not: every route needs a target whose
    /// provider is healthy.
    pub fn not_ready(&self) -> Option<String> {
        for r in &self.graph.routes {
            let ok =
                r.all_targets().iter().any(|t| self.upstreams.get(t.provider.index()).is_some_and(|u| u.is_healthy()));
            if !ok {
                return Some(format!("route `{}` has no healthy target", r.decl.name));
            }
        }
        None
    }
}

/// The models the policy exposes: each provider's `models` and the models
/// named by route targets, once each, in declaration order.
fn model_list(graph: &Graph) -> Bytes {
    let mut seen = std::collections::HashSet::new();
    let mut data = Vec::new();
    let mut add = |id: &str, owner: &str| {
        if seen.insert(id.to_string()) {
            data.push(serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": owner }));
        }
    };
    for p in &graph.providers {
        for m in &p.models {
            add(m, &p.decl.name);
        }
    }
    for r in &graph.routes {
        for t in r.all_targets() {
            if let Some(m) = &t.model {
                add(m, &graph.provider(t.provider).decl.name);
            }
        }
    }
    Bytes::from(serde_json::json!({ "object": "list", "data": data }).to_string())
}
