//! The one histogram shape every latency is recorded in: microseconds,
//! 1 µs .. 1 h, 3 significant digits, fixed range (no auto-resize), so
//! histograms from any thread, interval, shard or run add up exactly.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest discernible value, µs.
pub const LOW_US: u64 = 1;
/// Highest trackable value, µs (one hour). Larger samples saturate here.
pub const HIGH_US: u64 = 3_600_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// A new, empty histogram of the standard shape.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(LOW_US, HIGH_US, SIGFIG)
        .expect("constant histogram bounds are valid")
}

/// A duration in whole microseconds, clamped into the histogram's range.
pub fn clamp_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .min(HIGH_US)
}

/// Records `d` (clamped, so it never fails).
pub fn record_duration(h: &mut Histogram<u64>, d: Duration) {
    // In range after the clamp: record cannot fail; saturate counts anyway.
    h.saturating_record(clamp_us(d));
}

/// Adds `src` into `dst`. Both have the standard shape or one that a
/// deserialized histogram brought; values beyond `dst`'s range are clamped
/// instead of failing.
pub fn merge_into(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if src.is_empty() {
        return;
    }
    if dst.add(src).is_ok() {
        return;
    }
    // Foreign shape with values past our range: re-record value by value.
    let top = dst.high();
    for v in src.iter_recorded() {
        dst.saturating_record_n(v.value_iterated_to().min(top), v.count_at_value());
    }
}

/// Milliseconds of a µs histogram value, for reports.
pub fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The latency at quantile `q` (0..=1; 1 is the maximum) in ms, or None
/// for an empty histogram: the one percentile rule of every report.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    if h.is_empty() {
        None
    } else if q >= 1.0 {
        Some(us_to_ms(h.max()))
    } else {
        Some(us_to_ms(h.value_at_quantile(q)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_instead_of_failing() {
        let mut h = new_histogram();
        record_duration(&mut h, Duration::from_secs(10 * 3600));
        record_duration(&mut h, Duration::ZERO);
        record_duration(&mut h, Duration::MAX);
        assert_eq!(h.len(), 3);
        assert!(h.max() >= HIGH_US && h.max() <= h.highest_equivalent(HIGH_US));
        assert_eq!(h.min(), 0);
    }

    #[test]
    fn merge_is_exact() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for i in 1..1000 {
            record_duration(&mut a, Duration::from_micros(i));
            record_duration(&mut b, Duration::from_micros(i * 7));
        }
        let mut all = new_histogram();
        for i in 1..1000 {
            record_duration(&mut all, Duration::from_micros(i));
            record_duration(&mut all, Duration::from_micros(i * 7));
        }
        merge_into(&mut a, &b);
        assert_eq!(a, all);
    }

    #[test]
    fn merge_clamps_foreign_ranges() {
        let mut wide = Histogram::<u64>::new_with_bounds(1, HIGH_US * 100, SIGFIG).unwrap();
        wide.record(HIGH_US * 50).unwrap();
        wide.record(5).unwrap();
        let mut h = new_histogram();
        merge_into(&mut h, &wide);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 5);
    }
}
