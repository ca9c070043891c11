//! The simulator's own control endpoints, on every instance:
//! `POST /_sim/fault` (a fault body of [`super::faults`]; 200 with the
//! active faults, 400 `{"success":false,"error":...}` naming the bad field)
//! and `GET /_sim/stats` (the server's own counts, fields in docs/serve.md).
//!
//! These routes must stay outside the fault gate: a stalled server must still
//! accept the fault that clears the stall, and stats must stay readable.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::faults::Faults;

/// Path of the fault endpoint.
pub const FAULT_PATH: &str = "/_sim/fault";
/// Path of the stats endpoint.
pub const STATS_PATH: &str = "/_sim/stats";

/// What the endpoints need: the shared faults and a way to compute the stats
/// body (the server core owns the counts).
#[derive(Clone)]
pub struct SimState {
    pub faults: Faults,
    pub stats: Arc<dyn Fn() -> Value + Send + Sync>,
}

/// Both routes, ready to `merge` into an instance router of any state type.
pub fn router<S>(state: SimState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(FAULT_PATH, post(post_fault))
        .route(STATS_PATH, get(get_stats))
        .with_state(state)
}

/// `POST /_sim/fault`: the body is read as raw bytes so a malformed JSON body
/// also gets a JSON 400 (axum's `Json` extractor answers in plain text).
pub async fn post_fault(State(state): State<SimState>, body: Bytes) -> Response {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("body is not JSON: {e}")),
    };
    match state.faults.apply(&parsed) {
        Ok(()) => Json(json!({"success": true, "faults": state.faults.snapshot()})).into_response(),
        Err(e) => bad_request(e),
    }
}

/// `GET /_sim/stats`.
pub async fn get_stats(State(state): State<SimState>) -> Json<Value> {
    Json((state.stats)())
}

fn bad_request(error: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"success": false, "error": error})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves the sim router on a port-0 loopback listener.
    async fn spawn() -> (String, Faults) {
        let faults = Faults::new();
        let snapshot = faults.clone();
        let state = SimState {
            faults: faults.clone(),
            stats: Arc::new(move || json!({"messages_stored": 7, "faults": snapshot.snapshot()})),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app: Router = router(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), faults)
    }

    async fn post(base: &str, body: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{base}{FAULT_PATH}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn fault_applies_and_reports() {
        let (base, faults) = spawn().await;
        let (status, body) = post(&base, r#"{"kind":"latency","ms":20}"#).await;
        assert_eq!(status, 200);
        assert_eq!(body["success"], true);
        assert_eq!(body["faults"]["latency_ms"], 20);
        assert_eq!(faults.snapshot()["latency_ms"], 20);
    }

    #[tokio::test]
    async fn bad_fault_is_a_json_400() {
        let (base, faults) = spawn().await;
        let (status, body) = post(&base, r#"{"kind":"errors","status":503}"#).await;
        assert_eq!(status, 400);
        assert_eq!(body["success"], false);
        assert!(
            body["error"].as_str().unwrap().contains("`ratio`"),
            "{body}"
        );
        let (status, body) = post(&base, "{not json").await;
        assert_eq!(status, 400);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("body is not JSON")
        );
        assert!(faults.snapshot()["errors"].is_null());
    }

    #[tokio::test]
    async fn stats_come_from_the_core() {
        let (base, faults) = spawn().await;
        faults
            .apply(&json!({"kind": "rate_limit", "per_second": 3}))
            .unwrap();
        let body: Value = reqwest::get(format!("{base}{STATS_PATH}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["messages_stored"], 7);
        assert_eq!(body["faults"]["rate_limit_per_second"], 3);
    }
}
