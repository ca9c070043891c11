//! Pass/fail limits of a scenario, evaluated against a run's totals. A
//! result keeps its limit as data (statistic, bound, number, unit) beside
//! the measured value, so merge and compare re-evaluate without parsing.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::num::round3;
use super::totals::Totals;
use crate::metrics::MetricInterval;
use crate::metrics::histogram::quantile_ms;
use crate::metrics::names::ALL_OPERATIONS;
use crate::scenario::Threshold;

/// What a limit bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    /// Failed operations over all operations.
    ErrorRate,
    /// A counter, or the samples of a metric (upper bound).
    Count,
    /// The samples of a metric (lower bound: catches runs that measured
    /// nothing).
    MinCount,
}

/// Which side of the limit passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = ">=")]
    AtLeast,
}

/// The unit of a limit and of its measured value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Ms,
    /// A fraction: 0.01 is 1 %.
    Ratio,
    Count,
}

impl Stat {
    /// The quantile of a latency statistic (1 for `max`).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.50),
            Stat::P90 => Some(0.90),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Max => Some(1.0),
            Stat::ErrorRate | Stat::Count | Stat::MinCount => None,
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Stat::ErrorRate => Unit::Ratio,
            Stat::Count | Stat::MinCount => Unit::Count,
            _ => Unit::Ms,
        }
    }

    pub fn bound(self) -> Bound {
        match self {
            Stat::MinCount => Bound::AtLeast,
            _ => Bound::AtMost,
        }
    }

    /// The scenario's spelling: `p95`, `rate`, `count`, `min_count`.
    pub fn key(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::ErrorRate => "rate",
            Stat::Count => "count",
            Stat::MinCount => "min_count",
        }
    }

    /// From the scenario's (and schema 1's) spelling.
    pub fn from_key(key: &str) -> Option<Stat> {
        [
            Stat::P50,
            Stat::P90,
            Stat::P95,
            Stat::P99,
            Stat::P999,
            Stat::Max,
            Stat::ErrorRate,
            Stat::Count,
            Stat::MinCount,
        ]
        .into_iter()
        .find(|s| s.key() == key)
    }
}

/// One limit checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// Metric name, or `errors` for every operation together.
    pub metric: String,
    pub stat: Stat,
    pub bound: Bound,
    /// The limit, in `unit`.
    pub limit: f64,
    pub unit: Unit,
    /// The measured value, in `unit`; null when nothing was measured.
    pub actual: Option<f64>,
    pub passed: bool,
}

impl ThresholdResult {
    /// `p95 <= 500 ms`-style text of the limit.
    pub fn describe_limit(&self) -> String {
        let op = match self.bound {
            Bound::AtMost => "<=",
            Bound::AtLeast => ">=",
        };
        format!(
            "{} {op} {}",
            self.stat.key(),
            format_value(self.limit, self.unit)
        )
    }
}

/// Human form of a value in a threshold unit.
pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => format!("{v} ms"),
        Unit::Ratio => format!("{}%", round3(v * 100.0)),
        Unit::Count => format!("{v}"),
    }
}

/// The limits of one scenario threshold, in a fixed order.
fn limits(t: &Threshold) -> Vec<(Stat, f64)> {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    [
        (Stat::P50, ms(t.p50)),
        (Stat::P90, ms(t.p90)),
        (Stat::P95, ms(t.p95)),
        (Stat::P99, ms(t.p99)),
        (Stat::P999, ms(t.p999)),
        (Stat::Max, ms(t.max)),
        (Stat::ErrorRate, t.rate),
        (Stat::Count, t.count.map(|c| c as f64)),
        (Stat::MinCount, t.min_count.map(|c| c as f64)),
    ]
    .into_iter()
    .filter_map(|(s, v)| v.map(|v| (s, v)))
    .collect()
}

/// Checks every limit of every threshold. A latency or rate limit on a
/// metric with no samples fails (a limit on nothing measured must not pass
/// silently); a `count` limit on a counter never incremented sees 0.
pub fn evaluate(thresholds: &BTreeMap<String, Threshold>, totals: &Totals) -> Vec<ThresholdResult> {
    let specs: Vec<(String, Stat, f64)> = thresholds
        .iter()
        .flat_map(|(name, t)| {
            limits(t)
                .into_iter()
                .map(move |(s, v)| (name.clone(), s, v))
        })
        .collect();
    reevaluate(specs.iter().map(|(n, s, v)| (n.as_str(), *s, *v)), totals)
}

/// Evaluates limits given as data (metric, statistic, limit), e.g. those
/// stored in a summary, against other totals (a merge of shards).
pub fn reevaluate<'a>(
    specs: impl IntoIterator<Item = (&'a str, Stat, f64)>,
    totals: &Totals,
) -> Vec<ThresholdResult> {
    let mut all = None;
    specs
        .into_iter()
        .map(|(name, stat, limit)| {
            let metric: Option<&MetricInterval> = if name == ALL_OPERATIONS {
                Some(all.get_or_insert_with(|| totals.all_operations()))
            } else {
                totals.metrics.get(name)
            };
            let actual = measured(stat, name, metric, totals);
            let passed = actual.is_some_and(|a| match stat.bound() {
                Bound::AtMost => a <= limit,
                Bound::AtLeast => a >= limit,
            });
            ThresholdResult {
                metric: name.to_string(),
                stat,
                bound: stat.bound(),
                limit,
                unit: stat.unit(),
                actual,
                passed,
            }
        })
        .collect()
}

fn measured(
    stat: Stat,
    name: &str,
    metric: Option<&MetricInterval>,
    totals: &Totals,
) -> Option<f64> {
    if let Some(q) = stat.quantile() {
        return metric.and_then(|m| quantile_ms(&m.latency, q));
    }
    let counted = totals
        .counters
        .get(name)
        .copied()
        .or_else(|| metric.map(MetricInterval::count))
        .unwrap_or(0);
    match stat {
        Stat::ErrorRate => metric
            .filter(|m| m.count() > 0)
            .map(|m| m.error_count() as f64 / m.count() as f64),
        Stat::Count => Some(counted as f64),
        _ => Some(metric.map(MetricInterval::count).unwrap_or(counted) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorClass, Metrics, Sample};

    fn totals() -> Totals {
        let m = Metrics::new();
        let login = m.id("rest.login");
        for i in 1..=100u64 {
            m.record(login, Sample::ok(Duration::from_millis(i)));
        }
        for _ in 0..5 {
            m.record(
                login,
                Sample::err(Duration::from_millis(1), ErrorClass::Http(503)),
            );
        }
        let post = m.id("rest.chat.postMessage");
        for _ in 0..95 {
            m.record(post, Sample::ok(Duration::from_millis(2)));
        }
        let e2e = m.id("message.e2e");
        for _ in 0..1000 {
            m.record(e2e, Sample::ok(Duration::from_millis(3)));
        }
        m.add(m.id("message.lost"), 2);
        let mut t = Totals::default();
        t.add(&m.snapshot());
        t
    }

    fn one(name: &str, t: Threshold) -> BTreeMap<String, Threshold> {
        BTreeMap::from([(name.to_string(), t)])
    }

    #[test]
    fn percentile_limits() {
        let r = evaluate(
            &one(
                "rest.login",
                Threshold {
                    p50: Some(Duration::from_millis(60)),
                    p95: Some(Duration::from_millis(90)),
                    max: Some(Duration::from_millis(101)),
                    ..Default::default()
                },
            ),
            &totals(),
        );
        let by: BTreeMap<_, _> = r.iter().map(|r| (r.stat, r)).collect();
        assert!(by[&Stat::P50].passed);
        let p95 = by[&Stat::P95];
        assert!(!p95.passed);
        assert!((p95.actual.unwrap() - 95.0).abs() < 0.1, "{p95:?}");
        assert!(by[&Stat::Max].passed);
        assert_eq!(p95.unit, Unit::Ms);
        assert_eq!(p95.limit, 90.0);
    }

    #[test]
    fn error_rate_per_metric_and_over_all_operations() {
        let t = totals();
        let r = evaluate(
            &one(
                "rest.login",
                Threshold {
                    rate: Some(0.05),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert!((r[0].actual.unwrap() - 5.0 / 105.0).abs() < 1e-9);
        assert!(r[0].passed == (5.0 / 105.0 <= 0.05));
        // `errors`: 5 failures in 200 operations; message.e2e is not an operation.
        let r = evaluate(
            &one(
                "errors",
                Threshold {
                    rate: Some(0.02),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert_eq!(r[0].actual, Some(0.025));
        assert!(!r[0].passed);
        let r = evaluate(
            &one(
                "errors",
                Threshold {
                    rate: Some(0.03),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert!(r[0].passed);
    }

    #[test]
    fn counter_and_sample_count_limits() {
        let t = totals();
        let r = evaluate(
            &one(
                "message.lost",
                Threshold {
                    count: Some(0),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert_eq!((r[0].actual, r[0].passed), (Some(2.0), false));
        let r = evaluate(
            &one(
                "message.duplicate",
                Threshold {
                    count: Some(0),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert_eq!((r[0].actual, r[0].passed), (Some(0.0), true));
        let r = evaluate(
            &one(
                "message.e2e",
                Threshold {
                    min_count: Some(1000),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert!(r[0].passed);
        let r = evaluate(
            &one(
                "rest.never",
                Threshold {
                    min_count: Some(1),
                    ..Default::default()
                },
            ),
            &t,
        );
        assert!(!r[0].passed);
    }

    #[test]
    fn limits_on_unmeasured_metrics_fail() {
        let r = evaluate(
            &one(
                "rest.never",
                Threshold {
                    p95: Some(Duration::from_secs(1)),
                    rate: Some(0.5),
                    ..Default::default()
                },
            ),
            &totals(),
        );
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| !r.passed && r.actual.is_none()));
    }

    #[test]
    fn describes_limits() {
        let r = ThresholdResult {
            metric: "errors".into(),
            stat: Stat::ErrorRate,
            bound: Bound::AtMost,
            limit: 0.01,
            actual: Some(0.0),
            unit: Unit::Ratio,
            passed: true,
        };
        assert_eq!(r.describe_limit(), "rate <= 1%");
    }
}
