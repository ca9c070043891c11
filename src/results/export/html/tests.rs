//! The HTML page of synthetic runs: which charts it draws (counted as
//! `<svg` elements), that it references nothing outside itself, and that
//! missing pieces are said, not drawn.

use std::collections::BTreeMap;

use super::super::tests::{records, summary, thresholds};
use super::{Page, PageRun};
use crate::metrics::names::{GENERATOR_CPU_PCT, MESSAGE_LOST, VUS_ACTIVE};
use crate::results::export::ExportInput;
use crate::results::{IntervalRecord, Summary};

/// The exporter's two interval lines with VUs, generator CPU, a lost
/// delivery and the target's four charted series (two instances' lag).
fn full_records() -> Vec<IntervalRecord> {
    let mut rs = records();
    for (i, r) in rs.iter_mut().enumerate() {
        let i = i as f64;
        r.gauges.insert(VUS_ACTIVE.into(), 10);
        r.gauges.insert(GENERATOR_CPU_PCT.into(), 20 + i as i64);
        r.counters.insert(MESSAGE_LOST.into(), i as u64);
        let series = BTreeMap::from([
            ("process_cpu_seconds_total".to_string(), 1.0 + 0.5 * i),
            (
                r#"nodejs_eventloop_lag_seconds{instance="0"}"#.to_string(),
                0.002,
            ),
            (
                r#"nodejs_eventloop_lag_seconds{instance="1"}"#.to_string(),
                0.003,
            ),
            ("process_resident_memory_bytes".to_string(), 5e7 + 1e6 * i),
            ("rocketchat_ddp_sessions_count".to_string(), 4.0),
        ]);
        r.target = BTreeMap::from([("127.0.0.1:9458".to_string(), series)]);
    }
    rs
}

fn page(runs: &[(&Summary, Option<&[IntervalRecord]>, bool)]) -> String {
    Page {
        runs: runs
            .iter()
            .enumerate()
            .map(|(i, (summary, intervals, partial))| PageRun {
                label: format!("run-{i}"),
                input: ExportInput {
                    summary,
                    intervals: *intervals,
                    partial: *partial,
                },
            })
            .collect(),
        sections: Vec::new(),
        notes: Vec::new(),
        compact: false,
    }
    .render()
}

fn count(html: &str, what: &str) -> usize {
    html.matches(what).count()
}

/// Nothing that a browser would fetch: no script, no source, link or
/// `url()`, so no `http://` or `https://` reference either.
fn assert_self_contained(html: &str) {
    for banned in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe",
    ] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
}

#[test]
fn one_run_draws_every_chart_it_has_data_for() {
    let s = summary(thresholds());
    let rs = full_records();
    let html = page(&[(&s, Some(&rs), false)]);
    assert_self_contained(&html);
    // Load 2 (throughput, VUs) + errors 1 + lost deliveries 1 + generator
    // CPU 1 (no generator.lag metric here) + target 4 + per metric 2 for
    // `login` and the odd name (rest.me has no successful sample: none).
    assert_eq!(count(&html, "<svg"), 2 + 1 + 1 + 1 + 4 + 2 * 2, "{html}");
    assert_eq!(count(&html, "<svg"), count(&html, "</svg>"));
    assert!(html.contains("✗ 3 of 4 thresholds failed"), "{html}");
    assert!(html.contains("generator kept up"));
    assert!(
        html.contains("rest.me: latency by percentile (ms): no data"),
        "{html}"
    );
    assert!(
        html.contains("generator.lag: scheduler lag (ms): no data"),
        "{html}"
    );
    // Two instances' lag: one series each, named by source and labels.
    assert!(
        html.contains(r#"127.0.0.1:9458{instance=&quot;1&quot;}"#),
        "{html}"
    );
    // The percentile axis as HdrHistogram's plot labels it.
    // (plotters writes a text element's content on a line of its own.)
    for tick in [
        "\n90%\n",
        "\n99%\n",
        "\n99.9%\n",
        "\n99.99%\n",
        "\n99.999%\n",
    ] {
        assert!(html.contains(tick), "{tick}");
    }
    // File text is escaped.
    assert!(html.contains("smoke &lt;&amp;&gt; &quot;q&quot;"));
    assert!(!html.contains("smoke <&>"));
}

#[test]
fn without_intervals_only_the_whole_run_charts() {
    let s = summary(vec![]);
    let html = page(&[(&s, None, false)]);
    assert_self_contained(&html);
    assert!(
        html.contains("The time charts need intervals.jsonl"),
        "{html}"
    );
    assert_eq!(count(&html, "<svg"), 2, "{html}");
    assert!(html.contains("no thresholds"));
}

#[test]
fn a_partial_run_says_so() {
    let s = summary(vec![]);
    let rs = full_records();
    let html = page(&[(&s, Some(&rs), true)]);
    assert!(
        html.contains("partial run: thresholds not evaluated"),
        "{html}"
    );
    assert!(html.contains("partial: no summary.json"));
}

#[test]
fn several_runs_share_the_charts_in_their_colours() {
    let s = summary(thresholds());
    let rs = full_records();
    let html = page(&[
        (&s, Some(&rs), false),
        (&s, Some(&rs), false),
        (&s, None, false),
    ]);
    assert_self_contained(&html);
    assert_eq!(count(&html, "<svg"), 2 + 1 + 1 + 1 + 4 + 2 * 2, "{html}");
    assert!(html.contains("which run-2 does not have"), "{html}");
    // One column per run, each in its palette colour.
    for c in ["#0072b2", "#e69f00", "#009e73"] {
        assert!(html.contains(&format!("border-top:5px solid {c}")), "{c}");
    }
    assert!(html.contains("login: p99 latency over time (ms)"));
}
