//! The scenario file as data: what a user writes, after `${VAR}` interpolation,
//! before anything runs. Loading and validation live in `load.rs`; this module
//! only describes the shape. Every struct rejects unknown keys.
//!
//! This is the contract between `scenario/` and `engine/`: rename nothing
//! without changing both.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::duration::{deserialize_duration, deserialize_opt_duration};
pub use super::fault::{Fault, ScheduledFault};
use super::recorded;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Seed for every random choice of the run; the same seed repeats the
    /// same choices (think times, room picks, behaviour picks).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Omit for the embedded reference server.
    #[serde(default)]
    pub target: Option<Target>,
    /// Configuration of the embedded server; ignored with a warning when a
    /// target is given.
    #[serde(default)]
    pub server: Option<EmbeddedServer>,
    pub users: Users,
    #[serde(default)]
    pub rooms: Option<Rooms>,
    pub load: Load,
    /// A message not received by a subscribed VU within this time is lost.
    #[serde(
        default = "default_loss_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub loss_timeout: Duration,
    /// Per-operation timeout (REST request, DDP method, subscription ready).
    #[serde(
        default = "default_op_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub timeout: Duration,
    #[serde(default)]
    pub thresholds: BTreeMap<String, Threshold>,
    /// Defaults of `rocketload capacity` for this scenario (flags win; flag
    /// SLOs add to these).
    #[serde(default)]
    pub capacity: Option<CapacityBlock>,
    pub behaviours: Vec<Behaviour>,
}

/// The scenario's `capacity:` block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityBlock {
    #[serde(default)]
    pub slo: Vec<super::slo::Slo>,
    /// Lowest load tried: VUs (closed model) or arrivals/s (open).
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub hold: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub settle: Option<Duration>,
    /// The bracket's width at which bisection stops, a fraction.
    #[serde(default, deserialize_with = "super::duration::deserialize_opt_ratio")]
    pub resolution: Option<f64>,
    #[serde(default)]
    pub repeats: Option<u32>,
}

pub fn default_loss_timeout() -> Duration {
    Duration::from_secs(10)
}

pub fn default_op_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The longest load a run may have (its stages together): every load
/// loop stops by itself, and a typo (`7000h`) must not run for months.
pub const MAX_RUN: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a load that lasts `total` is refused, if it passes [`MAX_RUN`].
pub fn beyond_run_cap(total: Duration) -> Option<String> {
    (total > MAX_RUN).then(|| {
        format!(
            "the load lasts {}, beyond the run cap of {} (split a longer soak into runs)",
            humantime::format_duration(total),
            humantime::format_duration(MAX_RUN)
        )
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Base URLs, one per Rocket.Chat instance (http:// or https://).
    pub urls: Vec<String>,
    /// Skip TLS certificate verification (explicit opt-out).
    #[serde(default)]
    pub insecure: bool,
    /// Extra headers sent with every HTTP request and the websocket upgrade.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Local addresses to bind client sockets to, round-robin per VU.
    #[serde(default)]
    pub source_ips: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedServer {
    #[serde(default)]
    pub instances: Option<usize>,
    /// Operation kind -> CPU cost, e.g. `{sendMessage: 300us, default: 50us}`.
    #[serde(default, deserialize_with = "deserialize_cost")]
    pub cost: BTreeMap<String, Duration>,
    /// Faults applied at a time offset from the start of the measured phase.
    #[serde(default)]
    pub faults: Vec<ScheduledFault>,
    /// REST/DDP rate limiters as Rocket.Chat configures them (off by default).
    #[serde(default)]
    pub rate_limits: bool,
}

/// A cost map whose values are durations, each error at its own value.
fn deserialize_cost<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Duration>, D::Error> {
    let costs = BTreeMap::<String, Dur>::deserialize(d)?;
    Ok(costs.into_iter().map(|(op, c)| (op, c.0)).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provision {
    /// `users.register`, no admin needed.
    Register,
    /// Admin `users.create`.
    Create,
    /// The users already exist (pre-seeded deployment).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    pub count: u32,
    #[serde(default = "default_user_prefix")]
    pub prefix: String,
    pub password: String,
    #[serde(default = "default_provision")]
    pub provision: Provision,
    /// The admin's username (its secret comes from the environment).
    #[serde(default)]
    pub admin: Option<Credentials>,
    /// Concurrent provisioning requests.
    #[serde(default = "default_provision_concurrency")]
    pub concurrency: usize,
}

fn default_user_prefix() -> String {
    "load-".into()
}
fn default_provision() -> Provision {
    Provision::Register
}
fn default_provision_concurrency() -> usize {
    16
}

/// Names the target's admin. Its secret is never read from a scenario:
/// `password` is accepted only to refuse it with the way to give it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rooms {
    pub count: u32,
    #[serde(default = "default_room_prefix")]
    pub prefix: String,
    /// Each room gets this many members, users assigned round-robin.
    pub members_per_room: u32,
}

fn default_room_prefix() -> String {
    "load-room-".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Closed,
    Open,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub model: Model,
    /// Closed: VUs over time. Open: arrivals per second over time.
    /// Each stage moves linearly from the previous target to its own.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// The level at t = 0 (0 for stages as written; the level of the
    /// `vus`/`rate` shorthand, which holds from the start). Set by
    /// [`Load::normalize`], not a scenario key.
    #[serde(skip)]
    pub start: f64,
    /// Open model shorthand: a constant rate for `duration`.
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub duration: Option<Duration>,
    /// Closed model shorthand: a constant number of VUs for `duration`.
    #[serde(default)]
    pub vus: Option<u32>,
    /// Open model: the VU pool size (each VU is one user session).
    #[serde(default)]
    pub max_vus: Option<u32>,
    /// Open model: how long an arrival may wait for a free VU before it is
    /// counted as dropped. Its latency counts from its intended start.
    #[serde(
        default = "default_max_queue",
        deserialize_with = "deserialize_duration"
    )]
    pub max_queue: Duration,
    /// Time given to running iterations after the last stage ends.
    #[serde(
        default = "default_graceful_stop",
        deserialize_with = "deserialize_duration"
    )]
    pub graceful_stop: Duration,
}

impl Load {
    /// Turns the `vus`/`rate` + `duration` shorthand into stages, once, at
    /// load: everything after reads `start` and `stages` only.
    pub fn normalize(&mut self) {
        if !self.stages.is_empty() {
            return;
        }
        let level = match self.model {
            Model::Closed => self.vus.map(f64::from),
            Model::Open => self.rate,
        };
        if let (Some(level), Some(duration)) = (level, self.duration) {
            self.set_constant(level, duration);
        }
    }

    /// A constant load: `level` from the start, for `duration`.
    pub fn set_constant(&mut self, level: f64, duration: Duration) {
        self.start = level;
        self.stages = vec![Stage {
            duration,
            target: level,
        }];
        self.vus = None;
        self.rate = None;
        self.duration = None;
    }
}

fn default_max_queue() -> Duration {
    Duration::from_secs(5)
}
fn default_graceful_stop() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(deserialize_with = "deserialize_duration")]
    pub duration: Duration,
    pub target: f64,
}

/// Limits on one metric; any limit exceeded fails the run (exit 1).
/// Latency limits are durations (`p95: 500ms`); `rate` is the error rate
/// as a percentage string (`rate: 1%`) or fraction (`rate: 0.01`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub p50: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub p90: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub p95: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub p99: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub p999: Option<Duration>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub max: Option<Duration>,
    /// Error rate limit, fraction of operations (0.01 = 1 %).
    #[serde(default, deserialize_with = "super::duration::deserialize_opt_ratio")]
    pub rate: Option<f64>,
    /// Upper bound on a counter (e.g. `message.lost: {count: 0}`).
    #[serde(default)]
    pub count: Option<u64>,
    /// Lower bound on the number of samples (catches runs that measured nothing).
    #[serde(default)]
    pub min_count: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    pub name: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Pins exactly this many VUs to the behaviour (e.g. the one sender of an
    /// announcement); the other VUs pick among the unpinned behaviours by
    /// weight. Closed model: VUs in start order; open model: of the pool.
    #[serde(default)]
    pub vus: Option<u32>,
    /// Run once when a VU starts (log in, connect, subscribe).
    #[serde(default)]
    pub setup: Vec<Step>,
    /// One iteration. Closed model: repeated until the VU stops. Open
    /// model: run once per arrival.
    pub steps: Vec<Step>,
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    #[default]
    Rest,
    Ddp,
}

/// One step. YAML form: a map with one key naming the step, e.g.
/// `- send_message: { room: random, via: ddp }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Login(LoginStep),
    Connect(ConnectStep),
    Subscribe(SubscribeStep),
    Unsubscribe(SubscribeStep),
    SendMessage(SendMessageStep),
    LoadHistory(LoadHistoryStep),
    Read(RoomStep),
    Typing(TypingStep),
    SetStatus(SetStatusStep),
    JoinRoom(RoomStep),
    OpenRoom(RoomStep),
    WebClientBoot(NamedStep),
    Http(HttpStep),
    Think(Think),
    Repeat(RepeatStep),
    Group(GroupStep),
    WaitForMessage(WaitForMessageStep),
}

impl Step {
    /// The step's key in the file (`send_message`, `think`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Login(_) => "login",
            Step::Connect(_) => "connect",
            Step::Subscribe(_) => "subscribe",
            Step::Unsubscribe(_) => "unsubscribe",
            Step::SendMessage(_) => "send_message",
            Step::LoadHistory(_) => "load_history",
            Step::Read(_) => "read",
            Step::Typing(_) => "typing",
            Step::SetStatus(_) => "set_status",
            Step::JoinRoom(_) => "join_room",
            Step::OpenRoom(_) => "open_room",
            Step::WebClientBoot(_) => "web_client_boot",
            Step::Http(_) => "http",
            Step::Think(_) => "think",
            Step::Repeat(_) => "repeat",
            Step::Group(_) => "group",
            Step::WaitForMessage(_) => "wait_for_message",
        }
    }

    /// The step's own `name:` (a group's required name included).
    pub fn custom_name(&self) -> Option<&str> {
        match self {
            Step::Login(s) => s.name.as_deref(),
            Step::Connect(s) => s.name.as_deref(),
            Step::Subscribe(s) | Step::Unsubscribe(s) => s.name.as_deref(),
            Step::SendMessage(s) => s.name.as_deref(),
            Step::LoadHistory(s) => s.name.as_deref(),
            Step::Read(s) | Step::JoinRoom(s) | Step::OpenRoom(s) => s.name.as_deref(),
            Step::Typing(s) => s.name.as_deref(),
            Step::SetStatus(s) => s.name.as_deref(),
            Step::WebClientBoot(s) => s.name.as_deref(),
            Step::Http(s) => s.name.as_deref(),
            Step::Group(s) => Some(&s.name),
            Step::WaitForMessage(s) => s.name.as_deref(),
            Step::Think(_) | Step::Repeat(_) => None,
        }
    }

    /// Nested steps of `repeat` and `group`.
    pub fn children(&self) -> &[Step] {
        match self {
            Step::Repeat(r) => &r.steps,
            Step::Group(g) => &g.steps,
            _ => &[],
        }
    }
}

impl Stream {
    /// The Rocket.Chat publication this stream subscribes to.
    pub fn publication(self) -> &'static str {
        match self {
            Stream::RoomMessages | Stream::MyMessages => recorded::ROOM_MESSAGES,
            Stream::Typing => recorded::NOTIFY_ROOM,
            Stream::NotifyUser => recorded::NOTIFY_USER,
            Stream::Presence => recorded::USER_PRESENCE,
        }
    }

    /// Whether the stream delivers chat messages (what `wait_for_message` needs).
    pub fn carries_messages(self) -> bool {
        matches!(self, Stream::RoomMessages | Stream::MyMessages)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedStep {
    /// Metric name for this step instead of the default.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginStep {
    /// `rest`: POST /api/v1/login. `ddp`: DDP `login` with the SHA-256 digest
    /// (opens the websocket if needed).
    #[serde(default)]
    pub via: Via,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectStep {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    /// `stream-room-messages` for each selected room.
    RoomMessages,
    /// `stream-notify-room` `<rid>/user-activity` and `<rid>/typing`.
    Typing,
    /// `stream-notify-user` `<uid>/rooms-changed`, `subscriptions-changed`, `notification`.
    NotifyUser,
    /// `stream-user-presence` for the members of the selected rooms.
    Presence,
    /// `stream-room-messages` `__my_messages__`.
    MyMessages,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeStep {
    pub stream: Stream,
    /// Room selector: `joined` (every room of the VU), `random` (one of them),
    /// or a room name template.
    #[serde(default = "default_rooms_joined")]
    pub rooms: String,
    #[serde(default)]
    pub name: Option<String>,
}

fn default_rooms_joined() -> String {
    "joined".into()
}

fn default_room_random() -> String {
    "random".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendVia {
    /// DDP method `sendMessage`.
    Ddp,
    /// REST `chat.postMessage`.
    #[default]
    PostMessage,
    /// REST `chat.sendMessage`.
    SendMessage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessageStep {
    /// `random` (one of the VU's rooms), `current` (the last room picked),
    /// or a room name template.
    #[serde(default = "default_room_random")]
    pub room: String,
    #[serde(default)]
    pub via: SendVia,
    /// Text template; the delivery-tracking token is appended.
    #[serde(default)]
    pub text: Option<String>,
    /// Pad the text to this many bytes.
    #[serde(default)]
    pub size: Option<usize>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadHistoryStep {
    #[serde(default = "default_room_random")]
    pub room: String,
    /// `ddp`: `loadHistory`; `rest`: `channels.history`.
    #[serde(default)]
    pub via: Via,
    #[serde(default = "default_history_count")]
    pub count: u32,
    #[serde(default)]
    pub name: Option<String>,
}

fn default_history_count() -> u32 {
    50
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomStep {
    #[serde(default = "default_room_random")]
    pub room: String,
    #[serde(default)]
    pub via: Via,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypingEvent {
    /// `<rid>/user-activity` with `["user-typing"]` / `[]` (web client).
    #[default]
    UserActivity,
    /// Legacy `<rid>/typing` with `true` / `false` (mobile).
    Typing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingStep {
    #[serde(default = "default_room_random")]
    pub room: String,
    /// Start typing, wait this long, stop typing. Without it: start only,
    /// unless `stop: true`.
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub stop: bool,
    #[serde(default)]
    pub event: TypingEvent,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Away,
    Busy,
    Offline,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatusStep {
    pub status: Status,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub via: Via,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    #[serde(default = "default_http_method")]
    pub method: String,
    /// Path (templated), e.g. `/api/v1/rooms.get`.
    pub path: String,
    /// JSON body; string values are templates.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Send the VU's `X-User-Id` / `X-Auth-Token` (default when logged in).
    #[serde(default = "default_true")]
    pub auth: bool,
    /// Variable name -> JSON pointer into the response body.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Expected HTTP status; anything else is an error. Default: any 2xx.
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub name: Option<String>,
}

fn default_http_method() -> String {
    "GET".into()
}
fn default_true() -> bool {
    true
}

/// Think time. YAML: `think: 2s`, `think: {uniform: [1s, 3s]}`,
/// `think: {exponential: 45s}`, `think: {normal: {mean: 2s, stddev: 500ms}}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Think {
    Constant(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Mean of an exponential distribution (Poisson arrivals per VU).
    Exponential(Duration),
    Normal {
        mean: Duration,
        stddev: Duration,
        min: Duration,
        max: Duration,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatStep {
    /// Iterations; omit with `duration` or `forever`.
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default, deserialize_with = "deserialize_opt_duration")]
    pub duration: Option<Duration>,
    /// Until the VU is stopped.
    #[serde(default)]
    pub forever: bool,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupStep {
    /// Metric name of the transaction.
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitForMessageStep {
    /// Room selector; default: any subscribed room.
    #[serde(default)]
    pub room: Option<String>,
    /// Text the message must contain (template).
    #[serde(default)]
    pub contains: Option<String>,
    /// Username of the sender (template).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(
        default = "default_wait_timeout",
        deserialize_with = "deserialize_duration"
    )]
    pub timeout: Duration,
    #[serde(default)]
    pub name: Option<String>,
}

fn default_wait_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A duration in any form `deserialize_duration` accepts.
#[derive(Deserialize)]
#[serde(transparent)]
struct Dur(#[serde(deserialize_with = "deserialize_duration")] Duration);

const THINK_FORMS: &[&str] = &["constant", "uniform", "exponential", "normal"];

impl<'de> Deserialize<'de> for Think {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ThinkVisitor)
    }
}

struct ThinkVisitor;

impl<'de> serde::de::Visitor<'de> for ThinkVisitor {
    type Value = Think;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration (`2s`) or one of `{constant: 2s}`, `{uniform: [1s, 3s]}`, `{exponential: 45s}`, `{normal: {mean: 2s, stddev: 500ms}}`")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Think, E> {
        super::duration::parse_duration(v)
            .map(Think::Constant)
            .map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Think, E> {
        Ok(Think::Constant(Duration::from_secs(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Think, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Think, A::Error> {
        use serde::de::Error;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Normal {
            mean: Dur,
            stddev: Dur,
            #[serde(default)]
            min: Option<Dur>,
            #[serde(default)]
            max: Option<Dur>,
        }

        let Some(form) = map.next_key::<String>()? else {
            return Err(A::Error::custom(
                "expected one of `constant`, `uniform`, `exponential`, `normal`",
            ));
        };
        let think = match form.as_str() {
            "constant" => Think::Constant(map.next_value::<Dur>()?.0),
            "exponential" => Think::Exponential(map.next_value::<Dur>()?.0),
            "uniform" => {
                let bounds = map.next_value::<Vec<Dur>>()?;
                let found = bounds.len();
                let Ok::<[Dur; 2], _>([min, max]) = bounds.try_into() else {
                    return Err(A::Error::custom(format!(
                        "uniform takes [min, max], found {found} values"
                    )));
                };
                if min.0 > max.0 {
                    return Err(A::Error::custom("uniform think: min is above max"));
                }
                Think::Uniform {
                    min: min.0,
                    max: max.0,
                }
            }
            "normal" => {
                let n = map.next_value::<Normal>()?;
                let (mean, stddev) = (n.mean.0, n.stddev.0);
                let min = n.min.map_or(Duration::ZERO, |d| d.0);
                let max = n.max.map_or(mean + 4 * stddev, |d| d.0);
                if min > max {
                    return Err(A::Error::custom("normal think: min is above max"));
                }
                Think::Normal {
                    mean,
                    stddev,
                    min,
                    max,
                }
            }
            other => {
                let hint = super::error::did_you_mean(other, THINK_FORMS.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                return Err(A::Error::custom(format!(
                    "unknown think form `{other}`, expected one of `constant`, `uniform`, `exponential`, `normal`{hint}"
                )));
            }
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "think takes one form, found a second key `{extra}`"
            )));
        }
        Ok(think)
    }
}
