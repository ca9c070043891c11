//! The small, stable set of error kinds that metrics count failures by.

use std::fmt;

/// Why an operation failed. Counts are kept per [`ErrorClass::key`], so the
/// keys are part of the results format and must stay stable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// TCP connection refused (nothing listening).
    ConnectRefused,
    /// Any other connection failure (DNS, reset, unreachable).
    Connect,
    /// The operation did not complete in time.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// HTTP status 4xx or 5xx (429 included).
    Http(u16),
    /// DDP method or subscription error code, e.g. "404",
    /// "error-invalid-user", "too-many-requests".
    Ddp(String),
    /// The websocket closed, with its close code when one was sent.
    WsClosed(Option<u16>),
    /// The peer broke the protocol (unparsable reply, unexpected message).
    Protocol,
    /// Anything else.
    Other,
}

/// Longest DDP code kept in a key; longer codes are cut (keys stay small).
const MAX_CODE_LEN: usize = 64;

impl ErrorClass {
    /// The stable key errors are counted under: `connect_refused`, `connect`,
    /// `timeout`, `tls`, `http_<status>`, `ddp_<code>`, `ws_close_<code>` or
    /// `ws_close`, `protocol`, `other`. DDP codes keep `[A-Za-z0-9_.-]`; any
    /// other character becomes `_`.
    pub fn key(&self) -> String {
        match self {
            ErrorClass::ConnectRefused => "connect_refused".into(),
            ErrorClass::Connect => "connect".into(),
            ErrorClass::Timeout => "timeout".into(),
            ErrorClass::Tls => "tls".into(),
            ErrorClass::Http(status) => format!("http_{status}"),
            ErrorClass::Ddp(code) => {
                let code: String = code
                    .chars()
                    .take(MAX_CODE_LEN)
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if code.is_empty() {
                    "ddp_unknown".into()
                } else {
                    format!("ddp_{code}")
                }
            }
            ErrorClass::WsClosed(Some(code)) => format!("ws_close_{code}"),
            ErrorClass::WsClosed(None) => "ws_close".into(),
            ErrorClass::Protocol => "protocol".into(),
            ErrorClass::Other => "other".into(),
        }
    }

    /// True for the "rate limited" family: HTTP 429 and DDP `too-many-requests`.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            ErrorClass::Http(status) => *status == 429,
            ErrorClass::Ddp(code) => code == "too-many-requests",
            _ => false,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        let cases = [
            (ErrorClass::ConnectRefused, "connect_refused"),
            (ErrorClass::Connect, "connect"),
            (ErrorClass::Timeout, "timeout"),
            (ErrorClass::Tls, "tls"),
            (ErrorClass::Http(404), "http_404"),
            (ErrorClass::Http(429), "http_429"),
            (ErrorClass::Http(503), "http_503"),
            (ErrorClass::Ddp("404".into()), "ddp_404"),
            (
                ErrorClass::Ddp("error-invalid-user".into()),
                "ddp_error-invalid-user",
            ),
            (
                ErrorClass::Ddp("too-many-requests".into()),
                "ddp_too-many-requests",
            ),
            (ErrorClass::Ddp("bad code/\"x\"".into()), "ddp_bad_code__x_"),
            (ErrorClass::Ddp(String::new()), "ddp_unknown"),
            (ErrorClass::WsClosed(Some(1006)), "ws_close_1006"),
            (ErrorClass::WsClosed(None), "ws_close"),
            (ErrorClass::Protocol, "protocol"),
            (ErrorClass::Other, "other"),
        ];
        for (class, key) in cases {
            assert_eq!(class.key(), key);
        }
    }

    #[test]
    fn long_ddp_codes_are_cut() {
        let key = ErrorClass::Ddp("x".repeat(500)).key();
        assert_eq!(key.len(), "ddp_".len() + MAX_CODE_LEN);
    }

    #[test]
    fn rate_limited_family() {
        assert!(ErrorClass::Http(429).is_rate_limited());
        assert!(ErrorClass::Ddp("too-many-requests".into()).is_rate_limited());
        assert!(!ErrorClass::Http(503).is_rate_limited());
        assert!(!ErrorClass::Timeout.is_rate_limited());
    }
}
