//! Streaming answers: upstream events are forwarded as they arrive, one
//! frame per upstream chunk (or per translated event), never buffering the
//! whole answer. Usage is read on the side. When the client goes away hyper
//! drops this body, which drops the upstream response and so cancels the
//! upstream request. A stream that breaks or stalls ends with an error event
//! in the client's format.

use crate::account::Record;
use crate::error::ClientApi;
use crate::outbound::UpStream;
use crate::translate::{stream_error_frame, StreamConv};
use crate::wire::SseParser;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub struct SseBody {
    upstream: UpStream,
    parser: SseParser,
    conv: StreamConv,
    out: VecDeque<Bytes>,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    api: ClientApi,
    ended: bool,
    record: Record,
}

impl SseBody {
    pub fn new(upstream: UpStream, conv: StreamConv, api: ClientApi, idle: Duration, record: Record) -> Self {
        SseBody {
            upstream,
            parser: SseParser::new(),
            conv,
            out: VecDeque::new(),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            api,
            ended: false,
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
        loop {
            if let Some(frame) = this.out.pop_front() {
                if this.record.ttft.is_none() {
                    this.record.ttft = Some(this.record.start.elapsed());
                }
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            if this.ended {
                this.record.usage = this.conv.usage().or(this.record.usage);
                this.record.finish();
                return Poll::Ready(None);
            }
            match this.upstream.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.timer.as_mut().reset(Instant::now() + this.idle);
                    if let Err(e) = this.conv.on_chunk(&mut this.parser, chunk, &mut this.out) {
                        tracing::warn!(target: "hapax::stream", error = %e, "cannot translate the upstream stream");
                        this.broken("protocol", "the provider sent an invalid stream event");
                    }
                }
                Poll::Ready(Some(Err(()))) => this.broken("reset", "the provider broke off the stream"),
                Poll::Ready(None) => {
                    this.conv.finish(&mut this.parser, &mut this.out);
                    this.ended = true;
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        this.broken("timeout", "the provider stopped sending the stream");
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (hyper drops the body
        // of a closed connection), which also drops the upstream request.
        if !self.ended {
            self.record.error = Some("client_closed");
        }
    }
}
