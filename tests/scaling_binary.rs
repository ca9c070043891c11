//! `rocketload scaling --local` against embedded servers whose cost model
//! makes one instance's capacity known: `sendMessage` burns 10 ms of the
//! instance thread's CPU time, so one instance carries 100 messages/s.
//! 250 VUs offer about 250/s: two instances (two cores) carry about twice
//! what one does. The tests run one at a time: each needs both cores.

mod common;

use std::sync::Mutex;

use common::{Workdir, json, rocketload};

static SERIAL: Mutex<()> = Mutex::new(());

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
    let r = rocketload(&[
        "scaling",
        scenario.to_str().unwrap(),
        "--local",
        "1,2",
        "--settle",
        "2s",
        "--hold",
        "5s",
        "--repeat",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
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
    for (extra, expected) in cases {
        let mut args = vec!["scaling", s, "--out", o];
        args.extend_from_slice(extra);
        let r = rocketload(&args);
        assert_eq!(r.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?} wrote results");
    }
}
