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
        add_counts(
            (&mut self.metrics, &mut self.counters),
            (&iv.metrics, &iv.counters),
        );
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

    /// Adds the totals of another process that ran at the same time (a
    /// shard): histograms exactly, counts and counters summed, gauges
    /// combined field by field as [`combine_gauge`] says. `elapsed` becomes
    /// the longer of the two and `intervals` the sum; a caller that knows
    /// the common time line sets them.
    pub fn merge(&mut self, other: &Totals) {
        add_counts(
            (&mut self.metrics, &mut self.counters),
            (&other.metrics, &other.counters),
        );
        for (name, g) in &other.gauges {
            self.gauges
                .entry(name.clone())
                .and_modify(|mine| {
                    mine.last = combine_gauge(name, mine.last, g.last);
                    mine.min = combine_gauge(name, mine.min, g.min);
                    mine.max = combine_gauge(name, mine.max, g.max);
                })
                .or_insert(*g);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        self.intervals += other.intervals;
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

type Counts<'a> = (
    &'a BTreeMap<String, MetricInterval>,
    &'a BTreeMap<String, u64>,
);
type CountsMut<'a> = (
    &'a mut BTreeMap<String, MetricInterval>,
    &'a mut BTreeMap<String, u64>,
);

/// Adds metrics (histograms exactly) and counters of `from` into `into`.
pub(super) fn add_counts(into: CountsMut<'_>, from: Counts<'_>) {
    for (name, m) in from.0 {
        into.0.entry(name.clone()).or_default().merge(m);
    }
    for (name, n) in from.1 {
        let c = into.1.entry(name.clone()).or_default();
        *c = c.saturating_add(*n);
    }
}

/// One gauge of two processes that ran at the same time, as one: a
/// figure of each generator (`generator.*`, e.g. its CPU use) by the
/// larger (the busiest generator), a level of the load (`vus.active`) by
/// the sum. For a run's `min` and `max` the sum is a bound (the shards'
/// extremes need not fall in the same second); merged interval lines are
/// exact per second.
pub fn combine_gauge(name: &str, a: i64, b: i64) -> i64 {
    if name.starts_with(GENERATOR_PREFIX) {
        a.max(b)
    } else {
        a.saturating_add(b)
    }
}

const GENERATOR_PREFIX: &str = "generator.";
