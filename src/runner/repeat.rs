//! Repetitions of one prepared run (`run --repeat N`): the same plan and
//! seed measured N times into `OUT/1..N`, a cool-down between them, after
//! one preparation. Ctrl-C at any point ends the loop; every repetition
//! measured until then stays on disk. The exit of the whole is
//! [`Exit::worst`] of the repetitions'.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::error::{Exit, RunError};
use super::measure::{Measure, Measurement, exit_of};
use super::prepare::Prepared;
use crate::results::{IntervalSink, RepeatRef, Summary};

/// How often to measure, and how long to wait between measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// At least 1.
    pub count: u32,
    /// Between two repetitions, so the target's garbage collection and
    /// queues settle and repetitions stay independent.
    pub cooldown: Duration,
}

/// One repetition: where it wrote and how it ended.
#[derive(Debug)]
pub struct Repetition {
    /// 1-based.
    pub index: u32,
    pub dir: PathBuf,
    pub result: Result<Measurement, RunError>,
}

impl Repetition {
    pub fn exit(&self) -> Exit {
        exit_of(&self.result)
    }

    /// The summary of a repetition that ran its whole plan (thresholds
    /// failed or not); `None` when it was cut short or never measured.
    pub fn complete_summary(&self) -> Option<&Summary> {
        self.result
            .as_ref()
            .ok()
            .filter(|m| !m.interrupted && m.stopped_early.is_none())
            .map(|m| &m.summary)
    }
}

/// The repetitions that ran, in order.
#[derive(Debug)]
pub struct Repeated {
    pub runs: Vec<Repetition>,
    /// Ctrl-C ended the loop (in a repetition or a cool-down).
    pub interrupted: bool,
}

impl Repeated {
    /// The exit status of the whole.
    pub fn exit(&self) -> Exit {
        exit_of_repetitions(&self.runs, self.interrupted)
    }
}

/// The exit status of repetitions (so far): the worst one's, or
/// interrupted.
pub fn exit_of_repetitions(runs: &[Repetition], interrupted: bool) -> Exit {
    let interrupted = interrupted.then_some(Exit::Interrupted);
    Exit::worst(runs.iter().map(Repetition::exit).chain(interrupted))
}

/// Whether the loop goes on after a repetition that ended so: a
/// repetition that could not measure or write makes the next fail alike.
fn goes_on(exit: Exit) -> bool {
    matches!(exit, Exit::Pass | Exit::ThresholdsFailed)
}

impl Prepared {
    /// Measures `base` `repeat.count` times, repetition `i` into
    /// `base.out/i` with `run.repeat = {i, count}`. `sinks(i)` gives the
    /// interval sinks of repetition `i`; `finished` sees the repetitions
    /// so far each time one ends (the last is the new one). `base.stop`
    /// ends the loop as Ctrl-C does, without counting as an interruption.
    pub async fn repeat(
        &self,
        repeat: Repeat,
        base: &Measure,
        sinks: &mut dyn FnMut(u32) -> Vec<Box<dyn IntervalSink>>,
        finished: &mut dyn FnMut(&[Repetition]),
    ) -> Repeated {
        let interrupted = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop) = watch::channel(false);
        let listener = tokio::spawn(stop_on_signal(
            stop_tx,
            interrupted.clone(),
            base.stop.clone(),
        ));
        let mut runs = Vec::new();
        for index in 1..=repeat.count {
            if index > 1 && !repeat.cooldown.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(repeat.cooldown) => {}
                    () = stopped(stop.clone()) => {}
                }
            }
            if *stop.borrow() {
                break;
            }
            let dir = base.out.join(index.to_string());
            let m = Measure {
                out: dir.clone(),
                repeat: Some(RepeatRef {
                    index,
                    count: repeat.count,
                }),
                stop: Some(stop.clone()),
                ..base.clone()
            };
            let mut result = self.measure(&m, sinks(index)).await;
            if let Ok(m) = &mut result {
                // Ctrl-C may reach the loop's listener only (just before
                // the measurement's own one listened).
                m.interrupted |= interrupted.load(Ordering::SeqCst);
            }
            let run = Repetition { index, dir, result };
            let go_on = goes_on(run.exit());
            runs.push(run);
            finished(&runs);
            if !go_on {
                break;
            }
        }
        listener.abort();
        Repeated {
            runs,
            interrupted: interrupted.load(Ordering::SeqCst),
        }
    }
}

/// Turns `stop` true on Ctrl-C (recorded in `interrupted`) or when the
/// caller's own stop turns true.
pub(crate) async fn stop_on_signal(
    stop: watch::Sender<bool>,
    interrupted: Arc<AtomicBool>,
    caller: Option<watch::Receiver<bool>>,
) {
    let signal = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => interrupted.store(true, Ordering::SeqCst),
            // No signal handler: only the caller can stop the loop.
            Err(_) => std::future::pending().await,
        }
    };
    let caller = async {
        match caller {
            Some(c) => stopped(c).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = signal => {}
        () = caller => {}
    }
    let _ = stop.send(true);
}

/// Resolves once `stop` is true; never when its sender is gone while false.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
