//! Listeners and connections: accept loops for plain HTTP (HTTP/1.1 and h2c
//! by prior knowledge) and TLS (ALPN h2 / http/1.1), each connection served
//! by hyper's auto builder with a header read timeout, an idle timeout and
//! graceful shutdown.
//!
//! hyper's HTTP/1 header timeout also covers the wait for the next request
//! on a kept-alive connection; the idle timeout closes any connection (h2
//! included) on which nothing has been read or written for that long.

use crate::body::Body;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;

/// Answers requests; implemented by the main and the admin services.
pub trait Service: Clone + Send + Sync + 'static {
    fn call(&self, req: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// Timeouts applied to every connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnConfig {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Counts open connections so shutdown can wait for them.
#[derive(Clone, Default)]
pub struct Tracker(Arc<(AtomicUsize, Notify)>);

pub struct TrackerGuard(Tracker);

impl Tracker {
    pub fn enter(&self) -> TrackerGuard {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
        TrackerGuard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.0 .0.load(Ordering::SeqCst)
    }

    /// Waits until no connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.0 .1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for TrackerGuard {
    fn drop(&mut self) {
        if self.0 .0 .0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0 .0 .1.notify_waiters();
        }
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn accept_loop<S: Service>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    cfg: ConnConfig,
    shutdown: watch::Receiver<bool>,
    tracker: Tracker,
) {
    let builder = Arc::new(builder(cfg));
    let mut stop = shutdown.clone();
    loop {
        let (tcp, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off a little.
                    tracing::warn!(target: "hapax::listen", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let guard = tracker.enter();
        let service = service.clone();
        let builder = builder.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match tls {
                None => serve_conn(tcp, &builder, service, cfg, shutdown).await,
                Some(acceptor) => match tokio::time::timeout(cfg.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_conn(stream, &builder, service, cfg, shutdown).await,
                    Ok(Err(e)) => {
                        tracing::debug!(target: "hapax::listen", error = %e, "tls handshake failed")
                    }
                    Err(_) => {
                        tracing::debug!(target: "hapax::listen", "tls handshake timed out")
                    }
                },
            }
        });
    }
}

fn builder(cfg: ConnConfig) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().timer(TokioTimer::new()).header_read_timeout(cfg.header_timeout).keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1024)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

async fn serve_conn<IO, S>(
    io: IO,
    builder: &auto::Builder<TokioExecutor>,
    service: S,
    cfg: ConnConfig,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched { inner: io, activity: activity.clone() });
    let svc = hyper::service::service_fn(move |req| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(service.call(req).await) }
    });
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    // The connection is idle when its activity count has not moved since
    // `quiet_since`; the clock is only read at ticks, never per read/write.
    let (mut seen, mut quiet_since) = (0u64, Instant::now());
    // A quarter of the shorter timeout: besides checking for idleness, this
    // keeps a timer due sooner than hyper's header timeout, so re-arming that
    // one per request never has to wake the runtime's driver (a system call).
    let every = cfg.idle_timeout.min(cfg.header_timeout) / 4;
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = *shutdown.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(target: "hapax::listen", error = %e, "connection ended with an error");
                }
                break;
            }
            _ = shutdown.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick(), if !closing => {
                let now = activity.load(Ordering::Relaxed);
                if now != seen {
                    (seen, quiet_since) = (now, Instant::now());
                } else if quiet_since.elapsed() >= cfg.idle_timeout {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A stream that counts its reads and writes.
struct Watched<T> {
    inner: T,
    activity: Arc<AtomicU64>,
}

impl<T> Watched<T> {
    fn touch(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
