//! The rules every verdict follows, whatever the method: what a change is
//! (relative, or percentage points for errors), the effect floor, the
//! samples a percentile needs, and the final decision after
//! Holm-Bonferroni: a finding needs p below alpha and its whole interval
//! beyond the floor; a change inside the floor is `~` whatever its p.

use super::stats::{self, holm, percentile_sorted};
use super::{ERROR_RATE_FLOOR_PP, Method, Options, Row, Stat, Verdict};

/// Samples beyond a percentile a side needs before it is judged.
const TAIL_SAMPLES: f64 = 10.0;

/// One row before Holm: the numbers, and the verdict when it is decided
/// without the test.
pub(super) struct Pending {
    pub(super) row: Row,
    /// Set when the row is decided before the test (inconclusive or
    /// within the floor).
    pub(super) decided: bool,
    /// The test's verdict if significant and the CI is beyond the floor.
    pub(super) finding: Option<Verdict>,
    /// Smallest p the method can give for this row (rank test sizes).
    pub(super) attainable_p: f64,
}

/// The change from `b` to `c`: % for most, percentage points for errors.
pub(super) fn change(stat: Stat, b: f64, c: f64) -> Option<f64> {
    match stat {
        Stat::ErrorRate => Some((c - b) * 100.0),
        _ if b > 0.0 => Some((c / b - 1.0) * 100.0),
        _ => None,
    }
}

/// The scale the bootstrap's standard error is taken on: log ratio (a
/// relative change is symmetric there) or the difference for errors.
pub(super) fn test_scale(stat: Stat, b: f64, c: f64) -> Option<f64> {
    match stat {
        Stat::ErrorRate => Some(c - b),
        _ if b > 0.0 && c > 0.0 => Some((c / b).ln()),
        _ => None,
    }
}

/// Whether a change counts at all: beyond the % floor, the ms floor for
/// latency, the percentage-point floor for errors.
pub(super) fn beyond_floor(stat: Stat, base: f64, change: f64, opts: &Options) -> bool {
    let floor = opts.min_effect;
    match stat {
        Stat::ErrorRate => change.abs() > ERROR_RATE_FLOOR_PP,
        Stat::Rate => change.abs() > floor.pct,
        _ => change.abs() > floor.pct && change.abs() / 100.0 * base > floor.ms,
    }
}

pub(super) fn floor_text(stat: Stat, opts: &Options) -> String {
    match stat {
        Stat::ErrorRate => format!("{ERROR_RATE_FLOOR_PP} percentage points"),
        Stat::Rate => format!("{}%", opts.min_effect.pct),
        _ => format!("{}% and {} ms", opts.min_effect.pct, opts.min_effect.ms),
    }
}

/// Samples a side needs for `stat` to be judged, if it needs any.
pub(super) fn samples_needed(stat: Stat) -> Option<u64> {
    stat.quantile()
        .map(|q| (TAIL_SAMPLES / (1.0 - q)).round() as u64)
}

pub(super) fn blank(stat: Stat) -> Row {
    Row {
        stat,
        base: None,
        candidate: None,
        change: None,
        ci: None,
        p: None,
        p_holm: None,
        verdict: Verdict::Inconclusive,
        reason: String::new(),
        drift: None,
    }
}

pub(super) fn decided(mut row: Row, verdict: Verdict, reason: String) -> Pending {
    row.verdict = verdict;
    row.reason = reason;
    Pending {
        row,
        decided: true,
        finding: None,
        attainable_p: 0.0,
    }
}

/// What is judged before any test: data present, enough samples, a
/// change beyond the floor. `Err` = decided here.
pub(super) fn screen(
    mut row: Row,
    stat: Stat,
    (b, c): (Option<f64>, Option<f64>),
    (ok_b, ok_c): (u64, u64),
    opts: &Options,
) -> Result<(Row, f64, f64, f64), Box<Pending>> {
    let stop = |row, verdict, reason: String| Err(Box::new(decided(row, verdict, reason)));
    row.base = b;
    row.candidate = c;
    let (b, c) = match (b, c) {
        (Some(b), Some(c)) => (b, c),
        (None, _) => return stop(row, Verdict::Inconclusive, "no data in the base".into()),
        (_, None) => {
            return stop(
                row,
                Verdict::Inconclusive,
                "no data in the candidate".into(),
            );
        }
    };
    if let Some(need) = samples_needed(stat)
        && ok_b.min(ok_c) < need
    {
        let reason = format!(
            "{} needs {need} successful samples a run to be judged: run longer or at a higher rate",
            stat.label()
        );
        return stop(row, Verdict::Inconclusive, reason);
    }
    let Some(delta) = change(stat, b, c) else {
        return stop(
            row,
            Verdict::Inconclusive,
            "the base is 0: no relative change".into(),
        );
    };
    row.change = Some(delta);
    if !beyond_floor(stat, b, delta, opts) {
        let reason = format!("within the effect floor ({})", floor_text(stat, opts));
        return stop(row, Verdict::Same, reason);
    }
    Ok((row, b, c, delta))
}

/// The finding a significant change beyond the floor makes.
pub(super) fn direction(stat: Stat, delta: f64) -> Verdict {
    if (delta > 0.0) == stat.larger_is_worse() {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

/// The CI lies wholly beyond the floor, on the side of the change.
pub(super) fn ci_beyond(stat: Stat, base: f64, delta: f64, ci: [f64; 2], opts: &Options) -> bool {
    ci.iter()
        .all(|&e| e.signum() == delta.signum() && beyond_floor(stat, base, e, opts))
}

pub(super) fn interval(mut deltas: Vec<f64>) -> Option<[f64; 2]> {
    if deltas.is_empty() {
        return None;
    }
    deltas.sort_by(f64::total_cmp);
    Some([
        percentile_sorted(&deltas, 0.025),
        percentile_sorted(&deltas, 0.975),
    ])
}

/// Holm over the tested rows of a column, then each row's verdict.
pub(super) fn finish(
    pending: Vec<(usize, Pending)>,
    method: Method,
    opts: &Options,
) -> Vec<(usize, Row)> {
    let tested: Vec<usize> = pending
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| p.row.p.is_some())
        .map(|(i, _)| i)
        .collect();
    let m = tested.len();
    let raw: Vec<f64> = tested
        .iter()
        .map(|&i| pending[i].1.row.p.unwrap_or(1.0))
        .collect();
    let adjusted = holm(&raw);
    let mut holm_of = vec![None; pending.len()];
    for (k, &i) in tested.iter().enumerate() {
        holm_of[i] = Some(adjusted[k]);
    }
    let first_threshold = opts.alpha / m.max(1) as f64;
    pending
        .into_iter()
        .zip(holm_of)
        .map(|((mi, p), p_holm)| {
            let mut row = p.row;
            row.p_holm = p_holm;
            if p.decided {
                return (mi, row);
            }
            let ph = p_holm.unwrap_or(1.0);
            (row.verdict, row.reason) = if method == Method::MannWhitneyU
                && p.attainable_p >= first_threshold
            {
                let need = stats::repetitions_needed(first_threshold)
                    .map_or("more than 100".to_string(), |n| n.to_string());
                (
                    Verdict::Inconclusive,
                    format!(
                        "a rank test on these runs gives at best p={:.3}, and a finding among {m} comparisons (Holm) needs p<{:.4}: run {need} or more a side",
                        p.attainable_p, first_threshold
                    ),
                )
            } else if ph < opts.alpha {
                match p.finding {
                    Some(v) => (
                        v,
                        format!("{} (Holm), 95 % CI wholly beyond the floor", fmt_p(ph)),
                    ),
                    None => match row.drift {
                        None if method == Method::BlockBootstrap => (
                            Verdict::Same,
                            format!(
                                "{} (Holm), but not measured in both halves of each run, so the runs' own noise is unknown",
                                fmt_p(ph)
                            ),
                        ),
                        Some(d) if row.ci.is_some_and(|ci| ci.iter().any(|e| e.abs() <= d)) => (
                            Verdict::Same,
                            format!(
                                "{} (Holm), but within the runs' own drift (first vs second half: {d:.1}{})",
                                fmt_p(ph),
                                if row.stat == Stat::ErrorRate { " pp" } else { "%" }
                            ),
                        ),
                        _ => (
                            Verdict::Same,
                            format!("{} (Holm), but the 95 % CI reaches into the floor", fmt_p(ph)),
                        ),
                    },
                }
            } else {
                (
                    Verdict::Same,
                    format!("not significant ({} after Holm over {m})", fmt_p(ph)),
                )
            };
            (mi, row)
        })
        .collect()
}

pub(super) fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "p<0.001".into()
    } else {
        format!("p={p:.3}")
    }
}
