//! The end-of-run text summary (rendered from the `Summary` data).

use std::io::{self, Write};

use super::summary::{MetricSummary, Summary};
use super::target::TargetMetrics;
use super::thresholds::{ThresholdResult, format_value};
use crate::metrics::names;

/// A latency in ms, 3-4 significant figures: `0.412ms`, `12.3ms`, `1.25s`.
pub fn format_ms(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(v) if v < 1.0 => format!("{v:.3}ms"),
        Some(v) if v < 10.0 => format!("{v:.2}ms"),
        Some(v) if v < 1000.0 => format!("{v:.1}ms"),
        Some(v) => format!("{:.2}s", v / 1000.0),
    }
}

fn format_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The width of a column of metric names: the longest, within 6..=48.
pub(crate) fn name_width<'a>(names: impl Iterator<Item = &'a String>) -> usize {
    names
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 48)
}

/// `name` cut in the middle to `width` characters, so columns stay aligned.
pub(crate) fn fit(name: &str, width: usize) -> String {
    let n = name.chars().count();
    if n <= width {
        return name.to_string();
    }
    let head: String = name.chars().take(width / 2).collect();
    let tail: String = name.chars().skip(n - (width - width / 2 - 1)).collect();
    format!("{head}…{tail}")
}

fn format_errors(m: &MetricSummary) -> String {
    if m.errors == 0 {
        "0".into()
    } else {
        let pct = 100.0 * m.errors as f64 / m.count.max(1) as f64;
        format!("{} ({pct:.2}%)", format_count(m.errors))
    }
}

/// `all 6 thresholds passed`, `1 of 6 thresholds FAILED` or `no thresholds`.
pub fn thresholds_verdict(thresholds: &[ThresholdResult]) -> String {
    let failed = thresholds.iter().filter(|t| !t.passed).count();
    match (thresholds.len(), failed) {
        (0, _) => "no thresholds".into(),
        (n, 0) => format!("all {n} thresholds passed"),
        (n, f) => format!("{f} of {n} thresholds FAILED"),
    }
}

/// Writes the summary as an aligned table: one row per metric (count,
/// rate, percentiles, errors), errors by class and service time beneath,
/// then counters, thresholds (✓/✗) and notes.
pub fn print_summary(summary: &Summary, w: &mut dyn Write) -> io::Result<()> {
    let run = &summary.run;
    writeln!(
        w,
        "\n{} — {:.1} s measured, {} model, run {}{}{}",
        run.info.scenario,
        run.duration_s,
        match run.info.load.model {
            crate::scenario::Model::Closed => "closed",
            crate::scenario::Model::Open => "open",
        },
        run.info.id,
        match run.info.shard {
            Some(s) => format!(", shard {}/{}", s.index, s.count),
            None => String::new(),
        },
        match run.info.repeat {
            Some(r) => format!(", repetition {}/{}", r.index, r.count),
            None => String::new(),
        }
    )?;
    let name_w = name_width(summary.metrics.keys());
    let header = [
        "count", "rate/s", "p50", "p90", "p95", "p99", "p99.9", "max",
    ];
    write!(w, "\n  {:<name_w$}", "metric")?;
    for h in header {
        write!(w, " {h:>9}")?;
    }
    writeln!(w, "  errors")?;
    for (name, m) in &summary.metrics {
        let l = &m.latency;
        write!(w, "  {:<name_w$}", fit(name, name_w))?;
        write!(w, " {:>9} {:>9.1}", format_count(m.count), m.rate_per_s)?;
        for v in [l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p999_ms, l.max_ms] {
            write!(w, " {:>9}", format_ms(v))?;
        }
        writeln!(w, "  {}", format_errors(m))?;
        if let Some(s) = &m.service {
            write!(w, "  {:<name_w$} {:>9} {:>9}", "  service", "", "")?;
            for v in [s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms] {
                write!(w, " {:>9}", format_ms(v))?;
            }
            writeln!(w)?;
        }
        if !m.errors_by_class.is_empty() {
            let classes: Vec<String> = m
                .errors_by_class
                .iter()
                .map(|(k, n)| format!("{k} {}", format_count(*n)))
                .collect();
            writeln!(w, "      errors: {}", classes.join(", "))?;
        }
    }
    if summary.metrics.is_empty() {
        writeln!(w, "  (nothing was measured)")?;
    }

    if !summary.counters.is_empty() {
        writeln!(w, "\n  counters")?;
        for (name, n) in &summary.counters {
            writeln!(w, "    {name:<name_w$} {:>9}", format_count(*n))?;
        }
    }
    if let Some(vus) = summary.gauges.get(names::VUS_ACTIVE) {
        writeln!(w, "\n  VUs: max {}, last {}", vus.max, vus.last)?;
    }

    if !summary.thresholds.is_empty() {
        writeln!(w, "\n  thresholds")?;
        for t in &summary.thresholds {
            let actual = match t.actual {
                Some(a) => format_value((a * 1000.0).round() / 1000.0, t.unit),
                None => "no samples".into(),
            };
            writeln!(
                w,
                "    {} {} {}  (actual {actual})",
                if t.passed { "✓" } else { "✗" },
                t.metric,
                t.describe_limit()
            )?;
        }
        writeln!(w, "  {}", thresholds_verdict(&summary.thresholds))?;
    }
    if let Some(r) = &summary.recovery {
        writeln!(w, "\n  recovery: {}", r.describe())?;
    }
    if let Some(t) = &summary.target_metrics {
        print_target(t, w)?;
    }
    // Only a saturated generator is loud: it invalidates the figures.
    for note in &summary.notes {
        let mark = if note.is_saturation() { "!!!" } else { "note:" };
        writeln!(w, "\n  {mark} {}", note.text)?;
    }
    Ok(())
}

/// `target`: per scraped source, how scraping went and the server's CPU,
/// event-loop lag and DDP sessions over the run.
fn print_target(t: &TargetMetrics, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "\n  target")?;
    for s in &t.sources {
        let mut line = format!(
            "    {}  scrapes {}, failed {}",
            s.source,
            format_count(s.scrapes),
            format_count(s.failures)
        );
        if let Some(cpu) = t.cpu_pct(&s.source) {
            line.push_str(&format!(" | CPU avg {cpu:.1}%"));
        }
        if let Some(lag) = t.lag_max_ms(&s.source) {
            line.push_str(&format!(" | event-loop lag max {}", format_ms(Some(lag))));
        }
        if let Some(n) = t.ddp_sessions_max(&s.source) {
            line.push_str(&format!(" | DDP sessions max {n:.0}"));
        }
        writeln!(w, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_ms(None), "-");
        assert_eq!(format_ms(Some(0.4123)), "0.412ms");
        assert_eq!(format_ms(Some(4.567)), "4.57ms");
        assert_eq!(format_ms(Some(123.45)), "123.5ms");
        assert_eq!(format_ms(Some(1250.0)), "1.25s");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1234567), "1,234,567");
        assert_eq!(fit("rest.login", 12), "rest.login");
        let cut = fit("ddp.method.a.very.long.method.name", 12);
        assert_eq!((cut.chars().count(), cut.as_str()), (12, "ddp.me….name"));
    }
}
