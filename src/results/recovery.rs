//! How a run came back from a restart of one instance (`scaling
//! --restart-after`): when the target answered again, when every dropped
//! session had resumed, what the login storm cost, and what was lost.
//! Computed from the intervals that end after the restart.

use serde::{Deserialize, Serialize};

use super::num::round3;
use super::totals::Totals;
use crate::metrics::MetricInterval;
use crate::metrics::histogram::quantile_ms;
use crate::metrics::names::{DDP_DISCONNECTS, DDP_RECONNECT, MESSAGE_LOST};

/// The logins a reconnecting client makes: the resume over DDP, and the
/// REST and step logins of VUs that start again.
pub const LOGIN_METRICS: &[&str] = &["ddp.method.login", "rest.login", "login"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// What restarted, e.g. `embedded instance 0, down 2s` or `command:
    /// docker restart rc1`.
    pub restart: String,
    pub restarted_at_unix_ms: u64,
    /// Seconds into the run.
    pub at_s: f64,
    /// The restart command's exit status (`None`: no command, or killed).
    pub command_exit: Option<i32>,
    /// Until `GET /api/info` on the restarted instance answered 200 again;
    /// `None`: not before the run ended.
    pub api_back_s: Option<f64>,
    /// Kept websockets that dropped from the restart on, and how many of
    /// them resumed (connected, logged in again, subscriptions restored).
    pub disconnected: u64,
    pub reconnected: u64,
    /// The slowest resume, drop to resumed: when every dropped session had
    /// come back. `None` unless all did.
    pub all_reconnected_s: Option<f64>,
    pub reconnect_p50_s: Option<f64>,
    pub reconnect_p95_s: Option<f64>,
    /// The logins from the restart to the end of the run.
    pub logins: Option<Logins>,
    /// Expected deliveries lost from the restart to the end.
    pub messages_lost: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logins {
    pub count: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// What the restarter saw, beside the intervals.
#[derive(Clone, Debug, Default)]
pub struct Restarted {
    pub restart: String,
    pub at_unix_ms: u64,
    pub at_s: f64,
    pub command_exit: Option<i32>,
    pub api_back_ms: Option<u64>,
}

impl Recovery {
    /// The recovery of `window`: every interval that ended after the restart.
    pub fn of(r: &Restarted, window: &Totals) -> Recovery {
        let secs = |ms: Option<f64>| ms.map(|v| round3(v / 1000.0));
        let disconnected = window.counters.get(DDP_DISCONNECTS).copied().unwrap_or(0);
        let reconnect = window.metrics.get(DDP_RECONNECT);
        let reconnected = reconnect.map_or(0, |m| m.ok);
        let q = |q: f64| reconnect.and_then(|m| quantile_ms(&m.latency, q));
        let mut logins = MetricInterval::default();
        for name in LOGIN_METRICS {
            if let Some(m) = window.metrics.get(*name) {
                logins.merge(m);
            }
        }
        Recovery {
            restart: r.restart.clone(),
            restarted_at_unix_ms: r.at_unix_ms,
            at_s: round3(r.at_s),
            command_exit: r.command_exit,
            api_back_s: r.api_back_ms.map(|ms| round3(ms as f64 / 1000.0)),
            disconnected,
            reconnected,
            all_reconnected_s: if reconnected >= disconnected && disconnected > 0 {
                secs(q(1.0))
            } else {
                None
            },
            reconnect_p50_s: secs(q(0.5)),
            reconnect_p95_s: secs(q(0.95)),
            logins: (logins.count() > 0).then(|| Logins {
                count: logins.count(),
                errors: logins.error_count(),
                p50_ms: quantile_ms(&logins.latency, 0.5),
                p95_ms: quantile_ms(&logins.latency, 0.95),
                max_ms: quantile_ms(&logins.latency, 1.0),
            }),
            messages_lost: window.counters.get(MESSAGE_LOST).copied().unwrap_or(0),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let s =
            |v: Option<f64>| v.map_or_else(|| "not before the end".into(), |v| format!("{v:.1} s"));
        let logins = self.logins.as_ref().map_or_else(String::new, |l| {
            format!("; {} login(s), p95 {}", l.count, super::format_ms(l.p95_ms))
        });
        format!(
            "{} at {:.1} s: /api/info back after {}; {}/{} dropped sessions resumed, all after {}{logins}; {} message(s) lost",
            self.restart,
            self.at_s,
            s(self.api_back_s),
            self.reconnected,
            self.disconnected,
            s(self.all_reconnected_s),
            self.messages_lost
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Metrics, Sample};

    #[test]
    fn all_reconnected_only_when_every_drop_resumed() {
        let m = Metrics::new();
        m.add(m.id(DDP_DISCONNECTS), 3);
        let reconnect = m.id(DDP_RECONNECT);
        for ms in [400, 900, 2500] {
            m.record(reconnect, Sample::ok(Duration::from_millis(ms)));
        }
        let login = m.id("ddp.method.login");
        m.record(login, Sample::ok(Duration::from_millis(30)));
        m.add(m.id(MESSAGE_LOST), 4);
        let mut window = Totals::default();
        window.add(&m.snapshot());
        let r = Restarted {
            restart: "embedded instance 0, down 2s".into(),
            at_s: 5.0,
            api_back_ms: Some(2010),
            ..Restarted::default()
        };
        let rec = Recovery::of(&r, &window);
        assert_eq!((rec.disconnected, rec.reconnected), (3, 3));
        assert!(
            (rec.all_reconnected_s.unwrap() - 2.5).abs() < 0.01,
            "{rec:?}"
        );
        assert_eq!(rec.api_back_s, Some(2.01));
        assert_eq!(rec.logins.as_ref().unwrap().count, 1);
        assert_eq!(rec.messages_lost, 4);
        assert!(
            rec.describe().contains("3/3 dropped sessions resumed"),
            "{}",
            rec.describe()
        );
        // One drop never resumed: no "all reconnected" time.
        m.add(m.id(DDP_DISCONNECTS), 1);
        window.add(&m.snapshot());
        assert_eq!(Recovery::of(&r, &window).all_reconnected_s, None);
    }
}
