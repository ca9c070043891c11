//! Results: what a run recorded, as files and as text.
//!
//! A run directory holds `run.json` (written at the start),
//! `intervals.jsonl` (one line per interval, as it happens) and
//! `summary.json` (at the end, versioned; whole histograms so runs and
//! shards merge exactly). results/README.md documents every field.
//! Text output (the summary table, live progress) is rendered from the
//! same data.

mod codec;
mod error;
mod host;
mod info;
mod intervals;
mod progress;
mod summary;
mod table;
mod thresholds;
mod totals;
mod writer;

pub use codec::{decode_histogram, encode_histogram};
pub use error::{HistogramDecodeError, ResultsError};
pub use host::{CpuTimes, Host, Virtualization};
pub use info::{HostInfo, RunInfo, TargetInfo};
pub use intervals::{IntervalMetricRecord, IntervalRecord, read_intervals, totals_of};
pub use progress::Progress;
pub use summary::{LatencySummary, MetricSummary, RunSummary, SCHEMA, Summary, read_summary};
pub use table::{format_ms, print_summary};
pub use thresholds::{ALL_OPERATIONS, ThresholdResult, evaluate};
pub use totals::{GaugeSummary, Totals};
pub use writer::RunWriter;

#[cfg(test)]
mod tests;
