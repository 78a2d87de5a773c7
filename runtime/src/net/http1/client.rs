//! A lean HTTP/1.1 client for providers, with one keep-alive pool per
//! worker (see [`crate::net::workers`]).
//!
//! The request is written and its answer read by the task that asked for it:
//! there is no connection task and no channel between the two, and whatever
//! arrives in one read is handed over at once, so streamed events that come
//! together are forwarded together. It covers what providers send:
//! `content-length`, chunked and until-close bodies, interim `1xx` answers,
//! keep-alive (HTTP/1.1 unless `connection: close`), and TLS through rustls
//! (ALPN `http/1.1`). A pooled connection the provider closed while idle is
//! noticed before it is used; a request is sent once more on a new
//! connection only when not one byte of it was written on the old one, since
//! a provider that read it may have acted on it (a retried POST bills twice).
//! Framing follows [`super::codec`], strictly: a malformed answer is a
//! provider error and its connection is never reused.
//!
//! Providers with `pool { http2 on }` use hyper's client instead.

use super::codec::{self, decode_chunked, is_event_stream, Chunk, FramingHeaders, Invalid};
use super::timer::Timer;
use crate::http::ascii::eq_ignore_case;
use crate::wire::put_decimal;
use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A header of a request to a provider, borrowed from wherever it lives
/// (no map to build: headers are only written out).
pub type Header<'a> = (&'a [u8], &'a [u8]);
use http::{Method, StatusCode, Uri};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines in a response head.
const MAX_HEADERS: usize = 100;
/// How much is read at a time.
const READ_SIZE: usize = 16 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect: {0}")]
    Connect(io::Error),
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the connection closed before the answer was complete")]
    Closed,
    #[error("no answer before the deadline")]
    TimedOut,
    #[error("invalid HTTP answer: {0}")]
    Protocol(&'static str),
    #[error("the answer is larger than the limit")]
    TooLarge,
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Protocol(e.0)
    }
}

/// A provider's HTTP/1.1 client.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    host: HeaderValue,
    connect_to: String,
    tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    connect_timeout: Duration,
    max_idle: usize,
    idle_timeout: Duration,
    /// Idle connections, one pool per worker plus the control plane's.
    pools: Vec<Mutex<Vec<Idle>>>,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The pool settings of a client.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub max_idle: usize,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Client {
    /// A client for the origin of `base` (`http://` or `https://`); `tls`
    /// is the configuration used for `https`.
    pub fn new(base: &Uri, pool: PoolConfig, tls: Arc<rustls::ClientConfig>) -> Result<Client, String> {
        let authority = base.authority().ok_or_else(|| format!("`{base}` has no host"))?;
        let https = match base.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("`{base}` is not an http(s) URL")),
        };
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let connect_to = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let tls = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| format!("`{host}` is not a valid TLS server name"))?;
            Some((TlsConnector::from(tls), name))
        } else {
            None
        };
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|_| format!("`{authority}` is not a valid host"))?;
        let pools = (0..=crate::net::workers::count()).map(|_| Mutex::new(Vec::new())).collect();
        Ok(Client {
            shared: Arc::new(Shared {
                host,
                connect_to,
                tls,
                connect_timeout: pool.connect_timeout,
                max_idle: pool.max_idle,
                idle_timeout: pool.idle_timeout,
                pools,
            }),
        })
    }

    /// Sends a request and reads the head of its answer; `keep` says which
    /// answer headers to return. Everything, the body included, must be
    /// done by `deadline` (the body's can be lifted, see [`Body::set_deadline`]);
    /// the connection's own timer watches it.
    pub async fn send(
        &self,
        method: &Method,
        target: &str,
        headers: &[Header<'_>],
        body: Bytes,
        keep: fn(&str) -> bool,
        deadline: Instant,
    ) -> Result<Answer, Error> {
        let head = encode_head(method, target, &self.shared.host, headers, body.len());
        let mut retried = false;
        loop {
            let (mut conn, reused) = match self.shared.checkout() {
                Some(c) => (c, true),
                // Boxed: connecting is rare, and its future is large.
                None => (Box::pin(self.shared.connect(deadline)).await?, false),
            };
            match conn.exchange(&head, &body, method, keep, deadline).await {
                Ok(Head { status, headers, framing, reusable, event_stream }) => {
                    let body = AnswerBody {
                        conn: Some(conn),
                        framing,
                        reusable,
                        shared: self.shared.clone(),
                        deadline: Some(deadline),
                    };
                    return Ok(Answer { status, headers, event_stream, body });
                }
                Err(Exchange { error, sent: false }) if reused && !retried => {
                    tracing::debug!(target: "hapax::upstream", error = %error, "stale pooled connection; retrying on a new one");
                    retried = true;
                }
                Err(Exchange { error, .. }) => return Err(error),
            }
        }
    }
}

impl Shared {
    fn pool(&self) -> &Mutex<Vec<Idle>> {
        let i = crate::net::workers::index().min(self.pools.len() - 1);
        &self.pools[i]
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<Conn> {
        let mut pool = self.pool().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(idle) = pool.pop() {
            if idle.since.elapsed() < self.idle_timeout && idle.conn.looks_open() {
                return Some(idle.conn);
            }
        }
        None
    }

    fn put(&self, conn: Conn) {
        let mut pool = self.pool().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < self.max_idle {
            pool.push(Idle { conn, since: Instant::now() });
        }
    }

    async fn connect(&self, deadline: Instant) -> Result<Conn, Error> {
        let connect = async {
            let tcp = TcpStream::connect(&self.connect_to).await?;
            tcp.set_nodelay(true)?;
            let io = match &self.tls {
                None => Io::Plain(tcp),
                Some((connector, name)) => Io::Tls(Box::new(connector.connect(name.clone(), tcp).await?)),
            };
            Ok(Conn { io, buf: BytesMut::new(), timer: Timer::new() })
        };
        let limit = (Instant::now() + self.connect_timeout).min(deadline);
        match tokio::time::timeout_at(limit, connect).await {
            Ok(r) => r.map_err(Error::Connect),
            Err(_) if limit == deadline => Err(Error::TimedOut),
            Err(_) => Err(Error::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
        }
    }
}

/// An answer's head and its body.
pub struct Answer {
    pub status: StatusCode,
    /// The headers `keep` chose.
    pub headers: HeaderMap,
    /// `content-type: text/event-stream`.
    pub event_stream: bool,
    pub body: AnswerBody,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

struct Conn {
    io: Io,
    /// Bytes read and not yet used.
    buf: BytesMut,
    timer: Timer,
}

/// A failed exchange, and whether any of the answer had arrived.
struct Exchange {
    error: Error,
    /// Some of the request was written: the provider may have read it.
    sent: bool,
}

impl Conn {
    /// An idle connection has nothing to read; if the socket says it has,
    /// the provider closed it (or broke the protocol).
    fn looks_open(&self) -> bool {
        let tcp = match &self.io {
            Io::Plain(t) => t,
            Io::Tls(t) => t.get_ref().0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match tcp.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    async fn exchange(
        &mut self,
        head: &[u8],
        body: &[u8],
        method: &Method,
        keep: fn(&str) -> bool,
        deadline: Instant,
    ) -> Result<Head, Exchange> {
        let mut wrote = false;
        // A late provider is not a stale connection: no second try.
        self.write_all(head, body, deadline, &mut wrote)
            .await
            .map_err(|error| Exchange { sent: wrote || matches!(error, Error::TimedOut), error })?;
        let sent = |error: Error| Exchange { error, sent: true };
        loop {
            if let Some(parsed) = parse_head(&mut self.buf, method, keep).map_err(sent)? {
                return Ok(parsed);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(sent(Error::Protocol("the response head is too large")));
            }
            let n = std::future::poll_fn(|cx| self.poll_read(cx, Some(deadline))).await.map_err(sent)?;
            if n == 0 {
                return Err(sent(Error::Closed));
            }
        }
    }

    /// Reads what is there; when nothing is, waits until `deadline`.
    fn poll_read(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>) -> Poll<Result<usize, Error>> {
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        let read = match &mut self.io {
            Io::Plain(t) => tokio_util::io::poll_read_buf(Pin::new(t), cx, &mut self.buf),
            Io::Tls(t) => tokio_util::io::poll_read_buf(Pin::new(t.as_mut()), cx, &mut self.buf),
        };
        match (read, deadline) {
            (Poll::Ready(r), _) => Poll::Ready(r.map_err(Error::Io)),
            (Poll::Pending, Some(d)) => self.timer.poll_until(cx, d).map(|()| Err(Error::TimedOut)),
            (Poll::Pending, None) => Poll::Pending,
        }
    }

    /// Writes the head and the body, in as few system calls as the socket
    /// allows, by `deadline`.
    /// `wrote` is set once any byte was taken.
    async fn write_all(&mut self, head: &[u8], body: &[u8], deadline: Instant, wrote: &mut bool) -> Result<(), Error> {
        let (mut h, mut b) = (head, body);
        while !h.is_empty() || !b.is_empty() {
            let n = std::future::poll_fn(|cx| {
                let bufs = [IoSlice::new(h), IoSlice::new(b)];
                match Pin::new(&mut self.io).poll_write_vectored(cx, &bufs) {
                    Poll::Ready(r) => Poll::Ready(r.map_err(Error::Io)),
                    Poll::Pending => self.timer.poll_until(cx, deadline).map(|()| Err(Error::TimedOut)),
                }
            })
            .await?;
            if n == 0 {
                return Err(Error::Io(io::ErrorKind::WriteZero.into()));
            }
            *wrote = true;
            let from_head = n.min(h.len());
            h = &h[from_head..];
            b = &b[n - from_head..];
        }
        std::future::poll_fn(|cx| match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r.map_err(Error::Io)),
            Poll::Pending => self.timer.poll_until(cx, deadline).map(|()| Err(Error::TimedOut)),
        })
        .await
    }
}

fn encode_head(method: &Method, target: &str, host: &HeaderValue, headers: &[Header<'_>], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + headers.len() * 48);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(if target.is_empty() { b"/" } else { target.as_bytes() });
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    if len > 0 || *method == Method::POST {
        out.extend_from_slice(b"\r\ncontent-length: ");
        put_decimal(&mut out, len as u64);
    }
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked(Chunk),
    /// Until the provider closes the connection.
    Close,
    Done,
}

/// A response head, as the client uses it.
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// The headers `keep` chose.
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// Whether the connection can serve another request after this one.
    pub(crate) reusable: bool,
    /// `content-type: text/event-stream`.
    pub(crate) event_stream: bool,
}

/// Parses a complete response head off the front of `buf`, skipping
/// interim (`1xx`) answers; `None` until the head is complete.
pub(crate) fn parse_head(buf: &mut BytesMut, method: &Method, keep: fn(&str) -> bool) -> Result<Option<Head>, Error> {
    loop {
        // Uninitialised: zeroing a hundred slots costs more than parsing.
        let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut slots)
        {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(Error::Protocol("too many headers")),
            Err(_) => return Err(Error::Protocol("malformed response head")),
        };
        let code = resp.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| Error::Protocol("invalid status code"))?;
        if status.is_informational() && code != 101 {
            buf.advance(len);
            continue;
        }
        if code == 101 {
            return Err(Error::Protocol("unexpected protocol switch"));
        }
        let http11 = resp.version == Some(1);
        let mut framing = FramingHeaders::default();
        let mut event_stream = false;
        let mut headers = HeaderMap::new();
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            // A malformed framing header is a provider error, and the
            // connection is dropped with the error, never reused.
            if !framing.read(name, h.value)? && eq_ignore_case(name, b"content-type") {
                event_stream = is_event_stream(h.value);
            }
            if keep(h.name) {
                if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(h.value)) {
                    headers.append(n, v);
                }
            }
        }
        buf.advance(len);
        let bodiless = *method == Method::HEAD || code == 204 || code == 304;
        let keep_alive = framing.persistent(http11);
        let framing = match framing.response(bodiless)? {
            codec::Framing::None => Framing::Done,
            codec::Framing::Length(n) => Framing::Length(n),
            codec::Framing::Chunked => Framing::Chunked(Chunk::default()),
            codec::Framing::Close => Framing::Close,
        };
        let reusable = keep_alive && framing != Framing::Close;
        return Ok(Some(Head { status, headers, framing, reusable, event_stream }));
    }
}

/// Takes what `buf` holds of the body; `Ok(None)` when it needs more input.
/// Sets `framing` to `Done` at the end.
pub(crate) fn decode(buf: &mut BytesMut, framing: &mut Framing) -> Result<Option<Bytes>, Error> {
    match framing {
        Framing::Done => Ok(None),
        Framing::Close => Ok((!buf.is_empty()).then(|| buf.split().freeze())),
        Framing::Length(rest) => {
            if buf.is_empty() {
                return Ok(None);
            }
            let n = (*rest).min(buf.len() as u64) as usize;
            *rest -= n as u64;
            if *rest == 0 {
                *framing = Framing::Done;
            }
            Ok(Some(buf.split_to(n).freeze()))
        }
        Framing::Chunked(state) => {
            let mut data = BytesMut::new();
            if decode_chunked(buf, state, &mut data)? {
                *framing = Framing::Done;
            }
            Ok((!data.is_empty()).then(|| data.freeze()))
        }
    }
}

/// A response body, read as it arrives. Read to the end, its connection goes
/// back to the pool; dropped before, the connection is closed.
pub struct AnswerBody {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    shared: Arc<Shared>,
    /// When the rest of the body must have arrived, if ever.
    deadline: Option<Instant>,
}

impl AnswerBody {
    /// Sets when the rest of the body must have arrived; `None` lifts the
    /// limit (a stream watched by its reader instead).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The next piece of the body: everything that arrived in one read.
    pub fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            let Some(conn) = self.conn.as_mut() else { return Poll::Ready(None) };
            match decode(&mut conn.buf, &mut self.framing) {
                Err(e) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(Some(data)) => {
                    if self.framing == Framing::Done {
                        self.release();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(None) if self.framing == Framing::Done => {
                    self.release();
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            match conn.poll_read(cx, self.deadline) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(0)) => {
                    self.conn = None;
                    return Poll::Ready(if self.framing == Framing::Close { None } else { Some(Err(Error::Closed)) });
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        // Most answers arrive in one piece, kept as it is; when more come,
        // all are gathered into one buffer.
        let (mut first, mut all) = (None::<Bytes>, BytesMut::new());
        while let Some(data) = std::future::poll_fn(|cx| self.poll_data(cx)).await.transpose()? {
            let have = if all.is_empty() { first.as_ref().map_or(0, Bytes::len) } else { all.len() };
            if have + data.len() > limit {
                return Err(Error::TooLarge);
            }
            match first.take() {
                None if all.is_empty() => first = Some(data),
                Some(head) => {
                    all.extend_from_slice(&head);
                    all.extend_from_slice(&data);
                }
                None => all.extend_from_slice(&data),
            }
        }
        Ok(first.unwrap_or_else(|| all.freeze()))
    }

    /// The body is complete: the connection can serve another request if
    /// the provider keeps it and nothing unread is left on it.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.reusable && conn.buf.is_empty() {
                self.shared.put(conn);
            }
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Io::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Io::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_write_vectored(cx, bufs),
            Io::Tls(t) => Pin::new(t.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_flush(cx),
            Io::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(t) => Pin::new(t).poll_shutdown(cx),
            Io::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::codec::MAX_LINE;
    use super::*;
    use proptest::prelude::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn keep_all(_: &str) -> bool {
        true
    }

    fn head(text: &str) -> Result<Option<(StatusCode, HeaderMap, Framing, bool)>, Error> {
        let mut buf = BytesMut::from(text);
        parse_head(&mut buf, &Method::POST, keep_all).map(|h| h.map(|h| (h.status, h.headers, h.framing, h.reusable)))
    }

    #[test]
    fn framing_follows_the_head() {
        let (s, h, f, reuse) =
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Ratelimit-Remaining: 9\r\n\r\n").unwrap().unwrap();
        assert_eq!((s, f, reuse), (StatusCode::OK, Framing::Length(5), true));
        assert_eq!(h.get("x-ratelimit-remaining").unwrap(), "9");
        let (_, _, f, reuse) = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap().unwrap();
        assert_eq!((f, reuse), (Framing::Chunked(Chunk::default()), true));
        // Codings we do not decode (we never ask for them) are provider errors.
        assert!(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").is_err());
        let (_, _, f, reuse) =
            head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap();
        assert_eq!((f, reuse), (Framing::Length(2), false));
        let (_, _, _, reuse) = head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap();
        assert!(!reuse);
        let (_, _, _, reuse) =
            head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n").unwrap().unwrap();
        assert!(reuse);
        let (s, _, f, _) = head("HTTP/1.1 204 No Content\r\n\r\n").unwrap().unwrap();
        assert_eq!((s.as_u16(), f), (204, Framing::Done));
        let (_, _, f, reuse) = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!((f, reuse), (Framing::Close, false));
    }

    #[test]
    fn interim_answers_are_skipped_and_partial_heads_wait() {
        let (s, _, f, _) =
            head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!((s.as_u16(), f), (201, Framing::Done));
        assert!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn bad_heads_are_refused() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        // Strict, as the server is: one length, digits only, never beside
        // transfer-encoding.
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(head("garbage\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 101 Switching Protocols\r\n\r\n").is_err());
    }

    #[test]
    fn chunked_errors_are_protocol_errors() {
        for bad in ["zz\r\n", "5\r\nabcdefgh\r\n", "11111111111111111\r\n"] {
            let mut buf = BytesMut::from(bad);
            let mut f = Framing::Chunked(Chunk::default());
            assert!(decode(&mut buf, &mut f).is_err(), "{bad:?}");
        }
        let mut buf = BytesMut::from(&[b'1'; MAX_LINE + 10][..]);
        assert!(decode(&mut buf, &mut Framing::Chunked(Chunk::default())).is_err());
    }

    /// Encodes `body` in chunks of the given sizes, with an extension and a
    /// trailer for good measure.
    fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes.get(i).copied().unwrap_or(7).clamp(1, rest.len());
            i += 1;
            if i % 3 == 0 {
                out.extend_from_slice(format!("{n:X};ext=1\r\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            }
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
        out
    }

    proptest! {
        /// Whatever the chunk sizes and however the bytes arrive, the
        /// decoder gives back the body, then stops.
        #[test]
        fn chunked_decoding_survives_any_split(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..64, 0..20),
            cuts in proptest::collection::vec(1usize..50, 1..40),
        ) {
            let wire = chunked(&body, &sizes);
            let mut framing = Framing::Chunked(Chunk::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            let mut cut = cuts.iter().cycle();
            while at < wire.len() {
                let n = (*cut.next().unwrap()).min(wire.len() - at);
                buf.extend_from_slice(&wire[at..at + n]);
                at += n;
                while let Some(data) = decode(&mut buf, &mut framing).unwrap() {
                    got.extend_from_slice(&data);
                }
            }
            prop_assert_eq!(framing, Framing::Done);
            prop_assert_eq!(got, body);
            prop_assert!(buf.is_empty());
        }

        /// Random bytes never panic the head parser or the decoder.
        #[test]
        fn random_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = parse_head(&mut buf, &Method::POST, keep_all);
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = decode(&mut buf, &mut Framing::Chunked(Chunk::default()));
        }
    }

    fn client(addr: std::net::SocketAddr, scheme: &str, tls: Arc<rustls::ClientConfig>) -> Client {
        let uri: Uri = format!("{scheme}://localhost:{}", addr.port()).parse().unwrap();
        let pool =
            PoolConfig { max_idle: 8, idle_timeout: Duration::from_secs(60), connect_timeout: Duration::from_secs(2) };
        Client::new(&uri, pool, tls).unwrap()
    }

    fn plain() -> Arc<rustls::ClientConfig> {
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        )
    }

    /// Reads one request head and its `content-length` body.
    async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
        let mut data = Vec::new();
        let mut byte = [0u8; 1];
        while !data.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            data.push(byte[0]);
        }
        let text = String::from_utf8(data).ok()?;
        let len = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.ok()?;
        Some(text + &String::from_utf8_lossy(&body))
    }

    #[tokio::test]
    async fn reuses_connections_and_retries_a_stale_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut served = 0;
                    while let Some(req) = read_request(&mut s).await {
                        assert!(req.starts_with("POST /v1/x HTTP/1.1\r\nhost: localhost:"), "{req}");
                        assert!(req.ends_with("{\"a\":1}"), "{req}");
                        let body = "{\"ok\":true}";
                        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        s.write_all(answer.as_bytes()).await.unwrap();
                        served += 1;
                        // The first connection closes after two answers,
                        // without saying so: the pool must notice or retry.
                        if n == 0 && served == 2 {
                            return;
                        }
                    }
                });
            }
        });
        let c = client(addr, "http", plain());
        for _ in 0..5 {
            let r =
                c.send(&Method::POST, "/v1/x", &[], Bytes::from_static(b"{\"a\":1}"), keep_all, soon()).await.unwrap();
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body.collect(1024).await.unwrap(), "{\"ok\":true}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Two answers on the first connection, three on the second.
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// A provider that reads a request and closes without answering may
    /// have acted on it: the request is not sent again.
    #[tokio::test]
    async fn a_request_the_provider_may_have_read_is_not_sent_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let count = count.clone();
                tokio::spawn(async move {
                    while read_request(&mut s).await.is_some() {
                        // The second request on a connection is read, then
                        // the connection closes with no answer.
                        if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 1 {
                            return;
                        }
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        s.write_all(answer.as_bytes()).await.unwrap();
                    }
                });
            }
        });
        let c = client(addr, "http", plain());
        let send = || c.send(&Method::POST, "/v1/x", &[], Bytes::from_static(b"{\"a\":1}"), keep_all, soon());
        let r = send().await.unwrap();
        assert_eq!(r.body.collect(1024).await.unwrap(), "ok");
        assert!(matches!(send().await, Err(Error::Closed)), "the second request fails");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2, "and reached the provider once");
    }

    #[tokio::test]
    async fn streams_chunks_as_they_arrive_and_refuses_a_cut_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            read_request(&mut s).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            s.write_all(b"7\r\ndata: 1\r\n7\r\ndata: 2\r\n").await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.write_all(b"7\r\ndata: 3\r\n").await.unwrap();
            // Cut off: no last chunk.
        });
        let c = client(addr, "http", plain());
        let r = c.send(&Method::POST, "/", &[], Bytes::new(), keep_all, soon()).await.unwrap();
        assert_eq!(r.headers.get("content-type").unwrap(), "text/event-stream");
        assert!(r.event_stream);
        let mut body = r.body;
        let first = std::future::poll_fn(|cx| body.poll_data(cx)).await.unwrap().unwrap();
        // Both events that arrived together come as one piece.
        assert_eq!(first, "data: 1data: 2");
        let next = std::future::poll_fn(|cx| body.poll_data(cx)).await.unwrap().unwrap();
        assert_eq!(next, "data: 3");
        assert!(matches!(std::future::poll_fn(|cx| body.poll_data(cx)).await, Some(Err(Error::Closed))));
    }

    #[tokio::test]
    async fn the_deadline_bounds_the_head_and_the_body_until_lifted() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            // The first connection never answers; the others send the head
            // at once and the body's end 300 ms later.
            let (mut silent, _) = listener.accept().await.unwrap();
            read_request(&mut silent).await.unwrap();
            loop {
                let (mut slow, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    while read_request(&mut slow).await.is_some() {
                        slow.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab").await.unwrap();
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        if slow.write_all(b"cd").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let c = client(addr, "http", plain());
        let short = || Instant::now() + Duration::from_millis(100);
        let started = Instant::now();
        let e = c.send(&Method::POST, "/", &[], Bytes::new(), keep_all, short()).await.err().unwrap();
        assert!(matches!(e, Error::TimedOut), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The body must also arrive in time.
        let r = c.send(&Method::POST, "/", &[], Bytes::new(), keep_all, short()).await.unwrap();
        assert!(matches!(r.body.collect(1024).await, Err(Error::TimedOut)));
        // Lifted, the body may take as long as it takes.
        let mut r = c.send(&Method::POST, "/", &[], Bytes::new(), keep_all, short()).await.unwrap();
        r.body.set_deadline(None);
        assert_eq!(r.body.collect(1024).await.unwrap(), "abcd");
    }

    #[tokio::test]
    async fn speaks_tls() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = ck.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = acceptor.accept(s).await.unwrap();
            while read_request(&mut s).await.is_some() {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
                s.flush().await.unwrap();
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let c = client(addr, "https", Arc::new(cfg));
        for _ in 0..3 {
            let r =
                c.send(&Method::POST, "/v1/x", &[], Bytes::from_static(b"{\"a\":1}"), keep_all, soon()).await.unwrap();
            assert_eq!(r.body.collect(16).await.unwrap(), "ok");
        }
    }
}
