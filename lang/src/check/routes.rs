//! Checks across routes: fallback cycles, routes that can never match, and
//! declarations nothing uses.

use super::Checker;
use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::graph::{Graph, PathPattern};
use crate::schema::RefKind;
use std::collections::HashMap;

impl Checker<'_> {
    pub(super) fn check_routes(&mut self, g: &mut Graph) {
        self.expand_fallback_routes(g);
        self.report_shadowed(g);
    }

    /// `fallback [route other]` takes the other route's targets; a chain of
    /// such fallbacks that comes back to where it started is an error.
    fn expand_fallback_routes(&mut self, g: &mut Graph) {
        let n = g.routes.len();
        if g.routes.iter().all(|r| r.fallback_routes.is_empty()) {
            return;
        }
        let mut reported = vec![false; n];
        for start in 0..n {
            if g.routes[start].fallback_routes.is_empty() {
                continue;
            }
            // Depth-first walk over fallback routes, collecting targets.
            let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, vec![start])];
            let mut seen = vec![false; n];
            seen[start] = true;
            let mut extra = Vec::new();
            while let Some((r, path)) = stack.pop() {
                for &(next, span) in g.routes[r].fallback_routes.iter().rev() {
                    let next = next.index();
                    if next == start || path.contains(&next) {
                        if !reported[start] {
                            reported[start] = true;
                            let names: Vec<&str> = path
                                .iter()
                                .chain(std::iter::once(&next))
                                .map(|&i| g.routes[i].decl.name.as_str())
                                .collect();
                            let loc = if r == start {
                                crate::span::Loc { file: g.routes[r].decl.loc.file, span }
                            } else {
                                g.routes[start].decl.loc
                            };
                            self.diags.push(
                                Diagnostic::new(
                                    Code::FallbackCycle,
                                    loc.file,
                                    loc.span,
                                    format!("fallback cycle: {}", names.join(" → ")),
                                )
                                .help("a fallback must lead to targets, not back to the route that failed"),
                            );
                        }
                        continue;
                    }
                    if seen[next] {
                        continue;
                    }
                    seen[next] = true;
                    extra.extend(g.routes[next].all_targets().into_iter().cloned());
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
            for t in extra {
                if !g.routes[start].fallback.contains(&t) {
                    g.routes[start].fallback.push(t);
                }
            }
        }
    }

    /// A route is shadowed when an earlier route without `when` matches
    /// every request it could match.
    fn report_shadowed(&mut self, g: &Graph) {
        let mut exact: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut broad: Vec<usize> = Vec::new();
        for (i, r) in g.routes.iter().enumerate() {
            let winner = |j: usize| -> bool {
                let a = &g.routes[j];
                let method_covers = a.method.is_none() || a.method == r.method;
                let path_covers = match (&a.path, &r.path) {
                    (PathPattern::Exact(x), PathPattern::Exact(y)) => x == y,
                    (PathPattern::Prefix(x), PathPattern::Exact(y) | PathPattern::Prefix(y)) => {
                        y.starts_with(x.as_str())
                    }
                    (PathPattern::Prefix(x), PathPattern::Glob(y, _)) => y.starts_with(x.as_str()),
                    (PathPattern::Glob(_, re), PathPattern::Exact(y)) => re.is_match(y),
                    (PathPattern::Glob(x, _), PathPattern::Glob(y, _)) => x == y,
                    _ => false,
                };
                method_covers && path_covers
            };
            let by = match &r.path {
                PathPattern::Exact(p) => exact.get(p.as_str()).and_then(|v| v.iter().copied().find(|&j| winner(j))),
                _ => None,
            }
            .or_else(|| broad.iter().copied().find(|&j| winner(j)));
            if let Some(j) = by {
                let a = &g.routes[j];
                self.diags.push(
                    Diagnostic::new(
                        Code::Shadowed,
                        r.decl.loc.file,
                        r.decl.loc.span,
                        format!("route `{}` can never match", r.decl.name),
                    )
                    .label("every request it matches is taken first")
                    .related(a.decl.loc, format!("route `{}` comes first and has no `when`", a.decl.name))
                    .help(format!(
                        "move `{}` above `{}`, or give `{}` a `when`",
                        r.decl.name, a.decl.name, a.decl.name
                    )),
                );
            }
            if r.when.is_none() {
                match &r.path {
                    PathPattern::Exact(p) => exact.entry(p.as_str()).or_default().push(i),
                    _ => broad.push(i),
                }
            }
        }
    }

    /// Limits, queues, caches, scripts, SLAs and budgets nobody uses.
    pub(super) fn report_unused(&mut self, g: &Graph) {
        let decls: [(RefKind, Vec<&crate::graph::Decl>); 6] = [
            (RefKind::Limit, g.limits.iter().map(|x| &x.decl).collect()),
            (RefKind::Queue, g.queues.iter().map(|x| &x.decl).collect()),
            (RefKind::Cache, g.caches.iter().map(|x| &x.decl).collect()),
            (RefKind::Script, g.scripts.iter().map(|x| &x.decl).collect()),
            (RefKind::Sla, g.slas.iter().map(|x| &x.decl).collect()),
            (RefKind::Budget, g.budgets.iter().map(|x| &x.decl).collect()),
        ];
        for (kind, list) in decls {
            for (i, decl) in list.into_iter().enumerate() {
                if !self.used.contains(&(kind, i as u32)) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::Unused,
                            decl.loc.file,
                            decl.loc.span,
                            format!("{} `{}` is never used", kind.keyword(), decl.name),
                        )
                        .help("refer to it from a route, or remove it"),
                    );
                }
            }
        }
    }
}
