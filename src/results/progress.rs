//! Live progress while a run goes: an indicatif bar when stdout is a
//! terminal, a plain line every 5 s otherwise (logs, CI), nothing with
//! `--quiet`. Written to stderr, so stdout carries only the summary.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::error::ResultsError;
use super::sink::{IntervalSink, Tick};
use super::summary::Summary;
use super::table::format_ms;
use super::target::ServerFigures;
use super::totals::Totals;
use crate::metrics::histogram::{merge_into, new_histogram, quantile_ms};
use crate::metrics::{Interval, is_operation, names};

/// Plain-mode line period.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    mode: Mode,
    /// What is counted (plain mode names it on each line).
    label: String,
    started: Instant,
    total: Duration,
    last_plain: Mutex<Option<Instant>>,
}

enum Mode {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

fn mode(quiet: bool, template: &str, len: u64) -> Mode {
    if quiet {
        return Mode::Quiet;
    }
    if !std::io::stdout().is_terminal() {
        return Mode::Plain;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    // The templates are constants; a bad one falls back to the default bar.
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Mode::Bar(bar)
}

impl Progress {
    /// Progress of the measured phase, `total` long.
    pub fn new(total: Duration, quiet: bool) -> Progress {
        Progress {
            mode: mode(
                quiet,
                "[{bar:25}] {pos:>4}/{len}s {prefix} | {msg}",
                total.as_secs().max(1),
            ),
            label: String::new(),
            started: Instant::now(),
            total,
            last_plain: Mutex::new(None),
        }
    }

    /// Progress of provisioning users and rooms.
    pub fn provisioning(quiet: bool) -> Progress {
        Progress::counting("provisioning", quiet)
    }

    /// Progress of `label` over a count of objects (cleanup's lookups and
    /// deletions).
    pub fn counting(label: &str, quiet: bool) -> Progress {
        Progress {
            mode: mode(
                quiet,
                &format!("{label} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"),
                1,
            ),
            label: label.to_string(),
            started: Instant::now(),
            total: Duration::ZERO,
            last_plain: Mutex::new(None),
        }
    }

    /// Provisioning: `done` of `total` objects created.
    pub fn provision(&self, done: u64, total: u64) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_length(total.max(1));
                bar.set_position(done);
            }
            Mode::Plain => {
                if self.plain_due() || done == total {
                    eprintln!("{} {done}/{total}", self.label);
                }
            }
            Mode::Quiet => {}
        }
    }

    /// One collected interval: stage, active VUs, requests/s and p95 of
    /// the interval, errors so far; with `--scrape`, the server's CPU and
    /// event-loop lag.
    pub fn update(
        &self,
        stage: &str,
        iv: &Interval,
        totals: &Totals,
        server: Option<&ServerFigures>,
    ) {
        if matches!(self.mode, Mode::Quiet) {
            return;
        }
        let mut line = status_line(iv, totals);
        if let Some(s) = server {
            line.push_str(&server_part(s));
        }
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_prefix(stage.to_string());
                bar.set_position(iv.elapsed.as_secs().min(self.total.as_secs().max(1)));
                bar.set_message(line);
            }
            Mode::Plain => {
                if self.plain_due() {
                    eprintln!(
                        "[{:>5.0}s/{:.0}s] {stage}: {line}",
                        self.started.elapsed().as_secs_f64(),
                        self.total.as_secs_f64()
                    );
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Clears the bar (plain and quiet modes print nothing more).
    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }

    /// A line above the bar (or on its own): shown even with `--quiet`,
    /// for what must not go unsaid (a retry, a warning).
    pub fn say(&self, text: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.println(text),
            Mode::Plain | Mode::Quiet => eprintln!("{text}"),
        }
    }

    /// The progress of the measured phase as an interval sink.
    pub fn sink(self) -> ProgressSink {
        ProgressSink(self)
    }

    fn plain_due(&self) -> bool {
        let mut last = self
            .last_plain
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_none_or(|t| now.duration_since(t) >= PLAIN_EVERY) {
            *last = Some(now);
            true
        } else {
            false
        }
    }
}

/// [`Progress`] fed by the collector.
pub struct ProgressSink(Progress);

impl IntervalSink for ProgressSink {
    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError> {
        self.0
            .update(tick.stage, tick.interval, tick.totals, tick.server.as_ref());
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary) -> Result<(), ResultsError> {
        self.0.finish();
        Ok(())
    }
}

/// `120 VUs | 350.2 req/s | p95 12.3ms | errors 4`
fn status_line(iv: &Interval, totals: &Totals) -> String {
    let vus = iv.gauges.get(names::VUS_ACTIVE).copied().unwrap_or(0);
    let rps = iv.rate_of(is_operation);
    let mut h = new_histogram();
    for (_, m) in iv.metrics.iter().filter(|(n, _)| is_operation(n)) {
        merge_into(&mut h, &m.latency);
    }
    let p95 = quantile_ms(&h, 0.95);
    let errors: u64 = totals
        .metrics
        .iter()
        .filter(|(n, _)| is_operation(n))
        .map(|(_, m)| m.error_count())
        .sum();
    format!(
        "{vus} VUs | {rps:.1} req/s | p95 {} | errors {errors}",
        format_ms(p95)
    )
}

/// ` | server CPU 87% lag 4.20ms`; `-` until two scrapes have come.
fn server_part(s: &ServerFigures) -> String {
    let cpu = s
        .cpu_pct
        .map_or_else(|| "-".to_string(), |c| format!("{c:.0}%"));
    format!(" | server CPU {cpu} lag {}", format_ms(s.lag_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorClass, Metrics, Sample};

    #[test]
    fn status_line_sums_operations_only() {
        let m = Metrics::new();
        m.gauge("vus.active").set(12);
        let op = m.id("rest.login");
        for _ in 0..10 {
            m.record(op, Sample::ok(Duration::from_millis(4)));
        }
        m.record(
            op,
            Sample::err(Duration::from_millis(4), ErrorClass::Timeout),
        );
        let e2e = m.id("message.e2e");
        for _ in 0..100 {
            m.record(e2e, Sample::ok(Duration::from_secs(9)));
        }
        let mut iv = m.snapshot();
        iv.duration = Duration::from_secs(1);
        let mut totals = Totals::default();
        totals.add(&iv);
        let line = status_line(&iv, &totals);
        assert!(
            line.starts_with("12 VUs | 11.0 req/s | p95 4.00ms | errors 1"),
            "{line}"
        );
    }

    #[test]
    fn server_figures_read_beside_the_generator() {
        let s = ServerFigures {
            cpu_pct: Some(87.4),
            lag_ms: Some(4.2),
        };
        assert_eq!(server_part(&s), " | server CPU 87% lag 4.20ms");
        assert_eq!(
            server_part(&ServerFigures::default()),
            " | server CPU - lag -"
        );
    }

    #[test]
    fn quiet_progress_prints_nothing_and_finishes() {
        let p = Progress::new(Duration::from_secs(10), true);
        p.update("ramp", &Metrics::new().snapshot(), &Totals::default(), None);
        p.provision(1, 2);
        p.finish();
    }
}
