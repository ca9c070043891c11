//! The typed errors of the protocol clients and the mapping of transport
//! errors (hyper, io, tungstenite) and Rocket.Chat error bodies onto them.

use std::error::Error as StdError;
use std::io;

use serde_json::Value;

/// What went wrong talking to Rocket.Chat. Variants map one-to-one onto the
/// error classes the metrics count.
#[derive(Debug, thiserror::Error)]
pub enum RcError {
    #[error("cannot connect to {url}: {message}")]
    Connect {
        url: String,
        /// The peer actively refused (nothing listens there).
        refused: bool,
        message: String,
    },
    #[error("timed out: {what}")]
    Timeout { what: String },
    #[error("TLS error: {0}")]
    Tls(String),
    #[error("HTTP {status} from {endpoint}{}", error.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Http {
        status: u16,
        endpoint: String,
        /// Rocket.Chat's `errorType`, else its `error` text.
        error: Option<String>,
        body: String,
        /// `X-RateLimit-Reset` (epoch ms): on a 429, when to try again.
        reset_ms: Option<u64>,
    },
    #[error("DDP method {method} failed: {code}: {reason}")]
    Ddp {
        method: String,
        /// The Meteor error's `error` field as a string (`"404"`, `"error-invalid-user"`).
        code: String,
        reason: String,
    },
    #[error("subscription {name} refused: {code}: {reason}")]
    Nosub {
        name: String,
        code: String,
        reason: String,
    },
    #[error("connection closed{}: {reason}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Closed { code: Option<u16>, reason: String },
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// `(code, reason)` of a Meteor error object
/// (`{"error":404,"reason":"...","message":"... [404]"}`).
pub(crate) fn meteor_error(err: &Value) -> (String, String) {
    let code = match err.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let reason = ["reason", "message"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    (code, reason)
}

/// The error name of a Rocket.Chat REST error body: `errorType` when given,
/// else the `error` text (7.x and 8.x shapes both carry one of them).
pub(crate) fn rest_error_name(body: &Value) -> Option<String> {
    ["errorType", "error"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

/// The next cause of `e`: the payload of an io::Error (which `source()`
/// skips: it returns the payload's own source), else `source()`.
fn cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(inner) = e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        return Some(inner);
    }
    e.source()
}

/// Every error of a chain, outermost first (bounded: chains are short).
fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| cause(e)).take(16)
}

/// The rustls error (certificate, handshake) in a chain, if any.
pub(crate) fn tls_cause(err: &(dyn StdError + 'static)) -> Option<String> {
    chain(err)
        .find_map(|e| e.downcast_ref::<rustls::Error>())
        .map(ToString::to_string)
}

/// The most specific io::ErrorKind of a chain: wrappers often re-wrap an
/// io error as `Other`, so a specific kind deeper down wins.
pub(crate) fn io_kind(err: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    let mut kinds = chain(err).filter_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind));
    let first = kinds.next()?;
    Some(if first == io::ErrorKind::Other {
        kinds.find(|k| *k != io::ErrorKind::Other).unwrap_or(first)
    } else {
        first
    })
}

/// A full, one-line description of an error and its causes.
pub(crate) fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    for e in chain(err) {
        let s = e.to_string();
        if !text.contains(&s) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&s);
        }
    }
    text
}

/// Maps an io error met while connecting to `url`.
pub(crate) fn from_io(err: io::Error, url: &str, what: &str) -> RcError {
    if let Some(tls) = tls_cause(&err) {
        return RcError::Tls(format!("{url}: {tls}"));
    }
    match io_kind(&err).unwrap_or(err.kind()) {
        io::ErrorKind::TimedOut => RcError::Timeout {
            what: what.to_owned(),
        },
        kind => RcError::Connect {
            url: url.to_owned(),
            refused: kind == io::ErrorKind::ConnectionRefused,
            message: chain_text(&err),
        },
    }
}

/// Maps a tungstenite error met on the websocket to `url`.
pub(crate) fn from_ws(
    err: tokio_tungstenite::tungstenite::Error,
    url: &str,
    what: &str,
) -> RcError {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err {
        WsError::Io(io) => from_io(io, url, what),
        WsError::Tls(tls) => RcError::Tls(format!("{url}: {tls}")),
        WsError::Http(resp) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            let error = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| rest_error_name(&v));
            RcError::Http {
                status: resp.status().as_u16(),
                endpoint: "/websocket".to_owned(),
                error,
                body,
                reset_ms: None,
            }
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => RcError::Closed {
            code: None,
            reason: format!("{what}: connection closed"),
        },
        other => RcError::Protocol(format!("{what} ({url}): {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meteor_error_numeric_and_string_codes() {
        let e = json!({"isClientSafe":true,"error":404,"reason":"Method 'nope' not found","message":"Method 'nope' not found [404]"});
        assert_eq!(
            meteor_error(&e),
            ("404".to_owned(), "Method 'nope' not found".to_owned())
        );
        let e = json!({"error":"error-action-not-allowed","message":"This is an enterprise feature [error-action-not-allowed]"});
        let (code, reason) = meteor_error(&e);
        assert_eq!(code, "error-action-not-allowed");
        assert!(reason.starts_with("This is an enterprise feature"));
    }

    #[test]
    fn rest_error_prefers_error_type() {
        let b = json!({"success":false,"error":"Room not found [error-room-not-found]","errorType":"error-room-not-found"});
        assert_eq!(rest_error_name(&b).as_deref(), Some("error-room-not-found"));
        let b = json!({"success":false,"error":"unauthorized"});
        assert_eq!(rest_error_name(&b).as_deref(), Some("unauthorized"));
        assert_eq!(rest_error_name(&json!({"x":1})), None);
    }

    #[test]
    fn io_errors_map_to_refused_timeout_and_tls() {
        let refused = from_io(
            io::Error::from(io::ErrorKind::ConnectionRefused),
            "ws://x",
            "connect",
        );
        assert!(matches!(refused, RcError::Connect { refused: true, .. }));
        let t = from_io(
            io::Error::from(io::ErrorKind::TimedOut),
            "ws://x",
            "connect",
        );
        assert!(matches!(t, RcError::Timeout { .. }));
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        );
        assert!(matches!(
            from_io(tls, "wss://x", "connect"),
            RcError::Tls(_)
        ));
    }
}
