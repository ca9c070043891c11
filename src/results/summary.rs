//! `summary.json`: the versioned result of a run (schema 2; schema 1 files
//! are read through [`super::v1`]).
//!
//! Percentile fields are conveniences; the `histogram` fields carry the
//! whole distribution, so runs and shards merge exactly. The format is
//! documented field by field in results/README.md.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::codec::serde_histogram;
use super::error::{ResultsError, ResultsFile};
use super::host::Host;
use super::info::{RunInfo, ShardInfo, TargetInfo, Tool};
use super::notes::{Note, NoteKind};
use super::num::round3;
use super::thresholds::ThresholdResult;
use super::totals::{GaugeSummary, Totals};
use crate::metrics::MetricInterval;
use crate::metrics::histogram::quantile_ms;

/// The schema version this code writes.
pub const SCHEMA: u32 = 2;

/// Every summary schema this build reads: 1 is upgraded on reading.
pub const READS_SCHEMAS: &[u32] = &[1, SCHEMA];

/// A whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: u32,
    pub run: RunSummary,
    pub tool: Tool,
    pub host: Host,
    pub target: TargetInfo,
    pub shards: Vec<ShardInfo>,
    pub metrics: BTreeMap<String, MetricSummary>,
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    #[serde(default)]
    pub gauges: BTreeMap<String, GaugeSummary>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    #[serde(default)]
    pub notes: Vec<Note>,
    /// How the run came back from a restart of an instance, when one was
    /// restarted (`scaling --restart-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<super::Recovery>,
    /// The target's own metrics over the run (`run --scrape`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_metrics: Option<super::TargetMetrics>,
}

/// `run`: the run's identity plus its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(flatten)]
    pub info: RunInfo,
    pub ended_unix_ms: u64,
    /// Measured time: from the start of measuring to the last interval.
    pub duration_s: f64,
    pub intervals: u64,
}

/// One metric over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Operations: successes plus errors.
    pub count: u64,
    pub errors: u64,
    #[serde(default)]
    pub errors_by_class: BTreeMap<String, u64>,
    /// `count` per second of measured time.
    pub rate_per_s: f64,
    /// Latency of successes (from the intended start).
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// Service time of successes (from the actual start); present only
    /// when it differs from the latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<LatencySummary>,
}

/// Percentiles (ms; null without successful samples) and the histogram (µs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    #[serde(with = "serde_histogram")]
    pub histogram: Histogram<u64>,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        let q = |q: f64| quantile_ms(h, q);
        LatencySummary {
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: q(1.0),
            mean_ms: (!h.is_empty()).then(|| (h.mean() / 10.0).round() / 100.0),
            histogram: h.clone(),
        }
    }
}

impl MetricSummary {
    pub fn of(m: &MetricInterval, totals: &Totals) -> MetricSummary {
        MetricSummary {
            count: m.count(),
            errors: m.error_count(),
            errors_by_class: m.errors.clone(),
            rate_per_s: round3(totals.rate(m.count())),
            latency: LatencySummary::of(&m.latency),
            service: (m.service != m.latency).then(|| LatencySummary::of(&m.service)),
        }
    }

    /// Back to mergeable form (service = latency when absent).
    pub fn to_interval(&self) -> MetricInterval {
        let errors = errors_by_class(&self.errors_by_class, self.errors);
        MetricInterval {
            latency: self.latency.histogram.clone(),
            service: self
                .service
                .as_ref()
                .map_or_else(|| self.latency.histogram.clone(), |s| s.histogram.clone()),
            ok: self.count.saturating_sub(self.errors),
            errors,
        }
    }
}

/// Errors by class, with any failures missing from the classes (a
/// hand-edited or foreign file) counted as `other`, so totals stay exact.
pub(super) fn errors_by_class(
    classes: &BTreeMap<String, u64>,
    errors: u64,
) -> BTreeMap<String, u64> {
    let mut out = classes.clone();
    let classified: u64 = out.values().sum();
    if errors > classified {
        *out.entry("other".into()).or_default() += errors - classified;
    }
    out
}

/// Everything a summary is made of besides the measured totals.
pub struct SummaryParts {
    pub info: RunInfo,
    pub tool: Tool,
    pub host: Host,
    pub target: TargetInfo,
    pub thresholds: Vec<ThresholdResult>,
    pub notes: Vec<Note>,
    pub ended_unix_ms: u64,
}

impl Summary {
    /// The summary of `totals`: one shard, this process.
    pub fn build(parts: SummaryParts, totals: &Totals) -> Summary {
        let SummaryParts {
            info,
            tool,
            host,
            target,
            thresholds,
            notes,
            ended_unix_ms,
        } = parts;
        let shard = ShardInfo {
            run_id: info.id.clone(),
            shard: info.shard,
            hostname: host.hostname.clone(),
            started_unix_ms: info.started_unix_ms,
            ended_unix_ms,
            timing: info.timing,
        };
        Summary {
            schema: SCHEMA,
            run: RunSummary {
                info,
                ended_unix_ms,
                duration_s: round3(totals.elapsed.as_secs_f64()),
                intervals: totals.intervals,
            },
            tool,
            host,
            target,
            shards: vec![shard],
            metrics: totals
                .metrics
                .iter()
                .map(|(name, m)| (name.clone(), MetricSummary::of(m, totals)))
                .collect(),
            counters: totals.counters.clone(),
            gauges: totals.gauges.clone(),
            thresholds,
            notes,
            recovery: None,
            target_metrics: None,
        }
    }

    /// True when every threshold held.
    pub fn passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// True when the run, or a part of it, did not finish (its totals come
    /// from interval lines).
    pub fn is_partial(&self) -> bool {
        self.notes.iter().any(|n| n.kind == NoteKind::Partial)
    }

    /// The run's totals again (for merge and compare).
    pub fn totals(&self) -> Totals {
        Totals {
            metrics: self
                .metrics
                .iter()
                .map(|(name, m)| (name.clone(), m.to_interval()))
                .collect(),
            counters: self.counters.clone(),
            gauges: self.gauges.clone(),
            elapsed: std::time::Duration::from_secs_f64(self.run.duration_s.max(0.0)),
            intervals: self.run.intervals,
        }
    }
}

/// Reads a `summary.json` (a file, or a run directory holding one).
pub fn read_summary(path: &Path) -> Result<Summary, ResultsError> {
    let file = if path.is_dir() {
        path.join("summary.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| ResultsError::Read {
        path: file.clone(),
        source,
    })?;
    parse_summary(&text, &file)
}

/// Parses summary text of any schema this build reads ([`READS_SCHEMAS`]).
pub fn parse_summary(text: &str, file: &Path) -> Result<Summary, ResultsError> {
    parse_summary_as(text, file, ResultsFile::Summary)
}

/// [`parse_summary`] of text that stands in `file`, a results file of
/// kind `kind`, so errors name it.
pub(super) fn parse_summary_as(
    text: &str,
    file: &Path,
    kind: ResultsFile,
) -> Result<Summary, ResultsError> {
    let parse = |message: String| ResultsError::Parse {
        path: file.to_path_buf(),
        file: kind,
        message,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| parse(e.to_string()))?;
    let schema = value
        .get("schema")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| parse("no numeric `schema` field".into()))?;
    match schema {
        1 => super::v1::upgrade(value).map_err(|e| parse(format!("schema 1: {e}"))),
        s if s == u64::from(SCHEMA) => {
            serde_json::from_value(value).map_err(|e| parse(e.to_string()))
        }
        found => Err(ResultsError::Schema {
            path: file.to_path_buf(),
            file: kind,
            found,
            supported: READS_SCHEMAS,
        }),
    }
}
