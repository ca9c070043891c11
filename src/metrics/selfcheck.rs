//! Is the load generator itself the bottleneck? A latency measured by a
//! saturated generator measures the generator, so the run says so.
//!
//! A tokio task sleeps 10 ms in a loop and records the overshoot as
//! `generator.lag` (a starved scheduler delays every VU the same way), and
//! samples this process's CPU time from `/proc/self/stat` once per second
//! into the gauge `generator.cpu_pct` (percent of all available cores).
//! When the embedded server runs in the same process its threads are not
//! the generator: their CPU time (`/proc/self/task/*/stat` of the threads
//! named with the caller's prefix) is left out, or a busy server would
//! read as a saturated generator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::histogram::{new_histogram, quantile_ms, record_duration};
use super::names;
use super::registry::{Metrics, Sample};

/// Scheduler probe period.
const TICK: Duration = Duration::from_millis(10);
/// Lag p99 above this means the generator could not keep its own timers.
const LAG_P99_LIMIT: Duration = Duration::from_millis(50);
/// How the saturation note starts (the summary shows it loudly).
pub const SATURATED: &str = "generator saturated";

/// CPU share (percent of the available cores) counted as saturated.
const CPU_LIMIT_PCT: f64 = 90.0;

/// Handle of the self-check task. Dropping it (or [`SelfCheck::stop`])
/// stops the task; so does dropping every `Metrics` clone.
pub struct SelfCheck {
    state: Arc<State>,
    task: Option<tokio::task::JoinHandle<()>>,
}

struct State {
    stop: AtomicBool,
    lag: Mutex<Histogram<u64>>,
    cpu: Mutex<CpuStats>,
}

#[derive(Default, Clone, Debug, PartialEq)]
struct CpuStats {
    samples: u64,
    over_limit: u64,
    max_pct: f64,
}

impl SelfCheck {
    /// Stops the task now (idempotent).
    pub fn stop(&self) {
        self.state.stop.store(true, Ordering::Release);
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    /// Highest one-second CPU share seen, percent of the available cores.
    pub fn max_cpu_pct(&self) -> f64 {
        self.state
            .cpu
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .max_pct
    }

    /// p99 of the scheduler lag over the whole run.
    pub fn lag_p99(&self) -> Duration {
        let lag = self
            .state
            .lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // No samples yet: no lag.
        let ms = quantile_ms(&lag, 0.99).unwrap_or(0.0);
        Duration::from_secs_f64(ms / 1000.0)
    }

    /// `Some(explanation)` when the generator was saturated: scheduler lag
    /// p99 above 50 ms, or CPU above 90 % of the available cores for at
    /// least 3 one-second samples and 10 % of them (a single busy second,
    /// e.g. at start-up, is not saturation).
    pub fn verdict(&self) -> Option<Saturation> {
        let lag_p99 = self.lag_p99();
        let cpu = self
            .state
            .cpu
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        verdict_of(lag_p99, &cpu)
    }
}

/// The generator could not keep up: what the self-check saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Saturation {
    pub lag_p99: Duration,
    /// One-second samples with CPU over the limit, of all samples.
    pub cpu_over_limit_s: u64,
    pub cpu_samples_s: u64,
    pub cpu_max_pct: f64,
    /// The sentence for people, starting with [`SATURATED`].
    pub text: String,
}

fn verdict_of(lag_p99: Duration, cpu: &CpuStats) -> Option<Saturation> {
    let mut reasons = Vec::new();
    if lag_p99 > LAG_P99_LIMIT {
        reasons.push(format!(
            "scheduler lag p99 {:.0} ms (limit {} ms)",
            lag_p99.as_secs_f64() * 1000.0,
            LAG_P99_LIMIT.as_millis()
        ));
    }
    if cpu.over_limit >= 3 && cpu.over_limit * 10 >= cpu.samples {
        reasons.push(format!(
            "CPU above {CPU_LIMIT_PCT:.0}% of the available cores in {} of {} seconds (max {:.0}%)",
            cpu.over_limit, cpu.samples, cpu.max_pct
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    Some(Saturation {
        lag_p99,
        cpu_over_limit_s: cpu.over_limit,
        cpu_samples_s: cpu.samples,
        cpu_max_pct: cpu.max_pct,
        text: format!(
            "{SATURATED}: {}; latencies include the load generator's own delay, use more cores or shards",
            reasons.join(", ")
        ),
    })
}

impl Drop for SelfCheck {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the self-check on the current tokio runtime. Threads whose name
/// starts with `foreign_threads` (the embedded server's) are not counted
/// as the generator's CPU. Outside a runtime it returns an idle handle
/// whose verdict is always `None`.
pub fn spawn_self_check(metrics: &Metrics, foreign_threads: Option<&'static str>) -> SelfCheck {
    let state = Arc::new(State {
        stop: AtomicBool::new(false),
        lag: Mutex::new(new_histogram()),
        cpu: Mutex::new(CpuStats::default()),
    });
    let task = tokio::runtime::Handle::try_current()
        .ok()
        .map(|rt| rt.spawn(probe(metrics.downgrade(), state.clone(), foreign_threads)));
    SelfCheck { state, task }
}

async fn probe(
    metrics: super::registry::WeakMetrics,
    state: Arc<State>,
    foreign: Option<&'static str>,
) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ticks_per_s = clock_ticks_per_second();
    let (lag_id, cpu_gauge) = match metrics.upgrade() {
        Some(m) => (
            m.id(names::GENERATOR_LAG),
            m.gauge(names::GENERATOR_CPU_PCT),
        ),
        None => return,
    };
    let mut last_cpu = (Instant::now(), generator_cpu_ticks(foreign));
    while !state.stop.load(Ordering::Acquire) {
        let before = Instant::now();
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        let lag = now.duration_since(before).saturating_sub(TICK);
        let Some(m) = metrics.upgrade() else { break };
        m.record(lag_id, Sample::ok(lag));
        record_duration(
            &mut state.lag.lock().unwrap_or_else(PoisonError::into_inner),
            lag,
        );

        let wall = now.duration_since(last_cpu.0);
        if wall >= Duration::from_secs(1) {
            let ticks = generator_cpu_ticks(foreign);
            if let (Some(prev), Some(cur), Some(hz)) = (last_cpu.1, ticks, ticks_per_s) {
                let busy_s = cur.saturating_sub(prev) as f64 / hz;
                let pct = 100.0 * busy_s / wall.as_secs_f64() / cores;
                cpu_gauge.set(pct.round() as i64);
                let mut cpu = state.cpu.lock().unwrap_or_else(PoisonError::into_inner);
                cpu.samples += 1;
                cpu.over_limit += u64::from(pct > CPU_LIMIT_PCT);
                cpu.max_pct = cpu.max_pct.max(pct);
            }
            last_cpu = (now, ticks);
        }
    }
}

/// utime + stime of this process in clock ticks (Linux), less those of
/// its threads named `foreign*`; None elsewhere.
fn generator_cpu_ticks(foreign: Option<&str>) -> Option<u64> {
    let all = process_cpu_ticks()?;
    let Some(prefix) = foreign else {
        return Some(all);
    };
    // The foreign threads live as long as the process's run does, so the
    // difference only grows; a thread read between its exit and the
    // process total is at worst one second's error.
    let foreign: u64 = std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter(|stat| thread_name(stat).is_some_and(|n| n.starts_with(prefix)))
        .filter_map(|stat| parse_stat_ticks(&stat))
        .sum();
    Some(all.saturating_sub(foreign))
}

/// utime + stime of this process in clock ticks (Linux); None elsewhere.
fn process_cpu_ticks() -> Option<u64> {
    parse_stat_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Field 2 of /proc/PID/stat: the name between the first '(' and the last ')'.
fn thread_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// Fields 14 and 15 of /proc/PID/stat; the command name (field 2) may
/// contain spaces and parentheses, so count from the last ')'.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state): utime is field 14 -> index 11.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_odd_command_names() {
        let stat = "1234 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
        assert_eq!(thread_name(stat), Some("my (odd) cmd"));
    }

    #[test]
    fn leaves_out_foreign_threads() {
        if !std::path::Path::new("/proc/self/task").exists() {
            return;
        }
        // A named thread that burns CPU while the process total is read.
        let stop = Arc::new(AtomicBool::new(false));
        let spin = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("selfcheck-spin".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .unwrap()
        };
        std::thread::sleep(Duration::from_millis(300));
        let without = generator_cpu_ticks(Some("selfcheck-spin")).unwrap();
        let all = generator_cpu_ticks(None).unwrap();
        stop.store(true, Ordering::Relaxed);
        spin.join().unwrap();
        assert!(
            all > without,
            "all {all} ticks, without the spinner {without}"
        );
    }

    #[test]
    fn reads_own_cpu_time() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(process_cpu_ticks().is_some());
            assert!(clock_ticks_per_second().is_some());
        }
    }

    #[test]
    fn verdicts() {
        let idle = CpuStats {
            samples: 60,
            over_limit: 0,
            max_pct: 40.0,
        };
        assert_eq!(verdict_of(Duration::from_millis(2), &idle), None);
        let v = verdict_of(Duration::from_millis(80), &idle).unwrap().text;
        assert!(
            v.contains("saturated") && v.contains("lag p99 80 ms"),
            "{v}"
        );
        let spike = CpuStats {
            samples: 60,
            over_limit: 2,
            max_pct: 99.0,
        };
        assert_eq!(verdict_of(Duration::ZERO, &spike), None);
        let busy = CpuStats {
            samples: 60,
            over_limit: 30,
            max_pct: 99.0,
        };
        let v = verdict_of(Duration::ZERO, &busy).unwrap();
        assert_eq!((v.cpu_over_limit_s, v.cpu_samples_s), (30, 60));
        let v = v.text;
        assert!(v.contains("CPU above 90%") && v.contains("30 of 60"), "{v}");
    }

    #[tokio::test]
    async fn records_lag_and_stops_with_metrics() {
        let metrics = Metrics::new();
        let check = spawn_self_check(&metrics, None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let iv = metrics.snapshot();
        let lag = iv.metrics.get("generator.lag").expect("lag recorded");
        assert!(lag.ok >= 1);
        assert!(iv.gauges.contains_key("generator.cpu_pct"));
        drop(metrics);
        // The task notices the registry is gone and ends.
        let task = check.task.as_ref().unwrap();
        for _ in 0..100 {
            if task.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(task.is_finished());
    }

    #[test]
    fn idle_outside_a_runtime() {
        let check = spawn_self_check(&Metrics::new(), None);
        assert!(check.task.is_none());
        assert_eq!(check.verdict(), None);
        check.stop();
    }
}
