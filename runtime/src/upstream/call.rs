//! One attempt against one provider: build the request in the provider's
//! format (URL, authentication, body), send it on the provider's pooled
//! client within the deadline, and classify what comes back. The mock
//! provider answers here too, without a network.

use crate::http::error::GatewayError;
use crate::http::ingress::Ingress;
use crate::upstream::provider::{BodyError, Header, UpBody, Upstream};
use crate::wire::Api;
use bytes::Bytes;
use futures_util::Stream;
use http::header::{self, HeaderMap, HeaderValue};
use http::Method;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::Instant;

/// A successful answer from a provider.
pub struct Reply {
    /// The API the body is in.
    pub api: Api,
    /// Headers worth passing to the client (rate limit information).
    pub headers: HeaderMap,
    pub body: ReplyBody,
}

pub enum ReplyBody {
    Full(Bytes),
    Stream(UpStream),
}

/// The source of a streamed answer.
pub enum UpStream {
    /// A provider's body, and what was read ahead of it.
    Http(UpBody, Option<Bytes>),
    Local(Pin<Box<dyn Stream<Item = Bytes> + Send>>),
}

impl UpStream {
    /// Whether data already received may still be on its way to us: hyper's
    /// client hands a body over one chunk per turn of its connection task,
    /// where ours hands over everything a read brought.
    pub fn piecewise(&self) -> bool {
        matches!(self, UpStream::Http(UpBody::Hyper(_), _))
    }

    /// The next chunk of data; `Err` when the upstream broke off.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match self {
            UpStream::Http(_, first @ Some(_)) => Poll::Ready(first.take().map(Ok)),
            UpStream::Http(body, None) => body.poll_data(cx),
            UpStream::Local(s) => s.as_mut().poll_next(cx).map(|o| o.map(Ok)),
        }
    }
}

/// Waits for a stream's first chunk, then takes whatever else is already
/// there (hyper's connection hands chunks over one at a time, so it is given
/// a couple of turns); `None` when the stream is empty.
async fn read_ahead(body: &mut UpStream) -> Result<Option<Bytes>, BodyError> {
    let Some(first) = std::future::poll_fn(|cx| body.poll_chunk(cx)).await.transpose()? else {
        return Ok(None);
    };
    let mut more = bytes::BytesMut::new();
    let mut turns = if body.piecewise() { 0 } else { 2 };
    while turns < 2 && first.len() + more.len() < 64 * 1024 {
        match std::future::poll_fn(|cx| Poll::Ready(body.poll_chunk(cx))).await {
            Poll::Ready(Some(Ok(chunk))) => {
                turns = 0;
                more.extend_from_slice(&chunk);
            }
            Poll::Ready(Some(Err(e))) => return Err(e),
            Poll::Ready(None) => break,
            Poll::Pending => {
                turns += 1;
                YieldOnce(false).await;
            }
        }
    }
    if more.is_empty() {
        return Ok(Some(first));
    }
    let mut all = bytes::BytesMut::with_capacity(first.len() + more.len());
    all.extend_from_slice(&first);
    all.extend_from_slice(&more);
    Ok(Some(all.freeze()))
}

/// Lets the other tasks of this thread run once.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Whether a client's request header reaches the provider: an allowlist.
/// `accept` and `user-agent` pass, and whatever the provider's `forward`
/// lists; nothing else does (the gateway sets `content-type`, credentials,
/// `x-request-id` and the API's own headers itself). A name with `_` never
/// passes (a proxy may read `Transfer_Encoding` as `Transfer-Encoding`), nor
/// one the request's `Connection` header names.
fn forwardable(name: &[u8], extra: &[Box<[u8]>], connection: Option<&[u8]>) -> bool {
    use crate::http::ascii::eq_ignore_case;
    let allowed = match name.len() {
        6 => eq_ignore_case(name, b"accept"),
        10 => eq_ignore_case(name, b"user-agent"),
        _ => false,
    } || extra.iter().any(|e| eq_ignore_case(e, name));
    allowed
        && !name.contains(&b'_')
        && !connection.is_some_and(|c| c.split(|b| *b == b',').any(|t| eq_ignore_case(t.trim_ascii(), name)))
}

/// Answer headers read from the provider (names in any case) to pass back
/// to the client: rate limit information.
fn kept(name: &str) -> bool {
    let starts = |p: &str| name.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    name.eq_ignore_ascii_case("retry-after") || starts("x-ratelimit-") || starts("anthropic-ratelimit-")
}

/// Sends one attempt, to be answered by `deadline`. `model` is what the
/// provider is asked for; `rewrite` says it differs from the client's.
pub async fn call(
    up: &Upstream,
    ingress: &Ingress,
    model: &str,
    rewrite: bool,
    request_id: &HeaderValue,
    deadline: Instant,
    max_answer: usize,
) -> Result<Reply, GatewayError> {
    let Some(api) = up.api else {
        return match tokio::time::timeout_at(deadline, crate::upstream::mock::answer(up, ingress, model)).await {
            Ok(r) => r,
            Err(_) => Err(GatewayError::timeout(&up.name)),
        };
    };
    let uri = up.uri(ingress.endpoint, model)?;
    let body = crate::upstream::translate::request_body(ingress, api, model, rewrite)?;
    let mut h: Vec<Header> = Vec::with_capacity(ingress.headers.len() + 4);
    let connection = ingress.headers.get_str("connection").map(str::as_bytes);
    h.extend(ingress.headers.raw().filter(|(name, _)| forwardable(name, &up.forward, connection)));
    h.push((b"content-type", b"application/json"));
    h.push((b"x-request-id", request_id.as_bytes()));
    h.extend(up.fixed_headers().map(|(n, v)| (n.as_str().as_bytes(), v.as_bytes())));
    let stream = ingress.stream;
    let name = &up.name;
    let late = |e: BodyError| match e {
        BodyError::TimedOut => GatewayError::timeout(name),
        BodyError::Broken => GatewayError::reset(name),
        BodyError::TooLarge => GatewayError::protocol(name, "its answer is larger than max_answer"),
    };
    let attempt = async {
        let resp = up.send(&Method::POST, &uri, &h, body, kept, deadline).await?;
        crate::net::busy_poll::kick();
        let headers = resp.headers;
        let is_sse = resp.event_stream;
        if !resp.status.is_success() {
            let bytes = resp.body.collect(1024 * 1024).await.unwrap_or_default();
            if matches!(resp.status.as_u16(), 401 | 403) {
                let said = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
                tracing::warn!(target: "hapax::upstream", provider = %name, status = resp.status.as_u16(), answer = %said, "the provider refused the gateway's credentials");
                return Err(GatewayError::upstream_auth(name, resp.status));
            }
            let retry_after = headers.get(header::RETRY_AFTER).cloned();
            return Err(GatewayError::upstream_status(name, resp.status, bytes, retry_after));
        }
        if stream && is_sse {
            // Wait for the first event before answering: until then a
            // failure can still be retried, and the response head leaves
            // together with the first event.
            let mut body = UpStream::Http(resp.body, None);
            let first = read_ahead(&mut body).await.map_err(late)?;
            if let UpStream::Http(rest, slot) = &mut body {
                rest.lift_deadline();
                *slot = first;
            }
            return Ok(Reply { api, headers, body: ReplyBody::Stream(body) });
        }
        let bytes = resp.body.collect(max_answer).await.map_err(late)?;
        Ok(Reply { api, headers, body: ReplyBody::Full(bytes) })
    };
    // Our HTTP/1.1 client keeps the deadline with its connection's timer,
    // which costs less than a timer per request.
    if up.keeps_deadline() {
        return attempt.await;
    }
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(r) => r,
        Err(_) => Err(GatewayError::timeout(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::forwardable;

    #[test]
    fn only_allowed_headers_reach_providers_in_any_case() {
        let none: &[Box<[u8]>] = &[];
        let dropped = [
            "host",
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "content-length",
            "content-type",
            "authorization",
            "x-api-key",
            "api-key",
            "cookie",
            "accept-encoding",
            "anthropic-version",
            "x-request-id",
            "x-team",
            "openai-organization",
            "openai-project",
            "x-forwarded-for",
            "x-forwarded-host",
            "forwarded",
            "",
        ];
        for name in dropped {
            assert!(!forwardable(name.as_bytes(), none, None), "{name}");
            assert!(!forwardable(name.to_ascii_uppercase().as_bytes(), none, None), "{name}");
        }
        for name in ["accept", "User-Agent", "ACCEPT"] {
            assert!(forwardable(name.as_bytes(), none, None), "{name}");
        }
        // The provider's `forward` lets more through, never a name with `_`
        // nor one that `Connection` names.
        let extra: &[Box<[u8]>] = &[b"openai-organization"[..].into(), b"x-forwarded-for"[..].into()];
        assert!(forwardable(b"OpenAI-Organization", extra, None));
        assert!(forwardable(b"x-forwarded-for", extra, Some(b"keep-alive")));
        assert!(!forwardable(b"x-forwarded-for", extra, Some(b"close, X-Forwarded-For")));
        assert!(!forwardable(b"accept", none, Some(b"accept")));
        assert!(!forwardable(b"openai-project", extra, None));
        let underscored: &[Box<[u8]>] = &[b"x_team"[..].into()];
        assert!(!forwardable(b"x_team", underscored, None));
    }
}
