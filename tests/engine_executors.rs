//! The executors with a fake VU (no network), on tokio's paused clock so
//! counts are exact and the tests take no wall time.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketload::engine::closed::{ClosedConfig, run_closed};
use rocketload::engine::executor::{
    Ending, ExecCounters, NoObserver, Shared, StopFlag, VuDriver, stop_pair,
};
use rocketload::engine::open::{OpenConfig, run_open};
use rocketload::engine::profile::Profile;
use tokio::time::Instant;

#[derive(Default)]
struct Fake {
    iteration: Duration,
    created: AtomicU32,
    retired: AtomicU32,
    lingered: AtomicU32,
    busy: AtomicI64,
    peak_busy: AtomicI64,
    alive: AtomicI64,
    peak_alive: AtomicI64,
    intended: Mutex<Vec<Instant>>,
}

impl Fake {
    fn new(iteration: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            iteration,
            ..Fake::default()
        })
    }
}

fn bump(counter: &AtomicI64, peak: &AtomicI64) {
    let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
    peak.fetch_max(now, Ordering::SeqCst);
}

impl VuDriver for Fake {
    type Vu = StopFlag;
    async fn create(&self, _index: u32, stop: StopFlag) -> StopFlag {
        self.created.fetch_add(1, Ordering::SeqCst);
        bump(&self.alive, &self.peak_alive);
        stop
    }
    async fn iteration(&self, stop: &mut StopFlag, intended: Option<Instant>) -> bool {
        if let Some(i) = intended
            && let Ok(mut v) = self.intended.lock()
        {
            v.push(i);
        }
        bump(&self.busy, &self.peak_busy);
        let completed = stop.sleep(self.iteration).await;
        self.busy.fetch_sub(1, Ordering::SeqCst);
        completed
    }
    async fn linger(&self) {
        self.lingered.fetch_add(1, Ordering::SeqCst);
    }
    async fn retire(&self, _vu: StopFlag) {
        self.retired.fetch_add(1, Ordering::SeqCst);
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fn new_shared() -> (Arc<ExecCounters>, Arc<Shared>) {
    let counters = Arc::new(ExecCounters::default());
    let shared = Shared::new(counters.clone(), Arc::new(NoObserver));
    (counters, shared)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn load(c: &Arc<ExecCounters>) -> (u64, u64, u64) {
    (
        c.iterations.load(Ordering::SeqCst),
        c.interrupted.load(Ordering::SeqCst),
        c.dropped.load(Ordering::SeqCst),
    )
}

#[tokio::test(start_paused = true)]
async fn open_constant_rate_runs_exact_arrivals_on_schedule() {
    let fake = Fake::new(Duration::from_millis(50));
    let (counters, shared) = new_shared();
    let cfg = OpenConfig {
        profile: Profile::constant(10.0, secs(2.0)),
        max_vus: 5,
        max_queue: secs(1.0),
        graceful_stop: secs(1.0),
    };
    let start = Instant::now();
    let ending = run_open(fake.clone(), cfg, StopFlag::never(), shared).await;
    assert_eq!(ending, Ending::Completed);
    assert_eq!(load(&counters), (20, 0, 0));
    // Intended starts are absolute: k * 100 ms from the start.
    let intended = fake.intended.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(intended.len(), 20);
    for (k, at) in intended.iter().enumerate() {
        assert_eq!(*at - start, Duration::from_millis(100 * k as u64));
    }
    // 50 ms iterations every 100 ms: one VU suffices, created lazily.
    assert_eq!(fake.created.load(Ordering::SeqCst), 1);
    assert_eq!(fake.retired.load(Ordering::SeqCst), 1);
    assert_eq!(counters.active.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn open_pool_exhausted_counts_drops() {
    let fake = Fake::new(secs(10.0));
    let (counters, shared) = new_shared();
    let cfg = OpenConfig {
        profile: Profile::constant(10.0, secs(1.0)),
        max_vus: 2,
        max_queue: Duration::ZERO,
        graceful_stop: Duration::ZERO,
    };
    run_open(fake.clone(), cfg, StopFlag::never(), shared).await;
    let (done, interrupted, dropped) = load(&counters);
    // Two VUs take the first two arrivals and never come back in time;
    // the other eight arrivals are dropped, none skipped silently.
    assert_eq!(done, 0);
    assert_eq!(interrupted, 2);
    assert_eq!(dropped, 8);
    assert_eq!(fake.created.load(Ordering::SeqCst), 2);
    assert_eq!(fake.retired.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn open_queue_absorbs_short_backlog() {
    // One VU, 150 ms iterations, 10/s: the VU falls behind by 50 ms per
    // arrival; with a 1 s queue every one of the 10 arrivals still runs.
    let fake = Fake::new(Duration::from_millis(150));
    let (counters, shared) = new_shared();
    let cfg = OpenConfig {
        profile: Profile::constant(10.0, secs(1.0)),
        max_vus: 1,
        max_queue: secs(1.0),
        graceful_stop: secs(5.0),
    };
    run_open(fake.clone(), cfg, StopFlag::never(), shared).await;
    let (done, interrupted, dropped) = load(&counters);
    // By the end (1 s) arrivals 0..6 have started; 7..9 are still queued
    // and, being within max_queue, run after the stages end: none dropped.
    assert_eq!(done + interrupted + dropped, 10);
    assert_eq!(dropped, 0);
    assert_eq!(fake.peak_busy.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn open_ramp_follows_integral() {
    let fake = Fake::new(Duration::from_millis(10));
    let (counters, shared) = new_shared();
    // 0 -> 20/s over 2 s (20 arrivals), then 20/s for 1 s (20 arrivals).
    let cfg = OpenConfig {
        profile: Profile {
            start: 0.0,
            stages: vec![(secs(2.0), 20.0), (secs(1.0), 20.0)],
        },
        max_vus: 10,
        max_queue: secs(1.0),
        graceful_stop: secs(1.0),
    };
    run_open(fake.clone(), cfg, StopFlag::never(), shared).await;
    assert_eq!(load(&counters), (40, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn closed_constant_vus_iterate_until_the_end() {
    let fake = Fake::new(Duration::from_millis(90));
    let (counters, shared) = new_shared();
    let cfg = ClosedConfig {
        profile: Profile::constant(2.0, secs(1.0)),
        graceful_stop: secs(1.0),
    };
    let ending = run_closed(fake.clone(), cfg, StopFlag::never(), shared).await;
    assert_eq!(ending, Ending::Completed);
    // Each VU completes 11 iterations of 90 ms in 1 s; the 12th is cut short.
    assert_eq!(load(&counters), (22, 2, 0));
    assert_eq!(fake.created.load(Ordering::SeqCst), 2);
    assert_eq!(fake.retired.load(Ordering::SeqCst), 2);
    // Stopped by the end of the stages: they linger (deliveries settle).
    assert_eq!(fake.lingered.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn closed_stages_ramp_up_and_down() {
    let fake = Fake::new(Duration::from_millis(50));
    let (counters, shared) = new_shared();
    let cfg = ClosedConfig {
        profile: Profile {
            start: 0.0,
            stages: vec![(secs(1.0), 10.0), (secs(1.0), 10.0), (secs(1.0), 0.0)],
        },
        graceful_stop: secs(1.0),
    };
    let start = Instant::now();
    let probe = tokio::spawn({
        let fake = fake.clone();
        async move {
            // Samples of live VUs at 0.55 s (ramping), 1.5 s (holding), 2.55 s (ramping down).
            let mut seen = Vec::new();
            for at in [0.55, 1.5, 2.55] {
                tokio::time::sleep_until(start + secs(at)).await;
                seen.push((at, fake.alive.load(Ordering::SeqCst)));
            }
            seen
        }
    });
    run_closed(fake.clone(), cfg, StopFlag::never(), shared).await;
    let seen = probe.await.unwrap_or_default();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].1, 5);
    assert_eq!(seen[1].1, 10);
    assert!(seen[2].1 <= 5 && seen[2].1 >= 4, "ramp-down: {:?}", seen[2]);
    assert_eq!(fake.peak_alive.load(Ordering::SeqCst), 10);
    assert_eq!(fake.created.load(Ordering::SeqCst), 10);
    assert_eq!(fake.retired.load(Ordering::SeqCst), 10);
    // Ramp-down stops do not linger; only the last VU (the line reaches
    // zero exactly at the end) is stopped by the end of the stages.
    assert_eq!(fake.lingered.load(Ordering::SeqCst), 1);
    assert_eq!(counters.active.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn stop_signal_cancels_now() {
    let fake = Fake::new(secs(3600.0));
    let (counters, shared) = new_shared();
    let (stop_tx, stop) = stop_pair();
    let cfg = ClosedConfig {
        profile: Profile::constant(5.0, secs(3600.0)),
        graceful_stop: secs(3600.0),
    };
    let started = Instant::now();
    let run = tokio::spawn(run_closed(fake.clone(), cfg, stop, shared));
    tokio::time::sleep(secs(1.0)).await;
    stop_tx.stop();
    let ending = run.await.ok();
    assert_eq!(ending, Some(Ending::Interrupted));
    assert!(started.elapsed() < secs(10.0));
    assert_eq!(fake.retired.load(Ordering::SeqCst), 5);
    assert_eq!(load(&counters).0, 0);

    let fake = Fake::new(secs(3600.0));
    let (_, shared) = new_shared();
    let (stop_tx, stop) = stop_pair();
    let cfg = OpenConfig {
        profile: Profile::constant(5.0, secs(3600.0)),
        max_vus: 3,
        max_queue: secs(1.0),
        graceful_stop: secs(3600.0),
    };
    let run = tokio::spawn(run_open(fake.clone(), cfg, stop, shared));
    tokio::time::sleep(secs(2.0)).await;
    stop_tx.stop();
    assert_eq!(run.await.ok(), Some(Ending::Interrupted));
    assert_eq!(fake.retired.load(Ordering::SeqCst), 3);
}
