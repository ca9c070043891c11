//! Reading a scenario: interpolate `${VAR}`, parse YAML, deserialize with
//! strict keys, validate. Every stage reports in the same
//! `file:line:col: key.path: message` form, positions in the file as written.

use std::path::Path;

use super::de::{self, DeError};
use super::error::{Problem, ScenarioError, Severity, line_col};
use super::interpolate::{Interpolated, interpolate};
use super::model::Scenario;
use super::validate::{self, Finding};
use super::yaml;

/// A loaded scenario with the warnings validation found.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub warnings: Vec<Problem>,
    /// SHA-256 (hex) of the file as run: after `${VAR}` substitution, with
    /// the values of secret-looking variables left as written
    /// ([`is_secret_name`]), so two runs with the same settings hash the
    /// same and no password can be recovered from the hash.
    pub sha256: String,
}

/// A variable whose value must not reach results: its name contains
/// PASSWORD, PASSWD, SECRET, TOKEN, KEY or CREDENTIAL (any case).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
}

/// The digest of [`Loaded::sha256`].
fn digest_as_run(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    use sha2::{Digest, Sha256};
    let masked = |name: &str| {
        if is_secret_name(name) {
            Some(format!("${{{name}}}"))
        } else {
            env(name)
        }
    };
    // The text already interpolated once without errors, so this pass
    // cannot fail; the raw text is the fallback all the same.
    let as_run = interpolate(text, &masked).map_or_else(|_| text.to_string(), |i| i.text);
    Sha256::digest(as_run.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads, interpolates (from the process environment), parses and validates.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with_warnings(path).map(|l| l.scenario)
}

/// [`load`], keeping the warnings.
pub fn load_with_warnings(path: &Path) -> Result<Loaded, ScenarioError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioError::new(vec![Problem {
            severity: Severity::Error,
            origin: origin.clone(),
            line_col: None,
            path: String::new(),
            message: format!("cannot read the scenario file: {e}"),
            suggestion: None,
        }])
    })?;
    load_str_with_warnings(&text, &origin, &|name| std::env::var(name).ok())
}

/// Loads from text; `origin` names it in errors, `env` resolves `${VAR}`.
pub fn load_str(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, ScenarioError> {
    load_str_with_warnings(text, origin, env).map(|l| l.scenario)
}

/// [`load_str`], keeping the warnings.
pub fn load_str_with_warnings(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ScenarioError> {
    let at = |index: usize| Some(line_col(text, index));
    let problem = |severity, line_col, path: String, message: String, suggestion| Problem {
        severity,
        origin: origin.to_string(),
        line_col,
        path,
        message,
        suggestion,
    };
    let interpolated: Interpolated = interpolate(text, env).map_err(|errs| {
        let list = errs
            .into_iter()
            .map(|e| problem(Severity::Error, at(e.at), String::new(), e.message, None))
            .collect();
        ScenarioError::new(list)
    })?;
    let back = |i: usize| at(interpolated.original_index(i));
    let root = yaml::parse(&interpolated.text).map_err(|e| {
        let msg = format!("invalid YAML: {}", e.message);
        ScenarioError::new(vec![problem(
            Severity::Error,
            back(e.at),
            String::new(),
            msg,
            None,
        )])
    })?;
    if !matches!(root.kind, yaml::Kind::Map(_)) {
        let msg = if root.is_null() {
            "the file is empty: expected a scenario with `name`, `users`, `load` and `behaviours`"
        } else {
            "expected a scenario: a mapping with `name`, `users`, `load` and `behaviours`"
        };
        return Err(ScenarioError::new(vec![problem(
            Severity::Error,
            back(root.at),
            String::new(),
            msg.into(),
            None,
        )]));
    }
    let scenario: Scenario = de::from_node(&root).map_err(|e: DeError| {
        let pos = e.at.and_then(back);
        ScenarioError::new(vec![problem(
            Severity::Error,
            pos,
            e.path,
            e.message,
            e.suggestion,
        )])
    })?;
    let chars: Vec<char> = interpolated.text.chars().collect();
    let mut problems: Vec<(usize, Problem)> = validate::check(&scenario, &root)
        .into_iter()
        .map(|f: Finding| {
            let (node, _) = f.path.locate(&root);
            let at = match &f.offset {
                Some((value, offset)) => inside_scalar(&chars, node.at, value, *offset),
                None => node.at,
            };
            let p = problem(
                f.severity,
                back(at),
                f.path.to_string(),
                f.message,
                f.suggestion,
            );
            (node.at, p)
        })
        .collect();
    // File order reads best; the sort is stable, so one line keeps check order.
    problems.sort_by_key(|(at, _)| *at);
    let problems: Vec<Problem> = problems.into_iter().map(|(_, p)| p).collect();
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return Err(ScenarioError::new(problems));
    }
    let mut scenario = scenario;
    scenario.load.normalize();
    Ok(Loaded {
        scenario,
        warnings: problems,
        sha256: digest_as_run(text, env),
    })
}

/// The position of character `offset` of `value` when the scalar starting
/// at `start` spells `value` verbatim (plain or quoted, no escapes, one
/// line); else the scalar's start.
fn inside_scalar(text: &[char], start: usize, value: &str, offset: usize) -> usize {
    let quoted = matches!(text.get(start), Some('"' | '\''));
    let body = start + usize::from(quoted);
    let verbatim = value
        .chars()
        .enumerate()
        .all(|(i, c)| text.get(body + i) == Some(&c));
    if verbatim { body + offset } else { start }
}
