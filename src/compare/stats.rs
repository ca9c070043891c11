//! The statistics compare decides with: the Mann-Whitney U test (exact
//! below 50 values a side without ties, the normal approximation with tie
//! and continuity corrections otherwise), Holm-Bonferroni adjustment, and
//! percentile helpers for bootstrap distributions. The normal distribution
//! is statrs'; the U test is not in any maintained Rust crate, so it is
//! here, checked against published tables in the tests.

use statrs::function::erf::erfc;

/// Two-sided p of the Mann-Whitney U test of `a` against `b`; `None` when
/// a side is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Mid-ranks for ties; sum of t^3 - t over tie groups for the variance.
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j + 1 < pooled.len() && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += mid * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum_a - (n1 * (n1 + 1)) as f64 / 2.0;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    if tie_term == 0.0 && n1 <= 50 && n2 <= 50 {
        return Some(exact_two_sided(n1, n2, u.round() as usize));
    }
    let n = n1f + n2f;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return Some(1.0); // every value equal
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    Some(normal_two_sided(z))
}

/// The smallest two-sided p an exact U test can give with these sizes:
/// every value of one side below every value of the other.
pub fn min_attainable_p(n1: usize, n2: usize) -> f64 {
    (2.0 / binomial(n1 + n2, n1)).min(1.0)
}

/// The fewest repetitions per side (equal sides) whose smallest attainable
/// p is below `alpha`; `None` past 100.
pub fn repetitions_needed(alpha: f64) -> Option<usize> {
    (2..=100).find(|&n| min_attainable_p(n, n) < alpha)
}

/// P(U <= u) and P(U >= u) under H0 by counting rank arrangements, doubled.
fn exact_two_sided(n1: usize, n2: usize, u: usize) -> f64 {
    let dist = u_distribution(n1, n2);
    let total: f64 = dist.iter().sum();
    let below: f64 = dist[..=u.min(dist.len() - 1)].iter().sum();
    let above: f64 = dist[u.min(dist.len() - 1)..].iter().sum();
    (2.0 * below.min(above) / total).min(1.0)
}

/// Number of arrangements giving each U = 0..=n1*n2 (f(m, n, u) =
/// f(m-1, n, u-n) + f(m, n-1, u)), built up one first-sample size at a time.
fn u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    let max = n1 * n2;
    // table[n][u] for the current m, n = 0..=n2.
    let mut table: Vec<Vec<f64>> = (0..=n2)
        .map(|_| {
            let mut row = vec![0.0; max + 1];
            row[0] = 1.0;
            row
        })
        .collect();
    for _m in 1..=n1 {
        let mut next: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
        next[0][0] = 1.0;
        for n in 1..=n2 {
            for u in 0..=max {
                let from_m = if u >= n { table[n][u - n] } else { 0.0 };
                next[n][u] = from_m + next[n - 1][u];
            }
        }
        table = next;
    }
    table.swap_remove(n2)
}

fn binomial(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// Two-sided p of a standard normal statistic.
pub fn normal_two_sided(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Holm-Bonferroni adjusted p-values, in the input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The median (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The `q` percentile of sorted values (nearest rank).
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Standard deviation (n - 1); 0 for fewer than two values.
pub fn std_dev(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn exact_u_matches_tables() {
        // Complete separation, 3 + 3: 2 / C(6, 3) = 0.1 (benchstat prints p=0.100).
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert!(close(p, 0.1, 1e-12), "{p}");
        // 5 + 5 separated: 2 / 252.
        let p = mann_whitney_p(&[1., 2., 3., 4., 5.], &[6., 7., 8., 9., 10.]).unwrap();
        assert!(close(p, 2.0 / 252.0, 1e-12), "{p}");
        // Interleaved: no evidence.
        let p = mann_whitney_p(&[1., 3., 5., 7.], &[2., 4., 6., 8.]).unwrap();
        assert!(p > 0.5, "{p}");
        // scipy.stats.mannwhitneyu([1,2,4,7],[3,5,6,8,9], method='exact') = 0.1905
        let p = mann_whitney_p(&[1., 2., 4., 7.], &[3., 5., 6., 8., 9.]).unwrap();
        assert!(close(p, 0.1905, 1e-4), "{p}");
    }

    #[test]
    fn u_distribution_counts_every_arrangement() {
        let d = u_distribution(4, 6);
        assert_eq!(d.iter().sum::<f64>(), binomial(10, 4));
        assert_eq!(d.len(), 25);
        assert_eq!(d[0], 1.0);
        assert_eq!(d[24], 1.0);
    }

    #[test]
    fn ties_use_the_corrected_normal_approximation() {
        // scipy.stats.mannwhitneyu([1,2,2,3],[2,3,3,4], method='asymptotic') = 0.1720
        let p = mann_whitney_p(&[1., 2., 2., 3.], &[2., 3., 3., 4.]).unwrap();
        assert!(close(p, 0.1720, 1e-3), "{p}");
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), Some(1.0));
        assert_eq!(mann_whitney_p(&[], &[1.0]), None);
    }

    #[test]
    fn attainable_p_and_repetitions() {
        assert!(close(min_attainable_p(3, 3), 0.1, 1e-12));
        assert!(close(min_attainable_p(4, 4), 2.0 / 70.0, 1e-12));
        assert_eq!(repetitions_needed(0.05), Some(4));
        assert_eq!(repetitions_needed(0.05 / 24.0), Some(7));
    }

    #[test]
    fn holm_adjusts_in_order() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        // sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max 0.06
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
    }

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&s, 0.5), 2.0);
        assert_eq!(percentile_sorted(&s, 1.0), 4.0);
        assert_eq!(percentile_sorted(&s, 0.0), 1.0);
        assert!(close(normal_two_sided(1.959964), 0.05, 1e-5));
    }
}
