//! Cedar authorization: the schema Hapax generates from a policy (namespace
//! `Hapax`), the operator's Cedar file checked against it, and one decision.
//!
//! The model, documented in `docs/authz.md`:
//! - principal `Client::"id"`, member of `Team::"team"` and of each
//!   `Role::"role"` it holds; roles inherit through `authz { role A
//!   inherits [B] }`, which makes `Role::"A"` a member of `Role::"B"`;
//! - resource `Model::"name"`, a member of the `Route` that matched and of
//!   the `Provider` asked, so `resource in Route::"chat"`, `resource in
//!   Provider::"openai"` and `resource == Model::"o1"` all read naturally;
//! - actions `call` (every request), `stream` (in `call`: a streamed
//!   request is also asked as `stream`, and denied if a policy forbids it),
//!   and on the admin listener `admin_read`, `admin_write`, `keys_manage`
//!   on resource `Admin::"keys"` (the first path segment after
//!   `/admin/api/`, or `metrics`);
//! - context: `tokens` (estimated prompt tokens), `stream`, `time.hour`,
//!   `time.weekday` and `headers`, the request headers `authz { headers
//!   [...] }` names.
//!
//! Hapax adds one policy of its own, [`ADMIN_POLICY`]: the role `admin`
//! may do every admin action (a `forbid` still wins over it).

use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::expr::ClientInfo;
use crate::graph::Graph;
use crate::span::{FileId, Span};
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// The policy Hapax adds: admins may administer.
pub const ADMIN_POLICY: &str = r#"@id("hapax.admin_role")
permit (
  principal in Hapax::Role::"admin",
  action in [Hapax::Action::"admin_read", Hapax::Action::"admin_write", Hapax::Action::"keys_manage"],
  resource
);"#;

/// What is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Call,
    Stream,
    AdminRead,
    AdminWrite,
    KeysManage,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Stream => "stream",
            Action::AdminRead => "admin_read",
            Action::AdminWrite => "admin_write",
            Action::KeysManage => "keys_manage",
        }
    }
}

/// One request, as authorization sees it.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    /// `None` for a request nobody authenticated (no `auth`, or an open
    /// path): the principal is `Client::"anonymous"`, in no team or role.
    pub client: Option<&'a ClientInfo>,
    pub route: &'a str,
    pub provider: &'a str,
    pub model: &'a str,
    pub stream: bool,
    pub tokens: u64,
    /// UTC hour (0-23) and weekday (`mon` … `sun`).
    pub hour: u32,
    pub weekday: &'a str,
    /// Request headers by lowercase name; only those `authz { headers }`
    /// names are given to Cedar.
    pub headers: Vec<(&'a str, &'a str)>,
}

/// One request on the admin listener.
#[derive(Debug, Clone)]
pub struct AdminQuery<'a> {
    pub client: Option<&'a ClientInfo>,
    pub action: Action,
    /// `keys`, `metrics`, …: `Admin::"keys"`.
    pub resource: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub hour: u32,
    pub weekday: &'a str,
}

/// The outcome: allowed or not, and the policies that decided it (their
/// `@id`, else Cedar's `policyN`). None when the default decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub policies: Vec<String>,
    /// Policies whose evaluation failed (they count as not applying).
    pub errors: usize,
}

/// The entity types, parsed once.
#[derive(Debug, Clone)]
struct Types {
    client: EntityTypeName,
    team: EntityTypeName,
    role: EntityTypeName,
    route: EntityTypeName,
    provider: EntityTypeName,
    model: EntityTypeName,
    admin: EntityTypeName,
    action: EntityTypeName,
}

impl Types {
    fn new() -> Option<Types> {
        let t = |n: &str| EntityTypeName::from_str(&format!("Hapax::{n}")).ok();
        Some(Types {
            client: t("Client")?,
            team: t("Team")?,
            role: t("Role")?,
            route: t("Route")?,
            provider: t("Provider")?,
            model: t("Model")?,
            admin: t("Admin")?,
            action: t("Action")?,
        })
    }
    fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
    }
}

/// A compiled authorization: policies validated against the schema, plus
/// the entities every request shares (roles and their hierarchy, actions).
#[derive(Clone)]
pub struct Cedar {
    policies: PolicySet,
    schema_text: String,
    types: Types,
    /// Role entities (with their inherited roles) and action entities.
    shared: Vec<Entity>,
    default_allow: bool,
    headers: Vec<String>,
    authorizer: std::sync::Arc<Authorizer>,
    /// Tells this compiled set's cached entity stores from another's.
    generation: u64,
    /// Whether any policy may read `context` (the word appears in the
    /// file): when none does, a decision depends only on the entities and
    /// is cached with them.
    reads_context: bool,
}

/// Where the next compiled set's generation comes from.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Entity stores per worker thread: building one (the closure of the
/// hierarchy) is most of a decision's cost, and a worker sees the same few
/// clients and models over and over. Bounded; emptied when full.
const CACHED_STORES: usize = 1024;

/// What a cached store was built for, compared in full on a hit.
struct StoreKey {
    generation: u64,
    client: Option<ClientInfo>,
    route: String,
    provider: String,
    model: String,
}

impl StoreKey {
    fn is(&self, generation: u64, q: &Query) -> bool {
        self.generation == generation
            && self.client.as_ref() == q.client
            && self.route == q.route
            && self.provider == q.provider
            && self.model == q.model
    }
}

/// A store and, when no policy reads `context`, the decisions made with
/// it (for a plain and a streamed request).
type Stores = HashMap<u64, (StoreKey, std::rc::Rc<Entities>, [Option<Decision>; 2])>;

thread_local! {
    static STORES: std::cell::RefCell<(std::collections::hash_map::RandomState, Stores)> =
        std::cell::RefCell::new((std::collections::hash_map::RandomState::new(), HashMap::new()));
}

impl std::fmt::Debug for Cedar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cedar").field("policies", &self.policies.num_of_policies()).finish_non_exhaustive()
    }
}

/// The Cedar schema (human syntax) for a policy.
pub fn schema_text(g: &Graph) -> String {
    let headers = g.authz.as_ref().map_or(&[][..], |a| &a.headers[..]);
    let header_fields: String = headers.iter().map(|h| format!("\n      {}?: String,", quote(h))).collect();
    let roles: Vec<String> = g.authz.as_ref().map_or(Vec::new(), |a| {
        a.roles.iter().map(|(r, up)| format!("  //   {r} inherits {}\n", up.join(", "))).collect()
    });
    format!(
        r#"// Generated by hapax from the policy: `hapax explain authz POLICY` prints it.
// Role hierarchy (`authz {{ role A inherits [B] }}`: Role::"A" in Role::"B"):
{roles}namespace Hapax {{
  // Who: an authenticated client, in its team and roles.
  entity Team;
  entity Role in [Role];
  entity Client in [Team, Role] = {{
    tier?: String,
    team?: String,
    roles: Set<String>,
  }};
  // What: the model asked, in the route that matched and the provider asked.
  entity Route;
  entity Provider;
  entity Model in [Route, Provider];
  // The admin API: Admin::"keys", Admin::"metrics", ...
  entity Admin;

  type Time = {{
    hour: Long,      // UTC, 0-23
    weekday: String, // "mon" ... "sun"
  }};
  type RequestContext = {{
    tokens: Long,    // estimated prompt tokens
    stream: Bool,
    time: Time,
    headers: {{{header_fields}
    }},
  }};
  type AdminContext = {{
    method: String,
    path: String,
    time: Time,
  }};

  action call appliesTo {{
    principal: Client,
    resource: Model,
    context: RequestContext,
  }};
  action stream in [call] appliesTo {{
    principal: Client,
    resource: Model,
    context: RequestContext,
  }};
  action admin_read, admin_write, keys_manage appliesTo {{
    principal: Client,
    resource: Admin,
    context: AdminContext,
  }};
}}
"#,
        roles = if roles.is_empty() { "//   (none)\n".to_string() } else { roles.concat() }
    )
}

/// A Cedar string literal.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Compiles the operator's Cedar file for a policy. Errors point into
/// `file` (the Cedar text). Warnings come with the compiled policies.
pub fn compile(g: &Graph, text: &str, file: FileId) -> Result<(Cedar, Vec<Diagnostic>), Vec<Diagnostic>> {
    let Some(authz) = &g.authz else { return Err(Vec::new()) };
    let internal = |msg: String| vec![Diagnostic::new(Code::CedarInvalid, file, Span::new(0, 0), msg)];
    let schema_text = schema_text(g);
    let schema = Schema::from_cedarschema_str(&schema_text)
        .map_err(|e| internal(format!("the generated Cedar schema does not compile: {e}")))?
        .0;
    let types = Types::new().ok_or_else(|| internal("Cedar entity type names do not parse".into()))?;
    let parsed = PolicySet::from_str(text).map_err(|errs| {
        errs.iter()
            .map(|e| {
                let span = first_label(e, text.len());
                Diagnostic::new(Code::CedarSyntax, file, span, first_line(&e.to_string())).help(
                    help_of(e).unwrap_or_else(|| "see https://docs.cedarpolicy.com/policies/syntax-policy.html".into()),
                )
            })
            .collect::<Vec<_>>()
    })?;
    let mut diags = Vec::new();
    let mut policies = PolicySet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for t in parsed.templates() {
        let span = span_of(text, &t.to_string());
        diags.push(
            Diagnostic::new(Code::CedarInvalid, file, span, "Cedar templates are not supported")
                .help("write the policy with concrete entities instead of `?principal` / `?resource`"),
        );
    }
    for p in parsed.policies() {
        let span = span_of(text, &p.to_string());
        let id = p.annotation("id").map_or_else(|| p.id().to_string(), str::to_string);
        if id.starts_with("hapax.") {
            diags.push(
                Diagnostic::new(Code::CedarInvalid, file, span, format!("policy id `{id}` is reserved"))
                    .help("ids starting with `hapax.` belong to the policies Hapax adds"),
            );
            continue;
        }
        if !seen.insert(id.clone()) {
            diags.push(
                Diagnostic::new(Code::CedarInvalid, file, span, format!("two policies share the id `{id}`"))
                    .help("give each `@id(\"...\")` a different name"),
            );
            continue;
        }
        if let Err(e) = policies.add(p.new_id(PolicyId::new(&id))) {
            diags.push(Diagnostic::new(Code::CedarInvalid, file, span, first_line(&e.to_string())));
        }
    }
    match PolicySet::from_str(ADMIN_POLICY).map(|s| s.policies().cloned().collect::<Vec<_>>()) {
        Ok(admin) => {
            for p in admin {
                let id = p.annotation("id").unwrap_or("hapax.admin_role").to_string();
                if let Err(e) = policies.add(p.new_id(PolicyId::new(id))) {
                    diags.push(Diagnostic::new(Code::CedarInvalid, file, Span::new(0, 0), e.to_string()));
                }
            }
        }
        Err(e) => diags.extend(internal(format!("the built-in admin policy does not parse: {e}"))),
    }
    let validator = Validator::new(schema.clone());
    let result = validator.validate(&policies, ValidationMode::Strict);
    for e in result.validation_errors() {
        let span = first_label(e, text.len());
        let msg = first_line(&e.to_string());
        diags.push(
            Diagnostic::new(Code::CedarInvalid, file, span, msg)
                .help(help_of(e).unwrap_or_else(|| "`hapax explain authz POLICY` prints the schema".into())),
        );
    }
    for w in result.validation_warnings() {
        let span = first_label(w, text.len());
        diags.push(Diagnostic::new(Code::CedarWarning, file, span, first_line(&w.to_string())));
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Err(diags);
    }
    // The shared entities: each role with the roles it inherits, and the
    // actions with their groups.
    let mut shared: Vec<Entity> = authz
        .roles
        .iter()
        .map(|(role, up)| {
            let parents = up.iter().map(|r| Types::uid(&types.role, r)).collect();
            Entity::new_no_attrs(Types::uid(&types.role, role), parents)
        })
        .collect();
    match schema.action_entities() {
        Ok(actions) => shared.extend(actions.iter().cloned()),
        Err(e) => return Err(internal(format!("the schema's actions do not build: {e}"))),
    }
    let cedar = Cedar {
        policies,
        schema_text,
        types,
        shared,
        default_allow: authz.default_allow,
        headers: authz.headers.clone(),
        authorizer: std::sync::Arc::new(Authorizer::new()),
        generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        reads_context: text.contains("context"),
    };
    Ok((cedar, diags))
}

/// Where a policy's own text (Cedar keeps it) is in the file.
fn span_of(text: &str, policy: &str) -> Span {
    text.find(policy).map_or(Span::new(0, 0), |at| Span::new(at, at + policy.len()))
}

/// The span of a Cedar error's first label, within the file.
fn first_label(e: &dyn miette::Diagnostic, len: usize) -> Span {
    e.labels()
        .and_then(|mut l| l.next())
        .map(|l| {
            let start = l.offset().min(len);
            Span::new(start, (start + l.len()).min(len))
        })
        .unwrap_or(Span::new(0, 0))
}

fn help_of(e: &dyn miette::Diagnostic) -> Option<String> {
    e.help().map(|h| first_line(&h.to_string()))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

impl Cedar {
    /// The generated schema, as `hapax explain authz` prints it.
    pub fn schema(&self) -> &str {
        &self.schema_text
    }

    /// The request headers given to Cedar.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The number of policies, the built-in one included.
    pub fn len(&self) -> usize {
        self.policies.num_of_policies()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn principal(&self, client: Option<&ClientInfo>) -> Entity {
        let t = &self.types;
        let Some(c) = client else {
            // The schema's required attributes, so that no policy reading
            // them fails (and is skipped) for an anonymous caller.
            let uid = Types::uid(&t.client, "anonymous");
            let attrs = HashMap::from([("roles".to_string(), RestrictedExpression::new_set([]))]);
            return Entity::new(uid.clone(), attrs, HashSet::new())
                .unwrap_or_else(|_| Entity::new_no_attrs(uid, HashSet::new()));
        };
        let mut parents: HashSet<EntityUid> = c.roles.iter().map(|r| Types::uid(&t.role, r)).collect();
        let mut attrs = HashMap::with_capacity(3);
        if let Some(team) = &c.team {
            parents.insert(Types::uid(&t.team, team));
            attrs.insert("team".to_string(), RestrictedExpression::new_string(team.clone()));
        }
        if let Some(tier) = &c.tier {
            attrs.insert("tier".to_string(), RestrictedExpression::new_string(tier.clone()));
        }
        attrs.insert(
            "roles".to_string(),
            RestrictedExpression::new_set(c.roles.iter().map(|r| RestrictedExpression::new_string(r.clone()))),
        );
        let uid = Types::uid(&t.client, &c.id);
        Entity::new(uid.clone(), attrs, parents.clone()).unwrap_or_else(|_| Entity::new_no_attrs(uid, parents))
    }

    fn time(hour: u32, weekday: &str) -> RestrictedExpression {
        RestrictedExpression::new_record([
            ("hour".to_string(), RestrictedExpression::new_long(i64::from(hour))),
            ("weekday".to_string(), RestrictedExpression::new_string(weekday.to_string())),
        ])
        .unwrap_or_else(|_| RestrictedExpression::new_bool(false))
    }

    /// Decides a request on the main listener.
    pub fn decide(&self, q: &Query) -> Decision {
        if self.reads_context {
            return self.decide_now(q);
        }
        if let Some(d) = self.with_entry(q, |cached| cached.clone()).flatten() {
            return d;
        }
        let d = self.decide_now(q);
        self.with_entry(q, |cached| *cached = Some(d.clone()));
        d
    }

    /// The cached decision slot of a query's store, if the store is cached.
    fn with_entry<T>(&self, q: &Query, f: impl FnOnce(&mut Option<Decision>) -> T) -> Option<T> {
        use std::hash::BuildHasher;
        STORES.with_borrow_mut(|(hasher, stores)| {
            let h = hasher.hash_one((self.generation, q.client, q.route, q.provider, q.model));
            match stores.get_mut(&h) {
                Some((key, _, decisions)) if key.is(self.generation, q) => {
                    Some(f(&mut decisions[usize::from(q.stream)]))
                }
                _ => None,
            }
        })
    }

    fn decide_now(&self, q: &Query) -> Decision {
        let t = &self.types;
        let model_uid = Types::uid(&t.model, q.model);
        let headers: Vec<(String, RestrictedExpression)> = self
            .headers
            .iter()
            .filter_map(|h| {
                let v = q.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(h))?.1;
                Some((h.clone(), RestrictedExpression::new_string(v.to_string())))
            })
            .collect();
        let context = [
            ("tokens".to_string(), RestrictedExpression::new_long(i64::try_from(q.tokens).unwrap_or(i64::MAX))),
            ("stream".to_string(), RestrictedExpression::new_bool(q.stream)),
            ("time".to_string(), Self::time(q.hour, q.weekday)),
            (
                "headers".to_string(),
                RestrictedExpression::new_record(headers).unwrap_or_else(|_| RestrictedExpression::new_bool(false)),
            ),
        ];
        let uids = (self.principal_uid(q.client), model_uid.clone());
        let store = self.store(q, || {
            Entity::new_no_attrs(
                model_uid,
                HashSet::from([Types::uid(&t.route, q.route), Types::uid(&t.provider, q.provider)]),
            )
        });
        let call = self.ask(&store, &uids, Action::Call, &context, self.default_allow);
        if !q.stream || !call.allow {
            return call;
        }
        // A stream is a call too; a policy may still forbid streaming.
        let stream = self.ask(&store, &uids, Action::Stream, &context, self.default_allow);
        if !stream.allow && !stream.policies.is_empty() {
            return stream;
        }
        call
    }

    fn principal_uid(&self, client: Option<&ClientInfo>) -> EntityUid {
        Types::uid(&self.types.client, client.map_or("anonymous", |c| c.id.as_str()))
    }

    /// The entity store for a request: cached per worker thread.
    fn store(&self, q: &Query, model: impl FnOnce() -> Entity) -> std::rc::Rc<Entities> {
        use std::hash::BuildHasher;
        STORES.with_borrow_mut(|(hasher, stores)| {
            let h = hasher.hash_one((self.generation, q.client, q.route, q.provider, q.model));
            if let Some((key, store, _)) = stores.get(&h) {
                if key.is(self.generation, q) {
                    return store.clone();
                }
            }
            let all = self.shared.iter().cloned().chain([self.principal(q.client), model()]);
            let store = std::rc::Rc::new(Entities::from_entities(all, None).unwrap_or_else(|_| Entities::empty()));
            if stores.len() >= CACHED_STORES {
                stores.clear();
            }
            let key = StoreKey {
                generation: self.generation,
                client: q.client.cloned(),
                route: q.route.to_string(),
                provider: q.provider.to_string(),
                model: q.model.to_string(),
            };
            stores.insert(h, (key, store.clone(), [None, None]));
            store
        })
    }

    /// Decides a request on the admin listener.
    pub fn decide_admin(&self, q: &AdminQuery) -> Decision {
        let admin = Entity::new_no_attrs(Types::uid(&self.types.admin, q.resource), HashSet::new());
        let context = [
            ("method".to_string(), RestrictedExpression::new_string(q.method.to_string())),
            ("path".to_string(), RestrictedExpression::new_string(q.path.to_string())),
            ("time".to_string(), Self::time(q.hour, q.weekday)),
        ];
        let uids = (self.principal_uid(q.client), admin.uid());
        let all = self.shared.iter().cloned().chain([self.principal(q.client), admin]);
        let Ok(store) = Entities::from_entities(all, None) else {
            return Decision { allow: false, policies: Vec::new(), errors: 1 };
        };
        self.ask(&store, &uids, q.action, &context, false)
    }

    /// One question to Cedar. `default_allow` is the policy's `default`
    /// for requests, and always false for admin actions (`default allow`
    /// never opens the admin API). A `forbid` whose evaluation fails denies
    /// (Cedar would skip it): a forbid must not open anything by failing.
    fn ask(
        &self,
        store: &Entities,
        (principal, resource): &(EntityUid, EntityUid),
        action: Action,
        context: &[(String, RestrictedExpression)],
        default_allow: bool,
    ) -> Decision {
        let deny = Decision { allow: false, policies: Vec::new(), errors: 1 };
        let request = Request::new(
            principal.clone(),
            Types::uid(&self.types.action, action.as_str()),
            resource.clone(),
            match Context::from_pairs(context.iter().cloned()) {
                Ok(c) => c,
                Err(_) => return deny,
            },
            None,
        );
        let Ok(request) = request else { return deny };
        if store.get(principal).is_none() {
            // The store could not be built: never decide on an empty one.
            return deny;
        }
        let response = self.authorizer.is_authorized(&request, &self.policies, store);
        let diagnostics = response.diagnostics();
        let errors = diagnostics.errors().count();
        let failed_forbids: Vec<String> = diagnostics
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
                e.policy_id()
            })
            .filter(|id| self.policies.policy(id).is_some_and(|p| p.effect() == cedar_policy::Effect::Forbid))
            .map(ToString::to_string)
            .collect();
        if !failed_forbids.is_empty() {
            return Decision { allow: false, policies: failed_forbids, errors };
        }
        let mut policies: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        policies.sort_unstable();
        let allow = match response.decision() {
            CedarDecision::Allow => true,
            // The default decides only when no policy did and none failed.
            CedarDecision::Deny => default_allow && policies.is_empty() && errors == 0,
        };
        Decision { allow, policies, errors }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, load, MemFs, Mode};
    use std::path::PathBuf;

    fn compiled(authz: &str, cedar: &str) -> Result<std::sync::Arc<Cedar>, Vec<String>> {
        let mut fs = MemFs::default();
        let policy = format!(
            "provider p {{ type mock }}\nauthz {{ cedar \"rbac.cedar\"; {authz} }}\nroute r {{ match POST \"/v1/*\"; to p }}\n"
        );
        fs.files.insert(PathBuf::from("/t/main.hapax"), policy);
        fs.files.insert(PathBuf::from("/t/rbac.cedar"), cedar.to_string());
        let checked = check(load(&[PathBuf::from("/t/main.hapax")], &fs).unwrap(), &fs, Mode::Check);
        if checked.diags.has_errors() {
            return Err(checked.diags.0.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect());
        }
        Ok(checked.graph.authz.and_then(|a| a.compiled).unwrap())
    }

    fn client(roles: &[&str]) -> ClientInfo {
        ClientInfo { id: "c".into(), roles: roles.iter().map(|r| r.to_string()).collect(), ..ClientInfo::default() }
    }

    fn call<'a>(client: Option<&'a ClientInfo>, stream: bool, tokens: u64) -> Query<'a> {
        Query {
            client,
            route: "r",
            provider: "p",
            model: "m",
            stream,
            tokens,
            hour: 12,
            weekday: "mon",
            headers: vec![],
        }
    }

    fn admin<'a>(client: Option<&'a ClientInfo>) -> AdminQuery<'a> {
        AdminQuery {
            client,
            action: Action::KeysManage,
            resource: "keys",
            method: "POST",
            path: "/admin/api/keys",
            hour: 12,
            weekday: "mon",
        }
    }

    #[test]
    fn default_allow_never_opens_the_admin_api() {
        let c = compiled("default allow", "").unwrap();
        let nobody = client(&[]);
        assert!(c.decide(&call(Some(&nobody), false, 1)).allow);
        assert!(!c.decide_admin(&admin(Some(&nobody))).allow);
        assert!(c.decide_admin(&admin(Some(&client(&["admin"])))).allow);
    }

    #[test]
    fn a_forbid_that_fails_to_evaluate_denies() {
        let cedar = r#"
            permit (principal, action, resource);
            @id("overflow") forbid (principal, action == Hapax::Action::"stream", resource)
              when { context.tokens * 4000000000000000000 > 5 };
        "#;
        let c = compiled("default deny", cedar).unwrap();
        let who = client(&[]);
        assert!(c.decide(&call(Some(&who), false, 3)).allow);
        let d = c.decide(&call(Some(&who), true, 3));
        assert!(!d.allow, "{d:?}");
        assert_eq!(d.policies, vec!["overflow".to_string()]);
        // Under `default allow` too.
        let c = compiled("default allow", cedar).unwrap();
        assert!(!c.decide(&call(Some(&who), true, 3)).allow);
    }

    #[test]
    fn an_anonymous_caller_has_the_attributes_policies_read() {
        let cedar = r#"
            permit (principal, action, resource in Hapax::Route::"r");
            forbid (principal, action, resource) unless { principal.roles.contains("paid") };
        "#;
        let c = compiled("default deny", cedar).unwrap();
        assert!(!c.decide(&call(None, false, 1)).allow);
        assert!(c.decide(&call(Some(&client(&["paid"])), false, 1)).allow);
    }

    #[test]
    fn cached_decisions_stay_per_client_model_and_stream() {
        // No policy reads `context`, so decisions are cached.
        let cedar = r#"
            permit (principal in Hapax::Role::"paid", action, resource);
            forbid (principal, action, resource == Hapax::Model::"o1") unless { principal in Hapax::Role::"lead" };
            forbid (principal in Hapax::Role::"intern", action == Hapax::Action::"stream", resource);
        "#;
        let c = compiled("default deny", cedar).unwrap();
        assert!(!c.reads_context);
        let (paid, lead, intern) = (client(&["paid"]), client(&["paid", "lead"]), client(&["paid", "intern"]));
        for _ in 0..3 {
            for (who, model, stream, want) in [
                (&paid, "m", false, true),
                (&paid, "o1", false, false),
                (&lead, "o1", false, true),
                (&intern, "m", false, true),
                (&intern, "m", true, false),
                (&paid, "m", true, true),
            ] {
                let q = Query { model, ..call(Some(who), stream, 1) };
                assert_eq!(c.decide(&q).allow, want, "{who:?} {model} stream={stream}");
            }
        }
        // A reload (a new compile) does not see the old set's decisions.
        let c2 = compiled("default deny", "forbid (principal, action, resource);").unwrap();
        assert!(!c2.decide(&call(Some(&paid), false, 1)).allow);
    }

    #[test]
    fn roles_inherit_through_the_hierarchy_and_cycles_are_refused() {
        let cedar = r#"permit (principal in Hapax::Role::"reader", action, resource);"#;
        let c =
            compiled(r#"role "lead" inherits ["researcher"]; role "researcher" inherits ["reader"]"#, cedar).unwrap();
        assert!(c.decide(&call(Some(&client(&["lead"])), false, 1)).allow);
        assert!(!c.decide(&call(Some(&client(&["intern"])), false, 1)).allow);
        let err = compiled(r#"role "a" inherits ["b"]; role "b" inherits ["a"]"#, cedar).unwrap_err();
        assert!(err.iter().any(|e| e.starts_with("E0803") && e.contains("a -> b -> a")), "{err:?}");
    }
}
