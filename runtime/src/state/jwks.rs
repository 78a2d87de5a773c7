//! JSON Web Tokens from an identity provider (`auth { jwt { ... } }`): the
//! signing keys (a JWKS from a file or an `https` URL, kept in memory and
//! fetched again, at most every [`MIN_REFRESH`], when a token names a key
//! it does not know or the keys are older than [`MAX_AGE`]), and the
//! verification of a token.
//!
//! Only asymmetric algorithms are accepted, RS256, ES256 and EdDSA, each
//! only with a key of its own kind: `alg: none`, HS256 signed with a public
//! key, an unknown `kid`, a bad signature, a wrong issuer or audience, an
//! expired or not yet valid token are all refused. The clock may be off by
//! [`LEEWAY`].

use arc_swap::ArcSwap;
use bytes::Bytes;
use hapax_lang::expr::ClientInfo;
use hapax_lang::graph::Jwt;
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The least time between two fetches of the keys.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// Keys older than this are fetched again (in the background) when a token
/// is checked, so a key the provider withdrew stops working.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// How far a token's times may be off.
pub const LEEWAY: u64 = 60;
/// The largest JWKS document read.
const MAX_JWKS: usize = 1024 * 1024;

type Keys = HashMap<String, (DecodingKey, Algorithm)>;
type Https = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

enum Source {
    File(PathBuf),
    Url(String, Box<Https>),
}

/// Why a token was refused (the client hears only that it is not valid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The verifier of one `jwt` block.
pub struct Verifier {
    keys: ArcSwap<Keys>,
    source: Source,
    issuer: Option<String>,
    audience: Option<String>,
    claims: HashMap<String, String>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: AtomicBool,
}

impl Verifier {
    /// Reads a JWKS file now, or starts fetching a URL (inside the tokio
    /// runtime); a file that cannot be read is an error.
    pub fn start(jwt: &Jwt) -> Result<Arc<Verifier>, String> {
        let jwks = jwt.jwks.clone().ok_or("`jwt` needs `jwks`")?;
        let source = if jwks.starts_with("https://") || jwks.starts_with("http://") {
            Source::Url(jwks, Box::new(https_client(jwt.ca.as_deref())?))
        } else if let Some(var) = jwks.strip_prefix("env:") {
            Source::File(PathBuf::from(std::env::var(var).map_err(|_| format!("`{var}` is not set"))?))
        } else {
            Source::File(PathBuf::from(jwks))
        };
        let v = Arc::new(Verifier {
            keys: ArcSwap::from_pointee(Keys::new()),
            source,
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            claims: jwt.claims.iter().cloned().collect(),
            last_fetch: Mutex::new(None),
            fetching: AtomicBool::new(false),
        });
        match &v.source {
            Source::File(p) => {
                let text = std::fs::read(p).map_err(|e| format!("cannot read the JWKS `{}`: {e}", p.display()))?;
                v.keys.store(Arc::new(parse(&text)?));
                *v.last_fetch.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
            }
            Source::Url(..) => v.refresh(),
        }
        Ok(v)
    }

    /// Fetches the keys again unless that was done less than
    /// [`MIN_REFRESH`] ago (a client sending made-up `kid`s cannot make the
    /// gateway hammer the identity provider).
    fn refresh(self: &Arc<Self>) {
        {
            let mut last = self.last_fetch.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < MIN_REFRESH) || self.fetching.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let this = self.clone();
        let fetch = async move {
            let got = match &this.source {
                Source::File(p) => std::fs::read(p).map_err(|e| e.to_string()).and_then(|t| parse(&t)),
                Source::Url(url, client) => fetch(client, url).await,
            };
            match got {
                Ok(keys) => {
                    tracing::info!(target: "hapax::auth", keys = keys.len(), "JWKS loaded");
                    this.keys.store(Arc::new(keys));
                }
                Err(e) => {
                    tracing::warn!(target: "hapax::auth", error = %e, "cannot load the JWKS; keeping the keys held")
                }
            }
            this.fetching.store(false, Ordering::Release);
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(fetch);
        } else {
            self.fetching.store(false, Ordering::Release);
        }
    }

    /// The client a token stands for.
    pub fn verify(self: &Arc<Self>, token: &str) -> Result<ClientInfo, Refused> {
        let refused = |why: &str| Refused(why.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|e| Refused(format!("malformed token: {e}")))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
            return Err(Refused(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| refused("the token names no key (`kid`)"))?;
        let stale = self
            .last_fetch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() > MAX_AGE);
        if stale {
            self.refresh();
        }
        let keys = self.keys.load();
        let Some((key, alg)) = keys.get(&kid) else {
            self.refresh();
            return Err(Refused(format!("unknown key `{kid}`")));
        };
        if *alg != header.alg {
            return Err(Refused(format!("key `{kid}` is for {alg:?}, not {:?}", header.alg)));
        }
        let mut v = Validation::new(*alg);
        v.leeway = LEEWAY;
        v.validate_nbf = true;
        v.validate_exp = true;
        v.set_required_spec_claims(&["exp"]);
        match &self.issuer {
            Some(iss) => v.set_issuer(&[iss]),
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &v)
            .map_err(|e| Refused(format!("{:?}", e.kind())))?;
        let claim = |field: &str, default: &str| {
            let name = self.claims.get(field).map_or(default, String::as_str);
            data.claims.get(name)
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let id = text(claim("client", "sub")).ok_or_else(|| refused("the token has no client claim"))?;
        let roles = match claim("roles", "roles") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        Ok(ClientInfo { id, team: text(claim("team", "team")), tier: text(claim("tier", "tier")), roles })
    }
}

/// The usable keys of a JWKS document: each with a `kid`, of a kind that
/// fixes its algorithm (RSA: RS256, EC P-256: ES256, OKP Ed25519: EdDSA).
pub fn parse(text: &[u8]) -> Result<Keys, String> {
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| format!("invalid JWKS: {e}"))?;
    let mut keys = Keys::new();
    for jwk in &set.keys {
        let Some(kid) = &jwk.common.key_id else { continue };
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid.clone(), (key, alg));
        }
    }
    Ok(keys)
}

fn https_client(ca: Option<&std::path::Path>) -> Result<Https, String> {
    crate::net::https::client(ca)
}

async fn fetch(client: &Https, url: &str) -> Result<Keys, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("invalid JWKS URL: {e}"))?;
    let get = client.get(uri);
    let resp = tokio::time::timeout(Duration::from_secs(10), get)
        .await
        .map_err(|_| "the JWKS URL did not answer in time".to_string())?
        .map_err(|e| format!("cannot fetch the JWKS: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("the JWKS URL answered {}", resp.status()));
    }
    let body =
        Limited::new(resp.into_body(), MAX_JWKS).collect().await.map_err(|e| format!("cannot read the JWKS: {e}"))?;
    parse(&body.to_bytes())
}
