//! The coordinated-omission rule, in one place. In the open model an
//! iteration has an intended start (its arrival time). The first timed
//! operation of the iteration measures its latency from that instant, so
//! time spent queued behind a stalled server shows in the percentiles;
//! its service time counts from its own actual start. Every later
//! operation of the iteration has latency = service. The closed model has
//! no intended start: latency = service throughout.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct IterationClock {
    intended: Option<Instant>,
}

/// Start of one timed operation.
#[derive(Debug, Clone, Copy)]
pub struct OpTimer {
    /// When the operation actually started.
    pub started: Instant,
    /// Where its latency counts from.
    pub from: Instant,
}

impl IterationClock {
    pub fn new(intended: Option<Instant>) -> IterationClock {
        IterationClock { intended }
    }

    /// Starts a timed operation; the first one of the iteration consumes
    /// the intended start.
    pub fn start(&mut self) -> OpTimer {
        let now = Instant::now();
        let from = self.intended.take().map_or(now, |i| i.min(now));
        OpTimer { started: now, from }
    }

    /// Starts a transaction (`group`) that encloses operations: it counts
    /// from the intended start too, and leaves it for its first operation.
    pub fn start_enclosing(&self) -> OpTimer {
        let now = Instant::now();
        let from = self.intended.map_or(now, |i| i.min(now));
        OpTimer { started: now, from }
    }
}

impl OpTimer {
    /// (latency, service) of an operation that ends now.
    pub fn finish(&self) -> (Duration, Duration) {
        let now = Instant::now();
        (now - self.from, now - self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn first_op_counts_from_intended_start() {
        let intended = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await; // queued behind a stall
        let mut clock = IterationClock::new(Some(intended));
        let group = clock.start_enclosing();
        let first = clock.start();
        tokio::time::advance(Duration::from_millis(20)).await;
        assert_eq!(
            first.finish(),
            (Duration::from_millis(320), Duration::from_millis(20))
        );
        let second = clock.start();
        tokio::time::advance(Duration::from_millis(10)).await;
        assert_eq!(
            second.finish(),
            (Duration::from_millis(10), Duration::from_millis(10))
        );
        assert_eq!(
            group.finish(),
            (Duration::from_millis(330), Duration::from_millis(30))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closed_model_has_latency_equal_service() {
        let mut clock = IterationClock::new(None);
        let op = clock.start();
        tokio::time::advance(Duration::from_millis(5)).await;
        let (l, s) = op.finish();
        assert_eq!(l, s);
    }
}
