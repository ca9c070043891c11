//! Room membership and presence: `join_room`, `open_room` (as the web
//! client opens a room), `set_status`.

use serde_json::{Value, json};

use super::messages::now_unix_ms;
use super::subscribe::SubSpec;
use crate::engine::clock::IterationClock;
use crate::engine::vu::Vu;
use crate::scenario::recorded::{self, NOTIFY_ROOM, ROOM_MESSAGES};
use crate::scenario::{RoomStep, SetStatusStep, Status, Via};

fn status_str(s: Status) -> &'static str {
    match s {
        Status::Online => "online",
        Status::Away => "away",
        Status::Busy => "busy",
        Status::Offline => "offline",
    }
}

impl Vu {
    pub(crate) async fn join_room(
        &mut self,
        step: &RoomStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return;
        };
        match step.via {
            Via::Ddp => {
                self.ddp_call(metric, "joinRoom", vec![Value::from(room.id)], clock)
                    .await;
            }
            Via::Rest => {
                let t = clock.start();
                let r = match self.rest() {
                    Ok(rest) => rest.channels_join(&room.id).await,
                    Err(c) => return self.fail_now(metric, c),
                };
                self.done(metric, t, r);
            }
        }
    }

    /// The web client opening a room: subscribe its messages and the
    /// room notifications (user-activity, deleteMessage,
    /// deleteMessageBulk), load the last 50 messages, mark it read. Each
    /// operation has its own metric; the whole is timed as `open_room`.
    /// `via: rest` calls `loadHistory` through REST `method.call` (the web
    /// client's default), `via: ddp` over the websocket.
    pub(crate) async fn open_room(
        &mut self,
        step: &RoomStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return;
        };
        let t = clock.start_enclosing();
        let errors = self.errors;
        let mut msgs = SubSpec::stream(None, ROOM_MESSAGES, &room.id);
        msgs.tracked_room = Some(room.id.clone());
        msgs.room_id = Some(room.id.clone());
        self.sub(msgs, &recorded::ddp_sub(ROOM_MESSAGES), clock)
            .await;
        for ev in ["user-activity", "deleteMessage", "deleteMessageBulk"] {
            let mut s = SubSpec::stream(None, NOTIFY_ROOM, &format!("{}/{ev}", room.id));
            s.room_id = Some(room.id.clone());
            self.sub(s, &recorded::ddp_sub(NOTIFY_ROOM), clock).await;
        }
        let params = vec![
            Value::from(room.id.as_str()),
            Value::Null,
            Value::from(50),
            json!({"$date": now_unix_ms()}),
        ];
        match step.via {
            Via::Rest => {
                self.rest_method("loadHistory", params, false, clock).await;
            }
            Via::Ddp => {
                self.ddp_call(
                    &recorded::ddp_method("loadHistory"),
                    "loadHistory",
                    params,
                    clock,
                )
                .await;
            }
        }
        let tr = clock.start();
        let r = match self.rest() {
            Ok(rest) => Some(rest.subscriptions_read(&room.id).await),
            Err(c) => {
                self.fail_now(recorded::SUBSCRIPTIONS_READ, c);
                None
            }
        };
        if let Some(r) = r {
            self.done(recorded::SUBSCRIPTIONS_READ, tr, r);
        }
        let outcome = self.outcome_since(errors);
        self.record(metric, t, outcome);
    }

    pub(crate) async fn set_status(
        &mut self,
        step: &SetStatusStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let status = status_str(step.status);
        match step.via {
            Via::Ddp => {
                let message = match step.message.as_deref().map(|m| self.render(m)).transpose() {
                    Ok(m) => m,
                    Err(c) => return self.fail_now(metric, c),
                };
                let (method, params) = match (step.status, message) {
                    (Status::Online, None) => ("UserPresence:online", vec![]),
                    (Status::Away, None) => ("UserPresence:away", vec![]),
                    (_, msg) => (
                        "setUserStatus",
                        vec![Value::from(status), Value::from(msg.unwrap_or_default())],
                    ),
                };
                self.ddp_call(metric, method, params, clock).await;
            }
            Via::Rest => {
                let message = match step.message.as_deref().map(|m| self.render(m)).transpose() {
                    Ok(m) => m,
                    Err(c) => return self.fail_now(metric, c),
                };
                let t = clock.start();
                let r = match self.rest() {
                    Ok(rest) => rest.set_status(status, message.as_deref()).await,
                    Err(c) => return self.fail_now(metric, c),
                };
                self.done(metric, t, r);
            }
        }
    }
}
