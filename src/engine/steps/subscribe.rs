//! `subscribe` / `unsubscribe`: Rocket.Chat streams as the clients
//! subscribe them, `[eventName, {"useCollection": false, "args": []}]`.

use serde_json::{Value, json};

use crate::engine::clock::IterationClock;
use crate::engine::sink::MY_MESSAGES;
use crate::engine::vu::{ActiveSub, Vu};
use crate::metrics::ErrorClass;
use crate::rocketchat::RcError;
use crate::scenario::recorded::{NOTIFY_ROOM, NOTIFY_USER, ROOM_MESSAGES, USER_PRESENCE};
use crate::scenario::{Stream, SubscribeStep};

/// Params of a streamer subscription.
pub(crate) fn stream_params(event: &str) -> Vec<Value> {
    vec![
        Value::from(event),
        json!({"useCollection": false, "args": []}),
    ]
}

/// One subscription to make.
pub(crate) struct SubSpec {
    pub stream: Option<Stream>,
    pub name: &'static str,
    pub params: Vec<Value>,
    pub tracked_room: Option<String>,
    pub room_id: Option<String>,
}

impl SubSpec {
    pub fn stream(stream: Option<Stream>, name: &'static str, event: &str) -> SubSpec {
        SubSpec {
            stream,
            name,
            params: stream_params(event),
            tracked_room: None,
            room_id: None,
        }
    }
}

/// Whether a live subscription belongs to a stream kind of the scenario
/// (also the ones `open_room` and `web_client_boot` made).
fn is_of_stream(s: &ActiveSub, stream: Stream) -> bool {
    let event = s.params.first().and_then(Value::as_str).unwrap_or_default();
    match stream {
        Stream::RoomMessages => s.name == ROOM_MESSAGES && event != MY_MESSAGES,
        Stream::MyMessages => s.name == ROOM_MESSAGES && event == MY_MESSAGES,
        Stream::Typing => s.name == NOTIFY_ROOM,
        Stream::NotifyUser => s.name == NOTIFY_USER,
        Stream::Presence => s.name == USER_PRESENCE,
    }
}

impl Vu {
    fn has_sub(&self, name: &str, params: &[Value]) -> bool {
        self.subs
            .iter()
            .any(|s| s.name == name && s.params.first() == params.first())
    }

    /// Subscribes (unless already subscribed) and keeps the subscription
    /// for restoring after a reconnect; tracked rooms are reported to the
    /// e2e tracker once `ready` arrived.
    pub(crate) async fn sub(
        &mut self,
        spec: SubSpec,
        metric: &str,
        clock: &mut IterationClock,
    ) -> bool {
        if self.has_sub(spec.name, &spec.params) {
            return true;
        }
        let ddp = match self.ddp(clock).await {
            Ok(d) => d,
            Err(c) => {
                self.fail_now(metric, c);
                return false;
            }
        };
        let t = clock.start();
        let r = ddp.subscribe(spec.name, spec.params.clone()).await;
        // Presence: only the first such sub gets `ready`; later ones edit
        // the listened set and are stopped at once without an error.
        let r = match r {
            Err(RcError::Nosub { code, .. }) if spec.name == USER_PRESENCE && code.is_empty() => {
                self.record(metric, t, Ok(()));
                return true;
            }
            r => r,
        };
        let Some(id) = self.done(metric, t, r) else {
            return false;
        };
        if let Some(rid) = &spec.tracked_room {
            self.ctx.tracker.subscribed(self.index, rid);
        }
        self.subs.push(ActiveSub {
            stream: spec.stream,
            name: spec.name.to_owned(),
            params: spec.params,
            id,
            metric: metric.to_owned(),
            tracked_room: spec.tracked_room,
            room_id: spec.room_id,
        });
        true
    }

    pub(crate) async fn subscribe(
        &mut self,
        step: &SubscribeStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let stream = step.stream;
        let specs = match self.sub_specs(stream, &step.rooms, metric).await {
            Some(s) => s,
            None => return,
        };
        for spec in specs {
            if self.stop.is_stopped() {
                return;
            }
            self.sub(spec, metric, clock).await;
        }
    }

    /// The subscriptions a `subscribe` step makes.
    async fn sub_specs(
        &mut self,
        stream: Stream,
        rooms: &str,
        metric: &str,
    ) -> Option<Vec<SubSpec>> {
        let mut specs = Vec::new();
        match stream {
            Stream::RoomMessages | Stream::Typing | Stream::Presence => {
                let rooms = match self.select_rooms(rooms).await {
                    Ok(r) => r,
                    Err(c) => {
                        self.fail_now(metric, c);
                        return None;
                    }
                };
                match stream {
                    Stream::RoomMessages => {
                        for r in rooms {
                            let mut s = SubSpec::stream(Some(stream), ROOM_MESSAGES, &r.id);
                            s.tracked_room = Some(r.id.clone());
                            s.room_id = Some(r.id);
                            specs.push(s);
                        }
                    }
                    Stream::Typing => {
                        for r in rooms {
                            for ev in ["user-activity", "typing"] {
                                let mut s = SubSpec::stream(
                                    Some(stream),
                                    NOTIFY_ROOM,
                                    &format!("{}/{ev}", r.id),
                                );
                                s.room_id = Some(r.id.clone());
                                specs.push(s);
                            }
                        }
                    }
                    _ => {
                        let own = self.session.as_ref().map(|s| s.user_id.clone());
                        let mut uids: Vec<String> = Vec::new();
                        for r in &rooms {
                            for uid in self.member_ids(r).await.iter() {
                                if Some(uid) != own.as_ref() && !uids.contains(uid) {
                                    uids.push(uid.clone());
                                }
                            }
                        }
                        specs.push(SubSpec {
                            stream: Some(stream),
                            name: USER_PRESENCE,
                            params: vec![Value::from(""), json!({"added": uids})],
                            tracked_room: None,
                            room_id: None,
                        });
                    }
                }
            }
            Stream::NotifyUser => {
                let uid = self.user_id(metric)?;
                for ev in ["rooms-changed", "subscriptions-changed", "notification"] {
                    specs.push(SubSpec::stream(
                        Some(stream),
                        NOTIFY_USER,
                        &format!("{uid}/{ev}"),
                    ));
                }
            }
            Stream::MyMessages => {
                self.sink.listens_my_messages();
                specs.push(SubSpec::stream(Some(stream), ROOM_MESSAGES, MY_MESSAGES));
            }
        }
        Some(specs)
    }

    pub(crate) async fn unsubscribe(
        &mut self,
        step: &SubscribeStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let room_ids: Option<Vec<String>> = match step.stream {
            Stream::RoomMessages | Stream::Typing => match self.select_rooms(&step.rooms).await {
                Ok(r) => Some(r.into_iter().map(|r| r.id).collect()),
                Err(c) => return self.fail_now(metric, c),
            },
            _ => None,
        };
        let stream = step.stream;
        let (gone, kept): (Vec<ActiveSub>, Vec<ActiveSub>) =
            std::mem::take(&mut self.subs).into_iter().partition(|s| {
                is_of_stream(s, stream)
                    && room_ids
                        .as_ref()
                        .is_none_or(|ids| s.room_id.as_ref().is_some_and(|r| ids.contains(r)))
            });
        self.subs = kept;
        let Some(ddp) = self.ddp.clone() else {
            if !gone.is_empty() {
                self.fail_now(metric, ErrorClass::WsClosed(None));
            }
            return;
        };
        for sub in gone {
            if let Some(rid) = &sub.tracked_room {
                self.ctx.tracker.unsubscribed(self.index, rid);
            }
            let t = clock.start();
            let r = ddp.unsubscribe(&sub.id).await;
            self.done(metric, t, r);
        }
    }
}
