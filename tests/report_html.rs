//! `rocketload report ... -o report.html` opened in a real browser
//! (Debian's headless `chromium`): the page renders (the screenshot is not
//! blank), the DOM holds the SVG charts the runs call for, and the page
//! asks for nothing over the network (every request would go to a proxy
//! this test listens as, and host names resolve nowhere; the browser's
//! own calls home are told apart by host, and a control page that does
//! fetch proves the proxy sees a page's requests). Cases: a short
//! smoke run, a run killed part way (partial), three runs overlaid.
//!
//! chromium is required: .ci/run installs it; without it these tests fail
//! and say so.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Workdir, bin, json, rocketload, text};

const SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/smoke.yaml");

/// A short smoke run into `out`.
fn smoke_run(out: &Path) {
    let r = rocketload(&[
        "run",
        SMOKE,
        "--duration",
        "3s",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(r.status.code(), Some(0), "smoke run failed");
}

fn report(args: &[&str]) {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let r = rocketload(&all);
    assert_eq!(r.status.code(), Some(0), "report failed");
}

/// What the browser made of a page.
struct Rendered {
    dom: String,
    png: PathBuf,
    /// Hosts asked for through the proxy every request goes to, less the
    /// browser's own services.
    requests: Vec<String>,
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found on PATH: these tests open the HTML report in a real browser; \
                 install it with `apt-get install chromium` (.ci/run does)"
            )
        })
}

/// Opens `page` twice in headless chromium: a 1280x2000 screenshot into
/// `png`, and the DOM after load. Any request leaves through the proxy,
/// which counts connections.
fn render(page: &Path, png: &Path, scratch: &Path) -> Rendered {
    let browser = chromium();
    let proxy = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
    let port = proxy.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hosts = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in proxy.incoming().flatten() {
            let hosts = Arc::clone(&hosts);
            std::thread::spawn(move || {
                let host = requested_host(conn);
                hosts.lock().unwrap().push(host);
            });
        }
    });
    let url = format!("file://{}", page.display());
    let run = |mode: &str, n: usize| -> Vec<u8> {
        let profile = scratch.join(format!("profile-{n}"));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(&browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--window-size=1280,2000",
                // Names resolve nowhere; the proxy's own address is left
                // alone (`MAP *` alone maps it too, and then no request
                // would reach it to be counted).
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            ])
            .arg(format!("--proxy-server=http://127.0.0.1:{port}"))
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(mode)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromium");
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        let status = child.wait().expect("chromium exit");
        assert!(status.success(), "chromium {mode} failed: {status}");
        out
    };
    let _ = std::fs::remove_file(png);
    run(&format!("--screenshot={}", png.display()), 1);
    let dom = String::from_utf8_lossy(&run("--dump-dom", 2)).into_owned();
    // Connections still being read finish within their read timeout.
    std::thread::sleep(Duration::from_millis(300));
    let requests = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|h| !BROWSER_OWN.contains(&h.as_str()))
        .cloned()
        .collect();
    Rendered {
        dom,
        png: png.to_path_buf(),
        requests,
    }
}

/// Where chromium itself calls home (its component updater, sign-in and
/// network time) even with the background flags: not the page's doing.
const BROWSER_OWN: &[&str] = &[
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
];

/// The host a proxy request asks for: `CONNECT host:443` or `GET
/// http://host/...`; `?` when the request line cannot be read.
fn requested_host(mut conn: std::net::TcpStream) -> String {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 2048];
    let n = conn.read(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    let target = head.split_whitespace().nth(1).unwrap_or("?");
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .to_string()
}

/// (distinct colours, share of pixels that are not white) of a PNG.
fn pixels(png: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "colour screenshot expected: {:?}",
        info.color_type
    );
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    let px = &buf[..info.buffer_size()];
    for p in px.chunks_exact(channels) {
        colours.insert((p[0], p[1], p[2]));
        if p[..3] != [255, 255, 255] {
            ink += 1;
        }
    }
    (colours.len(), ink as f64 / (px.len() / channels) as f64)
}

/// The charts a run calls for, named, from its files: load 2, errors 1
/// (when an operation failed), deliveries 1 (when one was lost or
/// duplicated), generator 2, and per metric a time chart
/// (when an interval has a successful sample) and a percentile curve
/// (when the whole run has one), message.e2e's included. No run here
/// scrapes the target.
fn expected_charts(dir: &Path, summary: &serde_json::Value) -> BTreeSet<String> {
    let lines: Vec<serde_json::Value> = text(&dir.join("intervals.jsonl"))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let metrics = summary["metrics"].as_object().unwrap();
    let operation =
        |n: &str| !(n.starts_with("message.") || n.starts_with("generator.") || n == "iterations");
    let failed = metrics
        .iter()
        .any(|(n, m)| operation(n) && m["errors"].as_u64().unwrap_or(0) > 0);
    let counters = &summary["counters"];
    let delivery_trouble = ["message.lost", "message.duplicate"]
        .iter()
        .any(|c| counters[c].as_u64().unwrap_or(0) > 0);
    let mut charts: BTreeSet<String> = ["throughput", "vus", "lag", "cpu"].map(String::from).into();
    if failed {
        charts.insert("errors".into());
    }
    if delivery_trouble {
        charts.insert("deliveries".into());
    }
    for (name, m) in metrics {
        if name.starts_with("generator.") {
            continue;
        }
        let timed = lines
            .iter()
            .any(|l| l["metrics"][name]["p50_ms"].as_f64().is_some());
        if timed {
            charts.insert(format!("{name} time"));
        }
        if !m["p50_ms"].is_null() {
            charts.insert(format!("{name} percentiles"));
        }
    }
    charts
}

/// The checks every rendered report passes.
fn assert_rendered(r: &Rendered, charts: usize) {
    eprintln!("{} SVG charts expected", charts);
    assert!(r.requests.is_empty(), "the page asked for {:?}", r.requests);
    assert_eq!(
        r.dom.matches("<svg").count(),
        charts,
        "SVG charts in the DOM"
    );
    let (colours, ink) = pixels(&r.png);
    assert!(colours > 16, "screenshot has {colours} colours: blank?");
    assert!(ink > 0.03, "screenshot is {:.1}% ink: blank?", ink * 100.0);
}

fn shot(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("rocketload-report-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn smoke_report_renders_offline() {
    let w = Workdir::new("html-smoke");
    let run = w.path("run");
    smoke_run(&run);
    let page = w.path("report.html");
    report(&[run.to_str().unwrap(), "-o", page.to_str().unwrap()]);
    let html = text(&page);
    assert!(!html.contains("<script"));
    let summary = json(&run.join("summary.json"));
    let r = render(&page, &shot("smoke.png"), &w.0);
    assert_rendered(&r, expected_charts(&run, &summary).len());
    // The detector detects: a page that fetches an image is seen.
    let control = w.file("control.html", "<img src=\"http://example.invalid/x.png\">");
    let c = render(&control, &w.path("control.png"), &w.0);
    assert!(
        c.requests.iter().any(|h| h == "example.invalid"),
        "the proxy did not see the control page's fetch: {:?}",
        c.requests
    );
    assert!(r.dom.contains("thresholds passed"), "verdict missing");
    assert!(r.dom.contains("generator kept up"));
}

#[test]
fn partial_run_report_says_partial() {
    let w = Workdir::new("html-partial");
    let run = w.path("run");
    let mut child = Command::new(bin())
        .args(["run", SMOKE, "--duration", "30s", "--out"])
        .arg(&run)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let started = Instant::now();
    let intervals = run.join("intervals.jsonl");
    while std::fs::read_to_string(&intervals).map_or(0, |t| t.lines().count()) < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "no intervals");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGKILL to this child's PID: no chance to write summary.json.
    child.kill().expect("kill run");
    child.wait().unwrap();
    assert!(!run.join("summary.json").exists());
    let page = w.path("partial.html");
    report(&[run.to_str().unwrap(), "-o", page.to_str().unwrap()]);
    let r = render(&page, &shot("partial.png"), &w.0);
    assert!(r.dom.contains("partial run: thresholds not evaluated"));
    // Re-totalled as report re-totals it: the same counts of charts.
    let out = rocketload(&["report", run.to_str().unwrap(), "--format", "json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_rendered(&r, expected_charts(&run, &summary).len());
}

#[test]
fn three_runs_overlaid_and_compared() {
    let w = Workdir::new("html-three");
    let runs: Vec<PathBuf> = (1..=3).map(|i| w.path(&format!("run{i}"))).collect();
    for r in &runs {
        smoke_run(r);
    }
    let page = w.path("three.html");
    let mut args: Vec<&str> = runs.iter().map(|r| r.to_str().unwrap()).collect();
    args.extend(["-o", page.to_str().unwrap()]);
    report(&args);
    let r = render(&page, &shot("three.png"), &w.0);
    // Every chart overlays the three runs: those any of them calls for
    // (the comparison is a table).
    let charts: BTreeSet<String> = runs
        .iter()
        .flat_map(|d| expected_charts(d, &json(&d.join("summary.json"))))
        .collect();
    assert!(r.dom.contains("Comparison: "), "no comparison section");
    for verdict_header in ["change", "verdict"] {
        assert!(
            r.dom
                .contains(&format!("<th class=\"n\">{verdict_header}</th>"))
        );
    }
    for label in ["run1", "run2", "run3"] {
        assert!(r.dom.contains(label), "{label} not named");
    }
    assert_rendered(&r, charts.len());
}

#[test]
fn a_directory_without_summary_or_intervals_is_bad_input() {
    let w = Workdir::new("html-empty");
    let dir = w.path("empty-run");
    std::fs::create_dir_all(&dir).unwrap();
    let page = w.path("x.html");
    let r = rocketload(&[
        "report",
        dir.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains(dir.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("summary.json"), "{stderr}");
    assert!(!page.exists());
}
