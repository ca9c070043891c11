//! Live Prometheus metrics of a running measurement (`run --metrics-listen
//! ADDR`): an [`IntervalSink`] adds every interval up on the collector
//! thread; the shared `/metrics` endpoint (`crate::exposition`) answers
//! scrapes on a thread of its own. Latencies are histograms built exactly
//! from the per-interval HDR histograms (see `buckets`), so the shards of
//! a run add up in Prometheus with `sum by (le)`.
//!
//! After the run the endpoint waits for one scrape of the final state
//! (bounded by `--metrics-linger`), so Prometheus does not miss the last
//! interval when the process exits right after it.

mod buckets;
mod encode;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use super::error::ResultsError;
use super::{IntervalSink, RunInfo, Tick};
use crate::exposition::{self, Exposition, MetricsServer};

pub use buckets::{BOUNDS_US, Buckets};
pub use state::{COUNTERS, MAX_SERIES};

/// Name of the endpoint's thread (the generator's own, not the embedded
/// server's: its CPU counts as the generator's).
const THREAD_NAME: &str = "live-metrics";

/// The live series; cheap to clone, shared by the sinks of every
/// measurement of the process and by the endpoint.
#[derive(Clone)]
pub struct LiveMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<Mutex<state::State>>,
    registry: Registry,
    /// Scrapes answered, sent under the state lock (see [`LiveServer::linger`]).
    scrapes: Arc<watch::Sender<u64>>,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        LiveMetrics::new()
    }
}

impl LiveMetrics {
    pub fn new() -> LiveMetrics {
        let state = Arc::new(Mutex::new(state::State::new()));
        let scrapes = Arc::new(watch::channel(0).0);
        let mut registry = Registry::default();
        registry.register_collector(Box::new(StateCollector {
            state: state.clone(),
            scrapes: scrapes.clone(),
        }));
        LiveMetrics {
            inner: Arc::new(Inner {
                state,
                registry,
                scrapes,
            }),
        }
    }

    /// A sink for one measurement.
    pub fn sink(&self) -> LiveSink {
        LiveSink(self.clone())
    }

    fn state(&self) -> MutexGuard<'_, state::State> {
        lock(&self.inner.state)
    }
}

impl Exposition for LiveMetrics {
    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        Ok(out)
    }
}

fn lock(m: &Mutex<state::State>) -> MutexGuard<'_, state::State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Encodes the state on each scrape and counts the scrape.
struct StateCollector {
    state: Arc<Mutex<state::State>>,
    scrapes: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for StateCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateCollector")
    }
}

impl Collector for StateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Encoded and counted under one lock: a counted scrape saw all of
        // an interval or none of it.
        let mut state = lock(&self.state);
        encode::encode_state(&state, &mut encoder)?;
        state.scrapes += 1;
        self.scrapes.send_replace(state.scrapes);
        Ok(())
    }
}

/// The sink of one measurement: the collector thread adds each interval.
pub struct LiveSink(LiveMetrics);

impl IntervalSink for LiveSink {
    fn start(&mut self, info: &RunInfo) {
        self.0.state().start(info);
    }

    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError> {
        self.0.state().add(tick);
        Ok(())
    }
}

/// The `--metrics-listen` address could not be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve live metrics on {addr}: {source}")]
pub struct LiveError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// The endpoint of a run's live metrics, bound before any load.
pub struct LiveServer {
    metrics: LiveMetrics,
    server: MetricsServer,
}

/// How the wait for a final scrape ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger {
    /// A scrape read the final state.
    Scraped,
    /// None came within the bound.
    TimedOut,
    /// Ctrl-C.
    Interrupted,
}

impl LiveServer {
    /// Binds `addr` now and serves `/metrics` from then on (nothing until
    /// the first measurement starts but the counters at zero).
    pub fn bind(addr: SocketAddr) -> Result<LiveServer, LiveError> {
        let err = |source| LiveError { addr, source };
        let listener = exposition::bind(addr).map_err(err)?;
        let metrics = LiveMetrics::new();
        let server =
            exposition::serve(listener, THREAD_NAME.into(), metrics.clone()).map_err(err)?;
        Ok(LiveServer { metrics, server })
    }

    pub fn metrics(&self) -> &LiveMetrics {
        &self.metrics
    }

    /// `http://ADDR/metrics`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Waits until a scrape reads the state as it is now (the run's end),
    /// at most `bound` or until Ctrl-C, then stops the endpoint.
    pub async fn linger(self, bound: Duration) -> Linger {
        let mut scrapes = self.metrics.inner.scrapes.subscribe();
        // Read under the state lock: every later scrape saw the final state.
        let seen = {
            let _state = self.metrics.state();
            *scrapes.borrow_and_update()
        };
        let outcome = if bound.is_zero() {
            Linger::TimedOut
        } else {
            tokio::select! {
                r = tokio::time::timeout(bound, scrapes.wait_for(|n| *n > seen)) => match r {
                    Ok(Ok(_)) => Linger::Scraped,
                    _ => Linger::TimedOut,
                },
                _ = tokio::signal::ctrl_c() => Linger::Interrupted,
            }
        };
        // Answers the scrape in flight before the thread ends.
        self.server.shutdown();
        outcome
    }
}

#[cfg(test)]
mod tests;
