//! Tests of the run directory: files written, totals, summary round trip.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::metrics::{ErrorClass, Metrics, Sample};
use crate::scenario::Threshold;

fn info() -> RunInfo {
    RunInfo {
        id: "0000002a".into(),
        scenario: "smoke".into(),
        scenario_path: "scenarios/smoke.yaml".into(),
        started_unix_ms: 1_700_000_000_000,
        seed: 7,
        model: "closed".into(),
        command: vec![
            "rocketload".into(),
            "run".into(),
            "scenarios/smoke.yaml".into(),
        ],
        shard: Some((1, 4)),
        target_urls: vec!["http://127.0.0.1:3000".into()],
        embedded: true,
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rocketload-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Two intervals of samples; returns the writer after both are written.
fn write_run(dir: &std::path::Path) -> RunWriter {
    let m = Metrics::new();
    let login = m.id("rest.login");
    let post = m.id("rest.chat.postMessage");
    let lost = m.id("message.lost");
    let mut w = RunWriter::create(dir, &info()).unwrap();
    for round in 0..2u64 {
        for i in 1..=100u64 {
            m.record(login, Sample::ok(Duration::from_millis(i + round)));
            m.record(
                post,
                Sample {
                    latency: Duration::from_millis(10 * i),
                    service: Duration::from_millis(i),
                    outcome: Ok(()),
                },
            );
        }
        m.record(
            login,
            Sample::err(Duration::from_millis(3), ErrorClass::Http(429)),
        );
        m.add(lost, 1);
        m.gauge("vus.active").set(10 + round as i64);
        w.write_interval(&m.snapshot()).unwrap();
    }
    w
}

#[test]
fn writes_run_intervals_and_summary() {
    let dir = temp_dir("files");
    let mut w = write_run(&dir);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["schema"], 1);
    assert_eq!(run["run"]["scenario"], "smoke");
    assert!(run["host"]["cpus"].as_u64().unwrap() >= 1);

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("intervals.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let login = &lines[0]["metrics"]["rest.login"];
    assert_eq!(login["count"], 101);
    assert_eq!(login["errors"], 1);
    assert_eq!(login["errors_by_class"]["http_429"], 1);
    assert!(login["p95_ms"].as_f64().unwrap() > 90.0);
    let h = decode_histogram(login["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(h.len(), 100);
    assert_eq!(lines[1]["counters"]["message.lost"], 1);
    assert_eq!(lines[1]["gauges"]["vus.active"], 11);

    let totals = w.totals();
    assert_eq!(totals.intervals, 2);
    assert_eq!(totals.metrics["rest.login"].count(), 202);
    assert_eq!(totals.counters["message.lost"], 2);
    assert_eq!(
        totals.gauges["vus.active"],
        GaugeSummary {
            last: 11,
            min: 10,
            max: 11
        }
    );

    let thresholds = BTreeMap::from([
        (
            "rest.login".to_string(),
            Threshold {
                p95: Some(Duration::from_millis(500)),
                ..Default::default()
            },
        ),
        (
            "message.lost".to_string(),
            Threshold {
                count: Some(0),
                ..Default::default()
            },
        ),
    ]);
    let summary = w
        .finish(
            &thresholds,
            vec!["generator saturated: test".into()],
            1_700_000_100_000,
        )
        .unwrap();
    assert!(!summary.passed());
    assert_eq!(summary.thresholds.len(), 2);
    let login = &summary.metrics["rest.login"];
    assert_eq!((login.count, login.errors), (202, 2));
    assert!(login.service.is_none(), "service equals latency");
    let post = &summary.metrics["rest.chat.postMessage"];
    let service = post.service.as_ref().expect("service differs");
    assert!(service.p99_ms.unwrap() < post.latency.p99_ms.unwrap());

    // The file holds the documented shape.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for key in [
        "schema",
        "run",
        "host",
        "target",
        "metrics",
        "counters",
        "thresholds",
        "notes",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let m = &json["metrics"]["rest.login"];
    for key in [
        "count",
        "errors",
        "errors_by_class",
        "rate_per_s",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "histogram",
    ] {
        assert!(m.get(key).is_some(), "missing metrics.rest.login.{key}");
    }
    assert!(json["metrics"]["rest.chat.postMessage"]["service"]["histogram"].is_string());
    assert_eq!(json["run"]["shard"], serde_json::json!([1, 4]));
    assert_eq!(json["thresholds"][0]["passed"], false);
    // Reusing the directory removes the old summary until the new run ends.
    RunWriter::create(&dir, &info()).unwrap();
    assert!(!dir.join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn summary_round_trips_with_histograms() {
    let dir = temp_dir("roundtrip");
    let mut w = write_run(&dir);
    let written = w
        .finish(&BTreeMap::new(), vec![], 1_700_000_100_000)
        .unwrap();
    let read = read_summary(&dir).unwrap();
    assert_eq!(read, written);
    assert_eq!(read_summary(&dir.join("summary.json")).unwrap(), written);
    // Histograms decode to the exact totals.
    let totals = read.totals();
    assert_eq!(
        totals.metrics["rest.chat.postMessage"],
        w.totals().metrics["rest.chat.postMessage"]
    );
    assert_eq!(
        totals.metrics["rest.login"],
        w.totals().metrics["rest.login"]
    );
    assert!(written.passed());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn read_summary_reports_bad_files() {
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("summary.json");
    assert!(matches!(read_summary(&f), Err(ResultsError::Read { .. })));
    std::fs::write(&f, "{not json").unwrap();
    assert!(matches!(read_summary(&f), Err(ResultsError::Parse { .. })));
    std::fs::write(&f, r#"{"schema": 99}"#).unwrap();
    let e = read_summary(&f).unwrap_err();
    assert!(matches!(e, ResultsError::Schema { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("summary.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn printed_summary_shows_metrics_thresholds_and_notes() {
    let dir = temp_dir("print");
    let mut w = write_run(&dir);
    let thresholds = BTreeMap::from([
        (
            "errors".to_string(),
            Threshold {
                rate: Some(0.05),
                ..Default::default()
            },
        ),
        (
            "message.lost".to_string(),
            Threshold {
                count: Some(0),
                ..Default::default()
            },
        ),
    ]);
    let summary = w
        .finish(
            &thresholds,
            vec!["generator saturated: CPU".into()],
            1_700_000_100_000,
        )
        .unwrap();
    let mut out = Vec::new();
    print_summary(&summary, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "rest.login",
        "rest.chat.postMessage",
        "p99.9",
        "  service ",
        "errors: http_429 2",
        "message.lost",
        "✓ errors rate <= 5%",
        "✗ message.lost count <= 0  (actual 2)",
        "1 of 2 thresholds FAILED",
        "!!! generator saturated: CPU",
        "shard 1/4",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn intervals_re_total_exactly() {
    let dir = temp_dir("intervals");
    let w = write_run(&dir);
    let records = read_intervals(&dir).unwrap();
    assert_eq!(records.len(), 2);
    let totals = totals_of(&records);
    for (name, m) in &w.totals().metrics {
        let back = &totals.metrics[name];
        assert_eq!(back.latency, m.latency, "{name}");
        assert_eq!((back.ok, &back.errors), (m.ok, &m.errors), "{name}");
    }
    assert_eq!(totals.counters, w.totals().counters);
    assert_eq!(totals.gauges, w.totals().gauges);

    // A line cut by a crash is skipped; a bad line in the middle is an error.
    let file = dir.join("intervals.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}{{\"elapsed_s\": 3.0, \"met")).unwrap();
    assert_eq!(read_intervals(&file).unwrap().len(), 2);
    std::fs::write(&file, format!("garbage\n{text}")).unwrap();
    let e = read_intervals(&file).unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
