//! Three or more runs a side: a two-sided Mann-Whitney U test on the
//! per-run values and a bootstrap interval of the change of the medians
//! (runs resampled with replacement).

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Options;
use super::Stat;
use super::rule::{Pending, blank, change, ci_beyond, direction, interval, screen};
use super::sample::Figures;
use super::stats::{mann_whitney_p, median, min_attainable_p};

pub(super) fn repetition_row(
    stat: Stat,
    b: &[Figures],
    c: &[Figures],
    opts: &Options,
    seed: u64,
) -> Pending {
    let values = |f: &[Figures]| f.iter().filter_map(|f| f.stat(stat)).collect::<Vec<f64>>();
    let (bv, cv) = (values(b), values(c));
    let fewest_ok = |f: &[Figures]| f.iter().map(Figures::ok).min().unwrap_or(0);
    let screened = screen(
        blank(stat),
        stat,
        (median(&bv), median(&cv)),
        (fewest_ok(b), fewest_ok(c)),
        opts,
    );
    let (mut row, mb, _, delta) = match screened {
        Ok(s) => s,
        Err(p) => return *p,
    };
    row.p = mann_whitney_p(&bv, &cv);
    let mut rng = StdRng::seed_from_u64(seed ^ stat as u64);
    let deltas = (0..opts.resamples)
        .filter_map(|_| {
            let pick = |v: &[f64], rng: &mut StdRng| -> Vec<f64> {
                (0..v.len())
                    .map(|_| v[rand::RngExt::random_range(rng, 0..v.len())])
                    .collect()
            };
            let (rb, rc) = (pick(&bv, &mut rng), pick(&cv, &mut rng));
            change(stat, median(&rb)?, median(&rc)?)
        })
        .collect();
    row.ci = interval(deltas);
    let finding = row
        .ci
        .filter(|&ci| ci_beyond(stat, mb, delta, ci, opts))
        .map(|_| direction(stat, delta));
    Pending {
        row,
        decided: false,
        finding,
        attainable_p: min_attainable_p(bv.len(), cv.len()),
    }
}
