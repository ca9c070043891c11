//! The charts of runs: what each draws, taken from the summary's
//! whole-run histograms and the interval lines. Several runs share every
//! chart, each in its own colour, on an x axis of seconds since that
//! run's start.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use super::PageRun;
use super::charts::{Chart, GREY, PERCENTILE_MAX_X, Series, XAxis, colour, percentile_at};
use crate::metrics::histogram::quantile_ms;
use crate::metrics::names::{
    GENERATOR_CPU_PCT, GENERATOR_LAG, MESSAGE_DUPLICATE, MESSAGE_LOST, VUS_ACTIVE, is_generator,
    is_operation,
};
use crate::results::IntervalRecord;
use crate::results::target::key_name;

const TIME: &str = "seconds since the run's start";

/// A chart over time whose axis spans every run's intervals, so the charts
/// of one page line up (a metric seen only at the start still shows when).
fn time_chart(runs: &[PageRun<'_>], title: impl Into<String>, y_label: &str) -> Chart {
    let mut chart = Chart::new(title, TIME, y_label);
    let end = runs
        .iter()
        .filter_map(|r| r.input.intervals?.last().map(|l| l.elapsed_s))
        .fold(0.0, f64::max);
    chart.x_span = (end > 0.0).then_some((0.0, end));
    chart
}

/// Percentiles over time, one colour each (a single run); the max is grey.
const PERCENTILES: [(&str, usize); 3] = [("p50", 2), ("p95", 0), ("p99", 4)];

/// Points along the percentile axis (0 to 5 in steps of 0.025).
const CURVE_STEPS: usize = 200;

/// Metric names of every run but the generator's own (drawn with the
/// self-check).
pub fn metric_names(runs: &[PageRun<'_>]) -> Vec<String> {
    let names: BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.input.summary.metrics.keys())
        .filter(|n| !is_generator(n))
        .collect();
    names.into_iter().cloned().collect()
}

/// Latency of `name` over time: p50/p95/p99/max of one run, p99 of each
/// of several.
pub fn latency_over_time(runs: &[PageRun<'_>], name: &str) -> Chart {
    let one = runs.len() == 1;
    let title = match one {
        true => format!("{name}: latency over time (ms)"),
        false => format!("{name}: p99 latency over time (ms)"),
    };
    let mut chart = time_chart(runs, title, "ms");
    for (ri, run) in runs.iter().enumerate() {
        let Some(records) = run.input.intervals else {
            continue;
        };
        let pick = |f: fn(&crate::results::IntervalMetricRecord) -> Option<f64>| {
            records
                .iter()
                .filter_map(|r| Some((r.elapsed_s, f(r.metrics.get(name)?)?)))
                .collect::<Vec<_>>()
        };
        if one {
            let fields: [fn(&crate::results::IntervalMetricRecord) -> Option<f64>; 3] =
                [|m| m.p50_ms, |m| m.p95_ms, |m| m.p99_ms];
            for ((label, c), f) in PERCENTILES.iter().zip(fields) {
                chart.series.push(Series::line(*label, colour(*c), pick(f)));
            }
            chart
                .series
                .push(Series::line("max", GREY, pick(|m| m.max_ms)).thin());
        } else {
            chart.series.push(Series::line(
                run.label.clone(),
                colour(ri),
                pick(|m| m.p99_ms),
            ));
        }
    }
    chart
}

/// HdrHistogram's "latency by percentile distribution" of `name`, from
/// each run's whole-run histogram. A curve stops at the highest
/// percentile its sample count can tell apart from the maximum (1 - 1/n).
pub fn latency_by_percentile(runs: &[PageRun<'_>], name: &str) -> Chart {
    let mut chart = Chart::new(
        format!("{name}: latency by percentile (ms)"),
        "percentile (log scale of 1/(1-p))",
        "ms",
    );
    chart.x_axis = XAxis::Percentile;
    for (ri, run) in runs.iter().enumerate() {
        let Some(m) = run.input.summary.metrics.get(name) else {
            continue;
        };
        chart.series.push(Series::line(
            run.label.clone(),
            colour(ri),
            curve(&m.latency.histogram),
        ));
    }
    chart
}

/// (log10(1/(1-p)), ms) points of a histogram; none when it is empty.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let last = (h.len() as f64).log10().clamp(0.0, PERCENTILE_MAX_X);
    let mut points: Vec<(f64, f64)> = (0..=CURVE_STEPS)
        .map(|i| i as f64 * PERCENTILE_MAX_X / CURVE_STEPS as f64)
        .take_while(|x| *x < last)
        .filter_map(|x| Some((x, quantile_ms(h, percentile_at(x))?)))
        .collect();
    if let Some(v) = quantile_ms(h, 1.0) {
        points.push((last, v));
    }
    points
}

/// Completed operations per second (every operation, as the progress
/// line counts them).
pub fn throughput(runs: &[PageRun<'_>]) -> Chart {
    per_run(
        runs,
        "throughput (operations/s)",
        "operations/s",
        |r: &IntervalRecord| {
            Some(
                r.metrics
                    .iter()
                    .filter(|(n, _)| is_operation(n))
                    .map(|(_, m)| m.rate)
                    .sum(),
            )
        },
    )
}

pub fn active_vus(runs: &[PageRun<'_>]) -> Chart {
    per_run(runs, "active VUs", "VUs", |r| {
        r.gauges.get(VUS_ACTIVE).map(|v| *v as f64)
    })
}

pub fn generator_cpu(runs: &[PageRun<'_>]) -> Chart {
    per_run(
        runs,
        "generator CPU (% of the cores it may use)",
        "%",
        |r| r.gauges.get(GENERATOR_CPU_PCT).map(|v| *v as f64),
    )
}

/// The scheduler's lag: p99 and max of one run, p99 of several.
pub fn generator_lag(runs: &[PageRun<'_>]) -> Chart {
    let mut chart = latency_over_time(runs, GENERATOR_LAG);
    chart.title = format!("{GENERATOR_LAG}: scheduler lag (ms)");
    if runs.len() == 1 {
        chart.series.retain(|s| s.name == "p99" || s.name == "max");
    }
    chart
}

/// Errors per second by class (one run), or in all (several).
pub fn errors(runs: &[PageRun<'_>]) -> Chart {
    let mut chart = time_chart(runs, "errors by class (errors/s)", "errors/s");
    if runs.len() > 1 {
        return per_run(runs, "errors (errors/s)", "errors/s", |r| {
            Some(
                r.metrics
                    .iter()
                    .filter(|(n, _)| is_operation(n))
                    .map(|(_, m)| m.errors as f64 / r.duration_s.max(1e-9))
                    .sum(),
            )
        });
    }
    let Some(records) = runs.first().and_then(|r| r.input.intervals) else {
        return chart;
    };
    let classes: BTreeSet<&String> = records
        .iter()
        .flat_map(|r| r.metrics.iter().filter(|(n, _)| is_operation(n)))
        .flat_map(|(_, m)| m.errors_by_class.keys())
        .collect();
    for (ci, class) in classes.iter().enumerate() {
        let points = records
            .iter()
            .map(|r| {
                let n: u64 = r
                    .metrics
                    .iter()
                    .filter(|(n, _)| is_operation(n))
                    .filter_map(|(_, m)| m.errors_by_class.get(class.as_str()))
                    .sum();
                (r.elapsed_s, n as f64 / r.duration_s.max(1e-9))
            })
            .collect();
        chart
            .series
            .push(Series::line(class.to_string(), colour(ci), points));
    }
    chart
}

/// Lost and duplicate deliveries per interval; none when every count is
/// zero (the page says so in words).
pub fn deliveries(runs: &[PageRun<'_>]) -> Chart {
    let mut chart = time_chart(
        runs,
        "message deliveries lost and duplicated (per interval)",
        "deliveries",
    );
    let one = runs.len() == 1;
    for (ri, run) in runs.iter().enumerate() {
        let Some(records) = run.input.intervals else {
            continue;
        };
        for (ki, (counter, what)) in [(MESSAGE_LOST, "lost"), (MESSAGE_DUPLICATE, "duplicate")]
            .iter()
            .enumerate()
        {
            let points: Vec<(f64, f64)> = records
                .iter()
                .map(|r| {
                    let n = r.counters.get(*counter).copied().unwrap_or(0);
                    (r.elapsed_s, n as f64)
                })
                .collect();
            if points.iter().all(|p| p.1 == 0.0) {
                continue;
            }
            let (name, c) = match one {
                true => (what.to_string(), colour(4 + ki)),
                false => (format!("{} {what}", run.label), colour(ri)),
            };
            let s = Series::line(name, c, points);
            chart.series.push(if ki == 1 { s.dashed() } else { s });
        }
    }
    chart
}

/// What the target's scrape shows, one chart each.
pub struct TargetChart {
    pub title: &'static str,
    pub unit: &'static str,
    /// The sample name charted.
    pub name: &'static str,
    pub how: Derive,
}

/// How a series becomes what is charted.
#[derive(Clone, Copy)]
pub enum Derive {
    /// Per second between samples, times the factor (a counter).
    Rate(f64),
    /// The value times the factor (a gauge).
    Scale(f64),
}

pub const TARGET_CHARTS: [TargetChart; 4] = [
    TargetChart {
        title: "server CPU (% of one core, rate of process_cpu_seconds_total)",
        unit: "% of a core",
        name: "process_cpu_seconds_total",
        how: Derive::Rate(100.0),
    },
    TargetChart {
        title: "event-loop lag (ms, nodejs_eventloop_lag_seconds)",
        unit: "ms",
        name: "nodejs_eventloop_lag_seconds",
        how: Derive::Scale(1000.0),
    },
    TargetChart {
        title: "resident memory (MiB, process_resident_memory_bytes)",
        unit: "MiB",
        name: "process_resident_memory_bytes",
        how: Derive::Scale(1.0 / (1024.0 * 1024.0)),
    },
    TargetChart {
        title: "DDP sessions (rocketchat_ddp_sessions_count)",
        unit: "sessions",
        name: "rocketchat_ddp_sessions_count",
        how: Derive::Scale(1.0),
    },
];

/// True when some run's interval lines carry the target's samples.
pub fn has_target(runs: &[PageRun<'_>]) -> bool {
    runs.iter()
        .filter_map(|r| r.input.intervals)
        .any(|rs| rs.iter().any(|r| !r.target.is_empty()))
}

/// One series per run, source and label set of `spec.name`.
pub fn target(runs: &[PageRun<'_>], spec: &TargetChart) -> Chart {
    let mut chart = time_chart(runs, spec.title, spec.unit);
    let mut n = 0;
    for run in runs {
        let Some(records) = run.input.intervals else {
            continue;
        };
        // (source, key) -> samples, in time order.
        let mut found: BTreeMap<(&str, &str), Vec<(f64, f64)>> = BTreeMap::new();
        for r in records {
            for (source, series) in &r.target {
                for (key, v) in series.iter().filter(|(k, _)| key_name(k) == spec.name) {
                    found
                        .entry((source.as_str(), key.as_str()))
                        .or_default()
                        .push((r.elapsed_s, *v));
                }
            }
        }
        for ((source, key), samples) in found {
            let points = match spec.how {
                Derive::Scale(f) => samples.iter().map(|&(t, v)| (t, v * f)).collect(),
                Derive::Rate(f) => samples
                    .windows(2)
                    .filter_map(|w| {
                        let (dt, dv) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
                        // A reset (the target restarted) is no rate.
                        (dt > 0.0 && dv >= 0.0).then(|| (w[1].0, dv / dt * f))
                    })
                    .collect(),
            };
            let labels = &key[key_name(key).len()..];
            let mut name = format!("{source}{labels}");
            if runs.len() > 1 {
                name = format!("{} {name}", run.label);
            }
            chart.series.push(Series::line(name, colour(n), points));
            n += 1;
        }
    }
    chart
}

/// One series per run of `value` over its interval lines.
fn per_run(
    runs: &[PageRun<'_>],
    title: &str,
    unit: &str,
    value: impl Fn(&IntervalRecord) -> Option<f64>,
) -> Chart {
    let mut chart = time_chart(runs, title, unit);
    for (ri, run) in runs.iter().enumerate() {
        let Some(records) = run.input.intervals else {
            continue;
        };
        let points: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((r.elapsed_s, value(r)?)))
            .collect();
        if !points.is_empty() {
            chart
                .series
                .push(Series::line(run.label.clone(), colour(ri), points));
        }
    }
    chart
}
