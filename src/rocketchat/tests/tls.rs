//! wss and https: certificate checks and the `insecure` option, against a
//! loopback TLS server with a self-signed certificate.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

use super::config;
use crate::rocketchat::{ClientConfig, Ddp, DdpEvent, EventSink, RcError, Rest};

/// Test fixture: self-signed for localhost / 127.0.0.1, P-256, valid to 2126.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUVDBhFv0GuOpSnRKkoc0PIeg0QC0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNzIwMjQwMFoYDzIxMjYxMTAz
MjAyNDAwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASCEc4+6mUBFmGeB4asewOCcVBC9m0o27B8H3QrriJU4iMA6KdUzZ9r
Gh/LxgpSh1E1KBCVcMFzGf/LHx6OcT9Zo28wbTAdBgNVHQ4EFgQUbC8J3D3fo7Fc
P2puU7w5Z4v5OfUwHwYDVR0jBBgwFoAUbC8J3D3fo7FcP2puU7w5Z4v5OfUwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDRwAwRAIgGb3CHsq/vxMksceQhq6y1jOpA9tTqzMXtb3SwXpIlooCIBgv
5q5GAq/n4b12zrCFhMczD5MRQ+y+cOv0EPUx719F
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgl0q00i/A+w7E1eTc
GbIlT2vJXDhDdJL6zvogE0T/kw+hRANCAASCEc4+6mUBFmGeB4asewOCcVBC9m0o
27B8H3QrriJU4iMA6KdUzZ9rGh/LxgpSh1E1KBCVcMFzGf/LHx6OcT9Z
-----END PRIVATE KEY-----
";

struct Nop;

impl EventSink for Nop {
    fn event(&self, _ev: DdpEvent<'_>) {}
}

fn acceptor() -> TlsAcceptor {
    let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(cfg))
}

/// Serves `conns` TLS connections: a websocket answering the DDP handshake
/// (`ws`), or a fixed JSON body for any HTTP request.
async fn tls_server(conns: usize, ws: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let acceptor = acceptor();
    tokio::spawn(async move {
        for _ in 0..conns {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate aborts here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if ws {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                        return;
                    };
                    let _connect = ws.next().await;
                    let connected = Message::text(r#"{"msg":"connected","session":"s"}"#);
                    let _ = ws.send(connected).await;
                    let _ = ws.next().await;
                } else {
                    let mut request = [0u8; 2048];
                    let _ = tls.read(&mut request).await;
                    let body = r#"{"version":"7.10","success":true}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    url
}

fn insecure() -> ClientConfig {
    ClientConfig {
        insecure: true,
        ..config()
    }
}

#[tokio::test]
async fn wss_checks_certificates_unless_insecure() {
    let url = tls_server(2, true).await;
    let err = Ddp::connect(&url, &config(), Arc::new(Nop))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, RcError::Tls(_)), "{err:?}");
    let ddp = Ddp::connect(&url, &insecure(), Arc::new(Nop))
        .await
        .unwrap();
    assert!(!ddp.is_closed());
    ddp.close().await;
}

#[tokio::test]
async fn https_checks_certificates_unless_insecure() {
    let url = tls_server(2, false).await;
    let err = Rest::new(&url, &config())
        .unwrap()
        .info()
        .await
        .unwrap_err();
    assert!(matches!(err, RcError::Tls(_)), "{err:?}");
    let info = Rest::new(&url, &insecure()).unwrap().info().await.unwrap();
    assert_eq!(info["version"], "7.10");
}
