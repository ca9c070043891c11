//! Rocket.Chat-style Prometheus metrics of the reference server
//! (`serve --metrics-listen ADDR`, `GET /metrics`).
//!
//! Names follow Rocket.Chat (`apps/meteor/app/metrics/server/lib/metrics.ts`)
//! so dashboards built for it work, with these honest
//! differences:
//! - `rocketchat_rest_api`, `rocketchat_meteor_methods` and
//!   `rocketchat_meteor_subscriptions` are summaries in Rocket.Chat; here they
//!   are histograms (seconds) with the same labels, so `_sum` and `_count`
//!   match and quantiles come from `histogram_quantile` over `_bucket`.
//!   `rocketchat_rest_api` omits `user_agent` (RC fills it only with the
//!   off-by-default `Prometheus_API_User_Agent`).
//! - `rocketchat_message_sent` keeps its exact sample name, so it is exposed
//!   with type `unknown` (an OpenMetrics counter would be renamed `_total`).
//! - `nodejs_eventloop_lag_seconds{instance}` is one series per instance (each
//!   instance is one "process"), from a probe task on that instance's runtime:
//!   the overshoot of a 100 ms timer, so the floor is tokio's 1 ms timer
//!   granularity. `_p50/_p90/_p99` are over the last 10 s of samples.
//! - process metrics are for the whole server process (all instances).
//!
//! Gauges that describe stored data are read at scrape time through
//! [`StoreGauges`], which the server core implements. The hot path (an
//! observation) is a read lock on the series map plus relaxed atomic adds.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the timing histograms.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Beyond this many label sets per family, new names are recorded as "other"
/// (clients choose method and publication names; memory must stay bounded).
const MAX_SERIES: usize = 2000;
/// Event-loop probe period and the number of samples kept for quantiles (10 s).
const LAG_PERIOD: Duration = Duration::from_millis(100);
const LAG_WINDOW: usize = 100;

/// Counts of stored data, read on every scrape (implemented by the server core).
pub trait StoreGauges: Send + Sync + 'static {
    /// `rocketchat_users_total`
    fn users(&self) -> u64;
    /// `rocketchat_rooms_total` (all rooms)
    fn rooms(&self) -> u64;
    /// `rocketchat_channels_total` (public rooms)
    fn channels(&self) -> u64;
    /// `rocketchat_messages_total`
    fn messages(&self) -> u64;
    /// `rocketchat_ddp_sessions_count` (open DDP connections, all instances)
    fn ddp_sessions(&self) -> u64;
    /// `rocketchat_ddp_sessions_auth` (DDP connections that are logged in)
    fn ddp_sessions_auth(&self) -> u64;
    /// `rocketchat_ddp_connected_users` (distinct users with a DDP connection)
    fn ddp_connected_users(&self) -> u64;
}

/// The server's metrics; cheap to clone, shared by every instance.
#[derive(Clone)]
pub struct ServerMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    rest: Series<RestLabels>,
    methods: Series<MethodLabels>,
    subs: Series<SubLabels>,
    message_sent: MessageSent,
    lag: Arc<LagProbes>,
    store: StoreSlot,
}

/// Where the store gauges come from (set after construction).
type StoreSlot = Arc<Mutex<Option<Weak<dyn StoreGauges>>>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestLabels {
    method: String,
    entrypoint: String,
    status: u16,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
    has_connection: bool,
    has_user: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubLabels {
    subscription: String,
}

impl ServerMetrics {
    /// `instances` and `version` are constant gauges (`rocketchat_instance_count`,
    /// `rocketchat_version{version}`). Store gauges appear once
    /// [`ServerMetrics::attach_store`] is called.
    pub fn new(instances: usize, version: &str) -> ServerMetrics {
        let store: StoreSlot = Arc::new(Mutex::new(None));
        let mut registry = Registry::default();
        let rest = Series::<RestLabels>::new();
        let methods = Series::<MethodLabels>::new();
        let subs = Series::<SubLabels>::new();
        let message_sent = MessageSent::default();
        let lag = Arc::new(LagProbes::new(instances));
        registry.register(
            "rocketchat_rest_api",
            "REST API calls (seconds; histogram, RC has a summary)",
            rest.family.clone(),
        );
        registry.register(
            "rocketchat_meteor_methods",
            "DDP method calls (seconds; histogram, RC has a summary)",
            methods.family.clone(),
        );
        registry.register(
            "rocketchat_meteor_subscriptions",
            "DDP subscriptions (seconds; histogram, RC has a summary)",
            subs.family.clone(),
        );
        registry.register(
            "rocketchat_message_sent",
            "Messages sent (counter; type unknown to keep RC's sample name)",
            message_sent.clone(),
        );
        registry.register_collector(Box::new(ScrapeGauges {
            store: store.clone(),
            instances: instances as u64,
            version: version.to_string(),
            lag: lag.clone(),
        }));
        ServerMetrics {
            inner: Arc::new(Inner {
                registry,
                rest,
                methods,
                subs,
                message_sent,
                lag,
                store,
            }),
        }
    }

    /// Sets what the store gauges are read from on each scrape. A `Weak`,
    /// because the store's owner usually holds these metrics too (no cycle);
    /// once the store is gone its gauges are left out.
    pub fn attach_store(&self, store: Weak<dyn StoreGauges>) {
        *self.inner.store.lock().unwrap_or_else(|p| p.into_inner()) = Some(store);
    }

    /// One REST call: `method` as sent (`POST`), `entrypoint` the route path
    /// (`/api/v1/chat.postMessage`), the answered `status`.
    pub fn observe_rest(&self, method: &str, entrypoint: &str, status: u16, elapsed: Duration) {
        let version = if entrypoint.starts_with("/api/v1/") {
            "v1"
        } else {
            ""
        };
        let labels = |entrypoint: &str| RestLabels {
            method: method.to_string(),
            entrypoint: entrypoint.to_string(),
            status,
            version: version.to_string(),
        };
        self.inner
            .rest
            .observe(labels(entrypoint), || labels("other"), elapsed);
    }

    /// One DDP method call.
    pub fn observe_method(
        &self,
        name: &str,
        has_connection: bool,
        has_user: bool,
        elapsed: Duration,
    ) {
        let labels = |name: &str| MethodLabels {
            method: name.to_string(),
            has_connection,
            has_user,
        };
        self.inner
            .methods
            .observe(labels(name), || labels("other"), elapsed);
    }

    /// One DDP subscription, until `ready` (or `nosub`).
    pub fn observe_sub(&self, publication: &str, elapsed: Duration) {
        let labels = |name: &str| SubLabels {
            subscription: name.to_string(),
        };
        self.inner
            .subs
            .observe(labels(publication), || labels("other"), elapsed);
    }

    /// One message stored (REST or DDP).
    pub fn message_sent(&self) {
        self.inner.message_sent.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The event-loop probe of instance `idx`: spawn it on that instance's
    /// runtime; it runs until the runtime shuts down.
    pub fn register_instance_lag(&self, idx: usize) -> impl Future<Output = ()> + Send + 'static {
        let lag = self.inner.lag.clone();
        async move {
            loop {
                let start = Instant::now();
                tokio::time::sleep(LAG_PERIOD).await;
                lag.record(idx, start.elapsed().saturating_sub(LAG_PERIOD));
            }
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        Ok(out)
    }
}

/// A family of timings with a bound on its label sets: past [`MAX_SERIES`],
/// new label sets are recorded under the "other" label set.
struct Series<L> {
    family: Family<L, Timing>,
    /// Label sets created (prometheus-client exposes no `len` outside tests).
    len: AtomicUsize,
}

impl<L: Clone + std::hash::Hash + Eq> Series<L> {
    fn new() -> Series<L> {
        Series {
            family: Family::default(),
            len: AtomicUsize::new(0),
        }
    }

    fn observe(&self, labels: L, other: impl FnOnce() -> L, elapsed: Duration) {
        if let Some(timing) = self.family.get(&labels) {
            timing.observe(elapsed);
            return;
        }
        // Racing creators may overshoot the cap by a few; it stays bounded.
        let labels = if self.len.fetch_add(1, Ordering::Relaxed) < MAX_SERIES {
            labels
        } else {
            other()
        };
        self.family.get_or_create(&labels).observe(elapsed);
    }
}

/// A histogram of durations in atomics: observers on different instance
/// threads never wait for each other (prometheus-client's takes a mutex).
#[derive(Debug, Default, Clone)]
struct Timing(Arc<TimingInner>);

#[derive(Debug, Default)]
struct TimingInner {
    /// Non-cumulative counts per bucket of [`BUCKETS`], then +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

impl Timing {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let idx = BUCKETS.partition_point(|&upper| upper < seconds);
        let t = &self.0;
        t.buckets[idx].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        t.sum_ns.fetch_add(ns, Ordering::Relaxed);
        t.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl TypedMetric for Timing {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Timing {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.0;
        let bounds = BUCKETS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(t.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        // Count from the buckets so `_count` equals the +Inf bucket even while
        // observers are mid-update.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = t.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// `rocketchat_message_sent`, typed `unknown` so the sample keeps RC's name.
#[derive(Debug, Default, Clone)]
struct MessageSent(Arc<AtomicU64>);

impl EncodeMetric for MessageSent {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.load(Ordering::Relaxed))
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Unknown
    }
}

/// Recent event-loop lag samples (seconds) per instance.
#[derive(Debug)]
struct LagProbes {
    instances: Vec<Mutex<VecDeque<f64>>>,
}

impl LagProbes {
    fn new(instances: usize) -> LagProbes {
        LagProbes {
            instances: (0..instances)
                .map(|_| Mutex::new(VecDeque::with_capacity(LAG_WINDOW)))
                .collect(),
        }
    }

    fn record(&self, idx: usize, lag: Duration) {
        let Some(slot) = self.instances.get(idx) else {
            return;
        };
        let mut samples = slot.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == LAG_WINDOW {
            samples.pop_front();
        }
        samples.push_back(lag.as_secs_f64());
    }

    /// The recent lag of instance `idx`, if it has samples.
    fn summary(&self, idx: usize) -> Option<LagSummary> {
        let samples = self
            .instances
            .get(idx)?
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last = *samples.back()?;
        let mut sorted: Vec<f64> = samples.iter().copied().collect();
        drop(samples);
        sorted.sort_by(f64::total_cmp);
        let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
        Some(LagSummary {
            last,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
        })
    }
}

/// Lag in seconds: the latest sample and quantiles over the window.
#[derive(Clone, Copy, Debug)]
struct LagSummary {
    last: f64,
    p50: f64,
    p90: f64,
    p99: f64,
}

/// Picks one figure of a [`LagSummary`] for one exposed series.
type LagPick = fn(&LagSummary) -> f64;

/// Everything computed at scrape time: store counts, constants, process
/// figures from /proc/self, event-loop lag.
#[derive(Debug)]
struct ScrapeGauges {
    store: StoreSlot,
    instances: u64,
    version: String,
    lag: Arc<LagProbes>,
}

impl std::fmt::Debug for dyn StoreGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreGauges")
    }
}

impl Collector for ScrapeGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(s) = store.and_then(|weak| weak.upgrade()) {
            let gauges: [(&str, &str, u64); 7] = [
                ("rocketchat_users_total", "Users stored", s.users()),
                ("rocketchat_rooms_total", "Rooms stored", s.rooms()),
                (
                    "rocketchat_channels_total",
                    "Public rooms stored",
                    s.channels(),
                ),
                ("rocketchat_messages_total", "Messages stored", s.messages()),
                (
                    "rocketchat_ddp_sessions_count",
                    "Open DDP sessions",
                    s.ddp_sessions(),
                ),
                (
                    "rocketchat_ddp_sessions_auth",
                    "Logged-in DDP sessions",
                    s.ddp_sessions_auth(),
                ),
                (
                    "rocketchat_ddp_connected_users",
                    "Distinct users with a DDP session",
                    s.ddp_connected_users(),
                ),
            ];
            for (name, help, value) in gauges {
                let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                ConstGauge::new(value).encode(metric)?;
            }
        }
        let metric = encoder.encode_descriptor(
            "rocketchat_instance_count",
            "Server instances",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.instances).encode(metric)?;
        let mut metric = encoder.encode_descriptor(
            "rocketchat_version",
            "Server version (value 1)",
            None,
            MetricType::Gauge,
        )?;
        let labels = [("version", self.version.as_str())];
        ConstGauge::new(1u64).encode(metric.encode_family(&labels)?)?;

        if let Some(p) = ProcessStats::read() {
            for (name, help, value) in [
                (
                    "process_cpu_user_seconds",
                    "User CPU time (s)",
                    p.user_seconds,
                ),
                (
                    "process_cpu_system_seconds",
                    "System CPU time (s)",
                    p.system_seconds,
                ),
                (
                    "process_cpu_seconds",
                    "Total CPU time (s)",
                    p.user_seconds + p.system_seconds,
                ),
            ] {
                let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
                prometheus_client::metrics::counter::ConstCounter::new(value).encode(metric)?;
            }
            let metric = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                MetricType::Gauge,
            )?;
            ConstGauge::new(p.resident_bytes).encode(metric)?;
        }

        let lag: Vec<(String, LagSummary)> = (0..self.instances as usize)
            .filter_map(|i| self.lag.summary(i).map(|s| (i.to_string(), s)))
            .collect();
        let series: [(&str, &str, LagPick); 4] = [
            (
                "nodejs_eventloop_lag_seconds",
                "Event-loop lag of the instance (s)",
                |s| s.last,
            ),
            (
                "nodejs_eventloop_lag_p50_seconds",
                "Median event-loop lag, last 10 s",
                |s| s.p50,
            ),
            (
                "nodejs_eventloop_lag_p90_seconds",
                "p90 event-loop lag, last 10 s",
                |s| s.p90,
            ),
            (
                "nodejs_eventloop_lag_p99_seconds",
                "p99 event-loop lag, last 10 s",
                |s| s.p99,
            ),
        ];
        for (name, help, pick) in series {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (instance, summary) in &lag {
                let labels = [("instance", instance.as_str())];
                ConstGauge::new(pick(summary)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// CPU and memory of this process, from /proc/self (Linux).
struct ProcessStats {
    user_seconds: f64,
    system_seconds: f64,
    resident_bytes: u64,
}

impl ProcessStats {
    fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        parse_proc(&stat, &statm, ticks, page)
    }
}

/// Parses /proc/self/stat (utime, stime: fields 14 and 15) and statm (resident
/// pages: field 2). The command name (field 2) may contain spaces, so fields
/// are counted after its closing parenthesis.
fn parse_proc(stat: &str, statm: &str, ticks: i64, page: i64) -> Option<ProcessStats> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    // Fields after ")" start at field 3 (state); utime is field 14.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    let page = u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096);
    Some(ProcessStats {
        user_seconds: utime / ticks,
        system_seconds: stime / ticks,
        resident_bytes: resident_pages * page,
    })
}

pub use crate::exposition::{CONTENT_TYPE, MetricsServer};

impl crate::exposition::Exposition for ServerMetrics {
    fn encode(&self) -> Result<String, std::fmt::Error> {
        ServerMetrics::encode(self)
    }
}

/// The `/metrics` router (also usable inside another server).
pub fn router(metrics: ServerMetrics) -> axum::Router {
    crate::exposition::router(metrics)
}

/// Binds `addr` now (so a busy port is an error here) and serves `GET /metrics`
/// on a thread of its own, off the instances' event loops.
pub fn serve(addr: SocketAddr, metrics: ServerMetrics) -> std::io::Result<MetricsServer> {
    let listener = crate::exposition::bind(addr)?;
    crate::exposition::serve(
        listener,
        format!("{}metrics", super::THREAD_PREFIX),
        metrics,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl StoreGauges for Fixed {
        fn users(&self) -> u64 {
            11
        }
        fn rooms(&self) -> u64 {
            5
        }
        fn channels(&self) -> u64 {
            4
        }
        fn messages(&self) -> u64 {
            123
        }
        fn ddp_sessions(&self) -> u64 {
            3
        }
        fn ddp_sessions_auth(&self) -> u64 {
            2
        }
        fn ddp_connected_users(&self) -> u64 {
            1
        }
    }

    /// Metrics of 2 instances and the store they read (keep it alive).
    fn metrics() -> (ServerMetrics, Arc<dyn StoreGauges>) {
        let m = ServerMetrics::new(2, "7.0.0");
        let store: Arc<dyn StoreGauges> = Arc::new(Fixed);
        m.attach_store(Arc::downgrade(&store));
        (m, store)
    }

    #[test]
    fn store_gauges_follow_the_store() {
        let m = ServerMetrics::new(1, "7.0.0");
        assert!(!m.encode().unwrap().contains("rocketchat_users_total"));
        let store: Arc<dyn StoreGauges> = Arc::new(Fixed);
        m.attach_store(Arc::downgrade(&store));
        assert!(m.encode().unwrap().contains("rocketchat_users_total 11"));
        drop(store);
        let text = m.encode().unwrap();
        assert!(!text.contains("rocketchat_users_total"));
        assert!(text.contains("rocketchat_instance_count 1"));
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
    }

    #[test]
    fn exposes_rocketchat_names() {
        let (m, _store) = metrics();
        m.observe_rest(
            "POST",
            "/api/v1/chat.postMessage",
            200,
            Duration::from_millis(3),
        );
        m.observe_rest(
            "POST",
            "/api/v1/chat.postMessage",
            200,
            Duration::from_millis(30),
        );
        m.observe_method("sendMessage", true, true, Duration::from_micros(700));
        m.observe_sub("stream-room-messages", Duration::from_millis(2));
        m.message_sent();
        m.message_sent();
        m.inner.lag.record(1, Duration::from_millis(4));
        let text = m.encode().unwrap();
        let rest =
            r#"{method="POST",entrypoint="/api/v1/chat.postMessage",status="200",version="v1"}"#;
        assert_eq!(
            line(&text, &format!("rocketchat_rest_api_count{rest}"))
                .rsplit(' ')
                .next(),
            Some("2")
        );
        assert!(line(&text, &format!("rocketchat_rest_api_sum{rest}")).ends_with(" 0.033"));
        let le5ms = r#"rocketchat_rest_api_bucket{le="0.005",method="POST",entrypoint="/api/v1/chat.postMessage",status="200",version="v1"}"#;
        assert!(line(&text, le5ms).ends_with(" 1"));
        assert!(text.contains(
            r#"rocketchat_meteor_methods_count{method="sendMessage",has_connection="true",has_user="true"} 1"#
        ));
        assert!(text.contains(
            r#"rocketchat_meteor_subscriptions_count{subscription="stream-room-messages"} 1"#
        ));
        assert!(text.contains("rocketchat_message_sent 2\n"));
        for expected in [
            "rocketchat_users_total 11",
            "rocketchat_rooms_total 5",
            "rocketchat_channels_total 4",
            "rocketchat_messages_total 123",
            "rocketchat_ddp_sessions_count 3",
            "rocketchat_ddp_sessions_auth 2",
            "rocketchat_ddp_connected_users 1",
            "rocketchat_instance_count 2",
            r#"rocketchat_version{version="7.0.0"} 1"#,
            r#"nodejs_eventloop_lag_seconds{instance="1"} 0.004"#,
        ] {
            assert!(text.contains(expected), "{expected} missing in\n{text}");
        }
        assert!(
            !text.contains(r#"instance="0""#),
            "no samples yet for instance 0"
        );
        for name in [
            "process_cpu_user_seconds_total ",
            "process_cpu_system_seconds_total ",
            "process_resident_memory_bytes ",
        ] {
            line(&text, name);
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_sets_are_capped() {
        let (m, _store) = metrics();
        for i in 0..(MAX_SERIES + 10) {
            m.observe_method(&format!("m{i}"), true, false, Duration::from_millis(1));
        }
        let text = m.encode().unwrap();
        let series = text.matches("rocketchat_meteor_methods_count{").count();
        assert_eq!(series, MAX_SERIES + 1);
        assert!(text.contains(r#"rocketchat_meteor_methods_count{method="other",has_connection="true",has_user="false"} 10"#));
    }

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "4242 (rocket load) R 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100 1000 300";
        let p = parse_proc(stat, "5000 300 20 1 0 200 0", 100, 4096).unwrap();
        assert_eq!(p.user_seconds, 2.5);
        assert_eq!(p.system_seconds, 0.75);
        assert_eq!(p.resident_bytes, 300 * 4096);
        assert!(parse_proc("garbage", "", 100, 4096).is_none());
        assert!(ProcessStats::read().is_some(), "this test runs on Linux");
    }

    #[test]
    fn lag_quantiles_over_the_window() {
        let probes = LagProbes::new(1);
        for ms in 1..=200u64 {
            probes.record(0, Duration::from_millis(ms));
        }
        let LagSummary {
            last,
            p50,
            p90,
            p99,
        } = probes.summary(0).unwrap();
        assert_eq!(last, 0.2);
        // The window holds the last 100 samples: 101..=200 ms.
        assert!((0.150..=0.151).contains(&p50), "{p50}");
        assert!((0.190..=0.191).contains(&p90), "{p90}");
        assert!((0.199..=0.2).contains(&p99), "{p99}");
        probes.record(5, Duration::ZERO); // out of range: ignored
        assert!(probes.summary(5).is_none());
    }

    #[test]
    fn probe_task_records_samples() {
        let (m, _store) = metrics();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let probe = tokio::spawn(m.register_instance_lag(0));
            tokio::time::sleep(LAG_PERIOD * 3).await;
            probe.abort();
        });
        assert!(m.inner.lag.summary(0).is_some());
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        let (m, _store) = metrics();
        m.message_sent();
        let server = serve("127.0.0.1:0".parse().unwrap(), m).unwrap();
        let response = reqwest::get(server.url()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("rocketchat_message_sent 1")
        );
        let missing = reqwest::get(format!("http://{}/nope", server.addr()))
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        server.shutdown();
    }
}
