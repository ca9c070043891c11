//! A piecewise-linear load profile: VUs (closed model) or arrivals per
//! second (open model) over time. Each stage moves linearly from the
//! previous level to its own target.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Level at t = 0.
    pub start: f64,
    /// (stage duration, level at the end of the stage).
    pub stages: Vec<(Duration, f64)>,
}

impl Profile {
    pub fn constant(level: f64, duration: Duration) -> Profile {
        Profile {
            start: level,
            stages: vec![(duration, level)],
        }
    }

    pub fn total(&self) -> Duration {
        self.stages.iter().map(|(d, _)| *d).sum()
    }

    /// Index of the stage running at `t` (the last one once past the end).
    pub fn stage_at(&self, t: Duration) -> usize {
        let mut end = Duration::ZERO;
        for (i, (d, _)) in self.stages.iter().enumerate() {
            end += *d;
            if t < end {
                return i;
            }
        }
        self.stages.len().saturating_sub(1)
    }

    /// Level at `t`; the last target once past the end.
    pub fn value_at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut offset = Duration::ZERO;
        for (d, to) in &self.stages {
            if t < offset + *d {
                let frac = (t - offset).as_secs_f64() / d.as_secs_f64();
                return from + (to - from) * frac;
            }
            offset += *d;
            from = *to;
        }
        from
    }

    /// Highest level anywhere in the profile.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|(_, t)| *t)
            .fold(self.start, f64::max)
    }

    /// Integral of the level from 0 to the end: the number of arrivals of
    /// an open-model profile.
    pub fn integral(&self) -> f64 {
        let mut from = self.start;
        let mut sum = 0.0;
        for (d, to) in &self.stages {
            sum += (from + to) / 2.0 * d.as_secs_f64();
            from = *to;
        }
        sum
    }

    /// The time at which the integral of the level reaches `x`, or `None`
    /// when it never does within the profile. The open model starts
    /// arrival k at `time_of_integral(k)`: absolute times from the start,
    /// so pacing cannot drift.
    pub fn time_of_integral(&self, x: f64) -> Option<Duration> {
        let mut from = self.start;
        let mut offset = 0.0;
        let mut acc = 0.0;
        for (d, to) in &self.stages {
            let secs = d.as_secs_f64();
            let area = (from + to) / 2.0 * secs;
            if x <= acc + area && secs > 0.0 && area > 0.0 {
                let t = solve_linear_area(from, *to, secs, x - acc).min(secs);
                let at = offset + t;
                // Arrivals exactly at the end belong to no stage.
                if at >= self.total().as_secs_f64() {
                    return None;
                }
                return Some(Duration::from_secs_f64(at));
            }
            acc += area;
            offset += secs;
            from = *to;
        }
        None
    }
}

/// Time t in [0, d] at which the area under a line from r0 to r1 over d
/// reaches x: r0 t + a t^2 = x with a = (r1 - r0) / 2d. Uses the
/// cancellation-free root 2x / (r0 + sqrt(r0^2 + 4 a x)).
fn solve_linear_area(r0: f64, r1: f64, d: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let a = (r1 - r0) / (2.0 * d);
    let disc = (r0 * r0 + 4.0 * a * x).max(0.0);
    let denom = r0 + disc.sqrt();
    if denom <= 0.0 { d } else { 2.0 * x / denom }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn constant_rate_spacing() {
        let p = Profile::constant(10.0, secs(2.0));
        assert_eq!(p.time_of_integral(0.0), Some(secs(0.0)));
        let t = p.time_of_integral(5.0).map(|d| d.as_secs_f64());
        assert!((t.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert_eq!(p.time_of_integral(20.0), None);
        assert_eq!(p.integral(), 20.0);
    }

    #[test]
    fn ramp_integral_inverse() {
        // 0 -> 10/s over 2 s: 10 arrivals; area t^2 * 2.5 reaches 2.5 at 1 s.
        let p = Profile {
            start: 0.0,
            stages: vec![(secs(2.0), 10.0)],
        };
        let t = p.time_of_integral(2.5).map(|d| d.as_secs_f64());
        assert!((t.unwrap_or(0.0) - 1.0).abs() < 1e-9);
        assert_eq!(p.integral(), 10.0);
        // Ramp down 10 -> 0: the first half holds 7.5 of 10 arrivals.
        let down = Profile {
            start: 10.0,
            stages: vec![(secs(2.0), 0.0)],
        };
        let t = down.time_of_integral(7.5).map(|d| d.as_secs_f64());
        assert!((t.unwrap_or(0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn value_and_stage() {
        let p = Profile {
            start: 0.0,
            stages: vec![(secs(10.0), 100.0), (secs(10.0), 100.0), (secs(5.0), 0.0)],
        };
        assert_eq!(p.value_at(secs(5.0)), 50.0);
        assert_eq!(p.value_at(secs(15.0)), 100.0);
        assert_eq!(p.value_at(secs(30.0)), 0.0);
        assert_eq!(p.stage_at(secs(12.0)), 1);
        assert_eq!(p.peak(), 100.0);
        assert_eq!(p.total(), secs(25.0));
    }

    #[test]
    fn zero_rate_stage_is_skipped() {
        let p = Profile {
            start: 0.0,
            stages: vec![(secs(1.0), 0.0), (secs(1.0), 0.0), (secs(1.0), 4.0)],
        };
        let t = p.time_of_integral(0.5).map(|d| d.as_secs_f64());
        // area in the third stage: 2 t^2 = 0.5 -> t = 0.5
        assert!((t.unwrap_or(0.0) - 2.5).abs() < 1e-9);
    }
}
