//! JSON Web Tokens against the real binary: tokens signed by keys this test
//! makes (RS256, ES256, EdDSA) are verified against a JWKS file and a JWKS
//! served over HTTPS by the test, their claims fill `client.*`, and every
//! classic forgery is refused with 401.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

mod base64_url {
    pub fn encode(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            }
        }
        out
    }
}

const RSA: &str = include_str!("fixtures/jwt/rsa.pem");
const RSA_N: &str = include_str!("fixtures/jwt/rsa.n");

/// The test's signing keys and the JWKS of their public halves.
struct Keys {
    ec: EncodingKey,
    ed: EncodingKey,
    rsa: EncodingKey,
    jwks: serde_json::Value,
    /// An EC key whose public half is not in the JWKS.
    other_ec: EncodingKey,
}

fn keys() -> Keys {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = ec.public_key_raw();
    let jwks = json!({ "keys": [
        { "kty": "EC", "crv": "P-256", "kid": "ec1", "x": base64_url::encode(&point[1..33]), "y": base64_url::encode(&point[33..65]) },
        { "kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": base64_url::encode(ed.public_key_raw()) },
        { "kty": "RSA", "kid": "rsa1", "n": RSA_N.trim(), "e": "AQAB" },
    ]});
    Keys {
        ec: EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap(),
        ed: EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap(),
        rsa: EncodingKey::from_rsa_pem(RSA.as_bytes()).unwrap(),
        jwks,
        other_ec: EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).unwrap(),
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "iss": "https://id.test", "aud": "hapax", "sub": "alice", "org": "research",
        "roles": ["reader"], "exp": now() + 600, "nbf": now() - 10,
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey, extra: serde_json::Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, &claims(extra), key).unwrap()
}

fn policy(jwks: &str) -> String {
    format!(
        "{GATEWAY}auth {{\n  jwt {{\n    issuer \"https://id.test\"\n    audience \"hapax\"\n    jwks {jwks}\n    claims {{ client \"sub\"; team \"org\"; roles \"roles\" }}\n  }}\n}}\nprovider m {{ type mock }}\nroute research {{\n  match POST \"/v1/*\"\n  when client.team == \"research\" and client.id == \"alice\"\n  to m\n}}\nroute everyone {{ match POST \"/v1/*\"; to m }}\n"
    )
}

async fn send(url: &str, token: &str) -> Resp {
    request(
        &client(),
        "POST",
        &format!("{url}/v1/chat/completions"),
        &chat("m", false),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_and_forgeries_refused() {
    let k = keys();
    let dir = TempDir::new("jwt");
    std::fs::write(dir.path().join("jwks.json"), k.jwks.to_string()).unwrap();
    let path = dir.path().join("policy.hapax");
    // With an audit log: every refused token is an `auth` event.
    let audited = format!("{}audit {{ sink file \"audit.jsonl\" }}\n", policy("file(\"jwks.json\")"));
    std::fs::write(&path, audited).unwrap();
    let gw = Gateway::start_in(dir, path, &[]);

    for (alg, kid, key) in
        [(Algorithm::ES256, "ec1", &k.ec), (Algorithm::EdDSA, "ed1", &k.ed), (Algorithm::RS256, "rsa1", &k.rsa)]
    {
        let r = send(&gw.url, &token(alg, kid, key, json!({}))).await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.text());
        assert_eq!(r.header("x-hapax-route"), "research", "{alg:?}: client.* comes from the claims");
    }
    let r = send(&gw.url, &token(Algorithm::ES256, "ec1", &k.ec, json!({"org": "sales"}))).await;
    assert_eq!(r.header("x-hapax-route"), "everyone");

    let good = token(Algorithm::ES256, "ec1", &k.ec, json!({}));
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let none_head = base64_url::encode(br#"{"alg":"none","typ":"JWT","kid":"ec1"}"#);
    let hs_head = base64_url::encode(br#"{"alg":"HS256","typ":"JWT","kid":"rsa1"}"#);
    // HS256 "signed" with the RSA public key's bytes as the secret.
    let hs = {
        let signing = format!("{hs_head}.{payload}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, RSA_N.trim().as_bytes());
        format!("{signing}.{}", base64_url::encode(ring::hmac::sign(&key, signing.as_bytes()).as_ref()))
    };
    let mut flipped = sig.to_string();
    flipped.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
    let forgeries = [
        ("alg none", format!("{none_head}.{payload}.")),
        ("HS256 with the public key", hs),
        ("a bad signature", format!("{head}.{payload}.{flipped}")),
        (
            "another payload under the signature",
            format!("{head}.{}.{sig}", base64_url::encode(claims(json!({"org": "x"})).to_string().as_bytes())),
        ),
        ("an unknown kid", token(Algorithm::ES256, "nope", &k.ec, json!({}))),
        ("a key not in the JWKS", token(Algorithm::ES256, "ec1", &k.other_ec, json!({}))),
        ("a key of another kind", token(Algorithm::ES256, "rsa1", &k.ec, json!({}))),
        ("the wrong issuer", token(Algorithm::ES256, "ec1", &k.ec, json!({"iss": "https://evil.test"}))),
        ("the wrong audience", token(Algorithm::ES256, "ec1", &k.ec, json!({"aud": "other"}))),
        ("expired", token(Algorithm::ES256, "ec1", &k.ec, json!({"exp": now() - 3600}))),
        ("not yet valid", token(Algorithm::ES256, "ec1", &k.ec, json!({"nbf": now() + 3600}))),
        ("no exp", {
            let mut c = claims(json!({}));
            c.as_object_mut().unwrap().remove("exp");
            let mut h = Header::new(Algorithm::ES256);
            h.kid = Some("ec1".into());
            jsonwebtoken::encode(&h, &c, &k.ec).unwrap()
        }),
        ("garbage", "a.b.c".to_string()),
    ];
    let count = forgeries.len();
    let mut sent = Vec::new();
    for (what, t) in forgeries {
        sent.push(t.clone());
        let r = send(&gw.url, &t).await;
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "invalid_api_key", "{what}");
    }
    // Within the leeway a token just past its expiry still passes.
    let r = send(&gw.url, &token(Algorithm::ES256, "ec1", &k.ec, json!({"exp": now() - 5}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!gw.stderr().contains(sig), "a token reached the log");
    // Each forgery is audited as a refused credential, and no token is in
    // the audit file.
    let file = gw.dir.path().join("audit.jsonl");
    let text = eventually("the auth events written", async || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let n = text.lines().filter(|l| l.contains("\"kind\":\"auth\"")).count();
        if n >= count {
            Ok(text)
        } else {
            Err(format!("{n} of {count}"))
        }
    })
    .await;
    for line in text.lines().filter(|l| l.contains("\"kind\":\"auth\"")) {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(e["decision"], "deny");
        assert!(e["reason"].as_str().unwrap().starts_with("token: "), "{e}");
    }
    for t in &sent {
        let secret_part = t.rsplit('.').next().unwrap_or("");
        assert!(secret_part.len() < 8 || !text.contains(secret_part), "a token reached the audit file");
    }
}

/// A JWKS served over HTTPS (a private CA named by `ca`), fetched at start
/// and again, rate-limited, when a token names a key it does not hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_over_https_is_fetched_and_refreshed_for_a_new_key() {
    let k = keys();
    let served = Arc::new(Mutex::new(json!({ "keys": [k.jwks["keys"][0].clone()] }).to_string()));
    let fetches = Arc::new(Mutex::new(0usize));
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = TempDir::new("jwt-https");
    std::fs::write(dir.path().join("ca.pem"), ck.cert.pem()).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (body, count) = (served.clone(), fetches.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, body, count) = (acceptor.clone(), body.clone(), count.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut s) = acceptor.accept(tcp).await else { return };
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                *count.lock().unwrap() += 1;
                let text = body.lock().unwrap().clone();
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}", text.len());
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    let path = dir.path().join("policy.hapax");
    std::fs::write(&path, policy(&format!("\"https://localhost:{port}/jwks.json\"\n    ca \"ca.pem\""))).unwrap();
    let gw = Gateway::start_in(dir, path, &[]);

    let wait_for = |t: String, what: &'static str| {
        let url = gw.url.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let r = send(&url, &t).await;
                if r.status == 200 {
                    return;
                }
                assert!(Instant::now() < deadline, "{what}: still {} {}", r.status, r.text());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(token(Algorithm::ES256, "ec1", &k.ec, json!({})), "the first fetch").await;
    // A key added at the provider is found once a token names it (after the
    // rate limit), and unknown kids do not fetch more than that allows.
    *served.lock().unwrap() = k.jwks.to_string();
    let before = *fetches.lock().unwrap();
    for _ in 0..20 {
        send(&gw.url, &token(Algorithm::ES256, "made-up", &k.ec, json!({}))).await;
    }
    assert!(*fetches.lock().unwrap() <= before + 1, "made-up kids are rate-limited");
    wait_for(token(Algorithm::EdDSA, "ed1", &k.ed, json!({})), "the refreshed key").await;
}
