//! `Metrics`: per-thread shards merged once per interval.
//!
//! Each thread that records gets its own shard (a mutex that only that
//! thread and the collector ever take), registered once in the shared
//! registry. The record path touches no shared lock: a thread-local lookup,
//! an uncontended lock, a histogram increment.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use super::error_class::ErrorClass;
use super::histogram::{merge_into, new_histogram, record_duration};
use super::interval::{Interval, MetricInterval};

/// An interned metric name. Cheap to copy; cache it rather than calling
/// [`Metrics::id`] per operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetricId(u32);

/// One timed operation.
#[derive(Clone, Debug)]
pub struct Sample {
    /// From the intended start (open model: the scheduled arrival time), so
    /// queueing behind a stalled server counts (coordinated-omission corrected).
    pub latency: Duration,
    /// From the actual start of the operation (uncorrected).
    pub service: Duration,
    /// Success, or why it failed.
    pub outcome: Result<(), ErrorClass>,
}

impl Sample {
    /// A success whose intended and actual start coincide.
    pub fn ok(d: Duration) -> Sample {
        Sample {
            latency: d,
            service: d,
            outcome: Ok(()),
        }
    }

    /// A failure after `d`.
    pub fn err(d: Duration, class: ErrorClass) -> Sample {
        Sample {
            latency: d,
            service: d,
            outcome: Err(class),
        }
    }
}

/// A value set from anywhere (e.g. `vus.active`); read at each snapshot.
#[derive(Clone, Debug)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The metrics sink. Clone freely: clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// Distinguishes registries in the thread-local shard lists.
    uid: u64,
    names: RwLock<Names>,
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Used when the thread-local is unavailable (thread teardown).
    fallback: Arc<Shard>,
    gauges: Mutex<BTreeMap<&'static str, Arc<AtomicI64>>>,
    started: Instant,
    last: Mutex<(Instant, u64)>,
}

#[derive(Default)]
struct Names {
    by_name: HashMap<String, u32>,
    names: Vec<String>,
}

#[derive(Default)]
struct Shard {
    data: Mutex<ShardData>,
}

#[derive(Default)]
struct ShardData {
    timed: Vec<Option<TimedShard>>,
    counters: Vec<Option<u64>>,
}

struct TimedShard {
    latency: Histogram<u64>,
    /// Created on the first sample whose service time differs from its
    /// latency; until then service equals latency (saves a histogram).
    service: Option<Histogram<u64>>,
    ok: u64,
    errors: HashMap<ErrorClass, u64>,
}

impl TimedShard {
    fn new() -> TimedShard {
        TimedShard {
            latency: new_histogram(),
            service: None,
            ok: 0,
            errors: HashMap::new(),
        }
    }

    fn record(&mut self, s: Sample) {
        match s.outcome {
            Ok(()) => {
                if self.service.is_none() && s.service != s.latency {
                    self.service = Some(self.latency.clone());
                }
                if let Some(service) = &mut self.service {
                    record_duration(service, s.service);
                }
                record_duration(&mut self.latency, s.latency);
                self.ok += 1;
            }
            Err(class) => *self.errors.entry(class).or_default() += 1,
        }
    }

    fn is_empty(&self) -> bool {
        self.ok == 0 && self.errors.is_empty()
    }

    /// Moves the samples into `out` and leaves the shard empty (its
    /// histograms stay allocated for reuse).
    fn drain_into(&mut self, out: &mut MetricInterval) {
        let fresh = out.ok == 0 && out.latency.is_empty() && out.service.is_empty();
        if fresh {
            // First shard of this metric in the interval: hand over the
            // histograms and keep the interval's empty ones (no copy, no
            // clearing of ~190 KB per histogram).
            std::mem::swap(&mut out.latency, &mut self.latency);
            match &mut self.service {
                Some(service) => std::mem::swap(&mut out.service, service),
                None => merge_into(&mut out.service, &out.latency),
            }
        } else {
            merge_into(&mut out.latency, &self.latency);
            merge_into(
                &mut out.service,
                self.service.as_ref().unwrap_or(&self.latency),
            );
            self.latency.reset();
            if let Some(s) = &mut self.service {
                s.reset();
            }
        }
        out.ok += self.ok;
        for (class, n) in self.errors.drain() {
            *out.errors.entry(class.key()).or_default() += n;
        }
        self.ok = 0;
    }
}

impl ShardData {
    fn record(&mut self, id: MetricId, s: Sample) {
        let i = id.0 as usize;
        if self.timed.len() <= i {
            self.timed.resize_with(i + 1, || None);
        }
        self.timed[i].get_or_insert_with(TimedShard::new).record(s);
    }

    fn add(&mut self, id: MetricId, n: u64) {
        let i = id.0 as usize;
        if self.counters.len() <= i {
            self.counters.resize(i + 1, None);
        }
        let c = self.counters[i].get_or_insert(0);
        *c = c.saturating_add(n);
    }
}

struct LocalShard {
    uid: u64,
    owner: Weak<Inner>,
    shard: Arc<Shard>,
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalShard>> = const { RefCell::new(Vec::new()) };
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

/// A poisoned lock only means another thread panicked mid-update of
/// counts; the counts are still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A new, empty registry. The run's elapsed time counts from here.
    pub fn new() -> Metrics {
        let now = Instant::now();
        Metrics {
            inner: Arc::new(Inner {
                uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
                names: RwLock::new(Names::default()),
                shards: Mutex::new(Vec::new()),
                fallback: Arc::new(Shard::default()),
                gauges: Mutex::new(BTreeMap::new()),
                started: now,
                last: Mutex::new((now, unix_ms_now())),
            }),
        }
    }

    /// Interns a dotted metric name (`rest.chat.postMessage`). The same name
    /// always gives the same id; timed samples and counters share the table.
    pub fn id(&self, name: &str) -> MetricId {
        {
            let names = self
                .inner
                .names
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(&i) = names.by_name.get(name) {
                return MetricId(i);
            }
        }
        let mut names = self
            .inner
            .names
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = names.by_name.get(name) {
            return MetricId(i);
        }
        let i = u32::try_from(names.names.len()).unwrap_or(u32::MAX);
        names.names.push(name.to_owned());
        names.by_name.insert(name.to_owned(), i);
        MetricId(i)
    }

    /// Records one timed operation. Never panics; out-of-range durations
    /// are clamped to 1 h.
    pub fn record(&self, id: MetricId, sample: Sample) {
        self.with_shard(|d| d.record(id, sample));
    }

    /// Adds `n` to a counter (`message.lost`, `iterations.dropped`, ...).
    pub fn add(&self, id: MetricId, n: u64) {
        self.with_shard(|d| d.add(id, n));
    }

    /// The gauge of that name (created at 0 on first use; the same gauge
    /// for every call with the same name).
    pub fn gauge(&self, name: &'static str) -> Gauge {
        let mut gauges = lock(&self.inner.gauges);
        Gauge(gauges.entry(name).or_default().clone())
    }

    /// Time since this registry was created.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Collects every shard into one interval and resets them. Called once
    /// per interval by the collector.
    pub fn snapshot(&self) -> Interval {
        let now = Instant::now();
        let now_unix_ms = unix_ms_now();
        let (prev, prev_unix_ms) =
            std::mem::replace(&mut *lock(&self.inner.last), (now, now_unix_ms));

        let mut timed: Vec<Option<MetricInterval>> = Vec::new();
        let mut counters: Vec<Option<u64>> = Vec::new();
        let mut collect = |shard: &Shard| {
            let mut d = lock(&shard.data);
            for (i, slot) in d.timed.iter_mut().enumerate() {
                if let Some(t) = slot.as_mut().filter(|t| !t.is_empty()) {
                    if timed.len() <= i {
                        timed.resize_with(i + 1, || None);
                    }
                    t.drain_into(timed[i].get_or_insert_with(MetricInterval::default));
                }
            }
            for (i, slot) in d.counters.iter_mut().enumerate() {
                if let Some(n) = slot.take() {
                    if counters.len() <= i {
                        counters.resize(i + 1, None);
                    }
                    let c = counters[i].get_or_insert(0);
                    *c = c.saturating_add(n);
                }
            }
        };
        {
            let mut shards = lock(&self.inner.shards);
            for s in shards.iter() {
                collect(s);
            }
            // Threads that exited dropped their handle: nobody can record
            // into their shard again. Drain once more (the thread may have
            // recorded after the pass above) and forget it.
            shards.retain(|s| {
                let alive = Arc::strong_count(s) > 1;
                if !alive {
                    collect(s);
                }
                alive
            });
        }
        collect(&self.inner.fallback);

        let names = self
            .inner
            .names
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let name_of = |i: usize| {
            names
                .names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("metric.{i}"))
        };
        let metrics = timed
            .into_iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (name_of(i), m)))
            .collect();
        let counters = counters
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| c.map(|c| (name_of(i), c)))
            .collect();
        drop(names);
        let gauges = lock(&self.inner.gauges)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.load(Ordering::Relaxed)))
            .collect();
        Interval {
            start_unix_ms: prev_unix_ms,
            elapsed: now.duration_since(self.inner.started),
            duration: now.duration_since(prev),
            metrics,
            counters,
            gauges,
        }
    }

    /// A handle that does not keep the registry alive (background tasks
    /// stop once every `Metrics` clone is gone).
    pub(crate) fn downgrade(&self) -> WeakMetrics {
        WeakMetrics(Arc::downgrade(&self.inner))
    }

    fn with_shard(&self, f: impl FnOnce(&mut ShardData)) {
        let mut f = Some(f);
        // Fails only during thread teardown or re-entrance: use the fallback.
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            let pos = match local.iter().position(|l| l.uid == self.inner.uid) {
                Some(pos) => pos,
                None => {
                    // First record of this thread into this registry: drop
                    // entries of registries that are gone, register a shard.
                    local.retain(|l| l.owner.strong_count() > 0);
                    let shard = Arc::new(Shard::default());
                    lock(&self.inner.shards).push(shard.clone());
                    local.push(LocalShard {
                        uid: self.inner.uid,
                        owner: Arc::downgrade(&self.inner),
                        shard,
                    });
                    local.len() - 1
                }
            };
            if let Some(f) = f.take() {
                f(&mut lock(&local[pos].shard.data));
            }
        });
        if let Some(f) = f.take() {
            f(&mut lock(&self.inner.fallback.data));
        }
    }
}

/// See [`Metrics::downgrade`].
#[derive(Clone)]
pub(crate) struct WeakMetrics(Weak<Inner>);

impl WeakMetrics {
    pub(crate) fn upgrade(&self) -> Option<Metrics> {
        self.0.upgrade().map(|inner| Metrics { inner })
    }
}
