//! What one collection (one second) of the metrics holds.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::histogram::{merge_into, new_histogram};

/// Everything recorded between two snapshots.
#[derive(Clone, Debug)]
pub struct Interval {
    /// Wall-clock start of the interval, Unix ms.
    pub start_unix_ms: u64,
    /// Time since the run started (the `Metrics` was created), at the end
    /// of this interval.
    pub elapsed: Duration,
    /// Length of this interval.
    pub duration: Duration,
    /// Timed operations by metric name; only metrics with samples appear.
    pub metrics: BTreeMap<String, MetricInterval>,
    /// Counters incremented during the interval (the increment, not a total).
    pub counters: BTreeMap<String, u64>,
    /// Every gauge's value at the end of the interval.
    pub gauges: BTreeMap<String, i64>,
}

/// One metric's samples in an interval (or, merged, in a whole run).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricInterval {
    /// Latency of successes, µs, from the intended start
    /// (coordinated-omission corrected).
    pub latency: Histogram<u64>,
    /// Service time of successes, µs, from the actual start (uncorrected).
    pub service: Histogram<u64>,
    /// Successful operations.
    pub ok: u64,
    /// Failed operations by `ErrorClass::key`.
    pub errors: BTreeMap<String, u64>,
}

impl Default for MetricInterval {
    fn default() -> Self {
        MetricInterval {
            latency: new_histogram(),
            service: new_histogram(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl MetricInterval {
    /// Failed operations, all classes.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Every operation: successes plus failures.
    pub fn count(&self) -> u64 {
        self.ok + self.error_count()
    }

    /// Adds `other` into `self` exactly.
    pub fn merge(&mut self, other: &MetricInterval) {
        merge_into(&mut self.latency, &other.latency);
        merge_into(&mut self.service, &other.service);
        self.ok += other.ok;
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
    }
}

impl Interval {
    /// Operations per second of this interval over the metrics that
    /// `counts` selects.
    pub fn rate_of(&self, counts: impl Fn(&str) -> bool) -> f64 {
        let n: u64 = self
            .metrics
            .iter()
            .filter(|(name, _)| counts(name))
            .map(|(_, m)| m.count())
            .sum();
        let secs = self.duration.as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }
}
