//! State shared by every instance, and the per-instance part.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde_json::{Value, json};

use super::bus::Bus;
use super::cost::CostModel;
use super::faults::Faults;
use super::metrics::{ServerMetrics, StoreGauges};
use super::ratelimit::{Limiters, Switches};
use super::store::Store;

/// One store, one bus, one fault state for all instances.
pub struct Shared {
    pub store: Store,
    pub bus: Bus,
    pub faults: Faults,
    pub cost: CostModel,
    pub api_version: u8,
    /// The limiters' switches, shared by every instance's [`Limiters`].
    pub limiter_switches: Arc<Switches>,
    /// `Accounts_RegistrationForm` is `Public` (else `Disabled`).
    pub registration_open: bool,
    pub max_frame_bytes: usize,
    pub max_send_buffer_bytes: usize,
    /// Prometheus metrics, when `metrics_listen` is set.
    pub metrics: Option<ServerMetrics>,
    /// Open websocket sessions per instance.
    pub sessions: Vec<AtomicI64>,
    /// Websocket sessions that are logged in.
    pub auth_sessions: AtomicI64,
    /// Silence before the server pings (and again before it closes).
    pub heartbeat: std::time::Duration,
    next_conn: AtomicU64,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        faults: Faults,
        cost: CostModel,
        api_version: u8,
        rate_limits: bool,
        registration_open: bool,
        max_frame_bytes: usize,
        max_send_buffer_bytes: usize,
        instances: usize,
        metrics: Option<ServerMetrics>,
        heartbeat: std::time::Duration,
    ) -> Shared {
        let lose = faults.clone();
        Shared {
            store,
            bus: Bus::new(Box::new(move || lose.lose_delivery())),
            faults,
            cost,
            api_version,
            limiter_switches: Switches::new(rate_limits),
            registration_open,
            max_frame_bytes,
            max_send_buffer_bytes,
            metrics,
            sessions: (0..instances).map(|_| AtomicI64::new(0)).collect(),
            auth_sessions: AtomicI64::new(0),
            heartbeat,
            next_conn: AtomicU64::new(1),
        }
    }

    /// A process-unique connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Rocket.Chat 8.x error shapes?
    pub fn v8(&self) -> bool {
        self.api_version >= 8
    }

    /// The body of `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        let sessions: Vec<i64> = self
            .sessions
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect();
        let (users, rooms) = {
            let d = self.store.read();
            (d.user_count(), d.room_count())
        };
        json!({
            "messages_stored": self.store.messages_stored(),
            "deliveries": self.bus.deliveries(),
            "deliveries_lost": self.faults.deliveries_lost(),
            "sessions": sessions.iter().sum::<i64>(),
            "sessions_by_instance": sessions,
            "users": users,
            "rooms": rooms,
            "faults": self.faults.snapshot(),
        })
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl StoreGauges for Shared {
    fn users(&self) -> u64 {
        self.store.read().user_count() as u64
    }
    fn rooms(&self) -> u64 {
        self.store.read().room_count() as u64
    }
    fn channels(&self) -> u64 {
        // Every room of the reference server is a public channel.
        self.rooms()
    }
    fn messages(&self) -> u64 {
        self.store.messages_stored()
    }
    fn ddp_sessions(&self) -> u64 {
        self.sessions
            .iter()
            .map(|s| non_negative(s.load(Ordering::Relaxed)))
            .sum()
    }
    fn ddp_sessions_auth(&self) -> u64 {
        non_negative(self.auth_sessions.load(Ordering::Relaxed))
    }
    fn ddp_connected_users(&self) -> u64 {
        let d = self.store.read();
        d.users.iter().filter(|u| u.connections > 0).count() as u64
    }
}

/// What one instance (one thread) owns besides the shared state.
pub struct Instance {
    pub shared: Arc<Shared>,
    pub index: usize,
    /// The `x-instance-id` header value.
    pub id: String,
    /// Rocket.Chat keeps rate-limit counters per process.
    pub limiters: Limiters,
}
