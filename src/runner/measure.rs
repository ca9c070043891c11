//! One measurement on a prepared target: the engine drives the load, a
//! collector thread turns the metrics into one interval per second and
//! feeds the sinks (the results files first), and at the end the
//! thresholds are evaluated and the summary written. Called once by `run`,
//! once per step by a capacity search.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use super::error::{Exit, Phase, RunError, report_error};
use super::interrupt::Interrupt;
use super::prepare::Prepared;
use super::restart::{self, Restart, RestartHow};
use crate::engine::sink::now_unix_us as unix_us;
use crate::engine::{self, EngineError, EngineNote, EngineReport, EngineStatus, Overrides};
use crate::metrics::{Interval, MessageTracker, Metrics, names, spawn_self_check};
use crate::results::export::{ExportInput, Format, write_export};
use crate::results::{
    CpuTimes, Host, IntervalSink, LoadSpec, Note, NoteKind, RepeatRef, ResultsError, RunInfo,
    RunWriter, ShardRef, ShardTiming, Summary, SummaryParts, TargetSample, Tick, Tool, Totals,
    evaluate, read_intervals,
};
use crate::scenario::{Fault, Scenario};
use crate::scrape::{ScrapeConfig, Scraping, TargetCollector};
use crate::server::Server;

/// What one measurement changes on the prepared run.
#[derive(Debug, Clone, Default)]
pub struct Measure {
    /// On top of the request's overrides.
    pub overrides: Overrides,
    /// Instance URLs for this measurement (default: the prepared ones).
    pub targets: Option<Vec<String>>,
    /// The results directory.
    pub out: PathBuf,
    /// Wait until then before the load starts (aligns shards).
    pub start_at: Option<SystemTime>,
    /// The command line, kept in `run.json`.
    pub command: Vec<String>,
    /// Which repetition of `run --repeat N` this is, kept in `run.json`.
    pub repeat: Option<RepeatRef>,
    /// Files to write the finished results to, each in its format.
    pub exports: Vec<(PathBuf, Format)>,
    /// Exports that can show intervals (CSV) show them.
    pub export_intervals: bool,
    /// Ends the measurement early when it turns true (as Ctrl-C does, but
    /// not counted as an interruption of the process).
    pub stop: Option<watch::Receiver<bool>>,
    /// Restart one instance part way and measure the recovery.
    pub restart: Option<Restart>,
    /// `--scrape`: the target's Prometheus endpoints to sample.
    pub scrape: Option<ScrapeConfig>,
    /// The process's Ctrl-C listener; without one the measurement listens
    /// itself from its start.
    pub interrupt: Option<Interrupt>,
}

/// A finished measurement: its summary (also in `dir/summary.json` unless
/// `write_error` says otherwise) and how it ended.
#[derive(Debug)]
pub struct Measurement {
    pub summary: Summary,
    pub dir: PathBuf,
    /// Ctrl-C ended it; the results cover the time until then.
    pub interrupted: bool,
    /// The engine refused the plan at its start (no VU ran): bad input,
    /// exit 2 (the summary carries a `stopped_early` note).
    pub stopped_early: Option<EngineError>,
    /// The first result file (`summary.json` or an export) that could not
    /// be written; the summary is still here. Not yet printed: the caller
    /// reports it.
    pub write_error: Option<ResultsError>,
}

impl Measurement {
    /// The exit status of a finished measurement.
    pub fn exit(&self) -> Exit {
        if self.interrupted {
            Exit::Interrupted
        } else if self.write_error.is_some() {
            Exit::WriteFailed
        } else if self.stopped_early.is_some() {
            Exit::BadInput
        } else if self.summary.passed() {
            Exit::Pass
        } else {
            Exit::ThresholdsFailed
        }
    }
}

/// The exit status of a run, decided here only.
pub fn exit_of(result: &Result<Measurement, RunError>) -> Exit {
    match result {
        Ok(m) => m.exit(),
        Err(e) => e.exit(),
    }
}

impl Prepared {
    /// Runs one measurement. `sinks` see every interval after the results
    /// writer, and the summary at the end.
    pub async fn measure(
        &self,
        m: &Measure,
        mut sinks: Vec<Box<dyn IntervalSink>>,
    ) -> Result<Measurement, RunError> {
        let mut plan = self.plan(&m.overrides, m.targets.as_deref())?;
        let start_at = m.start_at.map(|t| unix_ms_of(t).to_string());
        let repetition = m.repeat.map(|r| r.index.to_string());
        plan.share_token_run(&[
            &self.scenario_sha256,
            start_at.as_deref().unwrap_or_default(),
            repetition.as_deref().unwrap_or_default(),
        ]);
        let (interrupt, own_listener) = match &m.interrupt {
            Some(i) => (i.clone(), None),
            None => {
                let (i, task) = Interrupt::listen();
                (i, Some(task))
            }
        };
        if let Some(at) = m.start_at {
            tokio::select! {
                () = wait_until(at) => {}
                () = interrupt.fired() => {}
            }
        }
        let started_unix_ms = unix_ms();
        let load = &plan.scenario.load;
        let info = RunInfo {
            id: format!("{:08x}", plan.run_id),
            scenario: self.scenario.name.clone(),
            scenario_path: self.request.scenario.display().to_string(),
            scenario_sha256: self.scenario_sha256.clone(),
            started_unix_ms,
            seed: plan.seed,
            load: LoadSpec::of(
                load,
                matches!(load.model, crate::scenario::Model::Open).then(|| plan.max_vus()),
            ),
            command: m.command.clone(),
            shard: plan.shard.map(|(index, count)| ShardRef { index, count }),
            repeat: m.repeat,
            timing: ShardTiming {
                start_at_unix_ms: m.start_at.map(unix_ms_of),
                clock_offset_ms: self.clock.map(|c| c.offset_ms()),
                clock_offset_uncertainty_ms: self.clock.map(|c| c.uncertainty_ms()),
            },
        };
        let tool = Tool::current();
        let mut host = Host::current();
        let cpu_at_start = CpuTimes::read(std::path::Path::new("/"));
        let mut target = self.target.clone();
        if m.targets.is_some() {
            target.urls = plan.targets.clone();
            target.instances = plan.targets.len() as u32;
        }
        let mut writer = RunWriter::create(&m.out, &info, &tool, &host, &target)?;
        if interrupt.is_set() {
            // Before any load: run.json says what would have run, and no
            // summary claims a measurement of nothing.
            return Err(RunError::Interrupted {
                during: Phase::StartAtWait,
                dir: Some(m.out.clone()),
            });
        }

        let metrics = Metrics::new();
        let tracker = MessageTracker::new(&metrics, plan.scenario.loss_timeout);
        // The embedded server's threads share this process, not its role.
        let foreign = self.server.as_ref().map(|_| crate::server::THREAD_PREFIX);
        let self_check = spawn_self_check(&metrics, foreign);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (status_tx, status_rx) = watch::channel(EngineStatus::default());
        let ctrl_c = {
            let interrupt = interrupt.clone();
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                interrupt.fired().await;
                let _ = stop_tx.send(true);
            })
        };
        // A restart the scenario schedules is measured like --restart-after
        // (the first one, unless the caller restarts itself).
        let scheduled = match &m.restart {
            Some(_) => None,
            None => scheduled_restart(&self.scenario, self.server.as_ref()),
        };
        let faults = schedule_faults(
            &self.scenario,
            self.server.as_ref(),
            scheduled.as_ref().map(|(i, _)| *i),
        );
        let restart = m.restart.clone().or(scheduled.map(|(_, r)| r));
        let armed = restart.as_ref().map(|r| {
            let url = match r.how {
                RestartHow::Embedded { instance, .. } => plan.targets.get(instance),
                RestartHow::Command(_) => plan.targets.first(),
            };
            let (armed, sink) = restart::arm(
                r,
                self.server.as_ref(),
                url.cloned().unwrap_or_default(),
                &plan.client,
            );
            sinks.push(sink);
            armed
        });
        let caller_stop = m.stop.clone().map(|mut stop| {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                while stop.changed().await.is_ok() {
                    if *stop.borrow() {
                        let _ = stop_tx.send(true);
                        return;
                    }
                }
            })
        });

        for sink in &mut sinks {
            sink.start(&info);
        }
        // Collector: one interval per second, to the writer then the sinks.
        // A plain thread, so file I/O never stalls the VUs' scheduler (the
        // self-check would see that as generator lag).
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let start = Instant::now();
        let scraping = m.scrape.as_ref().map(|cfg| Scraping::start(cfg, start));
        let collector = {
            let metrics = metrics.clone();
            let tracker = tracker.clone();
            let target = scraping.as_ref().map(|s| TargetCollector::new(s.view()));
            std::thread::spawn(move || {
                let mut c = Collector {
                    target,
                    ..Collector::default()
                };
                for second in 1u32.. {
                    let next = start + Duration::from_secs(second.into());
                    let wait = next.saturating_duration_since(Instant::now());
                    match done_rx.recv_timeout(wait) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                    tracker.sweep(unix_us());
                    let status = status_rx.borrow().clone();
                    c.collect(&metrics.snapshot(), &status, &mut writer, &mut sinks);
                }
                (c, writer, sinks)
            })
        };

        let report =
            engine::execute(&plan, &self.world, &metrics, &tracker, stop_rx, &status_tx).await;
        if let Some(f) = faults {
            f.abort();
        }
        ctrl_c.abort();
        if let Some(task) = own_listener {
            task.abort();
        }
        if let Some(t) = caller_stop {
            t.abort();
        }
        // The engine's VUs lingered for in-flight messages before closing;
        // whatever is still owed now was lost.
        tracker.sweep(u64::MAX);
        let _ = done_tx.send(());
        let joined = collector.join();
        if let Some(s) = scraping {
            s.stop();
        }
        let (mut c, mut writer, mut sinks) =
            joined.map_err(|_| RunError::Plan("the results collector thread panicked".into()))?;
        let status = status_tx.borrow().clone();
        c.collect(&metrics.snapshot(), &status, &mut writer, &mut sinks);
        let target_metrics = c.target.take().map(TargetCollector::finish);

        host.cpu_steal_ratio = cpu_at_start
            .zip(CpuTimes::read(std::path::Path::new("/")))
            .and_then(|(start, end)| end.steal_since(&start));
        let interrupted = interrupt.is_set();
        let mut notes: Vec<Note> = self
            .warnings
            .iter()
            .map(|w| Note::new(NoteKind::Config, w.clone()))
            .collect();
        notes.extend(run_notes(&report, interrupted));
        if let Some(s) = self_check.verdict() {
            notes.push(Note::new(
                NoteKind::GeneratorSaturated {
                    lag_p99_ms: s.lag_p99.as_secs_f64() * 1000.0,
                    cpu_over_limit_s: s.cpu_over_limit_s,
                    cpu_samples_s: s.cpu_samples_s,
                    cpu_max_pct: s.cpu_max_pct,
                },
                s.text,
            ));
        }
        let target_metrics = target_metrics.map(|(t, scrape_notes)| {
            notes.extend(scrape_notes);
            t
        });
        if let Some(&count) = c.totals.counters.get(names::MESSAGE_CROSS_SHARD)
            && count > 0
        {
            notes.push(Note::new(
                NoteKind::CrossShardE2e { count },
                format!(
                    "{count} message.e2e samples are deliveries of other shards' messages, timed from \
                     the sending host's clock: they are only as exact as the clock sync between the \
                     generator hosts (NTP)"
                ),
            ));
        }
        if let Some(e) = &c.write_error {
            notes.push(Note::new(
                NoteKind::IntervalsNotWritten,
                format!("some interval lines were not written ({e}); the totals are whole"),
            ));
        }
        let mut summary = Summary::build(
            SummaryParts {
                info,
                tool,
                host,
                target,
                thresholds: evaluate(&plan.scenario.thresholds, &c.totals),
                notes,
                ended_unix_ms: unix_ms(),
            },
            &c.totals,
        );
        summary.recovery = armed.and_then(restart::Armed::finish);
        summary.target_metrics = target_metrics;
        let mut write_error = writer.finish(&summary).err();
        for (path, format) in &m.exports {
            if let Err(e) = export_to(path, *format, &summary, m) {
                // The first failure goes back to the caller, who reports
                // it; only the ones it cannot carry are printed here.
                match write_error {
                    None => write_error = Some(e),
                    Some(_) => report_error(&e),
                }
            }
        }
        for sink in &mut sinks {
            if let Err(e) = sink.finish(&summary) {
                report_error(&e);
            }
        }
        Ok(Measurement {
            summary,
            dir: m.out.clone(),
            interrupted,
            stopped_early: report.err(),
            write_error,
        })
    }
}

/// Writes one export of a finished measurement.
fn export_to(
    path: &std::path::Path,
    format: Format,
    summary: &Summary,
    m: &Measure,
) -> Result<(), ResultsError> {
    let intervals = if m.export_intervals {
        Some(read_intervals(&m.out).unwrap_or_default())
    } else {
        None
    };
    let input = ExportInput {
        summary,
        intervals: intervals.as_deref(),
        partial: false,
    };
    write_export(path, format, &input)
}

/// The collector's state: totals, the first error of each sink, and with
/// `--scrape` the target's samples.
#[derive(Default)]
struct Collector {
    totals: Totals,
    write_error: Option<ResultsError>,
    sink_failed: Vec<bool>,
    target: Option<TargetCollector>,
}

impl Collector {
    fn collect(
        &mut self,
        iv: &Interval,
        status: &EngineStatus,
        writer: &mut RunWriter,
        sinks: &mut [Box<dyn IntervalSink>],
    ) {
        self.totals.add(iv);
        let sample = self.target.as_mut().map(TargetCollector::take);
        let tick = Tick {
            interval: iv,
            totals: &self.totals,
            stage: &status.stage,
            level: status.level,
            target: sample.as_ref().unwrap_or(&EMPTY_SAMPLE),
            server: self.target.as_ref().map(TargetCollector::figures),
        };
        if let Err(e) = writer.interval(&tick) {
            if self.write_error.is_none() {
                eprintln!("warning: an interval line was not written:");
                report_error(&e);
            }
            self.write_error.get_or_insert(e);
        }
        self.sink_failed.resize(sinks.len(), false);
        for (sink, failed) in sinks.iter_mut().zip(&mut self.sink_failed) {
            if let Err(e) = sink.interval(&tick)
                && !std::mem::replace(failed, true)
            {
                report_error(&e);
            }
        }
    }
}

static EMPTY_SAMPLE: TargetSample = TargetSample::new();

/// The engine's report as notes.
fn run_notes(report: &Result<EngineReport, EngineError>, interrupted: bool) -> Vec<Note> {
    let mut notes = Vec::new();
    let r = match report {
        Ok(r) => r,
        Err(e) => {
            notes.push(Note::new(
                NoteKind::StoppedEarly,
                format!("the run stopped early: {e}"),
            ));
            return notes;
        }
    };
    for n in &r.notes {
        let kind = match n {
            EngineNote::FirstError { metric, class, .. } => NoteKind::FirstError {
                metric: metric.clone(),
                class: class.clone(),
            },
            EngineNote::Problem(_) => NoteKind::Scenario,
        };
        notes.push(Note::new(kind, n.to_string()));
    }
    if r.interrupted > 0 {
        notes.push(Note::new(
            NoteKind::CutShortIterations { count: r.interrupted },
            format!(
                "{} iteration(s) in progress at the end of the run or a ramp-down were cut short (not timed)",
                r.interrupted
            ),
        ));
    }
    if r.dropped > 0 {
        notes.push(Note::new(
            NoteKind::DroppedArrivals { count: r.dropped },
            format!(
                "{} arrival(s) dropped: no free VU within max_queue (raise load.max_vus?)",
                r.dropped
            ),
        ));
    }
    if interrupted || r.stopped {
        notes.push(Note::new(
            NoteKind::Interrupted,
            "the run was interrupted; results cover the time until then",
        ));
    }
    notes
}

/// The first `restart` the scenario schedules on the embedded server, with
/// its place in the list.
fn scheduled_restart(scenario: &Scenario, server: Option<&Server>) -> Option<(usize, Restart)> {
    server?;
    scenario
        .server
        .as_ref()?
        .faults
        .iter()
        .enumerate()
        .find_map(|(i, f)| match f.fault {
            Fault::Restart { instance, down } => Some((
                i,
                Restart {
                    after: f.at,
                    how: RestartHow::Embedded { instance, down },
                },
            )),
            _ => None,
        })
}

/// Applies the scenario's scheduled faults to the embedded server, but
/// the one at `skip` (a restart measured on its own).
fn schedule_faults(
    scenario: &Scenario,
    server: Option<&Server>,
    skip: Option<usize>,
) -> Option<tokio::task::JoinHandle<()>> {
    let faults: Vec<_> = scenario
        .server
        .as_ref()?
        .faults
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, f)| f.clone())
        .collect();
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

async fn wait_until(at: SystemTime) {
    if let Ok(wait) = at.duration_since(SystemTime::now()) {
        eprintln!(
            "waiting {:.1} s for --start-at {}",
            wait.as_secs_f64(),
            humantime::format_rfc3339_seconds(at)
        );
        tokio::time::sleep(wait).await;
    }
}

fn unix_ms() -> u64 {
    unix_us() / 1000
}

fn unix_ms_of(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
