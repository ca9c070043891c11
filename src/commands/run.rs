//! `rocketload run`: scenario -> (embedded server) -> provision -> measured
//! phase -> results. This is glue only: the engine drives the load, metrics
//! records, results writes; here they are started, connected and stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::{EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_THRESHOLDS, report_error};
use crate::cli::RunArgs;
use crate::engine::{self, EngineStatus, Overrides, RunPlan};
use crate::metrics::{Interval, MessageTracker, Metrics, spawn_self_check};
use crate::results::{Progress, RunInfo, RunWriter, print_summary};
use crate::scenario::{self, Scenario};
use crate::server::{self, Server, ServerConfig};

pub fn run(args: RunArgs) -> u8 {
    let scenario = match scenario::load_with_warnings(&args.scenario) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            loaded.scenario
        }
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    // One core (e.g. under `taskset`): a current-thread runtime does the
    // same work without the work-stealing scheduler's cross-thread wakeups.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = match cores {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&e);
            return EXIT_BAD_INPUT;
        }
    };

    // Targets: flags, then the scenario, else the embedded reference server.
    let mut targets = args.targets.clone();
    if targets.is_empty()
        && let Some(t) = &scenario.target
    {
        targets = t.urls.clone();
    }
    let server = if targets.is_empty() {
        match start_embedded(&scenario) {
            Ok(s) => {
                targets = s.urls().to_vec();
                Some(s)
            }
            Err(msg) => {
                eprintln!("error: embedded server: {msg}");
                return EXIT_BAD_INPUT;
            }
        }
    } else {
        if scenario.server.is_some() {
            eprintln!(
                "warning: the scenario's `server:` block applies only to the embedded server; ignored with a target"
            );
        }
        None
    };

    let overrides = Overrides {
        duration: args.duration,
        vus: args.vus,
        rate: args.rate,
    };
    let plan = match RunPlan::new(
        scenario.clone(),
        targets,
        overrides,
        args.shard,
        args.skip_provision,
    ) {
        Ok(p) => p,
        Err(e) => {
            report_error(&e);
            return EXIT_BAD_INPUT;
        }
    };

    let open_files = super::raise_open_file_limit();
    let peak_vus = match scenario.load.model {
        crate::scenario::Model::Closed => plan.profile().peak().ceil() as u64,
        crate::scenario::Model::Open => u64::from(plan.max_vus()),
    };
    // A VU holds its websocket and, while it uses REST, a keep-alive connection.
    if open_files > 0 && peak_vus * 2 + 64 > open_files {
        eprintln!(
            "warning: up to {peak_vus} VUs may need {} sockets, but this process may open {open_files} files \
             (ulimit -n); raise the limit or spread the VUs over shards (--shard I/N)",
            peak_vus * 2
        );
    }
    let code = runtime.block_on(measure(&args, &scenario, plan, server.as_ref()));
    if let Some(s) = server {
        s.shutdown();
    }
    // VU tasks that ignore cancellation must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

fn start_embedded(scenario: &Scenario) -> Result<Server, String> {
    let mut cfg = ServerConfig::embedded();
    if let Some(block) = &scenario.server {
        if let Some(n) = block.instances {
            cfg.instances = n;
        }
        if !block.cost.is_empty() {
            let costs = block.cost.iter().map(|(op, c)| (op.as_str(), *c));
            cfg.cost = server::cost::CostModel::from_costs(costs)?;
        }
        cfg.rate_limits = block.rate_limits;
        // Reject a bad fault now rather than in the middle of the run.
        let check = server::faults::Faults::new();
        for (i, f) in block.faults.iter().enumerate() {
            check
                .apply(&f.fault.to_body())
                .map_err(|e| format!("server.faults[{i}]: {e}"))?;
        }
    }
    server::start(cfg).map_err(|e| e.to_string())
}

async fn measure(
    args: &RunArgs,
    scenario: &Scenario,
    plan: RunPlan,
    server: Option<&Server>,
) -> u8 {
    if let Err(e) = engine::check_target(&plan).await {
        report_error(&e);
        return EXIT_BAD_INPUT;
    }
    if !args.quiet {
        eprintln!("{}", plan.describe());
    }

    let world = {
        let bar = Progress::provisioning(args.quiet);
        let world = engine::provision(&plan, &|done, total| bar.provision(done, total)).await;
        bar.finish();
        match world {
            Ok(w) => w,
            Err(e) => {
                report_error(&e);
                return EXIT_BAD_INPUT;
            }
        }
    };

    if let Some(at) = &args.start_at
        && let Err(msg) = wait_until(at).await
    {
        eprintln!("error: --start-at: {msg}");
        return EXIT_BAD_INPUT;
    }

    let started_unix_ms = unix_ms();
    let dir = args
        .out
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&scenario.name));
    let info = RunInfo {
        id: format!("{:08x}", plan.run_id),
        scenario: scenario.name.clone(),
        scenario_path: args.scenario.display().to_string(),
        started_unix_ms,
        seed: plan.seed,
        model: format!("{:?}", scenario.load.model).to_lowercase(),
        command: std::env::args().collect(),
        shard: args.shard,
        target_urls: plan.targets.clone(),
        embedded: server.is_some(),
    };
    let mut writer = match RunWriter::create(&dir, &info) {
        Ok(w) => w,
        Err(e) => {
            report_error(&e);
            return EXIT_BAD_INPUT;
        }
    };

    let metrics = Metrics::new();
    let tracker = MessageTracker::new(&metrics, scenario.loss_timeout);
    let self_check = spawn_self_check(&metrics);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (status_tx, status_rx) = watch::channel(EngineStatus::default());
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
                let _ = stop_tx.send(true);
            }
        });
    }
    let faults = schedule_faults(scenario, server);

    // Collector: one snapshot per second, written as it happens. A plain
    // thread, so its file I/O never stalls the VUs' scheduler (the
    // self-check would see that as generator lag).
    let progress = Progress::new(plan.total_duration(), args.quiet);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let collector = {
        let metrics = metrics.clone();
        let tracker = tracker.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut write_error = None;
            for second in 1u32.. {
                let next = start + Duration::from_secs(second.into());
                let wait = next.saturating_duration_since(std::time::Instant::now());
                match done_rx.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
                tracker.sweep(unix_us());
                let iv = metrics.snapshot();
                if let Err(e) = writer.write_interval(&iv) {
                    write_error.get_or_insert(e);
                }
                progress.update(&status_rx.borrow().stage, &iv, writer.totals());
            }
            progress.finish();
            (writer, write_error)
        })
    };

    let report = engine::execute(&plan, &world, &metrics, &tracker, stop_rx, &status_tx).await;
    if let Some(f) = faults {
        f.abort();
    }

    // The engine's VUs lingered for in-flight messages before closing;
    // whatever is still owed now was lost.
    tracker.sweep(u64::MAX);

    let _ = done_tx.send(());
    let (mut writer, write_error) = match collector.join() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("error: the results collector thread panicked");
            return EXIT_BAD_INPUT;
        }
    };
    let last: Interval = metrics.snapshot();
    if let Err(e) = writer.write_interval(&last) {
        report_error(&e);
    }
    if let Some(e) = write_error {
        eprintln!("warning: some intervals were not written:");
        report_error(&e);
    }

    let mut notes = Vec::new();
    match &report {
        Ok(r) => notes.extend(r.notes.iter().cloned()),
        Err(e) => notes.push(format!("the run stopped early: {e}")),
    }
    if let Some(v) = self_check.verdict() {
        notes.push(v);
    }
    let summary = match writer.finish(&scenario.thresholds, notes, unix_ms()) {
        Ok(s) => s,
        Err(e) => {
            report_error(&e);
            return EXIT_BAD_INPUT;
        }
    };
    let _ = print_summary(&summary, &mut std::io::stdout().lock());
    println!("results: {}", writer.dir().display());

    if interrupted.load(Ordering::SeqCst) {
        EXIT_INTERRUPTED
    } else if report.is_err() {
        EXIT_BAD_INPUT
    } else if summary.passed() {
        EXIT_OK
    } else {
        EXIT_THRESHOLDS
    }
}

/// Applies the scenario's scheduled faults to the embedded server.
fn schedule_faults(
    scenario: &Scenario,
    server: Option<&Server>,
) -> Option<tokio::task::JoinHandle<()>> {
    let faults = scenario.server.as_ref()?.faults.clone();
    let server = server?.faults();
    if faults.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut faults = faults;
        faults.sort_by_key(|f| f.at);
        for f in faults {
            tokio::time::sleep_until(start + f.at).await;
            if let Err(e) = server.apply(&f.fault.to_body()) {
                eprintln!("warning: scheduled fault at {:?} rejected: {e}", f.at);
            }
        }
    }))
}

async fn wait_until(rfc3339: &str) -> Result<(), String> {
    let at = humantime::parse_rfc3339_weak(rfc3339).map_err(|e| format!("`{rfc3339}`: {e}"))?;
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        eprintln!(
            "waiting {:.1} s for --start-at {rfc3339}",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

fn default_dir(name: &str) -> PathBuf {
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
    PathBuf::from("results/runs").join(format!("{stamp}-{safe}"))
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
