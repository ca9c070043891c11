//! The open model's arrivals: one scheduler computes each arrival's
//! intended start from the test start (arrival k starts when the
//! integral of the rate reaches k), so pacing never drifts; a FIFO queue
//! hands arrivals to free VUs and drops the ones that waited longer than
//! `max_queue` (counted, never silently skipped).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::executor::StopFlag;
use super::profile::Profile;

/// Intended start times of a profile's arrivals, in order.
pub struct ArrivalTimes<'a> {
    profile: &'a Profile,
    start: Instant,
    next: u64,
}

impl<'a> ArrivalTimes<'a> {
    pub fn new(profile: &'a Profile, start: Instant) -> Self {
        ArrivalTimes {
            profile,
            start,
            next: 0,
        }
    }
}

impl Iterator for ArrivalTimes<'_> {
    type Item = Instant;
    fn next(&mut self) -> Option<Instant> {
        let at = self.profile.time_of_integral(self.next as f64)?;
        self.next += 1;
        Some(self.start + at)
    }
}

/// Arrivals waiting for a free VU.
pub struct ArrivalQueue {
    queue: Mutex<VecDeque<Instant>>,
    notify: Notify,
    closed: AtomicBool,
    max_queue: Duration,
}

/// What a free VU got from the queue.
pub enum Take {
    /// Run an iteration for the arrival intended at this instant.
    Arrival(Instant),
    /// The queue is closed and empty, or the VU was stopped.
    Done,
}

impl ArrivalQueue {
    pub fn new(max_queue: Duration) -> ArrivalQueue {
        ArrivalQueue {
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            max_queue,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Instant>> {
        // A panic while holding this lock cannot leave the deque invalid.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes arrivals that waited longer than `max_queue`; returns how many.
    fn expire(&self, q: &mut VecDeque<Instant>, now: Instant) -> u64 {
        let mut n = 0;
        while let Some(front) = q.front() {
            if now.saturating_duration_since(*front) > self.max_queue {
                q.pop_front();
                n += 1;
            } else {
                break;
            }
        }
        n
    }

    /// Enqueues an arrival; returns the number of arrivals that expired.
    pub fn push(&self, intended: Instant) -> u64 {
        let dropped = {
            let mut q = self.lock();
            let dropped = self.expire(&mut q, Instant::now());
            q.push_back(intended);
            dropped
        };
        self.notify.notify_one();
        dropped
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops handing out arrivals; returns the ones never started (dropped).
    pub fn close(&self) -> u64 {
        self.closed.store(true, Ordering::SeqCst);
        let n = {
            let mut q = self.lock();
            let n = q.len() as u64;
            q.clear();
            n
        };
        self.notify.notify_waiters();
        n
    }

    /// Waits for the next arrival. `dropped` receives the count of expired
    /// arrivals found on the way.
    pub async fn take(&self, stop: &StopFlag, dropped: &mut u64) -> Take {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut q = self.lock();
                *dropped += self.expire(&mut q, Instant::now());
                if let Some(at) = q.pop_front() {
                    let more = !q.is_empty();
                    drop(q);
                    if more {
                        // Chain the wake-up: one stored permit per push is not enough.
                        self.notify.notify_one();
                    }
                    return Take::Arrival(at);
                }
            }
            if self.closed.load(Ordering::SeqCst) || stop.is_stopped() {
                return Take::Done;
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = stop.stopped() => return Take::Done,
            }
        }
    }
}
