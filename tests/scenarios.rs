//! Scenario files: every example in scenarios/ loads cleanly, and broken
//! files fail with the line, column, key path and hint a user needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use rocketload::scenario::{
    self, Problem, ScenarioError, Severity, Step, Template, load_str, load_str_with_warnings,
};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment the examples document (office-day needs a password).
/// The variables the examples require without a default.
fn example_env(name: &str) -> Option<String> {
    match name {
        "RC_PASSWORD" => Some("example-pass".into()),
        "RC_URL" => Some("https://chat.example.com".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors_of(text: &str) -> Vec<String> {
    match load_str(text, "t.yaml", &no_env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.problems().iter().map(Problem::to_string).collect(),
    }
}

fn assert_has(lines: &[String], wanted: &str) {
    assert!(
        lines.iter().any(|l| l == wanted),
        "missing `{wanted}` in:\n{}",
        lines.join("\n")
    );
}

#[test]
fn every_example_loads_without_problems() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("scenarios")).expect("scenarios/ exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("readable scenario");
        let origin = path.display().to_string();
        match load_str_with_warnings(&text, &origin, &example_env) {
            Ok(loaded) => assert!(
                loaded.warnings.is_empty(),
                "{origin} has warnings:\n{}",
                loaded
                    .warnings
                    .iter()
                    .map(Problem::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Err(e) => panic!("{origin} does not load:\n{e}"),
        }
    }
    assert!(
        seen >= 5,
        "expected the five example scenarios, found {seen}"
    );
}

#[test]
fn smoke_exercises_every_step_type_on_the_embedded_server() {
    fn kinds(steps: &[Step], out: &mut std::collections::BTreeSet<&'static str>) {
        for s in steps {
            out.insert(s.kind());
            kinds(s.children(), out);
        }
    }
    let s = scenario::load(&repo().join("scenarios/smoke.yaml")).expect("smoke loads");
    assert!(s.target.is_none(), "smoke runs on the embedded server");
    let mut seen = std::collections::BTreeSet::new();
    for b in &s.behaviours {
        kinds(&b.setup, &mut seen);
        kinds(&b.steps, &mut seen);
    }
    let all = [
        "login",
        "connect",
        "subscribe",
        "unsubscribe",
        "send_message",
        "load_history",
        "read",
        "typing",
        "set_status",
        "join_room",
        "open_room",
        "web_client_boot",
        "http",
        "think",
        "repeat",
        "group",
        "wait_for_message",
    ];
    for k in all {
        assert!(seen.contains(k), "smoke.yaml does not use `{k}`");
    }
    assert!(s.thresholds.contains_key("errors"));
    assert_eq!(s.thresholds["message.lost"].count, Some(0));
}

#[test]
fn example_templates_compile() {
    let s = scenario::load(&repo().join("scenarios/smoke.yaml")).expect("smoke loads");
    let text = s.behaviours[0]
        .steps
        .iter()
        .flat_map(|st| st.children())
        .find_map(|st| match st {
            Step::SendMessage(m) => m.text.clone(),
            _ => None,
        })
        .expect("the chatter sends a templated text");
    let t = Template::parse(&text).expect("compiles");
    assert_eq!(t.vars().collect::<Vec<_>>(), ["username", "uid"]);
}

#[test]
fn unknown_key_gives_position_and_suggestion() {
    let text = "\
name: x
users: { count: 1, password: p }
rooms: { count: 1, members_per_room: 1 }
load: { model: closed, vus: 1, duration: 5s }
behaviours:
  - name: b
    steps:
      - login
      - send_message: { rom: random }
";
    assert_eq!(
        errors_of(text),
        [
            "t.yaml:9:25: behaviours[0].steps[1].send_message.rom: unknown key `rom` (did you mean `room`?)"
        ]
    );
    let top = text.replace("users:", "usres:");
    assert_eq!(
        errors_of(&top),
        ["t.yaml:2:1: usres: unknown key `usres` (did you mean `users`?)"]
    );
    let step = text.replace("send_message:", "send_mesage:");
    assert_eq!(
        errors_of(&step),
        [
            "t.yaml:9:9: behaviours[0].steps[1].send_mesage: unknown step `send_mesage` (did you mean `send_message`?)"
        ]
    );
}

const VALID: &str = "\
name: x
users: { count: 2, password: p }
rooms: { count: 1, members_per_room: 2 }
load:
  model: closed
  vus: 2
  duration: 10s
behaviours:
  - name: b
    steps:
      - login
      - send_message: { room: random, text: \"hi {{vu}}\" }
      - think: 1s
";

#[test]
fn the_reference_text_is_valid() {
    load_str(VALID, "t.yaml", &no_env).expect("valid");
}

#[test]
fn bad_duration() {
    let lines = errors_of(&VALID.replace("duration: 10s", "duration: 10 sec0nds"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("t.yaml:7:13: load.duration: invalid duration `10 sec0nds`"),
        "{}",
        lines[0]
    );
}

/// The 7-day run cap is a validation error with a position, so `validate`
/// refuses what `run` would (it used to pass `validate` with exit 0).
#[test]
fn a_load_beyond_the_run_cap_is_refused_with_its_position() {
    let lines = errors_of(&VALID.replace("duration: 10s", "duration: 8d"));
    assert_eq!(
        lines,
        [
            "t.yaml:7:13: load.duration: the load lasts 8days, beyond the run cap of 7days (split a longer soak into runs)"
        ]
    );
    let staged = VALID.replace(
        "  vus: 2\n  duration: 10s\n",
        "  stages:\n    - { duration: 4d, target: 2 }\n    - { duration: 4d, target: 2 }\n",
    );
    let lines = errors_of(&staged);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("t.yaml:7:5: load.stages: the load lasts 8days"),
        "{lines:?}"
    );
    let at_cap = VALID.replace("duration: 10s", "duration: 7d");
    assert!(
        load_str(&at_cap, "t.yaml", &no_env).is_ok(),
        "the cap itself is allowed"
    );
}

#[test]
fn missing_environment_variable() {
    let text = VALID.replace("password: p", "password: \"${LOAD_PW}\"");
    assert_eq!(
        errors_of(&text),
        [
            "t.yaml:2:31: environment variable `LOAD_PW` is not set (give a default with `${LOAD_PW:-value}`)"
        ]
    );
    // A default or the environment fills it; `$${` stays literal.
    let with_default = VALID.replace("password: p", "password: \"${LOAD_PW:-dflt}$${X}\"");
    let s = load_str(&with_default, "t.yaml", &no_env).expect("default applies");
    assert_eq!(s.users.password, "dflt${X}");
    let env = |n: &str| (n == "LOAD_PW").then(|| "from-env".to_string());
    assert_eq!(
        load_str(&text, "t.yaml", &env)
            .expect("env applies")
            .users
            .password,
        "from-env"
    );
}

#[test]
fn positions_after_interpolation_point_at_the_file_as_written() {
    let text = VALID
        .replace(
            "password: p",
            "password: \"${PW:-a-long-default-password}\"",
        )
        .replace("users: { count: 2,", "users: { count: \"${N:-two}\",");
    assert_eq!(
        errors_of(&text),
        ["t.yaml:2:17: users.count: expected a whole number >= 0, found string \"two\""]
    );
}

#[test]
fn bad_template() {
    let lines = errors_of(&VALID.replace("hi {{vu}}", "hi {{rand_int 9 1}} {{vuu}}"));
    assert_eq!(
        lines,
        [
            "t.yaml:12:49: behaviours[0].steps[1].send_message.text: bad template: `rand_int` at offset 3: the lower bound 9 is above the upper bound 1"
        ]
    );
    let lines = errors_of(&VALID.replace("hi {{vu}}", "hi {{vuu}} {{rand_itn 1 2}}"));
    assert_eq!(
        lines,
        [
            "t.yaml:12:57: behaviours[0].steps[1].send_message.text: bad template: unknown function `rand_itn` at offset 11 (did you mean `rand_int`?)"
        ]
    );
    let lines = errors_of(&VALID.replace("hi {{vu}}", "hi {{vuu}}"));
    assert_eq!(
        lines,
        [
            "t.yaml:12:45: behaviours[0].steps[1].send_message.text: template reads `{{vuu}}`, which is neither built in nor captured by any `http` step of this behaviour (did you mean `vu`?)"
        ]
    );
}

#[test]
fn wrong_type() {
    assert_eq!(
        errors_of(&VALID.replace("vus: 2", "vus: [2]")),
        ["t.yaml:6:8: load.vus: expected a whole number >= 0, found a list"]
    );
    assert_eq!(
        errors_of(&VALID.replace("model: closed", "model: clsoed")),
        ["t.yaml:5:10: load.model: unknown model `clsoed` (did you mean `closed`?)"]
    );
}

#[test]
fn yaml_syntax_error() {
    let lines = errors_of(&VALID.replace("count: 2, password: p }", "count: 2, password: p"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("t.yaml:3:"), "{}", lines[0]);
    assert!(lines[0].contains("invalid YAML"), "{}", lines[0]);
}

#[test]
fn semantic_problems_are_all_reported_at_once() {
    let text = VALID
        .replace("count: 2, password", "count: 0, password")
        .replace("vus: 2", "vus: 2\n  rate: 5")
        .replace("- think: 1s", "- think: 1s\n      - wait_for_message: {}\n      - repeat: { forever: true, steps: [think: 1s] }\n      - think: 1s");
    let err: ScenarioError = load_str(&text, "t.yaml", &no_env).expect_err("invalid");
    let lines: Vec<String> = err.errors().map(Problem::to_string).collect();
    assert_has(&lines, "t.yaml:2:17: users.count: must be at least 1");
    assert_has(
        &lines,
        "t.yaml:7:9: load.rate: applies to the open model only",
    );
    assert_has(
        &lines,
        "t.yaml:16:28: behaviours[0].steps[4].repeat.forever: a `forever` repeat never ends, so it must be the last step of `steps`",
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "t.yaml:15:27: behaviours[0].steps[3].wait_for_message: waits for a message"
        )),
        "{lines:#?}"
    );
    // Display: the same problems, one per line.
    assert_eq!(err.to_string().lines().count(), err.problems().len());
    assert!(
        err.problems()
            .iter()
            .all(|p| p.severity == Severity::Error || p.severity == Severity::Warning)
    );
}

#[test]
fn validate_command_on_the_real_binary() {
    let bin = env!("CARGO_BIN_EXE_rocketload");
    let ok = Command::new(bin)
        .args(["validate", "scenarios/smoke.yaml"])
        .current_dir(repo())
        .output()
        .expect("binary runs");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.starts_with("ok: scenarios/smoke.yaml: smoke, 2 behaviours"),
        "{stdout}"
    );

    let dir = std::env::temp_dir().join(format!("rocketload-scenarios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        VALID.replace("duration: 10s", "duration: 10s\n  gracefull_stop: 3s"),
    )
    .expect("write");
    let out = Command::new(bin)
        .args(["validate", &bad.display().to_string()])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "bad.yaml:8:3: load.gracefull_stop: unknown key `gracefull_stop` (did you mean `graceful_stop`?)"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(Path::new(&bad).parent().is_some());
}

/// VALID with an embedded-server block holding `faults` (one per line).
fn with_faults(faults: &[&str]) -> String {
    let mut text =
        format!("{VALID}server:\n  cost: {{ sendMessage: 300us, default: 50us }}\n  faults:");
    text.push_str(if faults.is_empty() { " []\n" } else { "\n" });
    for f in faults {
        text.push_str(&format!("    - {f}\n"));
    }
    text
}

#[test]
fn bad_faults_and_costs_are_reported_at_their_keys() {
    // VALID has 13 lines; `faults:` is line 16, the first fault line 17.
    let cases = [
        (
            "{ at: 5s, kind: errors, status: 503, ratio: 7 }",
            "t.yaml:17:51: server.faults[0].ratio: must be a number in 0..=1, got 7",
        ),
        (
            "{ at: 5s, kind: stal, duration_ms: 1000 }",
            "t.yaml:17:23: server.faults[0].kind: unknown fault kind `stal` (did you mean `stall`?)",
        ),
        (
            "{ at: 5s, kind: stall }",
            "t.yaml:17:7: server.faults[0]: missing key `duration_ms`: kind `stall` takes `duration_ms`",
        ),
        (
            "{ at: 5s, kind: stall, duraton_ms: 1000 }",
            "t.yaml:17:30: server.faults[0].duraton_ms: unknown key `duraton_ms` (did you mean `duration_ms`?)",
        ),
        (
            "{ at: 5s, kind: latency, duration_ms: 20 }",
            "t.yaml:17:32: server.faults[0].duration_ms: `duration_ms` does not apply to kind `latency`, which takes `ms`",
        ),
        (
            "{ at: 5s, kind: errors, status: 200, ratio: 0.1 }",
            "t.yaml:17:39: server.faults[0].status: must be an HTTP error status in 400..=599, got 200",
        ),
        (
            "{ at: 5s, kind: stall, duration_ms: 7200000 }",
            "t.yaml:17:43: server.faults[0].duration_ms: must be at most 3600000 (milliseconds, 1 hour at most), got 7200000",
        ),
    ];
    for (fault, wanted) in cases {
        let text = with_faults(&["{ at: 1s, kind: clear }", fault]);
        let wanted = wanted
            .replace("t.yaml:17:", "t.yaml:18:")
            .replace("faults[0]", "faults[1]");
        assert_eq!(errors_of(&text), [wanted]);
    }
    // A block fault points at the key too.
    let block = with_faults(&["at: 5s\n      kind: errors\n      status: 503\n      ratio: 1.5"]);
    assert_eq!(
        errors_of(&block),
        ["t.yaml:20:14: server.faults[0].ratio: must be a number in 0..=1, got 1.5"]
    );
    let cost = with_faults(&[]).replace("sendMessage: 300us", "sendMessage: 300 micro");
    let lines = errors_of(&cost);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("t.yaml:15:24: server.cost.sendMessage: invalid duration `300 micro`"),
        "{}",
        lines[0]
    );
    assert_eq!(
        errors_of(&with_faults(&[]).replace("300us", "20s")),
        [
            "t.yaml:15:24: server.cost.sendMessage: is over the 10s limit: a cost of seconds per operation wedges the instance"
        ]
    );
}

#[test]
fn every_fault_kind_round_trips_through_the_server() {
    use rocketload::scenario::Fault;
    use rocketload::server::faults::Faults;
    use std::time::Duration;

    let text = with_faults(&[
        "{ at: 1s, kind: stall, duration_ms: 0 }",
        "{ at: 1s, kind: latency, ms: 20 }",
        "{ at: 1s, kind: errors, status: 503, ratio: 0.1, duration_ms: 5000 }",
        "{ at: 1s, kind: errors, status: 599, ratio: 1 }",
        "{ at: 1s, kind: rate_limit, per_second: 10 }",
        "{ at: 1s, kind: drop_connections }",
        "{ at: 1s, kind: lose_messages, ratio: 0.01, duration_ms: 3600000 }",
        "{ at: 1s, kind: restart, instance: 1, down_ms: 1500 }",
        "{ at: 2s, kind: clear }",
    ]);
    let s = load_str(&text, "t.yaml", &no_env).expect("every kind loads");
    let server = s.server.expect("server block");
    assert_eq!(
        server.cost.get("sendMessage"),
        Some(&Duration::from_micros(300))
    );
    let faults = server.faults;
    let kinds: Vec<&str> = faults.iter().map(|f| f.fault.kind()).collect();
    assert_eq!(
        kinds,
        [
            "stall",
            "latency",
            "errors",
            "errors",
            "rate_limit",
            "drop_connections",
            "lose_messages",
            "restart",
            "clear"
        ]
    );
    assert_eq!(
        faults[2].fault,
        Fault::Errors {
            status: 503,
            ratio: 0.1,
            duration: Some(Duration::from_secs(5))
        }
    );
    let live = Faults::new();
    for f in &faults {
        let body = f.fault.to_body();
        live.apply(&body)
            .unwrap_or_else(|e| panic!("the server rejects {body}: {e}"));
        let snap = live.snapshot();
        match &f.fault {
            Fault::Latency { delay } => {
                assert_eq!(snap["latency_ms"], delay.as_millis() as u64)
            }
            Fault::Errors { status, ratio, .. } => {
                assert_eq!(snap["errors"]["status"], *status);
                assert_eq!(snap["errors"]["ratio"], *ratio);
            }
            Fault::RateLimit { per_second } => {
                assert_eq!(snap["rate_limit_per_second"], *per_second)
            }
            Fault::LoseMessages { ratio, .. } => {
                assert_eq!(snap["lose_messages"]["ratio"], *ratio)
            }
            Fault::DropConnections => assert_eq!(snap["counts"]["connection_drops"], 1),
            Fault::Restart { instance, .. } => {
                assert_eq!(snap["counts"]["restarts"], 1);
                assert!(live.down(*instance) && !live.down(0));
            }
            Fault::Clear => {
                assert_eq!(snap["latency_ms"], 0);
                assert!(snap["errors"].is_null() && snap["lose_messages"].is_null());
            }
            Fault::Stall { .. } => assert!(snap["stall"].is_null(), "0 clears"),
        }
    }
    // The scenario limits are the server's: one step past each is refused by both.
    let past = [
        (
            serde_json::json!({"kind": "stall", "duration_ms": 3_600_001}),
            "duration_ms",
        ),
        (
            serde_json::json!({"kind": "latency", "ms": 3_600_001}),
            "ms",
        ),
        (
            serde_json::json!({"kind": "errors", "status": 600, "ratio": 0.5}),
            "status",
        ),
        (
            serde_json::json!({"kind": "errors", "status": 399, "ratio": 0.5}),
            "status",
        ),
        (
            serde_json::json!({"kind": "lose_messages", "ratio": 1.01}),
            "ratio",
        ),
        (
            serde_json::json!({"kind": "lose_messages", "ratio": -0.01}),
            "ratio",
        ),
        (
            serde_json::json!({"kind": "rate_limit", "per_second": 4_294_967_296_u64}),
            "per_second",
        ),
    ];
    for (body, field) in past {
        assert!(live.apply(&body).is_err(), "server accepts {body}");
        let fields: Vec<String> = body
            .as_object()
            .expect("a body is an object")
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect();
        let flow = format!("{{ at: 1s, {} }}", fields.join(", "));
        let errors = errors_of(&with_faults(&[&flow]));
        assert!(
            errors.len() == 1 && errors[0].contains(&format!("server.faults[0].{field}: ")),
            "{flow}: {errors:?}"
        );
    }
}

#[test]
fn validate_reports_a_bad_fault_on_the_real_binary() {
    let dir = std::env::temp_dir().join(format!("rocketload-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("fault.yaml");
    std::fs::write(
        &bad,
        with_faults(&["{ at: 5s, kind: lose_messages, ratio: 7 }"]),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rocketload"))
        .args(["validate", &bad.display().to_string()])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("fault.yaml:17:45: server.faults[0].ratio: must be a number in 0..=1, got 7"),
        "{stderr}"
    );
}

#[test]
fn an_admin_password_in_the_scenario_is_refused_with_the_way_to_give_it() {
    let text = "name: t\nusers:\n  count: 2\n  password: p\n  provision: create\n  admin: { username: admin, password: hunter2 }\nload: { model: closed, vus: 1, duration: 1s }\nbehaviours:\n  - name: a\n    steps: [ { think: { constant: 1s } } ]\n";
    let errors = errors_of(text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("users.admin.password"), "{errors:?}");
    assert!(errors[0].contains("RC_ADMIN_PASSWORD"), "{errors:?}");
    assert!(!errors[0].contains("hunter2"), "{errors:?}");
}

/// `scenario_sha256` identifies the settings, not the secrets: a secret
/// variable's value is left out of it, any other value is in it.
#[test]
fn scenario_hash_leaves_secret_values_out() {
    let text = VALID.replace(
        "users: { count: 2, password: p }",
        "users: { count: 2, prefix: \"${RC_PREFIX}\", password: \"${RC_PASSWORD}\" }",
    );
    let hash = |password: &str, prefix: &str| {
        let env = |name: &str| match name {
            "RC_PASSWORD" => Some(password.to_string()),
            "RC_PREFIX" => Some(prefix.to_string()),
            _ => None,
        };
        let loaded = load_str_with_warnings(&text, "t.yaml", &env).expect("loads");
        assert_eq!(
            loaded.scenario.users.password, password,
            "the run uses the value"
        );
        loaded.sha256
    };
    assert_eq!(hash("pw-one", "load-"), hash("pw-two", "load-"));
    assert_ne!(hash("pw-one", "load-"), hash("pw-one", "other-"));
}
