//! Answering: a provider's reply becomes the client's response, in the
//! client's format: a whole JSON body, or an event stream forwarded as it
//! arrives.

use crate::http::body::Body;
use crate::http::error::GatewayError;
use crate::http::ingress::Ingress;
use crate::http::response::Response;
use crate::pipeline::execute::Success;
use crate::pipeline::stream::SseBody;
use crate::telemetry::record::Record;
use crate::upstream::call::ReplyBody;
use crate::upstream::translate::{self, StreamConv};
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

pub fn answer(s: Success, ingress: &Ingress, max_event: usize, rec: &mut Record) -> Result<Response, GatewayError> {
    let api = ingress.api();
    let mut resp = match s.reply.body {
        ReplyBody::Full(bytes) => {
            // Without usage from the provider, the estimate stands in.
            rec.prompt_estimate = ingress.tokens();
            let (body, usage) = translate::response_body(api, s.reply.api, &s.upstream.name, bytes, &s.model)?;
            rec.usage = usage;
            if api == s.reply.api {
                // Passed on as it came; its usage is read once it was sent.
                rec.usage_later(api, body.clone());
            }
            Response::json(StatusCode::OK, body)
        }
        ReplyBody::Stream(up) => {
            let include_usage = ingress.include_usage;
            // An OpenAI stream only reports usage when asked to, and a
            // stream cut short may never report it.
            rec.prompt_estimate = ingress.tokens();
            let id = rec.request_id.to_str().unwrap_or("0").to_string();
            let conv = StreamConv::new(api, s.reply.api, &s.model, &id, include_usage);
            let body = SseBody::new(up, conv, api, s.timeout, max_event, rec.hand_off());
            let mut r = Response::new(StatusCode::OK, Body::stream(body));
            r.add(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            r.add(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            // Tells buffering proxies in front of the gateway to pass events on.
            r.add(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
            r
        }
    };
    for (n, v) in &s.reply.headers {
        resp.add(n.clone(), v.clone());
    }
    Ok(resp)
}
