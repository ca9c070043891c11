//! The measured phase of a run: the intervals compare judges. Ramps, the
//! first second (connections and caches warming up) and the graceful stop
//! measure the transition, not the setup, so they are left out when a
//! steady phase long enough to judge exists.

use crate::results::{IntervalRecord, LoadSpec};

/// Fewest intervals a phase must have to stand on its own.
pub const MIN_INTERVALS: usize = 5;

/// Allowance for interval edges that miss a stage edge by scheduling jitter.
const EDGE_SLACK_S: f64 = 0.25;

/// The chosen intervals (indices into the run's records) and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub intervals: Vec<usize>,
    pub text: String,
    /// The run recorded no load stages (schema 1), so the phase is a guess
    /// from the interval list alone.
    pub unstaged: bool,
}

/// Said of a side whose runs recorded no stages, in the method line.
pub const UNSTAGED: &str = "schema-1 runs record no load stages: their measured phase is the whole run minus its first and last interval (warm-up, graceful stop)";

/// The steady part of the run: intervals lying wholly inside stages that
/// hold a level above zero, the first interval of the run left out; if
/// that leaves fewer than [`MIN_INTERVALS`], every interval before the
/// graceful stop (first one left out when enough remain).
///
/// A run without stages (schema 1) is measured whole but its first and
/// last interval: otherwise nothing of it would lie in a stage, and a
/// committed baseline would compare nothing.
pub fn measured(records: &[IntervalRecord], load: &LoadSpec) -> Phase {
    if load.stages.is_empty() {
        return unstaged(records.len());
    }
    let holds = hold_windows(load);
    let staged_end: f64 = load.stages.iter().map(|s| s.duration_s).sum();
    let window = |r: &IntervalRecord| (r.elapsed_s - r.duration_s, r.elapsed_s);
    let steady: Vec<usize> = records
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, r)| {
            let (from, to) = window(r);
            holds
                .iter()
                .any(|&(a, b)| from >= a - EDGE_SLACK_S && to <= b + EDGE_SLACK_S)
        })
        .map(|(i, _)| i)
        .collect();
    if steady.len() >= MIN_INTERVALS {
        let text = format!(
            "{} of {} intervals at steady load (ramps, the first second and the graceful stop left out)",
            steady.len(),
            records.len()
        );
        return Phase {
            intervals: steady,
            text,
            unstaged: false,
        };
    }
    let staged: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| window(r).1 <= staged_end + EDGE_SLACK_S)
        .map(|(i, _)| i)
        .collect();
    let staged = if staged.len() > MIN_INTERVALS {
        staged.into_iter().filter(|&i| i > 0).collect()
    } else {
        staged
    };
    let text = format!(
        "{} of {} intervals (no steady phase of {MIN_INTERVALS} s: ramps included, the graceful stop left out)",
        staged.len(),
        records.len()
    );
    Phase {
        intervals: staged,
        text,
        unstaged: false,
    }
}

/// Every interval but the first and the last, when any remain.
fn unstaged(n: usize) -> Phase {
    let intervals: Vec<usize> = if n > 2 {
        (1..n - 1).collect()
    } else {
        (0..n).collect()
    };
    let text = format!(
        "{} of {n} intervals (no load stages recorded: the whole run minus its first and last interval)",
        intervals.len()
    );
    Phase {
        intervals,
        text,
        unstaged: true,
    }
}

/// (from, to) in run seconds of each stage that holds a level above zero.
fn hold_windows(load: &LoadSpec) -> Vec<(f64, f64)> {
    let mut level = load.start;
    let mut t = 0.0;
    let mut out = Vec::new();
    for stage in &load.stages {
        let end = t + stage.duration_s;
        if stage.target == level && level > 0.0 {
            out.push((t, end));
        }
        level = stage.target;
        t = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::StageSpec;
    use crate::scenario::Model;

    fn records(n: usize) -> Vec<IntervalRecord> {
        (1..=n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "elapsed_s": i as f64,
                    "start_unix_ms": 1000 * i as u64,
                    "duration_s": 1.0,
                }))
                .unwrap()
            })
            .collect()
    }

    fn load(start: f64, stages: &[(f64, f64)]) -> LoadSpec {
        LoadSpec {
            model: Model::Closed,
            unit: "vus".into(),
            start,
            stages: stages
                .iter()
                .map(|&(duration_s, target)| StageSpec { duration_s, target })
                .collect(),
            max_vus: None,
            graceful_stop_s: 2.0,
        }
    }

    #[test]
    fn a_hold_from_the_start_drops_the_first_second_and_the_stop() {
        // 10 s at 20 VUs, then 2 s of graceful stop.
        let p = measured(&records(12), &load(20.0, &[(10.0, 20.0)]));
        assert_eq!(p.intervals, (1..10).collect::<Vec<_>>());
        assert!(p.text.starts_with("9 of 12 intervals at steady load"));
    }

    #[test]
    fn ramps_are_left_out() {
        // ramp 0->10 over 3 s, hold 8 s, ramp down 3 s.
        let p = measured(
            &records(14),
            &load(0.0, &[(3.0, 10.0), (8.0, 10.0), (3.0, 0.0)]),
        );
        assert_eq!(p.intervals, (3..11).collect::<Vec<_>>());
    }

    #[test]
    fn without_a_steady_phase_every_staged_interval_counts() {
        let p = measured(&records(8), &load(0.0, &[(6.0, 30.0)]));
        assert_eq!(p.intervals, (1..6).collect::<Vec<_>>());
        assert!(p.text.contains("no steady phase"));
        let short = measured(&records(3), &load(5.0, &[(3.0, 5.0)]));
        assert_eq!(short.intervals, vec![0, 1, 2]);
    }

    #[test]
    fn a_run_without_stages_is_measured_whole_but_its_ends() {
        let p = measured(&records(31), &load(0.0, &[]));
        assert_eq!(p.intervals, (1..30).collect::<Vec<_>>());
        assert!(p.unstaged);
        assert!(p.text.starts_with("29 of 31 intervals (no load stages"));
        assert_eq!(measured(&records(2), &load(0.0, &[])).intervals, [0, 1]);
    }
}
