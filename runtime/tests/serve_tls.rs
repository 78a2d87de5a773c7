//! An `https` listener with a self-signed certificate negotiates TLS 1.3
//! and HTTP/2 by ALPN, and refuses TLS 1.2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod support;

use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use support::*;

fn client_config(
    cert: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_speaks_tls13_and_h2() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = TempDir::new("tls");
    std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    let path = dir.path().join("policy.hapax");
    std::fs::write(
        &path,
        r#"gateway {
  listen https "127.0.0.1:0" { cert "cert.pem"; key "key.pem" }
}
provider m { type mock }
route chat { match POST "/v1/chat/completions"; to m }
"#,
    )
    .unwrap();
    let gw = Gateway::start_in(dir, path, &[]);
    assert!(gw.url.starts_with("https://"), "{}", gw.url);
    let addr = gw.url.trim_start_matches("https://").to_string();
    let cert: CertificateDer<'static> = ck.cert.der().clone();

    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&cert, &[&rustls::version::TLS13])));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let (_, session) = tls.get_ref();
    assert_eq!(session.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));

    let body = h2_chats(tls, "https://localhost", 1).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");

    // TLS 1.2 is refused.
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(&cert, &[&rustls::version::TLS12])));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.is_err());
}
