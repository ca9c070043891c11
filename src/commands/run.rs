//! `rocketload run`: flags -> plan -> runner -> print -> exit code; with
//! `--repeat N`, [`repeat`] measures N times on the one preparation.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::cli::{RunArgs, ScrapeArgs};
use crate::engine::Overrides;
use crate::results::export::Format;
use crate::results::live::{Linger, LiveMetrics, LiveServer};
use crate::results::{IntervalSink, Progress, print_summary};
use crate::runner::{
    Exit, Interrupt, Measure, Measurement, Planned, Prepared, RunError, RunRequest, SHUTDOWN_GRACE,
    exit_of, report_error,
};
use crate::scrape::{ScrapeConfig, Selector};

mod repeat;

pub fn run(args: RunArgs) -> u8 {
    let exports = match export_formats(&args.export, args.format)
        .and_then(|e| intervals_need_csv(&args, e))
    {
        Ok(e) => e,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let repeat = match repeat::of(&args) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let scrape = match scrape_config(&args.scrape) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("error: {msg}");
            return Exit::BadInput.code();
        }
    };
    let request = RunRequest {
        scenario: args.scenario.clone(),
        targets: args.targets.clone(),
        overrides: Overrides {
            duration: args.duration,
            vus: args.vus,
            rate: args.rate,
        },
        shard: args.shard,
        skip_provision: args.skip_provision,
        admin_password_file: args.access.admin_password_file.clone(),
        accept_rate_limits: args.limits.accept_rate_limits,
        configure_target: args.limits.configure_target,
        insecure: args.access.insecure,
        ..RunRequest::default()
    };
    let mut planned = match Planned::resolve(request) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if let Some(w) = socket_warning(planned.peak_vus(), super::raise_open_file_limit()) {
        planned.warnings.push(w);
    }
    for w in &planned.warnings {
        eprintln!("{w}");
    }
    // Before any load (provisioning included), so a busy port costs nothing.
    let live = match args.metrics_listen.map(LiveServer::bind).transpose() {
        Ok(live) => live,
        Err(e) => {
            eprintln!("error: --metrics-listen {}: {}", e.addr, e.source);
            return Exit::BadInput.code();
        }
    };
    if let Some(server) = &live
        && !args.quiet
    {
        eprintln!("live metrics on {}", server.url());
    }
    let measure = Measure {
        out: args
            .out
            .out
            .clone()
            .unwrap_or_else(|| default_dir(&planned.scenario.name)),
        start_at: args.start_at,
        command: std::env::args().collect(),
        exports,
        export_intervals: args.intervals,
        scrape,
        ..Measure::default()
    };
    let metrics = live.as_ref().map(LiveServer::metrics);
    let code = match repeat {
        Some(r) => repeat::run(planned, &measure, r, args.quiet, metrics),
        None => once(planned, &measure, args.quiet, metrics),
    };
    if let Some(server) = live {
        linger(server, args.metrics_linger, args.quiet, code);
    }
    code
}

/// The sinks of one measurement: progress, and the live metrics when served.
pub(super) fn sinks(
    total: Duration,
    quiet: bool,
    live: Option<&LiveMetrics>,
) -> Vec<Box<dyn IntervalSink>> {
    let mut sinks: Vec<Box<dyn IntervalSink>> = vec![Box::new(Progress::new(total, quiet).sink())];
    if let Some(live) = live {
        sinks.push(Box::new(live.sink()));
    }
    sinks
}

/// Keeps the live metrics up until a scrape has read the final figures
/// (at most `bound`); not after an interrupted run.
fn linger(server: LiveServer, bound: Duration, quiet: bool, code: u8) {
    let bound = if code == Exit::Interrupted.code() {
        Duration::ZERO
    } else {
        bound
    };
    if !quiet && !bound.is_zero() {
        eprintln!(
            "live metrics: waiting up to {} for a final scrape of {} (--metrics-linger)",
            humantime::format_duration(bound),
            server.url()
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warning: live metrics stopped at once: no runtime to wait in: {e}");
            return;
        }
    };
    let outcome = runtime.block_on(server.linger(bound));
    if outcome == Linger::TimedOut && !quiet && !bound.is_zero() {
        eprintln!("live metrics: no scrape came; the last figures were not read");
    }
}

/// One measurement: its summary table, then where the results are.
fn once(planned: Planned, measure: &Measure, quiet: bool, live: Option<&LiveMetrics>) -> u8 {
    let total = planned.plan.total_duration();
    let result = on_prepared(planned, quiet, None, async |prepared, interrupt| {
        let measure = Measure {
            interrupt: Some(interrupt.clone()),
            ..measure.clone()
        };
        prepared.measure(&measure, sinks(total, quiet, live)).await
    })
    .and_then(|measured| measured);
    match &result {
        Ok(m) => {
            let _ = print_summary(&m.summary, &mut std::io::stdout().lock());
            println!("results: {}", m.dir.display());
            report_measurement_errors(m);
        }
        Err(e) => report_error(e),
    }
    exit_of(&result).code()
}

/// Makes the target ready once (printing `header`, by default the plan,
/// and provisioning progress), does `work` on it, then stops the embedded
/// server and the runtime. Ctrl-C is listened to before anything else, so
/// one during the preparation ends the run with exit 130 too; `work` gets
/// the listener to hand to its measurements.
pub(super) fn on_prepared<T>(
    planned: Planned,
    quiet: bool,
    header: Option<String>,
    work: impl AsyncFnOnce(&Prepared, &Interrupt) -> T,
) -> Result<T, RunError> {
    let runtime = crate::runner::runtime()?;
    let result = runtime.block_on(async {
        let (interrupt, listener) = Interrupt::listen();
        if !quiet {
            eprintln!("{}", header.unwrap_or_else(|| planned.plan.describe()));
        }
        let bar = Progress::provisioning(quiet);
        let prepared = planned.prepare(&bar, Some(&interrupt)).await;
        bar.finish();
        let prepared = prepared?;
        let done = work(&prepared, &interrupt).await;
        listener.abort();
        prepared.finish().await;
        Ok(done)
    });
    // VU tasks that ignore cancellation must not hold the exit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// What went wrong in a measurement that still has its summary.
fn report_measurement_errors(m: &Measurement) {
    if let Some(e) = &m.write_error {
        report_error(e);
    }
    if let Some(e) = &m.stopped_early {
        report_error(e);
    }
}

fn fail(e: &RunError) -> u8 {
    report_error(e);
    e.exit().code()
}

/// `--scrape` and `--scrape-match` as one config (none without a URL).
pub(super) fn scrape_config(args: &ScrapeArgs) -> Result<Option<ScrapeConfig>, String> {
    if args.urls.is_empty() {
        return Ok(None);
    }
    let selector = Selector {
        extra: args.matches.clone(),
    };
    ScrapeConfig::new(args.urls.clone(), selector).map(Some)
}

/// `--intervals` shapes CSV exports only: refused without one, as
/// `report --intervals` is, rather than silently doing nothing.
fn intervals_need_csv(
    args: &RunArgs,
    exports: Vec<(PathBuf, Format)>,
) -> Result<Vec<(PathBuf, Format)>, String> {
    if args.intervals && !exports.iter().any(|(_, f)| *f == Format::Csv) {
        return Err("--intervals applies to a CSV export only; give --export FILE.csv".into());
    }
    Ok(exports)
}

/// Each export file with the format `--format` gives, else the one its
/// extension names.
fn export_formats(
    files: &[PathBuf],
    format: Option<Format>,
) -> Result<Vec<(PathBuf, Format)>, String> {
    files
        .iter()
        .map(|f| match format.or_else(|| Format::from_path(f)) {
            Some(format) => Ok((f.clone(), format)),
            None => Err(format!(
                "--export {}: the extension names no format (known: {}); give --format",
                f.display(),
                Format::EXTENSIONS
            )),
        })
        .collect()
}

/// A VU holds its websocket and, while it uses REST, a keep-alive connection.
pub(super) fn socket_warning(peak_vus: u64, open_files: u64) -> Option<String> {
    (open_files > 0 && peak_vus * 2 + 64 > open_files).then(|| {
        format!(
            "warning: up to {peak_vus} VUs may need {} sockets, but this process may open {open_files} files \
             (ulimit -n); raise the limit or spread the VUs over shards (--shard I/N)",
            peak_vus * 2
        )
    })
}

/// `results/runs/<UTC time>-<name>`.
fn default_dir(name: &str) -> PathBuf {
    stamped_dir("results/runs", name)
}

/// `<parent>/<UTC time>-<name>`, the name made safe for a path.
pub(super) fn stamped_dir(parent: &str, name: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(parent).join(format!("{stamp}-{safe}"))
}
