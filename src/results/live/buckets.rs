//! Prometheus histogram buckets built from HDR histograms, exactly: an
//! HDR bucket counts at or below `le` when its highest equivalent value
//! (the value HDR reports for a percentile, as the summary does) is at or
//! below `le`, so a Prometheus bucket and the summary's percentiles agree
//! to one HDR bucket (0.1 %).

use hdrhistogram::Histogram;

/// Upper bounds in µs: 0.5 ms .. 60 s. Latency on loopback is sub-ms; the
/// generator's latencies count queueing from the intended start, up to
/// timeouts of tens of seconds.
pub const BOUNDS_US: [u64; 16] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// One exposed histogram, accumulated over every interval so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Non-cumulative counts per bound of [`BOUNDS_US`], then +Inf.
    pub counts: [u64; BOUNDS_US.len() + 1],
    /// Sum of the values in seconds (each HDR bucket at its median value).
    pub sum_s: f64,
}

impl Buckets {
    /// Adds one interval's histogram (µs).
    pub fn add(&mut self, h: &Histogram<u64>) {
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            let n = v.count_at_value();
            let idx = BOUNDS_US.partition_point(|&upper| upper < value);
            self.counts[idx] = self.counts[idx].saturating_add(n);
            self.sum_s += n as f64 * h.median_equivalent(value) as f64 / 1e6;
        }
    }

    /// Every value counted (the +Inf bucket).
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// (upper bound in seconds, non-cumulative count), +Inf last: the form
    /// prometheus-client encodes (it makes them cumulative).
    pub fn for_encoding(&self) -> Vec<(f64, u64)> {
        BOUNDS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .chain([f64::INFINITY])
            .zip(self.counts.iter().copied())
            .collect()
    }
}
