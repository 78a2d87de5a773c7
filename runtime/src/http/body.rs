//! The response body type: a whole buffer (most answers) or a stream that
//! forwards upstream events as they arrive. Neither fails: a stream that
//! breaks ends with an error event in the client's format instead.

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// A streaming body that cannot fail.
pub type DynBody = Pin<Box<dyn HttpBody<Data = Bytes, Error = Infallible> + Send>>;

/// The body of every response the gateway sends.
pub struct Body(Inner, Option<AfterSent>);

/// Something dropped once the body was sent (the request's record, which
/// finishes itself then). Boxed already by its maker, so a body stays small.
pub type AfterSent = Box<dyn Send>;

enum Inner {
    Full(Option<Bytes>),
    Stream(DynBody),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let b = bytes.into();
        Body(Inner::Full(if b.is_empty() { None } else { Some(b) }), None)
    }
    pub fn empty() -> Self {
        Body(Inner::Full(None), None)
    }
    pub fn stream(body: impl HttpBody<Data = Bytes, Error = Infallible> + Send + 'static) -> Self {
        Body(Inner::Stream(Box::pin(body)), None)
    }

    /// Finishes the request's record when the body is dropped, which is
    /// after it was sent: the log line and the metrics are not in the way
    /// of the answer.
    pub fn finish_after(&mut self, finish: AfterSent) {
        self.1 = Some(finish);
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().0 {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream(s) => s.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Inner::Full(b) => b.is_none(),
            Inner::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream(s) => s.size_hint(),
        }
    }
}

/// Request body bytes held in memory over all connections, and the most
/// there may be (`gateway { max_body_memory }`). A body holds its bytes
/// from when they are read until its request is answered.
static HELD: AtomicU64 = AtomicU64::new(0);
static MOST: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets how many request body bytes may be held at once.
pub fn set_body_memory_limit(most: u64) {
    MOST.store(most, Ordering::Relaxed);
}

/// The request body bytes held at once now, over all connections.
pub fn body_memory_held() -> u64 {
    HELD.load(Ordering::Relaxed)
}

/// A body's share of [`HELD`], given back when it is dropped.
#[derive(Debug, Default)]
pub struct BodyMemory(u64);

impl BodyMemory {
    /// Holds `n` more bytes; false (holding nothing more) when that would
    /// pass the limit.
    pub fn grow(&mut self, n: u64) -> bool {
        let most = MOST.load(Ordering::Relaxed);
        let grown = HELD.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| {
            held.checked_add(n).filter(|total| *total <= most)
        });
        if grown.is_ok() {
            self.0 += n;
        }
        grown.is_ok()
    }

    /// Holds at least `total` bytes in all.
    pub fn grow_to(&mut self, total: u64) -> bool {
        total <= self.0 || self.grow(total - self.0)
    }
}

impl Drop for BodyMemory {
    fn drop(&mut self) {
        if self.0 > 0 {
            HELD.fetch_sub(self.0, Ordering::AcqRel);
        }
    }
}

/// A request's body as the request path receives it.
pub enum ReqBody {
    /// Read whole by our HTTP/1.1 server, within the body limit, with the
    /// memory it holds.
    Read(Bytes, BodyMemory),
    /// Our HTTP/1.1 server could not read it.
    Failed(BodyFailure),
    /// Still to be read from an HTTP/2 stream.
    /// Boxed: it is much larger than the others, and the request is moved
    /// several times.
    Incoming(Box<hyper::body::Incoming>),
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// Larger than the body limit (it was not read).
    TooLarge,
    /// It did not arrive in time.
    Timeout,
    /// Its framing is broken.
    Malformed,
    /// The gateway holds as many request bodies as `max_body_memory` lets it.
    Busy,
}

impl Body {
    /// The whole buffer of a body that is not a stream, and what is to be
    /// dropped once it was sent (`Err` gives the stream back).
    pub fn into_full(self) -> Result<(Option<Bytes>, Option<AfterSent>), DynBody> {
        match self.0 {
            Inner::Full(b) => Ok((b, self.1)),
            Inner::Stream(s) => Err(s),
        }
    }
}
