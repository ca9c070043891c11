//! What a plan asks of Rocket.Chat's rate limiters, before it runs: REST
//! calls per route and minute from this host, and DDP calls per method and
//! connection. An upper bound, said as such: an iteration is taken to last
//! its think times alone (the server answering instantly), and VUs to
//! start at the ramp's steepest rate.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::RunPlan;
use crate::scenario::{Model, SendVia, Step, Think, Via, recorded};

/// REST routes (after `/api/v1/`) and DDP methods a step calls once.
#[derive(Default)]
struct Calls {
    rest: Vec<String>,
    ddp: Vec<&'static str>,
}

/// The calls of one step that Rocket.Chat's limiters count; composite and
/// flow steps are walked by [`Tally`]. `method.call` and
/// `method.callAnon` have no REST rule (Rocket.Chat turns theirs off) but
/// count as DDP calls of their method.
fn calls_of(step: &Step) -> Calls {
    let rest = |r: &str| Calls {
        rest: vec![r.to_string()],
        ddp: Vec::new(),
    };
    let ddp = |m: &'static str| Calls {
        rest: Vec::new(),
        ddp: vec![m],
    };
    match step {
        Step::Login(s) => match s.via {
            Via::Rest => rest("login"),
            Via::Ddp => ddp("login"),
        },
        Step::SendMessage(s) => match s.via {
            SendVia::PostMessage => rest("chat.postMessage"),
            SendVia::SendMessage => rest("chat.sendMessage"),
            SendVia::Ddp => ddp("sendMessage"),
        },
        Step::LoadHistory(s) => match s.via {
            Via::Rest => rest("channels.history"),
            Via::Ddp => ddp("loadHistory"),
        },
        Step::Read(s) => match s.via {
            Via::Rest => rest("subscriptions.read"),
            Via::Ddp => ddp("readMessages"),
        },
        Step::JoinRoom(s) => match s.via {
            Via::Rest => rest("channels.join"),
            Via::Ddp => ddp("joinRoom"),
        },
        Step::SetStatus(s) => match s.via {
            Via::Rest => rest("users.setStatus"),
            Via::Ddp => ddp("setUserStatus"),
        },
        Step::Typing(_) => ddp(recorded::NOTIFY_ROOM),
        // loadHistory (over DDP, or REST method.call), then REST read.
        Step::OpenRoom(_) => Calls {
            rest: vec!["subscriptions.read".into()],
            ddp: vec!["loadHistory"],
        },
        // A REST login (unless the VU has a session), DDP resume, and the
        // methods the client calls through `method.call`.
        Step::WebClientBoot(_) => Calls {
            rest: vec!["login".into()],
            ddp: [recorded::BOOT_ANON_METHOD, "login"]
                .into_iter()
                .chain(recorded::BOOT_METHODS)
                .collect(),
        },
        Step::Http(s) => match v1_route(&s.path) {
            Some(r) => rest(&r),
            None => Calls::default(),
        },
        Step::Connect(_)
        | Step::Subscribe(_)
        | Step::Unsubscribe(_)
        | Step::Think(_)
        | Step::Repeat(_)
        | Step::Group(_)
        | Step::WaitForMessage(_) => Calls::default(),
    }
}

/// The REST limiter's route of an `http` step's path: the endpoint after
/// `/api/v1/`; `None` for paths it does not limit (`/api/info`, method
/// calls, anything outside `/api/v1/`).
fn v1_route(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let route = path.strip_prefix("/api/v1/").or_else(|| {
        // Relative paths are relative to /api/v1/, as the engine sends them.
        (!path.starts_with('/')).then_some(path)
    })?;
    let free = route.is_empty() || route.starts_with("method.call");
    (!free).then(|| route.to_string())
}

/// The mean of a think time.
fn mean(t: &Think) -> Duration {
    match t {
        Think::Constant(d) | Think::Exponential(d) => *d,
        Think::Uniform { min, max } => (*min + *max) / 2,
        Think::Normal { mean, .. } => *mean,
    }
}

/// Calls and think time of a list of steps, repeats multiplied out.
#[derive(Clone, Default)]
struct Tally {
    rest: BTreeMap<String, f64>,
    ddp: BTreeMap<&'static str, f64>,
    think_s: f64,
}

/// A `repeat` with no count runs this many times in the estimate: enough
/// for its own rate to dominate the iteration's.
const OPEN_ENDED_REPEATS: f64 = 1_000.0;

impl Tally {
    fn of(steps: &[Step]) -> Tally {
        let mut t = Tally::default();
        for step in steps {
            match step {
                Step::Think(think) => t.think_s += mean(think).as_secs_f64(),
                Step::Repeat(r) => {
                    let inner = Tally::of(&r.steps);
                    let times = match (r.count, r.duration) {
                        (Some(n), _) => n as f64,
                        (None, Some(d)) if inner.think_s > 0.0 => {
                            (d.as_secs_f64() / inner.think_s).max(1.0)
                        }
                        _ => OPEN_ENDED_REPEATS,
                    };
                    t.add(&inner, times);
                }
                Step::Group(g) => t.add(&Tally::of(&g.steps), 1.0),
                other => {
                    let c = calls_of(other);
                    for r in c.rest {
                        *t.rest.entry(r).or_default() += 1.0;
                    }
                    for m in c.ddp {
                        *t.ddp.entry(m).or_default() += 1.0;
                    }
                }
            }
        }
        t
    }

    fn add(&mut self, other: &Tally, times: f64) {
        for (r, n) in &other.rest {
            *self.rest.entry(r.clone()).or_default() += n * times;
        }
        for (m, n) in &other.ddp {
            *self.ddp.entry(m).or_default() += n * times;
        }
        self.think_s += other.think_s * times;
    }
}

/// A rate that has no bound: the steps call without thinking.
pub const UNBOUNDED: f64 = f64::INFINITY;

/// What the plan's load asks of the limiters.
#[derive(Debug, Default, PartialEq)]
pub struct Needs {
    /// REST route -> calls in the busiest minute, from every VU of this
    /// host (setup at the ramp's steepest start rate, plus iterations).
    pub rest_per_minute: BTreeMap<String, f64>,
    /// DDP method -> calls per 10 s on one connection (the busiest VU's).
    pub ddp_per_10s: BTreeMap<&'static str, f64>,
}

/// The plan's needs (this shard's share of the load).
pub fn of(plan: &RunPlan) -> Needs {
    let sc = &plan.scenario;
    let profile = plan.profile();
    let peak = profile.peak();
    // VUs (closed) or arrivals/s (open) in the busiest minute, per behaviour.
    let pinned: f64 = sc
        .behaviours
        .iter()
        .filter_map(|b| b.vus)
        .map(f64::from)
        .sum();
    let weights: f64 = sc
        .behaviours
        .iter()
        .filter(|b| b.vus.is_none())
        .map(|b| f64::from(b.weight))
        .sum();
    let share = |b: &crate::scenario::Behaviour, of: f64| match b.vus {
        Some(n) => f64::from(n).min(of),
        None if weights > 0.0 => (of - pinned).max(0.0) * f64::from(b.weight) / weights,
        None => 0.0,
    };
    // VUs started within a minute: the steepest ramp, capped by the peak.
    let starts_per_minute = match sc.load.model {
        Model::Closed => {
            let mut level = profile.start;
            let mut steepest = profile.start;
            for (d, target) in &profile.stages {
                let rise = (target - level).max(0.0);
                let minutes = d.as_secs_f64() / 60.0;
                steepest = steepest.max(if minutes <= 1.0 { rise } else { rise / minutes });
                level = *target;
            }
            steepest.min(peak)
        }
        Model::Open => (peak * 60.0).min(f64::from(plan.max_vus())),
    };
    let mut needs = Needs::default();
    for b in &sc.behaviours {
        let setup = Tally::of(&b.setup);
        let iteration = Tally::of(&b.steps);
        let starts = share(b, starts_per_minute);
        // Iterations a minute of this behaviour's VUs (closed) or arrivals.
        let iterations = match sc.load.model {
            Model::Closed if iteration.think_s > 0.0 => share(b, peak) * 60.0 / iteration.think_s,
            Model::Closed => UNBOUNDED,
            Model::Open => share(b, peak) * 60.0,
        };
        for (route, n) in &setup.rest {
            *needs.rest_per_minute.entry(route.clone()).or_default() += starts * n;
        }
        for (route, n) in &iteration.rest {
            let calls = if iterations.is_infinite() {
                UNBOUNDED
            } else {
                iterations * n
            };
            *needs.rest_per_minute.entry(route.clone()).or_default() += calls;
        }
        // One VU's connection: its iterations in 10 s.
        if sc.load.model == Model::Closed {
            for (method, n) in &iteration.ddp {
                let per_10s = if iteration.think_s > 0.0 {
                    10.0 * n / iteration.think_s
                } else {
                    UNBOUNDED
                };
                let slot = needs.ddp_per_10s.entry(method).or_default();
                *slot = slot.max(per_10s);
            }
        }
    }
    needs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Overrides;
    use crate::scenario::load_str;

    fn needs(yaml: &str) -> Needs {
        let sc = load_str(yaml, "t.yaml", &|_| None).unwrap();
        of(&RunPlan::new(
            sc,
            vec!["http://x".into()],
            Overrides::default(),
            None,
            false,
        )
        .unwrap())
    }

    const HEAD: &str =
        "name: t\nusers: { count: 600, password: p }\nrooms: { count: 2, members_per_room: 10 }\n";

    #[test]
    fn logins_at_the_ramp_and_posts_at_the_think_rate() {
        let n = needs(&format!(
            "{HEAD}load: {{ model: closed, stages: [{{duration: 10m, target: 600}}, {{duration: 5m, target: 600}}] }}\n\
             behaviours:\n  - name: a\n    setup: [ {{ login: {{ via: rest }} }}, connect ]\n    steps:\n\
             \x20     - think: {{ constant: 30s }}\n      - send_message: {{ room: random }}\n\
             \x20     - send_message: {{ room: random, via: ddp }}\n"
        ));
        // 600 VUs over 10 minutes: 60 logins a minute.
        assert_eq!(n.rest_per_minute["login"], 60.0);
        // 600 VUs, one post per 30 s each: 1,200 a minute.
        assert_eq!(n.rest_per_minute["chat.postMessage"], 1_200.0);
        // One connection: a sendMessage per 30 s.
        assert!((n.ddp_per_10s["sendMessage"] - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn repeats_multiply_and_no_think_is_unbounded() {
        let n = needs(&format!(
            "{HEAD}load: {{ model: closed, vus: 10, duration: 1m }}\n\
             behaviours:\n  - name: a\n    steps:\n      - repeat:\n          count: 3\n          steps:\n\
             \x20           - think: {{ uniform: [1s, 3s] }}\n            - http: {{ path: /api/v1/me?x=1 }}\n\
             \x20           - http: {{ path: /api/info }}\n            - typing: {{ room: random }}\n\
             \x20 - name: b\n    steps: [ {{ read: {{ room: random }} }} ]\n"
        ));
        // 5 VUs of a: one `me` per 2 s each.
        assert_eq!(n.rest_per_minute["me"], 150.0);
        assert!(!n.rest_per_minute.contains_key("info"));
        assert_eq!(n.rest_per_minute["subscriptions.read"], UNBOUNDED);
        assert_eq!(n.ddp_per_10s["stream-notify-room"], 5.0);
    }

    #[test]
    fn open_model_counts_arrivals() {
        let n = needs(&format!(
            "{HEAD}load: {{ model: open, rate: 2, duration: 1m, max_vus: 50 }}\n\
             behaviours:\n  - name: a\n    setup: [ web_client_boot ]\n    steps: [ {{ join_room: {{ room: random }} }} ]\n"
        ));
        assert_eq!(n.rest_per_minute["channels.join"], 120.0);
        assert_eq!(n.rest_per_minute["login"], 50.0);
    }

    #[test]
    fn only_limited_routes_of_http_paths() {
        assert_eq!(
            v1_route("/api/v1/rooms.get?updatedSince=x"),
            Some("rooms.get".into())
        );
        assert_eq!(
            v1_route("chat.postMessage"),
            Some("chat.postMessage".into())
        );
        assert_eq!(v1_route("/api/v1/method.call/loadHistory"), None);
        assert_eq!(v1_route("/api/info"), None);
        assert_eq!(v1_route("/avatar/x"), None);
    }
}
