//! The processes-per-host experiment (`rocketload scaling`): the same
//! seeded workload against several shapes of deployment (1, 2, 4 embedded
//! instances; or named external sets such as `1proc`/`4proc`, `vm`/
//! `container`), each prepared once, measured at one fixed load or by a
//! capacity search, in an interleaved order when repeated (A B C, C B A,
//! ...) so that drift favours none. Each set's figure is the median of its
//! runs; its efficiency is that figure per instance relative to the first
//! set's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::outcome::fmt_load;
use super::search::StepVerdict;
use super::step::{self, Figures, Halt, Step, StepPlan};
use super::{Capacity, Config, Verdict};
use crate::compare::stats::median;
use crate::results::{IntervalSink, Recovery, TargetInfo};
use crate::runner::{Measure, Prepared, Restart, RunError};
use crate::scenario::Slo;

/// The file's name in the experiment's directory.
pub const FILE: &str = "scaling.json";
pub const SCHEMA: u32 = 1;
/// A set that adds instances but less than this much throughput "adds
/// nothing".
pub const NO_GAIN: f64 = 0.05;

/// One shape of deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetSpec {
    pub name: String,
    pub instances: u32,
    /// Empty for an embedded set (its URLs are in `target`).
    pub urls: Vec<String>,
}

/// How each set is measured.
#[derive(Clone, Debug)]
pub enum Method {
    /// At one load (VUs or arrivals/s), settle then hold, SLOs reported.
    Fixed {
        load: f64,
        settle: Duration,
        hold: Duration,
        slos: Vec<Slo>,
        /// Restart an instance of each set part way (recovery measured).
        restart: Option<Restart>,
    },
    /// A capacity search per set and round (its `out` is replaced).
    Capacity(Box<Config>),
}

/// One measurement of one set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetRun {
    /// 1-based round.
    pub round: u32,
    /// Relative to the experiment's directory.
    pub dir: PathBuf,
    /// Fixed load: the step.
    pub step: Option<Step>,
    /// Capacity search: its answer (`capacity.json` in `dir` has the rest).
    pub verdict: Option<Verdict>,
    pub capacity: Option<f64>,
    /// The figure the set is judged by: throughput/s, or the capacity.
    pub figure: Option<f64>,
}

/// One set over its runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetResult {
    #[serde(flatten)]
    pub spec: SetSpec,
    /// The target as prepared (URLs, version, embedded or not).
    pub target: TargetInfo,
    pub runs: Vec<SetRun>,
    /// Median over the runs of completed operations per second of the
    /// held phase (fixed load), or of the search's throughput at its
    /// capacity.
    pub throughput_per_s: Option<f64>,
    /// Median capacity over the runs; `None` unless every run found one.
    pub capacity: Option<f64>,
    /// The lowest and highest figure over the runs.
    pub spread: Option<(f64, f64)>,
    /// Figure per instance over the first set's figure per instance.
    pub efficiency: Option<f64>,
    /// The run with the median figure: its held-phase metrics.
    pub metrics: BTreeMap<String, Figures>,
    /// Runs that were void (generator saturated, target down, ...).
    pub void_runs: u32,
    /// The run with the median figure: its recovery from the restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
}

/// `scaling.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub schema: u32,
    pub scenario: String,
    pub scenario_sha256: String,
    pub seed: u64,
    /// `local` (embedded instances) or `sets` (external deployments).
    pub mode: String,
    pub judged_by: JudgedBy,
    pub unit: String,
    /// The fixed load, if that was the method.
    pub load: Option<f64>,
    pub rounds: u32,
    /// Set names in the order they were measured.
    pub order: Vec<String>,
    /// Cores of the host that ran the experiment (the embedded sets' host).
    pub host_cores: u32,
    pub sets: Vec<SetResult>,
    pub verdict: String,
    pub interrupted: bool,
    pub elapsed_s: f64,
}

/// The figure sets are compared by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgedBy {
    /// Completed operations per second at the fixed load.
    Throughput,
    /// The capacity each set's search found.
    Capacity,
}

impl std::fmt::Display for JudgedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JudgedBy::Throughput => "throughput",
            JudgedBy::Capacity => "capacity",
        })
    }
}

/// What the caller sees while the experiment runs.
pub trait Observer {
    /// The interval sinks of the next measurement.
    fn sinks(&mut self) -> Vec<Box<dyn IntervalSink>>;
    /// A capacity search's step ended (method `Capacity`).
    fn search_step(&mut self, set: &str, step: &Step);
    /// A set's run ended.
    fn run(&mut self, set: &SetSpec, run: &SetRun);
}

/// The order of round `r` (0-based): forwards, then backwards, ...
pub fn round_order(sets: usize, r: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sets).collect();
    if r % 2 == 1 {
        order.reverse();
    }
    order
}

/// The fixed parts of the experiment, for the file.
pub struct Header {
    pub mode: String,
    pub unit: String,
    pub host_cores: u32,
}

/// Runs the experiment on sets already prepared, in rounds. Stops at
/// Ctrl-C (the run in progress is kept) or at a run that could not start.
pub async fn run(
    sets: &[(SetSpec, Prepared)],
    method: &Method,
    rounds: u32,
    out: &Path,
    header: &Header,
    observer: &mut dyn Observer,
) -> (Scaling, Option<RunError>) {
    let started = Instant::now();
    let mut runs: Vec<Vec<SetRun>> = vec![Vec::new(); sets.len()];
    let mut order = Vec::new();
    let mut interrupted = false;
    let mut error = None;
    'rounds: for r in 0..rounds {
        for i in round_order(sets.len(), r) {
            let (spec, prepared) = &sets[i];
            let round = r + 1;
            let rel = PathBuf::from(&spec.name).join(round.to_string());
            order.push(spec.name.clone());
            let done = match method {
                Method::Fixed {
                    load,
                    settle,
                    hold,
                    slos,
                    restart,
                } => {
                    let base = Measure {
                        restart: restart.clone(),
                        ..Measure::default()
                    };
                    let plan = StepPlan {
                        index: round as usize,
                        load: *load,
                        settle: *settle,
                        hold: *hold,
                        dir: out.join(&rel),
                    };
                    let sinks = observer.sinks();
                    match step::measure(prepared, slos, &plan, &base, sinks, rel.clone()).await {
                        Ok(s) => Ok((fixed_run(round, rel, s), false)),
                        Err(Halt::Interrupted(s)) => Ok((fixed_run(round, rel, *s), true)),
                        Err(Halt::Error(e)) => Err(e),
                    }
                }
                Method::Capacity(cfg) => {
                    let cfg = Config {
                        out: out.join(&rel),
                        ..(**cfg).clone()
                    };
                    let mut steps = Steps {
                        inner: &mut *observer,
                        set: &spec.name,
                    };
                    match super::run(prepared, &cfg, &Measure::default(), &mut steps).await {
                        Ok(c) => Ok((search_run(round, rel, &c), c.interrupted)),
                        Err((e, c)) => {
                            runs[i].push(search_run(round, rel, &c));
                            Err(e)
                        }
                    }
                }
            };
            match done {
                Ok((run, stop)) => {
                    observer.run(spec, &run);
                    runs[i].push(run);
                    if stop {
                        interrupted = true;
                        break 'rounds;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break 'rounds;
                }
            }
        }
    }
    let results: Vec<SetResult> = sets
        .iter()
        .zip(runs)
        .map(|((spec, prepared), runs)| set_result(spec, prepared.target.clone(), runs))
        .collect();
    let judged_by = match method {
        Method::Fixed { .. } => JudgedBy::Throughput,
        Method::Capacity(_) => JudgedBy::Capacity,
    };
    let results = with_efficiency(results, judged_by);
    let first = sets.first().map(|(_, p)| p);
    let scaling = Scaling {
        schema: SCHEMA,
        scenario: first.map(|p| p.scenario.name.clone()).unwrap_or_default(),
        scenario_sha256: first.map(|p| p.scenario_sha256.clone()).unwrap_or_default(),
        seed: first.map_or(0, |p| p.seed),
        mode: header.mode.clone(),
        judged_by,
        unit: header.unit.clone(),
        load: match method {
            Method::Fixed { load, .. } => Some(*load),
            Method::Capacity(_) => None,
        },
        rounds,
        order,
        host_cores: header.host_cores,
        verdict: verdict(&results, judged_by, header),
        sets: results,
        interrupted,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    (scaling, error)
}

/// Forwards a capacity search's steps to the experiment's observer.
struct Steps<'a> {
    inner: &'a mut dyn Observer,
    set: &'a str,
}

impl super::Observer for Steps<'_> {
    fn sinks(&mut self, _index: usize, _load: f64) -> Vec<Box<dyn IntervalSink>> {
        self.inner.sinks()
    }

    fn step(&mut self, step: &Step) {
        self.inner.search_step(self.set, step);
    }
}

fn fixed_run(round: u32, dir: PathBuf, s: Step) -> SetRun {
    SetRun {
        round,
        dir,
        figure: (s.verdict != StepVerdict::Void).then_some(s.throughput_per_s),
        step: Some(s),
        verdict: None,
        capacity: None,
    }
}

fn search_run(round: u32, dir: PathBuf, c: &Capacity) -> SetRun {
    SetRun {
        round,
        dir,
        step: c
            .capacity
            .and_then(|cap| c.steps.iter().rev().find(|s| s.load == cap).cloned()),
        verdict: Some(c.verdict),
        capacity: c.capacity,
        figure: c.capacity,
    }
}

fn set_result(spec: &SetSpec, target: TargetInfo, runs: Vec<SetRun>) -> SetResult {
    let figures: Vec<f64> = runs.iter().filter_map(|r| r.figure).collect();
    let spread = figures
        .iter()
        .copied()
        .fold(None, |acc: Option<(f64, f64)>, x| {
            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        });
    let figure = median(&figures);
    let middle = figure.and_then(|m| {
        runs.iter().filter(|r| r.figure.is_some()).min_by(|a, b| {
            let d = |r: &SetRun| (r.figure.unwrap_or(f64::NAN) - m).abs();
            d(a).total_cmp(&d(b))
        })
    });
    let searched = runs.iter().any(|r| r.verdict.is_some());
    let capacity = if searched && runs.iter().all(|r| r.capacity.is_some()) {
        median(&runs.iter().filter_map(|r| r.capacity).collect::<Vec<_>>())
    } else {
        None
    };
    let throughput = median(
        &runs
            .iter()
            .filter_map(|r| r.step.as_ref())
            .filter(|s| s.verdict != StepVerdict::Void)
            .map(|s| s.throughput_per_s)
            .collect::<Vec<_>>(),
    );
    SetResult {
        spec: spec.clone(),
        target,
        throughput_per_s: throughput,
        capacity,
        spread,
        efficiency: None,
        metrics: middle
            .and_then(|r| r.step.as_ref())
            .map(|s| s.metrics.clone())
            .unwrap_or_default(),
        recovery: middle
            .and_then(|r| r.step.as_ref())
            .and_then(|s| s.recovery.clone())
            .or_else(|| runs.iter().find_map(|r| r.step.as_ref()?.recovery.clone())),
        void_runs: runs.iter().filter(|r| is_void(r)).count() as u32,
        runs,
    }
}

/// A search that ended void, or a fixed-load step that was.
fn is_void(r: &SetRun) -> bool {
    match r.verdict {
        Some(v) => v == Verdict::Void,
        None => r
            .step
            .as_ref()
            .is_some_and(|s| s.verdict == StepVerdict::Void),
    }
}

/// The figure a set is judged by.
pub fn figure(s: &SetResult, by: JudgedBy) -> Option<f64> {
    match by {
        JudgedBy::Capacity => s.capacity,
        JudgedBy::Throughput => s.throughput_per_s,
    }
}

fn with_efficiency(mut sets: Vec<SetResult>, by: JudgedBy) -> Vec<SetResult> {
    let base = sets
        .first()
        .and_then(|s| figure(s, by).map(|f| f / f64::from(s.spec.instances.max(1))));
    for s in &mut sets {
        s.efficiency = match (base, figure(s, by)) {
            (Some(b), Some(f)) if b > 0.0 => Some(f / f64::from(s.spec.instances.max(1)) / b),
            _ => None,
        };
    }
    sets
}

/// The verdict in words: each set against the first, and where adding
/// instances stopped paying.
pub fn verdict(sets: &[SetResult], judged_by: JudgedBy, header: &Header) -> String {
    let figure = |s: &SetResult| figure(s, judged_by);
    let Some(first) = sets.first() else {
        return "no set was measured".into();
    };
    let Some(base) = figure(first) else {
        return format!(
            "no verdict: {} has no {judged_by} to compare with ({} void run(s))",
            first.spec.name, first.void_runs
        );
    };
    let plural = |n: u32| if n == 1 { "instance" } else { "instances" };
    let mut parts = Vec::new();
    for s in &sets[1..] {
        match (figure(s), s.efficiency) {
            (Some(f), Some(e)) => parts.push(format!(
                "{} ({} {}) carries {:.2}x the {judged_by} of {} ({} {}): {:.0}% efficiency",
                s.spec.name,
                s.spec.instances,
                plural(s.spec.instances),
                f / base,
                first.spec.name,
                first.spec.instances,
                plural(first.spec.instances),
                e * 100.0
            )),
            _ => parts.push(format!(
                "{}: no {judged_by} measured ({} void run(s))",
                s.spec.name, s.void_runs
            )),
        }
    }
    // Where more instances stopped paying, in order of instance count.
    let mut by_size: Vec<&SetResult> = sets.iter().filter(|s| figure(s).is_some()).collect();
    by_size.sort_by_key(|s| s.spec.instances);
    for pair in by_size.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (fa, fb) = (figure(a).unwrap_or(0.0), figure(b).unwrap_or(0.0));
        if b.spec.instances > a.spec.instances && fa > 0.0 && fb / fa - 1.0 < NO_GAIN {
            let host = if header.mode == "local" {
                format!(" on this {}-core host", header.host_cores)
            } else {
                String::new()
            };
            let gain = format!("{:+.0}%", (fb / fa - 1.0) * 100.0).replace("-0%", "+0%");
            parts.push(format!(
                "going from {} to {} instances adds nothing ({gain}){host}",
                a.spec.instances, b.spec.instances
            ));
        }
    }
    if header.mode == "local" && header.host_cores > 1 {
        let n = header.host_cores - 1;
        parts.push(format!(
            "Rocket.Chat's rule of thumb for this host: {n} {} on {} cores",
            plural(n),
            header.host_cores
        ));
    }
    // More instances that carry no more: the load, not the instances, set it.
    let same = sets
        .iter()
        .any(|s| s.spec.instances != first.spec.instances)
        && sets
            .iter()
            .all(|s| figure(s).is_some_and(|f| (f / base - 1.0).abs() < NO_GAIN));
    if same && judged_by == JudgedBy::Throughput {
        parts.push(
            "every set carried the same throughput: the offered load may be below the first set's capacity \
             (raise --vus/--rate, or search each with --capacity)"
                .into(),
        );
    }
    let void: u32 = sets.iter().map(|s| s.void_runs).sum();
    if void > 0 {
        parts.push(format!(
            "{void} void run(s) left out (see each run's reason)"
        ));
    }
    if parts.is_empty() {
        return format!("{}: {} {judged_by}", first.spec.name, fmt_load(base));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, instances: u32, figure: Option<f64>) -> SetResult {
        SetResult {
            spec: SetSpec {
                name: name.into(),
                instances,
                urls: Vec::new(),
            },
            target: TargetInfo::default(),
            runs: Vec::new(),
            throughput_per_s: figure,
            capacity: None,
            spread: figure.map(|f| (f, f)),
            efficiency: None,
            metrics: BTreeMap::new(),
            void_runs: 0,
            recovery: None,
        }
    }

    const LOCAL: Header = Header {
        mode: String::new(),
        unit: String::new(),
        host_cores: 2,
    };

    fn local() -> Header {
        Header {
            mode: "local".into(),
            ..LOCAL
        }
    }

    #[test]
    fn interleaves_rounds() {
        assert_eq!(round_order(3, 0), [0, 1, 2]);
        assert_eq!(round_order(3, 1), [2, 1, 0]);
        assert_eq!(round_order(3, 2), [0, 1, 2]);
    }

    #[test]
    fn efficiency_is_per_instance_against_the_first_set() {
        let sets = with_efficiency(
            vec![
                set("1", 1, Some(100.0)),
                set("2", 2, Some(190.0)),
                set("3", 3, Some(195.0)),
            ],
            JudgedBy::Throughput,
        );
        let e: Vec<f64> = sets.iter().map(|s| s.efficiency.unwrap()).collect();
        assert!(
            (e[0] - 1.0).abs() < 1e-12
                && (e[1] - 0.95).abs() < 1e-12
                && (e[2] - 0.65).abs() < 1e-12
        );
        let v = verdict(&sets, JudgedBy::Throughput, &local());
        assert!(
            v.contains(
                "2 (2 instances) carries 1.90x the throughput of 1 (1 instance): 95% efficiency"
            ),
            "{v}"
        );
        assert!(
            v.contains("going from 2 to 3 instances adds nothing (+3%) on this 2-core host"),
            "{v}"
        );
        assert!(
            v.contains("rule of thumb for this host: 1 instance on 2 cores"),
            "{v}"
        );
    }

    #[test]
    fn same_shapes_compare_as_ratios() {
        let sets = with_efficiency(
            vec![set("vm", 1, Some(100.0)), set("container", 1, Some(97.0))],
            JudgedBy::Throughput,
        );
        let v = verdict(
            &sets,
            JudgedBy::Throughput,
            &Header {
                mode: "sets".into(),
                ..LOCAL
            },
        );
        assert_eq!(
            v,
            "container (1 instance) carries 0.97x the throughput of vm (1 instance): 97% efficiency"
        );
    }

    #[test]
    fn a_set_without_a_figure_is_named_not_guessed() {
        let mut void = set("2", 2, None);
        void.void_runs = 1;
        let sets = with_efficiency(vec![set("1", 1, Some(100.0)), void], JudgedBy::Throughput);
        let v = verdict(&sets, JudgedBy::Throughput, &local());
        assert!(
            v.contains("2: no throughput measured (1 void run(s))"),
            "{v}"
        );
        let v = verdict(
            &with_efficiency(vec![set("1", 1, None)], JudgedBy::Throughput),
            JudgedBy::Throughput,
            &local(),
        );
        assert!(v.starts_with("no verdict"), "{v}");
    }
}
