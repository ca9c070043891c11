//! State shared by every instance, and the per-instance part.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde_json::{Value, json};

use super::bus::Bus;
use super::cost::CostModel;
use super::faults::Faults;
use super::ratelimit::Limiters;
use super::store::Store;

/// One store, one bus, one fault state for all instances.
pub struct Shared {
    pub store: Store,
    pub bus: Bus,
    pub faults: Faults,
    pub cost: CostModel,
    pub api_version: u8,
    pub rate_limits: bool,
    pub max_frame_bytes: usize,
    pub max_send_buffer_bytes: usize,
    /// Open websocket sessions per instance.
    pub sessions: Vec<AtomicI64>,
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
        max_frame_bytes: usize,
        max_send_buffer_bytes: usize,
        instances: usize,
    ) -> Shared {
        let lose = faults.clone();
        Shared {
            store,
            bus: Bus::new(Box::new(move || lose.lose_delivery())),
            faults,
            cost,
            api_version,
            rate_limits,
            max_frame_bytes,
            max_send_buffer_bytes,
            sessions: (0..instances).map(|_| AtomicI64::new(0)).collect(),
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
            (d.users.len(), d.rooms.len())
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

/// What one instance (one thread) owns besides the shared state.
pub struct Instance {
    pub shared: Arc<Shared>,
    pub index: usize,
    /// The `x-instance-id` header value.
    pub id: String,
    /// Rocket.Chat keeps rate-limit counters per process.
    pub limiters: Limiters,
}
