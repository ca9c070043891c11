//! Comparing runs with their noise: per metric and statistic, is the
//! candidate `improved`, `regressed`, the `same` (within noise), or is it
//! `inconclusive` (and what would settle it)?
//!
//! Two methods, chosen per candidate and named in the output:
//! - repetitions (at least 3 runs a side): a two-sided Mann-Whitney U test
//!   on the per-run values, and a bootstrap confidence interval of the
//!   relative change of the medians;
//! - one run a side (or 2): a moving-block bootstrap over the per-second
//!   histograms of the measured phase, so that a run's own variation is
//!   the yardstick.
//!
//! A finding needs p below alpha after Holm-Bonferroni over every
//! comparison of the column, and its whole confidence interval beyond the
//! effect floor (criterion.rs's rule); a change inside the floor is never
//! a finding. The data flows one way: [`side`] loads runs, [`judge`]
//! decides, [`render`] prints, [`gate`] turns findings into an exit code.

mod fingerprint;
pub mod gate;
mod judge;
mod phase;
mod ranks;
pub mod render;
mod rule;
mod sample;
mod side;
mod single;
pub mod stats;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use fingerprint::Difference;
pub use judge::compare;
pub use side::{Run, Side};

/// The version of compare's JSON output.
pub const SCHEMA: u32 = 1;

/// What is compared for every metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    Rate,
    P50,
    P95,
    P99,
    P999,
    ErrorRate,
}

impl Stat {
    pub const ALL: [Stat; 6] = [
        Stat::Rate,
        Stat::P50,
        Stat::P95,
        Stat::P99,
        Stat::P999,
        Stat::ErrorRate,
    ];

    /// The latency quantile, for percentiles.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Rate | Stat::ErrorRate => None,
        }
    }

    /// Whether a larger value is worse (latency, errors) or better (rate).
    pub fn larger_is_worse(self) -> bool {
        self != Stat::Rate
    }

    pub fn label(self) -> &'static str {
        match self {
            Stat::Rate => "rate/s",
            Stat::P50 => "p50",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p99.9",
            Stat::ErrorRate => "errors",
        }
    }
}

/// The outcome of one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    Same,
    Inconclusive,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::Same => "~",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// The smallest change that can count: a relative part and, for latency,
/// an absolute one; a change must exceed both.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MinEffect {
    pub pct: f64,
    pub ms: f64,
}

impl Default for MinEffect {
    fn default() -> MinEffect {
        MinEffect { pct: 5.0, ms: 0.5 }
    }
}

/// A rise of the error rate smaller than this (in percentage points) is
/// never a finding: a handful of errors in thousands of calls is noise.
pub const ERROR_RATE_FLOOR_PP: f64 = 0.1;

/// How to compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub alpha: f64,
    pub min_effect: MinEffect,
    /// Bootstrap replicates.
    pub resamples: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            alpha: 0.05,
            min_effect: MinEffect::default(),
            resamples: 2000,
        }
    }
}

/// The whole result: the base and one column per candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub schema: u32,
    pub alpha: f64,
    pub min_effect: MinEffect,
    pub error_rate_floor_pp: f64,
    pub resamples: usize,
    pub base: SideSummary,
    pub columns: Vec<Column>,
}

/// A side as the output names it.
#[derive(Clone, Debug, Serialize)]
pub struct SideSummary {
    /// The path as given.
    pub label: String,
    pub runs: Vec<RunRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunRef {
    pub path: PathBuf,
    pub id: String,
    /// The measured phase compare used, and how it was chosen.
    pub phase: String,
}

/// One candidate against the base.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    pub candidate: SideSummary,
    pub method: Method,
    /// The method in a sentence, with its sizes.
    pub method_text: String,
    /// Fingerprint fields that differ from the base.
    pub differences: Vec<Difference>,
    pub warnings: Vec<String>,
    pub metrics: Vec<MetricRows>,
    /// Metrics measured only outside the measured phase (setup steps such
    /// as logins and connects, ramps): not compared.
    pub outside_phase: Vec<String>,
    /// Counters (lost and duplicate deliveries, dropped arrivals,
    /// reconnects): shown, not judged.
    pub counters: Vec<CounterRow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    MannWhitneyU,
    BlockBootstrap,
}

/// One metric of a column.
#[derive(Clone, Debug, Serialize)]
pub struct MetricRows {
    pub metric: String,
    /// Operations in the measured phase (all runs of the side).
    pub base_count: u64,
    pub candidate_count: u64,
    pub rows: Vec<Row>,
}

/// One statistic of one metric.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub stat: Stat,
    /// ms for percentiles, per second for rate, a fraction for errors;
    /// with repetitions, the median over runs.
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// Relative change in % (percentage points for the error rate).
    pub change: Option<f64>,
    /// 95 % bootstrap confidence interval of `change`.
    pub ci: Option<[f64; 2]>,
    pub p: Option<f64>,
    /// `p` after Holm-Bonferroni over the column.
    pub p_holm: Option<f64>,
    pub verdict: Verdict,
    /// Why, in a phrase; for `inconclusive`, what would settle it.
    pub reason: String,
    /// One run a side: how far the statistic moved between the first and
    /// second half of a side's own run (the larger side), in the unit of
    /// `change`; a finding must clear it. `None` with repetitions.
    pub drift: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CounterRow {
    pub name: String,
    pub base: u64,
    pub candidate: u64,
}

/// What stops a comparison, each naming its file or argument.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
    #[error(
        "{0} is an unfinished run (no summary.json): compare needs finished runs; `rocketload report` reads partial ones"
    )]
    Unfinished(PathBuf),
    #[error("{candidate} is the base itself: run {id} is also in {base}")]
    SameRun {
        base: PathBuf,
        candidate: PathBuf,
        id: String,
    },
    #[error("run {id} is given twice in {side} ({first} and {second})")]
    Duplicate {
        side: PathBuf,
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "{base} and {candidate} ran different scenarios ({detail}); give --force to compare them anyway"
    )]
    DifferentScenario {
        base: PathBuf,
        candidate: PathBuf,
        /// `smoke sha256 1a2b.. vs office-day sha256 3c4d..`
        detail: String,
    },
}

#[cfg(test)]
mod tests;
