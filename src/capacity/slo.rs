//! SLOs (parsed in `scenario::slo`) checked against a step's held phase,
//! and against what a scenario records before any load.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::metrics::MetricInterval;
use crate::metrics::histogram::quantile_ms;
use crate::metrics::names::{ALL_OPERATIONS, COUNTERS, glob_match};
use crate::results::Totals;
use crate::scenario::slo::{against, format_value};
use crate::scenario::{Slo, SloStat};

/// One SLO at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// As written back by [`Slo`]'s `Display`, e.g. `message.e2e p95<500ms`.
    pub slo: String,
    /// The metric that decided: the worst of those the pattern matched.
    pub metric: Option<String>,
    /// In the SLO's unit (ms, fraction, count); `None`: nothing measured,
    /// which does not pass.
    pub value: Option<f64>,
    pub limit: f64,
    pub passed: bool,
}

impl SloResult {
    /// How far past its limit the value is (1 = at the limit), to tell
    /// which of several failed SLOs bound the load.
    pub fn excess(&self) -> f64 {
        match self.value {
            None => f64::INFINITY,
            Some(v) if self.limit > 0.0 => v / self.limit,
            Some(v) if v > 0.0 => f64::INFINITY,
            Some(_) => 0.0,
        }
    }

    /// `412ms`, `0.3%`: the value to three significant digits in the
    /// SLO's unit, or `-` when nothing was measured.
    pub fn value_text(&self, slo: &Slo) -> String {
        self.value
            .map_or_else(|| "-".into(), |v| format_value(slo.stat, significant(v)))
    }
}

/// Checks `slo` on the held phase's totals. A pattern over several
/// metrics holds when each of them does; the result names the worst.
pub fn evaluate(slo: &Slo, held: &Totals) -> SloResult {
    let worst = values(slo, held)
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1));
    SloResult {
        slo: slo.to_string(),
        passed: worst.as_ref().is_some_and(|(_, v)| slo.holds(*v)),
        metric: worst.as_ref().map(|(m, _)| m.clone()),
        value: worst.map(|(_, v)| v),
        limit: slo.limit,
    }
}

/// (metric, value) of every measured metric the SLO covers.
fn values(slo: &Slo, held: &Totals) -> Vec<(String, f64)> {
    let matching = || {
        held.metrics
            .iter()
            .filter(|(name, _)| glob_match(&slo.pattern, name))
    };
    let counter = |name: &str| held.counters.get(name).copied().unwrap_or(0);
    match slo.stat {
        SloStat::Quantile(q) => matching()
            .filter_map(|(name, m)| quantile_ms(&m.latency, q).map(|v| (name.clone(), v)))
            .collect(),
        SloStat::ErrorRate if slo.pattern == ALL_OPERATIONS => error_rate(&held.all_operations())
            .map(|r| vec![(ALL_OPERATIONS.to_string(), r)])
            .unwrap_or_default(),
        SloStat::ErrorRate => matching()
            .filter_map(|(name, m)| error_rate(m).map(|r| (name.clone(), r)))
            .collect(),
        SloStat::Ratio => counter_ratio(&slo.pattern, held)
            .map(|r| vec![(slo.pattern.clone(), r)])
            .unwrap_or_default(),
        SloStat::Count => vec![(slo.pattern.clone(), counter(&slo.pattern) as f64)],
    }
}

/// `v` rounded to three significant digits (measured values; limits are
/// written as given).
pub fn significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(2 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// A counter over what it counts against (lost over expected deliveries,
/// dropped over arrivals); `None` when there is nothing to divide by.
pub fn counter_ratio(counter: &str, held: &Totals) -> Option<f64> {
    let (base, adds) = against(counter)?;
    let n = held.counters.get(counter).copied().unwrap_or(0);
    let of = held.metrics.get(base).map_or(0, MetricInterval::count) + if adds { n } else { 0 };
    (of > 0).then(|| n as f64 / of as f64)
}

fn error_rate(m: &MetricInterval) -> Option<f64> {
    (m.count() > 0).then(|| m.error_count() as f64 / m.count() as f64)
}

/// Refuses, before any load, an SLO whose pattern matches nothing the
/// scenario records (it could never pass).
pub fn check(slos: &[Slo], produced: &BTreeSet<String>) -> Result<(), String> {
    for slo in slos {
        let known = slo.pattern == ALL_OPERATIONS
            || produced.iter().any(|name| glob_match(&slo.pattern, name));
        if !known {
            let mut recorded: Vec<&str> = produced
                .iter()
                .map(String::as_str)
                .filter(|n| !COUNTERS.contains(n) && !n.starts_with("generator."))
                .collect();
            recorded.sort_unstable();
            return Err(format!(
                "SLO `{slo}`: no step of this scenario records a metric matching `{}` (it records: {})",
                slo.pattern,
                recorded.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{ErrorClass, Metrics, Sample};

    fn held() -> Totals {
        let m = Metrics::new();
        let send = m.id("ddp.method.sendMessage");
        let login = m.id("rest.login");
        let me = m.id("rest.me");
        let e2e = m.id("message.e2e");
        for i in 1..=100u64 {
            m.record(send, Sample::ok(Duration::from_millis(i)));
            m.record(login, Sample::ok(Duration::from_millis(i / 10 + 1)));
            m.record(me, Sample::ok(Duration::from_millis(2 * i)));
        }
        for _ in 0..2 {
            m.record(
                login,
                Sample::err(Duration::from_millis(1), ErrorClass::Timeout),
            );
        }
        for _ in 0..998 {
            m.record(e2e, Sample::ok(Duration::from_millis(3)));
        }
        m.add(m.id("message.lost"), 2);
        let mut t = Totals::default();
        t.add(&m.snapshot());
        t
    }

    fn eval(s: &str) -> SloResult {
        evaluate(&Slo::parse(s).unwrap(), &held())
    }

    #[test]
    fn percentiles_of_a_pattern_take_the_worst_metric() {
        let r = eval("rest.* p95<150ms");
        assert_eq!(r.metric.as_deref(), Some("rest.me"));
        assert!((r.value.unwrap() - 190.0).abs() < 1.0, "{r:?}");
        assert!(!r.passed);
        assert!(eval("rest.* p95<250ms").passed);
        assert!(eval("ddp.method.sendMessage p50<51ms").passed);
        assert!(!eval("ddp.method.sendMessage p50<50ms").passed);
    }

    #[test]
    fn error_rates_overall_and_per_metric() {
        // 2 failures in 302 operations; message.e2e is not an operation.
        let all = eval("errors<1%");
        assert!((all.value.unwrap() - 2.0 / 302.0).abs() < 1e-12);
        assert!(all.passed);
        let login = eval("rest.login errors<1%");
        assert!((login.value.unwrap() - 2.0 / 102.0).abs() < 1e-12);
        assert!(!login.passed);
    }

    #[test]
    fn counters_as_ratios_and_counts() {
        // 2 lost of 1000 expected deliveries.
        let lost = eval("message.lost<0.1%");
        assert!((lost.value.unwrap() - 0.002).abs() < 1e-12);
        assert!(!lost.passed);
        assert!(eval("message.lost<0.3%").passed);
        assert!(eval("message.lost<3").passed);
        assert!(!eval("message.lost<2").passed);
        assert!(eval("message.duplicate<1").passed);
        assert_eq!(eval("message.duplicate<0.1%").value, Some(0.0));
    }

    #[test]
    fn measured_values_show_three_digits() {
        let slo = Slo::parse("message.e2e p95<500ms").unwrap();
        let r = |v| SloResult {
            slo: slo.to_string(),
            metric: None,
            value: Some(v),
            limit: 500.0,
            passed: true,
        };
        assert_eq!(r(4.147).value_text(&slo), "4.15ms");
        assert_eq!(r(126.463).value_text(&slo), "126ms");
        assert_eq!(r(1135.2).value_text(&slo), "1.14s");
        assert_eq!(significant(0.0), 0.0);
    }

    #[test]
    fn nothing_measured_does_not_pass() {
        let r = eval("rest.never p95<1s");
        assert_eq!((r.value, r.passed), (None, false));
        assert_eq!(r.excess(), f64::INFINITY);
        assert!(!eval("iterations.dropped<1%").passed);
    }

    #[test]
    fn checks_patterns_against_what_the_scenario_records() {
        let produced: BTreeSet<String> = ["rest.login", "ddp.method.sendMessage", "message.e2e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ok = |s: &str| check(&[Slo::parse(s).unwrap()], &produced);
        assert!(ok("rest.* p95<1s").is_ok());
        assert!(ok("errors<1%").is_ok());
        let e = ok("rest.channels.history p95<1s").unwrap_err();
        assert!(
            e.contains("no step of this scenario records") && e.contains("rest.login"),
            "{e}"
        );
    }
}
