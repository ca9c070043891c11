//! One step of a search: the prepared run measured at one constant load
//! for settle + hold, its own run directory, then the SLOs checked on the
//! held part only (the settle part, with its logins and warm-up, is
//! discarded) and the step judged pass, fail or void.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::search::StepVerdict;
use super::slo::{SloResult, counter_ratio, evaluate};
use crate::engine::Overrides;
use crate::metrics::histogram::quantile_ms;
use crate::metrics::names::{ITERATIONS_DROPPED, VUS_ACTIVE, is_generator};
use crate::metrics::{ErrorClass, MetricInterval};
use crate::results::target::ServerFigures;
use crate::results::{IntervalSink, NoteKind, Recovery, ResultsError, Tick, Totals};
use crate::runner::{Measure, Measurement, Prepared, RunError};
use crate::scenario::{Model, Slo};

/// Dropped arrivals above this share of the arrivals void a step: the
/// offered load was not the load applied.
pub const MAX_DROPPED: f64 = 0.01;
/// Connection failures at or above this share of the operations void a
/// step: the target is down, not slow.
pub const DOWN_SHARE: f64 = 0.5;

/// What a step measures.
#[derive(Clone, Debug)]
pub struct StepPlan {
    /// 1-based, in the order measured.
    pub index: usize,
    /// VUs or arrivals/s.
    pub load: f64,
    pub settle: Duration,
    pub hold: Duration,
    pub dir: PathBuf,
}

/// One measured step, as `capacity.json` keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub index: usize,
    pub load: f64,
    pub verdict: StepVerdict,
    /// Why a step is void, or which SLOs failed.
    pub reason: Option<String>,
    pub slos: Vec<SloResult>,
    /// Completed (successful) operations per second of the held phase.
    pub throughput_per_s: f64,
    /// Failed operations over all operations, held phase.
    pub error_rate: Option<f64>,
    /// Open model: dropped arrivals over arrivals, held phase.
    pub dropped_ratio: Option<f64>,
    /// Most VUs running at once.
    pub vus_max: Option<i64>,
    /// Seconds of the held phase actually covered by intervals.
    pub held_s: f64,
    /// Every metric of the held phase (the generator's own left out).
    pub metrics: BTreeMap<String, Figures>,
    /// The scraped server's CPU and event-loop lag (`--scrape`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerLoad>,
    /// The recovery from a restart during the step (`scaling --restart-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// The step's run directory, relative to the search's.
    pub dir: PathBuf,
}

/// One metric over a step's held phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub count: u64,
    pub errors: u64,
    /// Successes per second.
    pub rate_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Figures {
    fn of(m: &MetricInterval, secs: f64) -> Figures {
        Figures {
            count: m.count(),
            errors: m.error_count(),
            rate_per_s: if secs > 0.0 { m.ok as f64 / secs } else { 0.0 },
            p50_ms: quantile_ms(&m.latency, 0.50),
            p95_ms: quantile_ms(&m.latency, 0.95),
            p99_ms: quantile_ms(&m.latency, 0.99),
        }
    }
}

/// A step that could not finish: Ctrl-C, or a run that could not start.
pub enum Halt {
    Interrupted(Box<Step>),
    Error(RunError),
}

/// Measures one step and judges it. `sinks` see the step's intervals
/// (the progress line).
pub async fn measure(
    prepared: &Prepared,
    slos: &[Slo],
    plan: &StepPlan,
    base: &Measure,
    mut sinks: Vec<Box<dyn IntervalSink>>,
    relative_dir: PathBuf,
) -> Result<Step, Halt> {
    let level = match prepared.scenario.load.model {
        Model::Closed => Overrides {
            vus: Some(plan.load.round() as u32),
            ..Overrides::default()
        },
        Model::Open => Overrides {
            rate: Some(plan.load),
            ..Overrides::default()
        },
    };
    let held = Arc::new(Mutex::new(Held::default()));
    sinks.insert(
        0,
        Box::new(HeldSink {
            from: plan.settle,
            to: plan.settle + plan.hold,
            held: held.clone(),
        }),
    );
    let m = Measure {
        overrides: Overrides {
            duration: Some(plan.settle + plan.hold),
            ..level
        },
        out: plan.dir.clone(),
        ..base.clone()
    };
    let measured = prepared.measure(&m, sinks).await.map_err(Halt::Error)?;
    let held = std::mem::take(&mut *held.lock().unwrap_or_else(PoisonError::into_inner));
    let step = judge(plan, slos, &held, &measured, relative_dir);
    if measured.interrupted {
        return Err(Halt::Interrupted(Box::new(step)));
    }
    Ok(step)
}

/// The held phase's intervals added up.
#[derive(Default)]
struct Held {
    totals: Totals,
    secs: f64,
    server: ServerSum,
}

/// The scraped server's figures over the held intervals that had them.
#[derive(Default)]
struct ServerSum {
    cpu_pct: f64,
    cpu_samples: u32,
    lag_ms_max: Option<f64>,
}

impl ServerSum {
    fn add(&mut self, f: &ServerFigures) {
        if let Some(cpu) = f.cpu_pct {
            self.cpu_pct += cpu;
            self.cpu_samples += 1;
        }
        if let Some(lag) = f.lag_ms {
            self.lag_ms_max = Some(self.lag_ms_max.map_or(lag, |m| m.max(lag)));
        }
    }

    fn load(&self) -> Option<ServerLoad> {
        let cpu_pct_avg = (self.cpu_samples > 0).then(|| self.cpu_pct / self.cpu_samples as f64);
        (cpu_pct_avg.is_some() || self.lag_ms_max.is_some()).then_some(ServerLoad {
            cpu_pct_avg,
            lag_ms_max: self.lag_ms_max,
        })
    }
}

/// How the scraped server carried a step's held phase (`capacity --scrape`):
/// what shows which resource ran out at the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerLoad {
    /// CPU of the scraped processes, % of one core, averaged over the held
    /// intervals (`process_cpu_seconds_total` rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct_avg: Option<f64>,
    /// The highest `nodejs_eventloop_lag_seconds` sampled, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms_max: Option<f64>,
}

/// Keeps the intervals that lie inside [from, to] of the run (a quarter
/// second of slack at the end for the collector's timing).
struct HeldSink {
    from: Duration,
    to: Duration,
    held: Arc<Mutex<Held>>,
}

impl IntervalSink for HeldSink {
    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError> {
        let iv = tick.interval;
        let start = iv.elapsed.saturating_sub(iv.duration);
        if start + Duration::from_millis(50) >= self.from
            && iv.elapsed <= self.to + Duration::from_millis(250)
        {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.totals.add(iv);
            held.secs += iv.duration.as_secs_f64();
            if let Some(f) = &tick.server {
                held.server.add(f);
            }
        }
        Ok(())
    }
}

fn judge(plan: &StepPlan, slos: &[Slo], held: &Held, measured: &Measurement, dir: PathBuf) -> Step {
    let t = &held.totals;
    let all = t.all_operations();
    let ops = all.count();
    let dropped_ratio = counter_ratio(ITERATIONS_DROPPED, t).filter(|r| *r > 0.0);
    let results: Vec<SloResult> = slos.iter().map(|s| evaluate(s, t)).collect();
    let void = void_reason(measured, held, ops, &all, dropped_ratio);
    let failed: Vec<&SloResult> = results.iter().filter(|r| !r.passed).collect();
    let (verdict, reason) = match void {
        Some(why) => (StepVerdict::Void, Some(why)),
        None if failed.is_empty() => (StepVerdict::Pass, None),
        None => (
            StepVerdict::Fail,
            Some(format!(
                "failed: {}",
                failed
                    .iter()
                    .map(|r| r.slo.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ),
    };
    Step {
        index: plan.index,
        load: plan.load,
        verdict,
        reason,
        slos: results,
        throughput_per_s: if held.secs > 0.0 {
            all.ok as f64 / held.secs
        } else {
            0.0
        },
        error_rate: (ops > 0).then(|| all.error_count() as f64 / ops as f64),
        dropped_ratio,
        vus_max: t.gauges.get(VUS_ACTIVE).map(|g| g.max),
        held_s: held.secs,
        metrics: t
            .metrics
            .iter()
            .filter(|(name, _)| !is_generator(name))
            .map(|(name, m)| (name.clone(), Figures::of(m, held.secs)))
            .collect(),
        server: held.server.load(),
        recovery: measured.summary.recovery.clone(),
        dir,
    }
}

/// Why a step does not count, if it does not.
fn void_reason(
    measured: &Measurement,
    held: &Held,
    ops: u64,
    all: &MetricInterval,
    dropped_ratio: Option<f64>,
) -> Option<String> {
    if let Some(e) = &measured.stopped_early {
        return Some(format!("the run stopped early: {e}"));
    }
    if measured.interrupted {
        return Some("interrupted".into());
    }
    let saturated = measured
        .summary
        .notes
        .iter()
        .find(|n| matches!(n.kind, NoteKind::GeneratorSaturated { .. }));
    if let Some(n) = saturated {
        return Some(n.text.clone());
    }
    if held.secs <= 0.0 {
        return Some("no interval fell in the held phase (hold shorter than a second?)".into());
    }
    if let Some(r) = dropped_ratio.filter(|r| *r > MAX_DROPPED) {
        return Some(format!(
            "{:.1}% of the arrivals were dropped (more than {:.0}%): the VU pool could not apply the load; raise load.max_vus",
            r * 100.0,
            MAX_DROPPED * 100.0
        ));
    }
    if ops == 0 {
        return Some("no operation ended in the held phase: the target looks down".into());
    }
    let refused: u64 = [ErrorClass::ConnectRefused, ErrorClass::Connect]
        .iter()
        .filter_map(|c| all.errors.get(&c.key()))
        .sum();
    if refused as f64 >= DOWN_SHARE * ops as f64 {
        return Some(format!(
            "{refused} of {ops} operations could not connect: the target looks down"
        ));
    }
    None
}
