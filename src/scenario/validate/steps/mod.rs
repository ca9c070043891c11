//! Step rules, one file per step family as in `engine/steps/`: the
//! dispatch and what several steps share (the flow so far, room selectors,
//! templates) live here.

mod boot;
mod flow;
mod http;
mod messages;
mod rooms;
mod session;
mod subscribe;

use std::collections::BTreeSet;

use super::{Checker, KeyPath, is_metric_name};
use crate::scenario::error::{Severity, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::template::{BUILTIN_NAMES, Template};

const SELECTORS: &[&str] = &["random", "joined", "current"];

/// What the steps before the current one have done (in file order).
#[derive(Clone, Default)]
pub(super) struct Flow {
    websocket: bool,
    logged_in: bool,
    subscribed_messages: bool,
    room_picked: bool,
}

/// Where a step sits, for the `forever` rule.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Place {
    /// Top level of `steps`, and whether it is the last step there.
    Steps {
        last: bool,
    },
    Setup,
    Nested,
}

pub(super) struct StepCtx<'a> {
    pub(super) captured: &'a BTreeSet<String>,
    pub(super) open: bool,
}

impl Checker<'_> {
    pub(super) fn steps(
        &mut self,
        steps: &[Step],
        p: &KeyPath,
        flow: &mut Flow,
        place: Place,
        ctx: &StepCtx,
    ) {
        for (j, step) in steps.iter().enumerate() {
            self.step(step, &p.idx(j), flow, place, ctx);
        }
    }

    pub(super) fn step(
        &mut self,
        step: &Step,
        at: &KeyPath,
        flow: &mut Flow,
        place: Place,
        ctx: &StepCtx,
    ) {
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
            Step::Login(l) => self.login(l, flow),
            Step::Connect(_) => self.connect(flow),
            Step::WebClientBoot(_) => self.web_client_boot(flow),
            Step::Subscribe(sub) => self.subscribe(sub, &p, true, flow, ctx),
            Step::Unsubscribe(sub) => self.subscribe(sub, &p, false, flow, ctx),
            Step::SendMessage(m) => self.send_message(m, &p, flow, ctx),
            Step::LoadHistory(h) => self.load_history(h, &p, flow, ctx),
            Step::Read(r) => self.read(r, &p, flow, ctx),
            Step::JoinRoom(r) => self.join_room(r, &p, flow, ctx),
            Step::OpenRoom(r) => self.open_room(r, &p, flow, ctx),
            Step::Typing(t) => self.typing(t, &p, flow, ctx),
            Step::SetStatus(st) => self.set_status(st, &p, flow, ctx),
            Step::Http(h) => self.http(h, &p, ctx),
            Step::Think(t) => self.think(t, &p),
            Step::Repeat(r) => self.repeat(r, &p, flow, place, ctx),
            Step::Group(g) => self.children(&g.steps, &p, flow, ctx),
            Step::WaitForMessage(w) => self.wait_for_message(w, &p, flow, ctx),
        }
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
}
