//! `run --metrics-listen` against a real Prometheus: every query of
//! deploy/grafana/rocketload.json returns data while a run goes, and the
//! final figures are scraped before the process exits (the linger). The
//! Prometheus binary is required: without it the test fails and says how
//! to install it.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{KillOnDrop, Workdir, bin, json, refused};
use serde_json::Value;

/// Prometheus scrapes this often; Grafana's `$__rate_interval` is then
/// max($__interval + scrape interval, 4 x scrape interval).
const SCRAPE: &str = "1s";
const RATE_INTERVAL: &str = "4s";

/// A run of 10 s against the embedded server: open model (planned
/// arrivals, pool), chatter for message.e2e, a probe that a fault answers
/// with 503 a tenth of the time (errors by class).
const SCENARIO: &str = r#"
name: live-metrics
seed: 11
users: { count: 8, password: pw-live-1 }
rooms: { count: 1, members_per_room: 8 }
load: { model: open, rate: 10, duration: 10s, max_vus: 8, max_queue: 1s }
timeout: 5s
loss_timeout: 2s
server:
  faults:
    - { at: 1s, kind: errors, status: 503, ratio: 0.1, duration_ms: 60000 }
behaviours:
  - name: chatter
    setup:
      - login: { via: rest }
      - connect
      - subscribe: { stream: room-messages, rooms: joined }
    steps:
      - send_message: { room: random, via: ddp }
      - http: { path: /api/info, auth: false, name: probe }
      - think: 300ms
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The prometheus binary on PATH; the test fails without it.
fn prometheus_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the prometheus binary is missing from PATH: this test needs a real Prometheus \
             (Debian: apt-get install prometheus; .ci/run installs it)"
        )
    })
}

fn start_prometheus(w: &Workdir, target: &str, port: u16) -> KillOnDrop {
    let config = w.file(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: {SCRAPE}\n  evaluation_interval: {SCRAPE}\n\
             scrape_configs:\n  - job_name: rocketload\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    );
    let log = std::fs::File::create(w.path("prometheus.log")).expect("prometheus log");
    let child = Command::new(prometheus_binary())
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", w.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    KillOnDrop(child)
}

/// A tiny client of Prometheus' HTTP API.
struct Prom {
    base: String,
    rt: tokio::runtime::Runtime,
}

impl Prom {
    fn new(port: u16) -> Prom {
        Prom {
            base: format!("http://127.0.0.1:{port}"),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let url = url::Url::parse_with_params(&format!("{}{path}", self.base), query).ok()?;
        self.rt.block_on(async {
            let response = reqwest::get(url).await.ok()?;
            response.json::<Value>().await.ok()
        })
    }

    fn ready(&self) -> bool {
        let url = format!("{}/-/ready", self.base);
        self.rt.block_on(async {
            matches!(reqwest::get(&url).await, Ok(r) if r.status().is_success())
        })
    }

    /// The instant vector of `expr` now.
    fn query(&self, expr: &str) -> Vec<Value> {
        match self.get("/api/v1/query", &[("query", expr)]) {
            Some(v) if v["status"] == "success" => {
                v["data"]["result"].as_array().cloned().unwrap_or_default()
            }
            other => panic!("query {expr} failed: {other:?}"),
        }
    }

    /// The values of `label` on the series `selector` matches.
    fn label_values(&self, selector: &str, label: &str) -> Vec<String> {
        let v = self
            .get(
                &format!("/api/v1/label/{label}/values"),
                &[("match[]", selector)],
            )
            .unwrap_or_else(|| panic!("label values of {label} on {selector}"));
        v["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A sample's value as a number (Prometheus sends them as strings).
fn sample_value(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The dashboard's queries, each with its panel title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &[Value], out: &mut Vec<(String, String)>) {
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((p["title"].as_str().unwrap_or("?").into(), expr.into()));
                }
            }
            walk(p["panels"].as_array().map_or(&[], Vec::as_slice), out);
        }
    }
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().expect("panels"), &mut out);
    out
}

/// `label_values(SELECTOR, LABEL)` split in two.
fn parse_label_values(q: &str) -> Option<(&str, &str)> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim(), label.trim()))
}

/// Replaces `$name` and `${name}`, longest names first so `$__interval`
/// does not eat `$__interval_ms` or `$__rate_interval`.
fn substitute(expr: &str, vars: &[(String, String)]) -> String {
    let mut vars: Vec<&(String, String)> = vars.iter().collect();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = expr.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    out
}

/// The template variables resolved as Grafana would: each query
/// variable's label values, in order, joined as a regex.
fn resolve_variables(
    dashboard: &Value,
    prom: &Prom,
    problems: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut vars = vec![
        ("__rate_interval".to_string(), RATE_INTERVAL.to_string()),
        ("__interval".to_string(), SCRAPE.to_string()),
    ];
    for v in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        let name = v["name"].as_str().expect("variable name").to_string();
        match v["type"].as_str() {
            Some("datasource") => {}
            Some("query") => {
                let definition = v["definition"].as_str().unwrap_or_default();
                let Some((selector, label)) = parse_label_values(definition) else {
                    problems.push(format!(
                        "variable {name}: not label_values(...): {definition}"
                    ));
                    continue;
                };
                let values = prom.label_values(&substitute(selector, &vars), label);
                if values.is_empty() {
                    problems.push(format!("variable {name}: {definition} has no values"));
                }
                vars.push((name, values.join("|")));
            }
            other => problems.push(format!("variable {name}: type {other:?} not resolved here")),
        }
    }
    vars
}

#[test]
fn dashboard_queries_return_data_from_a_real_prometheus() {
    let prometheus = prometheus_binary();
    let w = Workdir::new("live-metrics");
    let (metrics_port, prom_port) = (free_port(), free_port());
    let target = format!("127.0.0.1:{metrics_port}");
    let _prometheus = start_prometheus(&w, &target, prom_port);
    let prom = Prom::new(prom_port);
    wait_for(
        &format!("{} to be ready", prometheus.display()),
        Duration::from_secs(60),
        || prom.ready(),
    );

    // Prometheus applies its first targets some seconds after it is ready:
    // start the load once it scrapes (and finds nothing yet).
    wait_for("prometheus to scrape", Duration::from_secs(60), || {
        !prom.query("up").is_empty()
    });
    let scenario = w.scenario(SCENARIO);
    let out = w.out();
    let run_log = w.path("run.log");
    let mut run = KillOnDrop(
        Command::new(bin())
            .arg("run")
            .arg(&scenario)
            .args([
                "--metrics-listen",
                &target,
                "--metrics-linger",
                "30s",
                "--quiet",
            ])
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&run_log).expect("run log"))
            .spawn()
            .expect("start rocketload run"),
    );

    // The measurement started once run_info is scraped; 6 s later every
    // rate() window holds several scrapes and the run still goes.
    wait_for(
        "rocketload_run_info to be scraped",
        Duration::from_secs(60),
        || !prom.query("rocketload_run_info").is_empty(),
    );
    std::thread::sleep(Duration::from_secs(6));

    let dashboard: Value = json(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/rocketload.json"
    )));
    let mut problems = Vec::new();
    let vars = resolve_variables(&dashboard, &prom, &mut problems);
    let queries = dashboard_queries(&dashboard);
    assert!(
        queries.len() >= 15,
        "the dashboard has {} queries",
        queries.len()
    );
    for (panel, expr) in &queries {
        let concrete = substitute(expr, &vars);
        assert!(!concrete.contains('$'), "unresolved variable in {concrete}");
        let result = prom.query(&concrete);
        if !result.iter().any(|s| sample_value(s).is_finite()) {
            problems.push(format!("{panel}: {concrete} -> {result:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard queries without data:\n{}\nup: {:?}\nrun log:\n{}",
        problems.join("\n"),
        prom.query("up"),
        std::fs::read_to_string(&run_log).unwrap_or_default()
    );

    // The run ends, lingers for one final scrape, and exits.
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("wait for run") {
            break status;
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = std::fs::read_to_string(&run_log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "run failed:\n{log}");
    assert!(
        !log.contains("no scrape came"),
        "the final scrape was missed:\n{log}"
    );

    // What Prometheus scraped last is the summary, metric by metric.
    let summary = json(&out.join("summary.json"));
    let scraped = prom.query("last_over_time(rocketload_operations_total[5m])");
    assert!(!scraped.is_empty());
    for s in &scraped {
        let metric = s["metric"]["metric"].as_str().expect("metric label");
        let count = summary["metrics"][metric]["count"].as_f64();
        assert_eq!(
            Some(sample_value(s)),
            count,
            "{metric}: the last scrape against summary.json"
        );
    }
    let e2e = prom.query("last_over_time(rocketload_message_e2e_seconds_count[5m])");
    assert_eq!(
        e2e.first().map(sample_value),
        summary["metrics"]["message.e2e"]["count"].as_f64(),
        "message.e2e deliveries: the last scrape against summary.json"
    );
}

#[test]
fn a_busy_metrics_address_exits_2_before_any_load() {
    let w = Workdir::new("live-metrics-busy");
    let scenario = w.scenario(SCENARIO);
    let taken = TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let out = w.out();
    let base = [
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    let expected = format!("--metrics-listen {addr}");
    refused(
        &base,
        &out,
        &[(&["--metrics-listen", addr.as_str()], expected.as_str())],
    );
    drop(taken);
}
