//! `rocketload validate FILE`: load and check a scenario without running it.
//! Exit 0 with a one-line summary, or 2 with every problem, one per line.

use std::io::Write;

use crate::cli::ValidateArgs;
use crate::scenario::{self, Loaded, Scenario, Severity};

const EXIT_OK: u8 = crate::runner::Exit::Pass.code();
const EXIT_BAD_INPUT: u8 = crate::runner::Exit::BadInput.code();

pub fn run(args: ValidateArgs) -> u8 {
    run_to(&args, &mut std::io::stdout(), &mut std::io::stderr())
}

/// [`run`] with its output streams given (tests read them).
pub fn run_to(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let file = args.scenario.display().to_string();
    // A closed pipe (`validate x | head`) is not a failure of the scenario.
    match scenario::load_with_warnings(&args.scenario) {
        Ok(Loaded {
            scenario, warnings, ..
        }) => {
            for w in &warnings {
                let _ = writeln!(err, "{w}");
            }
            let _ = writeln!(out, "ok: {file}: {}", summary(&scenario));
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            let errors = e.errors().count();
            let warnings = e
                .problems()
                .iter()
                .filter(|p| p.severity == Severity::Warning)
                .count();
            let _ = writeln!(
                err,
                "error: {file}: {}{}",
                plural(errors, "error"),
                if warnings > 0 {
                    format!(", {}", plural(warnings, "warning"))
                } else {
                    String::new()
                }
            );
            EXIT_BAD_INPUT
        }
    }
}

/// `smoke, 2 behaviours, closed model: 4 VUs for 30s, 4 users, 2 rooms, seed 7, embedded server`
fn summary(s: &Scenario) -> String {
    let mut parts = vec![
        s.name.clone(),
        plural(s.behaviours.len(), "behaviour"),
        scenario::describe_load(&s.load),
        plural(s.users.count as usize, "user"),
    ];
    if let Some(r) = &s.rooms {
        parts.push(plural(r.count as usize, "room"));
    }
    parts.push(match s.seed {
        Some(seed) => format!("seed {seed}"),
        None => "unseeded (random choices differ per run; set `seed:` to repeat them)".into(),
    });
    parts.push(match &s.target {
        Some(t) => format!("target {}", t.urls.join(" ")),
        None => "embedded server".into(),
    });
    parts.join(", ")
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn validate(path: PathBuf) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_to(&ValidateArgs { scenario: path }, &mut out, &mut err);
        let s = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
        (code, s(out), s(err))
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rocketload-validate-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        std::fs::write(&path, text).expect("temp dir is writable");
        path
    }

    #[test]
    fn valid_file_prints_ok() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.yaml");
        let (code, out, _) = validate(path);
        assert_eq!(code, EXIT_OK);
        assert!(out.starts_with("ok: "), "{out}");
        assert!(
            out.contains("smoke, 2 behaviours, closed model: 4 VUs for 30s"),
            "{out}"
        );
        assert!(out.contains("seed 7"), "{out}");
    }

    #[test]
    fn invalid_file_prints_every_problem() {
        let text =
            "name: x\nusers: {count: 0, password: p}\nload: {model: closed}\nbehaviours: []\n";
        let path = temp_file("bad.yaml", text);
        let (code, out, err) = validate(path);
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(out.is_empty());
        assert!(err.contains(":2:"), "{err}");
        assert!(err.contains("users.count: must be at least 1"), "{err}");
        assert!(
            err.contains("load: needs `stages`, or `vus` and `duration`"),
            "{err}"
        );
        assert!(
            err.contains("behaviours: needs at least one behaviour"),
            "{err}"
        );
        assert!(err.contains("3 errors"), "{err}");
    }

    #[test]
    fn missing_file_is_bad_input() {
        let (code, _, err) = validate(PathBuf::from("/nonexistent/x.yaml"));
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.contains("cannot read"), "{err}");
    }
}
