//! `repeat.json`: what `run --repeat N` measured, beside its repetitions'
//! directories (`OUT/1..N`): each repetition with its exit code, and the
//! spread of their figures ([`super::spread`]); and the same as text.
//! results/README.md documents every field.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spread::{MetricSpread, SpreadStat, StatSpread};
use super::table::{fit, format_ms, name_width};

/// The file name, in the folder that holds the repetitions.
pub const REPEAT_FILE: &str = "repeat.json";

/// The schema version of `repeat.json` this code writes.
pub const REPEAT_SCHEMA: u32 = 1;

/// The whole of `repeat.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepeatSummary {
    pub schema: u32,
    pub scenario: String,
    pub scenario_sha256: String,
    /// Every repetition runs with this seed.
    pub seed: u64,
    /// Repetitions asked for; `runs` holds fewer when Ctrl-C or a failure
    /// ended the loop.
    pub count: u32,
    pub cooldown_s: f64,
    /// Ctrl-C ended the loop.
    pub interrupted: bool,
    /// The exit code of the whole (the worst repetition's).
    pub exit_code: u8,
    pub runs: Vec<RepeatRun>,
    /// Per metric, per figure: one value per entry of `runs`.
    pub metrics: BTreeMap<String, MetricSpread>,
}

/// One repetition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RepeatRun {
    /// 1-based.
    pub index: u32,
    /// Its results directory, relative to the folder of `repeat.json`.
    pub dir: PathBuf,
    /// `run.id` of its summary; null when it measured nothing.
    pub run_id: Option<String>,
    pub exit_code: u8,
    /// Whether its figures are in the spread: it ran its whole plan (a
    /// repetition cut short or never measured is not).
    pub in_spread: bool,
}

impl RepeatSummary {
    /// Repetitions whose figures are in the spread.
    pub fn in_spread(&self) -> usize {
        self.runs.iter().filter(|r| r.in_spread).count()
    }
}

/// Writes the spread as a table: per metric, one row per figure with its
/// median, min – max and coefficient of variation, then the repetitions
/// (their directories under `dir`, the folder of `repeat.json`).
pub fn print_repeat(r: &RepeatSummary, dir: &Path, w: &mut dyn Write) -> io::Result<()> {
    writeln!(
        w,
        "\n{} — {} of {} repetitions measured whole, seed {}, {} cool-down",
        r.scenario,
        r.in_spread(),
        r.count,
        r.seed,
        humantime::format_duration(std::time::Duration::from_secs_f64(r.cooldown_s)),
    )?;
    let name_w = name_width(r.metrics.keys());
    writeln!(
        w,
        "\n  {:<name_w$} {:<6} {:>9}  {:>21}  {:>6}",
        "metric", "stat", "median", "min – max", "CV"
    )?;
    for (name, stats) in &r.metrics {
        let mut label = fit(name, name_w);
        for (stat, s) in stats {
            writeln!(
                w,
                "  {label:<name_w$} {:<6} {:>9}  {:>9} – {:<9}  {:>6}",
                stat.label(),
                figure(*stat, s.median),
                figure(*stat, s.min),
                figure(*stat, s.max),
                cv_pct(s),
            )?;
            label.clear();
        }
    }
    if r.metrics.is_empty() {
        writeln!(w, "  (nothing was measured whole)")?;
    }
    writeln!(w, "\n  repetitions")?;
    for run in &r.runs {
        let note = if run.in_spread {
            ""
        } else {
            "  (not in the spread)"
        };
        writeln!(
            w,
            "    {:>4}  {}  exit {}{note}",
            run.index,
            dir.join(&run.dir).display(),
            run.exit_code
        )?;
    }
    if r.interrupted {
        writeln!(
            w,
            "  interrupted: {} of {} repetitions ran",
            r.runs.len(),
            r.count
        )?;
    }
    Ok(())
}

fn figure(stat: SpreadStat, v: Option<f64>) -> String {
    match (stat.is_latency(), v) {
        (true, v) => format_ms(v),
        (false, Some(rate)) => format!("{rate:.1}"),
        (false, None) => "-".into(),
    }
}

fn cv_pct(s: &StatSpread) -> String {
    s.cv.map_or_else(|| "-".into(), |cv| format!("{:.1}%", cv * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> RepeatSummary {
        let stats = SpreadStat::ALL
            .into_iter()
            .map(|s| (s, StatSpread::of(vec![Some(10.0), Some(12.0), None])))
            .collect();
        RepeatSummary {
            schema: REPEAT_SCHEMA,
            scenario: "smoke".into(),
            scenario_sha256: "ab".repeat(32),
            seed: 7,
            count: 3,
            cooldown_s: 5.0,
            interrupted: true,
            exit_code: 130,
            runs: (1..=3)
                .map(|i| RepeatRun {
                    index: i,
                    dir: PathBuf::from(i.to_string()),
                    run_id: Some(format!("{i:08x}")),
                    exit_code: if i == 3 { 130 } else { 0 },
                    in_spread: i < 3,
                })
                .collect(),
            metrics: BTreeMap::from([("message.e2e".to_string(), stats)]),
        }
    }

    #[test]
    fn repeat_json_round_trips_with_stat_keys() {
        let r = summary();
        let json = serde_json::to_value(&r).unwrap_or_default();
        let p95 = &json["metrics"]["message.e2e"]["p95_ms"];
        assert_eq!(p95["values"], serde_json::json!([10.0, 12.0, null]));
        assert_eq!(p95["median"], 11.0);
        assert_eq!(json["runs"][2]["in_spread"], false);
        let back: RepeatSummary = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, r);
    }

    #[test]
    fn printed_spread_shows_each_figure_and_the_runs() {
        let mut out = Vec::new();
        print_repeat(&summary(), Path::new("runs/A"), &mut out).expect("printed");
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("2 of 3 repetitions measured whole"), "{text}");
        for stat in ["p50", "p95", "p99", "rate/s"] {
            assert!(text.contains(&format!(" {stat} ")), "{stat}: {text}");
        }
        assert!(text.contains("11.0ms"), "median: {text}");
        assert!(text.contains("10.0ms – 12.0ms"), "min – max: {text}");
        assert!(text.contains("12.9%"), "CV: {text}");
        assert!(text.contains("runs/A/1  exit 0\n"), "{text}");
        assert!(
            text.contains("runs/A/3  exit 130  (not in the spread)"),
            "{text}"
        );
        assert!(
            text.contains("interrupted: 3 of 3 repetitions ran"),
            "{text}"
        );
    }
}
