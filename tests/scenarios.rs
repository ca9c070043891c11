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
fn example_env(name: &str) -> Option<String> {
    (name == "RC_PASSWORD").then(|| "example-pass".to_string())
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
