//! Our HTTP/1.1 server: one task per connection reads a request, has the
//! service answer it, writes the answer, and waits for the next request.
//!
//! - Heads are parsed with httparse; the method, target and header values
//!   are slices of the read buffer (no copy).
//! - A request body is read whole before the service is called, within the
//!   service's body limit and the idle timeout (`content-length` or chunked;
//!   `expect: 100-continue` is answered). A body that is too large, late or
//!   broken reaches the service as a [`BodyFailure`], which answers it in the
//!   client's format; the connection then closes.
//! - While the answer is being made, the connection is still read: bytes of
//!   a pipelined next request are kept, and a client that closes the
//!   connection drops the request, which cancels the provider call.
//! - Whole answers go out with `content-length` in one write; streams are
//!   chunked (close-delimited for HTTP/1.0), with everything that is ready
//!   sent in one write.
//! - Timeouts: the first head must arrive within the header timeout of the
//!   accept; a kept-alive connection may wait for its next request for the
//!   idle timeout, and once a head has begun it must complete within the
//!   header timeout; a client that reads nothing for the idle timeout is cut
//!   off. There is one timer per connection, moved only when it fires, so
//!   a busy connection does not touch the timer wheel per request.
//! - On shutdown an idle connection closes at once; one in the middle of a
//!   request finishes it, says `connection: close`, then closes.
//! - A plain connection that opens with the HTTP/2 preface is handed back
//!   to the caller for HTTP/2.

use super::codec::{self, decode_chunked, Chunk, Framing, FramingHeaders};
use super::timer::{Deadline, Timer};
use crate::http::ascii::eq_ignore_case;
use crate::http::body::{BodyFailure, BodyMemory, DynBody, ReqBody};
use crate::http::request::{Headers, Request, Span};
use crate::http::response::Response;
use crate::net::listen::{ConnConfig, Service};
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use std::future::{poll_fn, Future};
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// The longest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines in a request head.
const MAX_HEADERS: usize = 100;
/// How much room a read gets at least.
const READ_SIZE: usize = 8 * 1024;
/// The most room made at once for a declared body; more comes as it arrives.
const MAX_RESERVE: usize = 256 * 1024;
/// How much of a pipelined next request is read while an answer is made.
const MAX_AHEAD: usize = 64 * 1024;
/// Ready stream data is written once this much is waiting.
const MAX_PENDING: usize = 64 * 1024;
/// The write buffer is given back when it grew past this.
const KEEP_WBUF: usize = 256 * 1024;
/// How an HTTP/2 connection by prior knowledge opens.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a connection ended.
pub enum Outcome<IO> {
    Closed,
    /// It opened with the HTTP/2 preface: serve it as HTTP/2, starting with
    /// the bytes already read.
    Http2(IO, Bytes),
}

/// Serves HTTP/1.1 on `io` until either side closes it, it times out, or
/// shutdown begins. `h2` allows the HTTP/2 preface (plain connections).
pub async fn serve<IO, S>(io: IO, service: S, cfg: ConnConfig, stop: watch::Receiver<bool>, h2: bool) -> Outcome<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
    S: Service,
{
    let mut conn = Conn {
        io,
        rbuf: BytesMut::with_capacity(READ_SIZE),
        wbuf: Vec::with_capacity(1024),
        timer: Timer::new(),
        cfg,
        stopping: stop.clone(),
        stop: Stop::new(stop),
    };
    let mut first = true;
    loop {
        let head = match conn.next_head(first, h2).await {
            Next::Head(h) => h,
            Next::Closed => return Outcome::Closed,
            Next::Http2 => return Outcome::Http2(conn.io, conn.rbuf.freeze()),
            Next::Bad(status, why) => {
                conn.refuse(status, &service.refusal(status, why)).await;
                return Outcome::Closed;
            }
        };
        first = false;
        if let Some(resp) = service.head_answer(&head.method, &head.uri, &head.headers) {
            // Its body is never read, so the connection cannot go on.
            let info = Info {
                head_only: head.method == Method::HEAD,
                http11: head.version == Version::HTTP_11,
                keep_alive: false,
            };
            let _ = conn.respond(resp, info).await;
            conn.close().await;
            return Outcome::Closed;
        }
        let Ok((body, whole)) = conn.read_body(&head, service.body_limit()).await else {
            return Outcome::Closed;
        };
        let info = Info {
            head_only: head.method == Method::HEAD,
            http11: head.version == Version::HTTP_11,
            keep_alive: head.keep_alive && whole,
        };
        let req = head.into_request(body);
        let resp = {
            let call = service.call(req);
            tokio::pin!(call);
            poll_fn(|cx| {
                if let Poll::Ready(r) = call.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                conn.poll_ahead(cx).map(|()| None)
            })
            .await
        };
        // `None`: the client left; dropping the call cancelled the request.
        let Some(resp) = resp else { return Outcome::Closed };
        match conn.respond(resp, info).await {
            Ok(true) => {}
            Ok(false) | Err(Gone) => {
                conn.close().await;
                return Outcome::Closed;
            }
        }
    }
}

/// The client closed the connection or stopped reading.
struct Gone;

/// What the request asked of the connection.
#[derive(Clone, Copy)]
struct Info {
    head_only: bool,
    http11: bool,
    keep_alive: bool,
}

// Boxing the head would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Head(Head),
    Closed,
    Http2,
    Bad(StatusCode, &'static str),
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: Headers,
    pub(crate) keep_alive: bool,
    pub(crate) framing: Framing,
    pub(crate) expect_continue: bool,
}

impl Head {
    fn into_request(self, body: ReqBody) -> Request {
        Request { method: self.method, uri: self.uri, headers: self.headers, body }
    }
}

/// Shutdown, as a future that stays registered for the connection's life.
struct Stop(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Stop {
    fn new(mut rx: watch::Receiver<bool>) -> Self {
        Stop(Some(Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })))
    }

    /// Whether shutdown has begun; otherwise the task is woken when it does.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.0 {
            None => true,
            Some(wait) => {
                if wait.as_mut().poll(cx).is_ready() {
                    self.0 = None;
                }
                self.0.is_none()
            }
        }
    }
}

struct Conn<IO> {
    io: IO,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    timer: Timer,
    cfg: ConnConfig,
    /// Whether shutdown has begun, read without registering.
    stopping: watch::Receiver<bool>,
    stop: Stop,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Conn<IO> {
    /// Reads into `rbuf`: `Ready(Ok(0))` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_SIZE / 4 {
            self.rbuf.reserve(READ_SIZE);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.rbuf)
    }

    /// Reads ahead while an answer is made: `Ready` when the client has gone.
    fn poll_ahead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.rbuf.len() >= MAX_AHEAD {
                // Enough of the next request; its bytes wait in the socket.
                return Poll::Pending;
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Waits for the next request head.
    async fn next_head(&mut self, first: bool, h2: bool) -> Next {
        // The first head counts from the accept; later ones from their first
        // byte, after an idle wait.
        let mut begun = first || !self.rbuf.is_empty();
        let mut deadline = Deadline::new(if begun { self.cfg.header_timeout } else { self.cfg.idle_timeout });
        loop {
            if !self.rbuf.is_empty() {
                if first && h2 && self.rbuf.len() <= PREFACE.len() && PREFACE.starts_with(&self.rbuf) {
                    if self.rbuf.len() == PREFACE.len() {
                        return Next::Http2;
                    }
                } else if first && h2 && self.rbuf.starts_with(PREFACE) {
                    return Next::Http2;
                } else {
                    match parse_head(&mut self.rbuf) {
                        Ok(Some(head)) => return Next::Head(head),
                        Ok(None) if self.rbuf.len() >= MAX_HEAD => {
                            return Next::Bad(
                                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                                "the request head is too large",
                            )
                        }
                        Ok(None) => {}
                        Err((status, why)) => return Next::Bad(status, why),
                    }
                }
                if !begun {
                    begun = true;
                    deadline = Deadline::new(self.cfg.header_timeout);
                }
            }
            let event = poll_fn(|cx| match self.poll_fill(cx) {
                Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(false),
                Poll::Ready(Ok(_)) => Poll::Ready(true),
                // Shutdown closes a connection between requests; the stop is
                // only looked at while there is nothing to read.
                Poll::Pending if self.rbuf.is_empty() && self.stop.poll(cx) => Poll::Ready(false),
                Poll::Pending => self.timer.poll_until(cx, deadline.get()).map(|()| false),
            })
            .await;
            if !event {
                return Next::Closed;
            }
        }
    }

    /// Reads the body the head announces. `Ok(false)` with the body when
    /// the connection cannot serve another request (the body was refused).
    async fn read_body(&mut self, head: &Head, limit: u64) -> Result<(ReqBody, bool), Gone> {
        let mut deadline = Deadline::new(self.cfg.idle_timeout);
        match head.framing {
            Framing::None => Ok((ReqBody::Read(Bytes::new(), BodyMemory::default()), true)),
            Framing::Length(n) if n > limit => Ok((ReqBody::Failed(BodyFailure::TooLarge), false)),
            Framing::Length(n) => {
                let mut held = BodyMemory::default();
                if !held.grow(n) {
                    return Ok((ReqBody::Failed(BodyFailure::Busy), false));
                }
                let n = n as usize;
                if self.rbuf.len() < n {
                    self.go_on(head).await?;
                    // Room for what is declared, up to a bound: a client
                    // that declares much and sends little holds little.
                    self.rbuf.reserve((n - self.rbuf.len()).min(MAX_RESERVE));
                }
                while self.rbuf.len() < n {
                    if !self.fill_by(&mut deadline).await? {
                        return Ok((ReqBody::Failed(BodyFailure::Timeout), false));
                    }
                }
                Ok((ReqBody::Read(self.rbuf.split_to(n).freeze(), held), true))
            }
            // Answers never come framed this way; requests are not parsed so.
            Framing::Close => Ok((ReqBody::Failed(BodyFailure::Malformed), false)),
            Framing::Chunked => {
                self.go_on(head).await?;
                // The data is gathered in one buffer as it is decoded, so the
                // body costs its size whatever its chunks.
                let (mut state, mut body, mut held) = (Chunk::default(), BytesMut::new(), BodyMemory::default());
                loop {
                    let done = match decode_chunked(&mut self.rbuf, &mut state, &mut body) {
                        Ok(done) => done,
                        Err(_) => return Ok((ReqBody::Failed(BodyFailure::Malformed), false)),
                    };
                    // A chunk that announces more than the limit is refused
                    // before its data comes.
                    let announced = body.len() as u64 + state.pending();
                    if announced > limit {
                        return Ok((ReqBody::Failed(BodyFailure::TooLarge), false));
                    }
                    if !held.grow_to(announced) {
                        return Ok((ReqBody::Failed(BodyFailure::Busy), false));
                    }
                    if done {
                        return Ok((ReqBody::Read(body.freeze(), held), true));
                    }
                    if !self.fill_by(&mut deadline).await? {
                        return Ok((ReqBody::Failed(BodyFailure::Timeout), false));
                    }
                }
            }
        }
    }

    /// Answers `expect: 100-continue` when the client waits for it.
    async fn go_on(&mut self, head: &Head) -> Result<(), Gone> {
        if head.expect_continue && self.rbuf.is_empty() {
            self.wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.write(&[]).await?;
        }
        Ok(())
    }

    /// Reads more before `deadline`: false when it passed.
    async fn fill_by(&mut self, deadline: &mut Deadline) -> Result<bool, Gone> {
        poll_fn(|cx| match self.poll_fill(cx) {
            Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(Err(Gone)),
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(true)),
            Poll::Pending => self.timer.poll_until(cx, deadline.get()).map(|()| Ok(false)),
        })
        .await
    }

    /// Writes `wbuf`, then `extra`, within the idle timeout.
    async fn write(&mut self, extra: &[u8]) -> Result<(), Gone> {
        let mut deadline = Deadline::new(self.cfg.idle_timeout);
        let (mut a, mut b) = (0, 0);
        let r = poll_fn(|cx| loop {
            let r = if a < self.wbuf.len() || b < extra.len() {
                let bufs = [IoSlice::new(&self.wbuf[a..]), IoSlice::new(&extra[b..])];
                match Pin::new(&mut self.io).poll_write_vectored(cx, &bufs) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(Gone)),
                    Poll::Ready(Ok(n)) => {
                        let from_a = n.min(self.wbuf.len() - a);
                        a += from_a;
                        b += n - from_a;
                        continue;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(Gone)),
                    Poll::Pending => Poll::Pending,
                }
            } else {
                match Pin::new(&mut self.io).poll_flush(cx) {
                    Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(Gone)),
                    Poll::Pending => Poll::Pending,
                }
            };
            return match r {
                Poll::Pending => self.timer.poll_until(cx, deadline.get()).map(|()| Err(Gone)),
                ready => ready,
            };
        })
        .await;
        self.wbuf.clear();
        if self.wbuf.capacity() > KEEP_WBUF {
            self.wbuf = Vec::with_capacity(1024);
        }
        r
    }

    /// Writes the answer. `Ok(true)` when the connection can serve another
    /// request.
    async fn respond(&mut self, resp: Response, info: Info) -> Result<bool, Gone> {
        let Response { status, headers, body } = resp;
        let keep = info.keep_alive && !*self.stopping.borrow() && !wants_close(&headers);
        // These statuses never carry a body; a HEAD answer only says its length.
        let no_body = status.is_informational() || matches!(status.as_u16(), 204 | 304);
        let bodiless = info.head_only || no_body;
        match body.into_full() {
            // `_sent` is dropped after the write.
            Ok((full, _sent)) => {
                let full = full.unwrap_or_default();
                let len = (!no_body).then_some(full.len());
                put_head(&mut self.wbuf, status, &headers, len, false, keep, info.http11);
                self.write(if bodiless { &[] } else { &full }).await?;
                Ok(keep)
            }
            Err(_) if bodiless => {
                put_head(&mut self.wbuf, status, &headers, None, false, keep, info.http11);
                self.write(&[]).await?;
                Ok(keep)
            }
            Err(mut stream) => {
                // HTTP/1.0 has no chunks: the end of the connection ends it.
                let chunked = info.http11;
                let keep = keep && chunked;
                put_head(&mut self.wbuf, status, &headers, None, chunked, keep, info.http11);
                loop {
                    match poll_fn(|cx| self.poll_stream(cx, &mut stream, chunked)).await {
                        Sent::Flush => self.write(&[]).await?,
                        Sent::End => {
                            if chunked {
                                self.wbuf.extend_from_slice(b"0\r\n\r\n");
                            }
                            self.write(&[]).await?;
                            return Ok(keep);
                        }
                        Sent::Gone => return Err(Gone),
                    }
                }
            }
        }
    }

    /// Takes what the stream has ready into `wbuf`; watches for the client
    /// leaving while it waits.
    fn poll_stream(&mut self, cx: &mut Context<'_>, stream: &mut DynBody, chunked: bool) -> Poll<Sent> {
        loop {
            match stream.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        put_chunk(&mut self.wbuf, &data, chunked);
                    }
                    if self.wbuf.len() >= MAX_PENDING {
                        return Poll::Ready(Sent::Flush);
                    }
                }
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => return Poll::Ready(Sent::End),
                Poll::Pending => break,
            }
        }
        if !self.wbuf.is_empty() {
            return Poll::Ready(Sent::Flush);
        }
        self.poll_ahead(cx).map(|()| Sent::Gone)
    }

    /// Answers a request that cannot be read, then closes.
    async fn refuse(&mut self, status: StatusCode, body: &[u8]) {
        let headers = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        put_head(&mut self.wbuf, status, &headers, Some(body.len()), false, false, true);
        if self.write(body).await.is_ok() {
            self.close().await;
        }
    }

    /// Ends our side of the connection (TLS says close_notify).
    async fn close(&mut self) {
        let mut deadline = Deadline::new(self.cfg.header_timeout);
        let _ = poll_fn(|cx| match Pin::new(&mut self.io).poll_shutdown(cx) {
            Poll::Ready(_) => Poll::Ready(()),
            Poll::Pending => self.timer.poll_until(cx, deadline.get()),
        })
        .await;
    }
}

enum Sent {
    Flush,
    End,
    Gone,
}

/// Whether the answer asks to close the connection.
fn wants_close(headers: &[(HeaderName, HeaderValue)]) -> bool {
    headers.iter().any(|(n, v)| *n == header::CONNECTION && has_token(v.as_bytes(), b"close"))
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Writes the status line and the headers: ours, then the framing ones.
fn put_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &[(HeaderName, HeaderValue)],
    len: Option<usize>,
    chunked: bool,
    keep: bool,
    http11: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        dated |= name == header::DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        codec::put_date(out);
    }
    if let Some(n) = len {
        out.extend_from_slice(b"content-length: ");
        crate::wire::put_decimal(out, n as u64);
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    } else if !http11 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends one piece of a streamed body.
fn put_chunk(out: &mut Vec<u8>, data: &[u8], chunked: bool) {
    if data.is_empty() {
        return;
    }
    if chunked {
        let mut hex = [0u8; 16];
        let mut n = data.len();
        let mut i = hex.len();
        while n > 0 {
            i -= 1;
            hex[i] = b"0123456789abcdef"[n & 15];
            n >>= 4;
        }
        out.extend_from_slice(&hex[i..]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

pub(crate) type Refusal = (StatusCode, &'static str);

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): a registered name (unreserved
/// and sub-delims, percent-encoded octets), an IPv4 address or an IP
/// literal in brackets, and an optional decimal port. Empty is allowed
/// (RFC 9112 §3.2 for targets without an authority).
fn valid_host(host: &[u8]) -> bool {
    let (name, port) = match host.first() {
        Some(b'[') => match host.iter().position(|b| *b == b']') {
            Some(end) => {
                let literal = &host[1..end];
                if literal.is_empty() || !literal.iter().all(|b| b.is_ascii_hexdigit() || b":.vV".contains(b)) {
                    return false;
                }
                (&host[..=end], &host[end + 1..])
            }
            None => return false,
        },
        _ => match host.iter().position(|b| *b == b':') {
            Some(i) => (&host[..i], &host[i..]),
            None => (host, &host[host.len()..]),
        },
    };
    let port_ok = port.is_empty() || (port.len() <= 6 && port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit));
    let name_ok = name.first() == Some(&b'[')
        || name.iter().all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(b));
    port_ok && name_ok
}

/// Parses a complete request head off the front of `buf`; `None` until it
/// is complete. The target and the headers stay slices of the buffer
/// (httparse has checked that names are tokens and values have no control
/// characters).
pub(crate) fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Refusal> {
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    // Uninitialised: zeroing a hundred slots per request costs more than
    // parsing a typical head.
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err((StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "the request has too many headers"))
        }
        Err(_) => return Err((BAD, "the request head is malformed")),
    };
    let base = buf.as_ptr() as usize;
    // Offsets into the read buffer, which stays far below 4 GiB.
    let at = |s: &[u8]| ((s.as_ptr() as usize - base) as u32, s.len() as u32);
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes()).map_err(|_| (BAD, "invalid method"))?;
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let target = at(req.path.unwrap_or("").as_bytes());
    // Where each name and value lies in the head, for after it is split off.
    let mut spans = Vec::with_capacity(req.headers.len());
    let http11 = version == Version::HTTP_11;
    let mut framing = FramingHeaders::default();
    let mut hosts = 0u32;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let (name_at, name_len) = at(name);
        let (value, value_len) = at(h.value);
        spans.push(Span { name: name_at, name_len, value, value_len });
        if framing.read(name, h.value).map_err(|e| (BAD, e.0))? {
            continue;
        }
        if eq_ignore_case(name, b"host") {
            hosts += 1;
            if !valid_host(h.value.trim_ascii()) {
                return Err((BAD, "invalid host"));
            }
        } else if eq_ignore_case(name, b"expect") {
            // HTTP/1.0 has no 100 Continue.
            expect_continue = http11 && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
        }
    }
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; one that
    // has none, or more, is refused.
    if hosts > 1 || (http11 && hosts == 0) {
        return Err((BAD, "a request needs exactly one host header"));
    }
    let keep_alive = framing.persistent(http11);
    let framing = framing.request(http11)?;
    let head = buf.split_to(len).freeze();
    let (t, tl) = (target.0 as usize, target.1 as usize);
    let Ok(uri) = Uri::from_maybe_shared(head.slice(t..t + tl)) else {
        // httparse took a target `http` refuses (`@/`): like every other
        // refusal, leave the head where it was.
        let mut whole = BytesMut::from(&head[..]);
        whole.unsplit(std::mem::take(buf));
        *buf = whole;
        return Err((BAD, "invalid target"));
    };
    let headers = Headers::new(head, spans);
    Ok(Some(Head { method, uri, version, headers, keep_alive, framing, expect_continue }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses `text` as it is.
    fn exact(text: &str) -> Result<Option<Head>, Refusal> {
        parse_head(&mut BytesMut::from(text))
    }

    /// Parses `text` with a `Host` header added after its request line
    /// (when it has a line end), so that other rules can be tried alone.
    fn head(text: &str) -> Result<Option<Head>, Refusal> {
        match text.split_once("\r\n") {
            Some((line, rest)) if line.contains(" HTTP/1.1") => exact(&format!("{line}\r\nHost: gw\r\n{rest}")),
            _ => exact(text),
        }
    }

    #[test]
    fn heads_give_method_target_headers_and_framing() {
        let mut buf = BytesMut::from(
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\nX-Team: a\r\nx-team: b\r\n\r\n{\"a\":1}GET",
        );
        let h = parse_head(&mut buf).unwrap().unwrap();
        assert_eq!(h.method, Method::POST);
        assert_eq!(h.uri.path(), "/v1/chat/completions");
        assert_eq!(h.uri.query(), Some("x=1"));
        assert_eq!(h.framing, Framing::Length(7));
        assert!(h.keep_alive);
        let teams: Vec<_> =
            h.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-team")).map(|(_, v)| v).collect();
        assert_eq!(teams, [&b"a"[..], &b"b"[..]]);
        // The body and what follows stay in the buffer.
        assert_eq!(&buf[..], b"{\"a\":1}GET");

        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.expect_continue);
        // No 100 Continue for HTTP/1.0.
        let h = head("POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n").unwrap().unwrap();
        assert!(!h.expect_continue);
        // `close` anywhere wins over `keep-alive` anywhere.
        for close in ["Connection: close\r\nConnection: keep-alive", "Connection: keep-alive, close"] {
            let h = head(&format!("GET / HTTP/1.1\r\n{close}\r\n\r\n")).unwrap().unwrap();
            assert!(!h.keep_alive, "{close}");
        }
        let h = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        assert_eq!(h.framing, Framing::None);
        let h = head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap().unwrap();
        assert!(h.keep_alive);
        let h = head("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        assert!(head("POST / HTTP/1.1\r\nContent-Le").unwrap().is_none());
    }

    #[test]
    fn ambiguous_or_broken_heads_are_refused() {
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            let (status, _) = head(bad).unwrap_err();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("x-{i}: 1\r\n")).collect();
        let (status, _) = head(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err();
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        // A coding we do not implement before `chunked`: 501.
        let (status, _) = head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap_err();
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        // Obfuscated spellings of chunked are still chunked when they are.
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding:\tChunKed \r\n\r\n").unwrap().unwrap();
        assert_eq!(h.framing, Framing::Chunked);
    }

    #[test]
    fn an_http11_request_needs_exactly_one_valid_host() {
        let bad = |text: &str| exact(text).err().map(|(s, why)| (s.as_u16(), why));
        assert_eq!(bad("GET / HTTP/1.1\r\n\r\n"), Some((400, "a request needs exactly one host header")));
        assert_eq!(bad("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").map(|b| b.0), Some(400));
        assert_eq!(bad("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").map(|b| b.0), Some(400));
        for host in ["a b", "a/b", "a@b", "a:b", "a:99999999", "[::1", "[zz]", "a:1:2", "a?b", "a#b"] {
            assert_eq!(bad(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")), Some((400, "invalid host")), "{host}");
        }
        for host in ["gw", "127.0.0.1:8080", "[::1]:443", "api.example.com", "x-y.z_w~1", ""] {
            assert!(exact(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).is_ok(), "{host}");
        }
        // HTTP/1.0 may leave it out.
        assert!(exact("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
    }

    #[test]
    fn answers_carry_their_framing() {
        let headers = [
            (HeaderName::from_static("x-a"), HeaderValue::from_static("1")),
            (header::CONTENT_LENGTH, HeaderValue::from_static("999")),
        ];
        let mut out = Vec::new();
        put_head(&mut out, StatusCode::OK, &headers, Some(12345), false, true, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: "), "{text}");
        assert!(text.ends_with(" GMT\r\ncontent-length: 12345\r\n\r\n"), "{text}");
        let mut out = Vec::new();
        put_head(&mut out, StatusCode::OK, &headers, None, true, false, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("transfer-encoding: chunked\r\nconnection: close\r\n\r\n"), "{text}");
        let mut out = Vec::new();
        put_chunk(&mut out, &[b'x'; 300], true);
        assert!(out.starts_with(b"12c\r\nxxx"));
        assert!(out.ends_with(b"x\r\n"));
    }

    proptest! {
        /// Random bytes never panic the head parser.
        #[test]
        fn random_heads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_head(&mut BytesMut::from(&bytes[..]));
        }

        /// A valid head parses however its header values look.
        #[test]
        fn any_header_value_round_trips(value in "[ -~]{0,40}") {
            let text = format!("GET / HTTP/1.1\r\nhost: gw\r\nx-v: {value}\r\n\r\n");
            let h = parse_head(&mut BytesMut::from(text.as_str())).unwrap().unwrap();
            prop_assert_eq!(h.headers.get("x-v").unwrap(), value.trim().as_bytes());
        }
    }
}
