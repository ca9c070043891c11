//! The page around the charts: the verdict and fingerprint of each run,
//! its notes and tables, then the chart sections. Every piece of file text
//! goes through [`esc`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::charts::{Chart, Marker, Series};
use super::runs::{self, TARGET_CHARTS};
use super::{Page, PageRun};
use crate::metrics::names::{MESSAGE_DUPLICATE, MESSAGE_E2E, MESSAGE_LOST, is_operation};
use crate::results::format_ms;
use crate::results::thresholds::format_value;
use crate::scenario::Model;

const CSS: &str = "
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#222;background:#fff;max-width:1260px;margin:0 auto;padding:16px 20px}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:15px;margin:16px 0 6px}
.run{border:1px solid #ddd;border-left:6px solid var(--c);border-radius:4px;padding:8px 12px;margin:10px 0}
.verdict{display:inline-block;font-weight:600;border-radius:3px;padding:1px 8px;margin:0 6px 4px 0}
.pass{background:#e3f4ea;color:#11653a}.fail{background:#fde6e3;color:#a1260f}.warn{background:#fff3d6;color:#7a5200}.none{background:#eee;color:#444}
table{border-collapse:collapse;margin:6px 0;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left;vertical-align:top}
th{font-weight:600;background:#fafafa}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{background:none;color:#555;font-weight:500;white-space:nowrap}
table.kv td{overflow-wrap:anywhere}
table.runs{width:100%}
.cols{display:flex;flex-wrap:wrap;gap:6px 28px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:4px;padding:6px;break-inside:avoid;page-break-inside:avoid;background:#fff}
figure svg{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;margin:2px 4px 4px}
.legend span{white-space:nowrap}
.legend i{display:inline-block;width:18px;height:0;border-top:3px solid var(--c);vertical-align:middle;margin-right:5px}
.legend i.dash{border-top-style:dashed}
.legend i.dot{width:9px;height:9px;border:0;border-radius:50%;background:var(--c)}
.legend i.ring{width:7px;height:7px;border:2px solid var(--c);border-radius:50%}
.legend i.cross{border:0;width:auto;height:auto;color:var(--c);font-style:normal;font-weight:700}
p.missing{color:#666;font-style:italic;margin:4px 0}
ul.notes{margin:4px 0;padding-left:20px}
.small{color:#666;font-size:12px}
pre{white-space:pre-wrap;font-size:12px}
@media print{body{max-width:none;padding:0;font-size:12px}.grid{grid-template-columns:1fr 1fr;gap:8px}h2,h3{break-after:avoid;page-break-after:avoid}.run,table{break-inside:avoid}}
@page{margin:12mm}
";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A chart with its legend above it; a chart without data is a sentence
/// saying so, never an empty frame.
pub fn figure(chart: &Chart) -> String {
    if !chart.has_data() {
        return format!(
            "<p class=\"missing\">{}: no data in these runs.</p>\n",
            esc(&chart.title)
        );
    }
    let svg = match chart.svg() {
        Ok(svg) => svg,
        Err(e) => return format!("<p class=\"missing\">{}</p>\n", esc(&e.to_string())),
    };
    let mut legend = String::new();
    for s in chart.series.iter().filter(|s| !s.points.is_empty()) {
        let _ = write!(
            legend,
            "<span style=\"--c:{}\">{}{}</span>",
            s.colour.css(),
            swatch(s),
            esc(&s.name)
        );
    }
    for r in &chart.rules {
        let _ = write!(
            legend,
            "<span style=\"--c:{}\"><i class=\"dash\"></i>{}</span>",
            r.colour.css(),
            esc(&r.name)
        );
    }
    format!("<figure><div class=\"legend\">{legend}</div>\n{svg}\n</figure>\n")
}

fn swatch(s: &Series) -> &'static str {
    match (s.line && s.points.len() > 1, s.dashed, s.marker) {
        (true, true, _) => "<i class=\"dash\"></i>",
        (true, false, _) => "<i></i>",
        (false, _, Some(Marker::Ring)) => "<i class=\"ring\"></i>",
        (false, _, Some(Marker::Cross)) => "<i class=\"cross\">×</i>",
        (false, _, _) => "<i class=\"dot\"></i>",
    }
}

/// Figures side by side, two to a row on a laptop screen.
fn grid(figures: &[String]) -> String {
    format!("<div class=\"grid\">\n{}</div>\n", figures.concat())
}

pub fn render(page: &Page<'_>) -> String {
    let mut h = String::new();
    let title = match page.runs.as_slice() {
        [] => "rocketload report".to_string(),
        [one] => format!("rocketload report: {}", one.input.summary.run.info.scenario),
        many => format!("rocketload report: {} runs", many.len()),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    for n in &page.notes {
        let _ = writeln!(h, "<p class=\"missing\">{}</p>", esc(n));
    }
    match page.runs.as_slice() {
        [one] => h.push_str(&run_header(0, one)),
        [] => {}
        many => h.push_str(&runs_table(many, page.compact)),
    }
    // The comparison and experiments right under the runs: the answer
    // before the charts that explain it.
    for s in &page.sections {
        let _ = write!(h, "<h2>{}</h2>\n{}", esc(&s.title), s.body);
    }
    if !page.runs.is_empty() {
        h.push_str(&time_sections(&page.runs));
        h.push_str(&metric_sections(&page.runs));
    }
    let _ = write!(
        h,
        "<p class=\"small\">Written by {} {}. Latency is measured from each operation's intended start; \
         percentile curves come from the whole-run HDR histograms, time charts from intervals.jsonl.</p>\n\
         </body>\n</html>\n",
        esc(env!("CARGO_PKG_NAME")),
        esc(env!("CARGO_PKG_VERSION"))
    );
    h
}

/// The verdicts of a run: thresholds, generator saturation, partial.
fn verdicts(run: &PageRun<'_>) -> String {
    let s = run.input.summary;
    let mut v = String::new();
    let badge =
        |class: &str, text: &str| format!("<span class=\"verdict {class}\">{}</span>", esc(text));
    let failed = s.thresholds.iter().filter(|t| !t.passed).count();
    v.push_str(&match (s.thresholds.len(), failed) {
        _ if run.input.partial => badge("warn", "partial run: thresholds not evaluated"),
        (0, _) => badge("none", "no thresholds"),
        (n, 0) => badge("pass", &format!("✓ all {n} thresholds passed")),
        (n, f) => badge("fail", &format!("✗ {f} of {n} thresholds failed")),
    });
    if s.notes.iter().any(|n| n.is_saturation()) {
        v.push_str(&badge(
            "warn",
            "generator saturated: latencies include the generator's own delay",
        ));
    } else {
        v.push_str(&badge("pass", "generator kept up"));
    }
    if run.input.partial {
        v.push_str(&badge(
            "warn",
            "partial: no summary.json, totals re-computed from intervals.jsonl",
        ));
    }
    v
}

/// Several runs: one row each with its verdict and fingerprint, then
/// their notes and failed thresholds; each run's metric table too unless
/// a comparison has the figures side by side.
fn runs_table(runs: &[PageRun<'_>], compact: bool) -> String {
    // One column per run: a laptop screen fits three or four.
    let mut h = String::from("<h2>Runs</h2>\n<table class=\"kv runs\">\n<tr><th></th>");
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(
            h,
            "<td style=\"border-top:5px solid {}\"><b>{}</b> <span class=\"small\">run {}</span></td>",
            super::charts::colour(i).css(),
            esc(&run.label),
            esc(&run.input.summary.run.info.id)
        );
    }
    h.push_str("</tr>\n<tr><th>verdict</th>");
    for run in runs {
        let _ = write!(h, "<td>{}</td>", verdicts(run));
    }
    h.push_str("</tr>\n");
    let columns: Vec<BTreeMap<&str, String>> = runs
        .iter()
        .map(|r| {
            let (left, right) = fingerprint(r);
            left.into_iter().chain(right).collect()
        })
        .collect();
    let (l, r) = fingerprint(&runs[0]);
    for (k, _) in l.iter().chain(&r) {
        let _ = write!(h, "<tr><th>{}</th>", esc(k));
        for c in &columns {
            let _ = write!(h, "<td>{}</td>", esc(c.get(k).map_or("", String::as_str)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    for run in runs {
        let of = format!("{}: ", run.label);
        h.push_str(&notes_and_thresholds(run.input.summary, true, &of));
        if !compact {
            h.push_str(&metric_table(run));
        }
    }
    h
}

/// Rows of (what, value).
type Rows = Vec<(&'static str, String)>;

fn run_header(i: usize, run: &PageRun<'_>) -> String {
    let s = run.input.summary;
    let info = &s.run.info;
    let mut h = String::new();
    let _ = write!(
        h,
        "<section class=\"run\" style=\"--c:{}\">\n<h2 style=\"border:0;margin:4px 0\">{}{}</h2>\n<div>{}</div>\n",
        super::charts::colour(i).css(),
        esc(&run.label),
        if run.label == info.id {
            String::new()
        } else {
            format!(" <span class=\"small\">run {}</span>", esc(&info.id))
        },
        verdicts(run)
    );
    let (left, right) = fingerprint(run);
    let kv = |rows: &[(&str, String)]| {
        let mut t = String::from("<table class=\"kv\">");
        for (k, v) in rows {
            let _ = write!(t, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        t + "</table>"
    };
    let _ = writeln!(h, "<div class=\"cols\">{}{}</div>", kv(&left), kv(&right));
    h.push_str(&notes_and_thresholds(s, false, ""));
    h.push_str(&metric_table(run));
    h.push_str("</section>\n");
    h
}

/// What identifies a run (scenario, start, load) and what it ran on.
fn fingerprint(run: &PageRun<'_>) -> (Rows, Rows) {
    let s = run.input.summary;
    let info = &s.run.info;
    let started =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(info.started_unix_ms));
    let mut left: Rows = vec![
        (
            "scenario",
            format!("{} ({})", info.scenario, info.scenario_path),
        ),
        ("started", format!("{started} (UTC)")),
        (
            "measured",
            format!("{:.1} s in {} intervals", s.run.duration_s, s.run.intervals),
        ),
        ("load", load_text(&info.load)),
        ("seed", info.seed.to_string()),
    ];
    if !info.scenario_sha256.is_empty() {
        left.push(("scenario sha256", info.scenario_sha256.clone()));
    }
    if let Some(shard) = info.shard {
        left.push(("shard", format!("{}/{}", shard.index, shard.count)));
    }
    let host = &s.host;
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    let mut right: Rows = vec![
        (
            "host",
            format!("{} ({} {})", host.hostname, host.os, host.arch),
        ),
        (
            "cpu",
            format!(
                "{}, {} cores{}",
                host.cpu_model.as_deref().unwrap_or("unknown model"),
                host.cores,
                host.cpu_quota_cores
                    .map_or(String::new(), |q| format!(", quota {q} cores"))
            ),
        ),
        (
            "memory",
            format!(
                "{}{}",
                host.memory_bytes.map_or("unknown".into(), gib),
                host.memory_limit_bytes
                    .map_or(String::new(), |l| format!(", limit {}", gib(l)))
            ),
        ),
        (
            "virtualization",
            format!(
                "vm: {}, container: {}",
                host.virtualization.vm.as_deref().unwrap_or("none"),
                host.virtualization.container.as_deref().unwrap_or("none")
            ),
        ),
        (
            "kernel",
            host.kernel.clone().unwrap_or_else(|| "unknown".into()),
        ),
        (
            "tool",
            format!(
                "{} {}{}",
                s.tool.name,
                s.tool.version,
                s.tool
                    .git_commit
                    .as_deref()
                    .map_or(String::new(), |c| format!(" ({c})"))
            ),
        ),
    ];
    let t = &s.target;
    right.push((
        "target",
        format!(
            "{}{}, {} instance{}, Rocket.Chat {}",
            if t.embedded { "embedded server " } else { "" },
            t.urls.join(", "),
            t.instances,
            if t.instances == 1 { "" } else { "s" },
            t.rocketchat_version.as_deref().unwrap_or("version unknown")
        ),
    ));
    (left, right)
}

/// A run's notes and its thresholds (only the failed ones, when asked).
fn notes_and_thresholds(s: &crate::results::Summary, failed_only: bool, of: &str) -> String {
    let mut h = String::new();
    if !s.notes.is_empty() {
        let _ = write!(h, "<h3>{}Notes</h3>\n<ul class=\"notes\">", esc(of));
        for n in &s.notes {
            let _ = write!(h, "<li>{}</li>", esc(&n.text));
        }
        h.push_str("</ul>\n");
    }
    let shown: Vec<_> = s
        .thresholds
        .iter()
        .filter(|t| !failed_only || !t.passed)
        .collect();
    if !shown.is_empty() {
        let _ = write!(
            h,
            "<h3>{}Thresholds</h3>\n<table><tr><th></th><th>metric</th><th>limit</th><th class=\"n\">measured</th></tr>",
            esc(of)
        );
        for t in shown {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                if t.passed { "✓" } else { "✗" },
                esc(&t.metric),
                esc(&t.describe_limit()),
                esc(&t
                    .actual
                    .map_or_else(|| "nothing measured".into(), |a| format_value(a, t.unit)))
            );
        }
        h.push_str("</table>\n");
    }
    h
}

fn load_text(load: &crate::results::LoadSpec) -> String {
    let model = match load.model {
        Model::Closed => "closed model",
        Model::Open => "open model",
    };
    let unit = match load.model {
        Model::Closed => "VUs",
        Model::Open => "arrivals/s",
    };
    let stages: Vec<String> = load
        .stages
        .iter()
        .map(|s| format!("{}s → {}", s.duration_s, s.target))
        .collect();
    let mut text = match stages.is_empty() {
        true => format!("{model}, {unit}: stages not recorded"),
        false => format!(
            "{model}, {unit} from {}: {}; graceful stop {}s",
            load.start,
            stages.join(", "),
            load.graceful_stop_s
        ),
    };
    if let Some(m) = load.max_vus {
        let _ = write!(text, "; at most {m} VUs");
    }
    text
}

fn metric_table(run: &PageRun<'_>) -> String {
    let s = run.input.summary;
    let mut h = String::from(
        "<h3>Metrics (whole run)</h3>\n<table><tr><th>metric</th><th class=\"n\">count</th><th class=\"n\">rate/s</th>\
         <th class=\"n\">p50</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">p99.9</th>\
         <th class=\"n\">max</th><th class=\"n\">errors</th></tr>",
    );
    for (name, m) in &s.metrics {
        let l = &m.latency;
        let errors = if m.errors > 0 {
            let classes: Vec<String> = m
                .errors_by_class
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            format!("{} ({})", m.errors, classes.join(", "))
        } else {
            "0".into()
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(name),
            m.count,
            m.rate_per_s,
            format_ms(l.p50_ms),
            format_ms(l.p95_ms),
            format_ms(l.p99_ms),
            format_ms(l.p999_ms),
            format_ms(l.max_ms),
            esc(&errors)
        );
    }
    if !s.counters.is_empty() {
        let list: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(
            h,
            "<tr><td colspan=\"9\" class=\"small\">counters: {}</td></tr>",
            esc(&list.join(", "))
        );
    }
    h + "</table>\n"
}

/// Load, errors, deliveries, the generator and the target over time.
fn time_sections(runs: &[PageRun<'_>]) -> String {
    let mut h = String::new();
    let without: Vec<&str> = runs
        .iter()
        .filter(|r| r.input.intervals.is_none())
        .map(|r| r.label.as_str())
        .collect();
    if !without.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"missing\">The time charts need intervals.jsonl, which {} {} not have: only the whole-run charts are drawn for {}.</p>",
            esc(&without.join(", ")),
            if without.len() == 1 { "does" } else { "do" },
            if without.len() == 1 { "it" } else { "them" }
        );
    }
    if without.len() == runs.len() {
        return h;
    }
    h.push_str("<h2>Load</h2>\n");
    h.push_str(&grid(&[
        figure(&runs::throughput(runs)),
        figure(&runs::active_vus(runs)),
    ]));

    h.push_str("<h2>Errors</h2>\n");
    let errors: u64 = runs
        .iter()
        .flat_map(|r| &r.input.summary.metrics)
        .filter(|(n, _)| is_operation(n))
        .map(|(_, m)| m.errors)
        .sum();
    if errors == 0 {
        h.push_str("<p class=\"missing\">No operation failed in these runs.</p>\n");
    } else {
        h.push_str(&grid(&[figure(&runs::errors(runs))]));
    }

    h.push_str("<h2>Message delivery</h2>\n");
    let mut figs = Vec::new();
    if runs
        .iter()
        .any(|r| r.input.summary.metrics.contains_key(MESSAGE_E2E))
    {
        figs.push(figure(&runs::latency_over_time(runs, MESSAGE_E2E)));
        figs.push(figure(&runs::latency_by_percentile(runs, MESSAGE_E2E)));
    }
    let deliveries = runs::deliveries(runs);
    if deliveries.has_data() {
        figs.push(figure(&deliveries));
    }
    let count = |c: &str| -> u64 {
        runs.iter()
            .filter_map(|r| r.input.summary.counters.get(c))
            .sum()
    };
    if figs.is_empty() && count(MESSAGE_LOST) == 0 {
        h.push_str("<p class=\"missing\">No message was sent to a subscriber in these runs.</p>\n");
    } else {
        h.push_str(&grid(&figs));
        if !deliveries.has_data() {
            h.push_str("<p class=\"missing\">No delivery was lost or duplicated.</p>\n");
        }
    }
    let _ = writeln!(
        h,
        "<p class=\"small\">{} lost, {} duplicated over the whole run{}.</p>",
        count(MESSAGE_LOST),
        count(MESSAGE_DUPLICATE),
        if runs.len() > 1 { "s" } else { "" }
    );

    h.push_str("<h2>Generator self-check</h2>\n");
    h.push_str(&grid(&[
        figure(&runs::generator_lag(runs)),
        figure(&runs::generator_cpu(runs)),
    ]));

    h.push_str("<h2>Target</h2>\n");
    if runs::has_target(runs) {
        let figs: Vec<String> = TARGET_CHARTS
            .iter()
            .map(|spec| figure(&runs::target(runs, spec)))
            .collect();
        h.push_str(&grid(&figs));
    } else {
        h.push_str(
            "<p class=\"missing\">No target metrics in the interval lines: `run --scrape URL` records the target's Prometheus series.</p>\n",
        );
    }
    h
}

/// Per metric: latency over time and by percentile.
fn metric_sections(runs: &[PageRun<'_>]) -> String {
    let mut h = String::from("<h2>Latency per metric</h2>\n");
    let with_intervals = runs.iter().any(|r| r.input.intervals.is_some());
    // With intervals, message.e2e is drawn with the deliveries.
    let names = runs::metric_names(runs)
        .into_iter()
        .filter(|n| !(with_intervals && n == MESSAGE_E2E));
    for name in names {
        let _ = writeln!(h, "<h3>{}</h3>", esc(&name));
        let mut figs = Vec::new();
        if with_intervals {
            figs.push(figure(&runs::latency_over_time(runs, &name)));
        }
        figs.push(figure(&runs::latency_by_percentile(runs, &name)));
        h.push_str(&grid(&figs));
    }
    h
}
