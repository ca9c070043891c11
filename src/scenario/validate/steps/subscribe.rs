//! `subscribe` / `unsubscribe`: the websocket, per-room streams and their
//! room selector, and which streams later `wait_for_message` steps can use.

use super::{Flow, StepCtx};
use crate::scenario::model::*;
use crate::scenario::validate::{Checker, KeyPath};

impl Checker<'_> {
    /// `subscribing`: a `subscribe` (not an `unsubscribe`) step.
    pub(super) fn subscribe(
        &mut self,
        sub: &SubscribeStep,
        p: &KeyPath,
        subscribing: bool,
        flow: &mut Flow,
        ctx: &StepCtx,
    ) {
        self.needs_websocket(p, flow);
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
        if subscribing && sub.stream.carries_messages() {
            flow.subscribed_messages = true;
        }
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
