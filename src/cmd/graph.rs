//! `hapax graph`: the compiled routing graph as text, Graphviz dot or JSON.

use super::{load, print_diagnostics, FAILED, OK};
use hapax_lang::graph::{Graph, Route, Target, Targets};
use hapax_lang::Mode;
use serde_json::json;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Json,
}

pub fn run(paths: &[PathBuf], format: Format) -> u8 {
    let checked = match load(paths, Mode::Check) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if !checked.ok() {
        print_diagnostics(&checked);
        return FAILED;
    }
    let g = &checked.graph;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&to_json(g)).unwrap_or_default()),
        Format::Dot => print!("{}", to_dot(g)),
        Format::Text => print!("{}", to_text(g)),
    }
    OK
}

fn target(g: &Graph, t: &Target) -> String {
    let p = &g.provider(t.provider).decl.name;
    match &t.model {
        Some(m) => format!("{p}/{m}"),
        None => p.clone(),
    }
}

fn arms(g: &Graph, r: &Route) -> Vec<(f64, String)> {
    match &r.targets {
        Targets::One(t) => vec![(100.0, target(g, t))],
        Targets::Split { arms, .. } => {
            arms.iter().map(|a| (f64::from(a.weight) / 100.0, target(g, &a.target))).collect()
        }
    }
}

fn matcher(r: &Route) -> String {
    format!("{} {}", r.method.as_deref().unwrap_or("*"), r.path.pattern())
}

fn to_text(g: &Graph) -> String {
    let mut out = String::new();
    for (i, r) in g.routes.iter().enumerate() {
        out.push_str(&format!(
            "{}. route {}  [{}{}]\n",
            i + 1,
            r.decl.name,
            matcher(r),
            if r.when.is_some() { " when …" } else { "" }
        ));
        for (w, t) in arms(g, r) {
            out.push_str(&format!("     {w:>5}% -> {t}\n"));
        }
        if !r.fallback.is_empty() {
            let f: Vec<String> = r.fallback.iter().map(|t| target(g, t)).collect();
            out.push_str(&format!("     fallback {}\n", f.join(" -> ")));
        }
        if let Some(retry) = &r.retry {
            out.push_str(&format!(
                "     retry {} backoff {:?}..{:?}\n",
                retry.attempts, retry.backoff_min, retry.backoff_max
            ));
        }
        if !r.limits.is_empty() {
            let l: Vec<&str> = r.limits.iter().map(|l| g.limits[l.index()].decl.name.as_str()).collect();
            out.push_str(&format!("     limits {}\n", l.join(", ")));
        }
    }
    out
}

fn to_dot(g: &Graph) -> String {
    let mut out = String::from("digraph hapax {\n  rankdir=LR;\n  node [shape=box];\n");
    for p in &g.providers {
        out.push_str(&format!(
            "  \"provider:{0}\" [label=\"{0}\\n({1})\", shape=ellipse];\n",
            p.decl.name,
            p.kind.as_str()
        ));
    }
    for r in &g.routes {
        out.push_str(&format!("  \"route:{0}\" [label=\"{0}\\n{1}\"];\n", r.decl.name, matcher(r).replace('"', "'")));
        let primary: Vec<&Target> = match &r.targets {
            Targets::One(t) => vec![t],
            Targets::Split { arms, .. } => arms.iter().map(|a| &a.target).collect(),
        };
        for ((w, _), t) in arms(g, r).iter().zip(primary) {
            let model = t.model.as_deref().map(|m| format!(" {m}")).unwrap_or_default();
            out.push_str(&format!(
                "  \"route:{}\" -> \"provider:{}\" [label=\"{w}%{model}\"];\n",
                r.decl.name,
                g.provider(t.provider).decl.name
            ));
        }
        for t in &r.fallback {
            out.push_str(&format!(
                "  \"route:{}\" -> \"provider:{}\" [style=dashed, label=\"fallback\"];\n",
                r.decl.name,
                g.provider(t.provider).decl.name
            ));
        }
    }
    out.push_str("}\n");
    out
}

fn to_json(g: &Graph) -> serde_json::Value {
    json!({
        "providers": g.providers.iter().map(|p| json!({
            "name": p.decl.name, "type": p.kind.as_str(), "base_url": p.base_url,
            "timeout_ms": p.timeout.as_millis() as u64, "models": p.models,
            "breaker": p.breaker.as_ref().map(|b| json!({"failures": b.failures, "within_ms": b.within.as_millis() as u64, "open_for_ms": b.open_for.as_millis() as u64})),
        })).collect::<Vec<_>>(),
        "routes": g.routes.iter().map(|r| json!({
            "name": r.decl.name,
            "method": r.method,
            "path": r.path.pattern(),
            "conditional": r.when.is_some(),
            "targets": arms(g, r).into_iter().map(|(w, t)| json!({"weight_percent": w, "target": t})).collect::<Vec<_>>(),
            "sticky": matches!(&r.targets, Targets::Split { by: Some(_), .. }),
            "fallback": r.fallback.iter().map(|t| target(g, t)).collect::<Vec<_>>(),
            "retry": r.retry.as_ref().map(|x| json!({"attempts": x.attempts, "backoff_min_ms": x.backoff_min.as_millis() as u64, "backoff_max_ms": x.backoff_max.as_millis() as u64})),
            "timeout_ms": r.timeout.map(|t| t.as_millis() as u64),
            "limits": r.limits.iter().map(|l| g.limits[l.index()].decl.name.clone()).collect::<Vec<_>>(),
            "queue": r.queue.map(|q| g.queues[q.index()].decl.name.clone()),
            "cache": r.cache.map(|c| g.caches[c.index()].decl.name.clone()),
        })).collect::<Vec<_>>(),
        "limits": g.limits.iter().map(|l| l.decl.name.clone()).collect::<Vec<_>>(),
        "queues": g.queues.iter().map(|q| q.decl.name.clone()).collect::<Vec<_>>(),
        "caches": g.caches.iter().map(|c| c.decl.name.clone()).collect::<Vec<_>>(),
        "tests": g.tests.len(),
    })
}
