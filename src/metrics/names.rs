//! The metric names every run has, whatever its steps, and which of them
//! are counters: the one list that scenario validation, the engine and
//! the results read. Step metrics (`rest.<endpoint>`, `ddp.method.<name>`,
//! ...) are named in `scenario::recorded`.

/// The special threshold metric: every client operation together.
pub const ALL_OPERATIONS: &str = "errors";
/// Completed iterations of a behaviour.
pub const ITERATIONS: &str = "iterations";
/// Open model: arrivals that found no free VU in time.
pub const ITERATIONS_DROPPED: &str = "iterations.dropped";
/// Websocket sessions re-established after a drop.
pub const DDP_RECONNECTS: &str = "ddp.reconnects";
/// Kept websocket sessions that dropped (each then reconnects).
pub const DDP_DISCONNECTS: &str = "ddp.disconnects";
/// Timed: from a kept websocket's drop to the session resumed (connected,
/// logged in again, subscriptions restored).
pub const DDP_RECONNECT: &str = "ddp.reconnect";
/// Sender's send to each subscribed receiver's receipt.
pub const MESSAGE_E2E: &str = "message.e2e";
/// Expected deliveries not received within `loss_timeout`.
pub const MESSAGE_LOST: &str = "message.lost";
/// Deliveries received more than once.
pub const MESSAGE_DUPLICATE: &str = "message.duplicate";
/// Deliveries received of messages another shard sent (also in
/// `message.e2e`, timed by the sending host's clock).
pub const MESSAGE_CROSS_SHARD: &str = "message.cross_shard";
/// The generator's own scheduler lag.
pub const GENERATOR_LAG: &str = "generator.lag";
/// Gauge: the generator's CPU use in % of the cores it may use.
pub const GENERATOR_CPU_PCT: &str = "generator.cpu_pct";
/// Gauge: VUs running.
pub const VUS_ACTIVE: &str = "vus.active";

/// Counters: only `count` (and `min_count`) limits apply to them.
pub const COUNTERS: &[&str] = &[
    MESSAGE_LOST,
    MESSAGE_DUPLICATE,
    MESSAGE_CROSS_SHARD,
    ITERATIONS_DROPPED,
    DDP_RECONNECTS,
    DDP_DISCONNECTS,
];

/// Names every run records, whatever the steps.
pub const ALWAYS: &[&str] = &[
    ALL_OPERATIONS,
    ITERATIONS,
    ITERATIONS_DROPPED,
    DDP_RECONNECTS,
    DDP_DISCONNECTS,
    DDP_RECONNECT,
    GENERATOR_LAG,
];

/// True for client operations (REST calls, DDP methods and subscriptions,
/// connects, steps); false for observations such as `message.*` and the
/// generator's own `generator.*`. The special threshold metric `errors`
/// and the progress line's requests/s cover operations only.
pub fn is_operation(name: &str) -> bool {
    !(name.starts_with("message.") || is_generator(name) || name == ITERATIONS)
}

/// True for the generator's own `generator.*` figures: they describe the
/// load side, not the target.
pub fn is_generator(name: &str) -> bool {
    name.starts_with("generator.")
}

/// A metric-name pattern: `*` matches any run of characters (including
/// none, including dots), e.g. `rest.*`, `ddp.*.send*`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("rest.*", "rest.chat.postMessage"));
        assert!(glob_match("*.e2e", "message.e2e"));
        assert!(glob_match("ddp.*.send*", "ddp.method.sendMessage"));
        assert!(!glob_match("rest.*", "ddp.connect"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("*", "anything"));
    }
}
