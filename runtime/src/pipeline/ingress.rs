//! The ingress phase: which endpoint the request is for (and so which API
//! the client speaks), its method, and its body, read within `max_body` and
//! the body timeout and parsed once into the view the policy sees.

use super::{Ctx, Exchange};
use crate::http::error::GatewayError;
use crate::http::ingress::{self, Endpoint, Ingress};
use crate::http::request::Request;
use crate::wire::Api;

pub async fn read(ctx: &Ctx, ex: &mut Exchange, req: Request) -> Result<Ingress, GatewayError> {
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
    let Request { method, uri, headers, body } = req;
    let (raw, held) = ingress::read_body(body, &headers, ex.snap.graph.gateway.max_body, ctx.body_timeout).await?;
    ex.body_memory = held;
    let ingress = Ingress::parse(endpoint, method, uri, headers, raw)?;
    ex.rec.stream = ingress.stream;
    Ok(ingress)
}
