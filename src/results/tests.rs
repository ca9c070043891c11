//! Tests of the run directory: files written, totals, summary round trip.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::metrics::{ErrorClass, Metrics, Sample};
use crate::scenario::Threshold;

pub(super) fn info() -> RunInfo {
    RunInfo {
        id: "0000002a".into(),
        scenario: "smoke".into(),
        scenario_path: "scenarios/smoke.yaml".into(),
        started_unix_ms: 1_700_000_000_000,
        scenario_sha256: "ab".repeat(32),
        seed: 7,
        load: LoadSpec {
            model: crate::scenario::Model::Closed,
            unit: "vus".into(),
            start: 0.0,
            stages: vec![StageSpec {
                duration_s: 2.0,
                target: 10.0,
            }],
            max_vus: None,
            graceful_stop_s: 10.0,
        },
        command: vec![
            "rocketload".into(),
            "run".into(),
            "scenarios/smoke.yaml".into(),
        ],
        shard: Some(ShardRef { index: 1, count: 4 }),
        repeat: None,
        timing: ShardTiming::default(),
    }
}

fn target() -> TargetInfo {
    TargetInfo {
        urls: vec!["http://127.0.0.1:3000".into()],
        instances: 1,
        embedded: true,
        rocketchat_version: Some("7.10".into()),
        ..TargetInfo::default()
    }
}

fn create(dir: &std::path::Path) -> RunWriter {
    RunWriter::create(dir, &info(), &Tool::current(), &Host::default(), &target()).unwrap()
}

/// A run writer and the totals of what it was fed, as the collector keeps them.
struct Written {
    writer: RunWriter,
    totals: Totals,
}

impl Written {
    fn feed(&mut self, iv: &crate::metrics::Interval) {
        self.totals.add(iv);
        let tick = Tick {
            interval: iv,
            totals: &self.totals,
            stage: "stage 1/1: hold 10 VUs",
            level: 10.0,
            target: &Default::default(),
            server: None,
        };
        self.writer.interval(&tick).unwrap();
    }

    fn totals(&self) -> &Totals {
        &self.totals
    }

    fn finish(
        &mut self,
        thresholds: &BTreeMap<String, Threshold>,
        notes: Vec<Note>,
        ended_unix_ms: u64,
    ) -> Result<Summary, ResultsError> {
        let summary = Summary::build(
            SummaryParts {
                info: info(),
                tool: Tool::current(),
                host: Host::probe(std::path::Path::new("/nonexistent"), &|_| None),
                target: target(),
                thresholds: evaluate(thresholds, &self.totals),
                notes,
                ended_unix_ms,
            },
            &self.totals,
        );
        self.writer.finish(&summary)?;
        Ok(summary)
    }
}

fn saturated(text: &str) -> Vec<Note> {
    vec![Note::new(
        NoteKind::GeneratorSaturated {
            lag_p99_ms: 80.0,
            cpu_over_limit_s: 0,
            cpu_samples_s: 2,
            cpu_max_pct: 50.0,
        },
        text,
    )]
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rocketload-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Two intervals of samples; returns the writer after both are written.
fn write_run(dir: &std::path::Path) -> Written {
    let m = Metrics::new();
    let login = m.id("rest.login");
    let post = m.id("rest.chat.postMessage");
    let lost = m.id("message.lost");
    let mut w = Written {
        writer: create(dir),
        totals: Totals::default(),
    };
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
        w.feed(&m.snapshot());
    }
    w
}

#[test]
fn writes_run_intervals_and_summary() {
    let dir = temp_dir("files");
    let mut w = write_run(&dir);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["schema"], 2);
    assert_eq!(run["run"]["scenario"], "smoke");
    assert_eq!(run["target"]["rocketchat_version"], "7.10");
    assert!(run["tool"]["version"].is_string());

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
            saturated("generator saturated: test"),
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
        "tool",
        "host",
        "target",
        "shards",
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
    assert_eq!(
        json["run"]["shard"],
        serde_json::json!({"index": 1, "count": 4})
    );
    assert_eq!(json["thresholds"][0]["passed"], false);
    assert_eq!(json["thresholds"][0]["stat"], "count");
    assert_eq!(json["thresholds"][0]["bound"], "<=");
    assert_eq!(json["notes"][0]["kind"], "generator_saturated");
    assert_eq!(json["notes"][0]["lag_p99_ms"], 80.0);
    assert_eq!(json["shards"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["run"]["load"]["stages"][0]["target"], 10.0);
    // Reusing the directory removes the old summary until the new run ends.
    create(&dir);
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
    std::fs::write(&f, r#"{"schema": 2, "run": {}}"#).unwrap();
    let e = read_summary(&f).unwrap_err();
    assert!(matches!(e, ResultsError::Parse { .. }), "{e}");
    assert!(e.to_string().contains("summary.json"), "{e}");
    std::fs::write(&f, r#"[1, 2]"#).unwrap();
    assert!(matches!(read_summary(&f), Err(ResultsError::Parse { .. })));
    std::fs::write(&f, r#"{"schema": 99}"#).unwrap();
    let e = read_summary(&f).unwrap_err();
    assert!(matches!(e, ResultsError::Schema { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("summary.json"));
    assert!(e.to_string().contains("reads schema 1 or 2"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_run_json_is_named_as_one() {
    let dir = temp_dir("bad-run-json");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("intervals.jsonl"), "").unwrap();
    for (text, says) in [
        ("{not json", "is not a rocketload run.json"),
        (r#"{"schema": 1}"#, "is not a rocketload run.json"),
        (
            r#"{"schema": 99}"#,
            "unsupported rocketload run.json schema 99",
        ),
    ] {
        std::fs::write(dir.join("run.json"), text).unwrap();
        let e = load_run(&dir, Intervals::IfPresent)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says) && e.contains("run.json"), "{text}: {e}");
        assert!(!e.contains("summary"), "{text}: {e}");
    }
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
            saturated("generator saturated: CPU"),
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

#[test]
fn schema_1_baselines_still_open() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/baselines");
    for name in ["smoke", "office-day"] {
        let dir = root.join(name);
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        let s = read_summary(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.schema, SCHEMA);
        assert_eq!(s.run.info.scenario, raw["run"]["scenario"]);
        assert_eq!(s.metrics.len(), raw["metrics"].as_object().unwrap().len());
        assert_eq!(
            s.thresholds.len(),
            raw["thresholds"].as_array().unwrap().len()
        );
        assert_eq!(s.host.cores as u64, raw["host"]["cpus"].as_u64().unwrap());
        assert_eq!(s.tool.version, raw["host"]["rocketload_version"]);
        assert_eq!(s.shards.len(), 1);
        // Limits moved from strings to data, with the same numbers.
        for (t, r) in s
            .thresholds
            .iter()
            .zip(raw["thresholds"].as_array().unwrap())
        {
            assert_eq!(t.stat.key(), r["limit"]);
            assert_eq!(t.limit, r["threshold"].as_f64().unwrap());
            assert_eq!(t.passed, r["passed"]);
        }
        // The histograms still total exactly.
        let e2e = &s.metrics["message.e2e"];
        assert_eq!(e2e.latency.histogram.len(), e2e.count - e2e.errors);
    }
}
