//! Provisioning calls that a real Rocket.Chat refuses for a while: a 429
//! from its rate limiter is retried when the window resets (the server's
//! `X-RateLimit-Reset`), a 5xx, timeout or refused connection after a
//! backoff. Every wait is reported to the observer, never silent, and
//! counted for the provisioning report.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ProvisionObserver;
use crate::rocketchat::RcError;

/// 429 waits per call: at Rocket.Chat's default of 10 calls a minute a
/// call may queue behind others for several windows, not for half an hour.
const MAX_RATE_WAITS: u32 = 30;
/// A window never lasts longer than this (the default is 60 s); a reset
/// further away is a clock or a header to distrust.
const MAX_RATE_WAIT: Duration = Duration::from_secs(65);
/// Backoff of the retries of a failed call: 0.5, 1, 2, 4, 8 s.
const FAILURE_BACKOFF: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

/// What the retries cost, for the report.
#[derive(Debug, Default)]
pub struct RetryStats {
    rate_limited: AtomicU64,
    failed: AtomicU64,
    waited_ms: AtomicU64,
}

/// [`RetryStats`] read out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retries {
    /// Calls answered 429 and tried again.
    pub rate_limited: u64,
    /// Calls that failed (5xx, timeout, connection) and were tried again.
    pub failed: u64,
    /// Time spent waiting, summed over concurrent calls.
    pub waited_ms: u64,
}

impl RetryStats {
    pub fn read(&self) -> Retries {
        Retries {
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            waited_ms: self.waited_ms.load(Ordering::Relaxed),
        }
    }
}

/// How a failed call is retried, if it is.
#[derive(Debug, PartialEq)]
enum Next {
    /// Rate limited: wait for the window's reset.
    Reset(Duration),
    Backoff(Duration),
    GiveUp,
}

fn next(e: &RcError, rate_waits: u32, failures: u32, now_ms: u64) -> Next {
    match e {
        RcError::Http {
            status: 429,
            reset_ms,
            ..
        } if rate_waits < MAX_RATE_WAITS => {
            // A missing or past reset: the window is about to turn.
            let ms = reset_ms.map_or(1_000, |r| r.saturating_sub(now_ms) + 100);
            Next::Reset(Duration::from_millis(ms).min(MAX_RATE_WAIT))
        }
        RcError::Http { status, .. } if *status >= 500 => backoff(failures),
        RcError::Timeout { .. } | RcError::Connect { .. } | RcError::Closed { .. } => {
            backoff(failures)
        }
        _ => Next::GiveUp,
    }
}

fn backoff(failures: u32) -> Next {
    FAILURE_BACKOFF
        .get(failures as usize)
        .map_or(Next::GiveUp, |d| Next::Backoff(*d))
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs `call` until it succeeds or its error is not one to retry.
/// `what` names the call for the observer (`users.create of load-7`).
pub async fn retrying<T, F, Fut>(
    what: &str,
    observer: &dyn ProvisionObserver,
    stats: &RetryStats,
    mut call: F,
) -> Result<T, RcError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RcError>>,
{
    let (mut rate_waits, mut failures) = (0, 0);
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let (wait, why) = match next(&e, rate_waits, failures, epoch_ms()) {
            Next::GiveUp => return Err(e),
            Next::Reset(d) => {
                rate_waits += 1;
                stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                (
                    d,
                    format!(
                        "rate limited (429), retry {rate_waits}/{MAX_RATE_WAITS} when the window resets"
                    ),
                )
            }
            Next::Backoff(d) => {
                failures += 1;
                stats.failed.fetch_add(1, Ordering::Relaxed);
                (
                    d,
                    format!("{e}, retry {failures}/{}", FAILURE_BACKOFF.len()),
                )
            }
        };
        observer.retry(what, &why, wait);
        stats
            .waited_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, reset_ms: Option<u64>) -> RcError {
        RcError::Http {
            status,
            endpoint: "users.create".into(),
            error: None,
            body: String::new(),
            reset_ms,
        }
    }

    #[test]
    fn a_429_waits_for_the_reset_and_a_5xx_backs_off() {
        let now = 1_000_000;
        let in_40s = Some(now + 40_000);
        assert_eq!(
            next(&http(429, in_40s), 0, 0, now),
            Next::Reset(Duration::from_millis(40_100))
        );
        assert_eq!(
            next(&http(429, Some(now - 5)), 0, 0, now),
            Next::Reset(Duration::from_millis(100))
        );
        assert_eq!(
            next(&http(429, None), 0, 0, now),
            Next::Reset(Duration::from_secs(1))
        );
        assert_eq!(
            next(&http(429, Some(now + 3_600_000)), 0, 0, now),
            Next::Reset(MAX_RATE_WAIT)
        );
        assert_eq!(
            next(&http(429, in_40s), MAX_RATE_WAITS, 0, now),
            Next::GiveUp
        );
        assert_eq!(
            next(&http(503, None), 0, 2, now),
            Next::Backoff(Duration::from_secs(2))
        );
        assert_eq!(next(&http(502, None), 0, 5, now), Next::GiveUp);
        assert_eq!(next(&http(400, None), 0, 0, now), Next::GiveUp);
        assert_eq!(next(&http(401, None), 0, 0, now), Next::GiveUp);
    }

    struct Seen(std::sync::Mutex<Vec<String>>);
    impl ProvisionObserver for Seen {
        fn progress(&self, _: u64, _: u64) {}
        fn retry(&self, what: &str, why: &str, _: Duration) {
            self.0.lock().unwrap().push(format!("{what}: {why}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_reported_and_counted() {
        let seen = Seen(Default::default());
        let stats = RetryStats::default();
        let mut answers = vec![Ok(7), Err(http(503, None)), Err(http(429, None))];
        let got = retrying("users.create of load-1", &seen, &stats, || {
            let a = answers.pop().unwrap();
            async move { a }
        })
        .await;
        assert_eq!(got.unwrap(), 7);
        let r = stats.read();
        assert_eq!((r.rate_limited, r.failed, r.waited_ms), (1, 1, 1_500));
        let seen = seen.0.into_inner().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("users.create of load-1: rate limited (429)"),
            "{seen:?}"
        );
        let gave_up = retrying("x", &(), &stats, || async { Err::<(), _>(http(400, None)) }).await;
        assert!(gave_up.is_err());
    }
}
