//! `channels.*` of a room itself (not its messages), `rooms.get` and
//! `subscriptions.*`.

use serde_json::{Value, json};

use super::{Ctx, Fields, Params, Reply, RestError, paging, required};
use crate::server::errors::MeteorError;
use crate::server::events;
use crate::server::ids;
use crate::server::methods;
use crate::server::shapes::{self, Dates};
use crate::server::store::{Data, UserIx};

/// `POST channels.create`.
pub(super) fn create(ctx: &Ctx, body: &Fields) -> Reply {
    let name = required(body, "name")?;
    let members: Vec<&str> = body
        .get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ro = body
        .get("readOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let room = methods::create_channel(
        ctx.shared(),
        &ctx.caller(),
        name,
        &members,
        ro,
        "channels.create",
    )?;
    let d = ctx.shared().store.read();
    Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
}

/// `POST channels.join`.
pub(super) fn join(ctx: &Ctx, body: &Fields) -> Reply {
    let rid = room_id(ctx, body.get("roomId"), body.get("roomName"))?;
    let room = methods::join_room(ctx.shared(), &ctx.caller(), &rid, "channels.join")?;
    let d = ctx.shared().store.read();
    Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
}

/// `POST channels.invite {roomId | roomName, userId | userIds}`: an admin
/// (`add-user-to-any-c-room`) or the room's owner adds members.
pub(super) fn invite(ctx: &Ctx, body: &Fields) -> Reply {
    let caller = ctx.user()?;
    let rid = room_id(ctx, body.get("roomId"), body.get("roomName"))?;
    let ids: Vec<&str> = match (body.get("userId"), body.get("userIds")) {
        (Some(Value::String(id)), _) => vec![id.as_str()],
        (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
        _ => {
            return Err(RestError::Meteor(MeteorError::invalid_params(
                "must have required property 'userId' or 'userIds'",
            )));
        }
    };
    let shared = ctx.shared();
    let mut d = shared.store.write();
    let room = d
        .room_by_id(&rid)
        .ok_or_else(|| MeteorError::invalid_room("channels.invite"))?;
    if !d.user(caller).is_admin() && d.room(room).creator != Some(caller) {
        return Err(RestError::Forbidden);
    }
    let mut users = Vec::with_capacity(ids.len());
    for id in ids {
        users.push(
            d.user_by_id(id)
                .ok_or_else(|| RestError::Meteor(MeteorError::invalid_user("channels.invite")))?,
        );
    }
    let now = ids::now_ms();
    for user in users {
        if d.join(room, user, now) {
            events::subscription_changed(&shared.bus, &d, room, user, "inserted");
        }
    }
    Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
}

/// `POST channels.delete {roomId | roomName}`: an admin or the owner.
pub(super) fn delete(ctx: &Ctx, body: &Fields) -> Reply {
    let caller = ctx.user()?;
    let rid = room_id(ctx, body.get("roomId"), body.get("roomName"))?;
    let mut d = ctx.shared().store.write();
    let room = d
        .room_by_id(&rid)
        .ok_or_else(|| MeteorError::invalid_room("channels.delete"))?;
    if !d.user(caller).is_admin() && d.room(room).creator != Some(caller) {
        return Err(RestError::Forbidden);
    }
    d.delete_room(room);
    Ok(json!({}))
}

/// `GET channels.info`.
pub(super) fn info(ctx: &Ctx, q: &Params) -> Reply {
    let rid = query_room_id(ctx, q)?;
    let d = ctx.shared().store.read();
    let room = d.room_by_id(&rid).ok_or_else(|| {
        MeteorError::new(
            "error-room-not-found",
            "The required \"roomId\" or \"roomName\" param provided does not match any channel",
        )
    })?;
    Ok(json!({ "channel": shapes::room(&d, d.room(room), Dates::Iso) }))
}

/// `GET channels.members`, paged.
pub(super) fn members(ctx: &Ctx, q: &Params) -> Reply {
    let rid = query_room_id(ctx, q)?;
    let (offset, count) = paging(q);
    let d = ctx.shared().store.read();
    let room = d
        .room_by_id(&rid)
        .ok_or_else(|| MeteorError::invalid_room("channels.members"))?;
    let r = d.room(room);
    // Rocket.Chat sorts by username; so do we (and pages stay stable).
    let mut all: Vec<_> = r.members.keys().map(|&u| d.user(u)).collect();
    all.sort_unstable_by(|a, b| a.username.cmp(&b.username));
    let members: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(count)
        .map(|u| {
            json!({"_id": u.id, "username": u.username, "name": u.name,
                "status": u.status.as_str()})
        })
        .collect();
    Ok(
        json!({ "count": members.len(), "members": members, "offset": offset,
        "total": all.len() }),
    )
}

/// `GET rooms.get`.
pub(super) fn rooms_get(ctx: &Ctx, q: &Params) -> Reply {
    changed_since(ctx, q, shapes::user_rooms)
}

/// `GET subscriptions.get`.
pub(super) fn subscriptions_get(ctx: &Ctx, q: &Params) -> Reply {
    changed_since(ctx, q, shapes::user_subscriptions)
}

/// `{update, remove}` of the caller's rooms or subscriptions, all of them
/// or those changed after `updatedSince`.
fn changed_since(
    ctx: &Ctx,
    q: &Params,
    shape: fn(&Data, UserIx, Option<u64>, Dates) -> Vec<Value>,
) -> Reply {
    let user = ctx.user()?;
    let since = match q.get("updatedSince") {
        Some(s) => Some(ids::parse_iso(s).ok_or_else(|| {
            RestError::Meteor(MeteorError::new(
                "error-roomId-param-invalid",
                "The \"updatedSince\" query parameter must be a valid date.",
            ))
        })?),
        None => None,
    };
    let d = ctx.shared().store.read();
    let update = shape(&d, user, since, Dates::Iso);
    Ok(json!({ "update": update, "remove": [] }))
}

/// `POST subscriptions.read`.
pub(super) fn read(ctx: &Ctx, body: &Fields) -> Reply {
    let rid = body
        .get("rid")
        .or_else(|| body.get("roomId"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            RestError::Meteor(MeteorError::invalid_params(
                "must have required property 'rid'",
            ))
        })?;
    methods::read_messages(ctx.shared(), &ctx.caller(), rid, "subscriptions.read")?;
    Ok(json!({}))
}

/// A room id from the `roomId` or `roomName` query parameter.
pub(super) fn query_room_id(ctx: &Ctx, q: &Params) -> Result<String, RestError> {
    let id = q.get("roomId").map(|s| json!(s));
    let name = q.get("roomName").map(|s| json!(s));
    room_id(ctx, id.as_ref(), name.as_ref())
}

/// A room id from `roomId` or `roomName`.
fn room_id(ctx: &Ctx, id: Option<&Value>, name: Option<&Value>) -> Result<String, RestError> {
    if let Some(id) = id.and_then(Value::as_str) {
        return Ok(id.to_string());
    }
    if let Some(name) = name.and_then(Value::as_str) {
        let d = ctx.shared().store.read();
        return d
            .room_by_name(name)
            .map(|r| d.room(r).id.clone())
            .ok_or_else(|| RestError::Meteor(MeteorError::new("error-room-not-found", "The required \"roomId\" or \"roomName\" param provided does not match any channel")));
    }
    Err(RestError::Meteor(MeteorError::new(
        "error-roomid-param-not-provided",
        "The parameter \"roomId\" or \"roomName\" is required",
    )))
}
