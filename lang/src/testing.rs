//! Runs `test` blocks: each request is evaluated through the graph without
//! any network, and what happened is compared with what was expected.

use crate::expr::{ClientInfo, RequestView};
use crate::graph::{Graph, Targets, TestCase};

/// The result of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub name: String,
    pub loc: crate::span::Loc,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// Expectations that could not be checked yet.
    pub skipped: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

struct TestView<'g> {
    t: &'g TestCase,
    client: Option<ClientInfo>,
}

impl RequestView for TestView<'_> {
    fn method(&self) -> &str {
        &self.t.request.method
    }
    fn path(&self) -> &str {
        &self.t.request.path
    }
    fn model(&self) -> Option<&str> {
        self.t
            .request
            .model
            .as_deref()
            .or_else(|| self.t.request.body.as_ref().and_then(|b| b.get("model")).and_then(|m| m.as_str()))
    }
    fn stream(&self) -> bool {
        self.t.request.stream
    }
    fn tokens(&self) -> u64 {
        self.t.request.tokens
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.t.request.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn body(&self) -> Option<&serde_json::Value> {
        self.t.request.body.as_ref()
    }
    fn client(&self) -> Option<&ClientInfo> {
        self.client.as_ref()
    }
    fn clock(&self) -> (u8, u8) {
        // Tests are deterministic: Monday noon UTC.
        (12, 0)
    }
}

/// The client a test names, as routing sees it.
pub fn client_info(g: &Graph, id: crate::graph::ClientId) -> ClientInfo {
    let c = &g.clients[id.index()];
    ClientInfo {
        id: c.decl.name.clone(),
        tier: c.tier.map(|t| g.tiers[t.index()].decl.name.clone()),
        team: c.team.clone(),
        roles: c.roles.clone(),
    }
}

/// Runs every test of a checked graph.
pub fn run(g: &Graph) -> Vec<Outcome> {
    g.tests.iter().map(|t| run_one(g, t)).collect()
}

fn run_one(g: &Graph, t: &TestCase) -> Outcome {
    let view = TestView { t, client: t.request.client.map(|c| client_info(g, c)) };
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let matched = g.match_route(&view);
    let name_of = |r: Option<crate::graph::RouteId>| {
        r.map_or_else(|| "no route".to_string(), |r| format!("route `{}`", g.route(r).decl.name))
    };
    if let Some(want) = t.expect.route {
        if matched != Some(want) {
            failures.push(format!("expected {}, but the request matched {}", name_of(Some(want)), name_of(matched)));
        }
    }
    let status = if matched.is_some() { 200 } else { 404 };
    if let Some(want) = t.expect.status {
        if want != status {
            failures.push(format!("expected status {want}, got {status} ({})", name_of(matched)));
        }
    }
    if let (Some(want), Some(r)) = (&t.expect.targets, matched) {
        let route = g.route(r);
        let mut got: Vec<&str> = match &route.targets {
            Targets::One(t) => vec![g.provider(t.provider).decl.name.as_str()],
            Targets::Split { arms, .. } => {
                arms.iter().map(|a| g.provider(a.target.provider).decl.name.as_str()).collect()
            }
        };
        got.sort_unstable();
        got.dedup();
        let mut want: Vec<&str> = want.iter().map(|p| g.provider(*p).decl.name.as_str()).collect();
        want.sort_unstable();
        want.dedup();
        if got != want {
            failures.push(format!(
                "expected targets [{}], but route `{}` can send to [{}]",
                want.join(", "),
                route.decl.name,
                got.join(", ")
            ));
        }
    }
    if let (Some(want), Some(r)) = (&t.expect.limits, matched) {
        let route = g.route(r);
        let mut got: Vec<&str> = route.limits.iter().map(|l| g.limits[l.index()].decl.name.as_str()).collect();
        let mut want: Vec<&str> = want.iter().map(|l| g.limits[l.index()].decl.name.as_str()).collect();
        got.sort_unstable();
        want.sort_unstable();
        if got != want {
            failures.push(format!(
                "expected limits [{}], but route `{}` applies [{}]",
                want.join(", "),
                route.decl.name,
                got.join(", ")
            ));
        }
    }
    if let Some(allow) = t.expect.allow {
        match (g.authz.as_ref(), matched) {
            (None, _) if !allow => failures.push(
                "expected the request to be denied, but no `authz` block is declared, so every request is allowed"
                    .into(),
            ),
            (None, _) => {}
            (Some(_), None) => failures.push(format!("allow {allow}: the request matched no route to authorize")),
            (Some(a), Some(r)) => match &a.compiled {
                None => skipped.push(format!("allow {allow}: the Cedar policies have errors")),
                Some(cedar) => {
                    // Every arm the route may pick: the expectation holds
                    // for the request whichever arm it lands on.
                    let route = g.route(r);
                    let targets: Vec<&crate::graph::Target> = match &route.targets {
                        Targets::One(t) => vec![t],
                        Targets::Split { arms, .. } => arms.iter().map(|a| &a.target).collect(),
                    };
                    let (hour, day) = view.clock();
                    for target in targets {
                        let provider = &g.provider(target.provider).decl.name;
                        let headers =
                            t.request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>();
                        let d = cedar.decide(&crate::authz::Query {
                            client: view.client.as_ref(),
                            route: &route.decl.name,
                            provider,
                            model: target.model.as_deref().or(view.model()).unwrap_or(""),
                            stream: view.stream(),
                            tokens: view.tokens(),
                            hour: u32::from(hour),
                            weekday: crate::expr::weekday(day),
                            headers,
                        });
                        if d.allow != allow {
                            let by = if d.policies.is_empty() {
                                "no policy applied, so the default decided".to_string()
                            } else {
                                format!("decided by {}", d.policies.join(", "))
                            };
                            failures.push(format!(
                                "expected the request to be {}, but Cedar {} it on route `{}` to `{provider}` ({by})",
                                if allow { "allowed" } else { "denied" },
                                if d.allow { "allows" } else { "denies" },
                                route.decl.name
                            ));
                            break;
                        }
                    }
                }
            },
        }
    }
    Outcome { name: t.decl.name.clone(), loc: t.decl.loc, failures, skipped }
}
