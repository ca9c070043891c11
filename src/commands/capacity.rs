//! `rocketload capacity`: flags and the scenario's `capacity:` block ->
//! search config -> one preparation -> the search, a table line per step
//! -> `capacity.json` -> exit code.

use std::path::PathBuf;
use std::time::Duration;

use super::run::{on_prepared, scrape_config, socket_warning, stamped_dir};
use crate::capacity::outcome::{self, Capacity, fmt_load};
use crate::capacity::search::{Bounds, StepVerdict};
use crate::capacity::sizing::HostSize;
use crate::capacity::step::Step;
use crate::capacity::{self, Config, Observer, Verdict, unit_label};
use crate::cli::{CapacityArgs, SearchArgs};
use crate::engine::Overrides;
use crate::results::{Host, IntervalSink, Progress, write_json};
use crate::runner::{Exit, Measure, Planned, RunRequest, report_error};
use crate::scenario::validate::produced_metrics;
use crate::scenario::{Model, Slo};

const DEFAULT_MIN: f64 = 10.0;
const DEFAULT_HOLD: Duration = Duration::from_secs(30);
const DEFAULT_SETTLE: Duration = Duration::from_secs(10);
const DEFAULT_RESOLUTION: f64 = 0.05;
const DEFAULT_REPEATS: u32 = 2;

pub fn run(args: CapacityArgs) -> u8 {
    let request = RunRequest {
        scenario: args.scenario.clone(),
        targets: args.targets.clone(),
        overrides: Overrides::default(),
        shard: None,
        skip_provision: args.skip_provision,
        admin_password_file: args.access.admin_password_file.clone(),
        accept_rate_limits: args.limits.accept_rate_limits,
        configure_target: args.limits.configure_target,
        insecure: args.access.insecure,
        ..RunRequest::default()
    };
    let mut planned = match Planned::resolve(request) {
        Ok(p) => p,
        Err(e) => {
            report_error(&e);
            return e.exit().code();
        }
    };
    let scrape = match scrape_config(&args.scrape) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let cfg = match config(&args, &mut planned) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let peak = match planned.scenario.load.model {
        Model::Closed => cfg.bounds.max.ceil() as u64,
        Model::Open => planned.peak_vus(),
    };
    if let Some(w) = socket_warning(peak, super::raise_open_file_limit()) {
        planned.warnings.push(w);
    }
    for w in &planned.warnings {
        eprintln!("{w}");
    }
    let model = planned.scenario.load.model;
    let header = describe(&cfg, model);
    let base = Measure {
        command: std::env::args().collect(),
        scrape,
        ..Measure::default()
    };
    let mut table = Table {
        slos: cfg.slos.clone(),
        model,
        step_secs: (cfg.settle + cfg.hold).as_secs_f64(),
        quiet: args.quiet,
        printed_header: false,
        server: base.scrape.is_some(),
    };
    let done = on_prepared(
        planned,
        args.quiet,
        Some(header),
        async |prepared, interrupt| {
            let base = Measure {
                interrupt: Some(interrupt.clone()),
                ..base.clone()
            };
            capacity::run(prepared, &cfg, &base, &mut table).await
        },
    );
    let (capacity, error) = match done {
        Ok(Ok(c)) => (c, None),
        Ok(Err((e, c))) => (c, Some(e)),
        Err(e) => {
            report_error(&e);
            return e.exit().code();
        }
    };
    if let Some(e) = &error {
        report_error(e);
    }
    print_result(&capacity, &cfg, model);
    let file = cfg.out.join(outcome::FILE);
    let written = write_json(&file, &capacity);
    println!(
        "results: {} (steps in {})",
        file.display(),
        cfg.out.join("steps").display()
    );
    let exit = match (&error, capacity.interrupted, &written) {
        (_, true, _) => Exit::Interrupted,
        (_, _, Err(e)) => {
            report_error(e);
            Exit::WriteFailed
        }
        (Some(e), _, _) => e.exit(),
        (None, false, Ok(())) => exit_of(&capacity),
    };
    exit.code()
}

/// 0 when the search answered (found, or at least --max); 1 when the
/// answer is "no" or none: below --min, void, incomplete, or a shortfall
/// against Rocket.Chat's table.
fn exit_of(c: &Capacity) -> Exit {
    let shortfall = c.sizing.as_ref().is_some_and(|s| s.shortfall);
    let answered = match c.verdict {
        Verdict::Found => true,
        Verdict::NotFound => c.low.is_some(),
        Verdict::Void | Verdict::Incomplete => false,
    };
    if answered && !shortfall {
        Exit::Pass
    } else {
        Exit::ThresholdsFailed
    }
}

/// [`search_config`] with the command's own flags: output, sizing, fit.
fn config(args: &CapacityArgs, planned: &mut Planned) -> Result<Config, String> {
    let mut cfg = search_config(&args.search, planned)?;
    if args.fit.is_some() && planned.scenario.load.model == Model::Open {
        return Err("--fit usl relates concurrency to throughput, but an open model sets the throughput itself: fit it to a closed scenario".into());
    }
    cfg.fit_usl = args.fit.is_some();
    if args.sizing {
        cfg.sizing = Some(host_size(args, planned)?);
    }
    cfg.out = args
        .out
        .clone()
        .unwrap_or_else(|| stamped_dir("results/capacity", &planned.scenario.name));
    Ok(cfg)
}

/// The search the flags and the scenario's `capacity:` block ask for;
/// flags win, flag SLOs add to the block's (`out` still empty).
pub(super) fn search_config(args: &SearchArgs, planned: &mut Planned) -> Result<Config, String> {
    let scenario = &planned.scenario;
    let block = scenario.capacity.clone().unwrap_or_default();
    let model = scenario.load.model;
    let mut slos: Vec<Slo> = block.slo.clone();
    slos.extend(args.slos.iter().cloned());
    if slos.is_empty() {
        return Err("no SLO: give --slo EXPR (e.g. --slo 'message.e2e p95<500ms'), or list them in the scenario's `capacity.slo`".into());
    }
    crate::capacity::slo::check(&slos, &produced_metrics(scenario))?;
    let unit = unit_label(model);
    let min = args.min.or(block.min).unwrap_or(DEFAULT_MIN);
    let max = match (args.max.or(block.max), model) {
        (Some(m), _) => m,
        (None, Model::Closed) => f64::from(scenario.users.count),
        (None, Model::Open) => {
            return Err("the open model needs --max (the highest arrival rate to try), or `capacity.max` in the scenario".into());
        }
    };
    if model == Model::Closed && (min.fract() != 0.0 || max.fract() != 0.0) {
        return Err(format!(
            "--min {min} / --max {max}: VUs are whole numbers (the closed model)"
        ));
    }
    if min > max {
        return Err(format!(
            "--min {} {unit} is above --max {} {unit}",
            fmt_load(min),
            fmt_load(max)
        ));
    }
    if model == Model::Closed && max > f64::from(scenario.users.count) {
        planned.warnings.push(format!(
            "warning: --max {} VUs exceeds users.count {}: VUs beyond it share user accounts",
            fmt_load(max),
            scenario.users.count
        ));
    }
    let hold = args.hold.or(block.hold).unwrap_or(DEFAULT_HOLD);
    if hold < Duration::from_secs(1) {
        return Err("--hold under 1s: a step is measured in one-second intervals".into());
    }
    Ok(Config {
        slos,
        bounds: Bounds {
            min,
            max,
            resolution: args
                .resolution
                .or(block.resolution)
                .unwrap_or(DEFAULT_RESOLUTION),
            repeats: args.repeats.or(block.repeats).unwrap_or(DEFAULT_REPEATS),
            whole: model == Model::Closed,
        },
        hold,
        settle: args.settle.or(block.settle).unwrap_or(DEFAULT_SETTLE),
        out: PathBuf::new(),
        fit_usl: false,
        sizing: None,
    })
}

/// The Rocket.Chat host's size: the flags, else this host's fingerprint
/// when the target runs here (the embedded server, or loopback URLs).
fn host_size(args: &CapacityArgs, planned: &Planned) -> Result<HostSize, String> {
    if let Some(cores) = args.host_cores {
        return Ok(HostSize {
            cores,
            memory_bytes: args.host_memory,
            source: "flags".into(),
        });
    }
    let local = match &planned.target {
        crate::runner::Target::Embedded => true,
        crate::runner::Target::Urls(urls) => urls.iter().all(|u| is_loopback(u)),
    };
    if !local {
        return Err("--sizing needs the Rocket.Chat host's size for a remote target: give --host-cores N (and --host-memory SIZE)".into());
    }
    let host = Host::current();
    let cores = host
        .cpu_quota_cores
        .map_or(f64::from(host.cores), |q| q.min(f64::from(host.cores)));
    let memory = match (host.memory_bytes, host.memory_limit_bytes) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    };
    Ok(HostSize {
        cores,
        memory_bytes: args.host_memory.or(memory),
        source: "fingerprint".into(),
    })
}

fn is_loopback(url: &str) -> bool {
    url::Url::parse(url).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    })
}

/// What the search will do, printed before provisioning.
fn describe(cfg: &Config, model: Model) -> String {
    let unit = unit_label(model);
    let b = &cfg.bounds;
    format!(
        "capacity search: {} to {} {unit}, doubling then bisecting to {}%, {} repeat(s) of each boundary; \
         each step settles {} then holds {}; SLOs: {}; results in {}",
        fmt_load(b.min),
        fmt_load(b.max),
        b.resolution * 100.0,
        b.repeats,
        humantime::format_duration(cfg.settle),
        humantime::format_duration(cfg.hold),
        cfg.slos
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        cfg.out.display()
    )
}

/// The step table, printed as the search goes.
pub(super) struct Table {
    slos: Vec<Slo>,
    model: Model,
    step_secs: f64,
    quiet: bool,
    printed_header: bool,
    /// `--scrape` given: the server's CPU and event-loop lag get columns.
    server: bool,
}

impl Table {
    fn widths(&self) -> Vec<usize> {
        self.slos
            .iter()
            .map(|s| s.to_string().len().max(8))
            .collect()
    }
}

impl Observer for Table {
    fn sinks(&mut self, _index: usize, _load: f64) -> Vec<Box<dyn IntervalSink>> {
        let total = Duration::from_secs_f64(self.step_secs);
        vec![Box::new(Progress::new(total, self.quiet).sink())]
    }

    fn step(&mut self, s: &Step) {
        let widths = self.widths();
        if !std::mem::replace(&mut self.printed_header, true) {
            let mut line = format!("{:>4}  {:>18}  {:<7}", "step", "load", "verdict");
            for (slo, w) in self.slos.iter().zip(&widths) {
                line.push_str(&format!("  {:>w$}", slo.to_string()));
            }
            line.push_str(&format!("  {:>10}", "ops/s"));
            if self.server {
                line.push_str(&format!("  {:>10}  {:>9}", "server CPU", "lag max"));
            }
            println!("{line}");
        }
        let verdict = match s.verdict {
            StepVerdict::Fail => "FAIL",
            v => v.as_str(),
        };
        let load = format!("{} {}", fmt_load(s.load), unit_label(self.model));
        let mut line = format!("{:>4}  {load:>18}  {verdict:<7}", s.index);
        for ((slo, r), w) in self.slos.iter().zip(&s.slos).zip(&widths) {
            let mark = if r.passed { "" } else { " x" };
            line.push_str(&format!("  {:>w$}", format!("{}{mark}", r.value_text(slo))));
        }
        line.push_str(&format!("  {:>10.1}", s.throughput_per_s));
        if self.server {
            let load = s.server.as_ref();
            let cpu = load.and_then(|l| l.cpu_pct_avg);
            let lag = load.and_then(|l| l.lag_ms_max);
            line.push_str(&format!(
                "  {:>10}  {:>9}",
                cpu.map_or("-".into(), |c| format!("{c:.0}%")),
                lag.map_or("-".into(), |l| format!("{l:.1}ms"))
            ));
        }
        println!("{line}");
        if s.verdict == StepVerdict::Void
            && let Some(why) = &s.reason
        {
            println!("      void: {why}");
        }
    }
}

/// How the scraped server carried the highest load that held and the
/// lowest that failed (the last step measured at each): which resource
/// moved at the boundary.
fn server_at_boundary(c: &Capacity, model: Model) -> Option<String> {
    let at = |load: Option<f64>| {
        let load = load?;
        let step = c.steps.iter().rev().find(|s| s.load == load)?;
        let server = step.server?;
        let cpu = server
            .cpu_pct_avg
            .map_or("-".into(), |v| format!("{v:.0}%"));
        let lag = server
            .lag_ms_max
            .map_or("-".into(), |v| format!("{v:.1} ms"));
        Some(format!(
            "{} {}: CPU {cpu}, event-loop lag max {lag}",
            fmt_load(load),
            unit_label(model)
        ))
    };
    let parts: Vec<String> = [at(c.low), at(c.high)].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| format!("server: {}", parts.join("; ")))
}

/// The answer, the bracket, what bound it, the sizing and the model.
fn print_result(c: &Capacity, cfg: &Config, model: Model) {
    println!();
    println!("{}", c.summary);
    if let (Some(low), Some(high)) = (c.low, c.high) {
        println!(
            "bracket: [{}, {}] {} ({:.1}% wide; resolution {}%, {} repeat(s) per boundary)",
            fmt_load(low),
            fmt_load(high),
            unit_label(model),
            (high - low) / low * 100.0,
            cfg.bounds.resolution * 100.0,
            cfg.bounds.repeats
        );
    }
    if let Some(line) = server_at_boundary(c, model) {
        println!("{line}");
    }
    if let Some(s) = &c.sizing {
        println!("sizing: {}", s.text);
    } else if cfg.sizing.is_some() {
        println!("sizing: no verdict, the search found no capacity to hold against the table");
    }
    if let Some(u) = &c.usl {
        let peak = match (u.peak_load, u.peak_throughput) {
            (Some(n), Some(x)) => format!("peak {x:.1} ops/s at {n:.0} {}", unit_label(model)),
            _ => "no peak (throughput only flattens)".into(),
        };
        println!(
            "model (USL fit to {} loads, not the capacity): lambda {:.3} ops/s per VU, sigma {:.4}, kappa {:.6}, r^2 {:.3}; {peak}",
            u.points, u.lambda, u.sigma, u.kappa, u.r_squared
        );
    }
    println!("search: {} step(s) in {:.0} s", c.steps.len(), c.elapsed_s);
}
