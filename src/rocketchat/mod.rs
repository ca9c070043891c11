//! Protocol clients for Rocket.Chat: REST over our own HTTP/1.1
//! connections, DDP (Meteor's realtime protocol) over a websocket, login
//! digests and the message tokens used for end-to-end delivery tracking.
//!
//! This module knows nothing of scheduling, metrics or the reference server:
//! it turns protocol exchanges into values or typed [`RcError`]s.

pub mod clock;
mod config;
pub mod ddp;
mod error;
pub(crate) mod http1;
mod net;
pub mod rest;
pub mod settings;
#[cfg(test)]
mod tests;
mod tls;
pub mod token;

pub use config::ClientConfig;
pub use ddp::{Ddp, DdpEvent, EventSink};
pub use error::RcError;
pub(crate) use error::chain_text;
pub use http1::RateHeaders;
pub use rest::{Rest, RestResponse};
pub use token::MessageToken;

use sha2::{Digest, Sha256};

/// A logged-in user as Rocket.Chat identifies it on REST (`X-User-Id`,
/// `X-Auth-Token`) and on DDP (resume token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    pub token: String,
    pub username: String,
}

/// Lowercase hex SHA-256 of a plain password: the `digest` a DDP password
/// login sends (the server never sees the plain text over DDP).
pub fn password_digest(password: &str) -> String {
    let hash = Sha256::digest(password.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in hash {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}
