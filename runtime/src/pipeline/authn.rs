//! The authenticate phase: who sent the request, from its head alone, so
//! that nobody without a credential makes the gateway read a body. A key is
//! sent as `Authorization: Bearer KEY` (OpenAI SDKs) or `x-api-key: KEY`
//! (Anthropic SDKs), either on either API. With `auth` declared, a request
//! without a valid one is answered 401 in the client's format, unless its
//! path is one of `auth { open [...] }`. The identity fills `client.*`;
//! nothing the client sends as a header (`x-hapax-client` and the like) can
//! change it. A `client` block adds its attributes to the client a key
//! names: the key's own attributes win, roles are joined.

use super::Exchange;
use crate::http::error::GatewayError;
use crate::http::request::Headers;
use crate::state::keys::{self, Refusal};
use crate::state::snapshot::Snapshot;
use hapax_lang::expr::ClientInfo;
use std::sync::Arc;

/// Sets who a request speaks for, or refuses it; nothing to do when the
/// policy declares no `auth` or the path is open.
pub fn authenticate(ex: &mut Exchange, path: &str, headers: &Headers) -> Result<(), GatewayError> {
    let Some((key_id, client)) = check(&ex.snap, path, headers)? else { return Ok(()) };
    ex.rec.client = Some(client.id.clone());
    // A token has no key id; a key's id may be logged, never the key.
    ex.rec.key_id = (!key_id.is_empty()).then_some(key_id);
    ex.client = Some(client);
    Ok(())
}

/// The key and client a request speaks for: `None` when no `auth` is
/// declared or the path is open.
pub fn check(
    snap: &Snapshot,
    path: &str,
    headers: &Headers,
) -> Result<Option<(String, Arc<ClientInfo>)>, GatewayError> {
    let Some(auth) = &snap.graph.auth else { return Ok(None) };
    if auth.open.iter().any(|open| matches(open, path)) {
        return Ok(None);
    }
    identify(snap, headers).map(Some)
}

/// The key and the client of a request's credential.
pub fn identify(snap: &Snapshot, headers: &Headers) -> Result<(String, Arc<ClientInfo>), GatewayError> {
    let Some(key) = credential(headers) else {
        return Err(GatewayError::unauthorized(
            "no API key: send it as `Authorization: Bearer KEY` or `x-api-key: KEY`",
        ));
    };
    if !key.starts_with("hpx_") {
        if let Some(jwt) = &snap.jwt {
            return match jwt.verify(key) {
                Ok(client) => Ok((String::new(), with_static(snap, Arc::new(client)))),
                Err(why) => {
                    tracing::info!(target: "hapax::auth", reason = %why.0, "token refused");
                    Err(GatewayError::unauthorized("the token is not valid"))
                }
            };
        }
    }
    let Some(live) = &snap.keys else {
        return Err(GatewayError::unauthorized("the API key is not valid"));
    };
    match live.check(key, keys::now()) {
        Ok((id, client)) => Ok((id, with_static(snap, client))),
        Err(why) => {
            let id = keys::parse(key).map_or("", |(id, _)| id);
            tracing::info!(target: "hapax::auth", key_id = id, reason = ?why, "credential refused");
            Err(GatewayError::unauthorized(match why {
                Refusal::Expired => "the API key has expired",
                Refusal::Malformed | Refusal::Unknown | Refusal::Wrong => "the API key is not valid",
            }))
        }
    }
}

/// `Authorization: Bearer KEY`, else `x-api-key: KEY`.
fn credential(headers: &Headers) -> Option<&str> {
    if let Some(v) = headers.get_str("authorization") {
        let (scheme, token) = v.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty());
    }
    headers.get_str("x-api-key").map(str::trim).filter(|t| !t.is_empty())
}

/// An `open` path: exact, or a prefix ending in `*`.
fn matches(open: &str, path: &str) -> bool {
    match open.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => open == path,
    }
}

/// The key's client with what a `client` block adds.
fn with_static(snap: &Snapshot, client: Arc<ClientInfo>) -> Arc<ClientInfo> {
    let Some(block) = snap.clients.get(&client.id) else { return client };
    let mut roles = client.roles.clone();
    roles.extend(block.roles.iter().filter(|r| !client.roles.contains(r)).cloned());
    Arc::new(ClientInfo {
        id: client.id.clone(),
        tier: client.tier.clone().or_else(|| block.tier.clone()),
        team: client.team.clone().or_else(|| block.team.clone()),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths_are_exact_or_prefixes() {
        assert!(matches("/healthz", "/healthz"));
        assert!(!matches("/healthz", "/healthz/x"));
        assert!(matches("/v1/models*", "/v1/models/gpt-4o"));
        assert!(!matches("/v1/models*", "/v1/chat/completions"));
    }
}
