//! CSV: one row per metric of the summary, or with the interval lines one
//! row per metric per interval. RFC 4180 quoting (by the `csv` crate):
//! metric names and stage labels may hold commas and quotes. A null (no
//! successful sample) is an empty cell.
//!
//! Summary rows: `metric,count,errors,error_rate,rate_per_s,p50_ms,p90_ms,
//! p95_ms,p99_ms,p999_ms,max_ms,mean_ms`. Interval rows: `elapsed_s,
//! start_unix_ms,stage,metric,count,errors,rate,p50_ms,p90_ms,p95_ms,
//! p99_ms,max_ms`. Several runs ([`write_runs`]): the same with a leading
//! `run` column (the run id).

use std::io::{self, Write};

use super::{ExportInput, Exporter};

pub struct Csv;

const SUMMARY_HEADER: [&str; 12] = [
    "metric",
    "count",
    "errors",
    "error_rate",
    "rate_per_s",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
];

const INTERVAL_HEADER: [&str; 12] = [
    "elapsed_s",
    "start_unix_ms",
    "stage",
    "metric",
    "count",
    "errors",
    "rate",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
];

impl Exporter for Csv {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        write_rows(std::slice::from_ref(input), false, w)
    }
}

/// Several runs in one table, each row led by its run's id. The rows are
/// interval rows when every run has its intervals, summary rows otherwise.
pub fn write_runs(inputs: &[ExportInput<'_>], w: &mut dyn Write) -> io::Result<()> {
    write_rows(inputs, true, w)
}

fn write_rows(inputs: &[ExportInput<'_>], with_run: bool, w: &mut dyn Write) -> io::Result<()> {
    let per_interval = !inputs.is_empty() && inputs.iter().all(|i| i.intervals.is_some());
    let mut out = ::csv::Writer::from_writer(w);
    let header = if per_interval {
        INTERVAL_HEADER
    } else {
        SUMMARY_HEADER
    };
    let lead: &[&str] = if with_run { &["run"] } else { &[] };
    out.write_record(lead.iter().chain(header.iter()))?;
    for input in inputs {
        let run = &input.summary.run.info.id;
        let lead: &[&str] = if with_run { &[run.as_str()] } else { &[] };
        match input.intervals.filter(|_| per_interval) {
            Some(records) => {
                for r in records {
                    for (name, m) in &r.metrics {
                        let row = [
                            num(r.elapsed_s),
                            r.start_unix_ms.to_string(),
                            r.stage.clone().unwrap_or_default(),
                            name.clone(),
                            m.count.to_string(),
                            m.errors.to_string(),
                            num(m.rate),
                            opt(m.p50_ms),
                            opt(m.p90_ms),
                            opt(m.p95_ms),
                            opt(m.p99_ms),
                            opt(m.max_ms),
                        ];
                        out.write_record(
                            lead.iter().copied().chain(row.iter().map(String::as_str)),
                        )?;
                    }
                }
            }
            None => {
                for (name, m) in &input.summary.metrics {
                    let l = &m.latency;
                    let error_rate = (m.count > 0).then(|| m.errors as f64 / m.count as f64);
                    let row = [
                        name.clone(),
                        m.count.to_string(),
                        m.errors.to_string(),
                        opt(error_rate),
                        num(m.rate_per_s),
                        opt(l.p50_ms),
                        opt(l.p90_ms),
                        opt(l.p95_ms),
                        opt(l.p99_ms),
                        opt(l.p999_ms),
                        opt(l.max_ms),
                        opt(l.mean_ms),
                    ];
                    out.write_record(lead.iter().copied().chain(row.iter().map(String::as_str)))?;
                }
            }
        }
    }
    out.flush()
}

/// Shortest form that reads back as the same number.
fn num(v: f64) -> String {
    v.to_string()
}

fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_default()
}
