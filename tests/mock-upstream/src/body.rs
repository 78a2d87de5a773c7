//! Response bodies: one buffer, or SSE events emitted frame by frame with
//! optional pacing and an abrupt disconnect.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{sleep, Sleep};

use crate::common::Events;
use crate::server::ConnCtl;

/// How long a stream about to disconnect waits so that the events already
/// produced reach the socket before the connection is dropped.
const ABORT_GRACE: Duration = Duration::from_millis(20);

/// The body of every mock response.
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    Events(Box<EventStream>),
}

/// Stream pacing and fault settings of one response.
pub(crate) struct Pacing {
    pub(crate) trickle: Duration,
    pub(crate) disconnect_after: Option<usize>,
    pub(crate) ctl: Arc<ConnCtl>,
}

pub(crate) struct EventStream {
    data: Bytes,
    ends: Vec<usize>,
    next: usize,
    pacing: Pacing,
    timer: Option<Pin<Box<Sleep>>>,
    aborting: bool,
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::Full(Some(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A `text/event-stream` response emitting `events` one frame at a time.
pub(crate) fn sse(events: Events, pacing: Pacing) -> Response<MockBody> {
    let (data, ends) = events.into_parts();
    let mut resp = Response::new(MockBody::Events(Box::new(EventStream {
        data,
        ends,
        next: 0,
        pacing,
        timer: None,
        aborting: false,
    })));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

impl EventStream {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            if let Some(timer) = &mut self.timer {
                ready!(timer.as_mut().poll(cx));
                self.timer = None;
                if self.aborting {
                    self.pacing.ctl.kill(false);
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "x-mock-disconnect-after",
                    ))));
                }
                return Poll::Ready(self.take());
            }
            if self.aborting || self.next >= self.ends.len() {
                return Poll::Ready(None);
            }
            if self.pacing.disconnect_after == Some(self.next) {
                self.aborting = true;
                self.timer = Some(Box::pin(sleep(ABORT_GRACE)));
            } else if self.next > 0 && !self.pacing.trickle.is_zero() {
                self.timer = Some(Box::pin(sleep(self.pacing.trickle)));
            } else {
                return Poll::Ready(self.take());
            }
        }
    }

    fn take(&mut self) -> Option<io::Result<Frame<Bytes>>> {
        let start = self.next.checked_sub(1).map_or(0, |i| self.ends[i]);
        let end = *self.ends.get(self.next)?;
        self.next += 1;
        Some(Ok(Frame::data(self.data.slice(start..end))))
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Events(stream) => stream.poll_event(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Events(_) => SizeHint::default(),
        }
    }
}
