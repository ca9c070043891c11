//! Protocol errors to metric error classes: the one mapping from
//! `RcError` onto the small stable set results are counted by.

use crate::metrics::ErrorClass;
use crate::rocketchat::RcError;

pub fn classify(err: &RcError) -> ErrorClass {
    match err {
        RcError::Connect { refused: true, .. } => ErrorClass::ConnectRefused,
        RcError::Connect { .. } => ErrorClass::Connect,
        RcError::Timeout { .. } => ErrorClass::Timeout,
        RcError::Tls(_) => ErrorClass::Tls,
        RcError::Http { status, .. } => ErrorClass::Http(*status),
        RcError::Ddp { code, .. } | RcError::Nosub { code, .. } => ErrorClass::Ddp(code.clone()),
        RcError::Closed { code, .. } => ErrorClass::WsClosed(*code),
        RcError::Protocol(_) => ErrorClass::Protocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let refused = RcError::Connect {
            url: "http://127.0.0.1:1".into(),
            refused: true,
            message: "refused".into(),
        };
        assert_eq!(classify(&refused), ErrorClass::ConnectRefused);
        let http = RcError::Http {
            status: 429,
            endpoint: "login".into(),
            error: None,
            body: String::new(),
            reset_ms: None,
        };
        assert_eq!(classify(&http).key(), "http_429");
        let nosub = RcError::Nosub {
            name: "stream-x".into(),
            code: "404".into(),
            reason: "not found".into(),
        };
        assert_eq!(classify(&nosub).key(), "ddp_404");
        let closed = RcError::Closed {
            code: Some(1006),
            reason: String::new(),
        };
        assert_eq!(classify(&closed), ErrorClass::WsClosed(Some(1006)));
    }
}
