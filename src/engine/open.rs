//! Open model: arrivals at a rate that follows the stages, served by a
//! bounded pool of VUs. Each pool VU is one user session, created (and its
//! `setup` run) lazily when arrivals outnumber the free VUs. An arrival
//! that finds no free VU within `max_queue` is counted as dropped. The
//! iteration gets the arrival's intended start, from which its first
//! operation's latency counts (see `clock.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::arrivals::{ArrivalQueue, ArrivalTimes, Take};
use super::executor::{Ending, RETIRE_TIMEOUT, Shared, StopFlag, VuDriver, finish_vu, stop_pair};
use super::profile::Profile;

#[derive(Debug, Clone)]
pub struct OpenConfig {
    /// Arrivals per second over time.
    pub profile: Profile,
    pub max_vus: u32,
    pub max_queue: Duration,
    pub graceful_stop: Duration,
}

/// Runs the open model until the stages end or `run_stop` fires.
pub async fn run_open<D: VuDriver>(
    driver: Arc<D>,
    cfg: OpenConfig,
    run_stop: StopFlag,
    shared: Arc<Shared>,
) -> Ending {
    let start = Instant::now();
    let end = start + cfg.profile.total();
    let queue = Arc::new(ArrivalQueue::new(cfg.max_queue));
    // VUs that are free or still being created: arrivals they will take.
    let available = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop) = stop_pair();
    let (cancel_tx, cancel) = stop_pair();
    let mut pool = JoinSet::new();
    let mut created = 0u32;

    let mut ending = Ending::Completed;
    for intended in ArrivalTimes::new(&cfg.profile, start) {
        tokio::select! {
            _ = tokio::time::sleep_until(intended) => {}
            _ = run_stop.stopped() => { ending = Ending::Interrupted; break; }
        }
        shared.count_dropped(queue.push(intended));
        if queue.len() > available.load(Ordering::SeqCst) && created < cfg.max_vus {
            available.fetch_add(1, Ordering::SeqCst);
            let ctx = PoolVu {
                driver: driver.clone(),
                queue: queue.clone(),
                available: available.clone(),
                shared: shared.clone(),
                stop: stop.clone(),
                cancel: cancel.clone(),
            };
            pool.spawn(ctx.run(created));
            created += 1;
            shared.active(1);
        }
    }
    if ending == Ending::Completed {
        // The last arrival may come well before the end of a ramp-down.
        tokio::select! {
            _ = tokio::time::sleep_until(end) => {}
            _ = run_stop.stopped() => ending = Ending::Interrupted,
        }
    }

    // Arrivals due in the last moments may still sit in the queue: free VUs
    // get them (within max_queue) before it closes, else they would count
    // as dropped although nothing was short of VUs.
    if ending == Ending::Completed {
        let drain_until = Instant::now() + cfg.max_queue.min(cfg.graceful_stop);
        while !queue.is_empty() && Instant::now() < drain_until {
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => {}
                _ = run_stop.stopped() => { ending = Ending::Interrupted; break; }
            }
        }
    }

    // Arrivals not started by now never will be.
    if ending == Ending::Completed {
        shared.set_ending();
    }
    shared.count_dropped(queue.close());
    stop_tx.stop();
    if ending == Ending::Completed {
        let deadline = Instant::now() + cfg.graceful_stop;
        loop {
            tokio::select! {
                next = pool.join_next() => if next.is_none() { break },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = run_stop.stopped() => break,
            }
        }
    }
    cancel_tx.stop();
    let backstop = Instant::now() + RETIRE_TIMEOUT * 2;
    while !pool.is_empty() {
        tokio::select! {
            _ = pool.join_next() => {}
            _ = tokio::time::sleep_until(backstop) => { pool.abort_all(); break; }
        }
    }
    shared.active(-i64::from(created));
    ending
}

struct PoolVu<D: VuDriver> {
    driver: Arc<D>,
    queue: Arc<ArrivalQueue>,
    available: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    stop: StopFlag,
    cancel: StopFlag,
}

impl<D: VuDriver> PoolVu<D> {
    async fn run(self, index: u32) {
        let created = tokio::select! {
            vu = self.driver.create(index, self.stop.clone()) => Some(vu),
            _ = self.cancel.stopped() => None,
        };
        let Some(mut vu) = created else { return };
        let mut in_flight = false;
        {
            let body = async {
                loop {
                    let mut dropped = 0;
                    let take = self.queue.take(&self.stop, &mut dropped).await;
                    self.shared.count_dropped(dropped);
                    let Take::Arrival(intended) = take else { break };
                    self.available.fetch_sub(1, Ordering::SeqCst);
                    in_flight = true;
                    let completed = self.driver.iteration(&mut vu, Some(intended)).await;
                    in_flight = false;
                    self.shared.count_iteration(completed);
                    self.available.fetch_add(1, Ordering::SeqCst);
                }
            };
            tokio::select! {
                _ = body => {}
                _ = self.cancel.stopped() => {}
            }
        }
        finish_vu(&*self.driver, vu, &self.shared, &self.cancel, in_flight).await;
    }
}
