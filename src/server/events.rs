//! Stream events: DDP `changed` frames built once and fanned out on the bus.

use serde_json::{Value, json};

use super::bus::{Bus, Frame, Stream};
use super::shapes::{self, Dates};
use super::store::{Data, RoomIx, Status, UserIx};

/// `{"msg":"changed","collection":<stream>,"id":<id>,"fields":{...}}`.
pub fn changed(stream: Stream, id: &str, fields: Value) -> Frame {
    let v = json!({ "msg": "changed", "collection": stream.name(), "id": id, "fields": fields });
    Frame::from(v.to_string())
}

fn stream_event(stream: Stream, event: &str, args: Value) -> Frame {
    changed(stream, "id", json!({ "eventName": event, "args": args }))
}

/// A new message: `stream-room-messages` to the room's subscribers and to
/// members listening on `__my_messages__` (the sender's connection
/// included: a server-side emit has no origin), then
/// `subscriptions-changed`/`rooms-changed` to members that listen.
/// Returns the deliveries made.
pub fn message_posted(
    bus: &Bus,
    data: &Data,
    room_ix: RoomIx,
    msg_index: usize,
    sender: UserIx,
) -> usize {
    let room = data.room(room_ix);
    let Some(m) = room.messages.get(msg_index) else {
        return 0;
    };
    let mut n = 0;
    let to_room = bus.has_subscribers(Stream::RoomMessages, &room.id);
    let to_mine = bus.has_subscribers(Stream::RoomMessages, "__my_messages__");
    if to_room || to_mine {
        let msg = shapes::message(data, room, m, Dates::Ejson);
        let frame = stream_event(Stream::RoomMessages, &room.id, json!([msg]));
        n += bus.publish(Stream::RoomMessages, &room.id, &frame, None, &|_| true);
        if to_mine {
            n += bus.publish(
                Stream::RoomMessages,
                "__my_messages__",
                &frame,
                None,
                &|s| s.user.is_some_and(|u| room.is_member(u)),
            );
        }
    }
    let mut room_frame = None;
    for (&member, sub) in &room.members {
        let uid = &data.user(member).id;
        if member != sender {
            let event = format!("{uid}/subscriptions-changed");
            if bus.has_subscribers(Stream::NotifyUser, &event) {
                let s = shapes::subscription(data, room, member, sub, Dates::Ejson);
                let frame = stream_event(Stream::NotifyUser, &event, json!(["updated", s]));
                n += bus.publish(Stream::NotifyUser, &event, &frame, None, &|_| true);
            }
        }
        let event = format!("{uid}/rooms-changed");
        if bus.has_subscribers(Stream::NotifyUser, &event) {
            // Same room document for every member: build it once.
            let args = room_frame
                .get_or_insert_with(|| json!(["updated", shapes::room(data, room, Dates::Ejson)]))
                .clone();
            let frame = stream_event(Stream::NotifyUser, &event, args);
            n += bus.publish(Stream::NotifyUser, &event, &frame, None, &|_| true);
        }
    }
    n
}

/// `subscriptions-changed` (and `rooms-changed` on insert) for one user.
pub fn subscription_changed(
    bus: &Bus,
    data: &Data,
    room_ix: RoomIx,
    user: UserIx,
    action: &str,
) -> usize {
    let room = data.room(room_ix);
    let uid = &data.user(user).id;
    let mut n = 0;
    let event = format!("{uid}/subscriptions-changed");
    if let Some(sub) = room.members.get(&user)
        && bus.has_subscribers(Stream::NotifyUser, &event)
    {
        let s = shapes::subscription(data, room, user, sub, Dates::Ejson);
        let frame = stream_event(Stream::NotifyUser, &event, json!([action, s]));
        n += bus.publish(Stream::NotifyUser, &event, &frame, None, &|_| true);
    }
    let event = format!("{uid}/rooms-changed");
    if action == "inserted" && bus.has_subscribers(Stream::NotifyUser, &event) {
        let r = shapes::room(data, room, Dates::Ejson);
        let frame = stream_event(Stream::NotifyUser, &event, json!([action, r]));
        n += bus.publish(Stream::NotifyUser, &event, &frame, None, &|_| true);
    }
    n
}

/// A status change: `user-status` on stream-notify-logged and the user's
/// `stream-user-presence` topic.
pub fn status_changed(bus: &Bus, data: &Data, user: UserIx, status: Status) -> usize {
    let u = data.user(user);
    let mut n = 0;
    if bus.has_subscribers(Stream::NotifyLogged, "user-status") {
        let args = json!([[
            u.id,
            u.username,
            status.number(),
            u.status_text,
            u.name,
            u.roles
        ]]);
        let frame = stream_event(Stream::NotifyLogged, "user-status", args);
        n += bus.publish(Stream::NotifyLogged, "user-status", &frame, None, &|_| true);
    }
    if bus.has_subscribers(Stream::UserPresence, &u.id) {
        let fields = json!({ "uid": u.id, "args": [[u.username, status.number(), u.status_text]], "eventName": u.id });
        let frame = changed(Stream::UserPresence, &u.id, fields);
        n += bus.publish(Stream::UserPresence, &u.id, &frame, None, &|_| true);
    }
    n
}

/// A typing/activity write on stream-notify-room, plus its legacy twin
/// (`user-activity` <-> `typing`); never echoed to the writer's connection.
pub fn room_activity(
    bus: &Bus,
    rid: &str,
    event: &str,
    username: &str,
    args: &[Value],
    origin: Option<u64>,
) -> usize {
    let (activity, typing) = match event {
        "user-activity" => {
            let acts = args.first().cloned().unwrap_or_else(|| json!([]));
            let typing = acts
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "user-typing"));
            let mut full = vec![Value::from(username), acts];
            full.extend(args.iter().skip(1).cloned());
            (Value::Array(full), json!([username, typing]))
        }
        "typing" => {
            let on = args.first().and_then(Value::as_bool).unwrap_or(false);
            let acts = if on {
                json!(["user-typing"])
            } else {
                json!([])
            };
            (json!([username, acts]), json!([username, on]))
        }
        _ => return 0,
    };
    let mut n = 0;
    for (name, args) in [("user-activity", activity), ("typing", typing)] {
        let ev = format!("{rid}/{name}");
        if bus.has_subscribers(Stream::NotifyRoom, &ev) {
            let frame = stream_event(Stream::NotifyRoom, &ev, args);
            n += bus.publish(Stream::NotifyRoom, &ev, &frame, origin, &|_| true);
        }
    }
    n
}
