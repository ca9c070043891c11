//! One-line descriptions of a scenario's load, for `validate` and logs.

use std::time::Duration;

use super::model::{Load, Model};

/// E.g. `closed model: 3 stages over 2m, peak 1000 VUs` or
/// `open model: 50/s for 10m, max 200 VUs`.
pub fn describe_load(l: &Load) -> String {
    let model = match l.model {
        Model::Closed => "closed",
        Model::Open => "open",
    };
    let mut out = if l.stages.is_empty() {
        let d = human(l.duration.unwrap_or_default());
        match l.model {
            Model::Closed => format!("{model} model: {} VUs for {d}", l.vus.unwrap_or(0)),
            Model::Open => format!("{model} model: {}/s for {d}", l.rate.unwrap_or(0.0)),
        }
    } else {
        let total: Duration = l.stages.iter().map(|s| s.duration).sum();
        let peak = l.stages.iter().map(|s| s.target).fold(0.0_f64, f64::max);
        let unit = match l.model {
            Model::Closed => " VUs",
            Model::Open => "/s",
        };
        let n = l.stages.len();
        let stages = if n == 1 { "stage" } else { "stages" };
        format!(
            "{model} model: {n} {stages} over {}, peak {peak}{unit}",
            human(total)
        )
    };
    if l.model == Model::Open
        && let Some(m) = l.max_vus
    {
        out.push_str(&format!(", max {m} VUs"));
    }
    out
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
