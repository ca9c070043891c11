//! The decision: per metric and statistic, the values of both sides, the
//! change with its confidence interval and p, and the verdict with its
//! reason. Pure: runs in, a [`Comparison`] out, the same every time for
//! the same runs (the bootstrap's generator is seeded from the run ids).

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::phase::{self, MIN_INTERVALS};
use super::sample::{self, Figures, Pool, RawInterval, Tables};
use super::side::{Run, Side};
use super::stats::{self, holm, mann_whitney_p, median, min_attainable_p, percentile_sorted};
use super::{
    Column, CompareError, Comparison, CounterRow, ERROR_RATE_FLOOR_PP, Method, MetricRows, Options,
    Row, RunRef, SCHEMA, SideSummary, Stat, Verdict, fingerprint,
};
use crate::metrics::names::{self, COUNTERS};
use crate::results::NoteKind;

/// Fewest runs a side for the rank test.
const MIN_REPETITIONS: usize = 3;
/// Below this many runs a side the output warns.
const WARN_REPETITIONS: usize = 5;
/// Samples beyond a percentile a side needs before it is judged.
const TAIL_SAMPLES: f64 = 10.0;
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
    let (intervals, phase) = match &run.intervals {
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
            (intervals, p.text)
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
            )
        }
    };
    Measured {
        run,
        intervals,
        phase,
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
struct Pair {
    tables: Tables,
    base: Pool,
    cand: Pool,
}

impl Pair {
    fn new(base: &[Measured<'_>], cand: &[Measured<'_>]) -> Pair {
        let tables = Tables::of(base.iter().chain(cand).flat_map(|m| &m.intervals));
        let pool = |side: &[Measured<'_>]| {
            let runs: Vec<Vec<RawInterval<'_>>> = side
                .iter()
                .map(|m| {
                    m.intervals
                        .iter()
                        .map(|iv| RawInterval {
                            secs: iv.secs,
                            metrics: iv.metrics.clone(),
                        })
                        .collect()
                })
                .collect();
            Pool::new(&tables, &runs)
        };
        let (base, cand) = (pool(base), pool(cand));
        Pair { tables, base, cand }
    }
}

/// One row before Holm: the numbers, and the verdict when it is decided
/// without the test.
struct Pending {
    row: Row,
    /// Set when the row is decided before the test (inconclusive or
    /// within the floor).
    decided: bool,
    /// The test's verdict if significant and the CI is beyond the floor.
    finding: Option<Verdict>,
    /// Smallest p the method can give for this row (rank test sizes).
    attainable_p: f64,
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
    let mut warnings = Vec::new();
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
        for stat in Stat::ALL {
            let p = match method {
                Method::MannWhitneyU => {
                    let per_run = |pool: &Pool, dense: &mut Vec<u64>| -> Vec<Figures> {
                        pool.runs
                            .iter()
                            .map(|r| {
                                let picks: Vec<usize> = r.clone().collect();
                                pool.figures(&pair.tables, metric, &picks, dense)
                            })
                            .collect()
                    };
                    let b = per_run(&pair.base, &mut dense);
                    let c = per_run(&pair.cand, &mut dense);
                    repetition_row(stat, &b, &c, opts, seed ^ mi as u64)
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
        differences: fingerprint::differences(&base.runs[0], &cand.runs[0]),
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

/// The change from `b` to `c`: % for most, percentage points for errors.
fn change(stat: Stat, b: f64, c: f64) -> Option<f64> {
    match stat {
        Stat::ErrorRate => Some((c - b) * 100.0),
        _ if b > 0.0 => Some((c / b - 1.0) * 100.0),
        _ => None,
    }
}

/// The scale the bootstrap's standard error is taken on: log ratio (a
/// relative change is symmetric there) or the difference for errors.
fn test_scale(stat: Stat, b: f64, c: f64) -> Option<f64> {
    match stat {
        Stat::ErrorRate => Some(c - b),
        _ if b > 0.0 && c > 0.0 => Some((c / b).ln()),
        _ => None,
    }
}

/// Whether a change counts at all: beyond the % floor, the ms floor for
/// latency, the percentage-point floor for errors.
fn beyond_floor(stat: Stat, base: f64, change: f64, opts: &Options) -> bool {
    let floor = opts.min_effect;
    match stat {
        Stat::ErrorRate => change.abs() > ERROR_RATE_FLOOR_PP,
        Stat::Rate => change.abs() > floor.pct,
        _ => change.abs() > floor.pct && change.abs() / 100.0 * base > floor.ms,
    }
}

fn floor_text(stat: Stat, opts: &Options) -> String {
    match stat {
        Stat::ErrorRate => format!("{ERROR_RATE_FLOOR_PP} percentage points"),
        Stat::Rate => format!("{}%", opts.min_effect.pct),
        _ => format!("{}% and {} ms", opts.min_effect.pct, opts.min_effect.ms),
    }
}

/// Samples a side needs for `stat` to be judged, if it needs any.
fn samples_needed(stat: Stat) -> Option<u64> {
    stat.quantile()
        .map(|q| (TAIL_SAMPLES / (1.0 - q)).round() as u64)
}

fn blank(stat: Stat) -> Row {
    Row {
        stat,
        base: None,
        candidate: None,
        change: None,
        ci: None,
        p: None,
        p_holm: None,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
        drift: None,
    }
}

fn decided(mut row: Row, verdict: Verdict, reason: String) -> Pending {
    row.verdict = verdict;
    row.reason = reason;
    Pending {
        row,
        decided: true,
        finding: None,
        attainable_p: 0.0,
    }
}

/// What is judged before any test: data present, enough samples, a
/// change beyond the floor. `Err` = decided here.
fn screen(
    mut row: Row,
    stat: Stat,
    (b, c): (Option<f64>, Option<f64>),
    (ok_b, ok_c): (u64, u64),
    opts: &Options,
) -> Result<(Row, f64, f64, f64), Box<Pending>> {
    let stop = |row, verdict, reason: String| Err(Box::new(decided(row, verdict, reason)));
    row.base = b;
    row.candidate = c;
    let (b, c) = match (b, c) {
        (Some(b), Some(c)) => (b, c),
        (None, _) => return stop(row, Verdict::Inconclusive, "no data in the base".into()),
        (_, None) => {
            return stop(
                row,
                Verdict::Inconclusive,
                "no data in the candidate".into(),
            );
        }
    };
    if let Some(need) = samples_needed(stat)
        && ok_b.min(ok_c) < need
    {
        let reason = format!(
            "{} needs {need} successful samples a run to be judged: run longer or at a higher rate",
            stat.label()
        );
        return stop(row, Verdict::Inconclusive, reason);
    }
    let Some(delta) = change(stat, b, c) else {
        return stop(
            row,
            Verdict::Inconclusive,
            "the base is 0: no relative change".into(),
        );
    };
    row.change = Some(delta);
    if !beyond_floor(stat, b, delta, opts) {
        let reason = format!("within the effect floor ({})", floor_text(stat, opts));
        return stop(row, Verdict::Same, reason);
    }
    Ok((row, b, c, delta))
}

/// The finding a significant change beyond the floor makes.
fn direction(stat: Stat, delta: f64) -> Verdict {
    if (delta > 0.0) == stat.larger_is_worse() {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

/// The CI lies wholly beyond the floor, on the side of the change.
fn ci_beyond(stat: Stat, base: f64, delta: f64, ci: [f64; 2], opts: &Options) -> bool {
    ci.iter()
        .all(|&e| e.signum() == delta.signum() && beyond_floor(stat, base, e, opts))
}

fn interval(mut deltas: Vec<f64>) -> Option<[f64; 2]> {
    if deltas.is_empty() {
        return None;
    }
    deltas.sort_by(f64::total_cmp);
    Some([
        percentile_sorted(&deltas, 0.025),
        percentile_sorted(&deltas, 0.975),
    ])
}

fn repetition_row(stat: Stat, b: &[Figures], c: &[Figures], opts: &Options, seed: u64) -> Pending {
    let values = |f: &[Figures]| f.iter().filter_map(|f| f.stat(stat)).collect::<Vec<f64>>();
    let (bv, cv) = (values(b), values(c));
    let fewest_ok = |f: &[Figures]| f.iter().map(Figures::ok).min().unwrap_or(0);
    let screened = screen(
        blank(stat),
        stat,
        (median(&bv), median(&cv)),
        (fewest_ok(b), fewest_ok(c)),
        opts,
    );
    let (mut row, mb, _, delta) = match screened {
        Ok(s) => s,
        Err(p) => return *p,
    };
    row.p = mann_whitney_p(&bv, &cv);
    let mut rng = StdRng::seed_from_u64(seed ^ stat as u64);
    let deltas = (0..opts.resamples)
        .filter_map(|_| {
            let pick = |v: &[f64], rng: &mut StdRng| -> Vec<f64> {
                (0..v.len())
                    .map(|_| v[rand::RngExt::random_range(rng, 0..v.len())])
                    .collect()
            };
            let (rb, rc) = (pick(&bv, &mut rng), pick(&cv, &mut rng));
            change(stat, median(&rb)?, median(&rc)?)
        })
        .collect();
    row.ci = interval(deltas);
    let finding = row
        .ci
        .filter(|&ci| ci_beyond(stat, mb, delta, ci, opts))
        .map(|_| direction(stat, delta));
    Pending {
        row,
        decided: false,
        finding,
        attainable_p: min_attainable_p(bv.len(), cv.len()),
    }
}

/// Bootstrap replicates of every (metric, stat): (change, test-scale value).
type Replicates = BTreeMap<(usize, Stat), Vec<(f64, f64)>>;

fn block_replicates(pair: &Pair, metrics: &[String], resamples: usize, seed: u64) -> Replicates {
    let mut out: Replicates = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let (block_b, block_c) = (
        sample::block_length(pair.base.len()),
        sample::block_length(pair.cand.len()),
    );
    let (mut picks_b, mut picks_c, mut dense) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        sample::resample(&pair.base.runs, block_b, &mut rng, &mut picks_b);
        sample::resample(&pair.cand.runs, block_c, &mut rng, &mut picks_c);
        for (mi, metric) in metrics.iter().enumerate() {
            let fb = pair
                .base
                .figures(&pair.tables, metric, &picks_b, &mut dense);
            let fc = pair
                .cand
                .figures(&pair.tables, metric, &picks_c, &mut dense);
            for stat in Stat::ALL {
                let (Some(b), Some(c)) = (fb.stat(stat), fc.stat(stat)) else {
                    continue;
                };
                if let (Some(d), Some(t)) = (change(stat, b, c), test_scale(stat, b, c)) {
                    out.entry((mi, stat)).or_default().push((d, t));
                }
            }
        }
    }
    out
}

/// How far each side's statistic moved between the first and second half
/// of its own measured phase (the larger of the two sides, in the unit of
/// [`change`]). Two runs of one setup differ by about this much or less
/// when the machine's noise is steady; one run's bootstrap cannot see the
/// run-to-run noise, so a single-run finding must also clear this.
/// `None` when a half lacks the statistic: the noise is then unknown.
fn drift(stat: Stat, base: &[Figures; 2], cand: &[Figures; 2]) -> Option<f64> {
    let of = |h: &[Figures; 2]| change(stat, h[0].stat(stat)?, h[1].stat(stat)?).map(f64::abs);
    Some(of(base)?.max(of(cand)?))
}

fn bootstrap_row(
    stat: Stat,
    (b, c): (&Figures, &Figures),
    replicates: &[(f64, f64)],
    drift: Option<f64>,
    pair: &Pair,
    opts: &Options,
) -> Pending {
    let mut row = blank(stat);
    let fewest = pair.base.len().min(pair.cand.len());
    if fewest < MIN_INTERVALS {
        row.base = b.stat(stat);
        row.candidate = c.stat(stat);
        let reason = format!(
            "one run a side is judged by its per-second intervals: needs {MIN_INTERVALS} measured intervals a side (fewest: {fewest}); run longer, or give intervals.jsonl"
        );
        return decided(row, Verdict::Inconclusive, reason);
    }
    if stat == Stat::P999 {
        row.base = b.stat(stat);
        row.candidate = c.stat(stat);
        row.change = row
            .base
            .zip(row.candidate)
            .and_then(|(b, c)| change(stat, b, c));
        let reason = "p99.9 of one run is set by its rarest stalls, which differ from run to run (A/A runs on a quiet host disagree here most): judge it with 3 or more runs a side".into();
        return decided(row, Verdict::Inconclusive, reason);
    }
    let screened = screen(
        row,
        stat,
        (b.stat(stat), c.stat(stat)),
        (b.ok(), c.ok()),
        opts,
    );
    let (mut row, vb, vc, delta) = match screened {
        Ok(s) => s,
        Err(p) => return *p,
    };
    // p from the bootstrap standard error on the test scale.
    let scale: Vec<f64> = replicates.iter().map(|r| r.1).collect();
    let se = stats::std_dev(&scale);
    let point = test_scale(stat, vb, vc).unwrap_or(0.0);
    row.p = Some(if se > 0.0 {
        stats::normal_two_sided(point / se)
    } else if point == 0.0 {
        1.0
    } else {
        0.0
    });
    row.ci = interval(replicates.iter().map(|r| r.0).collect());
    row.drift = drift;
    let beyond_drift = |ci: [f64; 2]| drift.is_some_and(|d| ci.iter().all(|e| e.abs() > d));
    let finding = row
        .ci
        .filter(|&ci| ci_beyond(stat, vb, delta, ci, opts) && beyond_drift(ci))
        .map(|_| direction(stat, delta));
    Pending {
        row,
        decided: false,
        finding,
        attainable_p: 0.0,
    }
}

/// Holm over the tested rows of a column, then each row's verdict.
fn finish(pending: Vec<(usize, Pending)>, method: Method, opts: &Options) -> Vec<(usize, Row)> {
    let tested: Vec<usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.row.p.is_some())
        .map(|(i, _)| i)
        .collect();
    let m = tested.len();
    let raw: Vec<f64> = tested
        .iter()
        .map(|&i| pending[i].1.row.p.unwrap_or(1.0))
        .collect();
    let adjusted = holm(&raw);
    let mut holm_of = vec![None; pending.len()];
    for (k, &i) in tested.iter().enumerate() {
        holm_of[i] = Some(adjusted[k]);
    }
    let first_threshold = opts.alpha / m.max(1) as f64;
    pending
        .into_iter()
        .zip(holm_of)
        .map(|((mi, p), p_holm)| {
            let mut row = p.row;
            row.p_holm = p_holm;
            if p.decided {
                return (mi, row);
            }
            let ph = p_holm.unwrap_or(1.0);
            (row.verdict, row.reason) = if method == Method::MannWhitneyU
                && p.attainable_p >= first_threshold
            {
                let need = stats::repetitions_needed(first_threshold)
                    .map_or("more than 100".to_string(), |n| n.to_string());
                (
                    Verdict::Inconclusive,
                    format!(
                        "a rank test on these runs gives at best p={:.3}, and a finding among {m} comparisons (Holm) needs p<{:.4}: run {need} or more a side",
                        p.attainable_p, first_threshold
                    ),
                )
            } else if ph < opts.alpha {
                match p.finding {
                    Some(v) => (
                        v,
                        format!("{} (Holm), 95 % CI wholly beyond the floor", fmt_p(ph)),
                    ),
                    None => match row.drift {
                        None if method == Method::BlockBootstrap => (
                            Verdict::Same,
                            format!(
                                "{} (Holm), but not measured in both halves of each run, so the runs' own noise is unknown",
                                fmt_p(ph)
                            ),
                        ),
                        Some(d) if row.ci.is_some_and(|ci| ci.iter().any(|e| e.abs() <= d)) => (
                            Verdict::Same,
                            format!(
                                "{} (Holm), but within the runs' own drift (first vs second half: {d:.1}{})",
                                fmt_p(ph),
                                if row.stat == Stat::ErrorRate { " pp" } else { "%" }
                            ),
                        ),
                        _ => (
                            Verdict::Same,
                            format!("{} (Holm), but the 95 % CI reaches into the floor", fmt_p(ph)),
                        ),
                    },
                }
            } else {
                (
                    Verdict::Same,
                    format!("not significant ({} after Holm over {m})", fmt_p(ph)),
                )
            };
            (mi, row)
        })
        .collect()
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "p<0.001".into()
    } else {
        format!("p={p:.3}")
    }
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
