//! Exporters over a run built in code: CSV read back with the csv crate,
//! JUnit's structure, Markdown's tables.
//! The HTML report's tests (html/tests.rs) reuse this run.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ExportInput, Format};
use crate::metrics::histogram::new_histogram;
use crate::metrics::{Interval, MetricInterval};
use crate::results::{
    Bound, Host, IntervalRecord, LoadSpec, Note, NoteKind, RunInfo, ShardTiming, Stat, Summary,
    SummaryParts, TargetInfo, ThresholdResult, Tool, totals_of,
};

/// A metric name that needs quoting in CSV and escaping in Markdown.
const ODD: &str = "rest.method.call/a,\"b\"|c";

fn metric(latencies_us: &[u64], errors: u64) -> MetricInterval {
    let mut h = new_histogram();
    for &v in latencies_us {
        h.record(v).unwrap();
    }
    MetricInterval {
        latency: h.clone(),
        service: h,
        ok: latencies_us.len() as u64,
        errors: if errors > 0 {
            BTreeMap::from([("http_503".to_string(), errors)])
        } else {
            BTreeMap::new()
        },
    }
}

/// Two one-second intervals of three metrics (one with errors, one with
/// no successful sample).
pub(super) fn records() -> Vec<IntervalRecord> {
    (0..2u64)
        .map(|i| {
            let iv = Interval {
                start_unix_ms: 1_700_000_000_000 + i * 1000,
                elapsed: Duration::from_secs(i + 1),
                duration: Duration::from_secs(1),
                metrics: BTreeMap::from([
                    ("login".to_string(), metric(&[1_000, 2_000, 3_000], 0)),
                    (ODD.to_string(), metric(&[500_000, 700_000], 1)),
                    ("rest.me".to_string(), metric(&[], 2)),
                ]),
                counters: BTreeMap::new(),
                gauges: BTreeMap::new(),
            };
            IntervalRecord::of(&iv, Some("stage 1/2: 0 -> 10 VUs, \"ramp\""))
        })
        .collect()
}

fn threshold(metric: &str, stat: Stat, limit: f64, actual: Option<f64>) -> ThresholdResult {
    let passed = actual.is_some_and(|a| match stat.bound() {
        Bound::AtMost => a <= limit,
        Bound::AtLeast => a >= limit,
    });
    ThresholdResult {
        metric: metric.into(),
        stat,
        bound: stat.bound(),
        limit,
        unit: stat.unit(),
        actual,
        passed,
    }
}

pub(super) fn summary(thresholds: Vec<ThresholdResult>) -> Summary {
    let totals = totals_of(&records());
    Summary::build(
        SummaryParts {
            info: RunInfo {
                id: "0000002a".into(),
                scenario: "smoke <&> \"q\"".into(),
                scenario_path: "scenarios/smoke.yaml".into(),
                scenario_sha256: "ab".repeat(32),
                started_unix_ms: 1_700_000_000_000,
                seed: 7,
                load: LoadSpec {
                    model: crate::scenario::Model::Closed,
                    unit: "vus".into(),
                    start: 0.0,
                    stages: vec![],
                    max_vus: None,
                    graceful_stop_s: 10.0,
                },
                command: vec!["rocketload".into()],
                shard: None,
                repeat: None,
                timing: ShardTiming::default(),
            },
            tool: Tool::current(),
            host: Host::default(),
            target: TargetInfo {
                urls: vec!["http://127.0.0.1:3000".into()],
                instances: 1,
                rocketchat_version: Some("7.10".into()),
                ..TargetInfo::default()
            },
            thresholds,
            notes: vec![Note::new(NoteKind::Interrupted, "interrupted | at 2 s")],
            ended_unix_ms: 1_700_000_002_000,
        },
        &totals,
    )
}

pub(super) fn thresholds() -> Vec<ThresholdResult> {
    vec![
        threshold("login", Stat::P95, 500.0, Some(3.0)),
        threshold(ODD, Stat::P99, 600.0, Some(700.0)),
        threshold("rest.me", Stat::P95, 100.0, None),
        threshold("errors", Stat::ErrorRate, 0.01, Some(0.3)),
    ]
}

fn render(format: Format, summary: &Summary, intervals: Option<&[IntervalRecord]>) -> String {
    let input = ExportInput {
        summary,
        intervals,
        partial: false,
    };
    let mut out = Vec::new();
    format.exporter().write(&input, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = ::csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn formats_come_from_extensions() {
    let f = |p: &str| Format::from_path(std::path::Path::new(p));
    assert_eq!(f("a.csv"), Some(Format::Csv));
    assert_eq!(f("a.XML"), Some(Format::Junit));
    assert_eq!(f("a.md"), Some(Format::Markdown));
    assert_eq!(f("a.markdown"), Some(Format::Markdown));
    assert_eq!(f("a.json"), Some(Format::Json));
    assert_eq!(f("a.txt"), Some(Format::Text));
    assert_eq!(f("a.html"), Some(Format::Html));
    assert_eq!(f("a.pdf"), None);
    assert_eq!(f("a"), None);
}

#[test]
fn csv_has_one_row_per_metric() {
    let s = summary(thresholds());
    let (header, rows) = read_csv(&render(Format::Csv, &s, None));
    assert_eq!(
        header.join(","),
        "metric,count,errors,error_rate,rate_per_s,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,max_ms,mean_ms"
    );
    assert_eq!(rows.len(), 3);
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["login", "rest.me", ODD]);
    let odd = &rows[2];
    assert_eq!(odd[1], "6"); // 2 intervals x (2 ok + 1 error)
    assert_eq!(odd[2], "2");
    let rate: f64 = odd[3].parse().unwrap();
    assert!((rate - 2.0 / 6.0).abs() < 1e-9, "{rate}");
    assert!(odd[9].parse::<f64>().unwrap() >= 700.0);
    // No successful sample: empty latency cells, counts still there.
    let me = &rows[1];
    assert_eq!(
        (me[1].as_str(), me[2].as_str(), me[3].as_str()),
        ("4", "4", "1")
    );
    assert!(me[5..].iter().all(String::is_empty), "{me:?}");
}

#[test]
fn csv_with_intervals_has_one_row_per_metric_per_interval() {
    let s = summary(vec![]);
    let recs = records();
    let (header, rows) = read_csv(&render(Format::Csv, &s, Some(&recs)));
    assert_eq!(
        header.join(","),
        "elapsed_s,start_unix_ms,stage,metric,count,errors,rate,p50_ms,p90_ms,p95_ms,p99_ms,max_ms"
    );
    assert_eq!(rows.len(), 2 * 3);
    assert_eq!(rows[0][0], "1");
    assert_eq!(rows[3][0], "2");
    assert_eq!(rows[3][1], "1700000001000");
    assert_eq!(rows[0][2], "stage 1/2: 0 -> 10 VUs, \"ramp\"");
    assert_eq!(rows[2][3], ODD);
    assert_eq!(rows[2][4], "3");
    assert_eq!(rows[1][7], "", "no successful sample: empty cell");
}

#[test]
fn csv_of_several_runs_leads_with_the_run() {
    let s = summary(vec![]);
    let inputs = [
        ExportInput {
            summary: &s,
            intervals: None,
            partial: false,
        },
        ExportInput {
            summary: &s,
            intervals: None,
            partial: true,
        },
    ];
    let mut out = Vec::new();
    super::csv::write_runs(&inputs, &mut out).unwrap();
    let (header, rows) = read_csv(std::str::from_utf8(&out).unwrap());
    assert_eq!(header[..2], ["run", "metric"]);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r[0] == "0000002a"));
}

#[test]
fn junit_has_a_case_per_threshold_and_a_failure_per_failed_one() {
    let s = summary(thresholds());
    let xml = render(Format::Junit, &s, None);
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    assert!(
        xml.contains(
            r#"<testsuite name="smoke &lt;&amp;&gt; &quot;q&quot;" tests="4" failures="3""#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"time="2""#), "{xml}");
    assert!(
        xml.contains(r#"message="measured 700 ms, limit 600 ms""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"message="nothing measured, limit 100 ms""#),
        "{xml}"
    );
    assert!(xml.contains(r#"message="measured 30%, limit 1%""#), "{xml}");
    assert!(
        xml.contains(r#"name="login p95 &lt;= 500 ms" time="0"/>"#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"name="rest.method.call/a,&quot;b&quot;|c p99 &lt;= 600 ms""#),
        "{xml}"
    );
    for p in [
        "run_id",
        "scenario_sha256",
        "target_url",
        "rocketchat_version",
    ] {
        assert!(
            xml.contains(&format!(r#"<property name="{p}" "#)),
            "{p}: {xml}"
        );
    }
    assert_well_formed(&xml);
}

#[test]
fn junit_without_thresholds_is_an_empty_suite() {
    let xml = render(Format::Junit, &summary(vec![]), None);
    assert!(xml.contains(r#"tests="0" failures="0""#), "{xml}");
    assert!(!xml.contains("<testcase"), "{xml}");
    assert_well_formed(&xml);
}

#[test]
fn xml_escape_covers_the_five_entities() {
    assert_eq!(
        super::junit::escape("a&b<c>d\"e'f\u{1}g"),
        "a&amp;b&lt;c&gt;d&quot;e&apos;fg"
    );
}

/// Tags balance, and no raw `<`, `&` or `"` inside a value.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml.trim_start_matches(|c| c != '\n');
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        assert!(!text.contains('>'), "stray > in {text:?}");
        let close = rest[open..].find('>').unwrap() + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "raw < in tag {tag:?}");
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in {tag:?}"
        );
        let name = tag
            .trim_start_matches('/')
            .split([' ', '/'])
            .next()
            .unwrap();
        if tag.starts_with('/') {
            assert_eq!(stack.pop(), Some(name), "closing {name}");
        } else if !tag.ends_with('/') {
            stack.push(name);
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    for (i, _) in xml.match_indices('&') {
        let entity = &xml[i..xml[i..].find(';').map_or(xml.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
            "bad entity {entity:?}"
        );
    }
}

#[test]
fn markdown_has_the_tables_and_marks_failures() {
    let md = render(Format::Markdown, &summary(thresholds()), None);
    assert!(
        md.starts_with("### smoke <&> \"q\": ✗ failed 3 of 4 thresholds"),
        "{md}"
    );
    assert!(
        md.contains("| metric | count | rate/s | p50 | p95 | p99 | p99.9 | max | errors |"),
        "{md}"
    );
    assert!(
        md.contains("| rest.method.call/a,\"b\"\\|c | 6 | 3.0 |"),
        "{md}"
    );
    assert!(md.contains("| ✓ | login | p95 <= 500 ms | 3 ms |"), "{md}");
    assert!(md.contains("| ✗ | errors | rate <= 1% | 30% |"), "{md}");
    assert!(
        md.contains("| ✗ | rest.me | p95 <= 100 ms | nothing measured |"),
        "{md}"
    );
    assert!(md.contains("- interrupted | at 2 s"), "{md}");
    // Every table row has the header's number of cells.
    for line in md
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("ms"))
    {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(cells == 10 || cells == 5, "{line}");
    }
}

#[test]
fn markdown_says_partial() {
    let s = summary(vec![]);
    let input = ExportInput {
        summary: &s,
        intervals: None,
        partial: true,
    };
    let mut out = Vec::new();
    Format::Markdown.exporter().write(&input, &mut out).unwrap();
    let md = String::from_utf8(out).unwrap();
    assert!(md.contains("partial"), "{md}");
}
