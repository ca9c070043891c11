//! What both load models share: the seam to a VU (real or fake), stop
//! signals, and the observer that counts for the metrics and the status.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A VU as the executors see it. The real one logs in and talks to the
/// server (`vu.rs`); tests use a fake without network.
pub trait VuDriver: Send + Sync + 'static {
    type Vu: Send + 'static;
    /// Creates VU `index` and runs its behaviour's `setup` once.
    fn create(&self, index: u32, stop: StopFlag) -> impl Future<Output = Self::Vu> + Send;
    /// Runs one iteration. `intended` is the open model's scheduled start
    /// (latency counts from it). Returns false when a stop cut it short.
    fn iteration(
        &self,
        vu: &mut Self::Vu,
        intended: Option<Instant>,
    ) -> impl Future<Output = bool> + Send;
    /// Closes the VU's connections (also after a hard cancel).
    fn retire(&self, vu: Self::Vu) -> impl Future<Output = ()> + Send;
    /// At the end of the run, after the VU stopped and before it retires:
    /// keep its connections while deliveries still arrive (the real VU waits
    /// for the e2e tracker to settle). Bounded by the graceful stop.
    fn linger(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Graceful stop of one VU: it finishes the step it is in, then exits.
/// Waits (think, wait_for_message, reconnect backoff) end early on it.
#[derive(Clone, Debug)]
pub struct StopFlag(watch::Receiver<bool>);

/// The sending half, kept by the executor.
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

pub fn stop_pair() -> (StopHandle, StopFlag) {
    let (tx, rx) = watch::channel(false);
    (StopHandle(tx), StopFlag(rx))
}

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl StopFlag {
    /// A flag that never fires (tests, tools).
    pub fn never() -> StopFlag {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `stopped()` stays pending.
        std::mem::forget(tx);
        StopFlag(rx)
    }

    pub fn from_watch(rx: watch::Receiver<bool>) -> StopFlag {
        StopFlag(rx)
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the flag is set (or its sender is gone).
    pub async fn stopped(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Sleeps for `d` unless stopped first; true when the sleep completed.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.stopped() => false,
        }
    }
}

/// Counts kept by the executors, read by `execute()` for the status line,
/// the `vus.active` gauge and the report.
#[derive(Default, Debug)]
pub struct ExecCounters {
    pub active: AtomicI64,
    pub iterations: AtomicU64,
    pub interrupted: AtomicU64,
    pub dropped: AtomicU64,
}

/// Called by the executors as things happen (metrics, status).
pub trait ExecObserver: Send + Sync + 'static {
    fn dropped(&self, _n: u64) {}
    fn iteration(&self, _completed: bool) {}
}

/// An observer that only counts (the counters are always kept).
pub struct NoObserver;
impl ExecObserver for NoObserver {}

/// The counters plus the observer, shared by every task of an executor.
pub struct Shared {
    pub counters: Arc<ExecCounters>,
    pub observer: Arc<dyn ExecObserver>,
    /// Set when the stages ended: stopping VUs linger before retiring
    /// (a ramp-down's VUs leave at once).
    ending: AtomicBool,
}

impl Shared {
    pub fn new(counters: Arc<ExecCounters>, observer: Arc<dyn ExecObserver>) -> Arc<Shared> {
        Arc::new(Shared {
            counters,
            observer,
            ending: AtomicBool::new(false),
        })
    }

    pub fn set_ending(&self) {
        self.ending.store(true, Ordering::SeqCst);
    }

    pub fn is_ending(&self) -> bool {
        self.ending.load(Ordering::SeqCst)
    }

    pub fn count_iteration(&self, completed: bool) {
        if completed {
            self.counters.iterations.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.interrupted.fetch_add(1, Ordering::Relaxed);
        }
        self.observer.iteration(completed);
    }

    pub fn count_dropped(&self, n: u64) {
        if n > 0 {
            self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            self.observer.dropped(n);
        }
    }

    pub fn active(&self, delta: i64) {
        self.counters.active.fetch_add(delta, Ordering::Relaxed);
    }
}

/// How an executor run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The stages ran out (VUs got the graceful stop).
    Completed,
    /// The run's stop signal fired (Ctrl-C): VUs were cancelled at once.
    Interrupted,
}

/// Retiring a VU (closing sockets) must not hold up the end of the run.
pub const RETIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The end of one VU, in both load models: an iteration cut short is
/// counted; at the end of the run the VU lingers for deliveries still in
/// flight (unless cancelled); then it retires within RETIRE_TIMEOUT.
pub async fn finish_vu<D: VuDriver>(
    driver: &D,
    vu: D::Vu,
    shared: &Shared,
    cancel: &StopFlag,
    in_flight: bool,
) {
    if in_flight {
        shared.count_iteration(false);
    }
    if shared.is_ending() && !cancel.is_stopped() {
        tokio::select! {
            _ = driver.linger() => {}
            _ = cancel.stopped() => {}
        }
    }
    let _ = tokio::time::timeout(RETIRE_TIMEOUT, driver.retire(vu)).await;
}
