//! Protocol tests against tiny in-test servers on 127.0.0.1:0.

mod ddp;
mod http1;
mod rest;
mod tls;

use std::time::Duration;

use super::ClientConfig;

fn config() -> ClientConfig {
    ClientConfig {
        // Generous: only the timeout test relies on it firing.
        timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

/// A loopback port with nothing listening (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn digest_is_lowercase_hex_sha256() {
    // Digest of "secret" as RC's docs and the official clients compute it.
    assert_eq!(
        super::password_digest("secret"),
        "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    );
    assert_eq!(super::password_digest("").len(), 64);
}
