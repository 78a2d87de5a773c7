//! Thread per core: the data plane runs on `N` single-threaded tokio
//! runtimes, one per core, the way nginx runs one worker process per core.
//! Every worker accepts on its own socket of each listening address
//! (`SO_REUSEPORT`, see `serve::bind`); a connection, its
//! requests and the upstream connections they use all live on the worker that
//! accepted it, so the request path never hands work to another thread (no
//! cross-thread wake-ups, no contended queues).
//!
//! The control plane (signals, reloads, health checks, the admin listener)
//! runs on the main thread's own runtime.
//!
//! Each provider keeps one connection pool per worker plus one for the
//! control plane; [`index`] says which pool the current thread uses.

use std::cell::Cell;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

thread_local! {
    static INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

static COUNT: OnceLock<usize> = OnceLock::new();

/// How many workers serve traffic: `HAPAX_WORKERS` when set to a positive
/// number, else one per available core.
pub fn count() -> usize {
    *COUNT.get_or_init(|| {
        std::env::var("HAPAX_WORKERS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// The pool slot of the current thread: its worker number, or `count()` for
/// any thread that is not a worker (the control plane).
pub fn index() -> usize {
    INDEX.with(|i| i.get()).unwrap_or_else(count)
}

/// Keeps a timer due within a second on the worker's runtime. tokio wakes
/// its driver (an eventfd write, a system call) whenever a timer is set
/// sooner than the driver's next wake-up; with this one always near, the
/// timeouts set per request (seconds away) never do.
async fn heartbeat() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
    }
}

/// The running workers.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    exit: watch::Sender<bool>,
}

impl Workers {
    /// Starts one worker per item of `each` (normally `count()` of them);
    /// worker `n` runs `start(n, each[n])` on its own runtime, then keeps
    /// serving the tasks it spawned until [`Workers::stop`]. Each polls for
    /// events for `busy_poll` after work before it sleeps (see
    /// [`crate::net::busy_poll`]; zero: never).
    pub fn start<T, F, Fut>(each: Vec<T>, busy_poll: Duration, start: F) -> std::io::Result<Workers>
    where
        T: Send + 'static,
        F: Fn(usize, T) -> Fut + Send + Clone + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let (exit, exit_rx) = watch::channel(false);
        let mut threads = Vec::new();
        for (n, item) in each.into_iter().enumerate() {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let start = start.clone();
            let mut exit_rx = exit_rx.clone();
            let thread = std::thread::Builder::new().name(format!("hapax-worker-{n}")).spawn(move || {
                INDEX.with(|i| i.set(Some(n)));
                rt.block_on(async move {
                    tokio::spawn(heartbeat());
                    if !busy_poll.is_zero() {
                        tokio::spawn(crate::net::busy_poll::run(busy_poll));
                    }
                    start(n, item).await;
                    let _ = exit_rx.wait_for(|stop| *stop).await;
                });
                // Whatever is still running (connections past the grace
                // period) is dropped here.
                rt.shutdown_background();
            })?;
            threads.push(thread);
        }
        Ok(Workers { threads, exit })
    }

    /// Ends every worker and waits for its thread.
    pub fn stop(self) {
        let _ = self.exit.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}
