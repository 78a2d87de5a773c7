//! Streaming answers: upstream events are forwarded as they arrive, never
//! buffering the whole answer. What has already arrived when the client side
//! asks for more goes out as one frame (one write), so a burst of events
//! costs one system call, and nothing waits for more to come. Usage is read
//! on the side. When the client goes away its connection (ours for
//! HTTP/1.1, hyper's for HTTP/2) drops this body, which drops the upstream
//! response and so cancels the upstream request. A stream that breaks or
//! stalls ends with an error event in the client's format.

use crate::http::error::stream_error_frame;
use crate::telemetry::record::Record;
use crate::upstream::call::UpStream;
use crate::upstream::translate::StreamConv;
use crate::wire::Api;
use crate::wire::SseParser;
use bytes::{Bytes, BytesMut};
use hyper::body::{Body as HttpBody, Frame};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A frame grows from ready chunks up to this size.
const MAX_FRAME: usize = 64 * 1024;
/// How many times in a row the body yields to the upstream connection,
/// without new data, before it sends what it has.
const YIELDS: u8 = 2;

pub struct SseBody {
    upstream: UpStream,
    parser: SseParser,
    conv: StreamConv,
    out: VecDeque<Bytes>,
    idle: Duration,
    /// When the upstream last sent something; the timer is only moved when it
    /// fires, so a busy stream does not touch the timer wheel per chunk.
    last: Instant,
    yields: u8,
    timer: Pin<Box<Sleep>>,
    api: Api,
    ended: bool,
    /// The bytes of text delivered, counted when a limit charges for them.
    delivered: Option<u64>,
    record: Record,
}

impl SseBody {
    /// `max_event` bounds a line or an event of the provider's stream.
    pub fn new(
        upstream: UpStream,
        conv: StreamConv,
        api: Api,
        idle: Duration,
        max_event: usize,
        record: Record,
    ) -> Self {
        SseBody {
            upstream,
            parser: SseParser::with_limit(max_event),
            conv,
            out: VecDeque::new(),
            idle,
            last: Instant::now(),
            yields: 0,
            timer: Box::pin(tokio::time::sleep(idle)),
            api,
            ended: false,
            delivered: (!record.grants.is_empty()).then_some(0),
            record,
        }
    }

    fn broken(&mut self, why: &'static str, message: &str) {
        self.out.push_back(stream_error_frame(self.api, message));
        self.ended = true;
        self.record.error = Some(why);
    }
}

impl HttpBody for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        // Take what the upstream has ready, up to a frame's worth.
        while !this.ended && this.out.iter().map(Bytes::len).sum::<usize>() < MAX_FRAME {
            match this.upstream.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.yields = 0;
                    this.last = Instant::now();
                    if let Err(e) = this.conv.on_chunk(&mut this.parser, chunk, &mut this.out) {
                        tracing::warn!(target: "hapax::stream", error = %e, "cannot translate the upstream stream");
                        this.broken("protocol", "the provider sent an invalid stream event");
                    }
                }
                Poll::Ready(Some(Err(_))) => this.broken("reset", "the provider broke off the stream"),
                Poll::Ready(None) => {
                    this.conv.finish(&mut this.parser, &mut this.out);
                    this.ended = true;
                }
                Poll::Pending => {
                    if !this.out.is_empty() {
                        if this.yields < YIELDS && this.upstream.piecewise() {
                            // hyper's connection hands over one chunk at a
                            // time: let it run again in case it already holds
                            // the next one (a yield, not a wait).
                            this.yields += 1;
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        break;
                    }
                    if this.timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let deadline = this.last + this.idle;
                    if deadline > Instant::now() {
                        // Data came since the timer was set: wait the rest.
                        this.timer.as_mut().reset(deadline);
                        continue;
                    }
                    this.broken("timeout", "the provider stopped sending the stream");
                }
            }
        }
        if let Some(frame) = coalesce(&mut this.out) {
            if this.record.ttft.is_none() {
                this.record.ttft = Some(this.record.start.elapsed());
            }
            if let Some(d) = &mut this.delivered {
                *d += crate::wire::delivered_text(&frame);
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        this.record.usage = this.conv.usage().or(this.record.usage);
        this.record.delivered = this.delivered.map(|d| d.div_ceil(4));
        this.record.finish();
        Poll::Ready(None)
    }
}

/// The pending frames as one buffer.
fn coalesce(out: &mut VecDeque<Bytes>) -> Option<Bytes> {
    match out.len() {
        0 => None,
        1 => out.pop_front(),
        _ => {
            let mut buf = BytesMut::with_capacity(out.iter().map(Bytes::len).sum());
            for b in out.drain(..) {
                buf.extend_from_slice(&b);
            }
            Some(buf.freeze())
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (its connection drops
        // the body), which also drops the upstream request.
        if !self.ended {
            self.record.error = Some("client_closed");
            self.record.usage = self.conv.usage().or(self.record.usage);
            self.record.delivered = self.delivered.map(|d| d.div_ceil(4));
        }
    }
}
