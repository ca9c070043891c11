//! The exact merge of every interval of a run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{Interval, MetricInterval, is_operation};

/// Running totals: every interval added exactly (whole histograms).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub metrics: BTreeMap<String, MetricInterval>,
    pub counters: BTreeMap<String, u64>,
    pub gauges: BTreeMap<String, GaugeSummary>,
    /// Run time covered, up to the end of the last interval.
    pub elapsed: Duration,
    /// Intervals added.
    pub intervals: u64,
}

/// A gauge over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GaugeSummary {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl Totals {
    /// Adds one interval.
    pub fn add(&mut self, iv: &Interval) {
        for (name, m) in &iv.metrics {
            self.metrics.entry(name.clone()).or_default().merge(m);
        }
        for (name, n) in &iv.counters {
            let c = self.counters.entry(name.clone()).or_default();
            *c = c.saturating_add(*n);
        }
        for (name, &v) in &iv.gauges {
            self.gauges
                .entry(name.clone())
                .and_modify(|g| {
                    g.last = v;
                    g.min = g.min.min(v);
                    g.max = g.max.max(v);
                })
                .or_insert(GaugeSummary {
                    last: v,
                    min: v,
                    max: v,
                });
        }
        self.elapsed = self.elapsed.max(iv.elapsed);
        self.intervals += 1;
    }

    /// Every client operation merged (the special threshold metric `errors`).
    pub fn all_operations(&self) -> MetricInterval {
        let mut all = MetricInterval::default();
        for (_, m) in self.metrics.iter().filter(|(n, _)| is_operation(n)) {
            all.merge(m);
        }
        all
    }

    /// Operations per second over the run.
    pub fn rate(&self, count: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { count as f64 / secs } else { 0.0 }
    }
}
