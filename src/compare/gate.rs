//! `--fail-on-regression`: which findings fail a CI job. A limit is a
//! percentage, for every metric (`10%`) or for some (`message.e2e=10%`,
//! `rest.*=20%`; `*` matches any run of characters). A metric takes the
//! limit of its exact name, else of its longest matching pattern, else the
//! global one; no limit, no gate. A row fails when its verdict is
//! `regressed` and its change is beyond the limit; a significant rise of
//! the error rate fails whenever a limit applies to the metric.

use super::{Comparison, Stat, Verdict};
use crate::metrics::names::glob_match;

/// One `--fail-on-regression` value.
#[derive(Clone, Debug, PartialEq)]
pub struct GateSpec {
    pub pattern: Option<String>,
    pub pct: f64,
}

/// Parses `10%`, `10`, `NAME=10%` or `GLOB=10%`.
pub fn parse_gate(s: &str) -> Result<GateSpec, String> {
    let (pattern, pct) = match s.rsplit_once('=') {
        Some((p, v)) if !p.trim().is_empty() => (Some(p.trim().to_string()), v),
        Some(_) => return Err(format!("`{s}`: no metric before `=`")),
        None => (None, s),
    };
    let digits = pct.trim().trim_end_matches('%');
    let pct: f64 = digits
        .parse()
        .map_err(|_| format!("`{s}`: expected a percentage such as 10% or message.e2e=10%"))?;
    if !pct.is_finite() || pct < 0.0 {
        return Err(format!("`{s}`: the percentage must be 0 or more"));
    }
    Ok(GateSpec { pattern, pct })
}

/// The limits together.
#[derive(Clone, Debug, Default)]
pub struct Gate(Vec<GateSpec>);

impl Gate {
    pub fn new(specs: Vec<GateSpec>) -> Gate {
        Gate(specs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The limit for `metric`, in %.
    pub fn limit(&self, metric: &str) -> Option<f64> {
        let exact = self.0.iter().find(|g| g.pattern.as_deref() == Some(metric));
        let glob = || {
            self.0
                .iter()
                .filter(|g| g.pattern.as_deref().is_some_and(|p| glob_match(p, metric)))
                .max_by_key(|g| g.pattern.as_ref().map_or(0, String::len))
        };
        let global = || self.0.iter().rev().find(|g| g.pattern.is_none());
        exact.or_else(glob).or_else(global).map(|g| g.pct)
    }

    /// One line per failing row: `1: message.e2e p99 +23.1% (limit 10%)`.
    pub fn failures(&self, cmp: &Comparison) -> Vec<String> {
        let mut out = Vec::new();
        for (ci, col) in cmp.columns.iter().enumerate() {
            for m in &col.metrics {
                let Some(limit) = self.limit(&m.metric) else {
                    continue;
                };
                for r in m.rows.iter().filter(|r| r.verdict == Verdict::Regressed) {
                    let change = r.change.unwrap_or(0.0);
                    if r.stat == Stat::ErrorRate || change.abs() > limit {
                        out.push(format!(
                            "{}: {} {} {change:+.1}{} (limit {limit}%)",
                            ci + 1,
                            m.metric,
                            r.stat.label(),
                            if r.stat == Stat::ErrorRate {
                                " pp"
                            } else {
                                "%"
                            }
                        ));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limits() {
        assert_eq!(
            parse_gate("10%"),
            Ok(GateSpec {
                pattern: None,
                pct: 10.0
            })
        );
        assert_eq!(
            parse_gate("message.e2e=2.5%").unwrap().pattern.as_deref(),
            Some("message.e2e")
        );
        assert!(
            parse_gate("ten")
                .unwrap_err()
                .contains("expected a percentage")
        );
        assert!(parse_gate("=5%").unwrap_err().contains("no metric"));
        assert!(parse_gate("-5%").is_err());
    }

    #[test]
    fn the_most_specific_limit_wins() {
        let gate = Gate::new(
            ["10%", "rest.*=20%", "rest.chat.*=30%", "rest.login=5%"]
                .iter()
                .map(|s| parse_gate(s).unwrap())
                .collect(),
        );
        assert_eq!(gate.limit("message.e2e"), Some(10.0));
        assert_eq!(gate.limit("rest.users.info"), Some(20.0));
        assert_eq!(gate.limit("rest.chat.postMessage"), Some(30.0));
        assert_eq!(gate.limit("rest.login"), Some(5.0));
        let only = Gate::new(vec![parse_gate("ddp.*=10%").unwrap()]);
        assert_eq!(only.limit("rest.login"), None);
    }
}
