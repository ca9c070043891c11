//! A restart of one instance in the middle of a measurement, and the
//! recovery it measures: the embedded server's `restart` fault (sessions
//! dropped, state kept, 502 while down), or any command (`docker restart
//! rc1`, `systemctl restart rocketchat@3001`). After the restart the
//! instance's `GET /api/info` is polled every 50 ms until it answers; the
//! intervals that end after the restart give the resumes, the logins and
//! the losses ([`Recovery::of`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::engine::sink::now_unix_us;
use crate::results::recovery::Restarted;
use crate::results::{IntervalSink, Recovery, ResultsError, Tick, Totals};
use crate::rocketchat::{ClientConfig, Rest};
use crate::server::Server;

/// How often the restarted instance is asked whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// A restart command that runs longer than this is killed.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// When and how to restart.
#[derive(Clone, Debug, PartialEq)]
pub struct Restart {
    /// From the start of the measurement.
    pub after: Duration,
    pub how: RestartHow,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RestartHow {
    /// The embedded server's instance `instance`, down for `down` (the
    /// time a process takes to start).
    Embedded { instance: usize, down: Duration },
    /// `sh -c COMMAND`; it should return once the instance is restarting
    /// or back (`kubectl rollout restart` returns at once: add `&& kubectl
    /// rollout status ...`).
    Command(String),
}

impl RestartHow {
    fn describe(&self) -> String {
        match self {
            RestartHow::Embedded { instance, down } => format!(
                "embedded instance {instance}, down {}",
                humantime::format_duration(*down)
            ),
            RestartHow::Command(c) => format!("command: {c}"),
        }
    }
}

/// A restart scheduled in a measurement, until its recovery is computed.
pub(super) struct Armed {
    seen: Arc<Mutex<Option<Restarted>>>,
    window: Arc<Mutex<Totals>>,
    task: tokio::task::JoinHandle<()>,
}

/// Schedules `restart` from now; `url` is the instance to probe. The sink
/// keeps the intervals that end after the restart.
pub(super) fn arm(
    restart: &Restart,
    server: Option<&Server>,
    url: String,
    client: &ClientConfig,
) -> (Armed, Box<dyn IntervalSink>) {
    let seen = Arc::new(Mutex::new(None));
    let window = Arc::new(Mutex::new(Totals::default()));
    let faults = server.map(Server::faults);
    let client = ClientConfig {
        timeout: Duration::from_secs(2),
        ..client.clone()
    };
    let task = {
        let seen = seen.clone();
        let restart = restart.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            tokio::time::sleep(restart.after).await;
            let at = Instant::now();
            let mut r = Restarted {
                restart: restart.how.describe(),
                at_unix_ms: now_unix_us() / 1000,
                at_s: started.elapsed().as_secs_f64(),
                ..Restarted::default()
            };
            *lock(&seen) = Some(r.clone());
            match &restart.how {
                RestartHow::Embedded { instance, down } => {
                    let body = json!({"kind": "restart", "instance": instance,
                                      "down_ms": down.as_millis() as u64});
                    match faults.as_ref().map(|f| f.apply(&body)) {
                        Some(Ok(())) => {}
                        Some(Err(e)) => eprintln!("warning: the restart was not applied: {e}"),
                        None => eprintln!("warning: no embedded server to restart"),
                    }
                }
                RestartHow::Command(c) => {
                    r.command_exit = run_command(c).await;
                    *lock(&seen) = Some(r.clone());
                }
            }
            let Ok(rest) = Rest::new(&url, &client) else {
                return;
            };
            loop {
                if rest.info().await.is_ok() {
                    r.api_back_ms = Some(at.elapsed().as_millis() as u64);
                    *lock(&seen) = Some(r);
                    return;
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
        })
    };
    let sink = Box::new(WindowSink {
        seen: seen.clone(),
        window: window.clone(),
    });
    (Armed { seen, window, task }, sink)
}

impl Armed {
    /// The recovery, once the measurement ended; `None` when the restart
    /// never came.
    pub(super) fn finish(self) -> Option<Recovery> {
        self.task.abort();
        let seen = lock(&self.seen).clone()?;
        Some(Recovery::of(&seen, &lock(&self.window)))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `sh -c command` with its output on stderr; its exit code, `None`
/// when it could not start or was killed.
async fn run_command(command: &str) -> Option<i32> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("warning: the restart command did not start: {e}");
            return None;
        }
    };
    match tokio::time::timeout(COMMAND_LIMIT, child.wait()).await {
        Ok(Ok(status)) => {
            if !status.success() {
                eprintln!("warning: the restart command exited with {status}");
            }
            status.code()
        }
        Ok(Err(e)) => {
            eprintln!("warning: the restart command: {e}");
            None
        }
        Err(_) => {
            eprintln!(
                "warning: the restart command ran over {} and was killed",
                humantime::format_duration(COMMAND_LIMIT)
            );
            None
        }
    }
}

/// Adds every interval that ends after the restart.
struct WindowSink {
    seen: Arc<Mutex<Option<Restarted>>>,
    window: Arc<Mutex<Totals>>,
}

impl IntervalSink for WindowSink {
    fn interval(&mut self, tick: &Tick<'_>) -> Result<(), ResultsError> {
        let Some(at) = lock(&self.seen).as_ref().map(|r| r.at_unix_ms) else {
            return Ok(());
        };
        let iv = tick.interval;
        let end = iv.start_unix_ms + iv.duration.as_millis() as u64;
        if end > at {
            lock(&self.window).add(iv);
        }
        Ok(())
    }
}
