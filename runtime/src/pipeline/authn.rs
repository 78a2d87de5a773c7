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
use crate::telemetry::audit::Event;
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
    identify(snap, path, headers).map(Some)
}

/// The key and the client of a request's credential; a refusal is
/// audited.
pub fn identify(snap: &Snapshot, path: &str, headers: &Headers) -> Result<(String, Arc<ClientInfo>), GatewayError> {
    identify_quietly(snap, headers).map_err(|refused| {
        let (e, key_id, reason) = *refused;
        if let Some(a) = &snap.audit {
            a.emit_nonblocking(
                Event::new("auth")
                    .set("decision", "deny")
                    .set("reason", reason)
                    .set("key_id", key_id)
                    .set("path", cut(path, 1024))
                    .set("user_agent", headers.get_str("user-agent").map(|u| cut(u, 256))),
            );
        }
        e
    })
}

/// The answer, the key id (when the credential names one) and why, for the audit log.
type Refused = Box<(GatewayError, Option<String>, String)>;

fn identify_quietly(snap: &Snapshot, headers: &Headers) -> Result<(String, Arc<ClientInfo>), Refused> {
    let Some(key) = credential(headers) else {
        let e = GatewayError::unauthorized("no API key: send it as `Authorization: Bearer KEY` or `x-api-key: KEY`");
        return Err(Box::new((e, None, "no credential".into())));
    };
    if !key.starts_with("hpx_") {
        if let Some(jwt) = &snap.jwt {
            return match jwt.verify(key) {
                Ok(client) => Ok((String::new(), with_static(snap, Arc::new(client)))),
                Err(why) => {
                    tracing::info!(target: "hapax::auth", reason = %why.0, "token refused");
                    Err(Box::new((
                        GatewayError::unauthorized("the token is not valid"),
                        None,
                        format!("token: {}", why.0),
                    )))
                }
            };
        }
    }
    let Some(live) = &snap.keys else {
        return Err(Box::new((GatewayError::unauthorized("the API key is not valid"), None, "no key store".into())));
    };
    match live.check(key, keys::now()) {
        Ok((id, client)) => Ok((id, with_static(snap, client))),
        Err(why) => {
            let id = keys::parse(key).map_or("", |(id, _)| id);
            tracing::info!(target: "hapax::auth", key_id = id, reason = ?why, "credential refused");
            let e = GatewayError::unauthorized(match why {
                Refusal::Expired => "the API key has expired",
                Refusal::Malformed | Refusal::Unknown | Refusal::Wrong => "the API key is not valid",
            });
            let reason = match why {
                Refusal::Expired => "key expired",
                Refusal::Malformed => "key malformed",
                Refusal::Unknown => "key unknown or revoked",
                Refusal::Wrong => "key secret wrong",
            };
            Err(Box::new((e, (!id.is_empty()).then(|| id.to_string()), reason.into())))
        }
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
    fn cuts_fall_on_character_boundaries() {
        let ua = format!("{}é", "A".repeat(255));
        assert_eq!(cut(&ua, 256), "A".repeat(255));
        assert_eq!(cut("short", 256), "short");
        assert_eq!(cut("ééé", 3), "é");
    }

    #[test]
    fn open_paths_are_exact_or_prefixes() {
        assert!(matches("/healthz", "/healthz"));
        assert!(!matches("/healthz", "/healthz/x"));
        assert!(matches("/v1/models*", "/v1/models/gpt-4o"));
        assert!(!matches("/v1/models*", "/v1/chat/completions"));
    }
}
