//! Meteor.Error (DDP) and the server's own startup errors.

use serde_json::{Map, Value, json};

/// A `Meteor.Error`: what methods throw, serialized into DDP `result.error`,
/// `nosub.error`, and REST failures (`"<reason> [<error>]"`).
#[derive(Clone, Debug, PartialEq)]
pub struct MeteorError {
    /// A number (404, 401) or a string code (`error-invalid-user`).
    pub error: Value,
    pub reason: Option<String>,
    pub details: Option<Value>,
}

impl MeteorError {
    /// A numeric-looking code becomes a number, as `new Meteor.Error(404, ..)`.
    pub fn new(code: &str, reason: impl Into<String>) -> MeteorError {
        let error = code
            .parse::<u16>()
            .map_or_else(|_| Value::from(code), Value::from);
        MeteorError {
            error,
            reason: Some(reason.into()),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> MeteorError {
        self.details = Some(details);
        self
    }

    /// `Method 'x' not found` (404).
    pub fn method_not_found(name: &str) -> MeteorError {
        MeteorError::new("404", format!("Method '{name}' not found"))
    }

    /// `Subscription 'x' not found` (404).
    pub fn sub_not_found(name: &str) -> MeteorError {
        MeteorError::new("404", format!("Subscription '{name}' not found"))
    }

    pub fn invalid_user(method: &str) -> MeteorError {
        MeteorError::new("error-invalid-user", "Invalid user")
            .with_details(json!({ "method": method }))
    }

    pub fn invalid_room(method: &str) -> MeteorError {
        MeteorError::new("error-invalid-room", "Invalid room")
            .with_details(json!({ "method": method }))
    }

    pub fn not_allowed(method: &str) -> MeteorError {
        MeteorError::new("error-not-allowed", "Not allowed")
            .with_details(json!({ "method": method }))
    }

    /// Rocket.Chat rewrites every login failure to this.
    pub fn login_failed() -> MeteorError {
        MeteorError::new("401", "User not found")
    }

    pub fn invalid_params(reason: impl Into<String>) -> MeteorError {
        MeteorError::new("error-invalid-params", reason)
    }

    /// DDP rate limiter rejection.
    pub fn too_many_requests(time_to_reset_ms: u64) -> MeteorError {
        let secs = time_to_reset_ms.div_ceil(1000);
        MeteorError::new(
            "too-many-requests",
            format!("Error, too many requests. Please slow down. You must wait {secs} seconds before trying again."),
        )
        .with_details(json!({ "timeToReset": time_to_reset_ms }))
    }

    /// The error code as text (`404`, `error-invalid-user`).
    pub fn code(&self) -> String {
        match &self.error {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// `"<reason> [<error>]"`, or `"[<error>]"` without a reason.
    pub fn message(&self) -> String {
        match &self.reason {
            Some(r) => format!("{r} [{}]", self.code()),
            None => format!("[{}]", self.code()),
        }
    }

    /// The DDP wire form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("isClientSafe".into(), Value::Bool(true));
        m.insert("error".into(), self.error.clone());
        if let Some(r) = &self.reason {
            m.insert("reason".into(), Value::from(r.as_str()));
        }
        m.insert("message".into(), Value::from(self.message()));
        m.insert("errorType".into(), Value::from("Meteor.Error"));
        if let Some(d) = &self.details {
            m.insert("details".into(), d.clone());
        }
        Value::Object(m)
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} (instance {instance}): {source}")]
    Bind {
        addr: std::net::SocketAddr,
        instance: usize,
        source: std::io::Error,
    },
    #[error("instance {instance}: {message}")]
    Instance { instance: usize, message: String },
    #[error("bad server configuration: {0}")]
    Config(String),
    #[error("seeding the store: {0}")]
    Seed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meteor_error_shapes() {
        let e = MeteorError::method_not_found("nope");
        assert_eq!(
            e.to_json(),
            json!({"isClientSafe":true,"error":404,"reason":"Method 'nope' not found",
                   "message":"Method 'nope' not found [404]","errorType":"Meteor.Error"})
        );
        let e = MeteorError::invalid_user("sendMessage");
        assert_eq!(e.message(), "Invalid user [error-invalid-user]");
        assert_eq!(e.to_json()["details"]["method"], "sendMessage");
    }
}
