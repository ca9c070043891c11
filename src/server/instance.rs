//! One instance: an OS thread running a current-thread tokio runtime that
//! serves the axum app (REST + `/websocket`) on its own listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use axum::Router;
use axum::routing::{any, get};
use axum::serve::ListenerExt;
use tokio::sync::watch;

use super::errors::ServerError;
use super::ratelimit::Limiters;
use super::sim::{self, SimState};
use super::state::{Instance, Shared};
use super::{ddp, rest};

/// The app of one instance.
pub fn router(inst: Arc<Instance>) -> Router {
    let shared = inst.shared.clone();
    let sim_state = SimState {
        faults: shared.faults.clone(),
        stats: Arc::new(move || shared.stats()),
    };
    Router::new()
        .route("/api/info", get(rest::info))
        .route("/api/v1/{*endpoint}", any(rest::endpoint))
        .route("/websocket", get(ddp::upgrade))
        .fallback(rest::not_found)
        .layer(axum::middleware::from_fn_with_state(
            inst.clone(),
            restarting,
        ))
        .with_state(inst)
        // Outside the fault gate: a stalled server must still take the fault that clears it.
        .merge(sim::router(sim_state))
}

/// While the instance restarts (`restart` fault), every request gets 502
/// with Rocket.Chat's error shape, as a reverse proxy answers for a down
/// upstream.
async fn restarting(
    axum::extract::State(inst): axum::extract::State<Arc<Instance>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if inst.shared.faults.down(inst.index) {
        let body = serde_json::json!({"success": false, "error": "the instance is restarting"});
        return (axum::http::StatusCode::BAD_GATEWAY, axum::Json(body)).into_response();
    }
    next.run(request).await
}

/// Starts instance `index` on `listener`; reports on `ready` once serving.
pub fn spawn(
    index: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    ready: Sender<Result<(), ServerError>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("{}inst-{index}", super::THREAD_PREFIX))
        .spawn(move || {
            let fail = |message: String| ServerError::Instance {
                instance: index,
                message,
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready.send(Err(fail(format!("runtime: {e}"))));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready.send(Err(fail(format!("listener: {e}"))));
                        return;
                    }
                };
                let inst = Arc::new(Instance {
                    limiters: Limiters::new(shared.limiter_switches.clone()),
                    id: format!("{}-{index}", super::ids::random_id()),
                    index,
                    shared,
                });
                let app = router(inst.clone()).into_make_service_with_connect_info::<SocketAddr>();
                let listener = listener.tap_io(|tcp| {
                    // Small request/response frames: never wait for Nagle.
                    let _ = tcp.set_nodelay(true);
                });
                if let Some(m) = &inst.shared.metrics {
                    tokio::spawn(m.register_instance_lag(index));
                }
                let _ = ready.send(Ok(()));
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            });
            // Dropping the runtime cancels every connection task of this instance.
            drop(rt);
        })
}
