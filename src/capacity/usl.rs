//! Gunther's Universal Scalability Law fitted to measured steps:
//! X(N) = λN / (1 + σ(N−1) + κN(N−1)), N = concurrency (e.g. virtual
//! users), X = throughput (operations/s). λ is the throughput of one user,
//! σ the contention (serialised share), κ the coherency cost (crosstalk).
//!
//! Method: the linearisation N/X = a + b(N−1) + c·N(N−1) is solved by
//! ordinary least squares, λ = 1/a, σ = b/a, κ = c/a. The 3x3 normal
//! equations are solved by hand (Gaussian elimination with partial
//! pivoting) after scaling each column to unit length, because N(N−1)
//! dwarfs the intercept and would otherwise wreck the conditioning; no
//! crate does a constrained 3-parameter fit simply.
//!
//! σ and κ are constrained to ≥ 0: a negative coefficient has no physical
//! meaning, so its term is dropped and the fit redone without it. Every
//! term subset ({b,c}, {b}, {c}, none) is fitted and the feasible one with
//! the smallest linearised residual wins, which is the exact constrained
//! least-squares optimum; a near tie (within 1e-12 of Σ(N/X)²) goes to the
//! subset with fewer terms, so exact linear data gives κ = 0, not 1e-19.
//!
//! r² is computed on X itself (observed vs model throughput), because that
//! is what a reader compares; it can be negative when the model does
//! worse than the mean throughput.

use serde::{Deserialize, Serialize};

/// A fitted USL model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UslFit {
    /// Throughput at N = 1 (operations/s).
    pub lambda: f64,
    /// Contention coefficient, ≥ 0.
    pub sigma: f64,
    /// Coherency coefficient, ≥ 0.
    pub kappa: f64,
    /// Coefficient of determination on throughput (≤ 1, may be negative).
    pub r_squared: f64,
    /// Number of points fitted.
    pub points: usize,
    /// N at which the model's throughput peaks (None when kappa == 0: no
    /// peak, the model only flattens; also None when sigma ≥ 1: throughput
    /// never rises above X(1)). May lie beyond the measured N: an
    /// extrapolation.
    pub peak_load: Option<f64>,
    /// Model throughput at `peak_load`.
    pub peak_throughput: Option<f64>,
}

/// Why points cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UslError {
    /// λ, σ and κ need at least three concurrency levels.
    #[error(
        "the USL fit needs throughput at 3 or more distinct concurrency levels, got {distinct}: measure more load steps"
    )]
    TooFewLevels { distinct: usize },
    /// A point's N is zero, negative, NaN or infinite.
    #[error("points[{index}]: concurrency N = {n} is not a finite number above 0")]
    BadConcurrency { index: usize, n: f64 },
    /// A point's X is zero, negative, NaN or infinite.
    #[error(
        "points[{index}]: throughput X = {x} is not a finite number above 0 (a step with no completed operations cannot be fitted)"
    )]
    BadThroughput { index: usize, x: f64 },
    /// The least-squares system has no usable solution.
    #[error(
        "the USL least-squares system is singular: the concurrency levels are too close together or too large to tell contention (σ) from coherency (κ)"
    )]
    Singular,
}

/// Pivots below this (on the unit-diagonal scaled system) would leave
/// fewer than about 3 of f64's 16 significant digits in the solution.
const PIVOT_MIN: f64 = 1e3 * f64::EPSILON;

/// Relative residual difference within which two subset fits tie.
const TIE: f64 = 1e-12;

/// Fits the USL to `(N, X)` points; repeated N (e.g. repeated runs) are
/// allowed and weigh in as separate points.
pub fn fit(points: &[(f64, f64)]) -> Result<UslFit, UslError> {
    for (index, &(n, x)) in points.iter().enumerate() {
        if !(n.is_finite() && n > 0.0) {
            return Err(UslError::BadConcurrency { index, n });
        }
        if !(x.is_finite() && x > 0.0) {
            return Err(UslError::BadThroughput { index, x });
        }
    }
    let mut levels: Vec<f64> = points.iter().map(|p| p.0).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    if levels.len() < 3 {
        return Err(UslError::TooFewLevels {
            distinct: levels.len(),
        });
    }

    let rows: Vec<([f64; 3], f64)> = points
        .iter()
        .map(|&(n, x)| ([1.0, n - 1.0, n * (n - 1.0)], n / x))
        .collect();
    if rows
        .iter()
        .any(|(f, y)| !y.is_finite() || f.iter().any(|v| !v.is_finite()))
    {
        return Err(UslError::Singular);
    }

    // A singular full system means σ and κ cannot be told apart: answering
    // with a smaller model would silently claim one of them is zero.
    let full = solve_subset(&rows, [true, true, true]).ok_or(UslError::Singular)?;
    let candidates = [
        [true, false, false],
        [true, true, false],
        [true, false, true],
        [true, true, true],
    ];
    let fits: Vec<([f64; 3], f64)> = candidates
        .iter()
        .filter_map(|&mask| {
            if mask == [true, true, true] {
                Some(full)
            } else {
                solve_subset(&rows, mask)
            }
        })
        .filter(|c| c[0] > 0.0 && c[1] >= 0.0 && c[2] >= 0.0)
        .map(|c| (c, residual(&rows, &c)))
        .collect();
    let best = fits.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
    let scale: f64 = rows.iter().map(|(_, y)| y * y).sum();
    if !scale.is_finite() {
        return Err(UslError::Singular);
    }
    // Candidates are in order of fewer terms first, so the first near-tie wins.
    let &(coef, _) = fits
        .iter()
        .find(|f| f.1 <= best + TIE * scale)
        .ok_or(UslError::Singular)?;

    let [a, b, c] = coef;
    let lambda = 1.0 / a;
    let sigma = b / a;
    let kappa = c / a;
    if !(lambda.is_finite() && sigma.is_finite() && kappa.is_finite()) {
        return Err(UslError::Singular);
    }
    let model = |n: f64| lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0));

    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let ss_res: f64 = points.iter().map(|&(n, x)| (x - model(n)).powi(2)).sum();
    let r_squared = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        // Every X equal: the model explains them fully only if it is flat too.
        let sum_sq: f64 = points.iter().map(|p| p.1 * p.1).sum();
        if ss_res <= TIE * sum_sq { 1.0 } else { 0.0 }
    };
    if !r_squared.is_finite() {
        return Err(UslError::Singular);
    }

    let peak_load = if kappa > 0.0 && sigma < 1.0 {
        Some(((1.0 - sigma) / kappa).sqrt()).filter(|p| p.is_finite())
    } else {
        None
    };
    let peak_throughput = peak_load.map(model).filter(|x| x.is_finite());
    Ok(UslFit {
        lambda,
        sigma,
        kappa,
        r_squared,
        points: points.len(),
        peak_load: peak_load.filter(|_| peak_throughput.is_some()),
        peak_throughput,
    })
}

/// Least squares on the columns selected by `mask`; unselected
/// coefficients are 0. None when the system is singular.
fn solve_subset(rows: &[([f64; 3], f64)], mask: [bool; 3]) -> Option<[f64; 3]> {
    let cols: Vec<usize> = (0..3).filter(|&j| mask[j]).collect();
    let k = cols.len();
    // Unit-length columns make the normal matrix's diagonal 1, so one
    // pivot threshold fits every data scale.
    let norm: Vec<f64> = cols
        .iter()
        .map(|&j| rows.iter().map(|(f, _)| f[j] * f[j]).sum::<f64>().sqrt())
        .collect();
    if norm.iter().any(|&s| !(s.is_finite() && s > 0.0)) {
        return None;
    }
    let mut m = [[0.0f64; 4]; 3];
    for (r, &jr) in cols.iter().enumerate() {
        for (c, &jc) in cols.iter().enumerate() {
            m[r][c] = rows.iter().map(|(f, _)| f[jr] * f[jc]).sum::<f64>() / (norm[r] * norm[c]);
        }
        m[r][k] = rows.iter().map(|(f, y)| f[jr] * y).sum::<f64>() / norm[r];
    }
    let z = gauss(&mut m, k)?;
    let mut coef = [0.0; 3];
    for (i, &j) in cols.iter().enumerate() {
        coef[j] = z[i] / norm[i];
    }
    coef.iter().all(|c| c.is_finite()).then_some(coef)
}

/// Solves the k x k augmented system in `m` (column k is the right-hand
/// side) by Gaussian elimination with partial pivoting.
fn gauss(m: &mut [[f64; 4]; 3], k: usize) -> Option<[f64; 3]> {
    for col in 0..k {
        let pivot_row = (col..k).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        let size = m[pivot_row][col].abs();
        if size.is_nan() || size < PIVOT_MIN {
            return None;
        }
        m.swap(col, pivot_row);
        let pivot = m[col];
        for row in m.iter_mut().take(k).skip(col + 1) {
            let factor = row[col] / pivot[col];
            for (cell, p) in row[col..=k].iter_mut().zip(&pivot[col..=k]) {
                *cell -= factor * p;
            }
        }
    }
    let mut z = [0.0; 3];
    for row in (0..k).rev() {
        let tail: f64 = (row + 1..k).map(|c| m[row][c] * z[c]).sum();
        z[row] = (m[row][k] - tail) / m[row][row];
    }
    Some(z)
}

/// Sum of squared residuals of the linearised form.
fn residual(rows: &[([f64; 3], f64)], coef: &[f64; 3]) -> f64 {
    rows.iter()
        .map(|(f, y)| {
            let fitted: f64 = f.iter().zip(coef).map(|(v, c)| v * c).sum();
            (y - fitted).powi(2)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usl(lambda: f64, sigma: f64, kappa: f64, n: f64) -> f64 {
        lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
    }

    fn points(lambda: f64, sigma: f64, kappa: f64, ns: &[f64]) -> Vec<(f64, f64)> {
        ns.iter()
            .map(|&n| (n, usl(lambda, sigma, kappa, n)))
            .collect()
    }

    fn rel(got: f64, want: f64) -> f64 {
        ((got - want) / want).abs()
    }

    const DOUBLING: [f64; 7] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

    #[test]
    fn recovers_exact_parameters() {
        let fit = fit(&points(100.0, 0.05, 0.001, &DOUBLING)).unwrap();
        assert!(rel(fit.lambda, 100.0) < 1e-6, "{fit:?}");
        assert!(rel(fit.sigma, 0.05) < 1e-6, "{fit:?}");
        assert!(rel(fit.kappa, 0.001) < 1e-6, "{fit:?}");
        assert!((fit.r_squared - 1.0).abs() < 1e-9, "{fit:?}");
        assert_eq!(fit.points, 7);
        let peak = (0.95f64 / 0.001).sqrt();
        assert!(rel(fit.peak_load.unwrap(), peak) < 1e-6, "{fit:?}");
        let top = usl(100.0, 0.05, 0.001, peak);
        assert!(rel(fit.peak_throughput.unwrap(), top) < 1e-6, "{fit:?}");
    }

    #[test]
    fn recovers_parameters_at_thousands_of_users() {
        let ns = [10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0];
        let fit = fit(&points(40.0, 0.02, 0.00002, &ns)).unwrap();
        assert!(rel(fit.lambda, 40.0) < 1e-6, "{fit:?}");
        assert!(rel(fit.sigma, 0.02) < 1e-6, "{fit:?}");
        assert!(rel(fit.kappa, 0.00002) < 1e-6, "{fit:?}");
    }

    #[test]
    fn linear_scaling_has_no_peak() {
        let fit = fit(&points(100.0, 0.0, 0.0, &DOUBLING)).unwrap();
        assert!(rel(fit.lambda, 100.0) < 1e-9, "{fit:?}");
        assert_eq!(fit.sigma, 0.0);
        assert_eq!(fit.kappa, 0.0);
        assert_eq!(fit.peak_load, None);
        assert_eq!(fit.peak_throughput, None);
        assert!((fit.r_squared - 1.0).abs() < 1e-9, "{fit:?}");
    }

    #[test]
    fn amdahl_scaling_has_zero_kappa() {
        let fit = fit(&points(100.0, 0.1, 0.0, &DOUBLING)).unwrap();
        assert!(rel(fit.sigma, 0.1) < 1e-6, "{fit:?}");
        assert_eq!(fit.kappa, 0.0);
        assert_eq!(fit.peak_load, None);
    }

    #[test]
    fn noisy_points_fit_near() {
        let ns = [
            1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0,
        ];
        // Deterministic ±3 % noise, alternating in sign with varying size.
        let noisy: Vec<(f64, f64)> = ns
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let noise = 0.03 * (i as f64 * 2.3).sin();
                (n, usl(100.0, 0.05, 0.001, n) * (1.0 + noise))
            })
            .collect();
        let fit = fit(&noisy).unwrap();
        assert!(fit.r_squared < 1.0 && fit.r_squared > 0.95, "{fit:?}");
        assert!(rel(fit.lambda, 100.0) < 0.03, "{fit:?}");
        assert!((fit.sigma - 0.05).abs() < 0.01, "{fit:?}");
        assert!(rel(fit.kappa, 0.001) < 0.1, "{fit:?}");
        assert!(
            rel(fit.peak_load.unwrap(), (0.95f64 / 0.001).sqrt()) < 0.05,
            "{fit:?}"
        );
    }

    #[test]
    fn negative_sigma_is_dropped() {
        // Superlinear at first (σ < 0): the fit keeps σ at 0.
        let fit = fit(&points(100.0, -0.02, 0.0005, &DOUBLING)).unwrap();
        assert_eq!(fit.sigma, 0.0, "{fit:?}");
        assert!(fit.kappa >= 0.0, "{fit:?}");
        assert!(fit.lambda > 0.0, "{fit:?}");
    }

    #[test]
    fn negative_kappa_is_dropped() {
        // N/X bends down (κ < 0): no coherency term, so no peak.
        let fit = fit(&points(100.0, 0.3, -0.001, &[1.0, 2.0, 4.0, 8.0, 16.0])).unwrap();
        assert_eq!(fit.kappa, 0.0, "{fit:?}");
        assert!(fit.sigma > 0.0, "{fit:?}");
        assert_eq!(fit.peak_load, None);
    }

    #[test]
    fn flat_throughput_is_sigma_one() {
        let flat: Vec<(f64, f64)> = DOUBLING.iter().map(|&n| (n, 50.0)).collect();
        let fit = fit(&flat).unwrap();
        assert!(rel(fit.lambda, 50.0) < 1e-9, "{fit:?}");
        assert!(rel(fit.sigma, 1.0) < 1e-9, "{fit:?}");
        assert_eq!(fit.kappa, 0.0);
        assert_eq!(fit.r_squared, 1.0);
        assert_eq!(fit.peak_load, None);
    }

    #[test]
    fn repeated_levels_count_as_points() {
        let mut pts = points(100.0, 0.05, 0.001, &[1.0, 8.0, 64.0]);
        pts.extend(points(100.0, 0.05, 0.001, &[1.0, 8.0, 64.0]));
        let fit = fit(&pts).unwrap();
        assert_eq!(fit.points, 6);
        assert!(rel(fit.kappa, 0.001) < 1e-6, "{fit:?}");
    }

    #[test]
    fn too_few_levels() {
        assert_eq!(fit(&[]), Err(UslError::TooFewLevels { distinct: 0 }));
        let two = [(1.0, 10.0), (2.0, 19.0), (2.0, 18.0), (1.0, 11.0)];
        assert_eq!(fit(&two), Err(UslError::TooFewLevels { distinct: 2 }));
        assert!(
            fit(&two)
                .unwrap_err()
                .to_string()
                .contains("3 or more distinct")
        );
    }

    #[test]
    fn bad_concurrency() {
        for n in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let pts = [(1.0, 10.0), (n, 10.0), (4.0, 30.0)];
            let err = fit(&pts).unwrap_err();
            assert!(
                matches!(err, UslError::BadConcurrency { index: 1, .. }),
                "{n}: {err:?}"
            );
            assert!(
                err.to_string().contains("points[1]: concurrency N"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_throughput() {
        for x in [0.0, -5.0, f64::NAN, f64::NEG_INFINITY] {
            let pts = [(1.0, 10.0), (2.0, 19.0), (4.0, x)];
            let err = fit(&pts).unwrap_err();
            assert!(
                matches!(err, UslError::BadThroughput { index: 2, .. }),
                "{x}: {err:?}"
            );
            assert!(err.to_string().contains("points[2]: throughput X"), "{err}");
        }
    }

    #[test]
    fn singular_system() {
        // Distinct as f64, but too close to separate σ from κ.
        let close = [(1.0, 10.0), (1.0 + 1e-12, 10.0), (1.0 + 2e-12, 10.0)];
        assert_eq!(fit(&close), Err(UslError::Singular));
        // N(N−1) overflows.
        let huge = [(1e200, 1.0), (2e200, 1.0), (3e200, 1.0)];
        assert_eq!(fit(&huge), Err(UslError::Singular));
        // N/X is finite, its square is not.
        let steep = [(1e100, 1e-60), (2e100, 1e-60), (3e100, 1e-60)];
        assert_eq!(fit(&steep), Err(UslError::Singular));
        assert!(UslError::Singular.to_string().contains("singular"));
    }
}
