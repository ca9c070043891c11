//! The seam between the collector and whatever consumes a run as it goes:
//! once per interval every sink sees the interval, the totals so far and
//! the engine's stage; at the end it sees the summary. The results files
//! and the progress display are sinks; live exporters plug in the same way
//! (after k6's `Output` and ripgrep's `Sink`).
//!
//! Sinks run on the collector's own thread, never on the VUs' scheduler,
//! so a slow sink delays the next interval line, not the load.

use super::error::ResultsError;
use super::info::RunInfo;
use super::summary::Summary;
use super::target::{ServerFigures, TargetSample};
use super::totals::Totals;
use crate::metrics::Interval;

/// One collected interval, as a sink sees it.
pub struct Tick<'a> {
    pub interval: &'a Interval,
    /// Every interval so far, this one included.
    pub totals: &'a Totals,
    /// The engine's stage label, e.g. `stage 2/3: hold 40 VUs`.
    pub stage: &'a str,
    /// The plan's load at the end of the interval: VUs (closed model) or
    /// arrivals/s (open); 0 once the stages ended.
    pub level: f64,
    /// `run --scrape`: the target's samples completed during this
    /// interval (empty without, or when every scrape of it failed).
    pub target: &'a TargetSample,
    /// `run --scrape`: the scraped server's latest CPU and event-loop lag.
    pub server: Option<ServerFigures>,
}

/// A consumer of a run's intervals.
pub trait IntervalSink: Send {
    /// A measurement starts: what it is, before its first interval.
    fn start(&mut self, _info: &RunInfo) {}

    /// One interval was collected. An error is reported once per sink; the
    /// run goes on and later intervals are still offered.
    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError>;

    /// The run ended and its summary is final.
    fn finish(&mut self, _summary: &Summary) -> Result<(), ResultsError> {
        Ok(())
    }
}
