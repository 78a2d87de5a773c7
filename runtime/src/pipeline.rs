//! The request path, in order. Each stage is a module of its own; this file
//! is the one place that says which runs when:
//!
//! 1. `account::request_id`: take the client's `x-request-id` or make one;
//!    load the current snapshot, which the request keeps to the end.
//! 2. `builtin`: `/healthz`, `/readyz`, `GET /v1/models` need no route.
//! 3. `ingress`: classify the endpoint, read the body within `max_body`,
//!    parse it once into the view the policy sees.
//! 4. route: the graph's `match_route` (first route whose `match` and `when`
//!    hold), else 404.
//! 5. `execute`: pick the target (split arm), try it with retries, then the
//!    fallbacks; each attempt is `outbound` (or `mock`), guarded by the
//!    provider's breaker and health, translated by `translate`.
//! 6. `respond`: the answer in the client's format, whole or as a `stream`.
//! 7. `account`: the access log line and metrics, when the answer is done.
//!
//! Any stage may fail with a [`GatewayError`]; `error::to_response` is the
//! one place that turns it into the client's answer.

use crate::account::{self, Record};
use crate::error::{self, ClientApi, GatewayError};
use crate::ingress::{self, Endpoint, Ingress};
use crate::request::Request;
use crate::response::Response;
use crate::snapshot::{Current, Snapshot};
use crate::state::State;
use crate::{builtin, execute, respond};
use hapax_lang::expr::RequestView;
use http::header::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;

/// What the request path shares: the current snapshot and the state that
/// outlives reloads.
pub struct Ctx {
    pub current: Current,
    pub state: State,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static ROUTE: HeaderName = HeaderName::from_static("x-hapax-route");
static TARGET: HeaderName = HeaderName::from_static("x-hapax-target");

/// Answers one request on the main listener.
pub async fn handle(ctx: Arc<Ctx>, req: Request) -> Response {
    crate::busy_poll::kick();
    // Stage 1.
    let request_id = account::request_id(&req.headers);
    let snap = ctx.current.load_full();
    // Stage 2.
    if let Some(mut resp) = builtin::answer(&req.method, req.uri.path(), &snap) {
        resp.add(REQUEST_ID.clone(), request_id);
        return resp;
    }
    let mut rec = Record::start(ctx.state.metrics.clone(), request_id.clone(), req.method.clone(), req.uri.clone());
    let mut tags = Tags::default();
    let mut resp = match stages(&ctx, &snap, req, &mut rec, &mut tags).await {
        Ok(resp) => resp,
        Err((e, api)) => {
            rec.fail(&e);
            if tags.target.is_none() {
                tags.target = target_header(rec.provider.as_deref(), rec.model.as_deref());
            }
            error::to_response(&e, api)
        }
    };
    resp.add(REQUEST_ID.clone(), request_id);
    if let Some(r) = tags.route {
        resp.add(ROUTE.clone(), r);
    }
    if let Some(t) = tags.target {
        resp.add(TARGET.clone(), t);
    }
    // Stage 7, once the answer is sent (a stream finishes its own record
    // when it ends).
    if let Some(f) = rec.after_sending() {
        resp.body.finish_after(f);
    }
    resp
}

#[derive(Default)]
struct Tags {
    route: Option<HeaderValue>,
    target: Option<HeaderValue>,
}

/// `provider/model`. The values last made on this thread are kept: a worker
/// sees the same few pairs over and over, and a clone costs less than
/// making and checking the text again.
fn target_header(provider: Option<&str>, model: Option<&str>) -> Option<HeaderValue> {
    const KEPT: usize = 8;
    thread_local! {
        /// The values, and how many were ever made (which slot goes next).
        static MADE: std::cell::RefCell<(Vec<HeaderValue>, usize)> = const { std::cell::RefCell::new((Vec::new(), 0)) };
    }
    let (p, m) = (provider?.as_bytes(), model.unwrap_or("").as_bytes());
    let is = |v: &&HeaderValue| {
        let b = v.as_bytes();
        b.len() == p.len() + 1 + m.len() && b.starts_with(p) && b[p.len()] == b'/' && b.ends_with(m)
    };
    MADE.with_borrow_mut(|(made, count)| {
        if let Some(v) = made.iter().find(is) {
            return Some(v.clone());
        }
        let mut text = Vec::with_capacity(p.len() + 1 + m.len());
        text.extend_from_slice(p);
        text.push(b'/');
        text.extend_from_slice(m);
        let v = HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).ok()?;
        if made.len() < KEPT {
            made.push(v.clone());
        } else {
            made[*count % KEPT] = v.clone();
        }
        *count += 1;
        Some(v)
    })
}

async fn stages(
    ctx: &Ctx,
    snap: &Snapshot,
    req: Request,
    rec: &mut Record,
    tags: &mut Tags,
) -> Result<Response, (GatewayError, ClientApi)> {
    // Stage 3.
    let path = req.uri.path();
    let Some(endpoint) = Endpoint::classify(path) else {
        let api = if path.starts_with("/v1/messages") { ClientApi::Anthropic } else { ClientApi::OpenAi };
        return Err((GatewayError::not_found(format!("unknown endpoint `{} {path}`", req.method)), api));
    };
    let api = endpoint.client_api();
    if req.method != endpoint.method() {
        let e =
            GatewayError::method_not_allowed(format!("`{path}` takes `{}`, not `{}`", endpoint.method(), req.method));
        return Err((e, api));
    }
    let Request { method, uri, headers, body } = req;
    let raw = ingress::read_body(body, &headers, snap.graph.gateway.max_body, ctx.body_timeout)
        .await
        .map_err(|e| (e, api))?;
    let ingress = Ingress::parse(endpoint, method, uri, headers, raw).map_err(|e| (e, api))?;
    rec.stream = ingress.stream;
    // Stage 4.
    let Some(route_id) = snap.graph.match_route(&ingress) else {
        let e = match ingress.model() {
            Some(m) => GatewayError::model_not_found(format!(
                "no route accepts model `{m}` on `{} {}`",
                ingress.method,
                ingress.uri.path()
            )),
            None => GatewayError::not_found(format!("no route matches `{} {}`", ingress.method, ingress.uri.path())),
        };
        return Err((e, api));
    };
    let route = snap.graph.route(route_id);
    let name = snap.route_names[route_id.index()].clone();
    tags.route = Some(name.clone());
    rec.route = Some(name);
    // Stage 5.
    let success = execute::run(snap, route, &ingress, rec, &ctx.state.metrics).await.map_err(|e| (e, api))?;
    tags.target = target_header(Some(&success.upstream.name), Some(&success.model));
    // Stage 6.
    respond::answer(success, &ingress, rec).map_err(|e| (e, api))
}

#[cfg(test)]
mod tests {
    use super::target_header;

    #[test]
    fn target_values_name_provider_and_model_even_when_kept() {
        let t = |p: &str, m: &str| target_header(Some(p), Some(m)).map(|v| v.to_str().unwrap_or("").to_string());
        // More pairs than are kept, twice over, and pairs that read alike.
        for _ in 0..2 {
            for n in 0..12 {
                assert_eq!(t("p", &format!("m{n}")).as_deref(), Some(format!("p/m{n}").as_str()));
            }
            assert_eq!(t("ab", "c").as_deref(), Some("ab/c"));
            assert_eq!(t("a", "/c").as_deref(), Some("a//c"));
            assert_eq!(t("a", "b/c").as_deref(), Some("a/b/c"));
            assert_eq!(t("a/b", "c").as_deref(), Some("a/b/c"));
        }
        assert_eq!(target_header(None, Some("m")), None);
        assert_eq!(target_header(Some("p"), None).as_ref().map(|v| v.as_bytes()), Some(&b"p/"[..]));
        assert_eq!(target_header(Some("p"), Some("bad\nmodel")), None);
    }
}
