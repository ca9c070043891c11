//! Room traffic: `send_message` (with the delivery-tracking token),
//! `load_history`, `read`, `typing`.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngExt;
use serde_json::{Value, json};

use crate::engine::clock::IterationClock;
use crate::engine::sink::now_unix_us;
use crate::engine::vu::{Flow, Vu};
use crate::rocketchat::MessageToken;
use crate::scenario::recorded;
use crate::scenario::{
    LoadHistoryStep, RoomStep, SendMessageStep, SendVia, TypingEvent, TypingStep, Via,
};

/// Default text when the step gives none.
const DEFAULT_TEXT: &str = "load test message {{seq}} from {{username}}";

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

const ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

/// The id of `drawn` alphabet positions, the first six shifted by the
/// base-55 digits of `salt` (six digits cover a u32): for one salt a
/// bijection, so ids stay as random as drawn; for two salts the same
/// draws never give the same id.
fn salted_id(drawn: [usize; 17], salt: u32) -> String {
    let base = ID_ALPHABET.len();
    let mut salt = salt as usize;
    drawn
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let shift = match i {
                0..6 => {
                    let digit = salt % base;
                    salt /= base;
                    digit
                }
                _ => 0,
            };
            ID_ALPHABET[(d + shift) % base] as char
        })
        .collect()
}

/// Pads `text` with filler up to `size` bytes (never cuts it).
fn pad(text: &mut String, size: usize) {
    const FILLER: &str = " lorem ipsum dolor sit amet";
    while text.len() < size {
        let need = size - text.len();
        let take = need.min(FILLER.len());
        text.push_str(&FILLER[..take]);
    }
}

impl Vu {
    /// A Rocket.Chat-style random id (17 chars) from the VU's generator,
    /// salted with the run id: each measurement of a seeded scenario makes
    /// the same choices but new ids (a server keeps the messages of the
    /// previous one and refuses a repeated `_id` as a duplicate).
    pub(crate) fn random_id(&mut self) -> String {
        let drawn: [usize; 17] =
            std::array::from_fn(|_| self.rng.random_range(0..ID_ALPHABET.len()));
        salted_id(drawn, self.ctx.plan.run_id)
    }

    pub(crate) async fn send_message(
        &mut self,
        step: &SendMessageStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return;
        };
        let mut text = match self.render(step.text.as_deref().unwrap_or(DEFAULT_TEXT)) {
            Ok(t) => t,
            Err(c) => return self.fail_now(metric, c),
        };
        if let Some(size) = step.size {
            pad(&mut text, size);
        }
        let ddp = match step.via {
            SendVia::Ddp => match self.ddp(clock).await {
                Ok(d) => Some(d),
                Err(c) => return self.fail_now(metric, c),
            },
            _ => None,
        };
        let id = self.random_id();
        self.msg_seq += 1;
        let seq = self.msg_seq;
        let sent = now_unix_us();
        let tokens = self.ctx.plan.tokens();
        let token = MessageToken {
            run: tokens.run,
            sender: tokens.sender(self.index),
            seq,
            sent_unix_us: sent,
        };
        token.append_to(&mut text);
        // Before the call: the expected receivers are the room's subscribers now.
        self.ctx.tracker.sending(token.sender, seq, &room.id, sent);
        let t = clock.start();
        let ok = match ddp {
            Some(ddp) => {
                let msg = json!({"_id": id, "rid": room.id, "msg": text});
                let r = ddp.call("sendMessage", vec![msg]).await;
                self.done(metric, t, r).is_some()
            }
            None => {
                let r = match self.rest() {
                    Ok(rest) if step.via == SendVia::SendMessage => {
                        rest.send_message(&room.id, &id, &text).await
                    }
                    Ok(rest) => rest.post_message(&room.id, &text).await,
                    Err(c) => {
                        self.ctx.tracker.send_failed(self.index, seq);
                        return self.fail_now(metric, c);
                    }
                };
                self.done(metric, t, r).is_some()
            }
        };
        if !ok {
            self.ctx.tracker.send_failed(self.index, seq);
        }
    }

    pub(crate) async fn load_history(
        &mut self,
        step: &LoadHistoryStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return;
        };
        match step.via {
            Via::Ddp => {
                let params = vec![
                    Value::from(room.id.as_str()),
                    Value::Null,
                    Value::from(step.count),
                    json!({"$date": now_unix_ms()}),
                ];
                self.ddp_call(metric, "loadHistory", params, clock).await;
            }
            Via::Rest => {
                let t = clock.start();
                let r = match self.rest() {
                    Ok(rest) => rest.channels_history(&room.id, step.count).await,
                    Err(c) => return self.fail_now(metric, c),
                };
                self.done(metric, t, r);
            }
        }
    }

    pub(crate) async fn read(&mut self, step: &RoomStep, metric: &str, clock: &mut IterationClock) {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return;
        };
        match step.via {
            Via::Ddp => {
                let params = vec![Value::from(room.id.as_str())];
                self.ddp_call(metric, "readMessages", params, clock).await;
            }
            Via::Rest => {
                let t = clock.start();
                let r = match self.rest() {
                    Ok(rest) => rest.subscriptions_read(&room.id).await,
                    Err(c) => return self.fail_now(metric, c),
                };
                self.done(metric, t, r);
            }
        }
    }

    /// Typing indicator through the `stream-notify-room` method: start,
    /// then (with `duration`) wait and stop, or stop only with `stop: true`.
    pub(crate) async fn typing(
        &mut self,
        step: &TypingStep,
        metric: &str,
        clock: &mut IterationClock,
    ) -> Flow {
        let Some(room) = self.room_for(&step.room, metric).await else {
            return Flow::Continue;
        };
        let username = self.username();
        let params = |on: bool| -> Vec<Value> {
            match step.event {
                TypingEvent::UserActivity => {
                    let activity = if on {
                        json!(["user-typing"])
                    } else {
                        json!([])
                    };
                    vec![
                        Value::from(format!("{}/user-activity", room.id)),
                        Value::from(username.as_str()),
                        activity,
                        json!({}),
                    ]
                }
                TypingEvent::Typing => vec![
                    Value::from(format!("{}/typing", room.id)),
                    Value::from(username.as_str()),
                    Value::from(on),
                ],
            }
        };
        match step.duration {
            Some(d) => {
                self.ddp_call(metric, recorded::NOTIFY_ROOM, params(true), clock)
                    .await;
                let completed = self.stop.sleep(d).await;
                // Stop typing even when stopped: the indicator must not stick.
                self.ddp_call(metric, recorded::NOTIFY_ROOM, params(false), clock)
                    .await;
                if !completed {
                    return Flow::Stopped;
                }
            }
            None => {
                self.ddp_call(metric, recorded::NOTIFY_ROOM, params(!step.stop), clock)
                    .await;
            }
        }
        Flow::Continue
    }

    /// A DDP method call recorded under `metric`; its result on success.
    pub(crate) async fn ddp_call(
        &mut self,
        metric: &str,
        method: &str,
        params: Vec<Value>,
        clock: &mut IterationClock,
    ) -> Option<Value> {
        let ddp = match self.ddp(clock).await {
            Ok(d) => d,
            Err(c) => {
                self.fail_now(metric, c);
                return None;
            }
        };
        let t = clock.start();
        let r = ddp.call(method, params).await;
        self.done(metric, t, r)
    }

    /// A method over REST `method.call` (as the web client calls most).
    pub(crate) async fn rest_method(
        &mut self,
        method: &str,
        params: Vec<Value>,
        anon: bool,
        clock: &mut IterationClock,
    ) -> Option<Value> {
        let metric = recorded::rest_method(method, anon);
        let t = clock.start();
        let r = match self.rest() {
            Ok(rest) => rest.method_call(method, params, anon).await,
            Err(c) => {
                self.fail_now(&metric, c);
                return None;
            }
        };
        self.done(&metric, t, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_per_run_for_the_same_draws() {
        let drawn = std::array::from_fn(|i| i * 3);
        let (a, b) = (salted_id(drawn, 1), salted_id(drawn, 2));
        assert_eq!((a.len(), b.len()), (17, 17));
        assert_ne!(a, b);
        assert_eq!(a[6..], b[6..], "only the salted head differs");
        assert_eq!(salted_id(drawn, 1), a, "same draws, same run: same id");
        // The top of the u32 range still lands within six digits.
        assert_ne!(salted_id(drawn, u32::MAX), salted_id(drawn, u32::MAX - 1));
        assert!(
            salted_id(drawn, u32::MAX)
                .bytes()
                .all(|c| ID_ALPHABET.contains(&c))
        );
    }
}
