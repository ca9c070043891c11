//! Where to measure next: a pure function of the steps so far, so the
//! search is tested without running anything.
//!
//! The load doubles from `min` until a step fails (or `max` is reached),
//! then the bracket between the highest load that passed every time and
//! the lowest that failed is halved until it is narrower than
//! `resolution`; finally each boundary is measured again until it has
//! `1 + repeats` runs. A load that fails in any run is a failing load; a
//! load with a void run and no failure is void, and the search does not
//! look above the lowest void load (the generator could not measure
//! there). Each repeat can move the bracket (a boundary that fails on a
//! repeat becomes the new upper end), and the search goes on from there;
//! it is bounded by [`MAX_STEPS`].

use serde::{Deserialize, Serialize};

/// Steps a search may take at most, repeats included.
pub const MAX_STEPS: usize = 40;

/// The outcome of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    Pass,
    Fail,
    /// Not measured well enough to count (generator saturated, arrivals
    /// dropped, target down).
    Void,
}

impl StepVerdict {
    /// The word capacity.json writes.
    pub fn as_str(self) -> &'static str {
        match self {
            StepVerdict::Pass => "pass",
            StepVerdict::Fail => "fail",
            StepVerdict::Void => "void",
        }
    }
}

/// The search's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub min: f64,
    pub max: f64,
    /// Stop halving when (fail - pass) / pass is at most this.
    pub resolution: f64,
    /// Extra runs of each boundary load.
    pub repeats: u32,
    /// Loads are whole numbers (VUs).
    pub whole: bool,
}

/// What the steps so far say.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// Highest load below `fail` (and `void`) that passed every run.
    pub pass: Option<f64>,
    /// Lowest load that failed in some run.
    pub fail: Option<f64>,
    /// Lowest load with a void run and no failure.
    pub void: Option<f64>,
}

/// How a finished search ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// The bracket [pass, fail] is within resolution and both ends have
    /// their repeats.
    Found { pass: f64, fail: f64 },
    /// Even `min` failed.
    MinFails,
    /// `max` held every SLO.
    MaxHolds,
    /// The generator could not measure the load where the answer lies;
    /// `pass` is the highest load that held (if any), `void` the lowest
    /// that could not be measured.
    Void { pass: Option<f64>, void: f64 },
    /// [`MAX_STEPS`] were taken first; the bracket so far.
    OutOfSteps(State),
}

/// The next load to measure, or how the search ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    Measure(f64),
    Done(End),
}

/// Decides the next step from every step so far, in order.
pub fn next(b: &Bounds, steps: &[(f64, StepVerdict)]) -> Next {
    let s = state(steps);
    if steps.len() >= MAX_STEPS {
        return Next::Done(End::OutOfSteps(s));
    }
    let runs = |load: f64| steps.iter().filter(|(l, _)| *l == load).count();
    let wanted = 1 + b.repeats as usize;
    let upper = match (s.fail, s.void) {
        (Some(f), Some(v)) => Some(f.min(v)),
        (f, v) => f.or(v),
    };
    let Some(pass) = s.pass else {
        return match (steps.is_empty(), upper) {
            (true, _) => Next::Measure(b.min),
            (false, Some(u)) if u <= b.min => match s.fail {
                Some(f) if f <= b.min => Next::Done(End::MinFails),
                _ => Next::Done(End::Void {
                    pass: None,
                    void: u,
                }),
            },
            // A failure above min with no pass below it: measure min.
            (false, _) => Next::Measure(b.min),
        };
    };
    let Some(upper) = upper else {
        if pass >= b.max {
            return Next::Done(End::MaxHolds);
        }
        let up = if b.whole {
            (pass * 2.0).max(pass + 1.0)
        } else {
            pass * 2.0
        };
        return Next::Measure(up.min(b.max));
    };
    let mid = midpoint(pass, upper, b.whole);
    if (upper - pass) / pass > b.resolution
        && let Some(m) = mid
    {
        return Next::Measure(m);
    }
    // Narrow enough (or no load left between the two).
    if s.void.is_some_and(|v| s.fail.is_none_or(|f| v < f)) {
        return Next::Done(End::Void {
            pass: Some(pass),
            void: upper,
        });
    }
    if runs(pass) < wanted {
        return Next::Measure(pass);
    }
    if runs(upper) < wanted {
        return Next::Measure(upper);
    }
    Next::Done(End::Found { pass, fail: upper })
}

/// The bracket the steps so far give.
pub fn state(steps: &[(f64, StepVerdict)]) -> State {
    let failed = |v: StepVerdict| v == StepVerdict::Fail;
    let fail = steps
        .iter()
        .filter(|(_, v)| failed(*v))
        .map(|(l, _)| *l)
        .min_by(f64::total_cmp);
    let void = steps
        .iter()
        .filter(|(l, v)| {
            *v == StepVerdict::Void && !steps.iter().any(|(l2, v2)| l2 == l && failed(*v2))
        })
        .map(|(l, _)| *l)
        .min_by(f64::total_cmp);
    let below = |l: f64| fail.is_none_or(|f| l < f) && void.is_none_or(|v| l < v);
    let pass = steps
        .iter()
        .filter(|(l, v)| {
            *v == StepVerdict::Pass
                && below(*l)
                && steps
                    .iter()
                    .all(|(l2, v2)| l2 != l || *v2 == StepVerdict::Pass)
        })
        .map(|(l, _)| *l)
        .max_by(f64::total_cmp);
    State { pass, fail, void }
}

/// Halfway between, rounded to whole VUs or to 0.1 arrivals/s; `None`
/// when no such load lies strictly between.
fn midpoint(low: f64, high: f64, whole: bool) -> Option<f64> {
    let step = if whole { 1.0 } else { 0.1 };
    let m = ((low + high) / 2.0 / step).round() * step;
    (m > low && m < high).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepVerdict::{Fail, Pass, Void};

    const B: Bounds = Bounds {
        min: 100.0,
        max: 2000.0,
        resolution: 0.05,
        repeats: 2,
        whole: true,
    };

    /// Runs the search against a deterministic load -> verdict function.
    fn search(
        b: &Bounds,
        verdict: impl Fn(f64, usize) -> StepVerdict,
    ) -> (End, Vec<(f64, StepVerdict)>) {
        let mut steps = Vec::new();
        loop {
            match next(b, &steps) {
                Next::Measure(load) => {
                    let nth = steps.iter().filter(|(l, _)| *l == load).count();
                    steps.push((load, verdict(load, nth)));
                }
                Next::Done(end) => return (end, steps),
            }
        }
    }

    #[test]
    fn finds_a_sharp_limit_within_resolution_with_repeats() {
        let (end, steps) = search(&B, |l, _| if l <= 530.0 { Pass } else { Fail });
        let Next::Done(End::Found { pass, fail }) = next(&B, &steps) else {
            panic!("{end:?}");
        };
        assert!(pass <= 530.0 && fail > 530.0, "{pass} {fail}");
        assert!((fail - pass) / pass <= 0.05);
        let loads: Vec<f64> = steps.iter().map(|s| s.0).collect();
        assert_eq!(&loads[..4], &[100.0, 200.0, 400.0, 800.0]);
        assert_eq!(steps.iter().filter(|s| s.0 == pass).count(), 3);
        assert_eq!(steps.iter().filter(|s| s.0 == fail).count(), 3);
        assert!(steps.len() < 16, "{steps:?}");
    }

    #[test]
    fn a_boundary_that_fails_on_a_repeat_moves_the_bracket_down() {
        // 525 (the first boundary) passes once, then fails on its repeat:
        // the answer must come out below it.
        let (end, steps) = search(&B, |l, nth| {
            if l <= 530.0 && !(l == 525.0 && nth > 0) {
                Pass
            } else {
                Fail
            }
        });
        assert!(
            steps.iter().any(|s| s.0 == 525.0 && s.1 == Fail),
            "{steps:?}"
        );
        let End::Found { pass, fail } = end else {
            panic!("{end:?}")
        };
        assert!(pass < 525.0 && fail <= 525.0, "{pass} {fail}");
    }

    #[test]
    fn min_failing_and_max_holding_are_not_found() {
        assert_eq!(search(&B, |_, _| Fail).0, End::MinFails);
        let (end, steps) = search(&B, |_, _| Pass);
        assert_eq!(end, End::MaxHolds);
        assert_eq!(steps.last().unwrap().0, 2000.0);
    }

    #[test]
    fn void_steps_are_never_a_capacity() {
        // The generator saturates from 700 on; the SLO would fail at 900.
        let (end, steps) = search(&B, |l, _| match l {
            l if l >= 900.0 => Fail,
            l if l >= 700.0 => Void,
            _ => Pass,
        });
        match end {
            End::Void {
                pass: Some(p),
                void,
            } => assert!(p < 700.0 && void >= 700.0, "{p} {void}"),
            other => panic!("{other:?}"),
        }
        assert!(!steps.iter().any(|s| s.1 == Fail));
        // Saturated from the start: nothing to report.
        assert!(matches!(
            search(&B, |_, _| Void).0,
            End::Void { pass: None, .. }
        ));
    }

    #[test]
    fn a_failure_below_the_void_still_finds_the_capacity() {
        let (end, _) = search(&B, |l, _| match l {
            l if l >= 1500.0 => Void,
            l if l > 530.0 => Fail,
            _ => Pass,
        });
        assert!(matches!(end, End::Found { .. }), "{end:?}");
    }

    #[test]
    fn rates_bisect_in_tenths() {
        let b = Bounds {
            min: 10.0,
            max: 1000.0,
            whole: false,
            repeats: 0,
            ..B
        };
        let (end, _) = search(&b, |l, _| if l <= 123.4 { Pass } else { Fail });
        let End::Found { pass, fail } = end else {
            panic!("{end:?}")
        };
        assert!(
            pass <= 123.4 && fail > 123.4 && (fail - pass) / pass <= 0.05,
            "{pass} {fail}"
        );
    }

    #[test]
    fn whole_loads_stop_when_nothing_lies_between() {
        let b = Bounds {
            min: 1.0,
            max: 10.0,
            resolution: 0.0,
            repeats: 0,
            ..B
        };
        let (end, _) = search(&b, |l, _| if l <= 3.0 { Pass } else { Fail });
        assert_eq!(
            end,
            End::Found {
                pass: 3.0,
                fail: 4.0
            }
        );
    }

    #[test]
    fn stops_after_max_steps() {
        // More repeats than the step budget allows: the bracket so far.
        let b = Bounds { repeats: 100, ..B };
        let (end, steps) = search(&b, |l, _| if l <= 530.0 { Pass } else { Fail });
        assert_eq!(steps.len(), MAX_STEPS);
        let End::OutOfSteps(s) = end else {
            panic!("{end:?}")
        };
        assert!(s.pass.unwrap() <= 530.0 && s.fail.unwrap() > 530.0);
    }
}
