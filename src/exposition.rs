//! The Prometheus `/metrics` endpoint both sides serve: the reference
//! server (`serve --metrics-listen`) and a run's live metrics (`run
//! --metrics-listen`). Only the HTTP part is shared: each side encodes its
//! own series, so a bug in one side's figures cannot hide in the other's.
//!
//! The endpoint runs on a thread of its own with a current-thread runtime,
//! off the instances' event loops and off the VUs' scheduler.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::oneshot;

/// The `Content-Type` of `/metrics` (prometheus-client writes OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Something that renders its series as OpenMetrics text on each scrape.
pub trait Exposition: Clone + Send + Sync + 'static {
    fn encode(&self) -> Result<String, std::fmt::Error>;
}

/// The `/metrics` listener; dropping it (or [`MetricsServer::shutdown`]) stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The bound address (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/metrics`
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Stops the listener (requests in flight are answered) and joins its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The `/metrics` router (also usable inside another server).
pub fn router<E: Exposition>(source: E) -> Router {
    Router::new()
        .route("/metrics", get(scrape::<E>))
        .with_state(source)
}

async fn scrape<E: Exposition>(axum::extract::State(source): axum::extract::State<E>) -> Response {
    match source.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            let mut msg = String::new();
            let _ = write!(msg, "encoding metrics failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, msg).into_response()
        }
    }
}

/// Binds `addr` now, so a busy port is an error here and not later.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `GET /metrics` from `source` on `listener` (from [`bind`]), on a
/// thread named `thread_name`.
pub fn serve<E: Exposition>(
    listener: TcpListener,
    thread_name: String,
    source: E,
) -> std::io::Result<MetricsServer> {
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("metrics listener {bound}: {e}");
                        return;
                    }
                };
                let shutdown = async {
                    let _ = stop_rx.await;
                };
                if let Err(e) = axum::serve(listener, router(source))
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    eprintln!("metrics listener {bound}: {e}");
                }
            });
        })?;
    Ok(MetricsServer {
        addr: bound,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
