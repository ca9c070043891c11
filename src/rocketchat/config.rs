//! Settings shared by the REST and DDP clients of one virtual user.

use std::net::IpAddr;
use std::time::Duration;

/// How a client reaches the target.
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// Accept invalid TLS certificates (self-signed test deployments), for
    /// both https and wss.
    pub insecure: bool,
    /// Extra headers sent with every REST request and the websocket upgrade.
    pub headers: Vec<(String, String)>,
    /// Local address to bind outgoing connections to (spreads the generator
    /// over several source IPs).
    pub source_ip: Option<IpAddr>,
    /// Per-request (REST) and per-call (DDP) timeout; also bounds connecting.
    /// `Duration::ZERO` means no timeout.
    pub timeout: Duration,
}

impl ClientConfig {
    /// The timeout as an option: `None` when unset (zero).
    pub(crate) fn limit(&self) -> Option<Duration> {
        (!self.timeout.is_zero()).then_some(self.timeout)
    }
}
