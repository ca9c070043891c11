//! `rocketload scaling`: flags -> one plan per set -> every set prepared
//! (its own embedded server, or its URLs checked and provisioned) ->
//! interleaved rounds -> a table of the sets and the verdict ->
//! `scaling.json` -> exit code.

use std::time::Duration;

use super::capacity::search_config;
use super::run::{socket_warning, stamped_dir};
use crate::capacity::outcome::fmt_load;
use crate::capacity::scaling::{self, Header, JudgedBy, Method, SetRun, SetSpec};
use crate::capacity::step::Step;
use crate::capacity::{unit_label, unit_of};
use crate::cli::ScalingArgs;
use crate::engine::Overrides;
use crate::metrics::is_operation;
use crate::metrics::names::MESSAGE_E2E;
use crate::results::{Host, IntervalSink, Progress, write_json};
use crate::runner::{
    Exit, Planned, Prepared, Restart, RestartHow, RunError, RunRequest, SHUTDOWN_GRACE, Target,
    report_error,
};
use crate::scenario::{self, Model};

const DEFAULT_SETTLE: Duration = Duration::from_secs(10);
const DEFAULT_HOLD: Duration = Duration::from_secs(30);

pub fn run(args: ScalingArgs) -> u8 {
    let mut planned = match plans(&args) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let Some((_, first)) = planned.first() else {
        return fail(&RunError::Plan("no set to measure".into()));
    };
    let model = first.scenario.load.model;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| stamped_dir("results/scaling", &first.scenario.name));
    let method = match method(&args, &mut planned, &out) {
        Ok(m) => m,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let open_files = super::raise_open_file_limit();
    // The scenario's warnings are every set's: each once.
    let mut warned = std::collections::BTreeSet::new();
    for w in planned.iter().flat_map(|(_, p)| &p.warnings) {
        if warned.insert(w) {
            eprintln!("{w}");
        }
    }
    let peak: u64 = planned.iter().map(|(_, p)| p.peak_vus()).max().unwrap_or(0);
    if let Some(w) = socket_warning(peak, open_files) {
        eprintln!("{w}");
    }
    let header = Header {
        mode: if args.local.is_empty() {
            "sets"
        } else {
            "local"
        }
        .into(),
        unit: unit_of(model).into(),
        host_cores: Host::current().cores,
    };
    if !args.quiet {
        eprintln!("{}", describe(&planned, &method, args.repeat, model));
    }
    let runtime = match crate::runner::runtime() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut observer = Lines {
        quiet: args.quiet,
        step_secs: match &method {
            Method::Fixed { settle, hold, .. } => (*settle + *hold).as_secs_f64(),
            Method::Capacity(c) => (c.settle + c.hold).as_secs_f64(),
        },
        model,
    };
    let done = runtime.block_on(async {
        let mut sets: Vec<(SetSpec, Prepared)> = Vec::new();
        for (spec, p) in planned {
            let bar = Progress::provisioning(args.quiet);
            if !args.quiet {
                eprintln!("preparing {} ({} instance(s))", spec.name, spec.instances);
            }
            let prepared = p.prepare(&bar, None).await;
            bar.finish();
            match prepared {
                Ok(prepared) => {
                    // An embedded set's ports are known only now.
                    let spec = SetSpec {
                        urls: prepared.targets.clone(),
                        ..spec
                    };
                    sets.push((spec, prepared));
                }
                Err(e) => {
                    finish(sets).await;
                    return Err(e);
                }
            }
        }
        let (result, error) =
            scaling::run(&sets, &method, args.repeat, &out, &header, &mut observer).await;
        finish(sets).await;
        Ok((result, error))
    });
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    let (result, error) = match done {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    if let Some(e) = &error {
        report_error(e);
    }
    print_sets(&result, model);
    let file = out.join(scaling::FILE);
    let written = write_json(&file, &result);
    println!(
        "results: {} (runs in {}/SET/ROUND)",
        file.display(),
        out.display()
    );
    let missing = result
        .sets
        .iter()
        .any(|s| scaling::figure(s, result.judged_by).is_none());
    let exit = match (&error, result.interrupted, &written) {
        (_, true, _) => Exit::Interrupted,
        (_, _, Err(e)) => {
            report_error(e);
            Exit::WriteFailed
        }
        (Some(e), _, _) => e.exit(),
        _ if missing => Exit::ThresholdsFailed,
        _ => Exit::Pass,
    };
    exit.code()
}

async fn finish(sets: Vec<(SetSpec, Prepared)>) {
    for (_, p) in sets {
        p.finish().await;
    }
}

fn fail(e: &RunError) -> u8 {
    report_error(e);
    e.exit().code()
}

/// One plan per set, all of one scenario read once: `--local` sets start
/// their own embedded server with that many instances, `--set`s go to
/// their URLs.
fn plans(args: &ScalingArgs) -> Result<Vec<(SetSpec, Planned)>, RunError> {
    let specs: Vec<SetSpec> = args
        .local
        .iter()
        .map(|&n| SetSpec {
            name: format!("local-{n}"),
            instances: n,
            urls: Vec::new(),
        })
        .chain(args.sets.iter().map(|(name, urls)| SetSpec {
            name: name.clone(),
            instances: urls.len() as u32,
            urls: urls.clone(),
        }))
        .collect();
    let loaded = scenario::load_with_warnings(&args.scenario).map_err(RunError::Scenario)?;
    let mut out: Vec<(SetSpec, Planned)> = Vec::new();
    for spec in specs {
        if out.iter().any(|(s, _)| s.name == spec.name) {
            return Err(RunError::Plan(format!("set `{}` given twice", spec.name)));
        }
        let local = spec.urls.is_empty();
        let request = RunRequest {
            scenario: args.scenario.clone(),
            targets: spec.urls.clone(),
            overrides: Overrides {
                vus: args.vus,
                rate: args.rate,
                ..Overrides::default()
            },
            skip_provision: args.skip_provision,
            admin_password_file: args.access.admin_password_file.clone(),
            accept_rate_limits: args.limits.accept_rate_limits,
            configure_target: args.limits.configure_target,
            insecure: args.access.insecure,
            instances: local.then_some(spec.instances as usize),
            ..RunRequest::default()
        };
        let planned = Planned::from_loaded(request, loaded.clone())?;
        if local && planned.target != Target::Embedded {
            return Err(RunError::Plan(
                "--local starts the embedded server, but the scenario has `target.urls`: use --set NAME=URL,... for external deployments".into(),
            ));
        }
        out.push((spec, planned));
    }
    Ok(out)
}

/// A fixed load (the scenario's peak unless --vus/--rate), or a search.
fn method(
    args: &ScalingArgs,
    planned: &mut [(SetSpec, Planned)],
    out: &std::path::Path,
) -> Result<Method, String> {
    // Every set runs the same scenario: the first one's stands for all.
    let Some((_, first)) = planned.first_mut() else {
        return Err("no set".into());
    };
    if args.capacity {
        let mut cfg = search_config(&args.search, first)?;
        cfg.out = out.to_path_buf();
        return Ok(Method::Capacity(Box::new(cfg)));
    }
    let slos: Vec<_> = first
        .scenario
        .capacity
        .iter()
        .flat_map(|c| c.slo.iter().cloned())
        .chain(args.search.slos.iter().cloned())
        .collect();
    crate::capacity::slo::check(
        &slos,
        &crate::scenario::validate::produced_metrics(&first.scenario),
    )?;
    let block = first.scenario.capacity.clone().unwrap_or_default();
    let settle = args
        .search
        .settle
        .or(block.settle)
        .unwrap_or(DEFAULT_SETTLE);
    let hold = args.search.hold.or(block.hold).unwrap_or(DEFAULT_HOLD);
    let restart = match (args.restart_after, &args.restart_cmd) {
        (None, _) => None,
        (Some(after), _) if after >= settle + hold => {
            return Err(format!(
                "--restart-after {} is not inside the run ({} settle + {} hold)",
                humantime::format_duration(after),
                humantime::format_duration(settle),
                humantime::format_duration(hold)
            ));
        }
        (Some(after), Some(cmd)) => Some(Restart {
            after,
            how: RestartHow::Command(cmd.clone()),
        }),
        (Some(_), None) if args.local.is_empty() => {
            return Err("--restart-after with --set needs --restart-cmd CMD (how to restart one instance of a set)".into());
        }
        (Some(after), None) => Some(Restart {
            after,
            how: RestartHow::Embedded {
                instance: 0,
                down: args.restart_down,
            },
        }),
    };
    Ok(Method::Fixed {
        load: first.plan.profile().peak(),
        settle,
        hold,
        slos,
        restart,
    })
}

fn describe(planned: &[(SetSpec, Planned)], method: &Method, rounds: u32, model: Model) -> String {
    let names: Vec<String> = planned
        .iter()
        .map(|(s, _)| format!("{} ({})", s.name, s.instances))
        .collect();
    let how = match method {
        Method::Fixed {
            load, settle, hold, ..
        } => format!(
            "each at {} {} (settle {}, hold {})",
            fmt_load(*load),
            unit_label(model),
            humantime::format_duration(*settle),
            humantime::format_duration(*hold)
        ),
        Method::Capacity(c) => format!(
            "each by a capacity search from {} to {} {}",
            fmt_load(c.bounds.min),
            fmt_load(c.bounds.max),
            unit_label(model)
        ),
    };
    format!(
        "scaling: sets {}, {how}; {rounds} round(s), interleaved",
        names.join(", ")
    )
}

/// A line per run (and per search step) as the experiment goes.
struct Lines {
    quiet: bool,
    step_secs: f64,
    model: Model,
}

impl scaling::Observer for Lines {
    fn sinks(&mut self) -> Vec<Box<dyn IntervalSink>> {
        let total = Duration::from_secs_f64(self.step_secs);
        vec![Box::new(Progress::new(total, self.quiet).sink())]
    }

    fn search_step(&mut self, set: &str, s: &Step) {
        println!(
            "  {set}: step {} at {} {}: {:?}, {:.1} ops/s{}",
            s.index,
            fmt_load(s.load),
            unit_label(self.model),
            s.verdict,
            s.throughput_per_s,
            s.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }

    fn run(&mut self, set: &SetSpec, run: &SetRun) {
        let what = match (&run.verdict, &run.step) {
            (Some(v), _) => format!(
                "{v:?}, capacity {}",
                run.capacity.map_or_else(
                    || "-".into(),
                    |c| format!("{} {}", fmt_load(c), unit_label(self.model))
                )
            ),
            (None, Some(s)) => format!(
                "{:.1} ops/s{}",
                s.throughput_per_s,
                match s.verdict {
                    crate::capacity::search::StepVerdict::Void =>
                        format!(" VOID: {}", s.reason.clone().unwrap_or_default()),
                    _ => String::new(),
                }
            ),
            (None, None) => "not measured".into(),
        };
        println!(
            "{} round {}: {what} -> {}",
            set.name,
            run.round,
            run.dir.display()
        );
    }
}

/// The sets side by side, then the verdict.
fn print_sets(s: &scaling::Scaling, model: Model) {
    let shown = shown_metrics(s);
    let mut head = format!(
        "\n{:<14} {:>9} {:>12} {:>17}",
        "set", "instances", "ops/s", "spread"
    );
    if s.judged_by == JudgedBy::Capacity {
        head.push_str(&format!(
            " {:>14}",
            format!("capacity {}", unit_label(model))
        ));
    }
    for m in &shown {
        head.push_str(&format!(" {:>22}", format!("{m} p95/p99 ms")));
    }
    head.push_str(&format!(" {:>10}", "efficiency"));
    println!("{head}");
    for set in &s.sets {
        let mut line = format!(
            "{:<14} {:>9} {:>12} {:>17}",
            set.spec.name,
            set.spec.instances,
            set.throughput_per_s
                .map_or_else(|| "-".into(), |t| format!("{t:.1}")),
            set.spread
                .map_or_else(|| "-".into(), |(lo, hi)| format!("{lo:.1}..{hi:.1}"))
        );
        if s.judged_by == JudgedBy::Capacity {
            line.push_str(&format!(
                " {:>14}",
                set.capacity.map_or_else(|| "-".into(), fmt_load)
            ));
        }
        for m in &shown {
            let f = set.metrics.get(m);
            let v = |x: Option<f64>| x.map_or_else(|| "-".into(), |v| format!("{v:.1}"));
            line.push_str(&format!(
                " {:>22}",
                format!(
                    "{}/{}",
                    v(f.and_then(|f| f.p95_ms)),
                    v(f.and_then(|f| f.p99_ms))
                )
            ));
        }
        line.push_str(&format!(
            " {:>10}",
            set.efficiency
                .map_or_else(|| "-".into(), |e| format!("{:.0}%", e * 100.0))
        ));
        println!("{line}");
    }
    for set in &s.sets {
        if let Some(r) = &set.recovery {
            println!("{} recovery: {}", set.spec.name, r.describe());
        }
    }
    println!("\n{}", s.verdict);
}

/// message.e2e when recorded, then the busiest operations: three at most.
fn shown_metrics(s: &scaling::Scaling) -> Vec<String> {
    let Some(first) = s.sets.iter().find(|set| !set.metrics.is_empty()) else {
        return Vec::new();
    };
    let mut ops: Vec<(&String, u64)> = first
        .metrics
        .iter()
        .filter(|(n, _)| is_operation(n) && n.as_str() != "errors")
        .map(|(n, f)| (n, f.count))
        .collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut shown: Vec<String> = first
        .metrics
        .keys()
        .filter(|n| n.as_str() == MESSAGE_E2E)
        .cloned()
        .collect();
    shown.extend(ops.into_iter().map(|(n, _)| n.clone()));
    shown.truncate(3);
    shown
}
