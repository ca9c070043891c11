//! The comparison table of several runs in HTML, from compare's own
//! pieces (`compare::render::parts`), so verdicts and reasons read the
//! same as `rocketload compare` prints them.

use std::fmt::Write as _;

use crate::compare::render::{Cell, parts};
use crate::compare::{Options, Run, Side, Verdict, compare};
use crate::results::Loaded;
use crate::results::export::html::{Section, esc};

/// The first run against each of the others; `Err` says why there is no
/// comparison (a partial run, different scenarios, ...).
pub fn section(runs: &[&Loaded]) -> Result<Section, String> {
    let [base, candidates @ ..] = runs else {
        return Err("no runs".into());
    };
    let side = |l: &Loaded| -> Result<Side, String> {
        if l.partial {
            return Err(format!(
                "no comparison: {} is a partial run (compare needs finished runs)",
                l.source.display()
            ));
        }
        Ok(Side {
            label: l.source.clone(),
            runs: vec![Run {
                path: l.source.clone(),
                summary: l.summary.clone(),
                intervals: l.intervals.clone(),
            }],
        })
    };
    let base = side(base)?;
    let candidates = candidates
        .iter()
        .map(|l| side(l))
        .collect::<Result<Vec<_>, _>>()?;
    let cmp = compare(&base, &candidates, &Options::default(), false)
        .map_err(|e| format!("no comparison: {e}"))?;
    let p = parts(&cmp);
    let mut h = String::new();
    h.push_str("<ul class=\"notes\">");
    for l in &p.preamble {
        let _ = write!(h, "<li>{}</li>", esc(l.trim_start_matches("- ")));
    }
    h.push_str("</ul>\n<table>\n<tr>");
    for (i, c) in p.header.iter().enumerate() {
        let class = if i < 2 { "" } else { " class=\"n\"" };
        let _ = write!(h, "<th{class}>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for row in &p.rows {
        h.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            h.push_str(&td(i, cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n<ul class=\"notes\">");
    for l in &p.findings {
        let _ = write!(h, "<li>{}</li>", esc(l));
    }
    h.push_str("</ul>\n");
    Ok(Section {
        title: format!("Comparison: {} as the base", runs[0].source.display()),
        body: h,
    })
}

fn td(i: usize, (text, verdict): &Cell) -> String {
    let style = match verdict {
        Some(Verdict::Regressed) => " style=\"color:#a1260f;font-weight:600\"",
        Some(Verdict::Improved) => " style=\"color:#11653a;font-weight:600\"",
        Some(Verdict::Inconclusive) => " style=\"color:#7a5200\"",
        _ => "",
    };
    let class = if i < 2 { "" } else { " class=\"n\"" };
    format!("<td{class}{style}>{}</td>", esc(text))
}
