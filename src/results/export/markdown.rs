//! Markdown for a pull-request comment: a heading with the scenario and
//! the verdict, a GitHub table of the metrics, one of the thresholds (✓/✗)
//! and the notes as a list. Cells have `|` escaped and line breaks folded.
//!
//! ```text
//! ### smoke: ✓ passed (3 thresholds)
//!
//! Run `0000002a`: 30.0 s measured, closed model, target http://host:3000 (Rocket.Chat 7.10)
//!
//! | metric | count | rate/s | p50 | p95 | p99 | p99.9 | max | errors |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|
//! | chat.turn | 30 | 1.0 | 302.6ms | ... | 0 |
//!
//! | | threshold | limit | measured |
//! |---|---|---|---|
//! | ✗ | errors | rate <= 1% | 2.5% |
//!
//! **Notes**
//!
//! - ...
//! ```

use std::io::{self, Write};

use super::{ExportInput, Exporter};
use crate::results::format_ms;
use crate::results::thresholds::format_value;

pub struct Markdown;

impl Exporter for Markdown {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        let s = input.summary;
        let run = &s.run;
        let failed = s.thresholds.iter().filter(|t| !t.passed).count();
        let verdict = if input.partial {
            "partial run, thresholds not evaluated".to_string()
        } else if s.thresholds.is_empty() {
            "no thresholds".to_string()
        } else if failed == 0 {
            format!("✓ passed ({})", plural(s.thresholds.len(), "threshold"))
        } else {
            format!(
                "✗ failed {failed} of {}",
                plural(s.thresholds.len(), "threshold")
            )
        };
        writeln!(w, "### {}: {verdict}\n", inline(&run.info.scenario))?;
        if input.partial {
            writeln!(
                w,
                "> **Partial run**: no summary.json; totals re-computed from intervals.jsonl.\n"
            )?;
        }
        let model = match run.info.load.model {
            crate::scenario::Model::Closed => "closed",
            crate::scenario::Model::Open => "open",
        };
        let mut line = format!(
            "Run `{}`: {:.1} s measured, {model} model",
            inline(&run.info.id),
            run.duration_s
        );
        if let Some(shard) = run.info.shard {
            line.push_str(&format!(", shard {}/{}", shard.index, shard.count));
        }
        if s.target.embedded {
            line.push_str(", embedded server");
        } else if !s.target.urls.is_empty() {
            line.push_str(&format!(", target {}", inline(&s.target.urls.join(", "))));
        }
        if let Some(v) = &s.target.rocketchat_version {
            line.push_str(&format!(" (Rocket.Chat {})", inline(v)));
        }
        writeln!(w, "{line}\n")?;

        writeln!(
            w,
            "| metric | count | rate/s | p50 | p95 | p99 | p99.9 | max | errors |"
        )?;
        writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for (name, m) in &s.metrics {
            let l = &m.latency;
            let errors = if m.errors > 0 && m.count > 0 {
                format!(
                    "{} ({:.2}%)",
                    m.errors,
                    m.errors as f64 * 100.0 / m.count as f64
                )
            } else {
                m.errors.to_string()
            };
            writeln!(
                w,
                "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {errors} |",
                cell(name),
                m.count,
                m.rate_per_s,
                format_ms(l.p50_ms),
                format_ms(l.p95_ms),
                format_ms(l.p99_ms),
                format_ms(l.p999_ms),
                format_ms(l.max_ms),
            )?;
        }

        if !s.thresholds.is_empty() {
            writeln!(w, "\n| | threshold | limit | measured |")?;
            writeln!(w, "|---|---|---|---:|")?;
            for t in &s.thresholds {
                writeln!(
                    w,
                    "| {} | {} | {} | {} |",
                    if t.passed { "✓" } else { "✗" },
                    cell(&t.metric),
                    cell(&t.describe_limit()),
                    t.actual
                        .map_or_else(|| "nothing measured".into(), |a| format_value(a, t.unit)),
                )?;
            }
        }

        if !s.notes.is_empty() {
            writeln!(w, "\n**Notes**\n")?;
            for n in &s.notes {
                writeln!(w, "- {}", inline(&n.text))?;
            }
        }
        writeln!(w)
    }
}

/// A table cell: `|` escaped, line breaks folded.
fn cell(s: &str) -> String {
    inline(s).replace('|', "\\|")
}

/// One line of text.
fn inline(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
