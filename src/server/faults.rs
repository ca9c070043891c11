//! Fault injection shared by every instance of the reference server.
//!
//! `POST /_sim/fault` (and `Server::apply_fault`, and scenarios on the
//! embedded server) change this state; the request and frame paths of every
//! instance consult it. Bodies (documented for users in docs/serve.md):
//!
//! | body | effect |
//! |---|---|
//! | `{"kind":"stall","duration_ms":1000}` | every instance stops answering for that long, then answers what queued (0 clears) |
//! | `{"kind":"latency","ms":20}` | fixed delay added to every reply (0 clears) |
//! | `{"kind":"errors","status":503,"ratio":0.1,"duration_ms":5000}` | that share of requests fails with `status` (no `duration_ms`: until cleared; ratio 0 clears) |
//! | `{"kind":"rate_limit","per_second":10}` | global budget of requests per second, the rest get 429 / `too-many-requests` (0 clears) |
//! | `{"kind":"drop_connections"}` | every open websocket is closed now |
//! | `{"kind":"lose_messages","ratio":0.01,"duration_ms":5000}` | that share of stream deliveries is silently dropped (no `duration_ms`: until cleared) |
//! | `{"kind":"restart","instance":0,"down_ms":2000}` | instance 0 restarts as a Rocket.Chat process against a persistent MongoDB: its websockets close now, and for `down_ms` every request to it (REST, `/api/info`, websocket upgrade) gets 502 as a reverse proxy answers for a down upstream; the store (users, rooms, messages, login tokens) is kept |
//! | `{"kind":"clear"}` | every fault above is cleared |
//!
//! The state lives in atomics behind one `Arc`, so the per-request checks
//! cost a few relaxed loads and never block another instance's thread; the
//! only sync primitive is `tokio::sync::watch`, which works across runtimes.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::watch;

/// Longest stall or fault duration accepted, to catch unit mistakes (1 hour).
const MAX_DURATION_MS: u64 = 3_600_000;
/// Deadline value meaning "until cleared".
const FOREVER: u64 = u64::MAX;

/// The shared fault state; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

struct Inner {
    /// Time base: deadlines are microseconds since this instant (0 = none).
    epoch: Instant,
    stall_until_us: AtomicU64,
    latency_ms: AtomicU64,
    errors: RatioFault,
    error_status: AtomicU32,
    rate_per_second: AtomicU64,
    /// Fixed one-second window: `(second << 32) | calls in that second`.
    rate_window: AtomicU64,
    lose: RatioFault,
    drop_tx: watch::Sender<u64>,
    /// Bumped on every stall change, so waiters re-check at once when a
    /// stall is cleared or shortened.
    stall_tx: watch::Sender<u64>,
    stalls: AtomicU64,
    errors_injected: AtomicU64,
    rate_limited: AtomicU64,
    deliveries_lost: AtomicU64,
    /// Per instance: down (answering 502) until this deadline (0 = up).
    down_until_us: Box<[AtomicU64]>,
    /// `(restarts so far, the instance restarted last)`.
    restart_tx: watch::Sender<(u64, usize)>,
}

/// A fault that hits a random share of events until a deadline.
#[derive(Default)]
struct RatioFault {
    ratio_bits: AtomicU64,
    until_us: AtomicU64,
}

impl RatioFault {
    fn set(&self, ratio: f64, until_us: u64) {
        self.ratio_bits.store(ratio.to_bits(), Ordering::Relaxed);
        // Release pairs with the Acquire in `hit`: a reader that sees the new
        // deadline also sees the new ratio.
        self.until_us.store(until_us, Ordering::Release);
    }

    fn clear(&self) {
        self.until_us.store(0, Ordering::Release);
    }

    /// `Some(ratio, until)` while active.
    fn active(&self, now_us: u64) -> Option<(f64, u64)> {
        let until = self.until_us.load(Ordering::Acquire);
        if until <= now_us {
            return None;
        }
        let ratio = f64::from_bits(self.ratio_bits.load(Ordering::Relaxed));
        (ratio > 0.0).then_some((ratio, until))
    }

    /// Draws at the ratio while active. Reads the clock only when a fault is
    /// set, and forgets an expired one so later calls skip the clock too.
    fn hit(&self, now_us: impl FnOnce() -> u64) -> bool {
        let until = self.until_us.load(Ordering::Acquire);
        if until == 0 {
            return false;
        }
        let now = now_us();
        if until <= now {
            // Only if no new fault was set meanwhile.
            let _ = self
                .until_us
                .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed);
            return false;
        }
        self.active(now)
            .is_some_and(|(ratio, _)| unit_random() < ratio)
    }

    fn snapshot(&self, now_us: u64) -> Option<Map<String, Value>> {
        let (ratio, until) = self.active(now_us)?;
        let mut m = Map::new();
        m.insert("ratio".into(), json!(ratio));
        m.insert("remaining_ms".into(), remaining_ms(until, now_us));
        Some(m)
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new()
    }
}

impl Faults {
    /// No fault active.
    pub fn new() -> Faults {
        let (drop_tx, _) = watch::channel(0);
        let (stall_tx, _) = watch::channel(0);
        let (restart_tx, _) = watch::channel((0, 0));
        Faults {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                stall_until_us: AtomicU64::new(0),
                latency_ms: AtomicU64::new(0),
                errors: RatioFault::default(),
                error_status: AtomicU32::new(503),
                rate_per_second: AtomicU64::new(0),
                rate_window: AtomicU64::new(0),
                lose: RatioFault::default(),
                drop_tx,
                stall_tx,
                stalls: AtomicU64::new(0),
                errors_injected: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                deliveries_lost: AtomicU64::new(0),
                down_until_us: (0..super::MAX_INSTANCES)
                    .map(|_| AtomicU64::new(0))
                    .collect(),
                restart_tx,
            }),
        }
    }

    /// Applies one fault body; `Err` names the bad field and changes nothing.
    pub fn apply(&self, body: &Value) -> Result<(), String> {
        let fault = Fault::parse(body)?;
        let inner = &self.inner;
        let now = self.now_us();
        match fault {
            Fault::Stall { duration_ms } => {
                let until = if duration_ms == 0 {
                    0
                } else {
                    inner.stalls.fetch_add(1, Ordering::Relaxed);
                    now + duration_ms * 1000
                };
                inner.stall_until_us.store(until, Ordering::Release);
                inner.stall_tx.send_modify(|n| *n += 1);
            }
            Fault::Latency { ms } => inner.latency_ms.store(ms, Ordering::Relaxed),
            Fault::Errors {
                status,
                ratio,
                duration_ms,
            } => {
                inner
                    .error_status
                    .store(u32::from(status), Ordering::Relaxed);
                set_ratio(&inner.errors, ratio, duration_ms, now);
            }
            Fault::RateLimit { per_second } => {
                inner.rate_per_second.store(per_second, Ordering::Relaxed)
            }
            Fault::DropConnections => inner.drop_tx.send_modify(|n| *n += 1),
            Fault::LoseMessages { ratio, duration_ms } => {
                set_ratio(&inner.lose, ratio, duration_ms, now)
            }
            Fault::Restart { instance, down_ms } => {
                if let Some(down) = inner.down_until_us.get(instance) {
                    down.store(now + down_ms * 1000, Ordering::Release);
                }
                inner.restart_tx.send_modify(|(n, i)| {
                    *n += 1;
                    *i = instance;
                });
            }
            Fault::Clear => {
                for down in &inner.down_until_us {
                    down.store(0, Ordering::Release);
                }
                inner.stall_until_us.store(0, Ordering::Release);
                inner.stall_tx.send_modify(|n| *n += 1);
                inner.latency_ms.store(0, Ordering::Relaxed);
                inner.errors.clear();
                inner.rate_per_second.store(0, Ordering::Relaxed);
                inner.lose.clear();
            }
        }
        Ok(())
    }

    /// Waits out an active stall (re-checking: a stall may be extended while
    /// waiting), then the fixed latency. Call it before answering anything.
    pub async fn gate(&self) {
        // The common case (no stall) is one atomic load.
        while self.stalled() {
            // Subscribe before reading the deadline: a change after this
            // point wakes `changed()`.
            let mut changes = self.inner.stall_tx.subscribe();
            let until = self.inner.stall_until_us.load(Ordering::Acquire);
            let Some(wait) = until.checked_sub(self.now_us()) else {
                break;
            };
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_micros(wait)) => {}
                _ = changes.changed() => {}
            }
        }
        let ms = self.inner.latency_ms.load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// True while a stall is in force.
    pub fn stalled(&self) -> bool {
        let until = self.inner.stall_until_us.load(Ordering::Acquire);
        until != 0 && until > self.now_us()
    }

    /// The status to fail this request with, drawn at the configured ratio.
    pub fn injected_error(&self) -> Option<u16> {
        if !self.inner.errors.hit(|| self.now_us()) {
            return None;
        }
        self.inner.errors_injected.fetch_add(1, Ordering::Relaxed);
        // The stored value came from a u16 in `apply`.
        u16::try_from(self.inner.error_status.load(Ordering::Relaxed)).ok()
    }

    /// True when this request exceeds the global per-second budget (counted).
    pub fn rate_limited(&self) -> bool {
        let limit = self.inner.rate_per_second.load(Ordering::Relaxed);
        if limit == 0 {
            return false;
        }
        // Seconds since the epoch fit in 32 bits for 136 years of uptime.
        let second = (self.now_us() / 1_000_000) & 0xFFFF_FFFF;
        let bump = |packed: u64| {
            let count = packed & 0xFFFF_FFFF;
            if packed >> 32 == second {
                (second << 32) | (count + 1).min(0xFFFF_FFFF)
            } else {
                (second << 32) | 1
            }
        };
        let prev = self
            .inner
            .rate_window
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| Some(bump(p)));
        // The closure always returns Some, so `prev` is always Ok.
        let after = bump(prev.unwrap_or_else(|p| p));
        let limited = (after & 0xFFFF_FFFF) > limit;
        if limited {
            self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        limited
    }

    /// Milliseconds until the rate-limit window resets (for the 429 / DDP error).
    pub fn rate_limit_reset_ms(&self) -> u64 {
        1000 - (self.now_us() / 1000) % 1000
    }

    /// True when this stream delivery must be dropped (counted as lost).
    pub fn lose_delivery(&self) -> bool {
        let lost = self.inner.lose.hit(|| self.now_us());
        if lost {
            self.inner.deliveries_lost.fetch_add(1, Ordering::Relaxed);
        }
        lost
    }

    /// Deliveries dropped by `lose_messages` so far.
    pub fn deliveries_lost(&self) -> u64 {
        self.inner.deliveries_lost.load(Ordering::Relaxed)
    }

    /// Changes (to a new count) on every `drop_connections`; each websocket
    /// task holds one and closes when `changed()` resolves.
    pub fn drop_signal(&self) -> watch::Receiver<u64> {
        self.inner.drop_tx.subscribe()
    }

    /// True while instance `index` is restarting (`restart` fault).
    pub fn down(&self, index: usize) -> bool {
        // Every request asks: no clock read unless a restart was applied.
        let until = self
            .inner
            .down_until_us
            .get(index)
            .map_or(0, |d| d.load(Ordering::Acquire));
        until != 0 && until > self.now_us()
    }

    /// Resolves when instance `index` restarts (a websocket task of that
    /// instance closes then); never for other instances' restarts.
    pub async fn restarted(&self, index: usize) {
        let mut rx = self.inner.restart_tx.subscribe();
        while rx.changed().await.is_ok() {
            if rx.borrow_and_update().1 == index {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Active faults and counts, for `GET /_sim/stats`.
    pub fn snapshot(&self) -> Value {
        let inner = &self.inner;
        let now = self.now_us();
        let stall_until = inner.stall_until_us.load(Ordering::Acquire);
        let stall =
            (stall_until > now).then(|| json!({"remaining_ms": remaining_ms(stall_until, now)}));
        let errors = inner.errors.snapshot(now).map(|mut m| {
            m.insert(
                "status".into(),
                json!(inner.error_status.load(Ordering::Relaxed)),
            );
            Value::Object(m)
        });
        json!({
            "stall": stall,
            "latency_ms": inner.latency_ms.load(Ordering::Relaxed),
            "errors": errors,
            "rate_limit_per_second": inner.rate_per_second.load(Ordering::Relaxed),
            "lose_messages": inner.lose.snapshot(now).map(Value::Object),
            "counts": {
                "stalls": inner.stalls.load(Ordering::Relaxed),
                "errors_injected": inner.errors_injected.load(Ordering::Relaxed),
                "rate_limited": inner.rate_limited.load(Ordering::Relaxed),
                "deliveries_lost": inner.deliveries_lost.load(Ordering::Relaxed),
                "connection_drops": *inner.drop_tx.borrow(),
                "restarts": inner.restart_tx.borrow().0,
            },
        })
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1)
    }
}

fn set_ratio(fault: &RatioFault, ratio: f64, duration_ms: Option<u64>, now_us: u64) {
    match duration_ms {
        _ if ratio == 0.0 => fault.clear(),
        Some(0) => fault.clear(),
        Some(ms) => fault.set(ratio, now_us + ms * 1000),
        None => fault.set(ratio, FOREVER),
    }
}

fn remaining_ms(until_us: u64, now_us: u64) -> Value {
    if until_us == FOREVER {
        Value::Null
    } else {
        json!(until_us.saturating_sub(now_us).div_ceil(1000))
    }
}

/// One parsed fault body.
#[derive(Debug, PartialEq)]
enum Fault {
    Stall {
        duration_ms: u64,
    },
    Latency {
        ms: u64,
    },
    Errors {
        status: u16,
        ratio: f64,
        duration_ms: Option<u64>,
    },
    RateLimit {
        per_second: u64,
    },
    DropConnections,
    LoseMessages {
        ratio: f64,
        duration_ms: Option<u64>,
    },
    Restart {
        instance: usize,
        down_ms: u64,
    },
    Clear,
}

const KINDS: &str =
    "stall, latency, errors, rate_limit, drop_connections, lose_messages, restart, clear";

impl Fault {
    fn parse(body: &Value) -> Result<Fault, String> {
        let obj = body
            .as_object()
            .ok_or_else(|| format!("fault body must be a JSON object, got {body}"))?;
        let kind = match obj.get("kind") {
            Some(Value::String(k)) => k.as_str(),
            Some(other) => return Err(format!("field `kind` must be a string, got {other}")),
            None => return Err(format!("field `kind` is missing (one of: {KINDS})")),
        };
        let f = Fields { obj, kind };
        let fault = match kind {
            "stall" => {
                f.allow(&["duration_ms"])?;
                Fault::Stall {
                    duration_ms: f
                        .millis("duration_ms")?
                        .ok_or_else(|| f.missing("duration_ms"))?,
                }
            }
            "latency" => {
                f.allow(&["ms"])?;
                Fault::Latency {
                    ms: f.millis("ms")?.ok_or_else(|| f.missing("ms"))?,
                }
            }
            "errors" => {
                f.allow(&["status", "ratio", "duration_ms"])?;
                let status = f
                    .uint("status", 400, 599)?
                    .ok_or_else(|| f.missing("status"))?;
                Fault::Errors {
                    // Bounded to 400..=599 by `uint`.
                    status: u16::try_from(status).unwrap_or(503),
                    ratio: f.ratio()?,
                    duration_ms: f.millis("duration_ms")?,
                }
            }
            "rate_limit" => {
                f.allow(&["per_second"])?;
                Fault::RateLimit {
                    per_second: f
                        .uint("per_second", 0, u64::from(u32::MAX))?
                        .ok_or_else(|| f.missing("per_second"))?,
                }
            }
            "drop_connections" => {
                f.allow(&[])?;
                Fault::DropConnections
            }
            "lose_messages" => {
                f.allow(&["ratio", "duration_ms"])?;
                Fault::LoseMessages {
                    ratio: f.ratio()?,
                    duration_ms: f.millis("duration_ms")?,
                }
            }
            "restart" => {
                f.allow(&["instance", "down_ms"])?;
                let max = super::MAX_INSTANCES as u64 - 1;
                Fault::Restart {
                    // Bounded by `uint`.
                    instance: f.uint("instance", 0, max)?.unwrap_or(0) as usize,
                    down_ms: f.millis("down_ms")?.ok_or_else(|| f.missing("down_ms"))?,
                }
            }
            "clear" => {
                f.allow(&[])?;
                Fault::Clear
            }
            other => {
                return Err(format!(
                    "field `kind`: unknown fault `{other}` (one of: {KINDS})"
                ));
            }
        };
        Ok(fault)
    }
}

/// Field access for one body, with errors that name the field and the kind.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    kind: &'a str,
}

impl Fields<'_> {
    fn allow(&self, known: &[&str]) -> Result<(), String> {
        match self
            .obj
            .keys()
            .find(|k| *k != "kind" && !known.contains(&k.as_str()))
        {
            Some(k) if known.is_empty() => Err(format!(
                "field `{k}` is not allowed for kind `{}` (it takes no fields)",
                self.kind
            )),
            Some(k) => Err(format!(
                "field `{k}` is not allowed for kind `{}` (allowed: {})",
                self.kind,
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    fn missing(&self, name: &str) -> String {
        format!("field `{name}` is required for kind `{}`", self.kind)
    }

    fn uint(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
        let Some(v) = self.obj.get(name) else {
            return Ok(None);
        };
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "field `{name}` must be an integer in {min}..={max}, got {v}"
            )),
        }
    }

    fn millis(&self, name: &str) -> Result<Option<u64>, String> {
        self.uint(name, 0, MAX_DURATION_MS)
    }

    fn ratio(&self) -> Result<f64, String> {
        let v = self.obj.get("ratio").ok_or_else(|| self.missing("ratio"))?;
        match v.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(format!("field `ratio` must be a number in 0..=1, got {v}")),
        }
    }
}

thread_local! {
    /// wyrand state per thread: the draws are on every request of every instance.
    static RNG: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
}

/// A uniform draw in [0, 1) with 53 bits of precision.
fn unit_random() -> f64 {
    let x = RNG.with(|s| {
        let state = s.get().wrapping_add(0xA076_1D64_78BD_642F);
        s.set(state);
        let t = u128::from(state) * u128::from(state ^ 0xE703_7ED1_A0B4_28DB);
        // Folding the 128-bit product is wyrand's mixing step.
        ((t >> 64) ^ t) as u64
    });
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(bodies: &[Value]) -> Faults {
        let f = Faults::new();
        for b in bodies {
            f.apply(b).unwrap();
        }
        f
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let f = Faults::new();
        let cases = [
            (json!([1]), "JSON object"),
            (json!({}), "`kind` is missing"),
            (json!({"kind": 3}), "`kind` must be a string"),
            (json!({"kind": "melt"}), "unknown fault `melt`"),
            (json!({"kind": "stall"}), "`duration_ms` is required"),
            (
                json!({"kind": "stall", "duration_ms": -1}),
                "`duration_ms` must be",
            ),
            (
                json!({"kind": "stall", "duration_ms": 99_999_999}),
                "`duration_ms` must be",
            ),
            (json!({"kind": "latency", "ms": "20"}), "`ms` must be"),
            (
                json!({"kind": "latency", "ms": 5, "extra": 1}),
                "`extra` is not allowed",
            ),
            (
                json!({"kind": "errors", "ratio": 0.1}),
                "`status` is required",
            ),
            (
                json!({"kind": "errors", "status": 200, "ratio": 0.1}),
                "`status` must be",
            ),
            (
                json!({"kind": "errors", "status": 503}),
                "`ratio` is required",
            ),
            (
                json!({"kind": "errors", "status": 503, "ratio": 1.5}),
                "`ratio` must be",
            ),
            (json!({"kind": "rate_limit"}), "`per_second` is required"),
            (
                json!({"kind": "drop_connections", "now": true}),
                "`now` is not allowed",
            ),
            (
                json!({"kind": "lose_messages", "ratio": -0.1}),
                "`ratio` must be",
            ),
        ];
        for (body, needle) in cases {
            let err = f.apply(&body).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
        assert_eq!(
            f.snapshot()["latency_ms"],
            0,
            "a rejected body changes nothing"
        );
    }

    #[tokio::test]
    async fn stall_holds_the_gate_until_it_ends() {
        let f = faults(&[json!({"kind": "stall", "duration_ms": 100})]);
        assert!(f.stalled());
        assert!(f.snapshot()["stall"]["remaining_ms"].as_u64().unwrap() > 0);
        let start = Instant::now();
        f.gate().await;
        assert!(start.elapsed() >= Duration::from_millis(99));
        assert!(!f.stalled());
        assert!(f.snapshot()["stall"].is_null());
        assert_eq!(f.snapshot()["counts"]["stalls"], 1);
    }

    #[tokio::test]
    async fn clearing_a_stall_releases_waiting_requests() {
        let f = faults(&[json!({"kind": "stall", "duration_ms": 600_000})]);
        let waiting = tokio::spawn({
            let f = f.clone();
            async move { f.gate().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        f.apply(&json!({"kind": "clear"})).unwrap();
        // Bounded wait: the gate opens on the change, not after 10 minutes.
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("gate released")
            .unwrap();
    }

    #[test]
    fn zero_stall_clears() {
        let f = faults(&[
            json!({"kind": "stall", "duration_ms": 60000}),
            json!({"kind": "stall", "duration_ms": 0}),
        ]);
        assert!(!f.stalled());
    }

    #[tokio::test]
    async fn gate_is_open_without_faults() {
        let f = Faults::new();
        f.gate().await;
        f.apply(&json!({"kind": "latency", "ms": 1})).unwrap();
        assert_eq!(f.snapshot()["latency_ms"], 1);
        f.gate().await;
    }

    #[test]
    fn error_ratio_holds() {
        let f =
            faults(&[json!({"kind": "errors", "status": 503, "ratio": 0.1, "duration_ms": 60000})]);
        let n = 100_000;
        let hits = (0..n).filter(|_| f.injected_error() == Some(503)).count();
        // 0.1 ± 6 sigma (sigma ≈ 0.00095 at n = 100k).
        assert!((9_430..=10_570).contains(&hits), "{hits}");
        assert_eq!(f.snapshot()["counts"]["errors_injected"], hits as u64);
        assert_eq!(f.snapshot()["errors"]["status"], 503);
        f.apply(&json!({"kind": "errors", "status": 503, "ratio": 0}))
            .unwrap();
        assert_eq!(f.injected_error(), None);
        assert!(f.snapshot()["errors"].is_null());
    }

    #[test]
    fn ratio_one_always_and_expired_never() {
        let f = faults(&[json!({"kind": "lose_messages", "ratio": 1.0})]);
        assert!((0..1000).all(|_| f.lose_delivery()));
        assert_eq!(f.deliveries_lost(), 1000);
        assert!(f.snapshot()["lose_messages"]["remaining_ms"].is_null());
        f.apply(&json!({"kind": "lose_messages", "ratio": 1.0, "duration_ms": 0}))
            .unwrap();
        assert!(!f.lose_delivery());
    }

    #[test]
    fn expired_faults_are_forgotten() {
        let f = faults(&[json!({"kind": "errors", "status": 500, "ratio": 1.0, "duration_ms": 1})]);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(f.injected_error(), None);
        assert_eq!(f.inner.errors.until_us.load(Ordering::Relaxed), 0);
        assert!(f.snapshot()["errors"].is_null());
    }

    #[test]
    fn lose_ratio_holds() {
        let f = faults(&[json!({"kind": "lose_messages", "ratio": 0.01, "duration_ms": 60000})]);
        let lost = (0..200_000).filter(|_| f.lose_delivery()).count();
        // 2000 expected, sigma ≈ 44.5.
        assert!((1_730..=2_270).contains(&lost), "{lost}");
    }

    #[test]
    fn rate_limit_allows_the_budget_per_second() {
        let f = faults(&[json!({"kind": "rate_limit", "per_second": 10})]);
        // Two passes over the budget in a row may straddle a second boundary,
        // so count over a burst: at most 10 allowed per second touched.
        let allowed = (0..50).filter(|_| !f.rate_limited()).count();
        assert!((10..=20).contains(&allowed), "{allowed}");
        assert!(f.rate_limit_reset_ms() >= 1 && f.rate_limit_reset_ms() <= 1000);
        f.apply(&json!({"kind": "rate_limit", "per_second": 0}))
            .unwrap();
        assert!(!f.rate_limited());
    }

    #[tokio::test]
    async fn restart_takes_one_instance_down_for_a_while() {
        let f = Faults::new();
        let restarted = tokio::spawn({
            let f = f.clone();
            async move { f.restarted(1).await }
        });
        tokio::task::yield_now().await;
        f.apply(&json!({"kind": "restart", "instance": 0, "down_ms": 1000}))
            .unwrap();
        tokio::task::yield_now().await;
        assert!(
            !restarted.is_finished(),
            "instance 1 must not see instance 0's restart"
        );
        f.apply(&json!({"kind": "restart", "instance": 1, "down_ms": 40}))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), restarted)
            .await
            .unwrap()
            .unwrap();
        assert!(f.down(0) && f.down(1) && !f.down(2));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(f.down(0) && !f.down(1));
        f.apply(&json!({"kind": "clear"})).unwrap();
        assert!(!f.down(0));
        assert_eq!(f.snapshot()["counts"]["restarts"], 2);
        let e = f
            .apply(&json!({"kind": "restart", "instance": 0}))
            .unwrap_err();
        assert!(e.contains("down_ms"), "{e}");
        let e = f
            .apply(&json!({"kind": "restart", "instance": 999, "down_ms": 1}))
            .unwrap_err();
        assert!(e.contains("instance"), "{e}");
    }

    #[tokio::test]
    async fn drop_connections_signals_every_receiver() {
        let f = Faults::new();
        let mut a = f.drop_signal();
        let mut b = f.clone().drop_signal();
        f.apply(&json!({"kind": "drop_connections"})).unwrap();
        a.changed().await.unwrap();
        b.changed().await.unwrap();
        assert_eq!(*a.borrow(), 1);
        assert_eq!(f.snapshot()["counts"]["connection_drops"], 1);
    }

    #[test]
    fn clear_resets_everything() {
        let f = faults(&[
            json!({"kind": "latency", "ms": 20}),
            json!({"kind": "rate_limit", "per_second": 5}),
            json!({"kind": "errors", "status": 500, "ratio": 1.0}),
            json!({"kind": "stall", "duration_ms": 5000}),
            json!({"kind": "clear"}),
        ]);
        let s = f.snapshot();
        assert_eq!(s["latency_ms"], 0);
        assert_eq!(s["rate_limit_per_second"], 0);
        assert!(s["errors"].is_null() && s["stall"].is_null());
        assert_eq!(f.injected_error(), None);
    }

    #[test]
    fn unit_random_is_in_range() {
        assert!(
            (0..10_000)
                .map(|_| unit_random())
                .all(|x| (0.0..1.0).contains(&x))
        );
    }
}
