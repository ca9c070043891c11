//! Tests of the registry and of the e2e tracker.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn ids_are_interned() {
    let m = Metrics::new();
    let a = m.id("rest.login");
    let b = m.id("ddp.connect");
    assert_eq!(m.id("rest.login"), a);
    assert_ne!(a, b);
}

#[test]
fn snapshot_merges_and_resets() {
    let m = Metrics::new();
    let id = m.id("rest.login");
    m.record(id, Sample::ok(ms(10)));
    m.record(id, Sample::ok(ms(20)));
    m.record(id, Sample::err(ms(5), ErrorClass::Http(503)));
    m.record(id, Sample::err(ms(5), ErrorClass::Http(503)));
    m.record(id, Sample::err(ms(5), ErrorClass::Timeout));
    let iv = m.snapshot();
    let r = &iv.metrics["rest.login"];
    assert_eq!(r.ok, 2);
    assert_eq!(r.latency.len(), 2);
    assert_eq!(
        r.errors,
        BTreeMap::from([("http_503".to_string(), 2), ("timeout".to_string(), 1)])
    );
    assert_eq!(r.count(), 5);
    // Service equals latency when every sample had the same start.
    assert_eq!(r.latency, r.service);
    assert!(m.snapshot().metrics.is_empty());
}

#[test]
fn service_time_is_kept_apart() {
    let m = Metrics::new();
    let id = m.id("rest.chat.postMessage");
    m.record(id, Sample::ok(ms(3)));
    m.record(
        id,
        Sample {
            latency: ms(900),
            service: ms(4),
            outcome: Ok(()),
        },
    );
    let iv = m.snapshot();
    let r = &iv.metrics["rest.chat.postMessage"];
    assert_eq!(r.latency.len(), 2);
    assert_eq!(r.service.len(), 2);
    assert!(r.latency.max() >= 899_000);
    assert!(r.service.max() < 5_000);
}

#[test]
fn counters_and_gauges() {
    let m = Metrics::new();
    let lost = m.id("message.lost");
    m.add(lost, 2);
    m.add(lost, 3);
    let g = m.gauge("vus.active");
    g.set(10);
    m.gauge("vus.active").add(-3);
    let iv = m.snapshot();
    assert_eq!(iv.counters["message.lost"], 5);
    assert_eq!(iv.gauges["vus.active"], 7);
    let iv = m.snapshot();
    assert!(iv.counters.is_empty());
    assert_eq!(iv.gauges["vus.active"], 7);
}

#[test]
fn record_never_panics_on_extremes() {
    let m = Metrics::new();
    let id = m.id("x");
    m.record(id, Sample::ok(Duration::MAX));
    m.record(id, Sample::ok(Duration::ZERO));
    assert_eq!(m.snapshot().metrics["x"].ok, 2);
}

#[test]
fn threads_record_into_their_own_shards_and_merge_exactly() {
    let m = Metrics::new();
    let id = m.id("op");
    let ctr = m.id("ops");
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let m = m.clone();
            s.spawn(move || {
                for i in 0..1000u64 {
                    m.record(id, Sample::ok(Duration::from_micros(1 + t * 1000 + i)));
                    m.add(ctr, 1);
                }
            });
        }
    });
    let iv = m.snapshot();
    assert_eq!(iv.metrics["op"].ok, 4000);
    assert_eq!(iv.metrics["op"].latency.len(), 4000);
    assert_eq!(iv.counters["ops"], 4000);
    // The exited threads' shards were dropped after draining.
    assert!(m.snapshot().metrics.is_empty());
}

#[test]
fn intervals_carry_timing() {
    let m = Metrics::new();
    std::thread::sleep(ms(5));
    let a = m.snapshot();
    let b = m.snapshot();
    assert!(a.elapsed >= ms(5));
    assert!(b.elapsed >= a.elapsed);
    assert!(b.duration <= b.elapsed);
    assert!(a.start_unix_ms > 0);
}

#[test]
fn separate_registries_do_not_mix() {
    let a = Metrics::new();
    let b = Metrics::new();
    a.record(a.id("x"), Sample::ok(ms(1)));
    b.record(b.id("y"), Sample::ok(ms(1)));
    assert!(a.snapshot().metrics.contains_key("x"));
    let iv = b.snapshot();
    assert!(iv.metrics.contains_key("y") && !iv.metrics.contains_key("x"));
}

// ---- e2e ----

const SEC: u64 = 1_000_000;

fn tracker() -> (Metrics, MessageTracker) {
    let m = Metrics::new();
    let t = MessageTracker::new(&m, Duration::from_secs(10));
    (m, t)
}

/// (e2e receipts, lost, duplicates) since the last call.
fn counts(m: &Metrics) -> (u64, u64, u64) {
    let iv = m.snapshot();
    (
        iv.metrics.get("message.e2e").map_or(0, |x| x.ok),
        iv.counters.get("message.lost").copied().unwrap_or(0),
        iv.counters.get("message.duplicate").copied().unwrap_or(0),
    )
}

#[test]
fn full_delivery_is_neither_pending_nor_lost() {
    let (m, t) = tracker();
    for vu in 1..=3 {
        t.subscribed(vu, "r1");
    }
    t.sending(1, 1, "r1", 100 * SEC);
    assert_eq!(t.pending(), 1);
    for vu in 1..=3 {
        t.received(vu, 1, 1, 100 * SEC, 100 * SEC + 2_000);
    }
    assert_eq!(t.pending(), 0);
    t.sweep(200 * SEC);
    assert_eq!(t.tracked(), 0);
    let iv = m.snapshot();
    let e2e = &iv.metrics["message.e2e"];
    assert_eq!(e2e.ok, 3);
    assert!(e2e.latency.value_at_quantile(0.5) >= 1_999 && e2e.latency.max() <= 2_002);
    assert!(!iv.counters.contains_key("message.lost"));
}

#[test]
fn missing_copies_become_lost_after_the_timeout_only() {
    let (m, t) = tracker();
    for vu in 1..=5 {
        t.subscribed(vu, "r1");
    }
    t.sending(9, 7, "r1", 100 * SEC);
    t.received(1, 9, 7, 100 * SEC, 100 * SEC + 10);
    t.received(2, 9, 7, 100 * SEC, 100 * SEC + 10);
    t.sweep(105 * SEC);
    assert_eq!(counts(&m), (2, 0, 0));
    assert_eq!(t.pending(), 1);
    t.sweep(110 * SEC);
    assert_eq!(counts(&m), (0, 3, 0));
    assert_eq!(t.pending(), 0);
    assert_eq!(t.tracked(), 0);
    // A straggler after the sweep: latency only.
    t.received(3, 9, 7, 100 * SEC, 111 * SEC);
    assert_eq!(counts(&m), (1, 0, 0));
}

#[test]
fn duplicates_are_counted_even_after_full_delivery() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.subscribed(2, "r");
    t.sending(1, 1, "r", SEC);
    t.received(1, 1, 1, SEC, SEC + 5);
    t.received(1, 1, 1, SEC, SEC + 6);
    t.received(2, 1, 1, SEC, SEC + 5);
    assert_eq!(t.pending(), 0);
    t.received(2, 1, 1, SEC, SEC + 9);
    t.received(2, 1, 1, SEC, SEC + 9);
    assert_eq!(counts(&m), (2, 0, 3));
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (0, 0, 0));
}

#[test]
fn untracked_receipts_record_latency_only() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    // Unknown message (another process, or before subscription).
    t.received(1, 42, 1, SEC, SEC + 100);
    t.received(1, 42, 1, SEC, SEC + 100);
    // Subscribed after the send: not expected, never lost or duplicate.
    t.sending(1, 1, "r", SEC);
    t.subscribed(2, "r");
    t.received(2, 1, 1, SEC, SEC + 100);
    t.received(2, 1, 1, SEC, SEC + 100);
    t.received(1, 1, 1, SEC, SEC + 100);
    assert_eq!(counts(&m), (5, 0, 0));
    // Clock skew (receiver behind sender) clamps to zero.
    t.received(1, 43, 1, 2 * SEC, SEC);
    assert_eq!(counts(&m), (1, 0, 0));
}

#[test]
fn unsubscribe_mid_flight_releases_the_receiver() {
    let (m, t) = tracker();
    for vu in 1..=3 {
        t.subscribed(vu, "r");
    }
    t.subscribed(3, "other");
    t.sending(1, 1, "r", SEC);
    t.sending(1, 2, "other", SEC);
    t.received(1, 1, 1, SEC, SEC + 1);
    t.received(2, 1, 1, SEC, SEC + 1);
    t.unsubscribed(3, "r");
    // Only "r"'s message completed; vu 3 still owes "other".
    assert_eq!(t.pending(), 1);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (2, 1, 0));
    // A later message in "r" no longer expects vu 3.
    t.sending(1, 3, "r", 20 * SEC);
    t.received(1, 1, 3, 20 * SEC, 20 * SEC + 1);
    t.received(2, 1, 3, 20 * SEC, 20 * SEC + 1);
    assert_eq!(t.pending(), 0);
}

#[test]
fn released_receiver_whose_copy_still_arrives_is_no_duplicate() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.subscribed(2, "r");
    t.sending(1, 1, "r", SEC);
    t.received(1, 1, 1, SEC, SEC + 1);
    t.unsubscribed(2, "r");
    assert_eq!(t.pending(), 0);
    t.received(2, 1, 1, SEC, SEC + 1); // was in flight
    t.received(2, 1, 1, SEC, SEC + 1); // a real duplicate
    assert_eq!(counts(&m), (2, 0, 1));
}

#[test]
fn disconnect_drops_every_room() {
    let (m, t) = tracker();
    t.subscribed(1, "a");
    t.subscribed(2, "a");
    t.subscribed(2, "b");
    t.subscribed(3, "b");
    t.sending(1, 1, "a", SEC);
    t.sending(3, 1, "b", SEC);
    t.disconnected(2);
    assert_eq!(t.pending(), 2);
    t.received(1, 1, 1, SEC, SEC + 1);
    t.received(3, 3, 1, SEC, SEC + 1);
    assert_eq!(t.pending(), 0);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (2, 0, 0));
    // Messages after the disconnect do not expect vu 2.
    t.sending(1, 2, "a", 2 * SEC);
    t.received(1, 1, 2, 2 * SEC, 2 * SEC + 1);
    assert_eq!(t.pending(), 0);
    // Disconnecting an unknown VU is harmless.
    t.disconnected(99);
}

#[test]
fn send_failed_forgets_the_message() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.subscribed(2, "r");
    t.sending(1, 1, "r", SEC);
    t.send_failed(1, 1);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.tracked(), 0);
    t.sweep(u64::MAX);
    t.received(2, 1, 1, SEC, SEC + 1);
    t.received(2, 1, 1, SEC, SEC + 1);
    assert_eq!(counts(&m), (2, 0, 0));
    t.send_failed(5, 5); // unknown: harmless
}

#[test]
fn room_without_subscribers_tracks_nothing() {
    let (m, t) = tracker();
    t.sending(1, 1, "empty", SEC);
    assert_eq!(t.pending(), 0);
    t.subscribed(1, "r");
    t.unsubscribed(1, "r");
    t.sending(1, 2, "r", SEC);
    assert_eq!(t.tracked(), 0);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (0, 0, 0));
}

#[test]
fn double_subscribe_and_unsubscribe_are_idempotent() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.subscribed(1, "r");
    t.subscribed(2, "r");
    t.sending(2, 1, "r", SEC);
    t.received(1, 2, 1, SEC, SEC + 1);
    t.received(2, 2, 1, SEC, SEC + 1);
    assert_eq!(t.pending(), 0);
    t.unsubscribed(1, "r");
    t.unsubscribed(1, "r");
    t.unsubscribed(1, "nowhere");
    t.sending(2, 2, "r", SEC);
    t.received(2, 2, 2, SEC, SEC + 1);
    assert_eq!(t.pending(), 0);
    assert_eq!(counts(&m), (3, 0, 0));
}

#[test]
fn fan_out_of_five_thousand_counts_exactly_across_threads() {
    let (m, t) = tracker();
    const N: u32 = 5000;
    for vu in 0..N {
        t.subscribed(vu, "big");
    }
    for seq in 0..10u64 {
        t.sending(7, seq, "big", SEC);
    }
    assert_eq!(t.pending(), 10);
    // Every receiver gets every message except: vu % 100 == 0 misses
    // message 0, and vu % 50 == 1 receives message 1 twice.
    std::thread::scope(|s| {
        for part in 0..4u32 {
            let t = t.clone();
            s.spawn(move || {
                for vu in (part..N).step_by(4) {
                    for seq in 0..10u64 {
                        if seq == 0 && vu % 100 == 0 {
                            continue;
                        }
                        t.received(vu, 7, seq, SEC, SEC + 500);
                        if seq == 1 && vu % 50 == 1 {
                            t.received(vu, 7, seq, SEC, SEC + 600);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(t.pending(), 1);
    t.sweep(u64::MAX);
    assert_eq!(t.pending(), 0);
    assert_eq!(t.tracked(), 0);
    let lost_expected = u64::from(N / 100);
    let dup_expected = u64::from(N / 50);
    assert_eq!(
        counts(&m),
        (
            10 * u64::from(N) - lost_expected,
            lost_expected,
            dup_expected
        )
    );
}

#[test]
fn reused_sequence_replaces_the_entry() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.sending(1, 1, "r", SEC);
    t.sending(1, 1, "r", 2 * SEC);
    assert_eq!(t.pending(), 1);
    t.received(1, 1, 1, 2 * SEC, 2 * SEC + 1);
    assert_eq!(t.pending(), 0);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (1, 0, 0));
}

#[test]
fn resubscribe_after_disconnect_is_tracked_again() {
    let (m, t) = tracker();
    t.subscribed(1, "r");
    t.subscribed(2, "r");
    t.disconnected(2);
    t.subscribed(2, "r");
    t.sending(1, 1, "r", SEC);
    t.received(1, 1, 1, SEC, SEC + 1);
    assert_eq!(t.pending(), 1);
    // The second disconnect must find the room again and release vu 2.
    t.disconnected(2);
    assert_eq!(t.pending(), 0);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (1, 0, 0));
}

#[test]
fn concurrent_subscribe_and_disconnect_leave_no_stale_receiver() {
    let (m, t) = tracker();
    t.subscribed(0, "r");
    std::thread::scope(|s| {
        for vu in 1..=8u32 {
            let t = t.clone();
            s.spawn(move || {
                for _ in 0..200 {
                    t.subscribed(vu, "r");
                    t.disconnected(vu);
                }
            });
        }
    });
    // Every VU ended disconnected: only vu 0 is owed a new message.
    t.sending(0, 1, "r", SEC);
    t.received(0, 0, 1, SEC, SEC + 1);
    assert_eq!(t.pending(), 0);
    t.sweep(u64::MAX);
    assert_eq!(counts(&m), (1, 0, 0));
}

#[test]
fn shards_with_and_without_service_time_merge_exactly() {
    let m = Metrics::new();
    let id = m.id("op");
    for round in 0..2 {
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let m = m.clone();
                s.spawn(move || {
                    for i in 1..=100u64 {
                        let latency = Duration::from_micros(1000 * i);
                        // Thread 1 records a different service time.
                        let service = if t == 1 { latency / 10 } else { latency };
                        m.record(
                            id,
                            Sample {
                                latency,
                                service,
                                outcome: Ok(()),
                            },
                        );
                    }
                });
            }
        });
        let iv = m.snapshot();
        let r = &iv.metrics["op"];
        assert_eq!(
            (r.ok, r.latency.len(), r.service.len()),
            (300, 300, 300),
            "round {round}"
        );
        assert_eq!(r.service.count_between(0, 10_100), 100 + 2 * 10);
        assert_eq!(r.latency.count_between(0, 10_100), 3 * 10);
    }
}
