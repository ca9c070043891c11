//! One GET of a `/metrics` URL, on the project's own HTTP/1.1 client:
//! bounded in time (below the scrape period) and in size (a larger body
//! is refused by its length or as it arrives, never held whole).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::ScrapeError;
use super::url::ScrapeUrl;
use crate::rocketchat::ClientConfig;
use crate::rocketchat::http1::{Http1, Outgoing};

/// The largest `/metrics` body read.
pub const MAX_BODY: usize = 16 << 20;

/// A keep-alive client for one scrape URL.
pub struct Fetcher {
    url: ScrapeUrl,
    http: Http1,
}

impl Fetcher {
    pub fn new(url: ScrapeUrl) -> Result<Fetcher, ScrapeError> {
        let cfg = ClientConfig::default();
        let http = Http1::new(Arc::new(url.origin()), &cfg)
            .map_err(|e| ScrapeError::Request(e.to_string()))?
            .with_max_body(MAX_BODY);
        Ok(Fetcher { url, http })
    }

    /// The body of a 200 answer within `timeout`.
    pub async fn get(&self, timeout: Duration) -> Result<Bytes, ScrapeError> {
        let req = Outgoing {
            encode: |buf: &mut Vec<u8>| {
                buf.extend_from_slice(b"GET ");
                buf.extend_from_slice(self.url.path().as_bytes());
                buf.extend_from_slice(b" HTTP/1.1\r\nHost: ");
                buf.extend_from_slice(self.url.authority().as_bytes());
                // Prometheus text first: what Rocket.Chat (prom-client)
                // and node exporter write by default.
                buf.extend_from_slice(
                    b"\r\nAccept: text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5,*/*;q=0.1\r\nUser-Agent: rocketload\r\n\r\n",
                );
            },
            body: &[],
            head_only: false,
            idempotent: true,
        };
        let reply = match tokio::time::timeout(timeout, self.http.send(&req)).await {
            // The connection, mid-response, went with the dropped future.
            Err(_) => return Err(ScrapeError::Timeout(timeout)),
            Ok(Err(e)) => return Err(ScrapeError::Request(e.to_string())),
            Ok(Ok(r)) => r,
        };
        if reply.status != 200 {
            return Err(ScrapeError::Status(reply.status));
        }
        Ok(reply.body)
    }
}
