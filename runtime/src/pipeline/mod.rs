//! The request path: the phases of a request, in order, written once in
//! [`phases`]. Each phase is a module of its own (or a few lines here) and
//! works on one per-request context, [`Exchange`], which carries the
//! snapshot the request runs on, the API the client speaks, the route, the
//! headers that name what served it and the record (timings, tokens,
//! status). The phases, in the spirit of Pingora's `ProxyHttp`:
//!
//! | phase | where | what |
//! | --- | --- | --- |
//! | ingress | [`ingress`] | classify the endpoint, read the body within `max_body`, parse it once into the view the policy sees |
//! | authenticate | [`authn`] | the caller's identity from an API key, read from the head before the body |
//! | route | here | the graph's `match_route`: the first route whose `match` and `when` hold, else 404 |
//! | authorize | [`authz`] | Cedar: may this caller use this route, provider and model |
//! | admit | [`admit`] | the route's `use` limits (budgets and the queue to come) |
//! | cache | (refused until built) | answer from the cache, or join an identical call in flight |
//! | transform | (refused until built) | rhai scripts on the request |
//! | upstream | [`execute`] | pick the target, try it with retries, breakers and fallbacks, translating the API |
//! | respond | [`respond`] | the answer in the client's format, whole or as a [`stream`] |
//! | account | [`crate::telemetry::record`] | the access log line and metrics, once the answer was sent |
//!
//! Before them, the request id is taken or made, the snapshot loaded, and
//! [`builtin`] answers `/healthz`, `/readyz` and `GET /v1/models`. A phase
//! that is refused costs nothing: `serve` does not start on a policy that
//! declares it (see `app::enforcement`). A feature lands as a
//! module in this folder (or its own) plus one line in [`phases`], in the
//! same commit that moves its declarations to `Enforced`.
//!
//! Any phase may fail with a [`GatewayError`]; `error::to_response` is the
//! one place that turns it into the client's answer.

mod admit;
mod authn;
mod authz;

pub use authn::identify;
pub(crate) mod builtin;
mod execute;
mod ingress;
mod respond;
mod stream;

use crate::http::body::BodyMemory;
use crate::http::error::{self, GatewayError};
use crate::http::ingress::Endpoint;
use crate::http::ingress::Ingress;
use crate::http::request::{Headers, Request};
use crate::http::response::Response;
use crate::state::snapshot::{Current, Snapshot};
use crate::state::State;
use crate::telemetry::record::{self, Record};
use crate::wire::Api;
use hapax_lang::expr::{ClientInfo, RequestView};
use hapax_lang::graph::RouteId;
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

/// One request on its way through the phases.
pub struct Exchange {
    /// The snapshot the request runs on, from start to end.
    pub snap: Arc<Snapshot>,
    /// The API the client speaks, which shapes every answer.
    pub api: Api,
    /// The access record: timings, route, provider, tokens, status.
    pub rec: Record,
    /// Who sent it, once authenticated.
    pub client: Option<Arc<ClientInfo>>,
    /// The request body's share of `max_body_memory`, held until the
    /// request is answered.
    body_memory: BodyMemory,
    /// `x-hapax-route`, once a route matched.
    route: Option<HeaderValue>,
    /// `x-hapax-target`, once a target answered or failed.
    target: Option<HeaderValue>,
    /// The rate-limit headers of the route's limits.
    limit_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Answers one request on the main listener.
pub async fn handle(ctx: Arc<Ctx>, req: Request) -> Response {
    crate::net::busy_poll::kick();
    let request_id = record::request_id(&req.headers);
    let snap = ctx.current.load_full();
    if let Some(mut resp) = builtin::answer(&req.method, req.uri.path(), &req.headers, &snap) {
        resp.add(REQUEST_ID.clone(), request_id);
        return resp;
    }
    let rec = Record::start(ctx.state.metrics.clone(), request_id.clone(), req.method.clone(), req.uri.clone());
    let mut ex = Exchange {
        snap,
        api: Api::OpenAi,
        rec,
        client: None,
        body_memory: BodyMemory::default(),
        route: None,
        target: None,
        limit_headers: Vec::new(),
    };
    let mut resp = match phases(&ctx, &mut ex, req).await {
        Ok(resp) => resp,
        Err(e) => {
            ex.rec.fail(&e);
            if ex.target.is_none() {
                ex.target = target_header(ex.rec.provider.as_deref(), ex.rec.model.as_deref());
            }
            error::to_response(&e, ex.api)
        }
    };
    resp.add(REQUEST_ID.clone(), request_id);
    if let Some(r) = ex.route {
        resp.add(ROUTE.clone(), r);
    }
    if let Some(t) = ex.target {
        resp.add(TARGET.clone(), t);
    }
    for (name, value) in ex.limit_headers {
        resp.add(name, value);
    }
    // Account, once the answer is sent (a stream finishes its own record
    // when it ends).
    if let Some(f) = ex.rec.after_sending() {
        resp.body.finish_after(f);
    }
    resp
}

/// The ingress head and authenticate phases run early, from the head
/// alone, by a server that reads bodies whole before it calls the pipeline
/// (our HTTP/1.1 one): a request they refuse is answered before its body is
/// read. `None` lets the request go on to all the phases.
pub fn head_answer(ctx: &Ctx, method: &http::Method, uri: &http::Uri, headers: &Headers) -> Option<Response> {
    let snap = ctx.current.load();
    snap.graph.auth.as_ref()?;
    let api = if uri.path().starts_with("/v1/messages") { Api::Anthropic } else { Api::OpenAi };
    let refused = Endpoint::classify(uri.path())
        .filter(|e| e.method() == method)
        .and_then(|_| authn::check(&snap, uri.path(), headers).err())?;
    Some(error::to_response(&refused, api))
}

/// The phases, in order: the one place that says which runs when.
async fn phases(ctx: &Ctx, ex: &mut Exchange, req: Request) -> Result<Response, GatewayError> {
    let endpoint = ingress::head(ex, &req)?;
    authn::authenticate(ex, req.uri.path(), &req.headers)?;
    ex.rec.audit = ex.snap.audit.clone();
    let ingress = ingress::body(ctx, ex, req, endpoint).await?;
    if let Some(a) = &ex.rec.audit {
        let (view, body) = audit_view(&ingress, a.log_prompts());
        ex.rec.audit_request = Some(view);
        ex.rec.audit_body = body;
    }
    let route = route(ex, &ingress)?;
    let snap = ex.snap.clone();
    let route = snap.graph.route(route);
    let primary = route.pick(&ingress, rand::random::<u64>());
    authz::authorize(ex, route, primary, &ingress)?;
    admit::admit(ex, &ctx.state, route, primary, &ingress)?;
    let success = execute::run(&snap, route, primary, &ingress, &mut ex.rec, &ctx.state.metrics).await?;
    ex.target = target_header(Some(&success.upstream.name), Some(&success.model));
    let max_event = usize::try_from(ex.snap.graph.gateway.max_event).unwrap_or(usize::MAX);
    respond::answer(success, &ingress, max_event, &mut ex.rec)
}

/// Headers an audit event never shows: credentials and cookies.
const SECRET_HEADERS: &[&str] =
    &["authorization", "x-api-key", "proxy-authorization", "cookie", "set-cookie", "api-key"];

/// The request as its audit event shows it: its headers, by lowercase
/// name (not the credentials; at most 32, each cut at 256 bytes) and, under
/// `log_prompts on`, its body when it is at most `MAX_BODY` bytes (else its
/// size). The writer parses the body and redacts.
fn audit_view(ingress: &Ingress, with_body: bool) -> (serde_json::Value, Option<bytes::Bytes>) {
    let mut headers = serde_json::Map::new();
    for (name, value) in ingress.headers.iter() {
        let name = name.to_ascii_lowercase();
        if headers.len() >= 32 || SECRET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let v = String::from_utf8_lossy(&value[..value.len().min(256)]).into_owned();
        headers.insert(name, serde_json::Value::from(v));
    }
    let mut view = serde_json::json!({ "headers": headers });
    let mut body = None;
    if with_body {
        if ingress.raw.len() <= crate::telemetry::audit::MAX_BODY {
            body = Some(ingress.raw.clone());
        } else {
            view["body_omitted_bytes"] = ingress.raw.len().into();
        }
    }
    (view, body)
}

/// The route phase: the first route whose `match` and `when` hold.
fn route(ex: &mut Exchange, ingress: &Ingress) -> Result<RouteId, GatewayError> {
    let Some(id) = ex.snap.graph.match_route(ingress) else {
        let (method, path) = (&ingress.method, ingress.uri.path());
        return Err(match ingress.model() {
            Some(m) => GatewayError::model_not_found(format!("no route accepts model `{m}` on `{method} {path}`")),
            None => GatewayError::not_found(format!("no route matches `{method} {path}`")),
        });
    };
    let name = ex.snap.route_names[id.index()].clone();
    ex.route = Some(name.clone());
    ex.rec.route = Some(name);
    Ok(id)
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
