//! JUnit XML, for CI test reports: a run is a `<testsuite>` named after
//! its scenario, each threshold a `<testcase>` that fails with the measured
//! value. The run's identity is in `<properties>`, its notes in
//! `<system-out>`.
//!
//! ```text
//! <testsuites name="rocketload" tests="N" failures="F">
//!   <testsuite name="SCENARIO" tests="N" failures="F" errors="0" skipped="0" time="DURATION_S" timestamp="RFC3339">
//!     <properties>
//!       <property name="run_id" value="..."/>
//!       <property name="scenario_sha256" value="..."/>   when known
//!       <property name="target_url" value="..."/>        one per URL
//!       <property name="rocketchat_version" value="..."/> when known
//!       <property name="partial" value="true"/>          partial runs only
//!     </properties>
//!     <testcase classname="rocketload.thresholds" name="METRIC p95 &lt;= 500 ms" time="0">
//!       <failure type="threshold" message="measured 612.3 ms, limit 500 ms"/>   failed only
//!     </testcase>
//!     <system-out>one note per line</system-out>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! Escaping is by hand ([`escape`]: the five XML entities, and control
//! characters XML 1.0 cannot hold dropped): no XML crate is in the tree.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use super::{ExportInput, Exporter};
use crate::results::thresholds::{ThresholdResult, format_value};

pub struct Junit;

impl Exporter for Junit {
    fn write(&self, input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
        write_runs(std::slice::from_ref(input), w)
    }
}

/// Several runs: one `<testsuite>` each in one `<testsuites>`.
pub fn write_runs(inputs: &[ExportInput<'_>], w: &mut dyn Write) -> io::Result<()> {
    let tests: usize = inputs.iter().map(|i| i.summary.thresholds.len()).sum();
    let failures: usize = inputs.iter().map(|i| failed(i.summary)).sum();
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="rocketload" tests="{tests}" failures="{failures}">"#
    )?;
    for input in inputs {
        suite(input, w)?;
    }
    writeln!(w, "</testsuites>")
}

fn failed(s: &crate::results::Summary) -> usize {
    s.thresholds.iter().filter(|t| !t.passed).count()
}

fn suite(input: &ExportInput<'_>, w: &mut dyn Write) -> io::Result<()> {
    let s = input.summary;
    let run = &s.run;
    let started = UNIX_EPOCH + Duration::from_millis(run.info.started_unix_ms);
    writeln!(
        w,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="0" skipped="0" time="{}" timestamp="{}">"#,
        escape(&run.info.scenario),
        s.thresholds.len(),
        failed(s),
        run.duration_s,
        humantime::format_rfc3339_seconds(started),
    )?;
    writeln!(w, "    <properties>")?;
    let mut props: Vec<(&str, &str)> = vec![("run_id", &run.info.id)];
    if !run.info.scenario_sha256.is_empty() {
        props.push(("scenario_sha256", &run.info.scenario_sha256));
    }
    props.extend(s.target.urls.iter().map(|u| ("target_url", u.as_str())));
    if let Some(v) = &s.target.rocketchat_version {
        props.push(("rocketchat_version", v));
    }
    if input.partial {
        props.push(("partial", "true"));
    }
    for (name, value) in props {
        writeln!(
            w,
            r#"      <property name="{name}" value="{}"/>"#,
            escape(value)
        )?;
    }
    writeln!(w, "    </properties>")?;
    for t in &s.thresholds {
        case(t, w)?;
    }
    if !s.notes.is_empty() {
        let notes: Vec<&str> = s.notes.iter().map(|n| n.text.as_str()).collect();
        writeln!(
            w,
            "    <system-out>{}</system-out>",
            escape(&notes.join("\n"))
        )?;
    }
    writeln!(w, "  </testsuite>")
}

fn case(t: &ThresholdResult, w: &mut dyn Write) -> io::Result<()> {
    let name = format!("{} {}", t.metric, t.describe_limit());
    write!(
        w,
        r#"    <testcase classname="rocketload.thresholds" name="{}" time="0""#,
        escape(&name)
    )?;
    if t.passed {
        return writeln!(w, "/>");
    }
    let measured = match t.actual {
        Some(a) => format!("measured {}", format_value(a, t.unit)),
        None => "nothing measured".to_string(),
    };
    let message = format!("{measured}, limit {}", format_value(t.limit, t.unit));
    writeln!(w, ">")?;
    writeln!(
        w,
        r#"      <failure type="threshold" message="{}"/>"#,
        escape(&message)
    )?;
    writeln!(w, "    </testcase>")
}

/// Text for an XML attribute or element: `& < > " '` as entities, and the
/// control characters XML 1.0 forbids left out (tab, LF, CR stay).
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() && (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
