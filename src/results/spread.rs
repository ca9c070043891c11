//! How much repeated runs of the same scenario differ: per metric, for
//! p50, p95, p99 and rate/s, the value of each run, their median, min,
//! max and coefficient of variation. Pure functions over summaries; the
//! median is of per-run figures (a spread), never a stand-in for the
//! merged histogram's percentile.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::num::round3;
use super::summary::{MetricSummary, Summary};
use crate::metrics::names;

/// A figure of a metric whose spread is taken; serialized as the
/// `summary.json` field it is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpreadStat {
    P50Ms,
    P95Ms,
    P99Ms,
    RatePerS,
}

impl SpreadStat {
    pub const ALL: [SpreadStat; 4] = [
        SpreadStat::P50Ms,
        SpreadStat::P95Ms,
        SpreadStat::P99Ms,
        SpreadStat::RatePerS,
    ];

    /// The figure in one run's metric.
    pub fn of(self, m: &MetricSummary) -> Option<f64> {
        match self {
            SpreadStat::P50Ms => m.latency.p50_ms,
            SpreadStat::P95Ms => m.latency.p95_ms,
            SpreadStat::P99Ms => m.latency.p99_ms,
            SpreadStat::RatePerS => Some(m.rate_per_s),
        }
    }

    /// As the summary table heads it.
    pub fn label(self) -> &'static str {
        match self {
            SpreadStat::P50Ms => "p50",
            SpreadStat::P95Ms => "p95",
            SpreadStat::P99Ms => "p99",
            SpreadStat::RatePerS => "rate/s",
        }
    }

    pub fn is_latency(self) -> bool {
        self != SpreadStat::RatePerS
    }
}

/// One figure across runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatSpread {
    /// One per run, in run order; null where that run has no value (not
    /// measured, cut short, or no successful sample).
    pub values: Vec<Option<f64>>,
    /// Of the non-null values; null when there are none.
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Coefficient of variation: sample standard deviation / mean, as a
    /// ratio (0.05 = 5 %); null with fewer than 2 values or a zero mean.
    pub cv: Option<f64>,
}

impl StatSpread {
    pub fn of(values: Vec<Option<f64>>) -> StatSpread {
        let mut present: Vec<f64> = values.iter().flatten().copied().collect();
        present.sort_by(f64::total_cmp);
        StatSpread {
            median: median(&present).map(round3),
            min: present.first().copied(),
            max: present.last().copied(),
            cv: coefficient_of_variation(&present).map(|cv| (cv * 1e4).round() / 1e4),
            values,
        }
    }

    /// Non-null values.
    pub fn measured(&self) -> usize {
        self.values.iter().flatten().count()
    }
}

/// The median of sorted values (the mean of the middle two for an even
/// count).
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Sample standard deviation (n - 1) over the mean.
fn coefficient_of_variation(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if mean == 0.0 {
        return None;
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / mean.abs())
}

/// Every figure of one metric.
pub type MetricSpread = BTreeMap<SpreadStat, StatSpread>;

/// The spread of each metric over `runs` (in run order; `None` for a run
/// that is not to count). Metrics are those of any counted run, except
/// the generator's own (`generator.*`): they describe the load side.
pub fn spread_of(runs: &[Option<&Summary>]) -> BTreeMap<String, MetricSpread> {
    let mut names_seen: Vec<&str> = runs
        .iter()
        .flatten()
        .flat_map(|s| s.metrics.keys().map(String::as_str))
        .filter(|n| !names::is_generator(n))
        .collect();
    names_seen.sort_unstable();
    names_seen.dedup();
    names_seen
        .into_iter()
        .map(|name| {
            let stats = SpreadStat::ALL
                .into_iter()
                .map(|stat| {
                    let values = runs
                        .iter()
                        .map(|run| {
                            run.and_then(|s| s.metrics.get(name))
                                .and_then(|m| stat.of(m))
                        })
                        .collect();
                    (stat, StatSpread::of(values))
                })
                .collect();
            (name.to_string(), stats)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Metrics, Sample};
    use crate::results::{Host, SummaryParts, TargetInfo, Tool, Totals};

    /// A run whose `rest.login` took `ms` each time, `n` times, plus the
    /// generator's own lag and, when `extra`, a metric of its own.
    fn run(ms: u64, n: u32, extra: bool) -> Summary {
        let m = Metrics::new();
        let login = m.id("rest.login");
        for _ in 0..n {
            m.record(login, Sample::ok(Duration::from_millis(ms)));
        }
        m.record(
            m.id(names::GENERATOR_LAG),
            Sample::ok(Duration::from_millis(1)),
        );
        if extra {
            m.record(m.id("probe"), Sample::ok(Duration::from_millis(1)));
        }
        let mut totals = Totals::default();
        totals.add(&m.snapshot());
        totals.elapsed = Duration::from_secs(10);
        let parts = SummaryParts {
            info: crate::results::tests::info(),
            tool: Tool::current(),
            host: Host::default(),
            target: TargetInfo::default(),
            thresholds: Vec::new(),
            notes: Vec::new(),
            ended_unix_ms: 0,
        };
        Summary::build(parts, &totals)
    }

    #[test]
    fn spread_over_summaries_per_metric_and_stat() {
        let (a, b, c) = (run(10, 100, false), run(12, 200, true), run(11, 300, false));
        let spread = spread_of(&[Some(&a), None, Some(&b), Some(&c)]);
        let names: Vec<&str> = spread.keys().map(String::as_str).collect();
        assert_eq!(names, ["probe", "rest.login"], "generator.* left out");
        let login = &spread["rest.login"];
        assert_eq!(login.keys().copied().collect::<Vec<_>>(), SpreadStat::ALL);
        let p50 = &login[&SpreadStat::P50Ms];
        assert_eq!(p50.values.len(), 4);
        assert_eq!(p50.values[1], None, "the run not counted");
        assert_eq!(p50.measured(), 3);
        let median = p50.median.unwrap_or_default();
        assert!((median - 11.0).abs() < 0.02, "median p50 {median}");
        let rate = &login[&SpreadStat::RatePerS];
        assert_eq!(rate.values, [Some(10.0), None, Some(20.0), Some(30.0)]);
        assert_eq!(
            (rate.median, rate.min, rate.max),
            (Some(20.0), Some(10.0), Some(30.0))
        );
        assert_eq!(rate.cv, Some(0.5));
        // A metric only one run has: one value, no CV.
        let probe = &spread["probe"][&SpreadStat::P95Ms];
        assert_eq!((probe.measured(), probe.cv), (1, None));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
    }

    #[test]
    fn spread_of_values_skips_missing_ones() {
        let s = StatSpread::of(vec![Some(12.0), None, Some(10.0), Some(11.0)]);
        assert_eq!(s.values.len(), 4, "one value per run, in order");
        assert_eq!(s.measured(), 3);
        assert_eq!(s.median, Some(11.0));
        assert_eq!((s.min, s.max), (Some(10.0), Some(12.0)));
        // Sample sd of 10, 11, 12 is 1; over the mean 11.
        assert_eq!(s.cv, Some(0.0909));
    }

    #[test]
    fn no_cv_from_one_value_or_a_zero_mean() {
        let one = StatSpread::of(vec![Some(5.0), None]);
        assert_eq!((one.median, one.cv), (Some(5.0), None));
        assert_eq!(StatSpread::of(vec![Some(0.0), Some(0.0)]).cv, None);
        let none = StatSpread::of(vec![None, None]);
        assert_eq!(
            (none.median, none.min, none.max, none.cv),
            (None, None, None, None)
        );
    }

    #[test]
    fn identical_runs_have_no_spread() {
        let s = StatSpread::of(vec![Some(7.5); 5]);
        assert_eq!(
            (s.median, s.min, s.max, s.cv),
            (Some(7.5), Some(7.5), Some(7.5), Some(0.0))
        );
    }

    #[test]
    fn stats_serialize_as_summary_fields() {
        let keys: Vec<String> = SpreadStat::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                r#""p50_ms""#,
                r#""p95_ms""#,
                r#""p99_ms""#,
                r#""rate_per_s""#
            ]
        );
    }
}
