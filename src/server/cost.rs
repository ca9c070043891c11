//! Per-operation CPU cost of the reference server (`serve --cost`).
//!
//! A Rocket.Chat instance is one Node.js process: every request burns CPU on
//! its single event-loop thread, so one process saturates one core. The
//! reference server is far cheaper per operation than Rocket.Chat, so the
//! cost model adds a busy-spin per operation on the instance's own thread,
//! counted in that thread's CPU time.
//! That makes "how many instances does this load need" measurable on a small
//! box, as it would be against a real deployment.
//!
//! Syntax: a comma-separated list of `OP=DURATION`, e.g.
//! `sendMessage=300us,login=2ms,default=50us`. Durations take `ns`, `us`,
//! `ms`, `s` (humantime syntax; `0` alone is zero). `default` applies to every
//! operation not listed; without it unlisted operations cost nothing.
//!
//! Operation names:
//! - REST: the endpoint name after `/api/v1/`, e.g. `login`, `logout`, `me`,
//!   `info` (for `/api/info`), `chat.postMessage`, `chat.sendMessage`,
//!   `channels.create`, `channels.join`, `channels.history`, `channels.info`,
//!   `channels.members`, `channels.messages`, `channels.invite`,
//!   `channels.delete`, `users.register`, `users.create`, `users.info`,
//!   `users.delete`, `users.setStatus`, `settings.public`, `settings`,
//!   `subscriptions.get`, `subscriptions.read`, `rooms.get`,
//!   `method.call` and `method.callAnon` (the REST forms of a DDP method also
//!   burn the method's own name).
//! - DDP methods: the method name, e.g. `login`, `sendMessage`,
//!   `joinRoom`, `readMessages`, `UserPresence:setDefaultStatus`,
//!   `stream-notify-room` (stream writes are methods named after the stream).
//! - DDP subscriptions: `sub:<publication>`, e.g. `sub:stream-room-messages`,
//!   `sub:stream-notify-user`, `sub:meteor.loginServiceConfiguration`.
//!
//! Names are matched exactly (case-sensitive); an unknown name is not an
//! error because publications and methods are open-ended.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// The name of the fallback entry in a cost list.
const DEFAULT_KEY: &str = "default";
/// A cost of seconds per operation would wedge the instance; it is a typo.
pub const MAX_COST: Duration = Duration::from_secs(10);

/// CPU cost per operation; `Default` is "no cost at all".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostModel {
    ops: HashMap<String, Duration>,
    default: Duration,
    /// True when every cost is zero, so `burn` returns before any lookup.
    free: bool,
}

impl CostModel {
    /// The model that costs nothing (the embedded server's default).
    pub fn none() -> CostModel {
        CostModel {
            ops: HashMap::new(),
            default: Duration::ZERO,
            free: true,
        }
    }

    /// Parses `OP=DURATION[,OP=DURATION...]`; an empty string is [`CostModel::none`].
    pub fn parse(spec: &str) -> Result<CostModel, String> {
        let mut model = CostModel::none();
        let mut default_seen = false;
        for (index, raw) in spec.split(',').enumerate() {
            let item = raw.trim();
            if item.is_empty() {
                if spec.trim().is_empty() {
                    break;
                }
                return Err(format!("cost item {}: empty item in `{spec}`", index + 1));
            }
            let Some((name, value)) = item.split_once('=') else {
                return Err(format!(
                    "cost item `{item}`: expected OP=DURATION, e.g. sendMessage=300us"
                ));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(format!(
                    "cost item `{item}`: operation name must be non-empty without spaces"
                ));
            }
            let cost = parse_cost(value).map_err(|e| format!("cost item `{item}`: {e}"))?;
            if name == DEFAULT_KEY {
                if default_seen {
                    return Err(format!("cost item `{item}`: `default` given twice"));
                }
                default_seen = true;
                model.default = cost;
            } else if model.ops.insert(name.to_string(), cost).is_some() {
                return Err(format!("cost item `{item}`: `{name}` given twice"));
            }
        }
        model.free = model.default.is_zero() && model.ops.values().all(Duration::is_zero);
        Ok(model)
    }

    /// Builds the model from `(operation, cost)` pairs, `default` among
    /// them, with the limits of [`CostModel::parse`] (the embedded server's
    /// config, typed by the caller).
    pub fn from_costs<'a>(
        costs: impl IntoIterator<Item = (&'a str, Duration)>,
    ) -> Result<CostModel, String> {
        let mut model = CostModel::none();
        let mut default_seen = false;
        for (name, cost) in costs {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(format!(
                    "cost `{name}`: operation name must be non-empty without spaces"
                ));
            }
            if cost > MAX_COST {
                return Err(format!(
                    "cost `{name}`: over the {} limit",
                    humantime::format_duration(MAX_COST)
                ));
            }
            if name == DEFAULT_KEY {
                if default_seen {
                    return Err("cost `default` given twice".into());
                }
                default_seen = true;
                model.default = cost;
            } else if model.ops.insert(name.to_string(), cost).is_some() {
                return Err(format!("cost `{name}` given twice"));
            }
        }
        model.free = model.default.is_zero() && model.ops.values().all(Duration::is_zero);
        Ok(model)
    }

    /// The cost of `op` (its own entry, else `default`).
    pub fn cost(&self, op: &str) -> Duration {
        if self.free {
            return Duration::ZERO;
        }
        self.ops.get(op).copied().unwrap_or(self.default)
    }

    /// True when no operation costs anything.
    pub fn is_free(&self) -> bool {
        self.free
    }

    /// Busy-spins the calling thread until it has used the cost of `op` in
    /// CPU time.
    ///
    /// Spinning (not sleeping) is the point: it occupies the instance's one
    /// event-loop thread, as Rocket.Chat's JavaScript does, so other work on
    /// that instance queues behind it. A zero cost returns at once.
    pub fn burn(&self, op: &str) {
        let cost = self.cost(op);
        if cost.is_zero() {
            return;
        }
        // CPU time of this thread, not wall time: instances that outnumber
        // the cores share them and each operation takes longer, as Node
        // processes on a small host do. Wall time where no thread clock is.
        match thread_cpu_time() {
            Some(start) => {
                while thread_cpu_time().is_some_and(|now| now.saturating_sub(start) < cost) {
                    std::hint::spin_loop();
                }
            }
            None => {
                let start = Instant::now();
                while start.elapsed() < cost {
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// CPU time the calling thread has used (Linux `CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct passed.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

impl Default for CostModel {
    fn default() -> CostModel {
        CostModel::none()
    }
}

impl fmt::Display for CostModel {
    /// The canonical spec, sorted by operation name, `default` last.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ops: Vec<_> = self.ops.iter().collect();
        ops.sort();
        for (name, cost) in ops {
            write!(f, "{name}={},", humantime::format_duration(*cost))?;
        }
        write!(
            f,
            "{DEFAULT_KEY}={}",
            humantime::format_duration(self.default)
        )
    }
}

fn parse_cost(value: &str) -> Result<Duration, String> {
    if value == "0" {
        return Ok(Duration::ZERO);
    }
    let cost = humantime::parse_duration(value)
        .map_err(|e| format!("bad duration `{value}` ({e}); use e.g. 300us, 2ms"))?;
    if cost > MAX_COST {
        return Err(format!(
            "duration `{value}` is over the {} limit",
            humantime::format_duration(MAX_COST)
        ));
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ops_and_default() {
        let m = CostModel::parse("sendMessage=300us, login=2ms,default=50us").unwrap();
        assert_eq!(m.cost("sendMessage"), Duration::from_micros(300));
        assert_eq!(m.cost("login"), Duration::from_millis(2));
        assert_eq!(m.cost("chat.postMessage"), Duration::from_micros(50));
        assert!(!m.is_free());
    }

    #[test]
    fn empty_and_zero_are_free() {
        assert!(CostModel::parse("").unwrap().is_free());
        assert!(CostModel::parse("  ").unwrap().is_free());
        let zero = CostModel::parse("login=0,default=0ms").unwrap();
        assert!(zero.is_free());
        assert_eq!(zero.cost("login"), Duration::ZERO);
        assert_eq!(CostModel::none(), CostModel::default());
    }

    #[test]
    fn unlisted_without_default_is_free() {
        let m = CostModel::parse("sub:stream-room-messages=1ms").unwrap();
        assert_eq!(m.cost("sub:stream-room-messages"), Duration::from_millis(1));
        assert_eq!(m.cost("login"), Duration::ZERO);
    }

    #[test]
    fn errors_name_the_bad_item() {
        let cases = [
            ("login=2ms,sendMessage", "`sendMessage`"),
            ("login=fast", "`login=fast`"),
            ("=2ms", "`=2ms`"),
            ("login=1ms,login=2ms", "given twice"),
            ("default=1ms,default=2ms", "given twice"),
            ("login=1ms,,default=1ms", "empty item"),
            ("login=1h", "10s limit"),
        ];
        for (spec, needle) in cases {
            let err = CostModel::parse(spec).unwrap_err();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn burn_spins_at_least_the_cost() {
        let m = CostModel::parse("x=2ms").unwrap();
        let start = Instant::now();
        let cpu = thread_cpu_time().unwrap();
        m.burn("x");
        assert!(start.elapsed() >= Duration::from_millis(2));
        assert!(thread_cpu_time().unwrap() - cpu >= Duration::from_millis(2));
        m.burn("unlisted"); // free: returns at once
    }

    #[test]
    fn from_costs_matches_parse() {
        let pairs = [
            ("sendMessage", Duration::from_micros(300)),
            ("default", Duration::from_micros(50)),
        ];
        assert_eq!(
            CostModel::from_costs(pairs).unwrap(),
            CostModel::parse("sendMessage=300us,default=50us").unwrap()
        );
        assert!(CostModel::from_costs([]).unwrap().is_free());
        let too_long = CostModel::from_costs([("login", Duration::from_secs(11))]);
        assert!(too_long.unwrap_err().contains("10s limit"));
        let spaced = CostModel::from_costs([("a b", Duration::ZERO)]);
        assert!(spaced.unwrap_err().contains("without spaces"));
    }

    #[test]
    fn display_round_trips() {
        let m = CostModel::parse("b=1ms,a=300us,default=50us").unwrap();
        assert_eq!(CostModel::parse(&m.to_string()).unwrap(), m);
    }
}
