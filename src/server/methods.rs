//! DDP methods, shared by the websocket, REST `method.call` and the REST
//! endpoints that are thin wrappers over a method (chat.sendMessage ...).
//! Results use EJSON dates, as on the wire.

use serde_json::{Map, Value, json};

use super::errors::MeteorError;
use super::events;
use super::ids;
use super::shapes::{self, Dates};
use super::state::Shared;
use super::store::{Data, HistoryQuery, RoomIx, Status, UserIx, UserSelector};

/// Who calls: the logged-in user (if any) and the websocket (if any).
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller {
    pub user: Option<UserIx>,
    pub conn: Option<u64>,
}

/// A change of the caller's login state a method asks for.
#[derive(Debug, PartialEq)]
pub enum Effect {
    None,
    /// Logged in as this user with this token.
    Login {
        user: UserIx,
        token: String,
    },
    Logout,
}

pub struct Outcome {
    /// `None` = the method returned `undefined` (no `result` key).
    pub result: Option<Value>,
    pub effect: Effect,
}

impl Outcome {
    fn value(v: Value) -> Result<Outcome, MeteorError> {
        Ok(Outcome {
            result: Some(v),
            effect: Effect::None,
        })
    }
    fn none() -> Result<Outcome, MeteorError> {
        Ok(Outcome {
            result: None,
            effect: Effect::None,
        })
    }
}

/// Calls `name`; unknown names are `404 Method 'x' not found`.
pub fn call(
    shared: &Shared,
    caller: &Caller,
    name: &str,
    params: &[Value],
) -> Result<Outcome, MeteorError> {
    match name {
        "login" => login(shared, params),
        "logout" => Ok(Outcome {
            result: None,
            effect: Effect::Logout,
        }),
        "sendMessage" => {
            let msg = params.first().ok_or_else(match_failed)?;
            Outcome::value(send_message(shared, caller, msg)?)
        }
        "loadHistory" => load_history(shared, caller, params),
        "rooms/get" => collection_get(shared, caller, params, shapes::user_rooms),
        "subscriptions/get" => collection_get(shared, caller, params, shapes::user_subscriptions),
        "readMessages" => {
            let rid = str_param(params, 0)?;
            read_messages(shared, caller, rid, "readMessages")?;
            Outcome::none()
        }
        "joinRoom" => {
            let rid = str_param(params, 0)?;
            join_room(shared, caller, rid, "joinRoom")?;
            Outcome::value(Value::Bool(true))
        }
        "createChannel" => create_channel_method(shared, caller, params),
        "UserPresence:setDefaultStatus" => {
            let status = str_param(params, 0)?;
            let status = Status::parse(status).ok_or_else(match_failed)?;
            set_status(shared, caller, status, None, name)?;
            Outcome::value(Value::Bool(true))
        }
        "UserPresence:online" | "UserPresence:away" => {
            let status = if name.ends_with("online") {
                Status::Online
            } else {
                Status::Away
            };
            if caller.user.is_some() {
                set_status(shared, caller, status, None, name)?;
            }
            Outcome::value(Value::Bool(caller.user.is_some()))
        }
        "setUserStatus" => {
            let status = match params.first() {
                Some(Value::String(s)) => Some(Status::parse(s).ok_or_else(match_failed)?),
                _ => None,
            };
            let text = params.get(1).and_then(Value::as_str);
            let user = caller.user.ok_or_else(|| MeteorError::invalid_user(name))?;
            let status = status.unwrap_or_else(|| shared.store.read().user(user).status);
            set_status(shared, caller, status, text, name)?;
            Outcome::none()
        }
        "stream-notify-room" => {
            notify_room(shared, caller, params);
            Outcome::none()
        }
        "public-settings/get" => listing(params, public_settings(shared)),
        "permissions/get" | "listCustomSounds" | "listCustomUserStatus" | "license:getModules" => {
            listing(params, Vec::new())
        }
        "license:isEnterprise" => Outcome::value(Value::Bool(false)),
        "getSingleMessage" => get_single_message(shared, caller, params),
        _ => Err(MeteorError::method_not_found(name)),
    }
}

fn match_failed() -> MeteorError {
    MeteorError::new("400", "Match failed")
}

fn str_param(params: &[Value], i: usize) -> Result<&str, MeteorError> {
    params
        .get(i)
        .and_then(Value::as_str)
        .ok_or_else(match_failed)
}

/// `{"$date": ms}` (EJSON) or an ISO string.
pub fn date_param(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Object(o) => o.get("$date").and_then(Value::as_u64),
        Value::String(s) => ids::parse_iso(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn login(shared: &Shared, params: &[Value]) -> Result<Outcome, MeteorError> {
    let Some(opts) = params.first().and_then(Value::as_object) else {
        return Err(MeteorError::new(
            "400",
            "Unrecognized options for login request",
        ));
    };
    let now = ids::now_ms();
    if let Some(token) = opts.get("resume") {
        let token = token.as_str().ok_or_else(MeteorError::login_failed)?;
        let d = shared.store.read();
        let (user, expires) = d.resume(token, now).ok_or_else(MeteorError::login_failed)?;
        let result = json!({ "id": d.user(user).id, "token": token, "tokenExpires": { "$date": expires }, "type": "resume" });
        return Ok(Outcome {
            result: Some(result),
            effect: Effect::Login {
                user,
                token: token.to_string(),
            },
        });
    }
    let (sel, hash) = password_login_args(opts).ok_or_else(MeteorError::login_failed)?;
    let mut d = shared.store.write();
    let user = d
        .check_password(&sel, &hash)
        .ok_or_else(MeteorError::login_failed)?;
    let login = d.issue_token(user, now);
    let result = json!({ "id": d.user(user).id, "token": login.token, "tokenExpires": { "$date": login.expires_ms }, "type": "password" });
    Ok(Outcome {
        result: Some(result),
        effect: Effect::Login {
            user,
            token: login.token,
        },
    })
}

/// `user` (string, or `{username|email|id}`) or `username`/`email`, and
/// `password` (plain, or `{digest, algorithm}`).
pub fn password_login_args(opts: &Map<String, Value>) -> Option<(UserSelector<'_>, [u8; 32])> {
    let sel = match (opts.get("user"), opts.get("username"), opts.get("email")) {
        (Some(Value::String(s)), _, _) => UserSelector::UsernameOrEmail(s),
        (Some(Value::Object(u)), _, _) => {
            if let Some(n) = u.get("username").and_then(Value::as_str) {
                UserSelector::Username(n)
            } else if let Some(e) = u.get("email").and_then(Value::as_str) {
                UserSelector::Email(e)
            } else {
                UserSelector::Id(u.get("id").and_then(Value::as_str)?)
            }
        }
        (_, Some(Value::String(n)), _) => UserSelector::Username(n),
        (_, _, Some(Value::String(e))) => UserSelector::Email(e),
        _ => return None,
    };
    let hash = match opts.get("password")? {
        Value::String(plain) => ids::password_hash(&ids::password_digest(plain)),
        Value::Object(p) => ids::password_hash(p.get("digest").and_then(Value::as_str)?),
        _ => return None,
    };
    Some((sel, hash))
}

fn room_of(d: &Data, rid: &str, method: &str) -> Result<RoomIx, MeteorError> {
    d.room_by_id(rid)
        .ok_or_else(|| MeteorError::invalid_room(method))
}

/// Posts `{_id?, rid, msg, tmid?}`; returns the message (EJSON dates).
pub fn send_message(shared: &Shared, caller: &Caller, msg: &Value) -> Result<Value, MeteorError> {
    const M: &str = "sendMessage";
    let user = caller.user.ok_or_else(|| MeteorError::invalid_user(M))?;
    let obj = msg.as_object().ok_or_else(match_failed)?;
    let rid = obj
        .get("rid")
        .and_then(Value::as_str)
        .ok_or_else(match_failed)?;
    let text = match obj.get("msg") {
        Some(Value::String(s)) => s.as_str(),
        None | Some(Value::Null) => "",
        Some(_) => return Err(match_failed()),
    };
    let id = obj.get("_id").and_then(Value::as_str);
    let tmid = obj.get("tmid").and_then(Value::as_str);
    post(shared, user, rid, id, text, tmid, Dates::Ejson).map(|(_, m)| m)
}

/// Stores and fans out a message; returns (room name, message in `style`).
pub fn post(
    shared: &Shared,
    user: UserIx,
    rid: &str,
    id: Option<&str>,
    text: &str,
    tmid: Option<&str>,
    style: Dates,
) -> Result<(String, Value), MeteorError> {
    const M: &str = "sendMessage";
    let now = ids::now_ms();
    let mut d = shared.store.write();
    let room = room_of(&d, rid, M)?;
    let r = d.room(room);
    if !r.is_member(user) || (r.read_only && !d.user(user).is_admin()) {
        return Err(MeteorError::not_allowed(M));
    }
    let index = d.post(room, user, id, text, tmid, now)?;
    shared.store.count_message();
    if let Some(m) = &shared.metrics {
        m.message_sent();
    }
    events::message_posted(&shared.bus, &d, room, index, user);
    let r = d.room(room);
    // `post` returned a valid index into this room just now.
    let m = &r.messages[index];
    Ok((r.name.clone(), shapes::message(&d, r, m, style)))
}

fn load_history(
    shared: &Shared,
    caller: &Caller,
    params: &[Value],
) -> Result<Outcome, MeteorError> {
    const M: &str = "loadHistory";
    let rid = str_param(params, 0)?;
    let Some(_user) = caller.user else {
        return Outcome::value(Value::Bool(false));
    };
    let end = date_param(params.get(1));
    let limit = params
        .get(2)
        .and_then(Value::as_u64)
        .unwrap_or(20)
        .min(1000) as usize;
    let ls = date_param(params.get(3));
    let d = shared.store.read();
    let room = room_of(&d, rid, M)?;
    let r = d.room(room);
    let q = HistoryQuery {
        latest_ms: end,
        oldest_ms: None,
        inclusive: false,
        offset: 0,
        count: limit,
    };
    let messages: Vec<Value> = r
        .history(&q)
        .into_iter()
        .map(|m| shapes::message(&d, r, m, Dates::Ejson))
        .collect();
    let mut out = json!({ "messages": messages });
    if let Some(ls) = ls {
        let unread = r.messages.len() - r.messages.partition_point(|m| m.ts_ms <= ls);
        out["unreadNotLoaded"] = json!(unread.saturating_sub(messages.len()));
    }
    Outcome::value(out)
}

type Lister = fn(&Data, UserIx, Option<u64>, Dates) -> Vec<Value>;

/// `rooms/get` and `subscriptions/get`: a list, or `{update, remove}` when a date is given.
fn collection_get(
    shared: &Shared,
    caller: &Caller,
    params: &[Value],
    list: Lister,
) -> Result<Outcome, MeteorError> {
    let since = date_param(params.first());
    let items = match caller.user {
        Some(u) => list(&shared.store.read(), u, since, Dates::Ejson),
        None => Vec::new(),
    };
    match since {
        Some(_) => Outcome::value(json!({ "update": items, "remove": [] })),
        None => Outcome::value(Value::Array(items)),
    }
}

pub fn read_messages(
    shared: &Shared,
    caller: &Caller,
    rid: &str,
    method: &str,
) -> Result<(), MeteorError> {
    let user = caller
        .user
        .ok_or_else(|| MeteorError::invalid_user(method))?;
    let mut d = shared.store.write();
    let room = room_of(&d, rid, method)?;
    if !d.mark_read(room, user, ids::now_ms()) {
        return Err(
            MeteorError::new("error-invalid-subscription", "Invalid subscription")
                .with_details(json!({ "method": method })),
        );
    }
    events::subscription_changed(&shared.bus, &d, room, user, "updated");
    Ok(())
}

/// Joins a public channel; returns the room in `style`.
pub fn join_room(
    shared: &Shared,
    caller: &Caller,
    rid: &str,
    method: &str,
) -> Result<RoomIx, MeteorError> {
    let user = caller
        .user
        .ok_or_else(|| MeteorError::invalid_user(method))?;
    let mut d = shared.store.write();
    let room = room_of(&d, rid, method)?;
    if d.join(room, user, ids::now_ms()) {
        events::subscription_changed(&shared.bus, &d, room, user, "inserted");
    }
    Ok(room)
}

/// Creates a public channel with the caller and `members` (usernames;
/// unknown ones are skipped, as Rocket.Chat does).
pub fn create_channel(
    shared: &Shared,
    caller: &Caller,
    name: &str,
    members: &[&str],
    read_only: bool,
    method: &str,
) -> Result<RoomIx, MeteorError> {
    let user = caller
        .user
        .ok_or_else(|| MeteorError::invalid_user(method))?;
    let mut d = shared.store.write();
    let ixs: Vec<UserIx> = members
        .iter()
        .filter_map(|m| d.user_by_username(m))
        .collect();
    let room = d.create_room(name, Some(user), &ixs, read_only, ids::now_ms())?;
    let joined: Vec<UserIx> = d.room(room).members.keys().copied().collect();
    for m in joined {
        events::subscription_changed(&shared.bus, &d, room, m, "inserted");
    }
    Ok(room)
}

fn create_channel_method(
    shared: &Shared,
    caller: &Caller,
    params: &[Value],
) -> Result<Outcome, MeteorError> {
    let name = str_param(params, 0)?;
    let members: Vec<&str> = match params.get(1) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(match_failed()),
    };
    let ro = params.get(2).and_then(Value::as_bool).unwrap_or(false);
    let room = create_channel(shared, caller, name, &members, ro, "createChannel")?;
    let d = shared.store.read();
    let r = d.room(room);
    Outcome::value(json!({ "rid": r.id, "name": r.name }))
}

/// Sets a chosen status and broadcasts it.
pub fn set_status(
    shared: &Shared,
    caller: &Caller,
    status: Status,
    text: Option<&str>,
    method: &str,
) -> Result<(), MeteorError> {
    let user = caller
        .user
        .ok_or_else(|| MeteorError::invalid_user(method))?;
    let mut d = shared.store.write();
    let s = d.set_status(user, status, text, ids::now_ms());
    events::status_changed(&shared.bus, &d, user, s);
    Ok(())
}

/// `stream-notify-room` writes: `["<rid>/<event>", username, ...args]`.
/// Only typing events by the caller himself pass; the rest are dropped
/// silently (the call still succeeds), as Rocket.Chat does.
fn notify_room(shared: &Shared, caller: &Caller, params: &[Value]) {
    let (Some(event), Some(username), Some(user)) = (
        params.first().and_then(Value::as_str),
        params.get(1).and_then(Value::as_str),
        caller.user,
    ) else {
        return;
    };
    let Some((rid, kind)) = event.split_once('/') else {
        return;
    };
    if !matches!(kind, "typing" | "user-activity") {
        return;
    }
    let own = {
        let d = shared.store.read();
        d.user(user).username == username && d.room_by_id(rid).is_some()
    };
    if own {
        events::room_activity(&shared.bus, rid, kind, username, &params[2..], caller.conn);
    }
}

fn get_single_message(
    shared: &Shared,
    caller: &Caller,
    params: &[Value],
) -> Result<Outcome, MeteorError> {
    const M: &str = "getSingleMessage";
    let id = str_param(params, 0)?;
    let user = caller.user.ok_or_else(|| MeteorError::invalid_user(M))?;
    let d = shared.store.read();
    for &r in &d.user(user).rooms {
        let room = d.room(r);
        if let Some(m) = room.messages.iter().rev().find(|m| m.id == id) {
            return Outcome::value(shapes::message(&d, room, m, Dates::Ejson));
        }
    }
    Outcome::none()
}

/// A list method: the list, or `{update, remove}` when given a date.
fn listing(params: &[Value], items: Vec<Value>) -> Result<Outcome, MeteorError> {
    if date_param(params.first()).is_some() {
        Outcome::value(json!({ "update": items, "remove": [] }))
    } else {
        Outcome::value(Value::Array(items))
    }
}

/// The public settings the reference server has (`public-settings/get`,
/// REST `settings.public`).
pub fn public_settings(shared: &Shared) -> Vec<Value> {
    let registration = if shared.registration_open {
        "Public"
    } else {
        "Disabled"
    };
    [
        ("Site_Name", json!("Rocket.Chat")),
        ("Site_Url", json!("http://localhost:3000")),
        ("Language", json!("en")),
        ("Accounts_RegistrationForm", json!(registration)),
        (
            "Message_MaxAllowedSize",
            json!(super::store::MAX_MESSAGE_CHARS),
        ),
        ("UI_Use_Real_Name", json!(false)),
    ]
    .into_iter()
    .map(|(id, value)| json!({ "_id": id, "value": value, "enterprise": false }))
    .collect()
}
