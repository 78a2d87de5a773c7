//! The ingress phase, in two steps around authentication: [`head`] says
//! which endpoint the request is for (and so which API the client speaks)
//! and checks its method; [`body`] reads the body within `max_body`,
//! `max_body_memory` and the body timeout, and parses it once into the view
//! the policy sees.

use super::{Ctx, Exchange};
use crate::http::error::GatewayError;
use crate::http::ingress::{self, Endpoint, Ingress};
use crate::http::request::Request;
use crate::wire::Api;

pub fn head(ex: &mut Exchange, req: &Request) -> Result<Endpoint, GatewayError> {
    let path = req.uri.path();
    let Some(endpoint) = Endpoint::classify(path) else {
        ex.api = if path.starts_with("/v1/messages") { Api::Anthropic } else { Api::OpenAi };
        return Err(GatewayError::not_found(format!("unknown endpoint `{} {path}`", req.method)));
    };
    ex.api = endpoint.client_api();
    if req.method != endpoint.method() {
        let (want, got) = (endpoint.method(), &req.method);
        return Err(GatewayError::method_not_allowed(format!("`{path}` takes `{want}`, not `{got}`")));
    }
    Ok(endpoint)
}

pub async fn body(ctx: &Ctx, ex: &mut Exchange, req: Request, endpoint: Endpoint) -> Result<Ingress, GatewayError> {
    let Request { method, uri, headers, body } = req;
    let (raw, held) = ingress::read_body(body, &headers, ex.snap.graph.gateway.max_body, ctx.body_timeout).await?;
    ex.body_memory = held;
    let mut ingress = Ingress::parse(endpoint, method, uri, headers, raw)?;
    ingress.client = ex.client.clone();
    ex.rec.stream = ingress.stream;
    Ok(ingress)
}
