//! Capacity search under SLOs (`rocketload capacity`), sizing verdicts
//! against Rocket.Chat's hardware table, and the processes-per-host
//! experiment (`rocketload scaling`). Every step is one measurement of a
//! run prepared once ([`crate::runner::Prepared::measure`]); the search
//! itself ([`search::next`]) is a pure function of the steps so far.

pub mod outcome;
pub mod scaling;
pub mod search;
pub mod sizing;
pub mod slo;
pub mod step;
pub mod usl;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::compare::stats::median;
use crate::results::IntervalSink;
use crate::runner::{Measure, Prepared, RunError, stop_on_signal, stopped};
use crate::scenario::{Model, Slo};
pub use outcome::{Capacity, Verdict};
use search::{Bounds, End, Next};
use sizing::HostSize;
use step::{Halt, Step, StepPlan};

/// Between two steps, so a backlog the last one left on the target does
/// not land in the next one's settle phase more than it must.
pub const COOLDOWN: Duration = Duration::from_secs(2);

/// A search, resolved from flags and the scenario's `capacity:` block.
#[derive(Clone, Debug)]
pub struct Config {
    pub slos: Vec<Slo>,
    pub bounds: Bounds,
    pub hold: Duration,
    pub settle: Duration,
    /// Where `capacity.json` and `steps/` go.
    pub out: PathBuf,
    /// Fit the Universal Scalability Law to the steps (closed model).
    pub fit_usl: bool,
    /// The host to hold the capacity against Rocket.Chat's table.
    pub sizing: Option<HostSize>,
}

/// The unit of a model's load, as `capacity.json` names it.
pub fn unit_of(model: Model) -> &'static str {
    match model {
        Model::Closed => "vus",
        Model::Open => "arrivals_per_s",
    }
}

/// The unit as people read it after a number.
pub fn unit_label(model: Model) -> &'static str {
    match model {
        Model::Closed => "VUs",
        Model::Open => "arrivals/s",
    }
}

/// What the caller sees while the search runs.
pub trait Observer {
    /// The interval sinks of step `index` (e.g. a progress line).
    fn sinks(&mut self, index: usize, load: f64) -> Vec<Box<dyn IntervalSink>>;
    /// A step ended (`capacity.json` has been rewritten with it).
    fn step(&mut self, step: &Step);
}

/// Runs the search on a prepared target. Ctrl-C ends it after the step in
/// progress (kept, marked interrupted); `capacity.json` is rewritten after
/// every step. Errors are those of a step that could not run at all.
pub async fn run(
    prepared: &Prepared,
    cfg: &Config,
    base: &Measure,
    observer: &mut dyn Observer,
) -> Result<Capacity, (RunError, Capacity)> {
    let started = Instant::now();
    let interrupted = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop) = watch::channel(false);
    let listener = tokio::spawn(stop_on_signal(stop_tx, interrupted.clone(), None));
    let base = Measure {
        stop: Some(stop.clone()),
        ..base.clone()
    };
    let mut steps: Vec<Step> = Vec::new();
    let model = prepared.scenario.load.model;
    let result = loop {
        let verdicts: Vec<_> = steps.iter().map(|s| (s.load, s.verdict)).collect();
        let load = match search::next(&cfg.bounds, &verdicts) {
            Next::Measure(load) => load,
            Next::Done(end) => break Ok(Some(end)),
        };
        if !steps.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(COOLDOWN) => {}
                () = stopped(stop.clone()) => {}
            }
        }
        if *stop.borrow() {
            break Ok(None);
        }
        let index = steps.len() + 1;
        let relative = step_dir(index, load, model);
        let plan = StepPlan {
            index,
            load,
            settle: cfg.settle,
            hold: cfg.hold,
            dir: cfg.out.join(&relative),
        };
        let sinks = observer.sinks(index, load);
        match step::measure(prepared, &cfg.slos, &plan, &base, sinks, relative).await {
            Ok(s) => {
                steps.push(s);
                let so_far = assemble(prepared, cfg, &steps, None, started, false);
                write(&cfg.out, &so_far);
                if let Some(s) = steps.last() {
                    observer.step(s);
                }
            }
            Err(Halt::Interrupted(s)) => {
                steps.push(*s);
                break Ok(None);
            }
            Err(Halt::Error(e)) => break Err(e),
        }
    };
    listener.abort();
    let interrupted = interrupted.load(Ordering::SeqCst);
    let (end, error) = match result {
        Ok(end) => (end, None),
        Err(e) => (None, Some(e)),
    };
    let mut done = assemble(prepared, cfg, &steps, end.as_ref(), started, interrupted);
    if end.is_some() {
        done.usl = cfg.fit_usl.then(|| usl_of(&steps)).flatten();
        done.sizing = match (&cfg.sizing, done.capacity) {
            (Some(host), Some(c)) => Some(sizing::sizing(
                host,
                concurrent(&steps, c, model),
                &held_text(cfg),
            )),
            _ => None,
        };
    }
    match error {
        Some(e) => Err((e, done)),
        None => Ok(done),
    }
}

/// The capacity file of the steps so far.
fn assemble(
    prepared: &Prepared,
    cfg: &Config,
    steps: &[Step],
    end: Option<&End>,
    started: Instant,
    interrupted: bool,
) -> Capacity {
    let model = prepared.scenario.load.model;
    let spec = outcome::SearchSpec {
        min: cfg.bounds.min,
        max: cfg.bounds.max,
        hold_s: cfg.hold.as_secs_f64(),
        settle_s: cfg.settle.as_secs_f64(),
        resolution: cfg.bounds.resolution,
        repeats: cfg.bounds.repeats,
    };
    let j = outcome::judge(end, steps, unit_label(model), &spec);
    Capacity {
        schema: outcome::SCHEMA,
        scenario: prepared.scenario.name.clone(),
        scenario_sha256: prepared.scenario_sha256.clone(),
        seed: prepared.seed,
        unit: unit_of(model).into(),
        verdict: j.verdict,
        capacity: j.capacity,
        low: j.low,
        high: j.high,
        bound_by: j.bound_by,
        summary: j.summary,
        slos: cfg.slos.iter().map(ToString::to_string).collect(),
        search: spec,
        steps: steps.to_vec(),
        sizing: None,
        usl: None,
        interrupted,
        elapsed_s: started.elapsed().as_secs_f64(),
    }
}

/// Writes `capacity.json`; a failure is a warning here (the caller
/// writes the final file and decides the exit).
fn write(out: &Path, c: &Capacity) {
    if let Err(e) = crate::results::write_json(&out.join(outcome::FILE), c) {
        eprintln!(
            "warning: {} not updated:",
            out.join(outcome::FILE).display()
        );
        crate::runner::report_error(&e);
    }
}

/// `steps/03-400vus`, `steps/05-37.5rps`.
fn step_dir(index: usize, load: f64, model: Model) -> PathBuf {
    let unit = match model {
        Model::Closed => "vus",
        Model::Open => "rps",
    };
    PathBuf::from("steps").join(format!("{index:02}-{}{unit}", outcome::fmt_load(load)))
}

/// "every SLO (a, b)" or the one SLO: what the capacity held at.
fn held_text(cfg: &Config) -> String {
    cfg.slos
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Concurrent users at the capacity: its VUs (closed model), or the most
/// VUs its steps had running at once (open model).
fn concurrent(steps: &[Step], capacity: f64, model: Model) -> f64 {
    match model {
        Model::Closed => capacity,
        Model::Open => steps
            .iter()
            .filter(|s| s.load == capacity)
            .filter_map(|s| s.vus_max)
            .max()
            .map_or(0.0, |v| v as f64),
    }
}

/// The USL fitted to each measured load's median throughput; steps that
/// are void do not count. A fit that fails is a warning.
fn usl_of(steps: &[Step]) -> Option<usl::UslFit> {
    let mut loads: Vec<f64> = steps
        .iter()
        .filter(|s| s.verdict != search::StepVerdict::Void)
        .map(|s| s.load)
        .collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup();
    let points: Vec<(f64, f64)> = loads
        .iter()
        .filter_map(|&l| {
            let x: Vec<f64> = steps
                .iter()
                .filter(|s| s.load == l && s.verdict != search::StepVerdict::Void)
                .map(|s| s.throughput_per_s)
                .collect();
            median(&x).map(|m| (l, m))
        })
        .collect();
    match usl::fit(&points) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("warning: no USL fit: {e}");
            None
        }
    }
}
