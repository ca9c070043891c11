//! `run --scrape URL`: the target's Prometheus series in the results, and
//! a scrape that fails (refused, garbage, too large) leaving the run whole.
//! Each run is a few seconds of load on loopback; assertions are about
//! what is stored, never about timings.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;

mod common;

use common::{Serve, Workdir, json, refused, rocketload, run_quiet};

const PROBE: &str = r#"
name: scrape-probe
seed: 1
users: { count: 2, password: pw-scrape-1 }
timeout: 5s
load: { model: closed, vus: 2, duration: 3s }
behaviours:
  - name: probe
    setup:
      - login: { via: rest }
    steps:
      - http: { path: /api/v1/me, name: probe }
      - think: { constant: 50ms }
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `run PROBE --quiet --out OUT EXTRA...`: exit code and summary.json.
fn run(w: &Workdir, extra: &[&str]) -> (i32, Value) {
    let o = run_quiet(w, PROBE, extra);
    (
        o.status.code().unwrap_or(-1),
        json(&w.out().join("summary.json")),
    )
}

/// The run measured its load: the probe metric has operations.
fn assert_measured(summary: &Value) {
    let count = summary["metrics"]["probe"]["count"].as_u64().unwrap_or(0);
    assert!(count > 0, "the load was measured: {summary}");
}

fn source<'a>(summary: &'a Value, url: &str) -> &'a Value {
    summary["target_metrics"]["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["url"] == url))
        .unwrap_or_else(|| panic!("no source {url} in {}", summary["target_metrics"]))
}

/// Each failing URL was scraped, every scrape failed, and one note names it.
fn assert_failed_and_noted(summary: &Value, url: &str, error: &str) {
    let s = source(summary, url);
    let (scrapes, failures) = (s["scrapes"].as_u64(), s["failures"].as_u64());
    assert!(scrapes.unwrap_or(0) > 0, "{s}");
    assert_eq!(failures, scrapes, "{s}");
    let last = s["last_error"].as_str().unwrap_or_default();
    assert!(last.contains(error), "{last}");
    let notes: Vec<&Value> = summary["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "scrape_failed" && n["url"] == url)
        .collect();
    assert_eq!(notes.len(), 1, "one note for {url}: {}", summary["notes"]);
    assert!(notes[0]["text"].as_str().unwrap().contains(url));
}

fn interval_lines(dir: &Path) -> Vec<Value> {
    common::text(&dir.join("intervals.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn scraped_series_land_in_the_summary_and_interval_lines() {
    let metrics = format!("127.0.0.1:{}", free_port());
    let serve = Serve::start(&["--metrics-listen", &metrics]);
    let url = format!("http://{metrics}/metrics");
    let w = Workdir::new("scrape-serve");
    let (code, summary) = run(&w, &["--target", &serve.url, "--scrape", &url]);
    assert_eq!(code, 0);
    assert_measured(&summary);
    let s = source(&summary, &url);
    assert_eq!(s["source"], metrics.as_str());
    let series = summary["target_metrics"]["series"].as_array().unwrap();
    let named = |name: &str| {
        series
            .iter()
            .find(|x| x["name"] == name && x["source"] == metrics.as_str())
            .unwrap_or_else(|| panic!("{name} not in {series:?}"))
    };
    let lag = named("nodejs_eventloop_lag_seconds");
    assert_eq!(
        (lag["kind"].as_str(), lag["labels"]["instance"].as_str()),
        (Some("gauge"), Some("0"))
    );
    assert!(lag["samples"].as_u64().unwrap() > 0);
    let sessions = named("rocketchat_ddp_sessions_count");
    assert_eq!(sessions["kind"], "gauge");
    assert!(sessions.get("rate_per_s").is_none(), "a gauge has no rate");
    let cpu = named("process_cpu_seconds_total");
    assert_eq!(cpu["kind"], "counter");
    let requests = series
        .iter()
        .find(|x| {
            x["name"] == "rocketchat_rest_api_count" && x["labels"]["entrypoint"] == "/api/v1/me"
        })
        .expect("the probe's REST endpoint is counted");
    assert!(requests["last"].as_f64().unwrap() > 0.0);

    let lines = interval_lines(&w.out());
    let with_target: Vec<&Value> = lines.iter().filter(|l| l.get("target").is_some()).collect();
    assert!(
        !with_target.is_empty(),
        "interval lines hold target samples"
    );
    for l in &with_target {
        let values = &l["target"][metrics.as_str()];
        assert!(
            values[r#"nodejs_eventloop_lag_seconds{instance="0"}"#].is_number(),
            "{l}"
        );
        assert!(values["rocketchat_ddp_sessions_count"].is_number(), "{l}");
    }

    // The report prints the target block, and a partial run (no
    // summary.json) rebuilds it from the interval lines.
    let report = rocketload(&["report", w.out().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(text.contains("\n  target\n"), "{text}");
    assert!(text.contains(&metrics), "{text}");
    std::fs::remove_file(w.out().join("summary.json")).unwrap();
    let report = rocketload(&["report", w.out().to_str().unwrap(), "--format", "json"]);
    let partial: Value = serde_json::from_slice(&report.stdout).expect("report json");
    let rebuilt = partial["target_metrics"]["series"]
        .as_array()
        .expect("rebuilt series");
    assert!(
        rebuilt
            .iter()
            .any(|x| x["name"] == "rocketchat_ddp_sessions_count" && x["kind"] == "gauge")
    );
}

#[test]
fn a_refused_scrape_leaves_the_run_whole() {
    let url = format!("http://127.0.0.1:{}/metrics", free_port());
    let w = Workdir::new("scrape-refused");
    let (code, summary) = run(&w, &["--scrape", &url]);
    assert_eq!(code, 0);
    assert_measured(&summary);
    assert_failed_and_noted(&summary, &url, "refused");
    assert_eq!(summary["target_metrics"]["series"], serde_json::json!([]));
}

/// A loopback endpoint answering every request with `respond` (at most
/// `max` connections, then the thread ends).
fn endpoint(max: usize, respond: fn(&mut std::net::TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().take(max) {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            respond(&mut conn);
        }
    });
    url
}

fn garbage(conn: &mut std::net::TcpStream) {
    let body = "<html><body>Welcome to nginx!</body></html>\n";
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// 50 MB of valid-looking text, framed by the close (no length to refuse
/// it by): the client must stop reading at its cap.
fn fifty_megabytes(conn: &mut std::net::TcpStream) {
    let _ =
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
    let line = "process_resident_memory_bytes 734556160\n".repeat(1024);
    let mut sent = 0;
    while sent < 50_000_000 {
        if conn.write_all(line.as_bytes()).is_err() {
            return;
        }
        sent += line.len();
    }
}

#[test]
fn garbage_and_oversized_answers_are_failed_scrapes() {
    let bad = endpoint(64, garbage);
    let big = endpoint(64, fifty_megabytes);
    let w = Workdir::new("scrape-garbage");
    let (code, summary) = run(&w, &["--scrape", &bad, "--scrape", &big]);
    assert_eq!(code, 0);
    assert_measured(&summary);
    assert_failed_and_noted(&summary, &bad, "not Prometheus text");
    assert_failed_and_noted(&summary, &big, "larger than 16 MiB");
}

#[test]
fn malformed_scrape_urls_exit_2_before_any_load() {
    let w = Workdir::new("scrape-flags");
    let scenario = w.scenario(PROBE);
    let out = w.out();
    let base = [
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    refused(
        &base,
        &out,
        &[
            (&["--scrape", "not-a-url"], "--scrape <URL>"),
            (&["--scrape", "not-a-url"], "not-a-url"),
            (
                &["--scrape", "ftp://127.0.0.1/metrics"],
                "not http or https",
            ),
            (
                &[
                    "--scrape",
                    "http://127.0.0.1:9/a",
                    "--scrape",
                    "http://127.0.0.1:9/b",
                ],
                "same source",
            ),
            (&["--scrape-match", "x"], "--scrape"),
            (
                &["--scrape", "http://127.0.0.1:9/", "--scrape-match", "("],
                "not a regular expression",
            ),
        ],
    );
}
