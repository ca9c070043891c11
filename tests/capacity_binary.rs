//! `rocketload capacity` against the embedded server with a cost model
//! whose capacity can be computed: one instance, `sendMessage` burns 2 ms
//! of the instance's only thread, each VU sends about one message per
//! second (exponential think of 1 s). The instance saturates at 500
//! messages/s, i.e. near 500 VUs; p95 < 100 ms holds up to about 500.
//! The tests run one at a time: each needs the two cores.

mod common;

use std::sync::Mutex;

use common::{Workdir, json, rocketload};

static SERIAL: Mutex<()> = Mutex::new(());

const KNOWN: &str = r#"
name: capacity-known-answer
seed: 11
server:
  instances: 1
  cost: { sendMessage: 2ms }
users: { count: 700, prefix: ka-, password: ka-pass-1, provision: register }
rooms: { count: 350, prefix: ka-room-, members_per_room: 2 }
load: { model: closed, vus: 10, duration: 10s }
timeout: 10s
behaviours:
  - name: sender
    setup:
      - login: { via: ddp }
    steps:
      - send_message: { room: random, via: ddp, size: 50 }
      - think: { exponential: 1s }
"#;

const SLO: &str = "ddp.method.sendMessage p95<100ms";

/// `rocketload capacity` of `yaml` under `slo`, each step settling 2 s and
/// held 4 s; the output and `capacity.json` (null when not written).
fn search(
    w: &Workdir,
    yaml: &str,
    slo: &str,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let scenario = w.scenario(yaml);
    let out = w.out();
    let mut args = vec![
        "capacity",
        scenario.to_str().unwrap(),
        "--slo",
        slo,
        "--hold",
        "4s",
        "--settle",
        "2s",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let output = rocketload(&args);
    let file = out.join("capacity.json");
    let c = if file.exists() {
        json(&file)
    } else {
        serde_json::Value::Null
    };
    (output, c)
}

#[test]
fn finds_the_computed_capacity_and_names_the_slo_that_bound_it() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("capacity-known");
    let (out, c) = search(
        &w,
        KNOWN,
        SLO,
        &["--min", "200", "--max", "1000", "--repeats", "1"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(c["verdict"], "found", "{c:#}");
    assert_eq!(c["unit"], "vus");
    let capacity = c["capacity"].as_f64().unwrap();
    // 500 is the ceiling when the instance's thread has a core to itself;
    // on two shared cores the generator takes some of it (CI saw 450 msg/s
    // at saturation and a capacity of 413), so the band is wide below.
    assert!(
        (300.0..=575.0).contains(&capacity),
        "capacity {capacity} VUs, computed at most 500 (300..575)"
    );
    let (low, high) = (c["low"].as_f64().unwrap(), c["high"].as_f64().unwrap());
    assert!(low == capacity && high > low && (high - low) / low <= 0.05);
    assert_eq!(c["bound_by"]["slo"], SLO);
    assert_eq!(c["bound_by"]["metric"], "ddp.method.sendMessage");
    assert!(c["bound_by"]["value"].as_f64().unwrap() >= 100.0);
    // Each boundary measured twice (--repeats 1), every step a run.
    let steps = c["steps"].as_array().unwrap();
    let runs = |load: f64| steps.iter().filter(|s| s["load"] == load).count();
    assert_eq!(runs(low), 2);
    assert!(runs(high) == 2, "{steps:#?}");
    for s in steps {
        let dir = w.out().join(s["dir"].as_str().unwrap());
        let summary = json(&dir.join("summary.json"));
        assert_eq!(summary["run"]["scenario"], "capacity-known-answer");
        assert_ne!(s["verdict"], "void", "{s:#}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("capacity {capacity} VUs")),
        "{stdout}"
    );
    assert!(stdout.contains("bracket:"), "{stdout}");
}

/// The open model: arrivals/s, each one message; `sendMessage` costs 4 ms,
/// so one instance serves 250 arrivals/s.
const OPEN: &str = r#"
name: capacity-open
seed: 21
server:
  cost: { sendMessage: 4ms }
users: { count: 300, prefix: op-, password: op-pass-1, provision: register }
rooms: { count: 150, prefix: op-room-, members_per_room: 2 }
load: { model: open, rate: 10, duration: 10s, max_vus: 300, max_queue: 2s }
timeout: 10s
behaviours:
  - name: sender
    setup:
      - login: { via: ddp }
    steps:
      - send_message: { room: random, via: ddp, size: 50 }
"#;

#[test]
fn an_open_scenario_searches_arrivals_per_second() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("capacity-open");
    let (r, c) = search(
        &w,
        OPEN,
        "ddp.method.sendMessage p95<50ms",
        &["--min", "150", "--max", "400", "--repeats", "0"],
    );
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(
        (&c["verdict"], &c["unit"]),
        (&"found".into(), &"arrivals_per_s".into()),
        "{c:#}"
    );
    let capacity = c["capacity"].as_f64().unwrap();
    // As above: 250/s with a core to itself, less when the generator
    // shares it.
    assert!(
        (150.0..=290.0).contains(&capacity),
        "capacity {capacity}/s, computed at most 250/s (150..290)"
    );
}

#[test]
fn a_max_below_the_capacity_is_not_found_and_says_the_slos_held() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("capacity-max");
    let (out, c) = search(
        &w,
        KNOWN,
        SLO,
        &["--min", "150", "--max", "300", "--repeats", "1"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(c["verdict"], "not_found", "{c:#}");
    assert!(c["capacity"].is_null());
    assert_eq!(c["low"], 300.0);
    assert!(c["high"].is_null());
    let summary = c["summary"].as_str().unwrap();
    assert!(summary.contains("still held at --max 300"), "{summary}");
    let loads: Vec<f64> = c["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["load"].as_f64().unwrap())
        .collect();
    assert_eq!(loads, [150.0, 300.0]);
}

/// A cgroup (v1 `cpu` controller) that gives the process 5 ms of CPU per
/// 100 ms: its scheduler stalls for most of every period.
struct Throttle(std::path::PathBuf);

impl Throttle {
    fn new(name: &str) -> Option<Throttle> {
        let dir = std::path::Path::new("/sys/fs/cgroup/cpu").join(name);
        std::fs::create_dir_all(&dir).ok()?;
        let t = Throttle(dir);
        std::fs::write(t.0.join("cpu.cfs_period_us"), "100000").ok()?;
        std::fs::write(t.0.join("cpu.cfs_quota_us"), "5000").ok()?;
        Some(t)
    }

    fn add(&self, pid: u32) -> bool {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).is_ok()
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_starved_generator_gives_void_steps_never_a_capacity() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(throttle) = Throttle::new(&format!("rocketload-test-{}", std::process::id())) else {
        eprintln!(
            "no writable cpu cgroup (needs root and cgroup v1 `cpu`): nothing to starve the generator with"
        );
        return;
    };
    let w = Workdir::new("capacity-void");
    let scenario = w.scenario(KNOWN);
    let out = w.out();
    let child = std::process::Command::new(common::bin())
        .args([
            "capacity",
            scenario.to_str().unwrap(),
            "--slo",
            SLO,
            "--min",
            "100",
            "--max",
            "400",
            "--hold",
            "3s",
            "--settle",
            "1s",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    assert!(
        throttle.add(child.id()),
        "moving the search into the cgroup"
    );
    let output = child.wait_with_output().expect("wait");
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1));
    let c = json(&out.join("capacity.json"));
    assert_eq!(c["verdict"], "void", "{c:#}");
    assert!(c["capacity"].is_null());
    let steps = c["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["verdict"] == "void"), "{steps:#?}");
    assert!(
        steps[0]["reason"]
            .as_str()
            .unwrap()
            .contains("generator saturated")
    );
}

#[test]
fn bad_input_is_refused_before_any_load() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("capacity-bad");
    let scenario = w.scenario(KNOWN);
    let s = scenario.to_str().unwrap();
    let out = w.out();
    let o = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--slo", "ddp.method.sendMessage p95>100ms"],
            "upper limit",
        ),
        (&["--slo", "ddp.method.sendMessage p95"], "no `<`"),
        (
            &["--slo", "rest.channels.history p95<1s"],
            "no step of this scenario records",
        ),
        (
            &["--slo", SLO, "--min", "500", "--max", "100"],
            "is above --max",
        ),
        (&["--slo", SLO, "--min", "2.5"], "whole numbers"),
        (&[], "no SLO"),
        (
            &[
                "--slo",
                SLO,
                "--sizing",
                "--target",
                "http://chat.example.invalid:3000",
            ],
            "--host-cores",
        ),
    ];
    common::refused(&["capacity", s, "--out", o], &out, cases);
}
