//! Metrics: a sink for timed operations, counters and gauges.
//!
//! Threads record into their own HDR histogram shards; once per interval
//! the collector merges and resets them ([`Metrics::snapshot`]). The module
//! imports neither the engine nor the protocol clients.
//!
//! - [`e2e`]: end-to-end message latency, loss and duplicate accounting.
//! - [`selfcheck`]: is the load generator itself the bottleneck?

pub mod e2e;
mod error_class;
pub mod histogram;
mod interval;
pub mod names;
mod registry;
pub mod selfcheck;

pub use e2e::MessageTracker;
pub use error_class::ErrorClass;
pub use interval::{Interval, MetricInterval};
pub use names::is_operation;
pub use registry::{Gauge, MetricId, Metrics, Sample};
pub use selfcheck::{Saturation, SelfCheck, spawn_self_check};

#[cfg(test)]
mod tests;
