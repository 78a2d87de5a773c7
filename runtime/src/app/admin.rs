//! The admin listener: `/healthz` and `/readyz` for anyone; `/metrics`
//! (Prometheus text format) and the admin API (`/admin/api/keys`,
//! `/admin/api/audit`, `/admin/api/limits` in [`super::admin_limits`]) for
//! an admin credential (see [`Admin::admit`]).

use crate::http::body::Body;
use crate::http::error::{self, error_body, GatewayError};
use crate::http::ingress::read_body;
use crate::http::request::{Headers, Request};
use crate::http::response::Response;
use crate::net::listen::Service;
use crate::pipeline::builtin;
use crate::pipeline::{self, Ctx};
use crate::state::keys::{self, KeyError, KeyInfo, NewKey, Store};
use crate::state::snapshot::Snapshot;
use crate::telemetry::audit::search::{self, Filter};
use crate::telemetry::audit::Event;
use crate::wire::Api;
use hapax_lang::authz::{Action, AdminQuery};
use hapax_lang::expr::ClientInfo;
use http::header::{self, HeaderValue};
use http::StatusCode;
use std::sync::Arc;

/// The admin endpoints. `loopback` says whether the admin listener is on
/// a loopback address, which is what lets the admin API answer when the
/// policy declares no `auth`.
#[derive(Clone)]
pub struct Admin {
    pub ctx: Arc<Ctx>,
    pub loopback: bool,
}

impl Service for Admin {
    fn refusal(&self, status: StatusCode, why: &str) -> bytes::Bytes {
        error_body(Api::OpenAi, status, why, "invalid_request")
    }

    fn body_limit(&self) -> u64 {
        // The admin endpoints take small JSON bodies at most.
        64 * 1024
    }

    async fn call(&self, req: Request) -> Response {
        let path = req.uri.path().to_string();
        match path.as_str() {
            "/healthz" => return builtin::healthz(),
            "/readyz" => return builtin::readyz(&self.ctx.current.load()),
            _ => {}
        }
        let snap = self.ctx.current.load_full();
        let method = req.method.clone();
        let who = match self.admit(&snap, &path, &req) {
            Ok(who) => who,
            Err(e) => return error::to_response(&e, Api::OpenAi),
        };
        let answer = match (req.method.as_str(), path.as_str()) {
            ("GET", "/metrics") => {
                let mut r = Response::new(StatusCode::OK, Body::full(self.ctx.state.metrics.render()));
                r.add(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
                return r;
            }
            (_, p) if p == "/admin/api/keys" || p.starts_with("/admin/api/keys/") => {
                keys_api(&snap, req, &self.ctx, who.as_ref().map(|(_, c)| c.as_ref())).await
            }
            (_, p) if p == "/admin/api/limits" || p.starts_with("/admin/api/limits/") => {
                super::admin_limits::api(&snap, req, &self.ctx).await
            }
            ("GET", "/admin/api/audit") => audit_search(&snap, req.uri.query()).await,
            ("GET", "/admin/api/audit/stream") => audit_stream(&snap, req.uri.query()),
            _ => Err(GatewayError::not_found(format!("unknown admin endpoint `{path}`"))),
        };
        let resp = answer.unwrap_or_else(|e| error::to_response(&e, Api::OpenAi));
        // Every admin action is audited; reading the audit log is not (a
        // tail would record itself).
        if let (Some(audit), false) = (&snap.audit, path.starts_with("/admin/api/audit")) {
            let (key_id, client) = who.map_or_else(Default::default, |(k, c)| (k, c.id.clone()));
            audit.emit(
                Event::new("admin")
                    .set("decision", "allow")
                    .set("method", method.as_str())
                    .set("path", path.as_str())
                    .set("client", client)
                    .set("key_id", key_id)
                    .set("status", resp.status.as_u16()),
            );
        }
        resp
    }
}

/// `GET /admin/api/audit?client=&route=&decision=&kind=&since=&until=&limit=`:
/// the newest matching events of the audit files, newest first.
async fn audit_search(snap: &Snapshot, query: Option<&str>) -> Result<Response, GatewayError> {
    let audit = snap.audit.as_ref().ok_or_else(|| GatewayError::not_found("the policy declares no `audit`"))?;
    let filter = Filter::parse(query).map_err(GatewayError::bad_request)?;
    let files = audit.files();
    if files.is_empty() {
        return Err(GatewayError::bad_request("search needs a `sink file`; the stream endpoint works without one"));
    }
    let audit = audit.clone();
    let found = tokio::task::spawn_blocking(move || {
        // What was sent before the search is in the files.
        audit.flush(std::time::Duration::from_secs(2));
        search::search(&files, &filter)
    })
    .await
    .map_err(|e| GatewayError::internal(format!("the audit search failed: {e}")))?;
    let body = serde_json::json!({ "object": "list", "data": found });
    Ok(Response::json(StatusCode::OK, body.to_string()))
}

/// `GET /admin/api/audit/stream` with the same filters (but `limit`): the
/// events as they are written, as Server-Sent Events (`data: EVENT`), with a
/// comment every 15 s so that a closed connection is noticed.
fn audit_stream(snap: &Snapshot, query: Option<&str>) -> Result<Response, GatewayError> {
    use futures_util::StreamExt;
    use tokio::sync::broadcast::error::RecvError;
    let audit = snap.audit.as_ref().ok_or_else(|| GatewayError::not_found("the policy declares no `audit`"))?;
    let filter = Filter::parse(query).map_err(GatewayError::bad_request)?;
    let rx = audit.subscribe();
    let events = futures_util::stream::unfold((rx, filter), |(mut rx, filter)| async move {
        loop {
            let frame = match tokio::time::timeout(std::time::Duration::from_secs(15), rx.recv()).await {
                Err(_) => ": keepalive\n\n".to_string(),
                Ok(Ok(line)) => {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                    if !filter.matches(&v) {
                        continue;
                    }
                    format!("data: {line}\n\n")
                }
                Ok(Err(RecvError::Lagged(n))) => format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"),
                Ok(Err(RecvError::Closed)) => return None,
            };
            let frame: Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible> =
                Ok(hyper::body::Frame::data(bytes::Bytes::from(frame)));
            return Some((frame, (rx, filter)));
        }
    });
    let body = http_body_util::StreamBody::new(events.boxed());
    let mut r = Response::new(StatusCode::OK, Body::stream(body));
    r.add(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    r.add(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

impl Admin {
    /// Who may use the admin listener beyond `/healthz` and `/readyz`: with
    /// `auth`, a credential whose roles include `admin` (none: 401, another:
    /// 403), except `/metrics` when `auth { open }` lists it; without `auth`,
    /// anyone when the listener is on loopback, else `/metrics` only.
    fn admit(&self, snap: &Snapshot, path: &str, req: &Request) -> Result<Option<Caller>, GatewayError> {
        let Some(auth) = &snap.graph.auth else {
            return if self.loopback || path == "/metrics" {
                Ok(None)
            } else {
                Err(GatewayError::forbidden(
                    "the admin API needs an `auth` block when the admin listener is not on a loopback address",
                ))
            };
        };
        if path == "/metrics" && auth.open.iter().any(|o| o == "/metrics") {
            return Ok(None);
        }
        let (key_id, client) = pipeline::identify(snap, path, &req.headers)?;
        let allowed = match &snap.authz {
            // Cedar decides; its built-in policy lets the `admin` role in.
            Some(cedar) => {
                let (action, resource) = admin_action(&req.method, path);
                let (hour, day) = hapax_lang::expr::utc_clock();
                let d = cedar.decide_admin(&AdminQuery {
                    client: Some(&client),
                    action,
                    resource,
                    method: req.method.as_str(),
                    path,
                    hour: u32::from(hour),
                    weekday: hapax_lang::expr::weekday(day),
                });
                d.allow
            }
            None => client.roles.iter().any(|r| r == "admin"),
        };
        if allowed {
            return Ok(Some((key_id, client)));
        }
        tracing::info!(target: "hapax::admin", client = %client.id, key_id, path, "admin request refused: not an admin");
        if let Some(a) = &snap.audit {
            a.emit(
                Event::new("admin")
                    .set("decision", "deny")
                    .set("method", req.method.as_str())
                    .set("path", path)
                    .set("client", client.id.as_str())
                    .set("key_id", key_id.as_str())
                    .set("status", 403),
            );
        }
        Err(GatewayError::forbidden("this credential may not use this admin endpoint"))
    }
}

/// The Cedar action and resource of an admin request: reads are
/// `admin_read`, writes `admin_write`, except writes to the key store,
/// `keys_manage`; the resource is the endpoint's first segment after
/// `/admin/api/` (`keys`, `audit`), or `metrics`.
fn admin_action<'p>(method: &http::Method, path: &'p str) -> (Action, &'p str) {
    let resource = match path.strip_prefix("/admin/api/") {
        Some(rest) => rest.split('/').next().unwrap_or(""),
        None => path.trim_start_matches('/'),
    };
    let action = if method == http::Method::GET || method == http::Method::HEAD {
        Action::AdminRead
    } else if resource == "keys" {
        Action::KeysManage
    } else {
        Action::AdminWrite
    };
    (action, resource)
}

/// An admin request's key id and client.
type Caller = (String, Arc<ClientInfo>);

/// One operation on the key store, run on a blocking thread.
type StoreOp = Box<dyn FnOnce(&Store) -> Result<(StatusCode, serde_json::Value), GatewayError> + Send>;

/// `GET /admin/api/keys`, `POST /admin/api/keys` (a JSON body: `client`, and
/// optionally `team`, `tier`, `roles`, `expires` as a duration such as
/// `"90d"`), `POST /admin/api/keys/ID/revoke` and `.../rotate`. A new key is
/// in the answer once and never again.
/// Whether `caller` may make, rotate or revoke a key with `roles`: an
/// admin may; anyone else Cedar lets manage keys only for roles it holds
/// itself, so that `keys_manage` cannot mint an admin.
fn may_grant(caller: Option<&ClientInfo>, roles: &[String]) -> Result<(), GatewayError> {
    let Some(c) = caller else { return Ok(()) };
    if c.roles.iter().any(|r| r == "admin") || roles.iter().all(|r| c.roles.contains(r)) {
        return Ok(());
    }
    Err(GatewayError::forbidden("a key may only carry roles its maker holds"))
}

/// The key a `KEY_OR_ID` names, for [`may_grant`].
fn roles_of(s: &Store, key_or_id: &str) -> Result<Vec<String>, GatewayError> {
    let id = keys::parse(key_or_id).map_or(key_or_id, |(id, _)| id);
    let found = s.list().map_err(store_error)?.into_iter().find(|k| k.id == id);
    found.map(|k| k.roles).ok_or_else(|| GatewayError::not_found(format!("no key `{id}`")))
}

async fn keys_api(
    snap: &Snapshot,
    req: Request,
    ctx: &Ctx,
    caller: Option<&ClientInfo>,
) -> Result<Response, GatewayError> {
    let caller = caller.cloned();
    let dir = snap.graph.gateway.data_dir.clone();
    let (method, path) = (req.method.clone(), req.uri.path().to_string());
    let (raw, _held) = read_body(req.body, &req.headers, 64 * 1024, ctx.body_timeout).await?;
    let rest = path.strip_prefix("/admin/api/keys").unwrap_or("");
    let op: StoreOp = match (method.as_str(), rest) {
        ("GET", "" | "/") => Box::new(|s: &Store| {
            let now = keys::now();
            let data: Vec<_> = s.list().map_err(store_error)?.iter().map(|k| described(k, now)).collect();
            Ok((StatusCode::OK, serde_json::json!({ "object": "list", "data": data })))
        }),
        ("POST", "" | "/") => {
            let new = new_key(&raw)?;
            may_grant(caller.as_ref(), &new.roles)?;
            Box::new(move |s: &Store| {
                let (key, info) = s.create(&new).map_err(store_error)?;
                tracing::info!(target: "hapax::admin", key_id = %info.id, client = %info.client, "key created");
                Ok((StatusCode::CREATED, with_key(&info, &key)))
            })
        }
        ("POST", r) if r.ends_with("/revoke") => {
            let id = r.trim_start_matches('/').trim_end_matches("/revoke").to_string();
            Box::new(move |s: &Store| {
                may_grant(caller.as_ref(), &roles_of(s, &id)?)?;
                let info = s.revoke(&id).map_err(store_error)?;
                tracing::info!(target: "hapax::admin", key_id = %info.id, "key revoked");
                Ok((StatusCode::OK, described(&info, keys::now())))
            })
        }
        ("POST", r) if r.ends_with("/rotate") => {
            let id = r.trim_start_matches('/').trim_end_matches("/rotate").to_string();
            Box::new(move |s: &Store| {
                may_grant(caller.as_ref(), &roles_of(s, &id)?)?;
                let (key, info) = s.rotate(&id).map_err(store_error)?;
                tracing::info!(target: "hapax::admin", old = %id, key_id = %info.id, "key rotated");
                Ok((StatusCode::CREATED, with_key(&info, &key)))
            })
        }
        _ => return Err(GatewayError::not_found(format!("unknown admin endpoint `{method} {path}`"))),
    };
    let done = tokio::task::spawn_blocking(move || {
        let store = Store::open(&dir).map_err(store_error)?;
        op(&store)
    })
    .await
    .map_err(|e| GatewayError::internal(format!("the key store task failed: {e}")))??;
    Ok(Response::json(done.0, done.1.to_string()))
}

fn store_error(e: KeyError) -> GatewayError {
    match e {
        KeyError::NotFound(_) => GatewayError::not_found(e.to_string()),
        KeyError::Revoked(_) => GatewayError::bad_request(e.to_string()),
        _ => GatewayError::internal(e.to_string()),
    }
}

fn described(k: &KeyInfo, now: u64) -> serde_json::Value {
    let mut v = serde_json::to_value(k).unwrap_or_default();
    v["state"] = k.state(now).into();
    v
}

fn with_key(info: &KeyInfo, key: &str) -> serde_json::Value {
    let mut v = described(info, keys::now());
    v["key"] = key.into();
    v
}

fn new_key(raw: &[u8]) -> Result<NewKey, GatewayError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Asked {
        client: String,
        team: Option<String>,
        tier: Option<String>,
        #[serde(default)]
        roles: Vec<String>,
        expires: Option<String>,
    }
    let a: Asked =
        serde_json::from_slice(raw).map_err(|e| GatewayError::bad_request(format!("invalid key request: {e}")))?;
    let expires_in = match &a.expires {
        Some(d) => Some(keys::parse_duration(d).ok_or_else(|| {
            GatewayError::bad_request(format!("`{d}` is not a duration (such as `90d`, `12h`, `30m`)"))
        })?),
        None => None,
    };
    let new = NewKey { client: a.client, team: a.team, tier: a.tier, roles: a.roles, expires_in };
    keys::validate(&new).map_err(GatewayError::bad_request)?;
    Ok(new)
}

/// The API endpoints.
#[derive(Clone)]
pub struct Main(pub Arc<Ctx>);

impl Service for Main {
    fn head_answer(&self, method: &http::Method, uri: &http::Uri, headers: &Headers) -> Option<Response> {
        pipeline::head_answer(&self.0, method, uri, headers)
    }

    fn refusal(&self, status: StatusCode, why: &str) -> bytes::Bytes {
        // The head could not be read, so neither could the API it speaks.
        error_body(Api::OpenAi, status, why, "invalid_request")
    }

    fn body_limit(&self) -> u64 {
        self.0.current.load().graph.gateway.max_body
    }

    fn call(&self, req: Request) -> impl std::future::Future<Output = Response> + Send {
        pipeline::handle(self.0.clone(), req)
    }
}
