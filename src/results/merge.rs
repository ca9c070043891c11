//! Merging runs into one: the shards of a sharded test (`--shard I/N`),
//! each read by [`super::load_run`]. Pure: no files are read or written
//! here.
//!
//! - Histograms add exactly; counts and counters are summed; gauges
//!   combine as [`combine_gauge`] says.
//! - Interval lines are put on one time line by their start: a line goes
//!   to second `round((start_unix_ms - t0) / 1000)` after the earliest
//!   line's start `t0`, and the lines of one second are added.
//! - Rates are over the merged wall-clock span: from the earliest part's
//!   start to the latest part's end of measuring. For shards started
//!   together that is each shard's own time; shards that ran apart lower
//!   the rate instead of inflating it (a sum of the parts' rates would
//!   count their load as simultaneous).
//! - Thresholds are evaluated again on the merged totals (the limits kept
//!   in the parts' results): a sharded test passes or fails as a whole.
//! - `shards` lists every part's shards (a merge contributes its own).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::info::{LoadSpec, RunInfo, ShardInfo, ShardTiming, TargetInfo, Tool};
use super::intervals::IntervalRecord;
use super::load::Loaded;
use super::notes::{Note, NoteKind};
use super::summary::{Summary, SummaryParts};
use super::thresholds::{Stat, reevaluate};
use super::totals::{Totals, add_counts, combine_gauge};
use crate::metrics::Interval;

/// Shards started with `--start-at` whose starts differ by more than this
/// did not start together.
pub const START_SKEW_MS: u64 = 100;
/// Slack on top of two clock offsets' uncertainties (rounding, drift).
pub const CLOCK_SLACK_MS: f64 = 5.0;

/// Why runs cannot be merged, each naming the files.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: no runs given")]
    NoRuns,
    #[error(
        "{a} and {b} ran different scenarios (scenario_sha256 {sha_a} vs {sha_b}); give --force to merge them anyway",
        a = .a.display(), b = .b.display()
    )]
    DifferentScenario {
        a: PathBuf,
        b: PathBuf,
        sha_a: String,
        sha_b: String,
    },
    #[error(
        "{a} and {b} ran with different seeds ({seed_a} vs {seed_b}); give the scenario a `seed:` so shards share it, or give --force",
        a = .a.display(), b = .b.display()
    )]
    DifferentSeed {
        a: PathBuf,
        b: PathBuf,
        seed_a: u64,
        seed_b: u64,
    },
    #[error(
        "{a} and {b} both hold run {run_id}: a run can be merged only once",
        a = .a.display(), b = .b.display()
    )]
    SameRun {
        a: PathBuf,
        b: PathBuf,
        run_id: String,
    },
    #[error(
        "{a} and {b} are both shard {index}: each shard can be merged only once",
        a = .a.display(), b = .b.display()
    )]
    DuplicateShard { a: PathBuf, b: PathBuf, index: u32 },
}

/// Something a reader of the merge must know; printed and kept as a note.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeWarning {
    /// Shards told to `--start-at` the same time started this far apart.
    StartSkew { a: PathBuf, b: PathBuf, ms: u64 },
    /// Two shards' clocks disagree beyond what their estimates allow.
    ClockSkew {
        a: PathBuf,
        b: PathBuf,
        diff_ms: f64,
        tolerance_ms: f64,
    },
    /// A part without interval lines: the merged lines lack its share.
    NoIntervals { path: PathBuf },
    /// Shards of `count` not among the parts (or shards of several counts).
    MissingShards { count: u32, missing: Vec<u32> },
}

impl fmt::Display for MergeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeWarning::StartSkew { a, b, ms } => write!(
                f,
                "{} and {} were started with --start-at but started {ms} ms apart (over {START_SKEW_MS} ms): their seconds do not line up; check the hosts' clocks (NTP)",
                a.display(),
                b.display()
            ),
            MergeWarning::ClockSkew {
                a,
                b,
                diff_ms,
                tolerance_ms,
            } => write!(
                f,
                "the clocks of {} and {} differ by {diff_ms:.0} ms against the target (more than their estimates' {tolerance_ms:.0} ms): start times and message.e2e across them are off by about that; check the hosts' clocks (NTP)",
                a.display(),
                b.display()
            ),
            MergeWarning::MissingShards { count, missing } => {
                let missing: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
                write!(
                    f,
                    "shard(s) {} are not among the runs merged: the merge covers part of the load only",
                    missing.join(", ")
                )
            }
            MergeWarning::NoIntervals { path } => write!(
                f,
                "{}: no intervals.jsonl beside it: the merged interval lines lack its share (the totals are whole)",
                path.display()
            ),
        }
    }
}

/// The merged run.
#[derive(Debug)]
pub struct Merged {
    pub summary: Summary,
    pub intervals: Vec<IntervalRecord>,
    pub warnings: Vec<MergeWarning>,
}

/// Merges `parts` (in the order given; the first one's scenario, host and
/// target stand for the merge). `force` merges different scenarios or
/// seeds; `command` is kept as the merged run's command line.
pub fn merge(parts: &[Loaded], force: bool, command: Vec<String>) -> Result<Merged, MergeError> {
    let first = parts.first().ok_or(MergeError::NoRuns)?;
    if !force {
        check_same_test(parts)?;
    }
    let shards = shards_of(parts)?;
    let mut warnings = timing_warnings(&shards);
    warnings.extend(missing_shards(&shards));
    warnings.extend(parts.iter().filter(|p| p.intervals.is_none()).map(|p| {
        MergeWarning::NoIntervals {
            path: p.source.clone(),
        }
    }));

    let started_unix_ms = parts
        .iter()
        .map(|p| p.summary.run.info.started_unix_ms)
        .min()
        .unwrap_or(0);
    let measured_end_ms = parts
        .iter()
        .map(|p| {
            let run = &p.summary.run;
            run.info
                .started_unix_ms
                .saturating_add(secs_to_ms(run.duration_s))
        })
        .max()
        .unwrap_or(started_unix_ms);
    let ended_unix_ms = parts
        .iter()
        .map(|p| p.summary.run.ended_unix_ms)
        .max()
        .unwrap_or(measured_end_ms);
    let runs: Vec<&[IntervalRecord]> = parts
        .iter()
        .filter_map(|p| p.intervals.as_deref())
        .collect();
    let intervals = align_intervals(&runs, started_unix_ms);

    let mut totals = Totals::default();
    for p in parts {
        totals.merge(&p.summary.totals());
    }
    totals.elapsed = Duration::from_millis(measured_end_ms.saturating_sub(started_unix_ms));
    totals.intervals = intervals.len() as u64;

    let specs = threshold_specs(parts);
    let thresholds = reevaluate(specs.iter().map(|(m, s, l)| (m.as_str(), *s, *l)), &totals);

    let info = RunInfo {
        id: merged_id(&shards),
        started_unix_ms,
        load: combined_load(parts),
        command,
        shard: None,
        timing: ShardTiming::default(),
        ..first.summary.run.info.clone()
    };
    let mut summary = Summary::build(
        SummaryParts {
            info,
            tool: Tool::current(),
            host: first.summary.host.clone(),
            target: combined_target(parts),
            thresholds,
            notes: notes(parts, &shards, &warnings),
            ended_unix_ms,
        },
        &totals,
    );
    summary.shards = shards.into_iter().map(|(_, s)| s).collect();
    Ok(Merged {
        summary,
        intervals,
        warnings,
    })
}

/// Every part against the first: the same scenario file and seed.
fn check_same_test(parts: &[Loaded]) -> Result<(), MergeError> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    let a = &first.summary.run.info;
    for p in rest {
        let b = &p.summary.run.info;
        let known = !a.scenario_sha256.is_empty() && !b.scenario_sha256.is_empty();
        if known && a.scenario_sha256 != b.scenario_sha256 {
            return Err(MergeError::DifferentScenario {
                a: first.source.clone(),
                b: p.source.clone(),
                sha_a: a.scenario_sha256.clone(),
                sha_b: b.scenario_sha256.clone(),
            });
        }
        if a.seed != b.seed {
            return Err(MergeError::DifferentSeed {
                a: first.source.clone(),
                b: p.source.clone(),
                seed_a: a.seed,
                seed_b: b.seed,
            });
        }
    }
    Ok(())
}

/// Every part's shards, each with the file it came from; a run or a shard
/// index met twice is refused.
fn shards_of(parts: &[Loaded]) -> Result<Vec<(&Path, ShardInfo)>, MergeError> {
    let mut runs: BTreeMap<&str, &Path> = BTreeMap::new();
    let mut indices: BTreeMap<u32, &Path> = BTreeMap::new();
    let mut out = Vec::new();
    for p in parts {
        for s in &p.summary.shards {
            if let Some(a) = runs.insert(&s.run_id, &p.source) {
                return Err(MergeError::SameRun {
                    a: a.to_path_buf(),
                    b: p.source.clone(),
                    run_id: s.run_id.clone(),
                });
            }
            if let Some(r) = s.shard
                && let Some(a) = indices.insert(r.index, &p.source)
            {
                return Err(MergeError::DuplicateShard {
                    a: a.to_path_buf(),
                    b: p.source.clone(),
                    index: r.index,
                });
            }
            out.push((p.source.as_path(), s.clone()));
        }
    }
    Ok(out)
}

/// Start skew among the shards started with `--start-at`, and the worst
/// disagreement of their clock offsets.
fn timing_warnings(shards: &[(&Path, ShardInfo)]) -> Vec<MergeWarning> {
    let mut out = Vec::new();
    let aligned: Vec<&(&Path, ShardInfo)> = shards
        .iter()
        .filter(|(_, s)| s.timing.start_at_unix_ms.is_some())
        .collect();
    let earliest = aligned.iter().min_by_key(|(_, s)| s.started_unix_ms);
    let latest = aligned.iter().max_by_key(|(_, s)| s.started_unix_ms);
    if let (Some((a, first)), Some((b, last))) = (earliest, latest) {
        let ms = last.started_unix_ms - first.started_unix_ms;
        if ms > START_SKEW_MS {
            out.push(MergeWarning::StartSkew {
                a: a.to_path_buf(),
                b: b.to_path_buf(),
                ms,
            });
        }
    }
    let clocks: Vec<(&Path, (f64, f64))> = shards
        .iter()
        .filter_map(|(p, s)| Some((*p, s.timing.clock_offset()?)))
        .collect();
    let worst = clocks
        .iter()
        .enumerate()
        .flat_map(|(i, a)| clocks[i + 1..].iter().map(move |b| (a, b)))
        .map(|((a, (oa, ua)), (b, (ob, ub)))| {
            let diff_ms = (oa - ob).abs();
            let tolerance_ms = ua + ub + CLOCK_SLACK_MS;
            (diff_ms - tolerance_ms, a, b, diff_ms, tolerance_ms)
        })
        .filter(|w| w.0 > 0.0)
        .max_by(|x, y| x.0.total_cmp(&y.0));
    if let Some((_, a, b, diff_ms, tolerance_ms)) = worst {
        out.push(MergeWarning::ClockSkew {
            a: a.to_path_buf(),
            b: b.to_path_buf(),
            diff_ms,
            tolerance_ms,
        });
    }
    out
}

/// The shards `I/N` missing for the largest `N` met (a part of another
/// count shows as the shards of that `N` it does not fill).
fn missing_shards(shards: &[(&Path, ShardInfo)]) -> Option<MergeWarning> {
    let count = shards
        .iter()
        .filter_map(|(_, s)| s.shard)
        .map(|r| r.count)
        .max()?;
    let present: BTreeSet<u32> = shards
        .iter()
        .filter_map(|(_, s)| s.shard.filter(|r| r.count == count))
        .map(|r| r.index)
        .collect();
    let missing: Vec<u32> = (1..=count).filter(|i| !present.contains(i)).collect();
    (!missing.is_empty()).then_some(MergeWarning::MissingShards { count, missing })
}

/// Interval lines of several runs on one time line: each line goes to the
/// second `round((start_unix_ms - t0) / 1000)` after the earliest line's
/// start `t0`; the lines of one second are added into one (histograms
/// exactly, counters summed, gauges by [`combine_gauge`]) that starts at
/// the earliest of them, lasts as long as the longest and ends, in
/// `elapsed_s`, where the last of them ends after `run_start_unix_ms`.
pub fn align_intervals(runs: &[&[IntervalRecord]], run_start_unix_ms: u64) -> Vec<IntervalRecord> {
    let Some(t0) = runs
        .iter()
        .flat_map(|r| r.iter())
        .map(|l| l.start_unix_ms)
        .min()
    else {
        return Vec::new();
    };
    let mut seconds: BTreeMap<u64, Vec<&IntervalRecord>> = BTreeMap::new();
    for line in runs.iter().flat_map(|r| r.iter()) {
        let second = ((line.start_unix_ms - t0) as f64 / 1000.0).round() as u64;
        seconds.entry(second).or_default().push(line);
    }
    seconds
        .into_values()
        .map(|lines| add_lines(&lines, run_start_unix_ms))
        .collect()
}

/// The lines of one second as one.
fn add_lines(lines: &[&IntervalRecord], run_start_unix_ms: u64) -> IntervalRecord {
    let start_unix_ms = lines.iter().map(|l| l.start_unix_ms).min().unwrap_or(0);
    let duration_s = lines.iter().map(|l| l.duration_s).fold(0.0, f64::max);
    let end_ms = lines
        .iter()
        .map(|l| l.start_unix_ms.saturating_add(secs_to_ms(l.duration_s)))
        .max()
        .unwrap_or(start_unix_ms);
    let mut sum = Interval {
        start_unix_ms,
        elapsed: Duration::from_millis(end_ms.saturating_sub(run_start_unix_ms)),
        duration: Duration::from_secs_f64(duration_s.max(0.0)),
        metrics: BTreeMap::new(),
        counters: BTreeMap::new(),
        gauges: BTreeMap::new(),
    };
    for line in lines {
        let iv = line.to_interval();
        add_counts(
            (&mut sum.metrics, &mut sum.counters),
            (&iv.metrics, &iv.counters),
        );
        for (name, &v) in &iv.gauges {
            sum.gauges
                .entry(name.clone())
                .and_modify(|g| *g = combine_gauge(name, *g, v))
                .or_insert(v);
        }
    }
    let stage = lines.iter().find_map(|l| l.stage.as_deref());
    IntervalRecord::of(&sum, stage)
}

/// Every limit the parts were held to, once each, in the order met.
fn threshold_specs(parts: &[Loaded]) -> Vec<(String, Stat, f64)> {
    let mut seen = BTreeSet::new();
    parts
        .iter()
        .flat_map(|p| &p.summary.thresholds)
        .filter(|t| seen.insert((t.metric.clone(), t.stat, t.limit.to_bits())))
        .map(|t| (t.metric.clone(), t.stat, t.limit))
        .collect()
}

/// The load of the whole test: the shards' levels added stage by stage
/// when their stages have the same shape (as `--shard` splits them), else
/// the first part's.
fn combined_load(parts: &[Loaded]) -> LoadSpec {
    let loads: Vec<&LoadSpec> = parts.iter().map(|p| &p.summary.run.info.load).collect();
    let mut out = loads[0].clone();
    let same_shape = loads.iter().all(|l| {
        l.model == out.model
            && l.stages.len() == out.stages.len()
            && l.stages
                .iter()
                .zip(&out.stages)
                .all(|(a, b)| a.duration_s == b.duration_s)
    });
    if !same_shape {
        return out;
    }
    for l in &loads[1..] {
        out.start += l.start;
        for (mine, theirs) in out.stages.iter_mut().zip(&l.stages) {
            mine.target += theirs.target;
        }
        out.max_vus = match (out.max_vus, l.max_vus) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }
    out
}

/// The first part's target, with the URLs of every part.
fn combined_target(parts: &[Loaded]) -> TargetInfo {
    let mut target = parts[0].summary.target.clone();
    for url in parts[1..].iter().flat_map(|p| &p.summary.target.urls) {
        if !target.urls.contains(url) {
            target.urls.push(url.clone());
        }
    }
    target
}

/// What was merged, which parts were partial, the warnings, then each
/// part's own notes under its name.
fn notes(parts: &[Loaded], shards: &[(&Path, ShardInfo)], warnings: &[MergeWarning]) -> Vec<Note> {
    let listing: Vec<String> = shards
        .iter()
        .map(|(path, s)| {
            let shard = s.shard.map_or_else(
                || "unsharded".to_string(),
                |r| format!("shard {}/{}", r.index, r.count),
            );
            format!(
                "{} ({shard}, run {}, host {})",
                path.display(),
                s.run_id,
                s.hostname
            )
        })
        .collect();
    let mut notes = vec![Note::new(
        NoteKind::Merged {
            parts: parts.len() as u64,
        },
        format!(
            "merged {} run(s), {} shard(s): {}",
            parts.len(),
            shards.len(),
            listing.join(", ")
        ),
    )];
    let partial: Vec<String> = parts
        .iter()
        .filter(|p| p.summary.is_partial())
        .map(|p| p.source.display().to_string())
        .collect();
    if !partial.is_empty() {
        notes.push(Note::new(
            NoteKind::Partial,
            format!(
                "partial: {} did not finish (no summary.json): their totals come from their interval lines (no service-time histograms), and their thresholds were not known",
                partial.join(", ")
            ),
        ));
    }
    notes.extend(
        warnings
            .iter()
            .map(|w| Note::new(NoteKind::MergeWarning, w.to_string())),
    );
    for p in parts {
        let own = p
            .summary
            .notes
            .iter()
            .filter(|n| !matches!(n.kind, NoteKind::Partial | NoteKind::Merged { .. }));
        notes.extend(own.map(|n| {
            Note::new(
                n.kind.clone(),
                format!("{}: {}", p.source.display(), n.text),
            )
        }));
    }
    notes
}

/// The same shards give the same id.
fn merged_id(shards: &[(&Path, ShardInfo)]) -> String {
    let ids: BTreeSet<&str> = shards.iter().map(|(_, s)| s.run_id.as_str()).collect();
    let mut hash = Sha256::new();
    for id in ids {
        hash.update(id.as_bytes());
        hash.update(b"\n");
    }
    let digest = hash.finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn secs_to_ms(s: f64) -> u64 {
    (s.max(0.0) * 1000.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::new_histogram;
    use crate::results::IntervalMetricRecord;

    fn line(start_unix_ms: u64, latencies_us: &[u64], vus: i64) -> IntervalRecord {
        let mut h = new_histogram();
        for &v in latencies_us {
            h.record(v).unwrap();
        }
        IntervalRecord {
            elapsed_s: 0.0,
            start_unix_ms,
            duration_s: 1.0,
            stage: Some("stage 1/1".into()),
            metrics: BTreeMap::from([(
                "rest.info".to_string(),
                IntervalMetricRecord {
                    count: latencies_us.len() as u64,
                    errors: 0,
                    errors_by_class: BTreeMap::new(),
                    rate: 0.0,
                    p50_ms: None,
                    p90_ms: None,
                    p95_ms: None,
                    p99_ms: None,
                    max_ms: None,
                    histogram: h,
                },
            )]),
            counters: BTreeMap::from([("iterations".to_string(), latencies_us.len() as u64)]),
            gauges: BTreeMap::from([
                ("vus.active".to_string(), vus),
                ("generator.cpu_pct".to_string(), vus * 10),
            ]),
            target: Default::default(),
        }
    }

    #[test]
    fn lines_are_grouped_by_their_second_from_the_earliest_start() {
        let t0 = 1_700_000_000_000;
        // Shard a starts at t0, shard b 400 ms later (rounds to the same
        // seconds), shard c 600 ms later (rounds to the next).
        let a = [line(t0, &[1000], 1), line(t0 + 1000, &[2000], 1)];
        let b = [
            line(t0 + 400, &[3000, 4000], 2),
            line(t0 + 1400, &[5000], 2),
        ];
        let c = [line(t0 + 600, &[6000], 3)];
        let merged = align_intervals(&[&a, &b, &c], t0 - 50);
        assert_eq!(merged.len(), 2);
        let (first, second) = (&merged[0], &merged[1]);
        assert_eq!(first.start_unix_ms, t0);
        assert_eq!(second.start_unix_ms, t0 + 600);
        let counts: Vec<u64> = merged
            .iter()
            .map(|l| l.metrics["rest.info"].count)
            .collect();
        assert_eq!(counts, [3, 3]);
        assert_eq!(first.counters["iterations"], 3);
        // Levels add, per-generator figures take the busiest.
        assert_eq!(first.gauges["vus.active"], 3);
        assert_eq!(second.gauges["vus.active"], 6);
        assert_eq!(second.gauges["generator.cpu_pct"], 30);
        // The histograms are the exact sum.
        let h = &second.metrics["rest.info"].histogram;
        assert_eq!(h.len(), 3);
        assert_eq!(h.max(), h.highest_equivalent(6000));
        // elapsed_s: where the last line of the second ends, from the run start.
        assert_eq!(first.elapsed_s, 1.45);
        assert_eq!(second.elapsed_s, 2.45);
    }

    fn shard(run_id: &str, started_unix_ms: u64, timing: ShardTiming) -> ShardInfo {
        ShardInfo {
            run_id: run_id.into(),
            shard: None,
            hostname: "h".into(),
            started_unix_ms,
            ended_unix_ms: started_unix_ms + 1000,
            timing,
        }
    }

    #[test]
    fn shards_started_or_clocked_apart_are_warned_about() {
        let at = ShardTiming {
            start_at_unix_ms: Some(1_000),
            ..ShardTiming::default()
        };
        let clock = |offset, uncertainty| ShardTiming {
            clock_offset_ms: Some(offset),
            clock_offset_uncertainty_ms: Some(uncertainty),
            ..at
        };
        let (a, b, c) = (Path::new("a"), Path::new("b"), Path::new("c"));
        // Within 100 ms and within the clocks' uncertainties: nothing.
        let fine = [
            (a, shard("1", 1_000, clock(10.0, 50.0))),
            (b, shard("2", 1_100, clock(-80.0, 50.0))),
            (c, shard("3", 5_000, ShardTiming::default())),
        ];
        assert_eq!(timing_warnings(&fine), []);
        let apart = [
            (a, shard("1", 1_000, clock(10.0, 50.0))),
            (b, shard("2", 1_101, clock(-100.0, 50.0))),
        ];
        assert_eq!(
            timing_warnings(&apart),
            [
                MergeWarning::StartSkew {
                    a: a.into(),
                    b: b.into(),
                    ms: 101
                },
                MergeWarning::ClockSkew {
                    a: a.into(),
                    b: b.into(),
                    diff_ms: 110.0,
                    tolerance_ms: 105.0
                }
            ]
        );
    }

    #[test]
    fn no_lines_no_intervals() {
        assert!(align_intervals(&[&[], &[]], 0).is_empty());
    }

    #[test]
    fn gauges_combine_by_kind() {
        assert_eq!(combine_gauge("vus.active", 3, 4), 7);
        assert_eq!(combine_gauge("generator.cpu_pct", 30, 80), 80);
    }
}
