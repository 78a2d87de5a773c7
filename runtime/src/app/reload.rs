//! Hot reload: a change to any loaded file (seen by a file watcher,
//! debounced by 100 ms) or SIGHUP recompiles the whole set. Only a set with
//! no errors replaces the running snapshot, atomically; a broken edit logs
//! its diagnostics and the old snapshot stays. Requests in flight keep the
//! snapshot they started with; providers whose declarations did not change
//! keep their pools, breakers and health (see [`crate::state`]).

use crate::app::policy::{self, Source};
use crate::pipeline::Ctx;
use crate::state::snapshot::Snapshot;
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const DEBOUNCE: Duration = Duration::from_millis(100);

/// What the watcher reacts to: the loaded files, and `.hapax` files in the
/// folders named on the command line.
#[derive(Default)]
struct Interest {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

impl Interest {
    fn wants(&self, path: &Path) -> bool {
        self.files.contains(path)
            || (path.extension().is_some_and(|e| e == "hapax") && path.parent().is_some_and(|d| self.dirs.contains(d)))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Watches and reloads until `shutdown`.
/// `ready` is signalled once the files are watched; a file modified after
/// `loaded_at` (between the first compile and the watch) is reloaded then.
pub async fn run(
    ctx: Arc<Ctx>,
    source: Source,
    files: Vec<PathBuf>,
    mut shutdown: watch::Receiver<bool>,
    loaded_at: std::time::SystemTime,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let (tx, mut rx) = mpsc::channel::<()>(16);
    let tx_start = tx.clone();
    let interest = Arc::new(Mutex::new(Interest::default()));
    let seen = interest.clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        let relevant = matches!(
            ev.kind,
            EventKind::Create(_)
                | EventKind::Modify(_)
                | EventKind::Remove(_)
                | EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
        );
        if !relevant {
            return;
        }
        let wanted = {
            let i = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            ev.paths.iter().any(|p| i.wants(p))
        };
        if wanted {
            // A full channel already holds a pending reload.
            let _ = tx.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(target: "hapax::reload", error = %e, "cannot watch the policy files; reload with SIGHUP");
            None
        }
    };
    let mut watched_dirs: HashSet<PathBuf> = HashSet::new();
    let mut update = |files: &[PathBuf], watcher: &mut Option<notify::RecommendedWatcher>| {
        let mut i = interest.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        i.files = files.iter().map(|f| absolute(f)).collect();
        i.dirs = source.root_dirs().iter().map(|d| absolute(d)).collect();
        // Watch folders, not files: editors replace a file by renaming a new
        // one over it, which a watch on the file itself would miss.
        let dirs: HashSet<PathBuf> =
            i.files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).chain(i.dirs.iter().cloned()).collect();
        drop(i);
        if let Some(w) = watcher.as_mut() {
            for d in &dirs {
                if !watched_dirs.contains(d) {
                    match w.watch(d, RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            watched_dirs.insert(d.clone());
                        }
                        Err(e) => {
                            tracing::warn!(target: "hapax::reload", dir = %d.display(), error = %e, "cannot watch folder")
                        }
                    }
                }
            }
        }
    };
    update(&files, &mut watcher);
    let changed_meanwhile =
        files.iter().any(|f| std::fs::metadata(f).and_then(|m| m.modified()).is_ok_and(|t| t > loaded_at));
    if changed_meanwhile {
        let _ = tx_start.try_send(());
    }
    let _ = ready.send(());
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(target: "hapax::reload", error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    loop {
        let hangup = async {
            match hup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(()) = rx.recv() => {}
            _ = hangup => tracing::info!(target: "hapax::reload", "SIGHUP: reloading"),
            _ = shutdown.changed() => return,
        }
        // Let a burst of writes settle.
        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
        if let Some(files) = reload(&ctx, &source).await {
            update(&files, &mut watcher);
        }
    }
}

/// Recompiles and, when the set is clean, swaps it in. Returns the files of
/// the new set, to watch.
pub async fn reload(ctx: &Ctx, source: &Source) -> Option<Vec<PathBuf>> {
    let src = source.clone();
    let metrics = &ctx.state.metrics;
    let checked = match tokio::task::spawn_blocking(move || policy::compile(&src)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            metrics.reloads.with_label_values(&["failed"]).inc();
            tracing::warn!(target: "hapax::reload", error = %e, "reload failed; keeping the running policy");
            return None;
        }
        Err(e) => {
            metrics.reloads.with_label_values(&["failed"]).inc();
            tracing::warn!(target: "hapax::reload", error = %e, "reload failed; keeping the running policy");
            return None;
        }
    };
    let files = policy::files(&checked, source);
    if !checked.ok() {
        metrics.reloads.with_label_values(&["failed"]).inc();
        audit_reload(ctx, "failed", Some(checked.diags.errors()));
        tracing::warn!(
            target: "hapax::reload",
            errors = checked.diags.errors(),
            diagnostics = %policy::render(&checked, false),
            "the policy has errors; keeping the running policy"
        );
        return Some(files);
    }
    let graph = checked.graph;
    let old = ctx.current.load();
    let listeners = |g: &hapax_lang::Graph| -> Vec<(String, String)> {
        g.gateway.listeners.iter().map(|l| (format!("{:?}", l.proto), l.addr.clone())).collect()
    };
    let (was, now) = (&old.graph.gateway, &graph.gateway);
    let restart_only = listeners(&old.graph) != listeners(&graph)
        || was.admin != now.admin
        || was.busy_poll != now.busy_poll
        || was.max_connections != now.max_connections
        || was.http2_max_streams != now.http2_max_streams;
    if restart_only {
        tracing::warn!(
            target: "hapax::reload",
            "changes to listeners, admin, busy_poll, max_connections or http2_max_streams take effect at the next restart"
        );
    }
    let old_audit = old.audit.clone();
    drop(old);
    match Snapshot::build(graph, &ctx.state) {
        Ok(snap) => {
            let routes = snap.graph.routes.len();
            crate::http::body::set_body_memory_limit(snap.graph.gateway.max_body_memory);
            ctx.current.store(Arc::new(snap));
            metrics.reloads.with_label_values(&["ok"]).inc();
            audit_reload(ctx, "ok", None);
            // A reload that turns the audit log off is its last event.
            if ctx.current.load().audit.is_none() {
                if let Some(a) = old_audit {
                    a.emit(crate::telemetry::audit::Event::new("reload").set("result", "ok").set("audit", "off"));
                }
            }
            tracing::info!(target: "hapax::reload", routes, "policy reloaded");
        }
        Err(e) => {
            metrics.reloads.with_label_values(&["failed"]).inc();
            audit_reload(ctx, "failed", None);
            tracing::warn!(target: "hapax::reload", error = %e, "reload failed; keeping the running policy");
        }
    }
    Some(files)
}

/// Records a reload in the audit log of the policy now running.
fn audit_reload(ctx: &Ctx, result: &str, errors: Option<usize>) {
    if let Some(a) = &ctx.current.load().audit {
        a.emit(crate::telemetry::audit::Event::new("reload").set("result", result).set("errors", errors));
    }
}
