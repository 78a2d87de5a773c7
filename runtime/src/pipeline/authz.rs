//! The authorize phase: after routing, Cedar decides whether the caller may
//! send this request to the target the route picked (the route, the
//! provider and the model: see `hapax_lang::authz`). A denial is 403 in
//! the client's format and names no policy; the decision and the policies
//! that made it go to the audit log. A fallback target is tried only if
//! the caller may use it too, so a fallback never reaches a model the
//! caller is refused.

use super::Exchange;
use crate::http::error::GatewayError;
use crate::http::ingress::Ingress;
use hapax_lang::authz::{Cedar, Decision, Query};
use hapax_lang::expr::RequestView;
use hapax_lang::graph::{Route, Target};

/// Decides the request for its primary target; nothing to do without
/// `authz`.
pub fn authorize(ex: &mut Exchange, route: &Route, target: &Target, ingress: &Ingress) -> Result<(), GatewayError> {
    let Some(cedar) = ex.snap.authz.as_deref() else { return Ok(()) };
    let provider = &ex.snap.graph.provider(target.provider).decl.name;
    let decision = decide(cedar, &route.decl.name, provider, target, ingress);
    // The record names what was asked for, even when it is refused.
    ex.rec.provider = ex.snap.upstreams.get(target.provider.index()).map(|u| u.name.clone());
    ex.rec.model = Some(target.model.as_deref().or_else(|| ingress.model()).unwrap_or("").to_string());
    let allow = decision.allow;
    if !allow {
        tracing::info!(
            target: "hapax::authz",
            client = ex.rec.client.as_deref().unwrap_or("anonymous"),
            route = %route.decl.name,
            provider = %provider,
            policies = ?decision.policies,
            "request denied"
        );
    }
    ex.rec.decision = Some(decision);
    if allow {
        Ok(())
    } else {
        Err(GatewayError::forbidden("you are not allowed to make this request"))
    }
}

/// Whether the caller may use `target` (a fallback) on `route`.
pub fn allows(cedar: &Cedar, route: &Route, provider: &str, target: &Target, ingress: &Ingress) -> bool {
    decide(cedar, &route.decl.name, provider, target, ingress).allow
}

fn decide(cedar: &Cedar, route: &str, provider: &str, target: &Target, ingress: &Ingress) -> Decision {
    let (hour, day) = ingress.clock();
    let headers = cedar.headers().iter().filter_map(|h| Some((h.as_str(), ingress.header(h)?))).collect();
    cedar.decide(&Query {
        client: ingress.client(),
        route,
        provider,
        model: target.model.as_deref().or_else(|| ingress.model()).unwrap_or(""),
        stream: ingress.stream(),
        tokens: ingress.tokens(),
        hour: u32::from(hour),
        weekday: hapax_lang::expr::weekday(day),
        headers,
    })
}
