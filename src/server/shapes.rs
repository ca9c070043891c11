//! JSON renderings of store records, in Rocket.Chat's field names. REST
//! carries dates as ISO strings; DDP as EJSON `{"$date": ms}`.

use serde_json::{Value, json};

use super::ids;
use super::store::{Data, Membership, Message, Room, RoomIx, User, UserIx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dates {
    Iso,
    Ejson,
}

pub fn date(ms: u64, style: Dates) -> Value {
    match style {
        Dates::Iso => Value::from(ids::iso(ms)),
        Dates::Ejson => json!({ "$date": ms }),
    }
}

/// A message as `sendMessage` returns it and streams carry it.
pub fn message(data: &Data, room: &Room, m: &Message, style: Dates) -> Value {
    let u = data.user(m.user);
    let mut v = json!({
        "_id": m.id,
        "rid": room.id,
        "msg": m.msg,
        "ts": date(m.ts_ms, style),
        "u": { "_id": u.id, "username": u.username, "name": u.name },
        "_updatedAt": date(m.ts_ms, style),
        "urls": [],
        "mentions": [],
        "channels": [],
        "md": [{ "type": "PARAGRAPH", "value": [{ "type": "PLAIN_TEXT", "value": m.msg }] }],
    });
    if let Some(t) = &m.tmid {
        v["tmid"] = Value::from(t.as_str());
    }
    v
}

pub fn room(data: &Data, r: &Room, style: Dates) -> Value {
    let mut v = json!({
        "_id": r.id,
        "name": r.name,
        "fname": r.name,
        "t": "c",
        "msgs": r.msgs,
        "usersCount": r.members.len(),
        "ts": date(r.ts_ms, style),
        "ro": r.read_only,
        "sysMes": true,
        "default": r.default,
        "_updatedAt": date(r.updated_ms, style),
    });
    if let Some(c) = r.creator {
        let u = data.user(c);
        v["u"] = json!({ "_id": u.id, "username": u.username });
    }
    if let Some(last) = r.messages.back() {
        v["lm"] = date(last.ts_ms, style);
        v["lastMessage"] = message(data, r, last, style);
    }
    v
}

pub fn subscription(data: &Data, r: &Room, user: UserIx, s: &Membership, style: Dates) -> Value {
    let u = data.user(user);
    json!({
        "_id": format!("{}{}", r.id, u.id),
        "rid": r.id,
        "u": { "_id": u.id, "username": u.username, "name": u.name },
        "name": r.name,
        "fname": r.name,
        "t": "c",
        "ts": date(s.ts_ms, style),
        "ls": date(s.ls_ms, style),
        "_updatedAt": date(s.updated_ms, style),
        "open": true,
        "alert": s.alert,
        "unread": s.unread,
        "userMentions": 0,
        "groupMentions": 0,
    })
}

/// The user's own document (`/me`, login `me`, DDP `added` on `users`).
pub fn own_user(u: &User, style: Dates) -> Value {
    json!({
        "_id": u.id,
        "username": u.username,
        "name": u.name,
        "emails": [{ "address": u.email, "verified": true }],
        "status": u.status.as_str(),
        "statusConnection": if u.connections > 0 { "online" } else { "offline" },
        "statusText": u.status_text,
        "active": true,
        "roles": u.roles,
        "type": "user",
        "utcOffset": 0,
        "createdAt": date(u.created_ms, style),
        "_updatedAt": date(u.updated_ms, style),
        "settings": { "preferences": {} },
        "services": { "password": { "exists": true } },
    })
}

/// The short user form `users.register` / `users.create` return.
pub fn new_user(u: &User) -> Value {
    json!({
        "_id": u.id,
        "type": "user",
        "status": u.status.as_str(),
        "active": true,
        "name": u.name,
        "utcOffset": 0,
        "username": u.username,
        "roles": u.roles,
    })
}

/// The rooms a user belongs to, optionally only those updated after `since`.
pub fn user_rooms(data: &Data, user: UserIx, since: Option<u64>, style: Dates) -> Vec<Value> {
    data.user(user)
        .rooms
        .iter()
        .map(|&r| data.room(r))
        .filter(|r| since.is_none_or(|s| r.updated_ms > s))
        .map(|r| room(data, r, style))
        .collect()
}

/// The user's subscriptions, optionally only those updated after `since`.
pub fn user_subscriptions(
    data: &Data,
    user: UserIx,
    since: Option<u64>,
    style: Dates,
) -> Vec<Value> {
    data.user(user)
        .rooms
        .iter()
        .filter_map(|&r: &RoomIx| {
            let room = data.room(r);
            let s = room.members.get(&user)?;
            since
                .is_none_or(|t| s.updated_ms > t)
                .then(|| subscription(data, room, user, s, style))
        })
        .collect()
}
