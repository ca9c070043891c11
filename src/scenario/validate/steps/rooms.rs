//! Room membership and presence: `join_room`, `open_room`, `set_status`.

use super::{Flow, StepCtx};
use crate::scenario::model::*;
use crate::scenario::validate::{Checker, KeyPath};

impl Checker<'_> {
    pub(super) fn join_room(&mut self, r: &RoomStep, p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        self.needs_login(p, flow);
        if r.via == Via::Ddp {
            self.needs_websocket(p, flow);
        }
        self.room(&r.room, &p.key("room"), false, flow, ctx);
    }

    pub(super) fn open_room(&mut self, r: &RoomStep, p: &KeyPath, flow: &mut Flow, ctx: &StepCtx) {
        self.needs_login(p, flow);
        self.needs_websocket(p, flow);
        self.room(&r.room, &p.key("room"), false, flow, ctx);
        flow.subscribed_messages = true;
    }

    pub(super) fn set_status(
        &mut self,
        st: &SetStatusStep,
        p: &KeyPath,
        flow: &mut Flow,
        ctx: &StepCtx,
    ) {
        self.needs_login(p, flow);
        if st.via == Via::Ddp {
            self.needs_websocket(p, flow);
        }
        if let Some(m) = &st.message {
            self.template(m, &p.key("message"), ctx);
        }
    }
}
