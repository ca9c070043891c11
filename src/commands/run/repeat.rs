//! `run --repeat N`: one line per repetition as it ends, `OUT/repeat.json`
//! rewritten after each (so Ctrl-C or a crash keeps the spread so far),
//! and at the end the spread printed with how to compare.

use std::path::Path;

use super::{on_prepared, report_measurement_errors};
use crate::cli::RunArgs;
use crate::metrics::is_operation;
use crate::results::live::LiveMetrics;
use crate::results::spread::spread_of;
use crate::results::{
    REPEAT_FILE, REPEAT_SCHEMA, RepeatRun, RepeatSummary, print_repeat, thresholds_verdict,
    write_json,
};
use crate::runner::{
    Exit, Measure, Planned, Prepared, Repeat, Repetition, exit_of_repetitions, report_error,
};

/// The repetitions the flags ask for: `None` for one run (`--repeat 1`
/// is a plain run). Refuses flags that cannot apply to repetitions.
pub(super) fn of(args: &RunArgs) -> Result<Option<Repeat>, String> {
    if args.repeat <= 1 {
        return Ok(None);
    }
    if !args.export.is_empty() {
        return Err(
            "--export writes one run's results, but --repeat writes one run per repetition \
             (OUT/1..N): export one with `rocketload report OUT/I -o FILE`"
                .into(),
        );
    }
    if args.start_at.is_some() {
        return Err(
            "--start-at aligns the start of one run across shards, but repetitions after the \
             first would drift apart: run each repetition with its own --start-at"
                .into(),
        );
    }
    Ok(Some(Repeat {
        count: args.repeat,
        cooldown: args.cooldown,
    }))
}

/// Measures `repeat.count` times into `base.out/1..N`, then prints the
/// spread. Exit: the worst repetition's, 74 when `repeat.json` could not
/// be written.
pub(super) fn run(
    planned: Planned,
    base: &Measure,
    repeat: Repeat,
    quiet: bool,
    live: Option<&LiveMetrics>,
) -> u8 {
    let total = planned.plan.total_duration();
    let out = base.out.as_path();
    let done = on_prepared(planned, quiet, None, async |prepared, interrupt| {
        let base = &Measure {
            interrupt: Some(interrupt.clone()),
            ..base.clone()
        };
        let file = out.join(REPEAT_FILE);
        // Rewritten as the repetitions end (replacing one an earlier run
        // left here); the last write decides the exit.
        let mut warned = false;
        let mut keep = |runs: &[Repetition]| {
            let so_far = summary_of(prepared, repeat, out, runs, false);
            if let Err(e) = write_json(&file, &so_far)
                && !std::mem::replace(&mut warned, true)
            {
                eprintln!("warning: {} not updated:", file.display());
                report_error(&e);
            }
        };
        keep(&[]);
        let mut sinks = |_| super::sinks(total, quiet, live);
        let mut finished = |runs: &[Repetition]| {
            if let Some(run) = runs.last() {
                if !quiet {
                    eprintln!("{}", line(run, repeat.count));
                }
                report_errors(run);
            }
            keep(runs);
        };
        let repeated = prepared
            .repeat(repeat, base, &mut sinks, &mut finished)
            .await;
        let summary = summary_of(prepared, repeat, out, &repeated.runs, repeated.interrupted);
        let written = write_json(&file, &summary);
        (summary, repeated.exit(), written.err())
    });
    let (summary, exit, write_error) = match done {
        Ok(done) => done,
        Err(e) => {
            report_error(&e);
            return e.exit().code();
        }
    };
    let _ = print_repeat(&summary, out, &mut std::io::stdout().lock());
    let exit = match &write_error {
        Some(e) => {
            report_error(e);
            Exit::worst([exit, Exit::WriteFailed])
        }
        None => exit,
    };
    match summary.runs.len() {
        0 => println!("\nresults: no repetition ran"),
        n => println!(
            "\nresults: {} (repetitions in {}/1..{n}, spread in {})",
            out.display(),
            out.display(),
            out.join(REPEAT_FILE).display()
        ),
    }
    println!(
        "compare: rocketload compare {} CANDIDATE_DIR [--fail-on-regression 10%]",
        out.display()
    );
    exit.code()
}

/// `repetition 2/5: 30.0 s measured, 9120 operations, 0 errors, all 6
/// thresholds passed, exit 0 -> OUT/2`.
fn line(run: &Repetition, count: u32) -> String {
    let what = match &run.result {
        Ok(m) if m.interrupted => {
            format!("interrupted after {:.1} s", m.summary.run.duration_s)
        }
        Ok(m) => {
            let s = &m.summary;
            let (ops, errors) = s
                .metrics
                .iter()
                .filter(|(name, _)| is_operation(name))
                .fold((0, 0), |(o, e), (_, m)| (o + m.count, e + m.errors));
            format!(
                "{:.1} s measured, {ops} operations, {errors} errors, {}",
                s.run.duration_s,
                thresholds_verdict(&s.thresholds)
            )
        }
        Err(_) => "not measured".into(),
    };
    format!(
        "repetition {}/{count}: {what}, exit {} -> {}",
        run.index,
        run.exit().code(),
        run.dir.display()
    )
}

fn report_errors(run: &Repetition) {
    match &run.result {
        Ok(m) => report_measurement_errors(m),
        Err(e) => report_error(e),
    }
}

/// `repeat.json` of the repetitions so far.
fn summary_of(
    prepared: &Prepared,
    repeat: Repeat,
    out: &Path,
    runs: &[Repetition],
    interrupted: bool,
) -> RepeatSummary {
    let counted: Vec<_> = runs.iter().map(Repetition::complete_summary).collect();
    RepeatSummary {
        schema: REPEAT_SCHEMA,
        scenario: prepared.scenario.name.clone(),
        scenario_sha256: prepared.scenario_sha256.clone(),
        seed: prepared.seed,
        count: repeat.count,
        cooldown_s: repeat.cooldown.as_secs_f64(),
        interrupted,
        exit_code: exit_of_repetitions(runs, interrupted).code(),
        runs: runs
            .iter()
            .zip(&counted)
            .map(|(run, counted)| RepeatRun {
                index: run.index,
                dir: run.dir.strip_prefix(out).unwrap_or(&run.dir).to_path_buf(),
                run_id: run
                    .result
                    .as_ref()
                    .ok()
                    .map(|m| m.summary.run.info.id.clone()),
                exit_code: run.exit().code(),
                in_spread: counted.is_some(),
            })
            .collect(),
        metrics: spread_of(&counted),
    }
}
