//! `rocketload report` as a user runs it: the real binary over the smoke
//! baseline, a partial run directory, and bad input (exit 2, file named).

mod common;

use std::path::Path;
use std::process::Output;

use common::{Workdir, rocketload, text};

const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/results/baselines/smoke");

fn report(args: &[&str]) -> Output {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    rocketload(&all)
}

#[test]
fn markdown_of_the_baseline() {
    let w = Workdir::new("md");
    let out = w.0.join("r.md");
    let r = report(&[BASELINE, "-o", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0));
    let md = text(&out);
    assert!(md.starts_with("### smoke: ✓ passed"), "{md}");
    assert!(
        md.contains("| metric | count | rate/s | p50 | p95 | p99 | p99.9 | max | errors |"),
        "{md}"
    );
    assert!(md.contains("| chat.turn | 12 |"), "{md}");
}

#[test]
fn every_format_of_the_baseline() {
    let w = Workdir::new("formats");
    for (file, start) in [
        ("r.txt", "\nsmoke"),
        ("r.json", "{"),
        ("r.csv", "metric,count,errors,error_rate,"),
        ("r.xml", "<?xml"),
    ] {
        let out = w.0.join(file);
        let r = report(&[BASELINE, "-o", out.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(0), "{file}");
        assert!(text(&out).starts_with(start), "{file}");
    }
    // To stdout, with the format named and the interval rows.
    let r = report(&[BASELINE, "--format", "csv", "--intervals"]);
    assert_eq!(r.status.code(), Some(0));
    let csv = String::from_utf8(r.stdout).unwrap();
    assert!(
        csv.starts_with("elapsed_s,start_unix_ms,stage,metric,"),
        "{csv}"
    );
    assert!(csv.lines().count() > 100, "{csv}");
    // Two runs in JSON: an array.
    let r = report(&[BASELINE, BASELINE, "--format", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

#[test]
fn a_run_without_summary_is_partial() {
    let w = Workdir::new("partial");
    let run = w.0.join("run");
    std::fs::create_dir_all(&run).unwrap();
    for f in ["run.json", "intervals.jsonl"] {
        std::fs::copy(Path::new(BASELINE).join(f), run.join(f)).unwrap();
    }
    let r = report(&[run.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("partial"), "{stdout}");
    assert!(stdout.contains("chat.turn"), "{stdout}");
    assert!(String::from_utf8_lossy(&r.stderr).contains("partial"));

    let r = report(&[run.to_str().unwrap(), "--format", "junit"]);
    assert_eq!(r.status.code(), Some(0));
    let xml = String::from_utf8_lossy(&r.stdout);
    assert!(xml.contains(r#"tests="0""#), "{xml}");
    assert!(
        xml.contains(r#"<property name="partial" value="true"/>"#),
        "{xml}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let r = report(&["/nonexistent"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("/nonexistent"));

    let w = Workdir::new("bad");
    let garbage = w.0.join("summary.json");
    std::fs::write(&garbage, "not json at all").unwrap();
    let r = report(&[garbage.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains(garbage.to_str().unwrap()));

    let schema9 = w.0.join("nine.json");
    std::fs::write(&schema9, r#"{"schema": 9}"#).unwrap();
    let r = report(&[schema9.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("schema 9"));

    // A directory that is no run.
    let empty = w.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = report(&[empty.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a run directory"));

    // --intervals outside CSV does nothing, so it is refused.
    let r = report(&[BASELINE, "--intervals"]);
    assert_eq!(r.status.code(), Some(2));
}

#[test]
fn an_output_that_cannot_be_written_exits_74() {
    let w = Workdir::new("unwritable");
    let blocker = w.0.join("file");
    std::fs::write(&blocker, "").unwrap();
    let out = blocker.join("r.md");
    let r = report(&[BASELINE, "-o", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&r.stderr).contains("r.md"));
}
