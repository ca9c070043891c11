//! Problems found in a scenario file and the error that carries them all.
//!
//! Every problem knows where it is: the file, a line and column when the
//! key exists in the text, and the key path (`behaviours[1].steps[3].send_message.room`).

use std::fmt;

/// How bad a problem is: errors stop the run, warnings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// File name (or another origin such as `<string>`).
    pub origin: String,
    /// 1-based line and column in the original (un-interpolated) text.
    pub line_col: Option<(usize, usize)>,
    /// Key path; empty for the document itself.
    pub path: String,
    pub message: String,
    /// A near valid value (`did you mean ...?`).
    pub suggestion: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// A scenario that cannot be used. Display: every problem, one per line
/// (warnings found alongside the errors included).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct ScenarioError {
    problems: Vec<Problem>,
}

fn render(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

impl ScenarioError {
    /// `problems` must hold at least one error (callers only build this
    /// when validation found one).
    pub(crate) fn new(problems: Vec<Problem>) -> ScenarioError {
        ScenarioError { problems }
    }

    /// Every problem, errors and warnings, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
}

/// The candidate nearest to `input`, if it is near enough to be a typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// 1-based line and column of the character at `char_index` in `text`.
pub fn line_col(text: &str, char_index: usize) -> (usize, usize) {
    let (mut line, mut col) = (1, 1);
    for c in text.chars().take(char_index) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("rom", ["room", "via", "text"]),
            Some("room".into())
        );
        assert_eq!(
            did_you_mean("send_mesage", ["send_message", "think"]),
            Some("send_message".into())
        );
        assert_eq!(did_you_mean("zzz", ["room", "via"]), None);
    }

    #[test]
    fn positions() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn display() {
        let p = Problem {
            severity: Severity::Error,
            origin: "a.yaml".into(),
            line_col: Some((3, 7)),
            path: "users.count".into(),
            message: "must be at least 1".into(),
            suggestion: None,
        };
        assert_eq!(p.to_string(), "a.yaml:3:7: users.count: must be at least 1");
    }
}
