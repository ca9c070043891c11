//! Pass/fail limits of a scenario, evaluated against a run's totals.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::summary::round3;
use super::totals::Totals;
use crate::metrics::MetricInterval;
use crate::metrics::histogram::us_to_ms;
use crate::scenario::Threshold;

/// The metric name that means every client operation together.
pub const ALL_OPERATIONS: &str = "errors";

/// One limit checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// Metric name, or `errors` for every operation together.
    pub metric: String,
    /// `p50` `p90` `p95` `p99` `p999` `max` (ms), `rate` (error fraction),
    /// `count` (upper bound), `min_count` (lower bound).
    pub limit: String,
    /// The limit's value, in `unit`.
    pub threshold: f64,
    /// The measured value, in `unit`; null when nothing was measured.
    pub actual: Option<f64>,
    /// `ms`, `ratio` or `count`.
    pub unit: String,
    pub passed: bool,
}

impl ThresholdResult {
    /// `p95 < 500 ms`-style text of the limit.
    pub fn describe_limit(&self) -> String {
        let op = if self.limit == "min_count" {
            ">="
        } else {
            "<="
        };
        format!(
            "{} {op} {}",
            self.limit,
            format_value(self.threshold, &self.unit)
        )
    }
}

/// Human form of a value in a threshold unit.
pub fn format_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{v} ms"),
        "ratio" => format!("{}%", round3(v * 100.0)),
        _ => format!("{v}"),
    }
}

/// Checks every limit of every threshold. A latency or rate limit on a
/// metric with no samples fails (a limit on nothing measured must not pass
/// silently); a `count` limit on a counter never incremented sees 0.
pub fn evaluate(thresholds: &BTreeMap<String, Threshold>, totals: &Totals) -> Vec<ThresholdResult> {
    let mut out = Vec::new();
    for (name, t) in thresholds {
        let merged;
        let metric: Option<&MetricInterval> = if name == ALL_OPERATIONS {
            merged = totals.all_operations();
            Some(&merged)
        } else {
            totals.metrics.get(name)
        };
        let latency_limits: [(&str, Option<Duration>, f64); 6] = [
            ("p50", t.p50, 0.50),
            ("p90", t.p90, 0.90),
            ("p95", t.p95, 0.95),
            ("p99", t.p99, 0.99),
            ("p999", t.p999, 0.999),
            ("max", t.max, 1.0),
        ];
        for (limit, value, q) in latency_limits {
            let Some(value) = value else { continue };
            let threshold = value.as_secs_f64() * 1000.0;
            let actual = metric
                .filter(|m| !m.latency.is_empty())
                .map(|m| us_to_ms(m.latency.value_at_quantile(q)));
            out.push(result(name, limit, threshold, actual, "ms", |a| {
                a <= threshold
            }));
        }
        if let Some(rate) = t.rate {
            let actual = metric
                .filter(|m| m.count() > 0)
                .map(|m| m.error_count() as f64 / m.count() as f64);
            out.push(result(name, "rate", rate, actual, "ratio", |a| a <= rate));
        }
        let counted = totals
            .counters
            .get(name)
            .copied()
            .or_else(|| metric.map(MetricInterval::count))
            .unwrap_or(0);
        if let Some(max) = t.count {
            let actual = Some(counted as f64);
            out.push(result(name, "count", max as f64, actual, "count", |a| {
                a <= max as f64
            }));
        }
        if let Some(min) = t.min_count {
            let n = metric.map(MetricInterval::count).unwrap_or(counted);
            let actual = Some(n as f64);
            out.push(result(
                name,
                "min_count",
                min as f64,
                actual,
                "count",
                |a| a >= min as f64,
            ));
        }
    }
    out
}

fn result(
    metric: &str,
    limit: &str,
    threshold: f64,
    actual: Option<f64>,
    unit: &str,
    ok: impl Fn(f64) -> bool,
) -> ThresholdResult {
    ThresholdResult {
        metric: metric.to_string(),
        limit: limit.to_string(),
        threshold,
        actual,
        unit: unit.to_string(),
        passed: actual.is_some_and(ok),
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
        let by: BTreeMap<_, _> = r.iter().map(|r| (r.limit.as_str(), r)).collect();
        assert!(by["p50"].passed);
        let p95 = by["p95"];
        assert!(!p95.passed);
        assert!((p95.actual.unwrap() - 95.0).abs() < 0.1, "{p95:?}");
        assert!(by["max"].passed);
        assert_eq!(p95.unit, "ms");
        assert_eq!(p95.threshold, 90.0);
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
            limit: "rate".into(),
            threshold: 0.01,
            actual: Some(0.0),
            unit: "ratio".into(),
            passed: true,
        };
        assert_eq!(r.describe_limit(), "rate <= 1%");
    }
}
