//! Cost of the metrics hot path: `Metrics::record` per operation on one
//! thread and on two threads at once (per-thread shards: no shared lock),
//! a counter `add`, the once-per-second `snapshot`, and an e2e receipt.
//!
//! cargo bench --bench metrics

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rocketload::metrics::{ErrorClass, MessageTracker, Metrics, Sample};

/// CPU time this thread has used. Figures measured with it do not grow
/// when other processes compete for the cores (wall time does).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `iters` records on each of `threads` threads at once; returns the
/// largest per-thread CPU time (wall time if `cpu` is false).
fn record_on_threads(
    m: &Metrics,
    id: rocketload::metrics::MetricId,
    threads: u64,
    iters: u64,
    cpu: bool,
) -> Duration {
    let barrier = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let (m, barrier) = (m.clone(), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (wall, cpu0) = (Instant::now(), thread_cpu_time());
                    for i in 0..iters {
                        m.record(id, Sample::ok(latency(i + t)));
                    }
                    if cpu {
                        thread_cpu_time().saturating_sub(cpu0)
                    } else {
                        wall.elapsed()
                    }
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .max()
            .unwrap_or_default()
    })
}

/// Latencies spread over 100 µs .. ~100 ms, like a real mix.
fn latency(i: u64) -> Duration {
    Duration::from_micros(100 + (i.wrapping_mul(2_654_435_761) % 100_000))
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    let m = Metrics::new();
    let id = m.id("rest.chat.postMessage");
    let mut i = 0u64;
    g.bench_function("1 thread", |b| {
        b.iter(|| {
            i += 1;
            m.record(black_box(id), Sample::ok(latency(i)));
        })
    });
    g.bench_function("1 thread, corrected + service", |b| {
        b.iter(|| {
            i += 1;
            let d = latency(i);
            m.record(
                black_box(id),
                Sample {
                    latency: d * 2,
                    service: d,
                    outcome: Ok(()),
                },
            );
        })
    });
    g.bench_function("1 thread, error", |b| {
        b.iter(|| {
            m.record(
                black_box(id),
                Sample::err(Duration::from_millis(1), ErrorClass::Http(503)),
            )
        })
    });
    // Threads recording at once; the figure is time per operation of each
    // thread (equal to 1 thread when nothing is shared). "cpu" variants
    // count the thread's CPU time, so a loaded machine does not inflate them.
    g.bench_function("2 threads", |b| {
        b.iter_custom(|iters| record_on_threads(&m, id, 2, iters, false))
    });
    g.bench_function("1 thread, cpu time", |b| {
        b.iter_custom(|iters| record_on_threads(&m, id, 1, iters, true))
    });
    g.bench_function("2 threads, cpu time", |b| {
        b.iter_custom(|iters| record_on_threads(&m, id, 2, iters, true))
    });
    g.bench_function("counter add", |b| {
        let lost = m.id("message.lost");
        b.iter(|| m.add(black_box(lost), 1))
    });
    g.finish();
    black_box(m.snapshot());
}

fn snapshot(c: &mut Criterion) {
    let m = Metrics::new();
    let ids: Vec<_> = (0..20).map(|i| m.id(&format!("rest.op{i}"))).collect();
    c.bench_function("snapshot of 20 metrics, 1000 samples each", |b| {
        b.iter(|| {
            for (n, id) in ids.iter().enumerate() {
                for i in 0..1000u64 {
                    m.record(*id, Sample::ok(latency(i + n as u64)));
                }
            }
            black_box(m.snapshot())
        })
    });
}

fn e2e(c: &mut Criterion) {
    let m = Metrics::new();
    let t = MessageTracker::new(&m, Duration::from_secs(10));
    for vu in 0..5000 {
        t.subscribed(vu, "room");
    }
    let mut seq = 0u64;
    c.bench_function("e2e: send + 5000 receipts (per message)", |b| {
        b.iter(|| {
            seq += 1;
            t.sending(1, seq, "room", 1_000_000);
            for vu in 0..5000 {
                t.received(vu, 1, seq, 1_000_000, 1_002_000);
            }
            t.sweep(u64::MAX);
        })
    });
}

criterion_group!(benches, record, snapshot, e2e);
criterion_main!(benches);
