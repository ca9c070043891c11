//! Results: what a run recorded, as files and as text.
//!
//! A run directory holds `run.json` (written at the start),
//! `intervals.jsonl` (one line per interval, as it happens) and
//! `summary.json` (at the end, versioned; whole histograms so runs and
//! shards merge exactly). results/README.md documents every field.
//! Consumers of a running measurement are [`IntervalSink`]s; formats of a
//! finished one are exporters (`export/`), all rendered from the same data.

mod codec;
mod error;
pub mod export;
pub mod host;
mod info;
mod intervals;
pub mod live;
mod load;
pub mod merge;
mod notes;
mod num;
mod progress;
pub mod recovery;
mod repeat;
mod sink;
pub mod spread;
mod summary;
pub(crate) mod table;
pub mod target;
mod thresholds;
mod totals;
mod v1;
mod writer;

pub use codec::{decode_histogram, encode_histogram};
pub use error::{HistogramDecodeError, ResultsError, ResultsFile};
pub use host::{CpuTimes, Host, Virtualization};
pub use info::{
    ConfiguredSetting, LoadSpec, PreflightFinding, Provisioning, RepeatRef, RunInfo, ShardInfo,
    ShardRef, ShardTiming, StageSpec, TargetInfo, Tool,
};
pub use intervals::{IntervalMetricRecord, IntervalRecord, read_intervals, totals_of};
pub use load::{Intervals, Loaded, load_run, runs_in};
pub use notes::{Note, NoteKind};
pub use num::round3;
pub use progress::{Progress, ProgressSink};
pub use recovery::Recovery;
pub use repeat::{REPEAT_FILE, REPEAT_SCHEMA, RepeatRun, RepeatSummary, print_repeat};
pub use sink::{IntervalSink, Tick};
pub use summary::{
    LatencySummary, MetricSummary, RunSummary, SCHEMA, Summary, SummaryParts, parse_summary,
    read_summary,
};
pub use table::{format_ms, print_summary, thresholds_verdict};
pub use target::{
    ScrapeSource, SeriesKind, SeriesSample, ServerFigures, TargetMetrics, TargetSample,
    TargetSeries, TargetTotals,
};
pub use thresholds::{Bound, Stat, ThresholdResult, Unit, evaluate, reevaluate};
pub use totals::{GaugeSummary, Totals, combine_gauge};
pub use writer::{RunWriter, write_file, write_json};

#[cfg(test)]
mod tests;
