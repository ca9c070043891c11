//! Semantic checks of a parsed scenario, k6 style: every problem is
//! collected (none stops the walk), each with its key path; `load` then
//! finds the line and column of that path in the YAML tree.
//!
//! This file holds the key path, the finding and the checker with its
//! helpers; the rules live by what they check: `sections.rs` (the top-level
//! sections: users, rooms, target, server, load, thresholds),
//! `behaviours.rs` (behaviours and pinned VUs) and `steps/` (one file per
//! step family, as in `engine/steps/`).

mod behaviours;
mod sections;
mod steps;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::error::Severity;
use super::model::*;
use super::yaml::{Kind, Node};
use crate::metrics::names::ALWAYS;

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `behaviours[1].steps[3].send_message.room`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }

    pub fn idx(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// The node at this path, or the deepest ancestor present in the text
    /// (a defaulted key points at its parent), and whether it was found.
    pub fn locate<'n>(&self, root: &'n Node) -> (&'n Node, bool) {
        let mut node = root;
        for seg in &self.0 {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => node.entry(k).map(|(_, v)| v),
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, false),
            }
        }
        (node, true)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    super::de::write_key(f, k)?;
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem before it is positioned.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub path: KeyPath,
    pub message: String,
    pub suggestion: Option<String>,
    /// Where inside the value's text (template text, in characters) the
    /// problem is, when known: `load` points the column there.
    pub offset: Option<(String, usize)>,
}

/// Checks everything serde cannot: ranges, combinations, references.
pub fn check(s: &Scenario, root: &Node) -> Vec<Finding> {
    let mut c = Checker {
        root,
        out: Vec::new(),
        has_rooms: s.rooms.is_some(),
    };
    let top = KeyPath::default();
    c.top(s, &top);
    c.users(s, &top.key("users"));
    if let Some(r) = &s.rooms {
        c.rooms(r, s, &top.key("rooms"));
    }
    if let Some(t) = &s.target {
        c.target(t, &top.key("target"));
        if s.server.is_some() {
            c.warn(
                &top.key("server"),
                "applies only to the embedded server; ignored with a `target`",
            );
        }
    }
    if let Some(srv) = &s.server {
        c.server(srv, s, &top.key("server"));
    }
    c.load(&s.load, s, &top.key("load"));
    c.behaviours(s, &top.key("behaviours"));
    c.thresholds(s, &top.key("thresholds"));
    c.out
}

struct Checker<'a> {
    root: &'a Node,
    out: Vec<Finding>,
    has_rooms: bool,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, path: &KeyPath, msg: String, hint: Option<String>) {
        self.out.push(Finding {
            severity,
            path: path.clone(),
            message: msg,
            suggestion: hint,
            offset: None,
        });
    }

    fn err(&mut self, path: &KeyPath, msg: impl Into<String>) {
        self.push(Severity::Error, path, msg.into(), None);
    }

    fn warn(&mut self, path: &KeyPath, msg: impl Into<String>) {
        self.push(Severity::Warning, path, msg.into(), None);
    }

    /// Whether the key is written in the file (not defaulted).
    fn has(&self, path: &KeyPath) -> bool {
        path.locate(self.root).1
    }

    fn positive(&mut self, path: &KeyPath, d: Duration) {
        if d.is_zero() {
            self.err(path, "must be longer than 0");
        }
    }
}

/// Metric names the scenario's steps record (by name or default).
pub fn produced_metrics(s: &Scenario) -> BTreeSet<String> {
    fn walk(steps: &[Step], out: &mut BTreeSet<String>, sends: &mut bool) {
        for step in steps {
            out.extend(step.recorded_metrics());
            *sends |= matches!(step, Step::SendMessage(_));
            walk(step.children(), out, sends);
        }
    }
    let mut out: BTreeSet<String> = ALWAYS.iter().map(|s| s.to_string()).collect();
    let mut sends = false;
    for b in &s.behaviours {
        walk(&b.setup, &mut out, &mut sends);
        walk(&b.steps, &mut out, &mut sends);
    }
    if sends {
        for m in [
            "message.e2e",
            "message.lost",
            "message.duplicate",
            crate::metrics::names::MESSAGE_CROSS_SHARD,
        ] {
            out.insert(m.to_string());
        }
    }
    out
}

/// The end of the last stage (or of `duration`), if the load defines one.
pub fn total_duration(l: &Load) -> Option<Duration> {
    if l.stages.is_empty() {
        l.duration
    } else {
        Some(l.stages.iter().map(|s| s.duration).sum())
    }
}

/// Dot-separated words of letters, digits, `_`, `-`, `:` (`rest.chat.postMessage`,
/// `ddp.method.license:getModules`, `ddp.sub.stream-room-messages`).
pub fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
        })
}

/// RFC 9110 token characters (header names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert!(is_metric_name("rest.chat.postMessage"));
        assert!(is_metric_name("ddp.method.license:getModules"));
        assert!(is_metric_name("ddp.sub.stream-room-messages"));
        assert!(!is_metric_name("rest..x"));
        assert!(!is_metric_name("has space"));
        assert!(!is_metric_name(""));
    }

    #[test]
    fn key_paths() {
        let p = KeyPath::default()
            .key("behaviours")
            .idx(1)
            .key("steps")
            .idx(3)
            .key("send_message")
            .key("room");
        assert_eq!(p.to_string(), "behaviours[1].steps[3].send_message.room");
        let t = KeyPath::default().key("thresholds").key("message.e2e");
        assert_eq!(t.to_string(), "thresholds.\"message.e2e\"");
    }
}
