//! Control flow: `think`, `repeat`, `group`, `wait_for_message`.

use super::{Flow, Place, StepCtx};
use crate::scenario::model::*;
use crate::scenario::validate::{Checker, KeyPath};

impl Checker<'_> {
    pub(super) fn think(&mut self, t: &Think, p: &KeyPath) {
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

    pub(super) fn repeat(
        &mut self,
        r: &RepeatStep,
        p: &KeyPath,
        flow: &mut Flow,
        place: Place,
        ctx: &StepCtx,
    ) {
        let given = [r.count.is_some(), r.duration.is_some(), r.forever];
        match given.iter().filter(|g| **g).count() {
            0 => self.err(p, "needs one of `count`, `duration` or `forever: true`"),
            1 => {}
            _ => self.err(
                p,
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
        self.children(&r.steps, p, flow, ctx);
    }

    pub(super) fn wait_for_message(
        &mut self,
        w: &WaitForMessageStep,
        p: &KeyPath,
        flow: &mut Flow,
        ctx: &StepCtx,
    ) {
        if !flow.subscribed_messages {
            self.err(
                p,
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

    pub(super) fn children(&mut self, steps: &[Step], p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        if steps.is_empty() {
            self.err(&p.key("steps"), "needs at least one step");
        }
        self.steps(steps, &p.key("steps"), flow, Place::Nested, ctx);
    }
}
