//! `capacity.json`: what a search found, the bracket, the SLO that bound
//! it, and every step with its run directory. Written after each step (a
//! search stopped half way keeps what it saw) and once more at the end.

use serde::{Deserialize, Serialize};

use super::search::{End, State, StepVerdict};
use super::sizing::Sizing;
use super::slo::SloResult;
use super::step::Step;
use super::usl::UslFit;

/// The file's name in the search's directory.
pub const FILE: &str = "capacity.json";
/// Bumped when a field changes meaning or goes away.
pub const SCHEMA: u32 = 1;

/// How the search ended, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Found,
    /// Even `min` failed, or `max` still held: the capacity lies outside
    /// the range searched.
    NotFound,
    /// The generator could not measure where the answer lies.
    Void,
    /// Still running, or stopped (Ctrl-C, the step budget) before an answer.
    Incomplete,
}

impl Verdict {
    /// The word capacity.json writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Found => "found",
            Verdict::NotFound => "not_found",
            Verdict::Void => "void",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// What the search looked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSpec {
    pub min: f64,
    pub max: f64,
    pub hold_s: f64,
    pub settle_s: f64,
    pub resolution: f64,
    pub repeats: u32,
}

/// The SLO that failed first at the boundary, with its value there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundBy {
    pub slo: String,
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub limit: f64,
    /// The load it failed at.
    pub load: f64,
}

/// `capacity.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub schema: u32,
    pub scenario: String,
    pub scenario_sha256: String,
    pub seed: u64,
    /// `vus` (closed model) or `arrivals_per_s` (open).
    pub unit: String,
    pub verdict: Verdict,
    /// The largest load that held every SLO in every run; `None` unless found.
    pub capacity: Option<f64>,
    /// The bracket: the capacity lies between `low` (held) and `high`
    /// (failed). `low` alone: at least that; `high` alone: below that.
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub bound_by: Option<BoundBy>,
    /// One sentence for people.
    pub summary: String,
    pub slos: Vec<String>,
    pub search: SearchSpec,
    pub steps: Vec<Step>,
    /// Against Rocket.Chat's published hardware table (`--sizing`).
    #[serde(default)]
    pub sizing: Option<Sizing>,
    /// The Universal Scalability Law fitted to the steps (`--fit usl`): a
    /// model, not the capacity.
    #[serde(default)]
    pub usl: Option<UslFit>,
    pub interrupted: bool,
    /// Wall time of the whole search, provisioning excluded.
    pub elapsed_s: f64,
}

/// The verdict, bracket, binding SLO and sentence of a search that ended
/// so (`None`: not ended yet or stopped, judged from the steps so far).
pub struct Judged {
    pub verdict: Verdict,
    pub capacity: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub bound_by: Option<BoundBy>,
    pub summary: String,
}

/// Judges the steps of a search given how it ended.
pub fn judge(end: Option<&End>, steps: &[Step], unit: &str, spec: &SearchSpec) -> Judged {
    let bound = |load: f64| bound_by(steps, load);
    let fmt = |v: f64| format!("{} {unit}", fmt_load(v));
    let figures = |load: f64| step_figures(steps, load);
    match end {
        Some(End::Found { pass, fail }) => {
            let b = bound(*fail);
            Judged {
                verdict: Verdict::Found,
                capacity: Some(*pass),
                low: Some(*pass),
                high: Some(*fail),
                summary: format!(
                    "capacity {}: every SLO held there in every run; {} broke {}",
                    fmt(*pass),
                    fmt(*fail),
                    b.as_ref().map_or_else(|| "an SLO".into(), describe)
                ),
                bound_by: b,
            }
        }
        Some(End::MaxHolds) => Judged {
            verdict: Verdict::NotFound,
            capacity: None,
            low: Some(spec.max),
            high: None,
            bound_by: None,
            summary: format!(
                "not found: every SLO still held at --max {} ({}); the capacity is higher, raise --max",
                fmt(spec.max),
                figures(spec.max)
            ),
        },
        Some(End::MinFails) => {
            let b = bound(spec.min);
            Judged {
                verdict: Verdict::NotFound,
                capacity: None,
                low: None,
                high: Some(spec.min),
                summary: format!(
                    "not found: even --min {} broke {}; the capacity is lower, lower --min",
                    fmt(spec.min),
                    b.as_ref().map_or_else(|| "an SLO".into(), describe)
                ),
                bound_by: b,
            }
        }
        Some(End::Void { pass, void }) => {
            let why = steps
                .iter()
                .find(|s| s.load == *void && s.verdict == StepVerdict::Void)
                .and_then(|s| s.reason.clone())
                .unwrap_or_default();
            let held = pass.map_or_else(
                || "no load held before that".into(),
                |p| {
                    format!(
                        "the SLOs held up to {}, so the capacity is at least that",
                        fmt(p)
                    )
                },
            );
            Judged {
                verdict: Verdict::Void,
                capacity: None,
                low: *pass,
                high: None,
                bound_by: None,
                summary: format!(
                    "void: {} could not be measured ({why}); {held}, but no number above it was seen: \
                     give the generator more cores or split it into shards",
                    fmt(*void)
                ),
            }
        }
        Some(End::OutOfSteps(s)) => incomplete(s, "stopped after the step budget", &fmt),
        None => incomplete(
            &super::search::state(
                &steps
                    .iter()
                    .map(|s| (s.load, s.verdict))
                    .collect::<Vec<_>>(),
            ),
            "stopped before an answer",
            &fmt,
        ),
    }
}

fn incomplete(s: &State, why: &str, fmt: &dyn Fn(f64) -> String) -> Judged {
    let bracket = match (s.pass, s.fail) {
        (Some(p), Some(f)) => format!("between {} and {}", fmt(p), fmt(f)),
        (Some(p), None) => format!("at least {}", fmt(p)),
        (None, Some(f)) => format!("below {}", fmt(f)),
        (None, None) => "unknown".into(),
    };
    Judged {
        verdict: Verdict::Incomplete,
        capacity: None,
        low: s.pass,
        high: s.fail,
        bound_by: None,
        summary: format!("incomplete: {why}; the capacity is {bracket}"),
    }
}

/// `message.e2e p95<500ms (612ms at 550 VUs)`.
fn describe(b: &BoundBy) -> String {
    let value = b
        .value
        .map_or_else(|| "nothing measured".into(), |v| fmt_value(&b.slo, v));
    format!("{} ({value})", b.slo)
}

/// A measured value in the unit its SLO text implies.
fn fmt_value(slo: &str, v: f64) -> String {
    match crate::scenario::Slo::parse(slo) {
        Ok(s) => s.format_value(super::slo::significant(v)),
        Err(_) => format!("{v}"),
    }
}

/// The most exceeded failed SLO of the first failing run at `load`.
fn bound_by(steps: &[Step], load: f64) -> Option<BoundBy> {
    let step = steps
        .iter()
        .find(|s| s.load == load && s.verdict == StepVerdict::Fail)?;
    let worst: &SloResult = step
        .slos
        .iter()
        .filter(|r| !r.passed)
        .max_by(|a, b| a.excess().total_cmp(&b.excess()))?;
    Some(BoundBy {
        slo: worst.slo.clone(),
        metric: worst.metric.clone(),
        value: worst.value,
        limit: worst.limit,
        load,
    })
}

/// `ddp.method.sendMessage p95 41ms, errors 0%` of the last step at `load`.
fn step_figures(steps: &[Step], load: f64) -> String {
    steps
        .iter()
        .rev()
        .find(|s| s.load == load)
        .map(|s| {
            s.slos
                .iter()
                .map(|r| {
                    format!(
                        "{} = {}",
                        r.slo,
                        r.value.map_or_else(|| "-".into(), |v| fmt_value(&r.slo, v))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `525`, `37.5`: a load without trailing zeros.
pub fn fmt_load(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
