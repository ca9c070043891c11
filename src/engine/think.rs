//! Think-time sampling from the scenario's distributions, with the VU's
//! seeded generator so runs repeat.

use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use crate::scenario::Think;

/// Exponential think times are capped at this multiple of the mean
/// (probability e^-10 ≈ 0.005 %) so one draw cannot park a VU for the run.
const EXP_CAP: f64 = 10.0;

pub fn sample(think: &Think, rng: &mut StdRng) -> Duration {
    match think {
        Think::Constant(d) => *d,
        Think::Uniform { min, max } => {
            if min >= max {
                return *min;
            }
            let (lo, hi) = (min.as_nanos() as u64, max.as_nanos() as u64);
            Duration::from_nanos(rng.random_range(lo..=hi))
        }
        Think::Exponential(mean) => {
            let u: f64 = rng.random(); // [0, 1)
            let x = -(1.0 - u).ln();
            mean.mul_f64(x.min(EXP_CAP))
        }
        Think::Normal {
            mean,
            stddev,
            min,
            max,
        } => {
            let z = standard_normal(rng);
            let secs = mean.as_secs_f64() + z * stddev.as_secs_f64();
            let secs = secs.clamp(min.as_secs_f64(), max.as_secs_f64().max(min.as_secs_f64()));
            Duration::from_secs_f64(secs.max(0.0))
        }
    }
}

/// Box–Muller transform.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn mean_of(think: &Think, n: u32) -> f64 {
        let mut rng = StdRng::seed_from_u64(7);
        (0..n)
            .map(|_| sample(think, &mut rng).as_secs_f64())
            .sum::<f64>()
            / f64::from(n)
    }

    #[test]
    fn constant_and_bounds() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(sample(&Think::Constant(ms(250)), &mut rng), ms(250));
        let u = Think::Uniform {
            min: ms(100),
            max: ms(200),
        };
        for _ in 0..1000 {
            let d = sample(&u, &mut rng);
            assert!(d >= ms(100) && d <= ms(200));
        }
        let n = Think::Normal {
            mean: ms(100),
            stddev: ms(50),
            min: ms(80),
            max: ms(120),
        };
        for _ in 0..1000 {
            let d = sample(&n, &mut rng);
            assert!(d >= ms(80) && d <= ms(120));
        }
        for _ in 0..1000 {
            assert!(sample(&Think::Exponential(ms(10)), &mut rng) <= ms(100));
        }
    }

    #[test]
    fn means_match_the_distribution() {
        let e = mean_of(&Think::Exponential(Duration::from_secs(1)), 20_000);
        assert!((e - 1.0).abs() < 0.05, "exponential mean {e}");
        let u = mean_of(
            &Think::Uniform {
                min: ms(0),
                max: ms(2000),
            },
            20_000,
        );
        assert!((u - 1.0).abs() < 0.05, "uniform mean {u}");
        let n = mean_of(
            &Think::Normal {
                mean: ms(1000),
                stddev: ms(100),
                min: ms(0),
                max: ms(5000),
            },
            20_000,
        );
        assert!((n - 1.0).abs() < 0.01, "normal mean {n}");
    }

    #[test]
    fn same_seed_same_draws() {
        let t = Think::Exponential(ms(500));
        let mut a = StdRng::seed_from_u64(42);
        let mut b = StdRng::seed_from_u64(42);
        for _ in 0..100 {
            assert_eq!(sample(&t, &mut a), sample(&t, &mut b));
        }
    }
}
