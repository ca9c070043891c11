//! One (or two) runs a side: a moving-block bootstrap over the per-second
//! histograms of the measured phase, p from the bootstrap's standard error
//! on the log scale, and the runs' own drift as a second yardstick.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::judge::Pair;
use super::phase::MIN_INTERVALS;
use super::rule::{
    Pending, blank, change, ci_beyond, decided, direction, interval, screen, test_scale,
};
use super::sample::{self, Figures};
use super::stats;
use super::{Options, Stat, Verdict};

/// Bootstrap replicates of every (metric, stat): (change, test-scale value).
pub(super) type Replicates = BTreeMap<(usize, Stat), Vec<(f64, f64)>>;

pub(super) fn block_replicates(
    pair: &Pair,
    metrics: &[String],
    resamples: usize,
    seed: u64,
) -> Replicates {
    let mut out: Replicates = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let (block_b, block_c) = (
        sample::block_length(pair.base.len()),
        sample::block_length(pair.cand.len()),
    );
    let (mut picks_b, mut picks_c, mut dense) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..resamples {
        sample::resample(&pair.base.runs, block_b, &mut rng, &mut picks_b);
        sample::resample(&pair.cand.runs, block_c, &mut rng, &mut picks_c);
        for (mi, metric) in metrics.iter().enumerate() {
            let fb = pair
                .base
                .figures(&pair.tables, metric, &picks_b, &mut dense);
            let fc = pair
                .cand
                .figures(&pair.tables, metric, &picks_c, &mut dense);
            for stat in Stat::ALL {
                let (Some(b), Some(c)) = (fb.stat(stat), fc.stat(stat)) else {
                    continue;
                };
                if let (Some(d), Some(t)) = (change(stat, b, c), test_scale(stat, b, c)) {
                    out.entry((mi, stat)).or_default().push((d, t));
                }
            }
        }
    }
    out
}

/// How far each side's statistic moved between the first and second half
/// of its own measured phase (the larger of the two sides, in the unit of
/// [`change`]). Two runs of one setup differ by about this much or less
/// when the machine's noise is steady; one run's bootstrap cannot see the
/// run-to-run noise, so a single-run finding must also clear this.
/// `None` when a half lacks the statistic: the noise is then unknown.
pub(super) fn drift(stat: Stat, base: &[Figures; 2], cand: &[Figures; 2]) -> Option<f64> {
    let of = |h: &[Figures; 2]| change(stat, h[0].stat(stat)?, h[1].stat(stat)?).map(f64::abs);
    Some(of(base)?.max(of(cand)?))
}

pub(super) fn bootstrap_row(
    stat: Stat,
    (b, c): (&Figures, &Figures),
    replicates: &[(f64, f64)],
    drift: Option<f64>,
    pair: &Pair,
    opts: &Options,
) -> Pending {
    let mut row = blank(stat);
    let fewest = pair.base.len().min(pair.cand.len());
    if fewest < MIN_INTERVALS {
        row.base = b.stat(stat);
        row.candidate = c.stat(stat);
        let reason = format!(
            "one run a side is judged by its per-second intervals: needs {MIN_INTERVALS} measured intervals a side (fewest: {fewest}); run longer, or give intervals.jsonl"
        );
        return decided(row, Verdict::Inconclusive, reason);
    }
    if stat == Stat::P999 {
        row.base = b.stat(stat);
        row.candidate = c.stat(stat);
        row.change = row
            .base
            .zip(row.candidate)
            .and_then(|(b, c)| change(stat, b, c));
        let reason = "p99.9 of one run is set by its rarest stalls, which differ from run to run (A/A runs on a quiet host disagree here most): judge it with 3 or more runs a side".into();
        return decided(row, Verdict::Inconclusive, reason);
    }
    let screened = screen(
        row,
        stat,
        (b.stat(stat), c.stat(stat)),
        (b.ok(), c.ok()),
        opts,
    );
    let (mut row, vb, vc, delta) = match screened {
        Ok(s) => s,
        Err(p) => return *p,
    };
    // p from the bootstrap standard error on the test scale.
    let scale: Vec<f64> = replicates.iter().map(|r| r.1).collect();
    let se = stats::std_dev(&scale);
    let point = test_scale(stat, vb, vc).unwrap_or(0.0);
    row.p = Some(if se > 0.0 {
        stats::normal_two_sided(point / se)
    } else if point == 0.0 {
        1.0
    } else {
        0.0
    });
    row.ci = interval(replicates.iter().map(|r| r.0).collect());
    row.drift = drift;
    let beyond_drift = |ci: [f64; 2]| drift.is_some_and(|d| ci.iter().all(|e| e.abs() > d));
    let finding = row
        .ci
        .filter(|&ci| ci_beyond(stat, vb, delta, ci, opts) && beyond_drift(ci))
        .map(|_| direction(stat, delta));
    Pending {
        row,
        decided: false,
        finding,
        attainable_p: 0.0,
    }
}
