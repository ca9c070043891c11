//! The results directory of one run, written as the run goes:
//! `run.json` at the start, one `intervals.jsonl` line per interval,
//! `summary.json` at the end.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::codec::encode_histogram;
use super::error::ResultsError;
use super::info::{HostInfo, RunInfo, TargetInfo};
use super::summary::round3;
use super::summary::{SCHEMA, Summary};
use super::thresholds::evaluate;
use super::totals::Totals;
use crate::metrics::histogram::us_to_ms;
use crate::metrics::{Interval, MetricInterval};
use crate::scenario::Threshold;

/// Owns a run's results directory.
pub struct RunWriter {
    dir: PathBuf,
    info: RunInfo,
    host: HostInfo,
    intervals: File,
    totals: Totals,
}

#[derive(Serialize)]
struct RunFile<'a> {
    schema: u32,
    run: &'a RunInfo,
    host: &'a HostInfo,
    target: TargetInfo,
}

/// One `intervals.jsonl` line.
#[derive(Serialize)]
struct IntervalLine<'a> {
    elapsed_s: f64,
    start_unix_ms: u64,
    duration_s: f64,
    metrics: BTreeMap<&'a str, IntervalMetric<'a>>,
    counters: &'a BTreeMap<String, u64>,
    gauges: &'a BTreeMap<String, i64>,
}

#[derive(Serialize)]
struct IntervalMetric<'a> {
    count: u64,
    errors: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    errors_by_class: &'a BTreeMap<String, u64>,
    rate: f64,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    /// The interval's latency histogram, V2 compressed base64: small
    /// (a few hundred bytes) and makes any window re-computable exactly.
    histogram: String,
}

fn interval_metric(m: &MetricInterval, secs: f64) -> IntervalMetric<'_> {
    let h = &m.latency;
    let q = |q: f64| (!h.is_empty()).then(|| us_to_ms(h.value_at_quantile(q)));
    IntervalMetric {
        count: m.count(),
        errors: m.error_count(),
        errors_by_class: &m.errors,
        rate: if secs > 0.0 {
            round3(m.count() as f64 / secs)
        } else {
            0.0
        },
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        max_ms: (!h.is_empty()).then(|| us_to_ms(h.max())),
        histogram: encode_histogram(h),
    }
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ResultsError> {
    let err = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| err(e.into()))?;
    text.push(b'\n');
    // Write aside, then rename: a reader never sees half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, &text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

impl RunWriter {
    /// Creates `dir` (and parents) and writes `run.json`.
    pub fn create(dir: &Path, info: &RunInfo) -> Result<RunWriter, ResultsError> {
        std::fs::create_dir_all(dir).map_err(|source| ResultsError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        // A summary left by an earlier run in the same directory would pass
        // for this run's until it finishes.
        let stale = dir.join("summary.json");
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ResultsError::Write {
                    path: stale,
                    source: e,
                });
            }
            _ => {}
        }
        let host = HostInfo::current();
        write_json(
            &dir.join("run.json"),
            &RunFile {
                schema: SCHEMA,
                run: info,
                host: &host,
                target: TargetInfo::of(info),
            },
        )?;
        let path = dir.join("intervals.jsonl");
        let intervals = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| ResultsError::Write { path, source })?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            info: info.clone(),
            host,
            intervals,
            totals: Totals::default(),
        })
    }

    /// Adds the interval to the totals and appends its line to
    /// `intervals.jsonl` (flushed before returning). The totals include
    /// the interval even when the write fails.
    pub fn write_interval(&mut self, iv: &Interval) -> Result<(), ResultsError> {
        self.totals.add(iv);
        let secs = iv.duration.as_secs_f64();
        let line = IntervalLine {
            elapsed_s: round3(iv.elapsed.as_secs_f64()),
            start_unix_ms: iv.start_unix_ms,
            duration_s: round3(secs),
            metrics: iv
                .metrics
                .iter()
                .map(|(name, m)| (name.as_str(), interval_metric(m, secs)))
                .collect(),
            counters: &iv.counters,
            gauges: &iv.gauges,
        };
        let path = || self.dir.join("intervals.jsonl");
        let mut bytes = serde_json::to_vec(&line).map_err(|e| ResultsError::Write {
            path: path(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        // One write per line: a crash leaves whole lines only (or a cut
        // last line, which readers skip).
        self.intervals
            .write_all(&bytes)
            .and_then(|()| self.intervals.flush())
            .map_err(|source| ResultsError::Write {
                path: path(),
                source,
            })
    }

    /// Everything written so far, merged.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Evaluates the thresholds, writes `summary.json` and returns it.
    pub fn finish(
        &mut self,
        thresholds: &BTreeMap<String, Threshold>,
        notes: Vec<String>,
        ended_unix_ms: u64,
    ) -> Result<Summary, ResultsError> {
        let results = evaluate(thresholds, &self.totals);
        let summary = Summary::build(
            &self.info,
            self.host.clone(),
            &self.totals,
            results,
            notes,
            ended_unix_ms,
        );
        write_json(&self.dir.join("summary.json"), &summary)?;
        Ok(summary)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
