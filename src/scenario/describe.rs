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
    let unit = match l.model {
        Model::Closed => " VUs",
        Model::Open => "/s",
    };
    // A normalized `vus`/`rate` shorthand: one stage holding its level.
    let held = l.stages.len() == 1 && l.start == l.stages[0].target;
    let mut out = if l.stages.is_empty() {
        let d = human(l.duration.unwrap_or_default());
        match l.model {
            Model::Closed => format!("{model} model: {} VUs for {d}", l.vus.unwrap_or(0)),
            Model::Open => format!("{model} model: {}/s for {d}", l.rate.unwrap_or(0.0)),
        }
    } else if held {
        let s = &l.stages[0];
        format!(
            "{model} model: {}{unit} for {}",
            s.target,
            human(s.duration)
        )
    } else {
        let total: Duration = l.stages.iter().map(|s| s.duration).sum();
        let peak = l.stages.iter().map(|s| s.target).fold(l.start, f64::max);
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
