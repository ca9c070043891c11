//! How far this host's clock is from a server's, from the HTTP `Date`
//! header of `GET /api/info`. The header has a resolution of one second,
//! so one reply only says the offset is within a second; replies spaced
//! over more than a second straddle a tick of the server's clock, and
//! intersecting their bounds narrows the offset to about the spacing plus
//! the round trip. Sharded runs record it, so `merge` can tell whether the
//! shards' clocks (and so their start times) agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ClientConfig, RcError, Rest};

/// One exchange: when the request left, when the reply came back (this
/// host's clock, Unix ms) and the reply's `Date` (the server's, Unix s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateSample {
    pub sent_unix_ms: i64,
    pub received_unix_ms: i64,
    pub date_unix_s: i64,
}

/// The server's clock minus this host's is within `[low_ms, high_ms]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetBound {
    pub low_ms: i64,
    pub high_ms: i64,
}

impl OffsetBound {
    /// The middle of the bound.
    pub fn offset_ms(&self) -> f64 {
        (self.low_ms + self.high_ms) as f64 / 2.0
    }

    /// Half its width: the offset is within [`Self::offset_ms`] ± this.
    pub fn uncertainty_ms(&self) -> f64 {
        (self.high_ms - self.low_ms) as f64 / 2.0
    }
}

/// The bound every sample allows. The server wrote `Date = D` (its clock
/// truncated to the second) at some instant between sending and receiving,
/// so its clock then read within [D, D + 1 s) while ours read within
/// [sent, received]: the offset is within [D - received, D + 1000 - sent].
/// None without samples, or when they contradict each other (a clock was
/// stepped meanwhile).
pub fn bound_offset(samples: &[DateSample]) -> Option<OffsetBound> {
    let (low_ms, high_ms) = samples.iter().fold((i64::MIN, i64::MAX), |(lo, hi), s| {
        let date_ms = s.date_unix_s * 1000;
        (
            lo.max(date_ms - s.received_unix_ms),
            hi.min(date_ms + 1000 - s.sent_unix_ms),
        )
    });
    (!samples.is_empty() && low_ms <= high_ms).then_some(OffsetBound { low_ms, high_ms })
}

/// Requests made by [`measure_offset`], and their spacing: together just
/// over a second, so a tick of the server's clock falls between two.
pub const SAMPLES: u32 = 11;
pub const SPACING: Duration = Duration::from_millis(100);

/// Polls `GET /api/info` at `base_url` [`SAMPLES`] times, [`SPACING`]
/// apart (any status will do: only the `Date` header is read).
pub async fn measure_offset(base_url: &str, cfg: &ClientConfig) -> Result<OffsetBound, RcError> {
    let rest = Rest::new(base_url, cfg)?;
    let mut samples = Vec::with_capacity(SAMPLES as usize);
    for i in 0..SAMPLES {
        if i > 0 {
            tokio::time::sleep(SPACING).await;
        }
        let sent_unix_ms = unix_ms(SystemTime::now());
        let reply = rest.request("GET", "/api/info", None, &[], false).await?;
        let received_unix_ms = unix_ms(SystemTime::now());
        let date = reply.date.ok_or_else(|| {
            RcError::Protocol(format!(
                "{base_url}: GET /api/info has no Date header: the clock offset cannot be estimated"
            ))
        })?;
        samples.push(DateSample {
            sent_unix_ms,
            received_unix_ms,
            date_unix_s: unix_ms(date).div_euclid(1000),
        });
    }
    bound_offset(&samples).ok_or_else(|| {
        RcError::Protocol(format!(
            "{base_url}: the Date headers contradict each other (was a clock stepped?)"
        ))
    })
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples of a server whose clock is `offset_ms` ahead, polled every
    /// `spacing_ms` from `start_ms` with a round trip of `rtt_ms`, the
    /// server writing its Date half-way.
    fn samples(offset_ms: i64, start_ms: i64, spacing_ms: i64, rtt_ms: i64) -> Vec<DateSample> {
        (0..SAMPLES as i64)
            .map(|i| {
                let sent = start_ms + i * spacing_ms;
                let server = sent + rtt_ms / 2 + offset_ms;
                DateSample {
                    sent_unix_ms: sent,
                    received_unix_ms: sent + rtt_ms,
                    date_unix_s: server.div_euclid(1000),
                }
            })
            .collect()
    }

    #[test]
    fn one_sample_bounds_the_offset_within_a_second() {
        let s = DateSample {
            sent_unix_ms: 10_400,
            received_unix_ms: 10_410,
            date_unix_s: 10,
        };
        let b = bound_offset(&[s]).unwrap();
        assert_eq!((b.low_ms, b.high_ms), (-410, 600));
    }

    #[test]
    fn samples_across_a_tick_narrow_it_to_about_the_spacing() {
        for offset in [-2_345, -500, 0, 7, 250, 999, 1_000, 3_600_017] {
            for start in [1_700_000_000_000, 1_700_000_000_437, 1_700_000_000_999] {
                let b = bound_offset(&samples(offset, start, 100, 2)).unwrap();
                assert!(
                    b.low_ms <= offset && offset <= b.high_ms,
                    "{offset} not in {b:?}"
                );
                // Width: at most one spacing each side of the tick, plus the
                // round trip.
                assert!(b.high_ms - b.low_ms <= 2 * 100 + 2, "{offset}: {b:?}");
                assert!((b.offset_ms() - offset as f64).abs() <= b.uncertainty_ms());
            }
        }
    }

    #[test]
    fn no_samples_or_contradicting_ones_give_no_bound() {
        assert_eq!(bound_offset(&[]), None);
        let a = DateSample {
            sent_unix_ms: 0,
            received_unix_ms: 10,
            date_unix_s: 0,
        };
        // Ten seconds later by our clock, but the server's went back.
        let b = DateSample {
            sent_unix_ms: 10_000,
            received_unix_ms: 10_010,
            date_unix_s: -5,
        };
        assert_eq!(bound_offset(&[a, b]), None);
    }
}
