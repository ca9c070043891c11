//! The measured data of one side in a form that resamples fast: each
//! interval's histogram of each metric as sparse counts over a value table
//! shared by both sides, so a bootstrap replicate is a sum of a few
//! hundred counts instead of a histogram merge. Quantiles follow
//! HdrHistogram's rule (the highest equivalent value of the first bucket
//! whose cumulative count reaches ceil(q * total)), so a whole-phase value
//! equals what the merged histogram reports.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use hdrhistogram::Histogram;
use rand::RngExt;
use rand::rngs::StdRng;

use super::Stat;

/// One metric in one interval.
#[derive(Clone, Debug, Default)]
struct Cell {
    /// (index into the metric's value table, count), ascending.
    buckets: Vec<(u32, u64)>,
    count: u64,
    errors: u64,
}

/// One interval's raw parts, before the value tables exist.
pub struct RawInterval<'a> {
    pub secs: f64,
    pub metrics: Vec<(&'a str, &'a Histogram<u64>, u64, u64)>,
}

/// The value tables: per metric, every distinct recorded value (µs) of
/// both sides, ascending.
#[derive(Debug, Default)]
pub struct Tables(BTreeMap<String, Vec<u64>>);

impl Tables {
    pub fn of<'a>(intervals: impl IntoIterator<Item = &'a RawInterval<'a>>) -> Tables {
        let mut sets: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for iv in intervals {
            for (name, h, _, _) in &iv.metrics {
                let set = sets.entry((*name).to_string()).or_default();
                set.extend(h.iter_recorded().map(|v| v.value_iterated_to()));
            }
        }
        Tables(
            sets.into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
        )
    }
}

/// One side's intervals, run by run.
#[derive(Debug)]
pub struct Pool {
    secs: Vec<f64>,
    cells: BTreeMap<String, Vec<Cell>>,
    /// Each run's intervals.
    pub runs: Vec<Range<usize>>,
}

/// A metric's figures over a set of intervals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub count: u64,
    pub errors: u64,
    pub secs: f64,
    /// p50, p95, p99, p99.9 in ms; `None` without successful samples.
    pub quantiles: [Option<f64>; 4],
}

impl Figures {
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::P50 => self.quantiles[0],
            Stat::P95 => self.quantiles[1],
            Stat::P99 => self.quantiles[2],
            Stat::P999 => self.quantiles[3],
            Stat::Rate => (self.secs > 0.0).then(|| self.count as f64 / self.secs),
            Stat::ErrorRate => (self.count > 0).then(|| self.errors as f64 / self.count as f64),
        }
    }

    /// Successful samples: what the latency percentiles stand on.
    pub fn ok(&self) -> u64 {
        self.count.saturating_sub(self.errors)
    }
}

impl Pool {
    /// `runs`: each run's intervals, in order.
    pub fn new(tables: &Tables, runs: &[&[RawInterval<'_>]]) -> Pool {
        let mut pool = Pool {
            secs: Vec::new(),
            cells: tables.0.keys().map(|k| (k.clone(), Vec::new())).collect(),
            runs: Vec::new(),
        };
        for run in runs {
            let start = pool.secs.len();
            for iv in *run {
                let at = pool.secs.len();
                pool.secs.push(iv.secs);
                for cells in pool.cells.values_mut() {
                    cells.push(Cell::default());
                }
                for &(name, h, count, errors) in &iv.metrics {
                    let (Some(table), Some(cells)) = (tables.0.get(name), pool.cells.get_mut(name))
                    else {
                        continue;
                    };
                    let buckets = h
                        .iter_recorded()
                        .filter_map(|v| {
                            let i = table.binary_search(&v.value_iterated_to()).ok()?;
                            Some((i as u32, v.count_since_last_iteration()))
                        })
                        .collect();
                    cells[at] = Cell {
                        buckets,
                        count,
                        errors,
                    };
                }
            }
            pool.runs.push(start..pool.secs.len());
        }
        pool
    }

    pub fn len(&self) -> usize {
        self.secs.len()
    }

    /// The figures of `metric` over the intervals `picks` (repeats count
    /// again); `dense` is scratch space.
    pub fn figures(
        &self,
        tables: &Tables,
        metric: &str,
        picks: &[usize],
        dense: &mut Vec<u64>,
    ) -> Figures {
        let (Some(table), Some(cells)) = (tables.0.get(metric), self.cells.get(metric)) else {
            return Figures::default();
        };
        dense.clear();
        dense.resize(table.len(), 0);
        let mut f = Figures::default();
        let mut total = 0u64;
        for &i in picks {
            f.secs += self.secs[i];
            let cell = &cells[i];
            f.count += cell.count;
            f.errors += cell.errors;
            for &(b, n) in &cell.buckets {
                dense[b as usize] += n;
                total += n;
            }
        }
        if total > 0 {
            let targets =
                [0.5, 0.95, 0.99, 0.999].map(|q: f64| ((q * total as f64).ceil() as u64).max(1));
            let mut next = 0;
            let mut seen = 0u64;
            for (i, &n) in dense.iter().enumerate() {
                seen += n;
                while next < targets.len() && seen >= targets[next] {
                    f.quantiles[next] = Some(table[i] as f64 / 1000.0);
                    next += 1;
                }
                if next == targets.len() {
                    break;
                }
            }
        }
        f
    }

    /// Each run's first and second half of intervals (a middle one of an
    /// odd count left out), over all runs.
    pub fn halves(&self) -> (Vec<usize>, Vec<usize>) {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for r in &self.runs {
            let half = r.len() / 2;
            first.extend(r.start..r.start + half);
            second.extend(r.end - half..r.end);
        }
        (first, second)
    }

    /// Every interval of the pool, once.
    pub fn all(&self) -> Vec<usize> {
        (0..self.len()).collect()
    }
}

/// Block length for a moving-block bootstrap of `n` intervals: n^(1/3),
/// the order Hall, Horowitz and Jing (1995) found best for variance
/// estimates; it keeps the seconds-long correlation of load-test latency
/// (a GC pause, a stall) inside blocks.
pub fn block_length(n: usize) -> usize {
    ((n as f64).cbrt().round() as usize).clamp(1, n.max(1))
}

/// One moving-block resample of `runs` (blocks never cross a run's edge):
/// as many intervals as there are, in blocks of `block`.
pub fn resample(runs: &[Range<usize>], block: usize, rng: &mut StdRng, out: &mut Vec<usize>) {
    out.clear();
    let total: usize = runs.iter().map(|r| r.len()).sum();
    // Block starts: every position whose block fits in its run.
    while out.len() < total {
        let run = &runs[rng.random_range(0..runs.len())];
        if run.is_empty() {
            continue;
        }
        let b = block.min(run.len());
        let start = run.start + rng.random_range(0..=run.len() - b);
        let take = b.min(total - out.len());
        out.extend(start..start + take);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn whole_pool_figures_equal_the_merged_histogram() {
        let a = hist(&(1..=400).map(|v| v * 37).collect::<Vec<_>>());
        let b = hist(&(1..=600).map(|v| v * 53 + 11).collect::<Vec<_>>());
        let ivs = vec![
            RawInterval {
                secs: 1.0,
                metrics: vec![("m", &a, 402, 2)],
            },
            RawInterval {
                secs: 1.0,
                metrics: vec![("m", &b, 600, 0)],
            },
        ];
        let tables = Tables::of(&ivs);
        let pool = Pool::new(&tables, &[&ivs[..]]);
        let f = pool.figures(&tables, "m", &pool.all(), &mut Vec::new());
        let mut merged = a.clone();
        merged.add(&b).unwrap();
        for (i, q) in [0.5, 0.95, 0.99, 0.999].into_iter().enumerate() {
            let want = merged.highest_equivalent(merged.value_at_quantile(q)) as f64 / 1000.0;
            assert_eq!(f.quantiles[i], Some(want), "q={q}");
        }
        assert_eq!((f.count, f.errors, f.secs), (1002, 2, 2.0));
        assert_eq!(f.stat(Stat::Rate), Some(501.0));
        assert_eq!(f.stat(Stat::ErrorRate), Some(2.0 / 1002.0));
    }

    #[test]
    fn resamples_keep_the_length_and_stay_inside_runs() {
        let mut rng = StdRng::seed_from_u64(7);
        let runs = [0..10, 10..13];
        let mut out = Vec::new();
        for _ in 0..200 {
            resample(&runs, 4, &mut rng, &mut out);
            assert_eq!(out.len(), 13);
            assert!(out.iter().all(|&i| i < 13));
        }
        assert_eq!(block_length(60), 4);
        assert_eq!(block_length(1), 1);
        assert_eq!(block_length(0), 1);
    }
}
