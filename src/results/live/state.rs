//! What the exporter holds: every interval so far, added up per series.
//! Updated by the collector thread (one lock per interval), read by
//! scrapes.

use std::collections::BTreeMap;

use super::buckets::Buckets;
use crate::metrics::names;
use crate::results::{RunInfo, Tick};
use crate::scenario::Model;

/// Beyond this many label sets per family, new metric names are counted as
/// metric `other` and new error classes as class `other`: error codes come
/// from the target, and memory (and Prometheus) must stay bounded.
pub const MAX_SERIES: usize = 1000;
/// The label value that takes the overflow.
pub const OVERFLOW: &str = "other";

/// Counters of the run and the series each one is exposed as (without the
/// `_total` the encoder appends), with its help.
pub const COUNTERS: [(&str, &str, &str); 6] = [
    (
        names::MESSAGE_LOST,
        "rocketload_message_deliveries_lost",
        "Expected deliveries not received within loss_timeout",
    ),
    (
        names::MESSAGE_DUPLICATE,
        "rocketload_message_deliveries_duplicate",
        "Deliveries received more than once",
    ),
    (
        names::MESSAGE_CROSS_SHARD,
        "rocketload_message_deliveries_cross_shard",
        "Deliveries of messages another shard sent (in message.e2e, timed by the sender host's clock)",
    ),
    (
        names::ITERATIONS_DROPPED,
        "rocketload_arrivals_dropped",
        "Open model: arrivals that found no free VU within max_queue",
    ),
    (
        names::DDP_RECONNECTS,
        "rocketload_ddp_reconnects",
        "Websocket sessions re-established after a drop",
    ),
    (
        names::DDP_DISCONNECTS,
        "rocketload_ddp_disconnects",
        "Kept websocket sessions that dropped",
    ),
];

/// The labels of `rocketload_run_info`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLabels {
    pub scenario: String,
    pub run_id: String,
    /// `I/N`; `1/1` for a run that is not sharded.
    pub shard: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub run: Option<RunLabels>,
    pub model: Option<Model>,
    /// Open model: the VU pool.
    pub max_vus: Option<u32>,
    /// Operations by metric: latency of successes.
    pub latency: BTreeMap<String, Buckets>,
    /// Operations by metric: successes and failures.
    pub operations: BTreeMap<String, u64>,
    /// Failures by (metric, error class).
    pub errors: BTreeMap<(String, String), u64>,
    pub e2e: Buckets,
    pub lag: Buckets,
    /// Successful iterations' durations.
    pub iteration: Buckets,
    pub iterations: u64,
    pub iterations_failed: u64,
    /// By the run's counter name (the first column of [`COUNTERS`]).
    pub counters: BTreeMap<&'static str, u64>,
    pub vus_active: i64,
    /// The generator's CPU in % of the cores it may use, once sampled.
    pub cpu_pct: Option<i64>,
    /// The plan's level: VUs (closed) or arrivals/s (open).
    pub level: f64,
    /// Scrapes answered so far.
    pub scrapes: u64,
}

impl State {
    pub fn new() -> State {
        State {
            // Present from the start, so rate() has a zero to start from.
            counters: COUNTERS.iter().map(|(name, ..)| (*name, 0)).collect(),
            ..State::default()
        }
    }

    /// A measurement starts (again, with `run --repeat`): new run labels;
    /// the counters go on adding up, so they never go down.
    pub fn start(&mut self, info: &RunInfo) {
        self.run = Some(RunLabels {
            scenario: info.scenario.clone(),
            run_id: info.id.clone(),
            shard: info
                .shard
                .map_or_else(|| "1/1".into(), |s| format!("{}/{}", s.index, s.count)),
        });
        self.model = Some(info.load.model);
        self.max_vus = info.load.max_vus;
    }

    /// Adds one interval.
    pub fn add(&mut self, tick: &Tick<'_>) {
        let iv = tick.interval;
        for (name, m) in &iv.metrics {
            match name.as_str() {
                names::MESSAGE_E2E => self.e2e.add(&m.latency),
                names::GENERATOR_LAG => self.lag.add(&m.latency),
                names::ITERATIONS => {
                    self.iteration.add(&m.latency);
                    self.iterations += m.count();
                    self.iterations_failed += m.error_count();
                }
                _ if names::is_operation(name) => {
                    let metric = self.metric_label(name);
                    self.latency
                        .entry(metric.clone())
                        .or_default()
                        .add(&m.latency);
                    *self.operations.entry(metric.clone()).or_default() += m.count();
                    for (class, n) in &m.errors {
                        let key = self.error_key(&metric, class);
                        *self.errors.entry(key).or_default() += n;
                    }
                }
                // Other observations have no series yet.
                _ => {}
            }
        }
        for (name, n) in &iv.counters {
            if let Some(c) = self.counters.get_mut(name.as_str()) {
                *c = c.saturating_add(*n);
            }
        }
        if let Some(v) = iv.gauges.get(names::VUS_ACTIVE) {
            self.vus_active = *v;
        }
        if let Some(v) = iv.gauges.get(names::GENERATOR_CPU_PCT) {
            self.cpu_pct = Some(*v);
        }
        self.level = tick.level;
    }

    /// `name`, or [`OVERFLOW`] once the metric families are full.
    fn metric_label(&self, name: &str) -> String {
        if self.operations.contains_key(name) || self.operations.len() < MAX_SERIES {
            name.to_string()
        } else {
            OVERFLOW.to_string()
        }
    }

    /// (metric, class), the class [`OVERFLOW`] once the family is full.
    fn error_key(&self, metric: &str, class: &str) -> (String, String) {
        let key = (metric.to_string(), class.to_string());
        if self.errors.len() < MAX_SERIES || self.errors.contains_key(&key) {
            key
        } else {
            (metric.to_string(), OVERFLOW.to_string())
        }
    }

    /// VUs the plan allows now: closed model the stage's level, open model
    /// the pool.
    pub fn vus_planned(&self) -> Option<f64> {
        match self.model? {
            Model::Closed => Some(self.level),
            Model::Open => self.max_vus.map(f64::from),
        }
    }

    /// Open model: the planned arrivals/s now.
    pub fn arrivals_planned(&self) -> Option<f64> {
        (self.model? == Model::Open).then_some(self.level)
    }
}
