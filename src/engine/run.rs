//! `execute()`: runs the plan's executor with the real VUs, keeps the
//! status (stage, active VUs) and the `vus.active` gauge current, sweeps
//! the e2e tracker, honours the stop signal (Ctrl-C: every VU is
//! cancelled at once and what was measured is returned).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::closed::{ClosedConfig, run_closed};
use super::error::EngineError;
use super::executor::{Ending, ExecCounters, ExecObserver, Shared, StopFlag};
use super::open::{OpenConfig, run_open};
use super::plan::RunPlan;
use super::sink::now_unix_us;
use super::vu::{EngineDriver, EngineNote, RunCtx};
use super::world::World;
use crate::metrics::{MessageTracker, MetricId, Metrics, names};
use crate::scenario::Model;

/// What the CLI shows while the run goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineStatus {
    pub stage: String,
    pub active_vus: u64,
    /// The plan's load now: VUs (closed model) or arrivals/s (open); 0
    /// once the stages ended.
    pub level: f64,
}

#[derive(Debug, Clone, Default)]
pub struct EngineReport {
    /// Completed iterations.
    pub iterations: u64,
    /// Iterations cut short by the end of the run or a ramp-down.
    pub interrupted: u64,
    /// Open model: arrivals that found no free VU in time.
    pub dropped: u64,
    pub reconnects: u64,
    /// The stop signal ended the run before its plan did.
    pub stopped: bool,
    pub notes: Vec<EngineNote>,
}

/// How often the status, the gauge and the loss sweep are updated.
const STATUS_EVERY: Duration = Duration::from_millis(250);

struct MetricsObserver {
    metrics: Metrics,
    dropped: MetricId,
}

impl ExecObserver for MetricsObserver {
    fn dropped(&self, n: u64) {
        self.metrics.add(self.dropped, n);
    }
}

pub async fn execute(
    plan: &RunPlan,
    world: &World,
    metrics: &Metrics,
    tracker: &MessageTracker,
    stop: watch::Receiver<bool>,
    status: &watch::Sender<EngineStatus>,
) -> Result<EngineReport, EngineError> {
    if plan.scenario.behaviours.is_empty() {
        return Err(EngineError::Setup("the scenario has no behaviours".into()));
    }
    let ctx = Arc::new(RunCtx::new(
        plan.clone(),
        world.clone(),
        metrics.clone(),
        tracker.clone(),
    ));
    let driver = Arc::new(EngineDriver { ctx: ctx.clone() });
    let counters = Arc::new(ExecCounters::default());
    let observer = Arc::new(MetricsObserver {
        metrics: metrics.clone(),
        dropped: metrics.id(names::ITERATIONS_DROPPED),
    });
    let shared = Shared::new(counters.clone(), observer);
    let run_stop = StopFlag::from_watch(stop);
    let profile = plan.profile();
    let load = &plan.scenario.load;

    let (done_tx, done) = super::executor::stop_pair();
    let status_task = {
        let counters = counters.clone();
        let metrics = metrics.clone();
        let tracker = tracker.clone();
        let status = status.clone();
        let plan = plan.clone();
        let profile = profile.clone();
        async move {
            let gauge = metrics.gauge(names::VUS_ACTIVE);
            let start = Instant::now();
            loop {
                let active = counters.active.load(Ordering::Relaxed).max(0);
                gauge.set(active);
                let elapsed = start.elapsed();
                let level = if elapsed < profile.total() {
                    profile.value_at(elapsed)
                } else {
                    0.0
                };
                status.send_replace(EngineStatus {
                    stage: plan.stage_label(elapsed),
                    active_vus: active as u64,
                    level,
                });
                tracker.sweep(now_unix_us());
                if !done.sleep(STATUS_EVERY).await {
                    gauge.set(0);
                    return;
                }
            }
        }
    };
    let run = async {
        let ending = match load.model {
            Model::Closed => {
                let cfg = ClosedConfig {
                    profile,
                    graceful_stop: load.graceful_stop,
                };
                run_closed(driver, cfg, run_stop, shared).await
            }
            Model::Open => {
                let cfg = OpenConfig {
                    profile,
                    max_vus: plan.max_vus(),
                    max_queue: load.max_queue,
                    graceful_stop: load.graceful_stop,
                };
                run_open(driver, cfg, run_stop, shared).await
            }
        };
        done_tx.stop();
        ending
    };
    let (ending, ()) = tokio::join!(run, status_task);
    status.send_replace(EngineStatus {
        stage: match ending {
            Ending::Completed => "done".into(),
            Ending::Interrupted => "interrupted".into(),
        },
        active_vus: 0,
        level: 0.0,
    });
    let interrupted = counters.interrupted.load(Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    Ok(EngineReport {
        iterations: counters.iterations.load(Ordering::Relaxed),
        interrupted,
        dropped,
        reconnects: ctx.reconnects.load(Ordering::Relaxed),
        stopped: ending == Ending::Interrupted,
        notes: ctx.notes(),
    })
}
