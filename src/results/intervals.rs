//! `intervals.jsonl`: the per-second record of a run, one line per
//! interval, written as it happens and read back (to re-total a run whose
//! process died before writing `summary.json`, or to look at a window).
//! One type for both directions.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::codec::serde_histogram;
use super::error::{ResultsError, ResultsFile};
use super::num::round3;
use super::summary::errors_by_class;
use super::target::TargetSample;
use super::totals::Totals;
use crate::metrics::histogram::quantile_ms;
use crate::metrics::{Interval, MetricInterval};

/// One line of `intervals.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntervalRecord {
    pub elapsed_s: f64,
    pub start_unix_ms: u64,
    pub duration_s: f64,
    /// The engine's stage at the end of the interval (`stage 1/3: 0 -> 40
    /// VUs`, `graceful stop`); absent in schema-1 lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, IntervalMetricRecord>,
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    #[serde(default)]
    pub gauges: BTreeMap<String, i64>,
    /// The target's metrics sampled during the interval (`run --scrape`):
    /// source -> series key -> value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target: TargetSample,
}

/// One metric in an interval line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IntervalMetricRecord {
    pub count: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_class: BTreeMap<String, u64>,
    pub rate: f64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The interval's latency histogram, V2 compressed base64: small (a
    /// few hundred bytes) and makes any window re-computable exactly.
    #[serde(with = "serde_histogram")]
    pub histogram: Histogram<u64>,
}

impl IntervalMetricRecord {
    fn of(m: &MetricInterval, secs: f64) -> IntervalMetricRecord {
        let h = &m.latency;
        IntervalMetricRecord {
            count: m.count(),
            errors: m.error_count(),
            errors_by_class: m.errors.clone(),
            rate: if secs > 0.0 {
                round3(m.count() as f64 / secs)
            } else {
                0.0
            },
            p50_ms: quantile_ms(h, 0.5),
            p90_ms: quantile_ms(h, 0.9),
            p95_ms: quantile_ms(h, 0.95),
            p99_ms: quantile_ms(h, 0.99),
            max_ms: quantile_ms(h, 1.0),
            histogram: h.clone(),
        }
    }
}

impl IntervalRecord {
    /// The line of one collected interval.
    pub fn of(iv: &Interval, stage: Option<&str>) -> IntervalRecord {
        let secs = iv.duration.as_secs_f64();
        IntervalRecord {
            elapsed_s: round3(iv.elapsed.as_secs_f64()),
            start_unix_ms: iv.start_unix_ms,
            duration_s: round3(secs),
            stage: stage.map(str::to_string),
            metrics: iv
                .metrics
                .iter()
                .map(|(name, m)| (name.clone(), IntervalMetricRecord::of(m, secs)))
                .collect(),
            counters: iv.counters.clone(),
            gauges: iv.gauges.clone(),
            target: TargetSample::new(),
        }
    }

    /// As an `Interval`. Interval lines carry no service-time histogram:
    /// service is taken equal to latency.
    pub fn to_interval(&self) -> Interval {
        let metrics = self
            .metrics
            .iter()
            .map(|(name, m)| {
                let errors = errors_by_class(&m.errors_by_class, m.errors);
                let mi = MetricInterval {
                    latency: m.histogram.clone(),
                    service: m.histogram.clone(),
                    ok: m.count.saturating_sub(m.errors),
                    errors,
                };
                (name.clone(), mi)
            })
            .collect();
        Interval {
            start_unix_ms: self.start_unix_ms,
            elapsed: Duration::from_secs_f64(self.elapsed_s.max(0.0)),
            duration: Duration::from_secs_f64(self.duration_s.max(0.0)),
            metrics,
            counters: self.counters.clone(),
            gauges: self.gauges.clone(),
        }
    }
}

/// Reads `intervals.jsonl` (a file, or a run directory holding one). A cut
/// last line (the process died mid-write) is skipped; any other bad line is
/// an error naming its line number.
pub fn read_intervals(path: &Path) -> Result<Vec<IntervalRecord>, ResultsError> {
    let file = if path.is_dir() {
        path.join("intervals.jsonl")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| ResultsError::Read {
        path: file.clone(),
        source,
    })?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let complete = text.ends_with('\n');
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(e) => {
                return Err(ResultsError::Parse {
                    path: file.clone(),
                    file: ResultsFile::Intervals,
                    message: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(out)
}

/// The totals of a list of interval lines (exact for latency; service
/// time equals latency, see [`IntervalRecord::to_interval`]).
pub fn totals_of(records: &[IntervalRecord]) -> Totals {
    let mut totals = Totals::default();
    for r in records {
        totals.add(&r.to_interval());
    }
    totals
}
