//! The top-level sections: name and timeouts, `users`, `rooms`, `target`,
//! `server`, `load` and `thresholds`.

use super::{Checker, KeyPath, is_metric_name, is_token_byte, produced_metrics, total_duration};
use crate::metrics::names::COUNTERS;
use crate::scenario::error::{Severity, did_you_mean};
use crate::scenario::model::*;

/// The reference server's own limit: `server.cost` configures that server,
/// so the file is checked by its rule, kept in one place there.
use crate::server::cost::MAX_COST;

impl Checker<'_> {
    pub(super) fn top(&mut self, s: &Scenario, top: &KeyPath) {
        if s.name.trim().is_empty() {
            self.err(&top.key("name"), "must not be empty");
        } else if s.name.contains(['/', '\\']) {
            self.err(
                &top.key("name"),
                "names the results directory: no `/` or `\\`",
            );
        }
        self.positive(&top.key("timeout"), s.timeout);
        self.positive(&top.key("loss_timeout"), s.loss_timeout);
    }

    /// User and room name prefixes: characters Rocket.Chat accepts in names.
    fn name_prefix(&mut self, prefix: &str, p: &KeyPath, what: &str, may_be_empty: bool) {
        let valid = prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid || (prefix.is_empty() && !may_be_empty) {
            self.err(
                p,
                format!("`{prefix}`: {what} names allow letters, digits, `.`, `_` and `-`"),
            );
        }
    }

    pub(super) fn users(&mut self, s: &Scenario, p: &KeyPath) {
        let u = &s.users;
        if u.count == 0 {
            self.err(&p.key("count"), "must be at least 1");
        }
        self.name_prefix(&u.prefix, &p.key("prefix"), "user", true);
        if u.password.is_empty() {
            self.err(&p.key("password"), "must not be empty");
        }
        if u.concurrency == 0 {
            self.err(&p.key("concurrency"), "must be at least 1");
        }
        // `provision: none` without a `target`, and `create` without an
        // admin, are checked by `run`, which knows the flags and the
        // environment.
        if u.admin.as_ref().is_some_and(|a| a.password.is_some()) {
            self.err(
                &p.key("admin").key("password"),
                format!(
                    "the admin's password is never read from a scenario (it is hashed, shared and kept with the results): remove it and {}",
                    crate::engine::admin::how_to_give()
                ),
            );
        }
    }

    pub(super) fn rooms(&mut self, r: &Rooms, s: &Scenario, p: &KeyPath) {
        if r.count == 0 {
            self.err(&p.key("count"), "must be at least 1");
        }
        if r.members_per_room == 0 {
            self.err(&p.key("members_per_room"), "must be at least 1");
        } else if r.members_per_room > s.users.count && s.users.count > 0 {
            self.err(
                &p.key("members_per_room"),
                format!(
                    "{} members per room but only {} users",
                    r.members_per_room, s.users.count
                ),
            );
        }
        self.name_prefix(&r.prefix, &p.key("prefix"), "room", false);
        let seats = u64::from(r.count) * u64::from(r.members_per_room);
        if seats > 0 && seats < u64::from(s.users.count) {
            self.warn(
                p,
                format!(
                    "{} rooms x {} members seat {seats} of {} users: the others belong to no room",
                    r.count, r.members_per_room, s.users.count
                ),
            );
        }
    }

    pub(super) fn target(&mut self, t: &Target, p: &KeyPath) {
        if t.urls.is_empty() {
            self.err(
                &p.key("urls"),
                "needs at least one base URL (omit `target` for the embedded server)",
            );
        }
        for (i, u) in t.urls.iter().enumerate() {
            let up = p.key("urls").idx(i);
            match url::Url::parse(u) {
                Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                    self.err(&up, format!("`{u}`: expected an http:// or https:// URL"))
                }
                Ok(url) if url.host().is_none() => self.err(&up, format!("`{u}` has no host")),
                Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                    self.err(&up, format!("`{u}`: a base URL takes no query or fragment"))
                }
                Ok(_) => {}
                Err(e) => self.err(
                    &up,
                    format!("`{u}` is not a URL ({e}); expected e.g. http://127.0.0.1:3000"),
                ),
            }
        }
        for (name, value) in &t.headers {
            let hp = p.key("headers").key(name);
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                self.err(&hp, format!("`{name}` is not a valid HTTP header name"));
            }
            if value.contains(['\r', '\n']) {
                self.err(&hp, "header values cannot contain line breaks");
            }
        }
    }

    pub(super) fn server(&mut self, srv: &EmbeddedServer, s: &Scenario, p: &KeyPath) {
        if srv.instances == Some(0) {
            self.err(&p.key("instances"), "must be at least 1");
        }
        for (op, cost) in &srv.cost {
            let cp = p.key("cost").key(op);
            if op.is_empty() || op.chars().any(char::is_whitespace) {
                self.err(&cp, "an operation name is non-empty, without spaces");
            }
            if *cost > MAX_COST {
                self.err(
                    &cp,
                    format!(
                        "is over the {} limit: a cost of seconds per operation wedges the instance",
                        humantime::format_duration(MAX_COST)
                    ),
                );
            }
        }
        let total = total_duration(&s.load);
        for (i, f) in srv.faults.iter().enumerate() {
            let fp = p.key("faults").idx(i);
            if total.is_some_and(|t| f.at >= t) {
                self.warn(
                    &fp.key("at"),
                    "is at or after the end of the last stage: the fault never applies",
                );
            }
        }
    }

    pub(super) fn load(&mut self, l: &Load, s: &Scenario, p: &KeyPath) {
        let stages = !l.stages.is_empty();
        let (unit, other_model) = match l.model {
            Model::Closed => ("VUs", "open"),
            Model::Open => ("arrivals/s", "closed"),
        };
        // Options of the other model would silently do nothing.
        let foreign: &[&str] = match l.model {
            Model::Closed => &["rate", "max_vus", "max_queue"],
            Model::Open => &["vus"],
        };
        for key in foreign {
            if self.has(&p.key(key)) {
                self.err(
                    &p.key(key),
                    format!("applies to the {other_model} model only"),
                );
            }
        }
        let (amount_key, amount) = match l.model {
            Model::Closed => ("vus", l.vus.map(f64::from)),
            Model::Open => ("rate", l.rate),
        };
        if stages {
            for key in [amount_key, "duration"] {
                if self.has(&p.key(key)) {
                    self.err(
                        &p.key(key),
                        format!("give either `stages` or `{amount_key}` + `duration`, not both"),
                    );
                }
            }
        } else {
            match (amount, l.duration) {
                (Some(_), Some(_)) => {}
                (None, None) => self.err(
                    p,
                    format!("needs `stages`, or `{amount_key}` and `duration`"),
                ),
                (None, Some(_)) => self.err(p, format!("`duration` needs `{amount_key}`")),
                (Some(_), None) => self.err(p, format!("`{amount_key}` needs `duration`")),
            }
        }
        if let Some(d) = l.duration {
            self.positive(&p.key("duration"), d);
        }
        match (l.model, amount) {
            (Model::Closed, Some(v)) if v < 1.0 => self.err(&p.key("vus"), "must be at least 1"),
            (Model::Open, Some(r)) if !(r.is_finite() && r > 0.0) => self.err(
                &p.key("rate"),
                "must be a number above 0 (arrivals per second)",
            ),
            _ => {}
        }
        for (i, st) in l.stages.iter().enumerate() {
            let sp = p.key("stages").idx(i);
            self.positive(&sp.key("duration"), st.duration);
            if !(st.target.is_finite() && st.target >= 0.0) {
                self.err(&sp.key("target"), format!("must be a number >= 0 ({unit})"));
            } else if l.model == Model::Closed && st.target.fract() != 0.0 {
                self.err(
                    &sp.key("target"),
                    "is a number of VUs: must be a whole number",
                );
            }
        }
        if let Some(msg) = total_duration(l).and_then(beyond_run_cap) {
            let key = if stages { "stages" } else { "duration" };
            self.err(&p.key(key), msg);
        }
        let peak = l
            .stages
            .iter()
            .map(|st| st.target)
            .chain(amount)
            .fold(0.0_f64, f64::max);
        if stages && peak <= 0.0 {
            self.err(
                &p.key("stages"),
                format!("every stage targets 0 {unit}: nothing runs"),
            );
        }
        match l.model {
            Model::Closed => {
                if peak > f64::from(s.users.count) && s.users.count > 0 {
                    self.warn(
                        p,
                        format!(
                            "peak of {peak} VUs exceeds users.count {}: VUs share user accounts",
                            s.users.count
                        ),
                    );
                }
            }
            Model::Open => match l.max_vus {
                None => self.err(
                    &p.key("max_vus"),
                    "the open model needs `max_vus`, the pool of VUs (user sessions) that serve arrivals",
                ),
                Some(0) => self.err(&p.key("max_vus"), "must be at least 1"),
                Some(m) if m > s.users.count && s.users.count > 0 => self.warn(
                    &p.key("max_vus"),
                    format!("{m} VUs exceed users.count {}: VUs share user accounts", s.users.count),
                ),
                Some(_) => {}
            },
        }
    }

    pub(super) fn thresholds(&mut self, s: &Scenario, p: &KeyPath) {
        let produced = produced_metrics(s);
        for (name, th) in &s.thresholds {
            let tp = p.key(name);
            if !is_metric_name(name) {
                self.err(
                    &tp,
                    format!("`{name}` is not a metric name: dot-separated words of letters, digits, `_`, `-`, `:`"),
                );
                continue;
            }
            let latency = [th.p50, th.p90, th.p95, th.p99, th.p999, th.max];
            let any_latency = latency.iter().any(Option::is_some);
            if !any_latency && th.rate.is_none() && th.count.is_none() && th.min_count.is_none() {
                self.err(
                    &tp,
                    "needs at least one limit: p50, p90, p95, p99, p999, max, rate, count or min_count",
                );
            }
            let counter = COUNTERS.contains(&name.as_str());
            if counter && (any_latency || th.rate.is_some()) {
                self.err(
                    &tp,
                    format!("`{name}` is a counter: only `count` and `min_count` apply"),
                );
            }
            if name == "errors" && any_latency {
                self.err(
                    &tp,
                    "`errors` counts failed operations: only `rate`, `count` and `min_count` apply",
                );
            }
            if !produced.contains(name.as_str()) {
                let near = did_you_mean(name, produced.iter().map(String::as_str));
                let family = ["rest.", "ddp.", "http.", "message."]
                    .iter()
                    .any(|f| name.starts_with(f));
                if near.is_some() || !family {
                    self.push(
                        Severity::Warning,
                        &tp,
                        format!("no step of this scenario records `{name}`: the threshold may never see a sample"),
                        near,
                    );
                }
            }
        }
    }
}
