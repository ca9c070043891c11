//! The reference Rocket.Chat-compatible server (`rocketload serve`).
//!
//! N instances, each a single-threaded event loop (a current-thread tokio
//! runtime on its own OS thread, as a Node.js process is) serving REST and
//! the DDP websocket on one port, all sharing one in-memory [`store`] and one
//! fan-out [`bus`] (as instances share MongoDB change streams).
//! It speaks Rocket.Chat's REST and DDP protocol closely enough for the
//! official JS clients (tests/conformance); flags and control endpoints
//! are in docs/serve.md.

pub mod bus;
pub mod cost;
mod ddp;
pub mod errors;
mod events;
pub mod faults;
pub mod ids;
mod instance;
pub mod methods;
pub mod metrics;
pub mod ratelimit;
mod rest;
pub mod shapes;
pub mod sim;
pub mod state;
pub mod store;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::Value;
use tokio::sync::watch;

pub use errors::ServerError;
use state::Shared;
use store::{SeedPlan, Store};

/// Most instances one server runs (each is an OS thread and a port).
pub const MAX_INSTANCES: usize = 256;
/// How the server's threads are named (`rcserve-inst-0`, `rcserve-metrics`;
/// Linux keeps 15 bytes of a thread name): the generator's self-check
/// leaves them out when the server is embedded in a run.
pub const THREAD_PREFIX: &str = "rcserve-";
/// Smallest accepted `max_frame_bytes` (a login frame must fit).
pub const MIN_FRAME_BYTES: usize = 1024;

/// Everything `start` needs; `rocketload serve` flags map onto it.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Instance 0's address; instance i uses port + i (port 0: OS-chosen each).
    pub listen: SocketAddr,
    pub instances: usize,
    pub metrics_listen: Option<SocketAddr>,
    pub cost: cost::CostModel,
    pub seed: Seed,
    pub admin_user: String,
    pub admin_password: String,
    pub rate_limits: bool,
    /// Self-registration (`users.register`) allowed, as Rocket.Chat's
    /// `Accounts_RegistrationForm: Public`.
    pub registration_open: bool,
    /// 7 or 8: which Rocket.Chat REST error shapes to use.
    pub api_version: u8,
    pub max_frame_bytes: usize,
    pub max_send_buffer_bytes: usize,
}

/// Users and rooms created at start.
#[derive(Clone, Debug)]
pub struct Seed {
    pub users: u32,
    pub rooms: u32,
    pub members_per_room: u32,
    pub password: String,
    pub user_prefix: String,
    pub room_prefix: String,
}

impl Default for Seed {
    fn default() -> Seed {
        Seed {
            users: 0,
            rooms: 0,
            members_per_room: 0,
            password: "password".into(),
            user_prefix: "load-".into(),
            room_prefix: "load-room-".into(),
        }
    }
}

impl ServerConfig {
    /// Loopback, OS-chosen port, one instance, no cost, no seed.
    pub fn embedded() -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            instances: 1,
            metrics_listen: None,
            cost: cost::CostModel::none(),
            seed: Seed::default(),
            admin_user: "admin".into(),
            admin_password: "admin".into(),
            rate_limits: false,
            registration_open: true,
            api_version: 7,
            max_frame_bytes: 1 << 20,
            max_send_buffer_bytes: 4 << 20,
        }
    }

    fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: String| Err(ServerError::Config(m));
        if self.instances == 0 || self.instances > MAX_INSTANCES {
            return bad(format!(
                "instances must be 1..={MAX_INSTANCES}, got {}",
                self.instances
            ));
        }
        if !matches!(self.api_version, 7 | 8) {
            return bad(format!(
                "api_version must be 7 or 8, got {}",
                self.api_version
            ));
        }
        if self.max_frame_bytes < MIN_FRAME_BYTES {
            return bad(format!(
                "max_frame_bytes must be at least {MIN_FRAME_BYTES}, got {}",
                self.max_frame_bytes
            ));
        }
        if self.max_send_buffer_bytes < self.max_frame_bytes {
            return bad(format!(
                "max_send_buffer_bytes ({}) must be at least max_frame_bytes ({})",
                self.max_send_buffer_bytes, self.max_frame_bytes
            ));
        }
        let port = self.listen.port();
        if port != 0 && usize::from(port) + self.instances - 1 > usize::from(u16::MAX) {
            return bad(format!("ports {port}+{} pass 65535", self.instances - 1));
        }
        if self.seed.members_per_room > 0 && self.seed.users == 0 && self.seed.rooms > 0 {
            return bad("members_per_room needs seeded users".into());
        }
        Ok(())
    }
}

/// A running server; dropping it stops every instance.
pub struct Server {
    urls: Vec<String>,
    metrics: Option<metrics::MetricsServer>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

/// Binds every listener, seeds the store, starts one thread per instance
/// and returns once each instance accepts connections.
pub fn start(cfg: ServerConfig) -> Result<Server, ServerError> {
    start_with_heartbeat(cfg, ddp::HEARTBEAT)
}

/// [`start`] with another DDP heartbeat interval (tests).
pub(crate) fn start_with_heartbeat(
    cfg: ServerConfig,
    heartbeat: std::time::Duration,
) -> Result<Server, ServerError> {
    cfg.validate()?;
    let store = Store::new(&cfg.admin_user, &cfg.admin_password)
        .map_err(|e| ServerError::Config(format!("admin user: {}", e.message())))?;
    store
        .seed(&SeedPlan {
            users: cfg.seed.users,
            rooms: cfg.seed.rooms,
            members_per_room: cfg.seed.members_per_room,
            password: &cfg.seed.password,
            user_prefix: &cfg.seed.user_prefix,
            room_prefix: &cfg.seed.room_prefix,
        })
        .map_err(|e| ServerError::Seed(e.message()))?;
    let mut listeners = Vec::with_capacity(cfg.instances);
    for i in 0..cfg.instances {
        let mut addr = cfg.listen;
        if addr.port() != 0 {
            // validate() checked that base + i fits in u16.
            addr.set_port(addr.port() + i as u16);
        }
        let l = TcpListener::bind(addr).map_err(|source| ServerError::Bind {
            addr,
            instance: i,
            source,
        })?;
        l.set_nonblocking(true)
            .map_err(|source| ServerError::Bind {
                addr,
                instance: i,
                source,
            })?;
        listeners.push(l);
    }
    let metrics = cfg.metrics_listen.map(|_| {
        let version = if cfg.api_version >= 8 {
            "8.0.0"
        } else {
            "7.10.0"
        };
        metrics::ServerMetrics::new(cfg.instances, version)
    });
    let shared = Shared::new(
        store,
        faults::Faults::new(),
        cfg.cost.clone(),
        cfg.api_version,
        cfg.rate_limits,
        cfg.registration_open,
        cfg.max_frame_bytes,
        cfg.max_send_buffer_bytes,
        cfg.instances,
        metrics.clone(),
        heartbeat,
    );
    let shared = Arc::new(shared);
    if let Some(m) = &metrics {
        let gauges: Arc<dyn metrics::StoreGauges> = shared.clone();
        m.attach_store(Arc::downgrade(&gauges));
    }
    let (shutdown, _) = watch::channel(false);
    let mut urls = Vec::with_capacity(cfg.instances);
    let mut threads = Vec::with_capacity(cfg.instances);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    for (i, l) in listeners.into_iter().enumerate() {
        let addr = l.local_addr().map_err(|e| ServerError::Instance {
            instance: i,
            message: e.to_string(),
        })?;
        urls.push(format!("http://{addr}"));
        let spawned = instance::spawn(i, l, shared.clone(), shutdown.subscribe(), ready_tx.clone())
            .map_err(|e| ServerError::Instance {
                instance: i,
                message: e.to_string(),
            })?;
        threads.push(spawned);
    }
    drop(ready_tx);
    let mut server = Server {
        urls,
        metrics: None,
        shared,
        shutdown,
        threads,
    };
    for _ in 0..cfg.instances {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(ServerError::Instance {
                    instance: 0,
                    message: "an instance thread died at start".into(),
                });
            }
        }
    }
    if let (Some(addr), Some(m)) = (cfg.metrics_listen, metrics) {
        let listener = metrics::serve(addr, m).map_err(|source| ServerError::Bind {
            addr,
            instance: cfg.instances,
            source,
        })?;
        server.metrics = Some(listener);
    }
    Ok(server)
}

impl Server {
    /// `http://127.0.0.1:PORT`, one per instance.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// `http://ADDR/metrics` when `metrics_listen` was set.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics.as_ref().map(metrics::MetricsServer::url)
    }

    /// Same bodies as `POST /_sim/fault`.
    pub fn apply_fault(&self, fault: &Value) -> Result<(), String> {
        self.shared.faults.apply(fault)
    }

    /// The shared fault state.
    pub fn faults(&self) -> faults::Faults {
        self.shared.faults.clone()
    }

    /// Same as `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        self.shared.stats()
    }

    /// Stops every instance and joins their threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(m) = self.metrics.take() {
            m.shutdown();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
