//! One virtual user: a user session (REST client, optional DDP
//! connection), its seeded generator, captured variables and
//! subscriptions, and the interpreter of its behaviour's steps
//! (`steps/`). Errors never abort the run: a failed operation is recorded
//! with its error class and the iteration goes on with the next step, as
//! a real client would (later steps that need what failed fail too, and
//! are counted as such).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;
use serde_json::Value;

use super::clock::{IterationClock, OpTimer};
use super::errors::classify;
use super::executor::{StopFlag, VuDriver};
use super::plan::RunPlan;
use super::sink::{VuSink, now_unix_us};
use super::world::{User, World};
use crate::metrics::{ErrorClass, MessageTracker, MetricId, Metrics, Sample, names};
use crate::rocketchat::{ClientConfig, Ddp, RcError, Rest, Session};
use crate::scenario::{RenderCtx, Stream, Template};

/// What the VUs noticed once per run, for the run's notes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum EngineNote {
    /// The first error of a class, with its cause chain: the class key
    /// alone (`connect`) would hide e.g. "Too many open files".
    FirstError {
        metric: String,
        class: String,
        cause: String,
    },
    /// A scenario problem met while running (bad template, unknown room).
    Problem(String),
}

impl std::fmt::Display for EngineNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineNote::FirstError {
                metric,
                class,
                cause,
            } => write!(f, "first `{class}` error, on {metric}: {cause}"),
            EngineNote::Problem(text) => f.write_str(text),
        }
    }
}

/// Everything the VUs of one run share.
pub struct RunCtx {
    pub plan: RunPlan,
    pub world: World,
    pub metrics: Metrics,
    pub tracker: MessageTracker,
    pub reconnects: AtomicU64,
    reconnects_id: MetricId,
    disconnects_id: MetricId,
    reconnect_id: MetricId,
    iterations_id: MetricId,
    /// First occurrence of each configuration-like problem (bad template,
    /// unknown room) and of each error class, reported once in the notes.
    notes: Mutex<BTreeSet<EngineNote>>,
    /// Error classes already noted with their first cause.
    error_classes: Mutex<BTreeSet<String>>,
}

impl RunCtx {
    pub fn new(plan: RunPlan, world: World, metrics: Metrics, tracker: MessageTracker) -> RunCtx {
        RunCtx {
            reconnects_id: metrics.id(names::DDP_RECONNECTS),
            disconnects_id: metrics.id(names::DDP_DISCONNECTS),
            reconnect_id: metrics.id(names::DDP_RECONNECT),
            iterations_id: metrics.id(names::ITERATIONS),
            plan,
            world,
            metrics,
            tracker,
            reconnects: AtomicU64::new(0),
            notes: Mutex::new(BTreeSet::new()),
            error_classes: Mutex::new(BTreeSet::new()),
        }
    }

    /// Notes a scenario problem met while running.
    pub fn note(&self, text: String) {
        self.push_note(EngineNote::Problem(text));
    }

    fn push_note(&self, note: EngineNote) {
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if notes.len() < 50 {
            notes.insert(note);
        }
    }

    /// Notes the first error of each class with its cause chain: the class
    /// key alone (`connect`) would hide e.g. "Too many open files".
    pub fn first_error(&self, metric: &str, class: &ErrorClass, err: &RcError) {
        let key = class.key();
        let first = {
            let mut seen = self.error_classes.lock().unwrap_or_else(|e| e.into_inner());
            seen.len() < 32 && seen.insert(key.clone())
        };
        if first {
            self.push_note(EngineNote::FirstError {
                metric: metric.to_string(),
                class: key,
                cause: crate::rocketchat::chain_text(err),
            });
        }
    }

    pub fn notes(&self) -> Vec<EngineNote> {
        let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.iter().cloned().collect()
    }
}

/// The real VU behind the executors.
pub struct EngineDriver {
    pub ctx: Arc<RunCtx>,
}

impl VuDriver for EngineDriver {
    type Vu = Vu;
    async fn create(&self, index: u32, stop: StopFlag) -> Vu {
        let mut vu = Vu::new(self.ctx.clone(), index, stop);
        vu.setup().await;
        vu
    }
    async fn iteration(&self, vu: &mut Vu, intended: Option<tokio::time::Instant>) -> bool {
        vu.iteration(intended).await
    }
    async fn retire(&self, vu: Vu) {
        vu.retire().await;
    }
    /// Keeps the connections until every tracked message reached its
    /// receivers. Retiring first would forgive missing copies (a receiver
    /// that disconnects is owed nothing), so a run shorter than
    /// `loss_timeout` could never count a loss. Waits at most
    /// min(loss_timeout, 80 % of graceful_stop); copies still missing then
    /// count as lost.
    async fn linger(&self) {
        let tracker = &self.ctx.tracker;
        let sc = &self.ctx.plan.scenario;
        let wait = sc.loss_timeout.min(sc.load.graceful_stop.mul_f64(0.8));
        let deadline = tokio::time::Instant::now() + wait;
        while tracker.pending() > 0 {
            if tokio::time::Instant::now() >= deadline {
                // As if loss_timeout had passed for every message still owed.
                let horizon = super::sink::now_unix_us() + sc.loss_timeout.as_micros() as u64;
                tracker.sweep(horizon);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether to go on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRef {
    pub name: String,
    pub id: String,
}

/// A live subscription, kept to restore it after a reconnect.
#[derive(Debug, Clone)]
pub struct ActiveSub {
    pub stream: Option<Stream>,
    pub name: String,
    pub params: Vec<Value>,
    pub id: String,
    pub metric: String,
    /// The room whose messages this delivers (e2e tracking), if any.
    pub tracked_room: Option<String>,
    /// The room it belongs to (for unsubscribe by room).
    pub room_id: Option<String>,
}

/// True when `steps` (or a group or repeat in them) wait for a message.
fn waits_for_messages(steps: &[crate::scenario::Step]) -> bool {
    steps.iter().any(|s| {
        matches!(s, crate::scenario::Step::WaitForMessage(_)) || waits_for_messages(s.children())
    })
}

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;

pub struct Vu {
    pub(crate) index: u32,
    pub(crate) ctx: Arc<RunCtx>,
    behaviour: usize,
    pub(crate) user: User,
    pub(crate) base: String,
    pub(crate) cfg: ClientConfig,
    pub(crate) rest: Option<Rest>,
    pub(crate) session: Option<Session>,
    pub(crate) ddp: Option<Ddp>,
    /// A websocket was opened: keep it up (reconnect when it drops).
    pub(crate) keep_connected: bool,
    pub(crate) sink: Arc<VuSink>,
    pub(crate) subs: Vec<ActiveSub>,
    pub(crate) rng: StdRng,
    pub(crate) vars: HashMap<String, String>,
    seq: u64,
    pub(crate) iteration: u64,
    pub(crate) msg_seq: u64,
    pub(crate) current: Option<RoomRef>,
    pub(crate) stop: StopFlag,
    ids: HashMap<String, MetricId>,
    templates: HashMap<String, Template>,
    /// Failed operations so far (a `group` fails if any inside failed).
    pub(crate) errors: u64,
    pub(crate) last_error: Option<ErrorClass>,
}

impl Vu {
    pub fn new(ctx: Arc<RunCtx>, index: u32, stop: StopFlag) -> Vu {
        let plan = &ctx.plan;
        let mut rng = plan.vu_rng(index);
        let behaviour = plan.behaviour_for(index, &mut rng);
        let user = ctx.world.user_for_vu(index).cloned().unwrap_or(User {
            number: 0,
            username: String::new(),
            password: String::new(),
            user_id: None,
            rooms: Vec::new(),
        });
        let base = plan.target_of(index).to_owned();
        let cfg = plan.client_of(index);
        let rest = match Rest::new(&base, &cfg) {
            Ok(r) => Some(r),
            Err(e) => {
                ctx.note(format!("VU HTTP client for {base}: {e}"));
                None
            }
        };
        let mut vars = HashMap::new();
        vars.insert("username".to_owned(), user.username.clone());
        let waits = {
            let b = &plan.scenario.behaviours[behaviour];
            waits_for_messages(&b.setup) || waits_for_messages(&b.steps)
        };
        let sink = Arc::new(VuSink::new(
            index,
            plan.tokens(),
            ctx.tracker.clone(),
            waits,
        ));
        Vu {
            index,
            behaviour,
            user,
            base,
            cfg,
            rest,
            session: None,
            ddp: None,
            keep_connected: false,
            sink,
            subs: Vec::new(),
            rng,
            vars,
            seq: 0,
            iteration: 0,
            msg_seq: 0,
            current: None,
            stop,
            ids: HashMap::new(),
            templates: HashMap::new(),
            errors: 0,
            last_error: None,
            ctx,
        }
    }

    /// Runs the behaviour's `setup` once (log in, connect, subscribe).
    pub async fn setup(&mut self) {
        let ctx = self.ctx.clone();
        let steps = &ctx.plan.scenario.behaviours[self.behaviour].setup;
        let mut clock = IterationClock::new(None);
        self.run_steps(steps, &mut clock).await;
    }

    /// One iteration of the behaviour's `steps`; false when a stop cut it
    /// short. A whole one is recorded as `iterations` (latency from the
    /// intended start; failed when any operation in it failed).
    pub async fn iteration(&mut self, intended: Option<tokio::time::Instant>) -> bool {
        self.iteration += 1;
        let ctx = self.ctx.clone();
        let steps = &ctx.plan.scenario.behaviours[self.behaviour].steps;
        self.sink.new_iteration();
        let mut clock = IterationClock::new(intended);
        let t = clock.start_enclosing();
        let errors = self.errors;
        let flow = self.run_steps(steps, &mut clock).await;
        if flow == Flow::Stopped {
            // Cut short: not a whole iteration, so not timed as one.
            return false;
        }
        let outcome = self.outcome_since(errors);
        let (latency, service) = t.finish();
        ctx.metrics.record(
            ctx.iterations_id,
            Sample {
                latency,
                service,
                outcome,
            },
        );
        true
    }

    /// Closes the connection (the tracker forgets the VU's rooms).
    pub async fn retire(mut self) {
        if let Some(ddp) = self.ddp.take() {
            ddp.close().await;
        }
        self.ctx.tracker.disconnected(self.index);
    }

    pub(crate) fn run_steps<'a>(
        &'a mut self,
        steps: &'a [crate::scenario::Step],
        clock: &'a mut IterationClock,
    ) -> StepFuture<'a> {
        Box::pin(async move {
            for step in steps {
                if self.stop.is_stopped() {
                    return Flow::Stopped;
                }
                if self.run_step(step, clock).await == Flow::Stopped {
                    return Flow::Stopped;
                }
            }
            Flow::Continue
        })
    }

    // ---- recording ---------------------------------------------------

    pub(crate) fn metric(&mut self, name: &str) -> MetricId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.ctx.metrics.id(name);
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// Records one timed operation ending now.
    pub(crate) fn record(&mut self, name: &str, t: OpTimer, outcome: Result<(), ErrorClass>) {
        let (latency, service) = t.finish();
        if let Err(class) = &outcome {
            self.errors += 1;
            self.last_error = Some(class.clone());
        }
        let id = self.metric(name);
        self.ctx.metrics.record(
            id,
            Sample {
                latency,
                service,
                outcome,
            },
        );
    }

    /// Records a failed protocol call under its class; returns the class.
    pub(crate) fn record_error(&mut self, name: &str, t: OpTimer, err: &RcError) -> ErrorClass {
        let class = classify(err);
        self.ctx.first_error(name, &class, err);
        self.record(name, t, Err(class.clone()));
        class
    }

    /// Records the outcome of a protocol call and passes its value on.
    pub(crate) fn done<T>(&mut self, name: &str, t: OpTimer, r: Result<T, RcError>) -> Option<T> {
        match r {
            Ok(v) => {
                self.record(name, t, Ok(()));
                Some(v)
            }
            Err(e) => {
                self.record_error(name, t, &e);
                None
            }
        }
    }

    /// Records a failure that happened before any request (no room, not
    /// logged in, bad template): zero duration, the given class.
    pub(crate) fn fail_now(&mut self, name: &str, class: ErrorClass) {
        let mut clock = IterationClock::new(None);
        let t = clock.start();
        self.record(name, t, Err(class));
    }

    /// Ok, or the last error class when an operation failed since `errors`.
    pub(crate) fn outcome_since(&self, errors: u64) -> Result<(), ErrorClass> {
        if self.errors > errors {
            Err(self.last_error.clone().unwrap_or(ErrorClass::Other))
        } else {
            Ok(())
        }
    }

    // ---- templates ----------------------------------------------------

    /// Renders a template string in this VU's context. Errors (unknown
    /// function, missing captured variable) are noted once per run.
    pub(crate) fn render(&mut self, src: &str) -> Result<String, ErrorClass> {
        if !self.templates.contains_key(src) {
            match Template::parse(src) {
                Ok(t) => {
                    self.templates.insert(src.to_owned(), t);
                }
                Err(e) => {
                    self.ctx.note(format!("template `{src}`: {e}"));
                    return Err(ErrorClass::Other);
                }
            }
        }
        let Some(t) = self.templates.get(src) else {
            return Err(ErrorClass::Other);
        };
        let mut rc = RenderCtx {
            vu: u64::from(self.index),
            iteration: self.iteration,
            seq: &mut self.seq,
            room: self.current.as_ref().map(|r| r.name.as_str()),
            vars: &self.vars,
            rng: &mut self.rng,
        };
        match t.render(&mut rc) {
            Ok(s) => Ok(s),
            Err(e) => {
                self.ctx.note(format!("template `{src}`: {e}"));
                Err(ErrorClass::Other)
            }
        }
    }

    // ---- connection -----------------------------------------------------

    pub(crate) fn rest(&self) -> Result<&Rest, ErrorClass> {
        self.rest.as_ref().ok_or(ErrorClass::Other)
    }

    pub(crate) fn set_session(&mut self, s: Session) {
        if let Some(rest) = self.rest.as_mut() {
            rest.set_session(Some(s.clone()));
        }
        self.vars.insert("user_id".to_owned(), s.user_id.clone());
        self.session = Some(s);
    }

    /// The live DDP connection: connects on first use, reconnects (with
    /// backoff) when a kept connection dropped.
    pub(crate) async fn ddp(&mut self, clock: &mut IterationClock) -> Result<Ddp, ErrorClass> {
        if let Some(d) = &self.ddp
            && !d.is_closed()
        {
            return Ok(d.clone());
        }
        if self.keep_connected {
            self.reconnect().await?;
        } else {
            self.connect(clock, "ddp.connect").await?;
        }
        self.ddp.clone().ok_or(ErrorClass::WsClosed(None))
    }

    /// Opens the websocket (DDP connect) and resumes the REST session on it.
    pub(crate) async fn connect(
        &mut self,
        clock: &mut IterationClock,
        metric: &str,
    ) -> Result<(), ErrorClass> {
        if let Some(old) = self.ddp.take() {
            old.close().await;
        }
        let t = clock.start();
        let sink: Arc<dyn crate::rocketchat::EventSink> = self.sink.clone();
        let r = Ddp::connect(&self.base, &self.cfg, sink).await;
        let ddp = match r {
            Ok(d) => {
                self.record(metric, t, Ok(()));
                d
            }
            Err(e) => return Err(self.record_error(metric, t, &e)),
        };
        self.sink.connected();
        self.ddp = Some(ddp.clone());
        self.keep_connected = true;
        if let Some(token) = self.session.as_ref().map(|s| s.token.clone()) {
            let t = clock.start();
            let r = ddp.login_resume(&token).await;
            if let Some(s) = self.done("ddp.method.login", t, r) {
                self.set_session(s);
            }
        }
        Ok(())
    }

    /// Reconnects after a drop: capped exponential backoff (100 ms doubling
    /// to 5 s, full jitter), resume login, restore every subscription.
    /// Gives up only when the VU is stopped.
    pub(crate) async fn reconnect(&mut self) -> Result<(), ErrorClass> {
        const BASE: Duration = Duration::from_millis(100);
        const CAP: Duration = Duration::from_secs(5);
        let dropped_at = self.sink.dropped_at_us().unwrap_or_else(now_unix_us);
        self.ctx.metrics.add(self.ctx.disconnects_id, 1);
        let mut attempt = 0u32;
        loop {
            let cap = BASE.saturating_mul(1u32 << attempt.min(6)).min(CAP);
            let delay = Duration::from_micros(self.rng.random_range(0..=cap.as_micros() as u64));
            if !self.stop.sleep(delay).await {
                return Err(ErrorClass::WsClosed(None));
            }
            attempt += 1;
            let mut clock = IterationClock::new(None);
            if self.connect(&mut clock, "ddp.connect").await.is_ok() {
                self.restore_subscriptions().await;
                self.ctx.reconnects.fetch_add(1, Ordering::Relaxed);
                self.ctx.metrics.add(self.ctx.reconnects_id, 1);
                let took = now_unix_us().saturating_sub(dropped_at);
                self.ctx.metrics.record(
                    self.ctx.reconnect_id,
                    Sample::ok(Duration::from_micros(took)),
                );
                return Ok(());
            }
        }
    }

    async fn restore_subscriptions(&mut self) {
        let Some(ddp) = self.ddp.clone() else { return };
        let subs = std::mem::take(&mut self.subs);
        let mut kept = Vec::with_capacity(subs.len());
        let mut clock = IterationClock::new(None);
        for mut sub in subs {
            let t = clock.start();
            let r = ddp.subscribe(&sub.name, sub.params.clone()).await;
            let metric = sub.metric.clone();
            if let Some(id) = self.done(&metric, t, r) {
                sub.id = id;
                if let Some(rid) = &sub.tracked_room {
                    self.ctx.tracker.subscribed(self.index, rid);
                }
                kept.push(sub);
            }
        }
        self.subs = kept;
    }

    /// Uniform pick in [0, n).
    pub(crate) fn pick(&mut self, n: usize) -> usize {
        if n <= 1 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }
}
