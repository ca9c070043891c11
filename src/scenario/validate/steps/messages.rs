//! Room traffic: `send_message`, `load_history`, `read`, `typing`.

use super::{Flow, StepCtx};
use crate::scenario::model::*;
use crate::scenario::validate::{Checker, KeyPath};

/// Rocket.Chat's default `Message_MaxAllowedSize`.
const RC_MAX_MESSAGE: usize = 5000;

impl Checker<'_> {
    pub(super) fn send_message(
        &mut self,
        m: &SendMessageStep,
        p: &KeyPath,
        flow: &mut Flow,
        ctx: &StepCtx,
    ) {
        self.needs_login(p, flow);
        if m.via == SendVia::Ddp {
            self.needs_websocket(p, flow);
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

    pub(super) fn load_history(
        &mut self,
        h: &LoadHistoryStep,
        p: &KeyPath,
        flow: &mut Flow,
        ctx: &StepCtx,
    ) {
        self.needs_login(p, flow);
        if h.via == Via::Ddp {
            self.needs_websocket(p, flow);
        }
        self.room(&h.room, &p.key("room"), false, flow, ctx);
        if h.count == 0 {
            self.err(&p.key("count"), "must be at least 1");
        }
    }

    pub(super) fn read(&mut self, r: &RoomStep, p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        self.needs_login(p, flow);
        if r.via == Via::Ddp {
            self.needs_websocket(p, flow);
        }
        self.room(&r.room, &p.key("room"), false, flow, ctx);
    }

    pub(super) fn typing(&mut self, t: &TypingStep, p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        self.needs_websocket(p, flow);
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
}
