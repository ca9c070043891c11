//! Control flow: `think`, `repeat`, `group`, `wait_for_message`.

use tokio::time::Instant;

use crate::engine::clock::IterationClock;
use crate::engine::sink::MessageFilter;
use crate::engine::think;
use crate::engine::vu::{Flow, Vu};
use crate::metrics::ErrorClass;
use crate::scenario::{GroupStep, RepeatStep, Think, WaitForMessageStep};

impl Vu {
    /// Sleeps a sampled think time. Wakes early when the VU is stopped,
    /// or when its kept connection dropped: it reconnects, then sleeps
    /// the rest.
    pub(crate) async fn think(&mut self, t: &Think) -> Flow {
        let pause = think::sample(t, &mut self.rng);
        if let Some(rest) = &self.rest {
            rest.pause(pause);
        }
        let deadline = Instant::now() + pause;
        loop {
            let watch_drop = self.keep_connected;
            let sink = self.sink.clone();
            let dropped = async {
                if watch_drop {
                    sink.dropped().await
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Flow::Continue,
                _ = self.stop.stopped() => return Flow::Stopped,
                _ = dropped => {}
            }
            if self.reconnect().await.is_err() {
                return Flow::Stopped;
            }
        }
    }

    pub(crate) async fn repeat(&mut self, step: &RepeatStep, clock: &mut IterationClock) -> Flow {
        let until = step.duration.map(|d| Instant::now() + d);
        let mut n = 0u64;
        loop {
            if step.count.is_some_and(|c| n >= c) || until.is_some_and(|u| Instant::now() >= u) {
                return Flow::Continue;
            }
            // Neither count, duration nor forever: once (validation rejects it).
            if step.count.is_none() && until.is_none() && !step.forever && n >= 1 {
                return Flow::Continue;
            }
            if self.stop.is_stopped() {
                return Flow::Stopped;
            }
            if self.run_steps(&step.steps, clock).await == Flow::Stopped {
                return Flow::Stopped;
            }
            n += 1;
            // A body of instant failures must not monopolise the thread.
            tokio::task::yield_now().await;
        }
    }

    /// A named transaction: the inner steps timed as one metric, failed
    /// when any operation inside failed.
    pub(crate) async fn group(&mut self, step: &GroupStep, clock: &mut IterationClock) -> Flow {
        let t = clock.start_enclosing();
        let errors = self.errors;
        let flow = self.run_steps(&step.steps, clock).await;
        if flow == Flow::Continue {
            let outcome = self.outcome_since(errors);
            self.record(&step.name, t, outcome);
        }
        flow
    }

    /// Waits until a message matching room / contains / from arrives on
    /// the VU's subscriptions; `timeout` error class when none does in time.
    pub(crate) async fn wait_for_message(
        &mut self,
        step: &WaitForMessageStep,
        metric: &str,
        clock: &mut IterationClock,
    ) -> Flow {
        let mut filter = MessageFilter::default();
        if let Some(sel) = &step.room {
            let Some(room) = self.room_for(sel, metric).await else {
                return Flow::Continue;
            };
            filter.room_id = Some(room.id);
        }
        for (src, dst) in [
            (&step.contains, &mut filter.contains),
            (&step.from, &mut filter.from),
        ] {
            if let Some(s) = src {
                match self.render(s) {
                    Ok(v) => *dst = Some(v),
                    Err(c) => {
                        self.fail_now(metric, c);
                        return Flow::Continue;
                    }
                }
            }
        }
        let rx = self.sink.wait_for(filter);
        let t = clock.start();
        let result = tokio::select! {
            r = rx => Some(r.is_ok()),
            _ = tokio::time::sleep(step.timeout) => Some(false),
            _ = self.stop.stopped() => None,
        };
        self.sink.clear_wait();
        match result {
            Some(true) => self.record(metric, t, Ok(())),
            Some(false) => self.record(metric, t, Err(ErrorClass::Timeout)),
            None => return Flow::Stopped,
        }
        Flow::Continue
    }
}
