//! Closed model: a number of VUs that follows the stages (linear ramps),
//! re-checked ten times a second. Each VU loops its behaviour's
//! iteration until stopped. Ramping down stops the newest VUs gracefully
//! (each finishes the step it is in); at the end every VU gets the
//! graceful stop, and whatever still runs after `graceful_stop` is
//! cancelled.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::executor::{
    Ending, RETIRE_TIMEOUT, Shared, StopFlag, StopHandle, VuDriver, finish_vu, stop_pair,
};
use super::profile::Profile;

/// How often the VU count is adjusted to the profile.
pub const TICK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct ClosedConfig {
    /// VUs over time.
    pub profile: Profile,
    pub graceful_stop: Duration,
}

struct Slot {
    index: u32,
    stop: StopHandle,
    task: JoinHandle<()>,
}

/// Runs the closed model until the stages end or `run_stop` fires.
pub async fn run_closed<D: VuDriver>(
    driver: Arc<D>,
    cfg: ClosedConfig,
    run_stop: StopFlag,
    shared: Arc<Shared>,
) -> Ending {
    let start = Instant::now();
    let total = cfg.profile.total();
    let (cancel_tx, cancel) = stop_pair();
    let mut running: Vec<Slot> = Vec::new();
    let mut stopping: Vec<Slot> = Vec::new();
    let mut free: BTreeSet<u32> = BTreeSet::new();
    let mut next_index = 0u32;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let ending = loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = run_stop.stopped() => break Ending::Interrupted,
        }
        let elapsed = start.elapsed();
        if elapsed >= total {
            break Ending::Completed;
        }
        reap(&mut stopping, &mut free);
        // Floor: a ramp reaches each whole VU when the line crosses it.
        let target = (cfg.profile.value_at(elapsed) + 1e-9).floor().max(0.0) as usize;
        while running.len() < target {
            let index = free.pop_first().unwrap_or_else(|| {
                next_index += 1;
                next_index - 1
            });
            running.push(spawn_vu(&driver, index, &cancel, &shared));
            shared.active(1);
        }
        while running.len() > target {
            // Newest first, as k6 does; the VU finishes its current step.
            if let Some(slot) = running.pop() {
                slot.stop.stop();
                shared.active(-1);
                stopping.push(slot);
            }
        }
    };

    if ending == Ending::Completed {
        shared.set_ending();
    }
    for slot in running.drain(..) {
        slot.stop.stop();
        shared.active(-1);
        stopping.push(slot);
    }
    if ending == Ending::Completed {
        let deadline = Instant::now() + cfg.graceful_stop;
        for slot in &mut stopping {
            if slot.task.is_finished() {
                continue;
            }
            tokio::select! {
                _ = &mut slot.task => {}
                _ = tokio::time::sleep_until(deadline) => break,
                _ = run_stop.stopped() => break,
            }
        }
    }
    cancel_tx.stop();
    for slot in stopping {
        let mut task = slot.task;
        if task.is_finished() {
            continue;
        }
        // Cancelled VUs retire within RETIRE_TIMEOUT; abort as a backstop.
        if tokio::time::timeout(RETIRE_TIMEOUT * 2, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
    ending
}

fn reap(stopping: &mut Vec<Slot>, free: &mut BTreeSet<u32>) {
    stopping.retain(|s| {
        if s.task.is_finished() {
            free.insert(s.index);
            false
        } else {
            true
        }
    });
}

fn spawn_vu<D: VuDriver>(
    driver: &Arc<D>,
    index: u32,
    cancel: &StopFlag,
    shared: &Arc<Shared>,
) -> Slot {
    let (stop_tx, stop) = stop_pair();
    let driver = driver.clone();
    let cancel = cancel.clone();
    let shared = shared.clone();
    let task = tokio::spawn(async move {
        let created = tokio::select! {
            vu = driver.create(index, stop.clone()) => Some(vu),
            _ = cancel.stopped() => None,
        };
        let Some(mut vu) = created else { return };
        let mut in_flight = false;
        {
            let body = async {
                while !stop.is_stopped() {
                    in_flight = true;
                    let completed = driver.iteration(&mut vu, None).await;
                    in_flight = false;
                    shared.count_iteration(completed);
                    // An iteration that fails instantly must not starve others.
                    tokio::task::yield_now().await;
                }
            };
            tokio::select! {
                _ = body => {}
                _ = cancel.stopped() => {}
            }
        }
        finish_vu(&*driver, vu, &shared, &cancel, in_flight).await;
    });
    Slot {
        index,
        stop: stop_tx,
        task,
    }
}
