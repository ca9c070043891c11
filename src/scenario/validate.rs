//! Semantic checks of a parsed scenario, k6 style: every problem is
//! collected (none stops the walk), each with its key path; `load` then
//! finds the line and column of that path in the YAML tree.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::error::{Severity, did_you_mean};
use super::model::*;
use super::template::{BUILTIN_NAMES, Template};
use super::yaml::{Kind, Node};

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `behaviours[1].steps[3].send_message.room`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn key(&self, k: &str) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }

    pub fn idx(&self, i: usize) -> KeyPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }

    /// The node at this path, or the deepest ancestor present in the text
    /// (a defaulted key points at its parent), and whether it was found.
    pub fn locate<'n>(&self, root: &'n Node) -> (&'n Node, bool) {
        let mut node = root;
        for seg in &self.0 {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => node.entry(k).map(|(_, v)| v),
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, false),
            }
        }
        (node, true)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    super::de::write_key(f, k)?;
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem before it is positioned.
#[derive(Debug, Clone)]
pub struct Finding {
    pub severity: Severity,
    pub path: KeyPath,
    pub message: String,
    pub suggestion: Option<String>,
    /// Where inside the value's text (template text, in characters) the
    /// problem is, when known: `load` points the column there.
    pub offset: Option<(String, usize)>,
}

/// Counters: only `count` (and `min_count`) limits apply to them.
const COUNTERS: &[&str] = &[
    "message.lost",
    "message.duplicate",
    "iterations.dropped",
    "ddp.reconnects",
];
/// Metrics every run records, whatever the steps.
const ALWAYS: &[&str] = &[
    "errors",
    "iterations",
    "iterations.dropped",
    "ddp.reconnects",
    "generator.lag",
];
const SELECTORS: &[&str] = &["random", "joined", "current"];
/// The reference server's limit on one operation's CPU cost.
const MAX_COST: Duration = Duration::from_secs(10);
const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Rocket.Chat's default `Message_MaxAllowedSize`.
const RC_MAX_MESSAGE: usize = 5000;

/// Checks everything serde cannot: ranges, combinations, references.
pub fn check(s: &Scenario, root: &Node) -> Vec<Finding> {
    let mut c = Checker {
        root,
        out: Vec::new(),
        has_rooms: s.rooms.is_some(),
    };
    let top = KeyPath::default();
    c.top(s, &top);
    c.users(s, &top.key("users"));
    if let Some(r) = &s.rooms {
        c.rooms(r, s, &top.key("rooms"));
    }
    if let Some(t) = &s.target {
        c.target(t, &top.key("target"));
        if s.server.is_some() {
            c.warn(
                &top.key("server"),
                "applies only to the embedded server; ignored with a `target`",
            );
        }
    }
    if let Some(srv) = &s.server {
        c.server(srv, s, &top.key("server"));
    }
    c.load(&s.load, s, &top.key("load"));
    c.behaviours(s, &top.key("behaviours"));
    c.thresholds(s, &top.key("thresholds"));
    c.out
}

struct Checker<'a> {
    root: &'a Node,
    out: Vec<Finding>,
    has_rooms: bool,
}

/// What the steps before the current one have done (in file order).
#[derive(Clone, Default)]
struct Flow {
    websocket: bool,
    logged_in: bool,
    subscribed_messages: bool,
    room_picked: bool,
}

/// Where a step sits, for the `forever` rule.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// Top level of `steps`, and whether it is the last step there.
    Steps {
        last: bool,
    },
    Setup,
    Nested,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, path: &KeyPath, msg: String, hint: Option<String>) {
        self.out.push(Finding {
            severity,
            path: path.clone(),
            message: msg,
            suggestion: hint,
            offset: None,
        });
    }

    fn err(&mut self, path: &KeyPath, msg: impl Into<String>) {
        self.push(Severity::Error, path, msg.into(), None);
    }

    fn warn(&mut self, path: &KeyPath, msg: impl Into<String>) {
        self.push(Severity::Warning, path, msg.into(), None);
    }

    /// Whether the key is written in the file (not defaulted).
    fn has(&self, path: &KeyPath) -> bool {
        path.locate(self.root).1
    }

    fn positive(&mut self, path: &KeyPath, d: Duration) {
        if d.is_zero() {
            self.err(path, "must be longer than 0");
        }
    }

    fn top(&mut self, s: &Scenario, top: &KeyPath) {
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

    fn users(&mut self, s: &Scenario, p: &KeyPath) {
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
        match (u.provision, &u.admin, &s.target) {
            (Provision::Create, None, Some(_)) => self.err(
                &p.key("provision"),
                "`create` uses the admin's `users.create`: add `users.admin: {username, password}` (or use `register`)",
            ),
            (Provision::None, _, None) => self.err(
                &p.key("provision"),
                "`none` expects existing users, but the embedded server starts empty: use `register` or `create`, or give a `target`",
            ),
            _ => {}
        }
    }

    fn rooms(&mut self, r: &Rooms, s: &Scenario, p: &KeyPath) {
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

    fn target(&mut self, t: &Target, p: &KeyPath) {
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

    fn server(&mut self, srv: &EmbeddedServer, s: &Scenario, p: &KeyPath) {
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
                    "is over the 10s limit: a cost of seconds per operation wedges the instance",
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

    fn load(&mut self, l: &Load, s: &Scenario, p: &KeyPath) {
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

    fn behaviours(&mut self, s: &Scenario, p: &KeyPath) {
        if s.behaviours.is_empty() {
            self.err(p, "needs at least one behaviour");
        }
        self.pinned(s, p);
        let mut names = BTreeSet::new();
        for (i, b) in s.behaviours.iter().enumerate() {
            let bp = p.idx(i);
            if b.name.trim().is_empty() {
                self.err(&bp.key("name"), "must not be empty");
            } else if !names.insert(b.name.as_str()) {
                self.err(
                    &bp.key("name"),
                    format!("`{}` names two behaviours", b.name),
                );
            }
            if b.weight == 0 {
                self.err(
                    &bp.key("weight"),
                    "must be above 0 (remove the behaviour to disable it)",
                );
            }
            if b.steps.is_empty() {
                self.err(&bp.key("steps"), "needs at least one step (one iteration)");
            }
            if b.vus == Some(0) {
                self.err(
                    &bp.key("vus"),
                    "must be at least 1 (remove the behaviour to disable it)",
                );
            }
            if b.vus.is_some() && self.has(&bp.key("weight")) {
                self.err(
                    &bp.key("weight"),
                    "a behaviour with `vus` is pinned; `weight` applies only to the others",
                );
            }
            let mut captured: BTreeSet<String> = BTreeSet::from(["username".to_string()]);
            collect_captures(b.setup.iter().chain(&b.steps), &mut captured);
            let mut flow = Flow::default();
            let ctx = StepCtx {
                captured: &captured,
                open: s.load.model == Model::Open,
            };
            self.steps(&b.setup, &bp.key("setup"), &mut flow, Place::Setup, &ctx);
            let n = b.steps.len();
            for (j, step) in b.steps.iter().enumerate() {
                let place = Place::Steps { last: j + 1 == n };
                self.step(step, &bp.key("steps").idx(j), &mut flow, place, &ctx);
            }
        }
    }

    /// Behaviours with `vus` must fit in the VUs the load provides.
    fn pinned(&mut self, s: &Scenario, p: &KeyPath) {
        let pinned: u64 = s
            .behaviours
            .iter()
            .filter_map(|b| b.vus)
            .map(u64::from)
            .sum();
        if pinned == 0 {
            return;
        }
        let l = &s.load;
        let capacity = match l.model {
            Model::Closed => {
                let peak = l.stages.iter().map(|st| st.target).fold(0.0_f64, f64::max);
                peak.max(f64::from(l.vus.unwrap_or(0))) as u64
            }
            Model::Open => u64::from(l.max_vus.unwrap_or(0)),
        };
        let unpinned = s.behaviours.iter().any(|b| b.vus.is_none());
        if capacity > 0 && pinned > capacity {
            self.err(
                p,
                format!("behaviours pin {pinned} VUs, but the load provides at most {capacity}"),
            );
        } else if capacity > pinned && !unpinned {
            self.err(
                p,
                format!(
                    "every behaviour is pinned with `vus` ({pinned} in all), so {} of the {capacity} VUs would have none: add a behaviour without `vus`",
                    capacity - pinned
                ),
            );
        }
    }

    fn steps(&mut self, steps: &[Step], p: &KeyPath, flow: &mut Flow, place: Place, ctx: &StepCtx) {
        for (j, step) in steps.iter().enumerate() {
            self.step(step, &p.idx(j), flow, place, ctx);
        }
    }

    fn step(&mut self, step: &Step, at: &KeyPath, flow: &mut Flow, place: Place, ctx: &StepCtx) {
        let p = at.key(step.kind());
        if let Some(n) = step.custom_name()
            && !is_metric_name(n)
        {
            self.err(
                &p.key("name"),
                format!("`{n}` is not a metric name: dot-separated words of letters, digits, `_`, `-`, `:`"),
            );
        }
        match step {
            Step::Login(l) => {
                flow.logged_in = true;
                flow.websocket |= l.via == Via::Ddp;
            }
            Step::Connect(_) => flow.websocket = true,
            Step::WebClientBoot(_) => {
                flow.websocket = true;
                flow.logged_in = true;
            }
            Step::Subscribe(sub) | Step::Unsubscribe(sub) => {
                self.needs_websocket(&p, flow);
                let per_room = matches!(
                    sub.stream,
                    Stream::RoomMessages | Stream::Typing | Stream::Presence
                );
                if per_room {
                    self.room(&sub.rooms, &p.key("rooms"), true, flow, ctx);
                } else if self.has(&p.key("rooms")) {
                    self.warn(
                        &p.key("rooms"),
                        format!(
                            "ignored: the `{}` stream is not per room",
                            stream_key(sub.stream)
                        ),
                    );
                }
                if matches!(step, Step::Subscribe(_)) && sub.stream.carries_messages() {
                    flow.subscribed_messages = true;
                }
            }
            Step::SendMessage(m) => {
                self.needs_login(&p, flow);
                if m.via == SendVia::Ddp {
                    self.needs_websocket(&p, flow);
                }
                self.room(&m.room, &p.key("room"), false, flow, ctx);
                if let Some(t) = &m.text {
                    self.template(t, &p.key("text"), ctx);
                }
                match m.size {
                    Some(0) => self.err(&p.key("size"), "must be at least 1 byte"),
                    Some(n) if n > RC_MAX_MESSAGE => self.warn(
                        &p.key("size"),
                        format!("Rocket.Chat rejects messages over {RC_MAX_MESSAGE} bytes by default (Message_MaxAllowedSize)"),
                    ),
                    _ => {}
                }
            }
            Step::LoadHistory(h) => {
                self.needs_login(&p, flow);
                if h.via == Via::Ddp {
                    self.needs_websocket(&p, flow);
                }
                self.room(&h.room, &p.key("room"), false, flow, ctx);
                if h.count == 0 {
                    self.err(&p.key("count"), "must be at least 1");
                }
            }
            Step::Read(r) | Step::JoinRoom(r) => {
                self.needs_login(&p, flow);
                if r.via == Via::Ddp {
                    self.needs_websocket(&p, flow);
                }
                self.room(&r.room, &p.key("room"), false, flow, ctx);
            }
            Step::OpenRoom(r) => {
                self.needs_login(&p, flow);
                self.needs_websocket(&p, flow);
                self.room(&r.room, &p.key("room"), false, flow, ctx);
                flow.subscribed_messages = true;
            }
            Step::Typing(t) => {
                self.needs_websocket(&p, flow);
                self.room(&t.room, &p.key("room"), false, flow, ctx);
                if t.duration.is_some() && t.stop {
                    self.err(
                        &p.key("stop"),
                        "`duration` already stops typing; drop `stop` or `duration`",
                    );
                }
                if t.duration.is_some_and(|d| d.is_zero()) {
                    self.err(&p.key("duration"), "must be longer than 0");
                }
            }
            Step::SetStatus(st) => {
                self.needs_login(&p, flow);
                if st.via == Via::Ddp {
                    self.needs_websocket(&p, flow);
                }
                if let Some(m) = &st.message {
                    self.template(m, &p.key("message"), ctx);
                }
            }
            Step::Http(h) => self.http(h, &p, ctx),
            Step::Think(t) => self.think(t, &p),
            Step::Repeat(r) => {
                let given = [r.count.is_some(), r.duration.is_some(), r.forever];
                match given.iter().filter(|g| **g).count() {
                    0 => self.err(&p, "needs one of `count`, `duration` or `forever: true`"),
                    1 => {}
                    _ => self.err(
                        &p,
                        "takes exactly one of `count`, `duration` or `forever: true`",
                    ),
                }
                if r.count == Some(0) {
                    self.err(&p.key("count"), "must be at least 1");
                }
                if let Some(d) = r.duration {
                    self.positive(&p.key("duration"), d);
                }
                if r.forever {
                    match place {
                        Place::Steps { last: true } if ctx.open => self.err(
                            &p.key("forever"),
                            "the open model runs `steps` once per arrival: an iteration must end (use `count` or `duration`)",
                        ),
                        Place::Steps { last: true } => {}
                        Place::Steps { last: false } => self.err(
                            &p.key("forever"),
                            "a `forever` repeat never ends, so it must be the last step of `steps`",
                        ),
                        Place::Setup => self.err(
                            &p.key("forever"),
                            "`setup` runs once before `steps`; a `forever` repeat there would never reach them (move it to the end of `steps`)",
                        ),
                        Place::Nested => self.err(
                            &p.key("forever"),
                            "a `forever` repeat is only allowed as the last step of `steps`, not inside another step",
                        ),
                    }
                }
                self.children(&r.steps, &p, flow, ctx);
            }
            Step::Group(g) => self.children(&g.steps, &p, flow, ctx),
            Step::WaitForMessage(w) => {
                if !flow.subscribed_messages {
                    self.err(
                        &p,
                        "waits for a message, but no earlier step subscribes to `room-messages` or `my-messages` (add `- subscribe: {stream: room-messages}` before it)",
                    );
                }
                if let Some(r) = &w.room {
                    self.room(r, &p.key("room"), false, flow, ctx);
                }
                if let Some(t) = &w.contains {
                    self.template(t, &p.key("contains"), ctx);
                }
                if let Some(t) = &w.from {
                    self.template(t, &p.key("from"), ctx);
                }
                self.positive(&p.key("timeout"), w.timeout);
            }
        }
    }

    fn children(&mut self, steps: &[Step], p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        if steps.is_empty() {
            self.err(&p.key("steps"), "needs at least one step");
        }
        self.steps(steps, &p.key("steps"), flow, Place::Nested, ctx);
    }

    fn needs_websocket(&mut self, p: &KeyPath, flow: &Flow) {
        if !flow.websocket {
            self.warn(
                p,
                "uses the websocket, but no earlier step opens it (add `- connect` or `- login: {via: ddp}` before it)",
            );
        }
    }

    fn needs_login(&mut self, p: &KeyPath, flow: &Flow) {
        if !flow.logged_in {
            self.warn(
                p,
                "needs a logged-in user, but no earlier step logs in (add `- login`)",
            );
        }
    }

    /// A room selector: `random`, `current`, `joined` (only where several
    /// rooms make sense) or a room name template.
    fn room(&mut self, sel: &str, p: &KeyPath, many: bool, flow: &mut Flow, ctx: &StepCtx) {
        match sel {
            "joined" if !many => {
                self.push(
                    Severity::Error,
                    p,
                    "`joined` selects every room of the VU; this step takes one room: `random`, `current` or a name".into(),
                    Some("random".into()),
                );
            }
            "random" | "joined" | "current" => {
                if !self.has_rooms {
                    self.err(
                        p,
                        format!("`{sel}` picks among the VU's rooms, but the scenario has no `rooms:` section (add one, or name a room)"),
                    );
                }
                if sel == "current" && !flow.room_picked {
                    self.warn(
                        p,
                        "`current` is the room an earlier step picked, but none did before this step",
                    );
                }
                flow.room_picked |= sel != "joined";
            }
            name => {
                flow.room_picked = true;
                if name.is_empty() {
                    self.err(
                        p,
                        "must not be empty: `random`, `current`, `joined` or a room name",
                    );
                    return;
                }
                if let Some(t) = self.template(name, p, ctx)
                    && t.is_literal()
                    && let Some(s) = did_you_mean(name, SELECTORS.iter().copied())
                {
                    self.push(
                        Severity::Warning,
                        p,
                        format!("`{name}` is taken as a room name"),
                        Some(s),
                    );
                }
            }
        }
    }

    /// Parses a template and checks the variables it reads are captured.
    fn template(&mut self, text: &str, p: &KeyPath, ctx: &StepCtx) -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => {
                for var in t.vars() {
                    if !ctx.captured.contains(var) {
                        let candidates = ctx
                            .captured
                            .iter()
                            .map(String::as_str)
                            .chain(BUILTIN_NAMES.iter().copied());
                        self.push(
                            Severity::Error,
                            p,
                            format!("template reads `{{{{{var}}}}}`, which is neither built in nor captured by any `http` step of this behaviour"),
                            did_you_mean(var, candidates),
                        );
                    }
                }
                Some(t)
            }
            Err(e) => {
                self.err(p, format!("bad template: {e}"));
                if let (Some(at), Some(f)) = (e.offset(), self.out.last_mut()) {
                    let chars = text.get(..at).map_or(0, |t| t.chars().count());
                    f.offset = Some((text.to_string(), chars));
                }
                None
            }
        }
    }

    fn http(&mut self, h: &HttpStep, p: &KeyPath, ctx: &StepCtx) {
        let method = h.method.to_ascii_uppercase();
        if !HTTP_METHODS.contains(&method.as_str()) {
            self.push(
                Severity::Error,
                &p.key("method"),
                format!(
                    "unknown HTTP method `{}`, expected one of {}",
                    h.method,
                    HTTP_METHODS.join(", ")
                ),
                did_you_mean(&method, HTTP_METHODS.iter().copied()),
            );
        }
        if !h.path.starts_with('/') {
            self.err(
                &p.key("path"),
                format!(
                    "`{}` must start with `/` (it is joined to the target URL)",
                    h.path
                ),
            );
        }
        if let Some(t) = self.template(&h.path, &p.key("path"), ctx)
            && !t.is_literal()
            && h.name.is_none()
        {
            self.err(
                &p.key("path"),
                "a templated path would make a metric name per value: give the step a `name:`",
            );
        }
        if let Some(body) = &h.body {
            self.json_templates(body, &p.key("body"), ctx);
        }
        for (k, v) in &h.headers {
            if k.is_empty() || !k.bytes().all(is_token_byte) {
                self.err(
                    &p.key("headers").key(k),
                    format!("`{k}` is not a valid HTTP header name"),
                );
            }
            self.template(v, &p.key("headers").key(k), ctx);
        }
        for (var, pointer) in &h.capture {
            let cp = p.key("capture").key(var);
            if !is_identifier(var) {
                self.err(
                    &cp,
                    format!("`{var}` is not a variable name (letters, digits, `_`)"),
                );
            } else if BUILTIN_NAMES.contains(&var.as_str()) {
                self.err(
                    &cp,
                    format!("`{var}` is a built-in template name; capture under another name"),
                );
            }
            if !pointer.starts_with('/') {
                self.err(
                    &cp,
                    format!("`{pointer}` is not a JSON pointer into the response body: it starts with `/`, e.g. `/channel/_id`"),
                );
            }
        }
        if let Some(code) = h.expect_status
            && !(100..=599).contains(&code)
        {
            self.err(
                &p.key("expect_status"),
                format!("{code} is not an HTTP status (100-599)"),
            );
        }
    }

    fn json_templates(&mut self, v: &serde_json::Value, p: &KeyPath, ctx: &StepCtx) {
        match v {
            serde_json::Value::String(s) => {
                self.template(s, p, ctx);
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.json_templates(item, &p.idx(i), ctx);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    self.json_templates(item, &p.key(k), ctx);
                }
            }
            _ => {}
        }
    }

    fn think(&mut self, t: &Think, p: &KeyPath) {
        match t {
            Think::Exponential(mean) if mean.is_zero() => {
                self.err(&p.key("exponential"), "the mean must be longer than 0")
            }
            Think::Normal { mean, min, max, .. } if mean < min || mean > max => self.warn(
                &p.key("normal"),
                "the mean lies outside [min, max]: most samples are clamped",
            ),
            _ => {}
        }
    }

    fn thresholds(&mut self, s: &Scenario, p: &KeyPath) {
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

struct StepCtx<'a> {
    captured: &'a BTreeSet<String>,
    open: bool,
}

fn collect_captures<'a>(steps: impl Iterator<Item = &'a Step>, out: &mut BTreeSet<String>) {
    for step in steps {
        if let Step::Http(h) = step {
            out.extend(h.capture.keys().cloned());
        }
        collect_captures(step.children().iter(), out);
    }
}

/// Metric names the scenario's steps record (by name or default).
pub fn produced_metrics(s: &Scenario) -> BTreeSet<String> {
    fn walk(steps: &[Step], out: &mut BTreeSet<String>, sends: &mut bool) {
        for step in steps {
            if let Some(n) = step.metric_name() {
                out.insert(n);
            }
            // Composite steps also record their parts.
            let implied: &[&str] = match step {
                Step::WebClientBoot(_) => &["login", "ddp.connect"],
                Step::Login(l) if l.via == Via::Ddp => &["ddp.connect"],
                _ => &[],
            };
            out.extend(implied.iter().map(|m| m.to_string()));
            *sends |= matches!(step, Step::SendMessage(_));
            walk(step.children(), out, sends);
        }
    }
    let mut out: BTreeSet<String> = ALWAYS.iter().map(|s| s.to_string()).collect();
    let mut sends = false;
    for b in &s.behaviours {
        walk(&b.setup, &mut out, &mut sends);
        walk(&b.steps, &mut out, &mut sends);
    }
    if sends {
        for m in ["message.e2e", "message.lost", "message.duplicate"] {
            out.insert(m.to_string());
        }
    }
    out
}

/// The end of the last stage (or of `duration`), if the load defines one.
pub fn total_duration(l: &Load) -> Option<Duration> {
    if l.stages.is_empty() {
        l.duration
    } else {
        Some(l.stages.iter().map(|s| s.duration).sum())
    }
}

fn stream_key(s: Stream) -> &'static str {
    match s {
        Stream::RoomMessages => "room-messages",
        Stream::Typing => "typing",
        Stream::NotifyUser => "notify-user",
        Stream::Presence => "presence",
        Stream::MyMessages => "my-messages",
    }
}

/// Dot-separated words of letters, digits, `_`, `-`, `:` (`rest.chat.postMessage`,
/// `ddp.method.license:getModules`, `ddp.sub.stream-room-messages`).
pub fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
        })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// RFC 9110 token characters (header names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        assert!(is_metric_name("rest.chat.postMessage"));
        assert!(is_metric_name("ddp.method.license:getModules"));
        assert!(is_metric_name("ddp.sub.stream-room-messages"));
        assert!(!is_metric_name("rest..x"));
        assert!(!is_metric_name("has space"));
        assert!(!is_metric_name(""));
    }

    #[test]
    fn key_paths() {
        let p = KeyPath::default()
            .key("behaviours")
            .idx(1)
            .key("steps")
            .idx(3)
            .key("send_message")
            .key("room");
        assert_eq!(p.to_string(), "behaviours[1].steps[3].send_message.room");
        let t = KeyPath::default().key("thresholds").key("message.e2e");
        assert_eq!(t.to_string(), "thresholds.\"message.e2e\"");
    }
}
