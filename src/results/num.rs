//! Number formatting shared by the results files.

/// Rounded to 3 decimals (keeps the JSON readable).
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
