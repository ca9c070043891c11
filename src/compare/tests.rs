//! Synthetic runs with known answers: no difference, a 20 % shift, one
//! outlier repetition, too few samples or repetitions, a saturated side,
//! the gate, and the refusals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::gate::{Gate, parse_gate};
use super::*;
use crate::results::{
    Host, IntervalMetricRecord, IntervalRecord, LoadSpec, Note, NoteKind, RunInfo, StageSpec,
    Summary, SummaryParts, TargetInfo, Tool, totals_of,
};

const METRIC: &str = "rest.chat.postMessage";

/// A run's shape: its latency scale and how many samples a second.
#[derive(Clone, Copy)]
struct Shape {
    scale_ms: f64,
    per_second: usize,
    seconds: usize,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            scale_ms: 10.0,
            per_second: 500,
            seconds: 30,
        }
    }
}

/// Roughly normal (Irwin-Hall with 12 terms).
fn normal(rng: &mut StdRng) -> f64 {
    (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0
}

fn run(id: &str, scenario_sha: &str, shape: Shape, seed: u64) -> Run {
    run_of(id, scenario_sha, &[(METRIC, shape)], seed)
}

/// A run measuring each of `metrics` with its own shape (the seconds of
/// the first).
fn run_of(id: &str, scenario_sha: &str, metrics: &[(&str, Shape)], seed: u64) -> Run {
    let shape = metrics[0].1;
    let mut rng = StdRng::seed_from_u64(seed);
    let records: Vec<IntervalRecord> = (0..shape.seconds)
        .map(|i| {
            let mut one = |shape: Shape| {
                // Each second drifts a little, as a real server's do.
                let second = shape.scale_ms * (0.03 * normal(&mut rng)).exp();
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                for _ in 0..shape.per_second {
                    let ms = second * (0.4 * normal(&mut rng)).exp();
                    h.record((ms * 1000.0).max(1.0) as u64).unwrap();
                }
                IntervalMetricRecord {
                    count: shape.per_second as u64,
                    errors: 0,
                    errors_by_class: BTreeMap::new(),
                    rate: shape.per_second as f64,
                    p50_ms: None,
                    p90_ms: None,
                    p95_ms: None,
                    p99_ms: None,
                    max_ms: None,
                    histogram: h,
                }
            };
            let metrics = metrics
                .iter()
                .map(|&(name, shape)| (name.to_string(), one(shape)))
                .collect();
            IntervalRecord {
                elapsed_s: (i + 1) as f64,
                start_unix_ms: 1_000 * i as u64,
                duration_s: 1.0,
                stage: None,
                metrics,
                counters: BTreeMap::new(),
                gauges: BTreeMap::new(),
                target: Default::default(),
            }
        })
        .collect();
    let info = RunInfo {
        id: id.into(),
        scenario: "synthetic".into(),
        scenario_path: "synthetic.yaml".into(),
        scenario_sha256: scenario_sha.into(),
        started_unix_ms: 0,
        seed: 7,
        load: LoadSpec {
            model: crate::scenario::Model::Closed,
            unit: "vus".into(),
            start: 10.0,
            stages: vec![StageSpec {
                duration_s: shape.seconds as f64,
                target: 10.0,
            }],
            max_vus: None,
            graceful_stop_s: 0.0,
        },
        command: vec![],
        shard: None,
        repeat: None,
        timing: Default::default(),
    };
    let summary = Summary::build(
        SummaryParts {
            info,
            tool: Tool::current(),
            host: Host::default(),
            target: TargetInfo::default(),
            thresholds: vec![],
            notes: vec![],
            ended_unix_ms: 0,
        },
        &totals_of(&records),
    );
    Run {
        path: PathBuf::from(id),
        summary,
        intervals: Some(records),
    }
}

fn side(label: &str, runs: Vec<Run>) -> Side {
    Side {
        label: PathBuf::from(label),
        runs,
    }
}

/// `n` runs of one shape, seeds from `seed`.
fn reps(prefix: &str, n: usize, shape: Shape, seed: u64) -> Side {
    side(
        prefix,
        (0..n)
            .map(|i| run(&format!("{prefix}{i}"), "ab", shape, seed + i as u64))
            .collect(),
    )
}

fn verdicts(cmp: &Comparison) -> BTreeMap<Stat, Verdict> {
    cmp.columns[0].metrics[0]
        .rows
        .iter()
        .map(|r| (r.stat, r.verdict))
        .collect()
}

fn findings(cmp: &Comparison) -> usize {
    cmp.columns
        .iter()
        .flat_map(|c| &c.metrics)
        .flat_map(|m| &m.rows)
        .filter(|r| matches!(r.verdict, Verdict::Regressed | Verdict::Improved))
        .count()
}

fn shifted(factor: f64) -> Shape {
    Shape {
        scale_ms: 10.0 * factor,
        ..Shape::default()
    }
}

#[test]
fn one_run_a_side_without_a_difference_finds_nothing() {
    for seed in 0..5 {
        let a = reps("a", 1, Shape::default(), 100 + seed);
        let b = reps("b", 1, Shape::default(), 200 + seed);
        let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
        assert_eq!(cmp.columns[0].method, Method::BlockBootstrap);
        assert_eq!(
            findings(&cmp),
            0,
            "seed {seed}: {:#?}",
            cmp.columns[0].metrics
        );
    }
}

#[test]
fn one_run_a_side_finds_a_20_percent_shift() {
    let a = reps("a", 1, Shape::default(), 1);
    let b = reps("b", 1, shifted(1.2), 2);
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let v = verdicts(&cmp);
    for stat in [Stat::P50, Stat::P95, Stat::P99] {
        assert_eq!(
            v[&stat],
            Verdict::Regressed,
            "{stat:?}: {:#?}",
            cmp.columns[0]
        );
    }
    assert_eq!(v[&Stat::Rate], Verdict::Same);
    let row = &cmp.columns[0].metrics[0].rows[1];
    let [lo, hi] = row.ci.unwrap();
    assert!(
        lo < 20.0 + 8.0 && hi > 20.0 - 8.0,
        "CI {lo}..{hi} should hold 20%"
    );
    // 20 % faster is an improvement, not a regression.
    let c = reps("c", 1, shifted(0.8), 3);
    let cmp = compare(&a, &[c], &Options::default(), false).unwrap();
    assert_eq!(verdicts(&cmp)[&Stat::P50], Verdict::Improved);
}

#[test]
fn repetitions_use_the_rank_test() {
    let opts = Options::default();
    let a = reps("a", 10, Shape::default(), 10);
    let same = reps("s", 10, Shape::default(), 30);
    let cmp = compare(&a, &[same], &opts, false).unwrap();
    assert_eq!(cmp.columns[0].method, Method::MannWhitneyU);
    assert_eq!(findings(&cmp), 0, "{:#?}", cmp.columns[0].metrics);
    let slow = reps("r", 10, shifted(1.2), 50);
    let cmp = compare(&a, &[slow], &opts, false).unwrap();
    let v = verdicts(&cmp);
    assert_eq!(
        v[&Stat::P50],
        Verdict::Regressed,
        "{:#?}",
        cmp.columns[0].metrics
    );
    assert_eq!(v[&Stat::P99], Verdict::Regressed);
    let p50 = &cmp.columns[0].metrics[0].rows[1];
    assert!(p50.p.unwrap() < 1e-3, "{:?}", p50.p);
}

#[test]
fn one_outlier_repetition_is_not_a_regression() {
    let a = reps("a", 10, Shape::default(), 10);
    let mut b = reps("b", 9, Shape::default(), 70);
    b.runs.push(run("b-outlier", "ab", shifted(3.0), 99));
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    assert_eq!(findings(&cmp), 0, "{:#?}", cmp.columns[0].metrics);
}

#[test]
fn too_few_repetitions_are_inconclusive_and_say_how_many_would_do() {
    let a = reps("a", 3, Shape::default(), 10);
    let b = reps("b", 3, shifted(1.5), 40);
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let col = &cmp.columns[0];
    assert!(
        col.warnings.iter().any(|w| w.contains("3 + 3 runs")),
        "{:?}",
        col.warnings
    );
    let p50 = &col.metrics[0].rows[1];
    assert_eq!(p50.verdict, Verdict::Inconclusive);
    assert!(p50.reason.contains("at best p=0.100"), "{}", p50.reason);
    assert!(p50.reason.contains("or more a side"), "{}", p50.reason);
}

#[test]
fn too_few_samples_are_inconclusive() {
    let small = Shape {
        per_second: 20,
        seconds: 10,
        ..Shape::default()
    };
    let a = reps("a", 1, small, 1);
    let b = reps(
        "b",
        1,
        Shape {
            scale_ms: 20.0,
            ..small
        },
        2,
    );
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let v = verdicts(&cmp);
    // 180 samples in the phase: enough for p50, not for p95 and beyond.
    assert_eq!(v[&Stat::P50], Verdict::Regressed);
    for stat in [Stat::P95, Stat::P99, Stat::P999] {
        assert_eq!(v[&stat], Verdict::Inconclusive, "{stat:?}");
    }
}

#[test]
fn a_saturated_generator_voids_its_column() {
    let a = reps("a", 1, Shape::default(), 1);
    let mut b = reps("b", 1, shifted(2.0), 2);
    b.runs[0].summary.notes.push(Note::new(
        NoteKind::GeneratorSaturated {
            lag_p99_ms: 80.0,
            cpu_over_limit_s: 10,
            cpu_samples_s: 30,
            cpu_max_pct: 100.0,
        },
        "saturated",
    ));
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let rows = &cmp.columns[0].metrics[0].rows;
    assert!(rows.iter().all(|r| r.verdict == Verdict::Inconclusive));
    assert!(rows[1].reason.contains("saturated"), "{}", rows[1].reason);
}

#[test]
fn changes_inside_the_floor_are_the_same() {
    let a = reps("a", 1, Shape::default(), 1);
    let b = reps("b", 1, shifted(1.2), 2);
    let opts = Options {
        min_effect: MinEffect { pct: 50.0, ms: 0.5 },
        ..Options::default()
    };
    let cmp = compare(&a, &[b], &opts, false).unwrap();
    assert_eq!(findings(&cmp), 0);
    assert!(
        cmp.columns[0].metrics[0].rows[1]
            .reason
            .contains("within the effect floor")
    );
}

#[test]
fn the_gate_fails_beyond_its_limit_only() {
    let a = reps("a", 1, Shape::default(), 1);
    let b = reps("b", 1, shifted(1.2), 2);
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let gate = |s: &str| Gate::new(vec![parse_gate(s).unwrap()]);
    assert!(!gate("10%").failures(&cmp).is_empty());
    assert!(gate("40%").failures(&cmp).is_empty());
    assert!(!gate("rest.*=10%").failures(&cmp).is_empty());
    assert!(gate("message.e2e=10%").failures(&cmp).is_empty());
}

#[test]
fn several_candidates_get_a_column_each() {
    let a = reps("a", 1, Shape::default(), 1);
    let b = reps("b", 1, Shape::default(), 2);
    let c = reps("c", 1, shifted(1.3), 3);
    let cmp = compare(&a, &[b, c], &Options::default(), false).unwrap();
    assert_eq!(cmp.columns.len(), 2);
    let p50 = |i: usize| cmp.columns[i].metrics[0].rows[1].verdict;
    assert_eq!(p50(0), Verdict::Same);
    assert_eq!(p50(1), Verdict::Regressed);
    let mut text = Vec::new();
    render::write(&cmp, render::Style::Markdown, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("| metric | stat | base | 1 | change | verdict | 2 |"),
        "{text}"
    );
    assert!(text.contains("**regressed**"), "{text}");
}

#[test]
fn candidates_with_different_metrics_line_up_by_name() {
    // The base and candidate 2 measure a.x and b.y; candidate 1 adds c.z
    // (first in its list, after a.x), candidate 3 adds d.w (last): the old
    // positional match crashed on candidate 2 and showed c.z's numbers
    // under d.w's name.
    let at = |ms: f64| Shape {
        scale_ms: ms,
        ..Shape::default()
    };
    let mk = |id: &str, metrics: &[(&str, f64)], seed| {
        let m: Vec<(&str, Shape)> = metrics.iter().map(|&(n, ms)| (n, at(ms))).collect();
        side(id, vec![run_of(id, "ab", &m, seed)])
    };
    let base = mk("base", &[("a.x", 10.0), ("b.y", 20.0)], 1);
    let c1 = mk("c1", &[("a.x", 10.0), ("c.z", 40.0), ("b.y", 20.0)], 2);
    let c2 = mk("c2", &[("a.x", 10.0), ("b.y", 20.0)], 3);
    let c3 = mk("c3", &[("a.x", 10.0), ("b.y", 20.0), ("d.w", 80.0)], 4);
    let cmp = compare(&base, &[c1, c2, c3], &Options::default(), false).unwrap();
    let p50 = |col: usize, metric: &str| {
        let m = cmp.columns[col].metrics.iter().find(|m| m.metric == metric);
        let row = m.unwrap().rows.iter().find(|r| r.stat == Stat::P50);
        crate::results::format_ms(row.unwrap().candidate)
    };
    // md: metric, stat, base, then value, change, verdict per candidate.
    let mut md = Vec::new();
    render::write(&cmp, render::Style::Markdown, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    let lines: Vec<&str> = md.lines().collect();
    let cells = |metric: &str, below: usize| -> Vec<String> {
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("| {metric} | count |")))
            .unwrap_or_else(|| panic!("no {metric} in {md}"));
        let cells: Vec<String> = lines[at + below]
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        // The split leaves an empty piece before the first | and after the last.
        cells[1..cells.len() - 1].to_vec()
    };
    for (metric, present) in [("c.z", [0]), ("d.w", [2])] {
        let count = cells(metric, 0);
        let row = cells(metric, 2);
        assert_eq!(row[1], "p50", "{md}");
        for col in 0..3 {
            if present.contains(&col) {
                assert_eq!(row[3 + 3 * col], p50(col, metric), "{metric} {col}: {md}");
                assert_ne!(row[5 + 3 * col], "missing", "{md}");
            } else {
                assert_eq!(count[3 + 3 * col], "-", "{metric} {col}: {md}");
                assert_eq!(row[5 + 3 * col], "missing", "{metric} {col}: {md}");
            }
        }
    }
    let b = cells("b.y", 2);
    for col in 0..3 {
        assert_eq!(b[3 + 3 * col], p50(col, "b.y"), "b.y {col}: {md}");
    }
    // Text: the same rows, names left, and every metric once.
    let mut text = Vec::new();
    render::write(&cmp, render::Style::Text { colour: false }, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    for metric in ["a.x", "b.y", "c.z", "d.w"] {
        let count = text
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(metric))
            .count();
        assert_eq!(count, 1, "{metric}: {text}");
    }
    let dw: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("d.w"))
        .nth(2)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(dw[0], "p50", "{text}");
    let d3 = p50(2, "d.w");
    // base, then candidates 1 and 2 missing, then candidate 3's value.
    let want = ["-", "-", "-", "missing", "-", "-", "missing", d3.as_str()];
    assert_eq!(dw[1..9], want, "{text}");
}

#[test]
fn every_run_of_a_side_is_fingerprinted() {
    let mut a = reps("a", 3, Shape::default(), 1);
    a.runs[2].summary.host.cores = 8;
    let mut b = reps("b", 3, Shape::default(), 20);
    // Only a later run differs: comparing first runs alone missed it.
    b.runs[1].summary.target.rocketchat_version = Some("7.11".into());
    let cmp = compare(&a, &[b], &Options::default(), false).unwrap();
    let col = &cmp.columns[0];
    assert!(
        col.warnings[0].contains("the base's 3 runs are not one setup: host.cores"),
        "{:?}",
        col.warnings
    );
    assert!(
        col.warnings[1].contains("candidate's 3 runs")
            && col.warnings[1].contains("target.rocketchat_version"),
        "{:?}",
        col.warnings
    );
    let fields: Vec<&str> = col.differences.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["host.cores", "target.rocketchat_version"]);
    // Another scenario inside one side is refused as between sides.
    let mut c = reps("c", 3, Shape::default(), 40);
    c.runs[2] = run("c-other", "cd", Shape::default(), 41);
    let err = compare(&a, std::slice::from_ref(&c), &Options::default(), false).unwrap_err();
    assert!(err.to_string().contains("c-other"), "{err}");
    assert!(compare(&a, &[c], &Options::default(), true).is_ok());
}

#[test]
fn refusals_name_the_runs() {
    let a = reps("a", 2, Shape::default(), 1);
    let again = side("again", vec![a.runs[1].clone()]);
    let err = compare(&a, &[again], &Options::default(), false).unwrap_err();
    assert!(err.to_string().contains("is the base itself"), "{err}");
    let other = side("other", vec![run("o1", "cd", Shape::default(), 5)]);
    let err = compare(&a, std::slice::from_ref(&other), &Options::default(), false).unwrap_err();
    assert!(err.to_string().contains("different scenarios"), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(compare(&a, &[other], &Options::default(), true).is_ok());
}

#[test]
fn the_same_runs_give_the_same_answer() {
    let a = reps("a", 1, Shape::default(), 1);
    let b = reps("b", 1, shifted(1.1), 2);
    let one = serde_json::to_string(
        &compare(&a, std::slice::from_ref(&b), &Options::default(), false).unwrap(),
    )
    .unwrap();
    let two =
        serde_json::to_string(&compare(&a, &[b], &Options::default(), false).unwrap()).unwrap();
    assert_eq!(one, two);
}
