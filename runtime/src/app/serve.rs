//! `hapax serve`: load and check the policy, build the first snapshot, bind
//! the listeners, then serve until SIGTERM or SIGINT, and drain: stop
//! accepting, let requests and streams in flight finish within
//! `shutdown_grace`, exit 0.

use crate::app::admin::{Admin, Main};
use crate::app::policy::{self, Source};
use crate::net::listen::{self, ConnConfig, Tracker};
use crate::net::workers::Workers;
use crate::pipeline::Ctx;
use crate::state::snapshot::Snapshot;
use crate::state::State;
use crate::telemetry::metrics::Metrics;
use arc_swap::ArcSwap;
use hapax_lang::graph::ListenProto;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Exit status: the policy has errors, or the gateway cannot start.
const FAILED: u8 = 1;
/// Exit status: a path on the command line cannot be read.
const USAGE: u8 = 2;

pub fn run(paths: &[PathBuf]) -> u8 {
    // Files changed after this instant are reloaded once the watcher runs.
    let loaded_at = std::time::SystemTime::now();
    let source = Source::from_args(paths);
    let checked = match policy::compile(&source) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    if !checked.diags.0.is_empty() {
        policy::print_diagnostics(&checked);
    }
    if !checked.ok() {
        let n = checked.diags.errors();
        eprintln!("hapax serve: the policy has {n} error{}; not starting", if n == 1 { "" } else { "s" });
        return FAILED;
    }
    crate::telemetry::logging::init();
    // The control plane's runtime; traffic is served by the workers.
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return FAILED;
        }
    };
    let files = policy::files(&checked, &source);
    let status = rt.block_on(serve(source, files, checked.graph, loaded_at));
    rt.shutdown_timeout(Duration::from_millis(200));
    status
}

async fn serve(source: Source, files: Vec<PathBuf>, graph: hapax_lang::Graph, loaded_at: std::time::SystemTime) -> u8 {
    let metrics = match Metrics::new() {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("error: cannot set up metrics: {e}");
            return FAILED;
        }
    };
    let state = State::new(metrics);
    let gw = graph.gateway.clone();
    let snapshot = match Snapshot::build(graph, &state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return FAILED;
        }
    };
    if let Some(a) = &snapshot.audit {
        a.emit(crate::telemetry::audit::Event::new("start").set("routes", snapshot.graph.routes.len()));
    }
    let ctx = Arc::new(Ctx { current: ArcSwap::from_pointee(snapshot), state, body_timeout: gw.idle_timeout });
    crate::http::body::set_body_memory_limit(gw.max_body_memory);
    let cfg = ConnConfig {
        header_timeout: gw.header_timeout,
        idle_timeout: gw.idle_timeout,
        max_connections: Some(usize::try_from(gw.max_connections).unwrap_or(usize::MAX)),
        http2_max_streams: gw.http2_max_streams,
    };
    let admin_cfg = ConnConfig { max_connections: None, ..cfg };
    let (stop_tx, stop_rx) = watch::channel(false);
    let tracker = Tracker::default();
    let mut loops = Vec::new();

    // Bind everything before serving anything, so a bad address fails the
    // start instead of leaving a half-open gateway.
    let mut bound = Vec::new();
    for l in &gw.listeners {
        let tls = match l.proto {
            ListenProto::H3 => {
                tracing::warn!(target: "hapax::listen", addr = %l.addr, "h3 not yet supported; skipping this listener");
                continue;
            }
            ListenProto::Http => None,
            ListenProto::Https => match (&l.cert, &l.key) {
                (Some(cert), Some(key)) => match crate::net::tls::acceptor(cert, key) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        eprintln!("error: listener {}: {e}", l.addr);
                        return FAILED;
                    }
                },
                _ => {
                    eprintln!("error: listener {}: https needs a certificate and a key", l.addr);
                    return FAILED;
                }
            },
        };
        match bind(&l.addr, crate::net::workers::count()) {
            Ok(listeners) => bound.push((listeners, tls)),
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", l.addr);
                return FAILED;
            }
        }
    }
    let admin = match &gw.admin {
        Some(addr) => match TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("error: cannot listen on {addr} (admin): {e}");
                return FAILED;
            }
        },
        None => None,
    };

    // Watch the policy files before announcing that we serve, so that an edit
    // made right after start is never missed.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let reloader =
        tokio::spawn(crate::app::reload::run(ctx.clone(), source, files, stop_rx.clone(), loaded_at, ready_tx));
    let _ = ready_rx.await;

    let mut out = std::io::stdout().lock();
    for (listeners, tls) in &bound {
        let scheme = if tls.is_some() { "https" } else { "http" };
        if let Some(Ok(addr)) = listeners.first().map(|l| l.local_addr()) {
            let _ = writeln!(out, "listening on {scheme}://{addr}");
            tracing::info!(target: "hapax::listen", %addr, scheme, "listening");
        }
    }
    // Each worker gets its own socket of every listener.
    let mut each: Vec<Vec<_>> = (0..crate::net::workers::count()).map(|_| Vec::new()).collect();
    for (listeners, tls) in bound {
        for (mine, listener) in each.iter_mut().zip(listeners) {
            mine.push((listener, tls.clone()));
        }
    }
    let workers = {
        let (ctx, stop_rx, tracker) = (ctx.clone(), stop_rx.clone(), tracker.clone());
        Workers::start(each, gw.busy_poll, move |worker, mine| {
            let (ctx, mut stop_rx, tracker) = (ctx.clone(), stop_rx.clone(), tracker.clone());
            async move {
                // The worker's own copy of the stop signal: its connections
                // watch it without sharing a lock with other workers.
                let (local_tx, local_rx) = watch::channel(false);
                tokio::spawn(async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                    let _ = local_tx.send(true);
                });
                for (listener, tls) in mine {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(target: "hapax::listen", worker, error = %e, "cannot register a listener");
                            continue;
                        }
                    };
                    let main = Main(ctx.clone());
                    tokio::spawn(listen::accept_loop(listener, tls, main, cfg, local_rx.clone(), tracker.clone()));
                }
            }
        })
    };
    let workers = match workers {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot start the workers: {e}");
            return FAILED;
        }
    };
    if let Some(listener) = admin {
        let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
        if let Ok(addr) = listener.local_addr() {
            let _ = writeln!(out, "admin on http://{addr}");
            tracing::info!(target: "hapax::listen", %addr, "admin listening");
        }
        if ctx.current.load().graph.auth.is_none() {
            if loopback {
                tracing::warn!(target: "hapax::admin", "no `auth` block: the admin API answers anyone on this machine (the admin listener is on loopback)");
            } else {
                tracing::warn!(target: "hapax::admin", "no `auth` block and the admin listener is not on loopback: the admin API is refused, /metrics stays open");
            }
        }
        loops.push(tokio::spawn(listen::accept_loop(
            listener,
            None,
            Admin { ctx: ctx.clone(), loopback },
            admin_cfg,
            stop_rx.clone(),
            tracker.clone(),
        )));
    }
    let _ = out.flush();
    drop(out);

    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen for signals: {e}");
            return FAILED;
        }
    };
    let sig = signals.next().await;
    tracing::info!(target: "hapax::serve", signal = sig, grace_ms = gw.shutdown_grace.as_millis() as u64, "shutting down");
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    reloader.abort();
    tokio::select! {
        r = tokio::time::timeout(gw.shutdown_grace, tracker.idle()) => match r {
            Ok(()) => tracing::info!(target: "hapax::serve", "all connections closed"),
            Err(_) => tracing::warn!(target: "hapax::serve", open = tracker.count(), "shutdown grace is over; closing the remaining connections"),
        },
        sig = signals.next() => tracing::warn!(target: "hapax::serve", signal = sig, "second signal; closing the remaining connections now"),
    }
    workers.stop();
    if let Some(a) = &ctx.current.load().audit {
        a.emit(crate::telemetry::audit::Event::new("stop"));
    }
    // The last second of limit usage goes to the store.
    ctx.state.flush_usage();
    ctx.state.close_audit(Duration::from_secs(5)).await;
    0
}

/// One listening socket per worker on `addr`, all bound with `SO_REUSEPORT`
/// (as nginx's `reuseport`): the kernel spreads new connections evenly over
/// the workers. With one socket shared by all, whichever worker woke first
/// took a whole burst of connections, and one core did most of the work.
/// Another program can still not take the port; only a process of the same
/// user that also asks for `SO_REUSEPORT` could share it.
fn bind(addr: &str, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    use std::net::ToSocketAddrs;
    let mut at = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing"))?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = if at.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(at)?;
        let listener = socket.listen(1024)?.into_std()?;
        // Port 0 picks a port once; the others take the same one.
        at = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}

/// SIGTERM and SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
