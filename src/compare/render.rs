//! A comparison as a terminal table or GitHub-flavoured Markdown (JSON is
//! the [`Comparison`] itself). Both put the setup differences, the method
//! and the warnings first, then one row per metric and statistic with a
//! value, change and verdict per candidate, then why each finding and each
//! `inconclusive` is what it is.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::{Column, Comparison, MetricRows, Row, Stat, Verdict};
use crate::results::format_ms;

/// Text or Markdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `colour`: ANSI colours for verdicts (a terminal without NO_COLOR).
    Text {
        colour: bool,
    },
    Markdown,
}

pub fn write(cmp: &Comparison, style: Style, w: &mut dyn Write) -> io::Result<()> {
    let md = style == Style::Markdown;
    let colour = matches!(style, Style::Text { colour: true });
    if md {
        writeln!(w, "### rocketload compare\n")?;
    }
    preamble(w, md, cmp)?;
    let header = header(cmp);
    let rows = body(cmp);
    if md {
        markdown_table(w, &header, &rows)?;
    } else {
        text_table(w, &header, &rows, colour)?;
    }
    reasons(w, md, cmp)?;
    counters(w, md, cmp)
}

/// The comparison in pieces, for a renderer of another format (the HTML
/// report): the lines before the table, the table, the lines after.
pub struct Parts {
    pub preamble: Vec<String>,
    pub header: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub findings: Vec<String>,
}

pub fn parts(cmp: &Comparison) -> Parts {
    let lines = |f: &dyn Fn(&mut Vec<u8>) -> io::Result<()>| {
        let mut buf = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = f(&mut buf);
        String::from_utf8_lossy(&buf)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    Parts {
        preamble: lines(&|b| preamble(b, false, cmp)),
        header: header(cmp),
        rows: body(cmp),
        findings: lines(&|b| {
            reasons(b, false, cmp)?;
            counters(b, false, cmp)
        }),
    }
}

/// The sides, then each candidate's setup, method and warnings.
fn preamble(w: &mut dyn Write, md: bool, cmp: &Comparison) -> io::Result<()> {
    let runs = |n: usize| {
        if n == 1 {
            "1 run".into()
        } else {
            format!("{n} runs")
        }
    };
    bullet(
        w,
        md,
        &format!("base: `{}` ({})", cmp.base.label, runs(cmp.base.runs.len())),
    )?;
    for (i, col) in cmp.columns.iter().enumerate() {
        let c = &col.candidate;
        bullet(
            w,
            md,
            &format!("{}: `{}` ({})", i + 1, c.label, runs(c.runs.len())),
        )?;
    }
    writeln!(w)?;
    for (i, col) in cmp.columns.iter().enumerate() {
        column_header(w, md, cmp, i, col)?;
    }
    Ok(())
}

fn bullet(w: &mut dyn Write, md: bool, text: &str) -> io::Result<()> {
    if md {
        writeln!(w, "- {text}")
    } else {
        writeln!(w, "{}", text.replace('`', ""))
    }
}

fn column_header(
    w: &mut dyn Write,
    md: bool,
    cmp: &Comparison,
    i: usize,
    col: &Column,
) -> io::Result<()> {
    let title = format!("{}: {}", i + 1, col.candidate.label);
    if md {
        writeln!(w, "**{title}**\n")?;
    } else {
        writeln!(w, "{title}")?;
    }
    if col.differences.is_empty() {
        bullet(w, md, "setup: no fingerprint difference")?;
    } else {
        let diffs: Vec<String> = col.differences.iter().map(|d| d.line()).collect();
        bullet(w, md, &format!("setup differences: {}", diffs.join("; ")))?;
    }
    bullet(w, md, &format!("method: {}", col.method_text))?;
    bullet(
        w,
        md,
        &format!(
            "a finding needs p < {} after Holm-Bonferroni and its 95 % CI beyond the effect floor ({}% and {} ms; {} percentage points for errors)",
            cmp.alpha, cmp.min_effect.pct, cmp.min_effect.ms, cmp.error_rate_floor_pp
        ),
    )?;
    for (side, runs) in [("base", &cmp.base.runs), ("candidate", &col.candidate.runs)] {
        let mut phases: Vec<&str> = runs.iter().map(|r| r.phase.as_str()).collect();
        phases.dedup();
        let each = if runs.len() > 1 { " (each run)" } else { "" };
        if phases.len() == 1 {
            bullet(w, md, &format!("{side} measured{each}: {}", phases[0]))?;
        } else {
            for r in runs {
                bullet(w, md, &format!("{side} {}: {}", r.path.display(), r.phase))?;
            }
        }
    }
    if !col.outside_phase.is_empty() {
        let list = col.outside_phase.join(", ");
        bullet(
            w,
            md,
            &format!("not compared (only outside the measured phase): {list}"),
        )?;
    }
    for warning in &col.warnings {
        bullet(w, md, &format!("warning: {warning}"))?;
    }
    writeln!(w)
}

fn header(cmp: &Comparison) -> Vec<String> {
    let mut h = vec!["metric".to_string(), "stat".into(), "base".into()];
    let one = cmp.columns.len() == 1;
    for i in 0..cmp.columns.len() {
        h.push(format!("{}", i + 1));
        h.push("change".into());
        if one {
            h.push("95% CI".into());
        }
        h.push("verdict".into());
    }
    h
}

/// A cell and, for verdict cells, the verdict (for colour).
pub type Cell = (String, Option<Verdict>);

/// One block of rows per metric of any column, matched by name: a
/// candidate's metrics need not be the first one's, nor in its order.
fn body(cmp: &Comparison) -> Vec<Vec<Cell>> {
    let one = cmp.columns.len() == 1;
    let names: BTreeSet<&str> = cmp
        .columns
        .iter()
        .flat_map(|c| &c.metrics)
        .map(|m| m.metric.as_str())
        .collect();
    // The empty cells after a count, per candidate.
    let blanks = if one { 3 } else { 2 };
    let mut out = Vec::new();
    for name in names {
        let found: Vec<Option<&MetricRows>> = cmp
            .columns
            .iter()
            .map(|c| c.metrics.iter().find(|m| m.metric == name))
            .collect();
        // The base side is the same in every column: take it from any.
        let Some(any) = found.iter().flatten().next() else {
            continue;
        };
        let mut count_row: Vec<Cell> = vec![
            (name.to_string(), None),
            ("count".into(), None),
            (any.base_count.to_string(), None),
        ];
        for m in &found {
            let count = m.map_or("-".to_string(), |m| m.candidate_count.to_string());
            count_row.push((count, None));
            count_row.extend(std::iter::repeat_n((String::new(), None), blanks));
        }
        out.push(count_row);
        let row_of = |m: &Option<&MetricRows>, stat: Stat| -> Option<Row> {
            m.and_then(|m| m.rows.iter().find(|r| r.stat == stat))
                .cloned()
        };
        for stat in Stat::ALL {
            let rows: Vec<Option<Row>> = found.iter().map(|m| row_of(m, stat)).collect();
            let Some(base) = rows.iter().flatten().next() else {
                continue;
            };
            let mut cells: Vec<Cell> = vec![
                (String::new(), None),
                (stat.label().into(), None),
                (value(stat, base.base), None),
            ];
            for r in &rows {
                match r {
                    Some(r) => {
                        cells.push((value(stat, r.candidate), None));
                        cells.push((change(r), None));
                        if one {
                            cells.push((ci(r), None));
                        }
                        cells.push((r.verdict.to_string(), Some(r.verdict)));
                    }
                    None => {
                        cells.push(("-".into(), None));
                        cells.push(("-".into(), None));
                        if one {
                            cells.push((String::new(), None));
                        }
                        cells.push((MISSING.into(), None));
                    }
                }
            }
            out.push(cells);
        }
    }
    out
}

/// What a candidate's cells say for a metric it does not have.
const MISSING: &str = "missing";

fn value(stat: Stat, v: Option<f64>) -> String {
    match (stat, v) {
        (_, None) => "-".into(),
        (Stat::Rate, Some(v)) => format!("{v:.1}/s"),
        (Stat::ErrorRate, Some(v)) => format!("{:.2}%", v * 100.0),
        (_, Some(v)) => format_ms(Some(v)),
    }
}

fn unit(stat: Stat) -> &'static str {
    if stat == Stat::ErrorRate { " pp" } else { "%" }
}

fn change(r: &Row) -> String {
    r.change
        .map_or("-".into(), |c| format!("{c:+.1}{}", unit(r.stat)))
}

fn ci(r: &Row) -> String {
    r.ci.map_or(String::new(), |[lo, hi]| {
        format!("[{lo:+.1}, {hi:+.1}]{}", unit(r.stat))
    })
}

fn text_table(
    w: &mut dyn Write,
    header: &[String],
    rows: &[Vec<Cell>],
    colour: bool,
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, (c, _)) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<(String, Option<Verdict>)>, w: &mut dyn Write| -> io::Result<()> {
        let mut out = String::new();
        for (i, (c, v)) in cells.into_iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            // Names left, numbers right.
            let padded = if i < 2 {
                format!("{c}{}", " ".repeat(pad))
            } else {
                format!("{}{c}", " ".repeat(pad))
            };
            out.push_str(&paint(&padded, v, colour));
            out.push_str("  ");
        }
        writeln!(w, "{}", out.trim_end())
    };
    line(header.iter().map(|h| (h.clone(), None)).collect(), w)?;
    for row in rows {
        line(row.clone(), w)?;
    }
    writeln!(w)
}

fn paint(text: &str, verdict: Option<Verdict>, colour: bool) -> String {
    let code = match verdict {
        _ if !colour => None,
        Some(Verdict::Regressed) => Some("31"),
        Some(Verdict::Improved) => Some("32"),
        Some(Verdict::Inconclusive) => Some("33"),
        _ => None,
    };
    match code {
        Some(c) => format!("\x1b[{c}m{text}\x1b[0m"),
        None => text.to_string(),
    }
}

fn markdown_table(w: &mut dyn Write, header: &[String], rows: &[Vec<Cell>]) -> io::Result<()> {
    let esc = |s: &str| s.replace('|', "\\|");
    writeln!(
        w,
        "| {} |",
        header
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i < 2 { ":---" } else { "---:" })
        .collect();
    writeln!(w, "|{}|", align.join("|"))?;
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|(c, v)| match v {
                Some(Verdict::Regressed | Verdict::Improved) => format!("**{}**", esc(c)),
                _ if c.is_empty() => " ".into(),
                _ => esc(c),
            })
            .collect();
        writeln!(w, "| {} |", cells.join(" | "))?;
    }
    writeln!(w)
}

/// Why: each finding on its own line; `inconclusive` and `~` grouped by
/// reason so a hundred rows of "needs more samples" read as one.
fn reasons(w: &mut dyn Write, md: bool, cmp: &Comparison) -> io::Result<()> {
    let mut lines = Vec::new();
    for (ci, col) in cmp.columns.iter().enumerate() {
        let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for m in &col.metrics {
            for r in &m.rows {
                let what = format!("{} {}", m.metric, r.stat.label());
                match r.verdict {
                    Verdict::Regressed | Verdict::Improved => {
                        lines.push(format!("{}: {what} {}: {}", ci + 1, r.verdict, r.reason));
                    }
                    Verdict::Inconclusive => {
                        grouped
                            .entry(("inconclusive".into(), r.reason.clone()))
                            .or_default()
                            .push(what);
                    }
                    Verdict::Same => {}
                }
            }
        }
        for ((verdict, reason), whats) in grouped {
            let shown = if whats.len() > 6 {
                format!("{} and {} more", whats[..6].join(", "), whats.len() - 6)
            } else {
                whats.join(", ")
            };
            lines.push(format!("{}: {verdict} ({shown}): {reason}", ci + 1));
        }
    }
    if lines.is_empty() {
        return bullet(w, md, "no finding: every change is within noise");
    }
    for l in lines {
        bullet(w, md, &l)?;
    }
    writeln!(w)
}

fn counters(w: &mut dyn Write, md: bool, cmp: &Comparison) -> io::Result<()> {
    for (ci, col) in cmp.columns.iter().enumerate() {
        if col.counters.is_empty() {
            continue;
        }
        let list: Vec<String> = col
            .counters
            .iter()
            .map(|c| format!("{} {} -> {}", c.name, c.base, c.candidate))
            .collect();
        bullet(
            w,
            md,
            &format!("{}: counters (not judged): {}", ci + 1, list.join(", ")),
        )?;
    }
    Ok(())
}
