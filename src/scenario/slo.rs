//! Service-level objectives of a capacity search, as written on the
//! command line (`--slo`) or in a scenario's `capacity.slo` list:
//!
//! - `METRIC STAT<LIMIT`: a latency percentile of every metric the pattern
//!   matches (`*` matches any run of characters), e.g. `message.e2e
//!   p95<500ms`, `rest.* p99<1s`; STAT is p50, p90, p95, p99, p99.9 (or
//!   p999) or max;
//! - `errors<1%`: failed operations over all operations; `METRIC
//!   errors<1%`: of the matching metrics, each on its own;
//! - `message.lost<0.1%`, `message.duplicate<0.1%`: of the expected
//!   deliveries; `iterations.dropped<1%`: of the arrivals; a counter with
//!   a bare number (`message.lost<10`) bounds its count.
//!
//! `<` is strict, `<=` is not. An SLO is an upper limit: `>` is refused.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::duration::parse_ratio;
use crate::metrics::names::{
    ALL_OPERATIONS, COUNTERS, ITERATIONS, ITERATIONS_DROPPED, MESSAGE_CROSS_SHARD,
    MESSAGE_DUPLICATE, MESSAGE_E2E, MESSAGE_LOST,
};

/// One objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// A metric name or pattern; `errors` for every operation.
    pub pattern: String,
    pub stat: SloStat,
    /// `<` (true) or `<=`.
    pub strict: bool,
    /// Milliseconds for a percentile, a fraction for a rate or ratio, a
    /// number for a count.
    pub limit: f64,
}

/// What an objective bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SloStat {
    /// A latency quantile (1.0 is the maximum).
    Quantile(f64),
    /// Failed operations over operations.
    ErrorRate,
    /// A counter over what it counts against (lost over expected
    /// deliveries, dropped over arrivals).
    Ratio,
    /// A counter's value.
    Count,
}

/// The quantile names an SLO may use, with their value.
const QUANTILES: &[(&str, f64)] = &[
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p999", 0.999),
    ("max", 1.0),
];

const EXAMPLES: &str =
    "e.g. `message.e2e p95<500ms`, `rest.* p99<1s`, `errors<1%`, `message.lost<0.1%`";

impl Slo {
    /// Parses one objective; the error names what is wrong and shows the
    /// forms that work.
    pub fn parse(text: &str) -> Result<Slo, String> {
        let t = text.trim();
        if t.contains('>') {
            return Err(format!(
                "`{t}`: an SLO is an upper limit, written with `<` or `<=` ({EXAMPLES})"
            ));
        }
        let Some((left, right)) = t.split_once('<') else {
            return Err(format!("`{t}`: no `<` limit ({EXAMPLES})"));
        };
        let (strict, value) = match right.strip_prefix('=') {
            Some(v) => (false, v.trim()),
            None => (true, right.trim()),
        };
        if value.is_empty() {
            return Err(format!("`{t}`: no value after `<` ({EXAMPLES})"));
        }
        let words: Vec<&str> = left.split_whitespace().collect();
        let (pattern, stat) = match words[..] {
            [pattern, stat] => (pattern, Some(stat)),
            [pattern] => (pattern, None),
            _ => return Err(format!("`{t}`: expected METRIC [STAT]<LIMIT ({EXAMPLES})")),
        };
        if quantile(pattern).is_some() || pattern == "errors" && stat.is_some() {
            return Err(format!(
                "`{t}`: name the metric before the statistic ({EXAMPLES})"
            ));
        }
        let counter = COUNTERS.contains(&pattern);
        let (stat, limit) = match stat {
            Some("errors") if counter => {
                return Err(format!(
                    "`{t}`: `{pattern}` is a counter, it has no errors: write `{pattern}<0.1%` or `{pattern}<10`"
                ));
            }
            Some("errors") => (SloStat::ErrorRate, ratio(t, value)?),
            Some(s) => {
                let Some(q) = quantile(s) else {
                    return Err(format!(
                        "`{t}`: unknown statistic `{s}` (known: p50, p90, p95, p99, p99.9, max, errors)"
                    ));
                };
                if counter {
                    return Err(format!(
                        "`{t}`: `{pattern}` is a counter, it has no latency: write `{pattern}<0.1%` or `{pattern}<10`"
                    ));
                }
                (SloStat::Quantile(q), latency_ms(t, value)?)
            }
            None if pattern == ALL_OPERATIONS => (SloStat::ErrorRate, ratio(t, value)?),
            None if counter && value.ends_with('%') => {
                if against(pattern).is_none() {
                    return Err(format!(
                        "`{t}`: `{pattern}` counts events with nothing to divide them by: bound its count, e.g. `{pattern}<10`"
                    ));
                }
                (SloStat::Ratio, ratio(t, value)?)
            }
            None if counter => match value.parse::<u64>() {
                Ok(n) => (SloStat::Count, n as f64),
                Err(_) => {
                    return Err(format!(
                        "`{t}`: `{value}` is not a count; write a whole number or a percentage"
                    ));
                }
            },
            None => {
                return Err(format!(
                    "`{t}`: which statistic of `{pattern}`? e.g. `{pattern} p95<{value}` or `{pattern} errors<1%`"
                ));
            }
        };
        if pattern.is_empty() || pattern.chars().any(char::is_whitespace) {
            return Err(format!("`{t}`: no metric name"));
        }
        Ok(Slo {
            pattern: pattern.to_string(),
            stat,
            strict,
            limit,
        })
    }

    /// True when `value` keeps the objective.
    pub fn holds(&self, value: f64) -> bool {
        if self.strict {
            value < self.limit
        } else {
            value <= self.limit
        }
    }

    /// The limit as written back: `500ms`, `1%`, `10`.
    pub fn format_value(&self, v: f64) -> String {
        format_value(self.stat, v)
    }
}

/// `500ms`, `0.1%`, `10`: a value of `stat` the way SLOs are written.
pub fn format_value(stat: SloStat, v: f64) -> String {
    match stat {
        SloStat::Quantile(_) if v >= 1000.0 => format!("{}s", trim(v / 1000.0)),
        SloStat::Quantile(_) => format!("{}ms", trim(v)),
        SloStat::ErrorRate | SloStat::Ratio => format!("{}%", trim(v * 100.0)),
        SloStat::Count => format!("{v}"),
    }
}

/// Up to three decimals, without trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.strict { "<" } else { "<=" };
        let limit = self.format_value(self.limit);
        match self.stat {
            SloStat::Quantile(q) => {
                let name = QUANTILES
                    .iter()
                    .find(|(_, v)| *v == q)
                    .map_or("p?", |(n, _)| n);
                write!(f, "{} {name}{op}{limit}", self.pattern)
            }
            SloStat::ErrorRate if self.pattern != ALL_OPERATIONS => {
                write!(f, "{} errors{op}{limit}", self.pattern)
            }
            _ => write!(f, "{}{op}{limit}", self.pattern),
        }
    }
}

/// The count a counter's ratio divides by: the metric whose count is the
/// base, and whether the counter adds to it (lost deliveries were expected
/// but not received; dropped arrivals never became iterations).
pub fn against(counter: &str) -> Option<(&'static str, bool)> {
    match counter {
        MESSAGE_LOST => Some((MESSAGE_E2E, true)),
        MESSAGE_DUPLICATE | MESSAGE_CROSS_SHARD => Some((MESSAGE_E2E, false)),
        ITERATIONS_DROPPED => Some((ITERATIONS, true)),
        _ => None,
    }
}

fn quantile(s: &str) -> Option<f64> {
    QUANTILES.iter().find(|(n, _)| *n == s).map(|(_, q)| *q)
}

fn latency_ms(slo: &str, value: &str) -> Result<f64, String> {
    if value.parse::<f64>().is_ok() {
        return Err(format!(
            "`{slo}`: `{value}` has no unit; write e.g. {value}ms or {value}s"
        ));
    }
    let d: Duration = humantime::parse_duration(value).map_err(|e| {
        format!("`{slo}`: `{value}` is not a duration ({e}); write e.g. 500ms or 1s")
    })?;
    if d.is_zero() {
        return Err(format!("`{slo}`: a latency limit of 0 cannot hold"));
    }
    Ok(d.as_secs_f64() * 1000.0)
}

fn ratio(slo: &str, value: &str) -> Result<f64, String> {
    parse_ratio(value).map_err(|e| format!("`{slo}`: {e}"))
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Slo, D::Error> {
        let text = String::deserialize(d)?;
        Slo::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Slo {
        Slo::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        Slo::parse(s).expect_err(s)
    }

    #[test]
    fn parses_the_documented_forms() {
        let e2e = ok("message.e2e p95<500ms");
        assert_eq!(e2e.pattern, "message.e2e");
        assert_eq!(e2e.stat, SloStat::Quantile(0.95));
        assert_eq!((e2e.limit, e2e.strict), (500.0, true));
        let rest = ok("rest.* p99 <= 1s");
        assert_eq!(
            (rest.pattern.as_str(), rest.limit, rest.strict),
            ("rest.*", 1000.0, false)
        );
        assert_eq!(ok("errors<1%").stat, SloStat::ErrorRate);
        assert!((ok("errors<1%").limit - 0.01).abs() < 1e-12);
        let lost = ok("message.lost<0.1%");
        assert_eq!(lost.stat, SloStat::Ratio);
        assert!((lost.limit - 0.001).abs() < 1e-12);
        assert_eq!(ok("message.lost<10").stat, SloStat::Count);
        assert_eq!(
            ok("ddp.method.sendMessage p99.9<2s").stat,
            SloStat::Quantile(0.999)
        );
        assert_eq!(ok("rest.login errors<5%").stat, SloStat::ErrorRate);
        assert_eq!(ok("iterations.dropped<1%").stat, SloStat::Ratio);
    }

    #[test]
    fn writes_back_what_it_read() {
        for s in [
            "message.e2e p95<500ms",
            "rest.* p99<=1s",
            "errors<1%",
            "message.lost<0.1%",
            "rest.login errors<5%",
            "message.lost<10",
            "ddp.method.sendMessage p99.9<250us",
        ] {
            let again = ok(s).to_string();
            assert_eq!(ok(&again), ok(s), "{s} -> {again}");
        }
        assert_eq!(
            ok("message.e2e p95<1500ms").to_string(),
            "message.e2e p95<1.5s"
        );
    }

    #[test]
    fn holds_is_strict_or_not() {
        assert!(!ok("message.e2e p95<500ms").holds(500.0));
        assert!(ok("message.e2e p95<=500ms").holds(500.0));
        assert!(ok("message.e2e p95<500ms").holds(499.9));
    }

    #[test]
    fn refuses_what_does_not_parse_with_the_reason() {
        assert!(err("message.e2e p95>500ms").contains("upper limit"));
        assert!(err("message.e2e p95").contains("no `<`"));
        assert!(err("message.e2e p95<").contains("no value"));
        assert!(err("message.e2e p42<1s").contains("unknown statistic `p42`"));
        assert!(err("message.e2e p95<500").contains("no unit"));
        assert!(err("message.e2e p95<soon").contains("not a duration"));
        assert!(err("message.e2e p95<0ms").contains("cannot hold"));
        assert!(err("p95<500ms").contains("name the metric"));
        assert!(err("message.lost p95<1s").contains("counter"));
        assert!(err("message.lost errors<1%").contains("counter"));
        assert!(err("message.lost<lots").contains("not a count"));
        assert!(err("ddp.reconnects<1%").contains("nothing to divide"));
        assert!(err("message.e2e<500ms").contains("which statistic"));
        assert!(err("errors<150%").contains("ratio"));
        assert!(err("a b c<1s").contains("METRIC [STAT]"));
    }
}
