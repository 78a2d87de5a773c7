//! Listeners and connections: accept loops for plain HTTP (HTTP/1.1, and
//! h2c by prior knowledge) and TLS (ALPN h2 / http/1.1). HTTP/1.1 is served
//! by our own server ([`crate::net::http1::server`]), HTTP/2 by hyper's, with
//! keep-alive pings, an idle timeout (nothing read or written for that
//! long) and graceful shutdown.

use crate::http::body::ReqBody;
use crate::http::request::{Headers, Request};
use crate::http::response::Response;
use crate::net::http1::server::{self, Outcome};
use bytes::{Buf, Bytes};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
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
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send;
    /// The largest request body it takes.
    fn body_limit(&self) -> u64;
    /// An answer to give from the request's head alone, before its body is
    /// read (a missing credential); the connection then closes.
    fn head_answer(&self, _method: &http::Method, _uri: &http::Uri, _headers: &Headers) -> Option<Response> {
        None
    }
    /// The JSON body of the answer to a request that cannot be read (its
    /// head is malformed or too large), in the service's error format.
    fn refusal(&self, status: http::StatusCode, why: &str) -> bytes::Bytes;
}

/// Timeouts and bounds applied to every connection of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnConfig {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Open connections (counted by the listener's tracker) beyond which a
    /// new one is refused; none for the admin listener.
    pub max_connections: Option<usize>,
    /// Concurrent streams on one HTTP/2 connection.
    pub http2_max_streams: u32,
}

/// What a connection over `max_connections` gets before it is closed.
fn over_capacity() -> Vec<u8> {
    let body = r#"{"error":{"message":"the gateway has as many connections open as it may","type":"server_error","code":"gateway_overloaded"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
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
    let h2 = Arc::new(h2_builder(cfg.http2_max_streams));
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
        if cfg.max_connections.is_some_and(|most| tracker.count() >= most) {
            // Never queued: a plain connection is told why, a TLS one (whose
            // handshake would cost more) is just closed.
            if tls.is_none() {
                let _ = tcp.try_write(&over_capacity());
            }
            tracing::debug!(target: "hapax::listen", "connection refused: max_connections reached");
            continue;
        }
        let _ = tcp.set_nodelay(true);
        let guard = tracker.enter();
        let service = service.clone();
        let h2 = h2.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match tls {
                None => {
                    if let Outcome::Http2(tcp, read) =
                        server::serve(tcp, service.clone(), cfg, shutdown.clone(), true).await
                    {
                        serve_h2(tcp, read, &h2, service, cfg, shutdown).await;
                    }
                }
                Some(acceptor) => match tokio::time::timeout(cfg.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                            serve_h2(stream, Bytes::new(), &h2, service, cfg, shutdown).await;
                        } else {
                            server::serve(stream, service, cfg, shutdown, false).await;
                        }
                    }
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

fn h2_builder(max_streams: u32) -> http2::Builder<TokioExecutor> {
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(max_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b
}

/// Serves an HTTP/2 connection with hyper; `read` is what was already read
/// off it.
async fn serve_h2<IO, S>(
    io: IO,
    read: Bytes,
    builder: &http2::Builder<TokioExecutor>,
    service: S,
    cfg: ConnConfig,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let activity = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(Watched { read, inner: io, activity: activity.clone() });
    let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let service = service.clone();
        let req = Request::from_http(req.map(|b| ReqBody::Incoming(Box::new(b))));
        async move { Ok::<_, Infallible>(service.call(req).await.into_http()) }
    });
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    // The connection is idle when its activity count has not moved since
    // `quiet_since`; the clock is only read at ticks, never per read/write.
    let (mut seen, mut quiet_since) = (0u64, Instant::now());
    let mut tick = tokio::time::interval((cfg.idle_timeout / 4).max(Duration::from_millis(50)));
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

/// A stream that counts its reads and writes, and first gives back the
/// bytes already read off it.
struct Watched<T> {
    read: Bytes,
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
        if !this.read.is_empty() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read[..n]);
            this.read.advance(n);
            return Poll::Ready(Ok(()));
        }
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
