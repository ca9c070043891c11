//! The decision: per metric and statistic, the values of both sides, the
//! change with its confidence interval and p, and the verdict with its
//! reason. Pure: runs in, a [`Comparison`] out, the same every time for
//! the same runs (the bootstrap's generator is seeded from the run ids).

use std::collections::{BTreeMap, BTreeSet};

use super::phase;
use super::ranks::repetition_row;
use super::rule::{Pending, decided, finish};
use super::sample::{self, Figures, Pool, RawInterval, Tables};
use super::side::{Run, Side};
use super::single::{block_replicates, bootstrap_row, drift};
use super::{
    Column, CompareError, Comparison, CounterRow, ERROR_RATE_FLOOR_PP, Method, MetricRows, Options,
    RunRef, SCHEMA, SideSummary, Stat, Verdict, fingerprint,
};
use crate::metrics::names::{self, COUNTERS};
use crate::results::NoteKind;

/// Fewest runs a side for the rank test.
pub(super) const MIN_REPETITIONS: usize = 3;
/// Below this many runs a side the output warns.
const WARN_REPETITIONS: usize = 5;
/// Findings all one way from this many on earn a warning.
const ONE_WAY_WARNING: usize = 3;

/// Compares each candidate with the base. Refuses a candidate that holds
/// a base run, and (without `force`) runs of different scenarios.
pub fn compare(
    base: &Side,
    candidates: &[Side],
    opts: &Options,
    force: bool,
) -> Result<Comparison, CompareError> {
    for cand in candidates {
        check_pair(base, cand, force)?;
    }
    let base_runs = measured_runs(base);
    let columns = candidates
        .iter()
        .map(|cand| column(base, &base_runs, cand, opts))
        .collect();
    Ok(Comparison {
        schema: SCHEMA,
        alpha: opts.alpha,
        min_effect: opts.min_effect,
        error_rate_floor_pp: ERROR_RATE_FLOOR_PP,
        resamples: opts.resamples,
        base: summary_of(base, &base_runs),
        columns,
    })
}

fn check_pair(base: &Side, cand: &Side, force: bool) -> Result<(), CompareError> {
    if let Some(run) = cand
        .runs
        .iter()
        .find(|r| base.has_run(&r.summary.run.info.id))
    {
        return Err(CompareError::SameRun {
            base: base.label.clone(),
            candidate: run.path.clone(),
            id: run.summary.run.info.id.clone(),
        });
    }
    if force {
        return Ok(());
    }
    let scenario = |r: &Run| {
        let info = &r.summary.run.info;
        (info.scenario.clone(), info.scenario_sha256.clone())
    };
    let (b_name, b_sha) = scenario(&base.runs[0]);
    for run in base.runs.iter().chain(&cand.runs) {
        let (name, sha) = scenario(run);
        // Schema-1 files carry no hash: their names must agree.
        let differ = if sha.is_empty() || b_sha.is_empty() {
            name != b_name
        } else {
            sha != b_sha
        };
        if differ {
            return Err(CompareError::DifferentScenario {
                base: base.runs[0].path.clone(),
                candidate: run.path.clone(),
                detail: format!("{b_name} {} vs {name} {}", short(&b_sha), short(&sha)),
            });
        }
    }
    Ok(())
}

fn short(sha: &str) -> String {
    match sha {
        "" => "(no hash)".into(),
        s => format!("sha256 {}", &s[..s.len().min(12)]),
    }
}

/// A run's measured intervals, or its whole summary as one interval when
/// its directory has no interval lines.
struct Measured<'a> {
    run: &'a Run,
    intervals: Vec<RawInterval<'a>>,
    phase: String,
    /// Recorded no load stages: see [`phase::UNSTAGED`].
    unstaged: bool,
    saturated: bool,
}

fn measured_runs(side: &Side) -> Vec<Measured<'_>> {
    side.runs.iter().map(measured).collect()
}

fn measured(run: &Run) -> Measured<'_> {
    let s = &run.summary;
    let judged = |name: &str| !COUNTERS.contains(&name) && !name.starts_with("generator.");
    let saturated = s
        .notes
        .iter()
        .any(|n| matches!(n.kind, NoteKind::GeneratorSaturated { .. }));
    let (intervals, phase, unstaged) = match &run.intervals {
        Some(records) if !records.is_empty() => {
            let p = phase::measured(records, &s.run.info.load);
            let intervals = p
                .intervals
                .iter()
                .map(|&i| {
                    let r = &records[i];
                    RawInterval {
                        secs: r.duration_s,
                        metrics: r
                            .metrics
                            .iter()
                            .filter(|(name, _)| judged(name))
                            .map(|(name, m)| (name.as_str(), &m.histogram, m.count, m.errors))
                            .collect(),
                    }
                })
                .collect();
            (intervals, p.text, p.unstaged)
        }
        _ => {
            let whole = RawInterval {
                secs: s.run.duration_s,
                metrics: s
                    .metrics
                    .iter()
                    .filter(|(name, _)| judged(name))
                    .map(|(name, m)| (name.as_str(), &m.latency.histogram, m.count, m.errors))
                    .collect(),
            };
            (
                vec![whole],
                "the whole run (no intervals.jsonl beside its summary)".into(),
                false,
            )
        }
    };
    Measured {
        run,
        intervals,
        phase,
        unstaged,
        saturated,
    }
}

fn summary_of(side: &Side, runs: &[Measured<'_>]) -> SideSummary {
    SideSummary {
        label: side.label.display().to_string(),
        runs: runs
            .iter()
            .map(|m| RunRef {
                path: m.run.path.clone(),
                id: m.run.summary.run.info.id.clone(),
                phase: m.phase.clone(),
            })
            .collect(),
    }
}

/// Both sides' pools over one set of value tables.
pub(super) struct Pair {
    pub(super) tables: Tables,
    pub(super) base: Pool,
    pub(super) cand: Pool,
}

impl Pair {
    fn new(base: &[Measured<'_>], cand: &[Measured<'_>]) -> Pair {
        let tables = Tables::of(base.iter().chain(cand).flat_map(|m| &m.intervals));
        let pool = |side: &[Measured<'_>]| {
            let runs: Vec<&[RawInterval<'_>]> =
                side.iter().map(|m| m.intervals.as_slice()).collect();
            Pool::new(&tables, &runs)
        };
        let (base, cand) = (pool(base), pool(cand));
        Pair { tables, base, cand }
    }
}

fn column(base: &Side, base_runs: &[Measured<'_>], cand: &Side, opts: &Options) -> Column {
    let cand_runs = measured_runs(cand);
    let pair = Pair::new(base_runs, &cand_runs);
    let (nb, nc) = (base.runs.len(), cand.runs.len());
    let method = if nb >= MIN_REPETITIONS && nc >= MIN_REPETITIONS {
        Method::MannWhitneyU
    } else {
        Method::BlockBootstrap
    };
    // Setups that differ inside a side come first: they colour every number.
    let mut warnings = fingerprint::within("base", &base.runs);
    warnings.extend(fingerprint::within("candidate", &cand.runs));
    let saturated = |runs: &[Measured<'_>]| runs.iter().filter(|m| m.saturated).count();
    let void = [("base", saturated(base_runs), nb), ("candidate", saturated(&cand_runs), nc)]
        .into_iter()
        .filter(|&(_, s, _)| s > 0)
        .map(|(side, s, n)| {
            format!(
                "the {side}'s generator saturated in {s} of {n} run(s) (its self-check): its latencies include the generator's own delay; rerun with fewer VUs per generator or more shards"
            )
        })
        .collect::<Vec<_>>();
    warnings.extend(void.iter().cloned());
    let method_text = match method {
        Method::MannWhitneyU => {
            if nb.min(nc) < WARN_REPETITIONS {
                warnings.push(format!(
                    "{nb} + {nc} runs: a rank test on so few runs rarely finds anything; run at least {WARN_REPETITIONS} a side, 10 for small changes"
                ));
            }
            format!(
                "Mann-Whitney U (two-sided) on the per-run values, {nb} + {nc} runs; 95 % bootstrap CI of the change of the medians ({} resamples)",
                opts.resamples
            )
        }
        Method::BlockBootstrap => {
            warnings.push(if nb > 1 || nc > 1 {
                format!(
                    "{nb} + {nc} runs: fewer than {MIN_REPETITIONS} on a side, so each side's runs are pooled and judged by their own second-to-second variation, which misses run-to-run noise; run {MIN_REPETITIONS} or more a side for the rank test"
                )
            } else {
                "one run a side: the run-to-run noise is not measured, and two runs of one setup can differ by more than the effect floor; a finding says these two runs differ: confirm it with 3 or more runs a side (run --repeat) before calling it a regression".into()
            });
            format!(
                "moving-block bootstrap over the per-second histograms of the measured phase ({} + {} intervals, blocks of {} and {} s, {} resamples)",
                pair.base.len(),
                pair.cand.len(),
                sample::block_length(pair.base.len()),
                sample::block_length(pair.cand.len()),
                opts.resamples
            )
        }
    };
    let unstaged: Vec<&str> = [("base", base_runs), ("candidate", &cand_runs)]
        .into_iter()
        .filter(|(_, runs)| runs.iter().any(|m| m.unstaged))
        .map(|(side, _)| side)
        .collect();
    let method_text = match unstaged.as_slice() {
        [] => method_text,
        sides => format!("{method_text}; {} {}", sides.join(" and "), phase::UNSTAGED),
    };
    let metrics = metric_names(base_runs, &cand_runs);
    let mut pending: Vec<(usize, Pending)> = Vec::new();
    let mut metric_rows: Vec<MetricRows> = Vec::new();
    let seed = seed_of(base, cand);
    let replicates = match method {
        Method::BlockBootstrap => block_replicates(&pair, &metrics, opts.resamples, seed),
        Method::MannWhitneyU => BTreeMap::new(),
    };
    let mut dense = Vec::new();
    let mut outside = Vec::new();
    for (mi, metric) in metrics.iter().enumerate() {
        let whole_b = pair
            .base
            .figures(&pair.tables, metric, &pair.base.all(), &mut dense);
        let whole_c = pair
            .cand
            .figures(&pair.tables, metric, &pair.cand.all(), &mut dense);
        if whole_b.count == 0 && whole_c.count == 0 {
            outside.push(metric.clone());
            continue;
        }
        // Each side's first and second halves, for the drift yardstick.
        let halves = [&pair.base, &pair.cand].map(|pool| {
            let (first, second) = pool.halves();
            [first, second].map(|picks| pool.figures(&pair.tables, metric, &picks, &mut dense))
        });
        let at = metric_rows.len();
        metric_rows.push(MetricRows {
            metric: metric.clone(),
            base_count: whole_b.count,
            candidate_count: whole_c.count,
            rows: Vec::new(),
        });
        // Each run's figures, once per metric (the rank test's samples).
        let per_run = |pool: &Pool, dense: &mut Vec<u64>| -> Vec<Figures> {
            pool.runs
                .iter()
                .map(|r| {
                    let picks: Vec<usize> = r.clone().collect();
                    pool.figures(&pair.tables, metric, &picks, dense)
                })
                .collect()
        };
        let runs = match method {
            Method::MannWhitneyU => [
                per_run(&pair.base, &mut dense),
                per_run(&pair.cand, &mut dense),
            ],
            Method::BlockBootstrap => [Vec::new(), Vec::new()],
        };
        for stat in Stat::ALL {
            let p = match method {
                Method::MannWhitneyU => {
                    repetition_row(stat, &runs[0], &runs[1], opts, seed ^ mi as u64)
                }
                Method::BlockBootstrap => {
                    let reps = replicates.get(&(mi, stat)).map_or(&[][..], Vec::as_slice);
                    let drift = drift(stat, &halves[0], &halves[1]);
                    bootstrap_row(stat, (&whole_b, &whole_c), reps, drift, &pair, opts)
                }
            };
            let p = if void.is_empty() {
                p
            } else {
                decided(p.row, Verdict::Inconclusive, void.join("; "))
            };
            pending.push((at, p));
        }
    }
    let rows = finish(pending, method, opts);
    for (mi, row) in rows {
        metric_rows[mi].rows.push(row);
    }
    warnings.extend(one_way(&metric_rows));
    Column {
        candidate: summary_of(cand, &cand_runs),
        method,
        method_text,
        differences: fingerprint::differences(&base.runs, &cand.runs),
        warnings,
        metrics: metric_rows,
        outside_phase: outside,
        counters: counters(base, cand),
    }
}

/// Metrics either side measured, counters and the generator's own left out.
fn metric_names(base: &[Measured<'_>], cand: &[Measured<'_>]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for m in base.iter().chain(cand) {
        for (name, s) in &m.run.summary.metrics {
            if s.count > 0
                && !COUNTERS.contains(&name.as_str())
                && !name.starts_with("generator.")
                && name != names::ALL_OPERATIONS
            {
                out.insert(name.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// Counters summed over each side's runs.
fn counters(base: &Side, cand: &Side) -> Vec<CounterRow> {
    let sum = |side: &Side, name: &str| -> u64 {
        side.runs
            .iter()
            .map(|r| r.summary.counters.get(name).copied().unwrap_or(0))
            .sum()
    };
    COUNTERS
        .iter()
        .map(|&name| CounterRow {
            name: name.to_string(),
            base: sum(base, name),
            candidate: sum(cand, name),
        })
        .filter(|c| c.base > 0 || c.candidate > 0)
        .collect()
}

fn seed_of(base: &Side, cand: &Side) -> u64 {
    // FNV-1a over the run ids: the same runs resample the same way.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in base.runs.iter().chain(&cand.runs) {
        for b in r.summary.run.info.id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Every finding one way is what a biased setup looks like.
fn one_way(metrics: &[MetricRows]) -> Option<String> {
    let count = |v: Verdict| {
        metrics
            .iter()
            .flat_map(|m| &m.rows)
            .filter(|r| r.verdict == v)
            .count()
    };
    let (reg, imp) = (count(Verdict::Regressed), count(Verdict::Improved));
    let one_way = (reg >= ONE_WAY_WARNING && imp == 0) || (imp >= ONE_WAY_WARNING && reg == 0);
    one_way.then(|| {
        format!(
            "every finding points one way ({reg} regressed, {imp} improved): a real change can do that, but so does a biased setup (another load on the host, a cold cache on one side, runs not interleaved): check the differences above"
        )
    })
}
