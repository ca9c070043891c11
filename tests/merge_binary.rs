//! `rocketload merge` as a user runs it: two shards of an open-model run
//! started together with `--start-at` (each with its own embedded server),
//! merged; then what merge refuses, a partial shard and a corrupt file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use common::{Workdir, copy_run, json, rocketload};
use hdrhistogram::Histogram;
use rocketload::metrics::histogram::quantile_ms;
use rocketload::results::decode_histogram;
use serde_json::Value;

/// 40 arrivals/s for 3 s: 120 arrivals, 60 per shard. Each shard alone
/// fails `min_count: 100` and passes `count: 100`; the whole run the
/// other way round.
const SCENARIO: &str = r#"
name: merge-probe
seed: 7
users: { count: 8, password: pw-merge-1 }
timeout: 5s
load: { model: open, rate: 40, duration: 3s, max_vus: 8 }
thresholds:
  probe: { p99: 1s, min_count: 100 }
  iterations: { count: 100 }
behaviours:
  - name: probe
    steps:
      - http: { path: /api/info, auth: false, name: probe }
"#;
const ARRIVALS: u64 = 120;

/// Shards 1/2 and 2/2, run once for every test of this file.
struct Shards {
    dir: PathBuf,
}

impl Shards {
    fn get() -> &'static Shards {
        static SHARDS: OnceLock<Shards> = OnceLock::new();
        SHARDS.get_or_init(Shards::run)
    }

    fn run() -> Shards {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Shards of earlier test runs go first.
        for old in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            if old
                .file_name()
                .to_string_lossy()
                .starts_with("merge-shards-")
            {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
        let dir = tmp.join(format!("merge-shards-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("shards dir");
        let scenario = dir.join("scenario.yaml");
        std::fs::write(&scenario, SCENARIO).expect("write scenario");
        let outs = [dir.join("s1"), dir.join("s2")];
        for out in run_shards(&scenario, &outs, Duration::from_secs(4), &[]) {
            eprintln!("--- shard stderr\n{}", String::from_utf8_lossy(&out.stderr));
            // 60 arrivals each: `min_count: 100` fails on a shard alone.
            assert_eq!(
                out.status.code(),
                Some(1),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Shards { dir }
    }

    fn shard(&self, i: u32) -> PathBuf {
        self.dir.join(format!("s{i}"))
    }
}

/// Runs shards 1/N .. N/N of `scenario` into `outs` (N of them) at once,
/// all starting `lead` from now (`--start-at`), and waits for them all.
fn run_shards(scenario: &Path, outs: &[PathBuf], lead: Duration, extra: &[&str]) -> Vec<Output> {
    let at = humantime::format_rfc3339_seconds(SystemTime::now() + lead).to_string();
    let children: Vec<Child> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let shard = format!("{}/{}", i + 1, outs.len());
            Command::new(env!("CARGO_BIN_EXE_rocketload"))
                .args(["run", path(scenario), "--quiet", "--shard", &shard])
                .args(["--start-at", &at, "--out", path(out)])
                .args(extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a shard")
        })
        .collect();
    // Each waits for the same --start-at; each is waited for by its handle.
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for a shard"))
        .collect()
}

/// Asserts that a rocketload process exited 0, showing its stderr if not.
fn passed(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn histogram(metric: &Value) -> Histogram<u64> {
    decode_histogram(metric["histogram"].as_str().expect("histogram field")).expect("histogram")
}

/// `rocketload merge ARGS...` exits 2 with a message that says each of `says`.
fn refused(args: &[&str], says: &[&str]) {
    let r = rocketload(&[&["merge"], args].concat());
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    for s in says {
        assert!(stderr.contains(s), "`{s}` not in: {stderr}");
    }
}

fn count(summary: &Value, metric: &str) -> u64 {
    summary["metrics"][metric]["count"].as_u64().unwrap_or(0)
}

#[test]
fn shards_add_up_to_the_whole_run() {
    let shards = Shards::get();
    let (s1, s2) = (shards.shard(1), shards.shard(2));
    let parts = [
        json(&s1.join("summary.json")),
        json(&s2.join("summary.json")),
    ];
    for p in &parts {
        assert_eq!(p["run"]["load"]["stages"][0]["target"], 20.0);
        // Sharded runs record their --start-at and clock offset (the
        // embedded server sends a Date header).
        assert!(
            p["run"]["start_at_unix_ms"].as_u64().is_some(),
            "{}",
            p["run"]
        );
        let uncertainty = p["run"]["clock_offset_uncertainty_ms"].as_f64().unwrap();
        assert!(uncertainty < 500.0, "{uncertainty}");
        assert_eq!(
            p["shards"][0]["clock_offset_ms"],
            p["run"]["clock_offset_ms"]
        );
    }
    let w = Workdir::new("merge-whole");
    let out = w.path("merged");
    let r = rocketload(&["merge", path(&s1), path(&s2), "-o", path(&out)]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        !stderr.contains("warning"),
        "same host, same start: {stderr}"
    );
    // Each shard alone failed min_count (60 < 100); together they pass it
    // and fail `count: 100` instead: merge gates on the whole.
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    let merged = json(&out.join("summary.json"));
    let verdicts: Vec<(&str, &str, bool)> = merged["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let metric = t["metric"].as_str().unwrap();
            (
                metric,
                t["stat"].as_str().unwrap(),
                t["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        verdicts.contains(&("probe", "min_count", true)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("iterations", "count", false)),
        "{verdicts:?}"
    );
    assert!(verdicts.contains(&("probe", "p99", true)), "{verdicts:?}");

    // Counts: the sum of the parts, and what the schedule gives.
    for name in merged["metrics"].as_object().unwrap().keys() {
        let sum: u64 = parts.iter().map(|p| count(p, name)).sum();
        assert_eq!(count(&merged, name), sum, "{name}");
    }
    assert_eq!(count(&merged, "probe"), ARRIVALS);
    assert_eq!(count(&merged, "iterations"), ARRIVALS);
    assert_eq!(merged["counters"]["iterations.dropped"], Value::Null);

    // Percentiles: those of the parts' histograms added by hand.
    for name in ["probe", "iterations"] {
        let mut sum = histogram(&parts[0]["metrics"][name]);
        sum.add(histogram(&parts[1]["metrics"][name])).unwrap();
        let m = &merged["metrics"][name];
        assert_eq!(histogram(m), sum, "{name}");
        for (field, q) in [
            ("p50_ms", 0.5),
            ("p95_ms", 0.95),
            ("p99_ms", 0.99),
            ("max_ms", 1.0),
        ] {
            assert_eq!(m[field].as_f64(), quantile_ms(&sum, q), "{name} {field}");
        }
    }
    // Rates over the merged wall-clock span.
    let duration = merged["run"]["duration_s"].as_f64().unwrap();
    assert!((3.0..4.0).contains(&duration), "{duration}");
    let rate = merged["metrics"]["probe"]["rate_per_s"].as_f64().unwrap();
    assert!((rate - ARRIVALS as f64 / duration).abs() < 0.01, "{rate}");
    // The whole run's load, its shards, a note of what was merged.
    assert_eq!(merged["run"]["load"]["stages"][0]["target"], 40.0);
    let listed: Vec<(u64, &str)> = merged["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["shard"]["index"].as_u64().unwrap(),
                s["run_id"].as_str().unwrap(),
            )
        })
        .collect();
    let ids: Vec<&str> = parts
        .iter()
        .map(|p| p["run"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [(1, ids[0]), (2, ids[1])]);
    let notes = merged["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["kind"] == "merged" && n["parts"] == 2),
        "{notes:?}"
    );
    assert!(String::from_utf8_lossy(&r.stdout).contains("merged 2 run(s), 2 shard(s)"));

    // A run directory: run.json and the interval lines, aligned by second.
    assert_eq!(
        json(&out.join("run.json"))["run"]["id"],
        merged["run"]["id"]
    );
    let lines = rocketload::results::read_intervals(&out).unwrap();
    let shard_lines = rocketload::results::read_intervals(&s1).unwrap().len();
    assert!(lines.len() <= shard_lines + 1, "{} lines", lines.len());
    let per_line: u64 = lines
        .iter()
        .filter_map(|l| l.metrics.get("probe"))
        .map(|m| m.count)
        .sum();
    assert_eq!(per_line, ARRIVALS);
    assert_eq!(merged["run"]["intervals"], lines.len());

    // Merged again: refused into a run directory, allowed with --force.
    refused(
        &[path(&s1), path(&s2), "-o", path(&out)],
        &["already holds a run"],
    );
    let forced = rocketload(&["merge", path(&s1), path(&s2), "-o", path(&out), "--force"]);
    assert_eq!(forced.status.code(), Some(1));
    // A merge is a part like any other: it contributes its shards.
    refused(
        &[path(&out), path(&s1), "-o", path(&w.path("m2"))],
        &[&format!("both hold run {}", ids[0])],
    );
}

#[test]
fn the_same_run_or_shard_twice_is_refused() {
    let shards = Shards::get();
    let s1 = shards.shard(1);
    let w = Workdir::new("merge-twice");
    let copy = w.path("copy");
    copy_run(&s1, &copy);
    refused(
        &[path(&s1), path(&copy), "-o", path(&w.path("out"))],
        &["a run can be merged only once", path(&s1), path(&copy)],
    );
    assert!(!w.path("out").exists());

    // Another run claiming to be shard 1 too.
    let other = w.path("other");
    copy_run(&s1, &other);
    let file = other.join("summary.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let id = json(&file)["run"]["id"].as_str().unwrap().to_string();
    std::fs::write(&file, text.replace(&id, "deadbeef")).unwrap();
    refused(
        &[path(&s1), path(&file), "-o", path(&w.path("out"))],
        &["are both shard 1", path(&file)],
    );

    // The output may not be one of the inputs, even with --force.
    let s2 = shards.shard(2);
    refused(
        &[path(&s1), path(&s2), "-o", path(&s1), "--force"],
        &["is also one of the runs merged"],
    );
}

#[test]
fn different_scenarios_are_refused_unless_forced() {
    let shards = Shards::get();
    let s1 = shards.shard(1);
    let w = Workdir::new("merge-scenarios");
    let scenario = w.path("other.yaml");
    std::fs::write(
        &scenario,
        SCENARIO.replace("rate: 40, duration: 3s", "rate: 10, duration: 1s"),
    )
    .unwrap();
    let other = w.path("other");
    let r = rocketload(&["run", path(&scenario), "--quiet", "--out", path(&other)]);
    assert!(r.status.code().is_some_and(|c| c <= 1));
    let out = w.path("out");
    refused(
        &[path(&s1), path(&other), "-o", path(&out)],
        &["ran different scenarios", path(&s1), path(&other)],
    );

    let r = rocketload(&[
        "merge",
        path(&s1),
        path(&other),
        "-o",
        path(&out),
        "--force",
    ]);
    assert!(r.status.code().is_some_and(|c| c <= 1));
    let merged = json(&out.join("summary.json"));
    let parts = [
        json(&s1.join("summary.json")),
        json(&other.join("summary.json")),
    ];
    let sum: u64 = parts.iter().map(|p| count(p, "probe")).sum();
    assert_eq!(count(&merged, "probe"), sum);
}

#[test]
fn a_partial_shard_merges_and_marks_the_merge_partial() {
    let shards = Shards::get();
    let w = Workdir::new("merge-partial");
    let killed = w.path("killed");
    copy_run(&shards.shard(2), &killed);
    std::fs::remove_file(killed.join("summary.json")).unwrap();
    let out = w.path("out");
    let r = rocketload(&[
        "merge",
        path(&shards.shard(1)),
        path(&killed),
        "-o",
        path(&out),
    ]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "the thresholds of shard 1 still apply"
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("partial run"));
    let merged = json(&out.join("summary.json"));
    assert_eq!(
        count(&merged, "probe"),
        ARRIVALS,
        "the interval lines are whole"
    );
    let notes = merged["notes"].as_array().unwrap();
    let partial = notes
        .iter()
        .find(|n| n["kind"] == "partial")
        .expect("partial note");
    assert!(partial["text"].as_str().unwrap().contains(path(&killed)));

    // report marks the killed shard itself partial with the same kind.
    let r = rocketload(&["report", path(&killed), "--format", "json"]);
    let report: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["notes"][0]["kind"], "partial");
}

#[test]
fn a_corrupt_histogram_is_bad_input_naming_the_file() {
    let shards = Shards::get();
    let w = Workdir::new("merge-corrupt");
    let bad = w.path("bad");
    copy_run(&shards.shard(1), &bad);
    let file = bad.join("summary.json");
    let mut summary = json(&file);
    summary["metrics"]["probe"]["histogram"] = Value::from("HISTFAAAAnotahistogram");
    std::fs::write(&file, summary.to_string()).unwrap();
    let s2 = shards.shard(2);
    refused(
        &[path(&file), path(&s2), "-o", path(&w.path("out"))],
        &[path(&file), "histogram"],
    );

    // An output that cannot be written: 74.
    let r = rocketload(&["merge", path(&s2), "-o", path(&file.join("out"))]);
    assert_eq!(r.status.code(), Some(74));
    // Shard 2/2 alone: merged, with a warning that 1/2 is missing.
    let r = rocketload(&["merge", path(&s2), "-o", path(&w.path("alone"))]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("shard(s) 1/2 are not among"));

    // A folder with no runs in it.
    let empty = w.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    refused(&[path(&empty), "-o", path(&w.path("out"))], &[path(&empty)]);
}

/// Four users in one room, two per shard, every one sending and
/// listening: half of each shard's deliveries are the other shard's.
const CROSS: &str = r#"
name: cross-shard
seed: 3
users: { count: 4, prefix: cross-, password: pw-cross-1 }
rooms: { count: 1, prefix: cross-room-, members_per_room: 4 }
timeout: 5s
load: { model: closed, vus: 4, duration: 3s, graceful_stop: 2s }
behaviours:
  - name: chatter
    setup:
      - login: { via: rest }
      - connect: {}
      - subscribe: { stream: room-messages, rooms: joined }
    steps:
      - send_message: { room: random_joined, via: ddp }
      - think: 200ms
"#;

/// Shards of one test against one server count each other's deliveries
/// in `message.e2e` (timed from the token's send time, with a note on
/// clock sync), lose none, and still merge as two runs.
#[test]
fn shards_record_deliveries_of_each_others_messages() {
    let serve = common::Serve::start(&[]);
    let w = Workdir::new("cross-shard");
    let scenario = w.scenario(CROSS);
    let outs = [w.path("s1"), w.path("s2")];
    let target = ["--target", serve.url.as_str()];
    for out in run_shards(&scenario, &outs, Duration::from_secs(5), &target) {
        passed(&out);
    }
    let parts: Vec<Value> = outs.iter().map(|o| json(&o.join("summary.json"))).collect();
    for p in &parts {
        let cross = p["counters"]["message.cross_shard"].as_u64().unwrap_or(0);
        assert!(
            cross > 0,
            "no delivery of the other shard's messages: {}",
            p["counters"]
        );
        assert!(count(p, "message.e2e") > cross, "own deliveries too");
        assert_eq!(
            p["counters"]["message.lost"],
            Value::Null,
            "{}",
            p["counters"]
        );
        let note = p["notes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["kind"] == "cross_shard_e2e")
            .unwrap_or_else(|| panic!("no clock note: {}", p["notes"]));
        assert_eq!(note["count"].as_u64(), Some(cross));
        assert!(note["text"].as_str().unwrap().contains("clock"), "{note}");
    }
    // The shards share the token id, not the run id: they merge.
    let merged = w.path("merged");
    let r = rocketload(&["merge", path(&outs[0]), path(&outs[1]), "-o", path(&merged)]);
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// Nine users posting in three rooms, open model: 30 arrivals/s for 3 s.
const EQUAL: &str = r#"
name: shards-equal
seed: 5
users: { count: 9, prefix: eq-, password: pw-eq-1 }
rooms: { count: 3, prefix: eq-room-, members_per_room: 9 }
timeout: 5s
load: { model: open, rate: 30, duration: 3s, max_vus: 9 }
behaviours:
  - name: poster
    setup:
      - login: { via: rest }
    steps:
      - http: { path: /api/info, auth: false, name: probe }
      - send_message: { room: random_joined }
"#;

/// Three shards against one server merge to what one process measures
/// of the same seeded scenario against another: the same arrivals, the
/// same requests and messages (setup counts differ: an open model's VUs
/// start as the arrivals need them).
#[test]
fn three_shards_merge_to_the_one_process_run() {
    let (whole_server, shard_server) = (common::Serve::start(&[]), common::Serve::start(&[]));
    let w = Workdir::new("three-shards");
    let scenario = w.scenario(EQUAL);
    let whole = w.path("whole");
    let r = rocketload(&[
        "run",
        path(&scenario),
        "--quiet",
        "--target",
        &whole_server.url,
        "--out",
        path(&whole),
    ]);
    passed(&r);
    let outs = [w.path("s1"), w.path("s2"), w.path("s3")];
    let target = ["--target", shard_server.url.as_str()];
    for out in run_shards(&scenario, &outs, Duration::from_secs(5), &target) {
        passed(&out);
    }
    let merged = w.path("merged");
    let mut args = vec!["merge"];
    args.extend(outs.iter().map(|o| path(o)));
    args.extend(["-o", path(&merged)]);
    let r = rocketload(&args);
    passed(&r);
    let (whole, merged) = (
        json(&whole.join("summary.json")),
        json(&merged.join("summary.json")),
    );
    for name in ["iterations", "probe", "rest.chat.postMessage"] {
        assert_eq!(count(&merged, name), 90, "{name} merged");
        assert_eq!(count(&whole, name), 90, "{name} in one process");
    }
    for summary in [&whole, &merged] {
        for (name, m) in summary["metrics"].as_object().unwrap() {
            assert_eq!(m["errors"], 0, "{name}: {m}");
        }
    }
    assert_eq!(merged["shards"].as_array().unwrap().len(), 3);
}
