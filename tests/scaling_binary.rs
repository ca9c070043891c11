//! `rocketload scaling --local` against embedded servers whose cost model
//! makes one instance's capacity known: `sendMessage` burns 10 ms of the
//! instance thread's CPU time, so one instance carries 100 messages/s.
//! 250 VUs offer about 250/s: two instances (two cores) carry about twice
//! what one does. The tests run one at a time: each needs both cores.

mod common;

use std::sync::Mutex;

use common::{Workdir, json, rocketload};

static SERIAL: Mutex<()> = Mutex::new(());

/// `rocketload scaling SCENARIO ARGS... --out OUT --quiet`.
fn scaling(
    scenario: &std::path::Path,
    out: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    let mut all = vec!["scaling", scenario.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap(), "--quiet"]);
    rocketload(&all)
}

const SCENARIO: &str = r#"
name: scaling-known-answer
seed: 12
server:
  cost: { sendMessage: 10ms }
users: { count: 300, prefix: sc-, password: sc-pass-1, provision: register }
rooms: { count: 150, prefix: sc-room-, members_per_room: 2 }
load: { model: closed, vus: 250, duration: 10s }
timeout: 10s
behaviours:
  - name: sender
    setup:
      - login: { via: ddp }
    steps:
      - send_message: { room: random, via: ddp, size: 50 }
      - think: { exponential: 1s }
"#;

#[test]
fn two_instances_carry_more_than_one_above_its_capacity() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("scaling-local");
    let scenario = w.scenario(SCENARIO);
    let out = w.out();
    let r = scaling(
        &scenario,
        &out,
        &[
            "--local", "1,2", "--settle", "2s", "--hold", "5s", "--repeat", "2",
        ],
    );
    assert_eq!(r.status.code(), Some(0));
    let s = json(&out.join("scaling.json"));
    assert_eq!(s["mode"], "local");
    assert_eq!(s["judged_by"], "throughput");
    // Interleaved: forwards, then backwards.
    assert_eq!(
        s["order"],
        serde_json::json!(["local-1", "local-2", "local-2", "local-1"])
    );
    let sets = s["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(
        (sets[0]["instances"].as_u64(), sets[1]["instances"].as_u64()),
        (Some(1), Some(2))
    );
    let one = sets[0]["throughput_per_s"].as_f64().unwrap();
    let two = sets[1]["throughput_per_s"].as_f64().unwrap();
    assert!(
        one < 130.0,
        "one instance at 10 ms per message carried {one}/s"
    );
    assert!(
        two >= 1.4 * one,
        "2 instances {two}/s vs 1 instance {one}/s"
    );
    let efficiency = sets[1]["efficiency"].as_f64().unwrap();
    assert!((efficiency - two / one / 2.0).abs() < 1e-9);
    for set in sets {
        assert_eq!(set["runs"].as_array().unwrap().len(), 2);
        assert!(
            set["metrics"]["ddp.method.sendMessage"]["p95_ms"]
                .as_f64()
                .is_some()
        );
        // Each run is a run directory `report` and `compare` read.
        for run in set["runs"].as_array().unwrap() {
            let dir = out.join(run["dir"].as_str().unwrap());
            assert!(dir.join("summary.json").exists(), "{}", dir.display());
        }
        // Each set's own server: distinct URLs.
        assert!(!set["target"]["urls"].as_array().unwrap().is_empty());
    }
    let verdict = s["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("local-2 (2 instances) carries"),
        "{verdict}"
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("efficiency"), "{stdout}");
}

#[test]
fn bad_sets_are_refused_before_any_load() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("scaling-bad");
    let scenario = w.scenario(SCENARIO);
    let s = scenario.to_str().unwrap();
    let out = w.out();
    let o = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "a="], "has no URL"),
        (&["--set", "=http://127.0.0.1:3000"], "a set name"),
        (&["--set", "a=ftp://127.0.0.1:3000"], "http://"),
        (&["--local", "0"], "0"),
        (&["--local", "1,1"], "twice"),
        (
            &["--local", "1", "--set", "a=http://127.0.0.1:3000"],
            "cannot be used with",
        ),
        (&[], "required"),
        (&["--local", "1,2", "--capacity"], "no SLO"),
        (
            &["--local", "1", "--slo", "rest.nothing p95<1s"],
            "no step of this scenario records",
        ),
    ];
    common::refused(&["scaling", s, "--out", o], &out, cases);
}

const CHATTER: &str = r#"
name: restart-recovery
seed: 13
users: { count: 20, prefix: rs-, password: rs-pass-1, provision: register }
rooms: { count: 2, prefix: rs-room-, members_per_room: 10 }
load: { model: closed, vus: 20, duration: 10s }
timeout: 5s
loss_timeout: 3s
behaviours:
  - name: chatter
    setup:
      - login: { via: ddp }
      - subscribe: { stream: room-messages, rooms: joined }
    steps:
      - send_message: { room: random, via: ddp, size: 50 }
      - think: { exponential: 1s }
"#;

/// The recovery of the one set of a scaling run: every dropped session
/// came back, and the target answered again about `down` after the restart.
fn assert_recovered(out: &std::path::Path, down_s: f64) -> serde_json::Value {
    let s = json(&out.join("scaling.json"));
    let set = &s["sets"][0];
    let r = &set["recovery"];
    assert!(r.is_object(), "{set:#}");
    let back = r["api_back_s"].as_f64().unwrap();
    assert!(back >= down_s * 0.9 && back < down_s + 3.0, "{r:#}");
    let dropped = r["disconnected"].as_u64().unwrap();
    assert_eq!(dropped, 20, "{r:#}");
    assert_eq!(r["reconnected"].as_u64(), Some(dropped), "{r:#}");
    assert!(
        r["all_reconnected_s"].as_f64().unwrap() >= back * 0.9,
        "{r:#}"
    );
    assert!(r["logins"]["count"].as_u64().unwrap() >= dropped, "{r:#}");
    // The run's own summary has it too.
    let dir = out.join(set["runs"][0]["dir"].as_str().unwrap());
    assert_eq!(json(&dir.join("summary.json"))["recovery"], *r);
    let report = rocketload(&["report", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("recovery:") && text.contains("dropped sessions resumed"),
        "{text}"
    );
    r.clone()
}

#[test]
fn an_embedded_restart_is_recovered_from_and_measured() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("scaling-restart");
    let scenario = w.scenario(CHATTER);
    let out = w.out();
    let r = scaling(
        &scenario,
        &out,
        &[
            "--local",
            "1",
            "--settle",
            "1s",
            "--hold",
            "9s",
            "--restart-after",
            "3s",
            "--restart-down",
            "2s",
        ],
    );
    assert_eq!(r.status.code(), Some(0));
    let rec = assert_recovered(&out, 2.0);
    assert_eq!(rec["restart"], "embedded instance 0, down 2s");
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("local-1 recovery:"), "{stdout}");
}

#[test]
fn a_restart_command_restarts_an_external_set() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let serve = common::Serve::start(&[]);
    let w = Workdir::new("scaling-restart-cmd");
    let scenario = w.scenario(CHATTER);
    let out = w.out();
    // Node 20 (which the conformance tests need anyway) posts the fault.
    let cmd = format!(
        "node -e \"fetch('{}/_sim/fault',{{method:'POST',headers:{{'content-type':'application/json'}},\
         body:JSON.stringify({{kind:'restart',instance:0,down_ms:1500}})}}).then(r=>process.exit(r.ok?0:1))\"",
        serve.url
    );
    let set = format!("ext={}", serve.url);
    let r = scaling(
        &scenario,
        &out,
        &[
            "--set",
            &set,
            "--settle",
            "1s",
            "--hold",
            "9s",
            "--restart-after",
            "3s",
            "--restart-cmd",
            &cmd,
        ],
    );
    assert_eq!(r.status.code(), Some(0));
    let rec = assert_recovered(&out, 1.5);
    assert_eq!(rec["command_exit"], 0);
    assert_eq!(serve.stats()["faults"]["counts"]["restarts"], 1);
}

#[test]
fn restart_flags_that_cannot_apply_are_refused() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("scaling-restart-bad");
    let scenario = w.scenario(CHATTER);
    let s = scenario.to_str().unwrap();
    let out = w.out();
    let o = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--set", "a=http://127.0.0.1:9", "--restart-after", "3s"],
            "--restart-cmd",
        ),
        (
            &["--local", "1", "--restart-after", "1h"],
            "not inside the run",
        ),
        (
            &[
                "--local",
                "1",
                "--restart-cmd",
                "true",
                "--restart-after",
                "1s",
            ],
            "cannot be used with",
        ),
        (
            &["--local", "1", "--capacity", "--restart-after", "1s"],
            "cannot be used with",
        ),
    ];
    common::refused(&["scaling", s, "--out", o], &out, cases);
}

#[test]
fn a_restart_the_scenario_schedules_is_measured_in_a_plain_run() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = Workdir::new("run-restart");
    let scheduled = CHATTER.replace(
        "load:",
        "server:\n  faults:\n    - { at: 3s, kind: restart, down_ms: 1500 }\nload:",
    );
    let scenario = w.scenario(&scheduled);
    let out = w.out();
    let r = rocketload(&[
        "run",
        scenario.to_str().unwrap(),
        "--duration",
        "12s",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(r.status.code(), Some(0));
    let rec = &json(&out.join("summary.json"))["recovery"];
    assert_eq!(
        rec["restart"], "embedded instance 0, down 1s 500ms",
        "{rec:#}"
    );
    assert_eq!(rec["disconnected"], rec["reconnected"]);
    assert_eq!(rec["disconnected"], 20);
    assert!(rec["api_back_s"].as_f64().unwrap() >= 1.3, "{rec:#}");
    // An instance the server does not have is refused before any load.
    let bad = w.file(
        "bad.yaml",
        &scheduled.replace("kind: restart,", "kind: restart, instance: 3,"),
    );
    let r = rocketload(&[
        "run",
        bad.to_str().unwrap(),
        "--out",
        w.path("bad").to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("restart of instance 3"));
}
