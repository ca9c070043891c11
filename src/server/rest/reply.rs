//! REST failures and the JSON responses every endpoint answers with.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::server::errors::MeteorError;
use crate::server::ratelimit::RateInfo;
use crate::server::state::Instance;

/// Why a REST call failed, mapped onto Rocket.Chat's shapes.
#[derive(Debug)]
pub enum RestError {
    /// Missing or bad `X-User-Id`/`X-Auth-Token` (401).
    NotLoggedIn,
    /// Wrong credentials on `/login` (401).
    LoginFailed,
    /// A thrown Meteor.Error (400, or 403/401 for `error-unauthorized`).
    Meteor(MeteorError),
    /// `API.v1.failure('text')` (400).
    Failure(String),
    /// Missing permission (403).
    Forbidden,
    NotFound,
    /// An HTTP status with Rocket.Chat's plain body for it (injected faults).
    Status(u16),
}

impl From<MeteorError> for RestError {
    fn from(e: MeteorError) -> RestError {
        RestError::Meteor(e)
    }
}

impl RestError {
    pub(super) fn to_response(&self, v8: bool) -> (StatusCode, Value) {
        const LOGGED_OUT: &str = "You must be logged in to do this.";
        let fail = |s: &str| json!({ "success": false, "error": s });
        match self {
            RestError::NotLoggedIn if v8 => (StatusCode::UNAUTHORIZED, fail(LOGGED_OUT)),
            RestError::NotLoggedIn => (
                StatusCode::UNAUTHORIZED,
                json!({ "success": false, "error": LOGGED_OUT, "status": "error", "message": LOGGED_OUT }),
            ),
            RestError::LoginFailed if v8 => (StatusCode::UNAUTHORIZED, fail("unauthorized")),
            RestError::LoginFailed => (
                StatusCode::UNAUTHORIZED,
                json!({ "success": false, "error": "Unauthorized", "status": "error", "message": "Unauthorized" }),
            ),
            RestError::Forbidden if v8 => (
                StatusCode::FORBIDDEN,
                json!({ "success": false,
                        "error": "User does not have the permissions required for this action [error-forbidden]",
                        "errorType": "error-forbidden" }),
            ),
            RestError::Forbidden => (
                StatusCode::FORBIDDEN,
                fail(
                    "User does not have the permissions required for this action [error-unauthorized]",
                ),
            ),
            RestError::Meteor(e) => {
                let status = match e.code().as_str() {
                    "error-unauthorized" if v8 => StatusCode::UNAUTHORIZED,
                    "error-unauthorized" => StatusCode::FORBIDDEN,
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut body =
                    json!({ "success": false, "error": e.message(), "errorType": e.code() });
                if let Some(d) = &e.details {
                    body["details"] = d.clone();
                }
                (status, body)
            }
            RestError::Failure(text) => (StatusCode::BAD_REQUEST, fail(text)),
            RestError::NotFound => (StatusCode::NOT_FOUND, fail("Resource not found")),
            RestError::Status(code) => {
                let status =
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let text = match *code {
                    500 => "Internal server error",
                    503 => "Service Unavailable",
                    404 => "Resource not found",
                    401 => LOGGED_OUT,
                    _ => status.canonical_reason().unwrap_or("Error"),
                };
                (status, fail(text))
            }
        }
    }
}

/// A JSON response: `Content-Type` exactly `application/json`, plus `x-instance-id`.
pub(super) fn respond(
    inst: &Instance,
    status: StatusCode,
    body: &Value,
    rate: Option<RateInfo>,
) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&inst.id) {
        h.insert("x-instance-id", v);
    }
    if let Some(r) = rate {
        r.apply_headers(h);
    }
    resp
}

/// `{..., "success": true}` with 200, or the error's status and shape.
pub(super) fn respond_result(
    inst: &Instance,
    result: Result<Value, RestError>,
    rate: Option<RateInfo>,
) -> Response {
    match result {
        Ok(mut body) => {
            if let Value::Object(m) = &mut body {
                m.insert("success".into(), Value::Bool(true));
            }
            respond(inst, StatusCode::OK, &body, rate)
        }
        Err(e) => {
            let (status, body) = e.to_response(inst.shared.v8());
            respond(inst, status, &body, rate)
        }
    }
}
