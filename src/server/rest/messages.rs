//! `chat.*` and a channel's messages (`channels.history`, `channels.messages`).

use serde_json::{Value, json};

use super::rooms::query_room_id;
use super::{Ctx, Fields, Params, Reply, RestError, paging, query_usize};
use crate::server::errors::MeteorError;
use crate::server::ids;
use crate::server::methods;
use crate::server::shapes::{self, Dates};
use crate::server::store::HistoryQuery;

/// `POST chat.postMessage`: to `roomId`, or `channel` by `#name`, id or name.
pub(super) fn post_message(ctx: &Ctx, body: &Fields) -> Reply {
    let user = ctx.user()?;
    let invalid_channel = || {
        RestError::Meteor(MeteorError {
            error: json!("invalid-channel"),
            reason: None,
            details: None,
        })
    };
    let rid = if let Some(rid) = body.get("roomId").and_then(Value::as_str) {
        rid.to_string()
    } else {
        let channel = body
            .get("channel")
            .and_then(Value::as_str)
            .ok_or_else(invalid_channel)?;
        let d = ctx.shared().store.read();
        let room = match channel.strip_prefix('#') {
            Some(name) => d.room_by_name(name),
            None if channel.starts_with('@') => None,
            None => d.room_by_id(channel).or_else(|| d.room_by_name(channel)),
        };
        room.map(|r| d.room(r).id.clone())
            .ok_or_else(invalid_channel)?
    };
    let text = body
        .get("text")
        .or_else(|| body.get("msg"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let (name, message) = methods::post(ctx.shared(), user, &rid, None, text, None, Dates::Iso)?;
    let ts = ids::parse_iso(message["ts"].as_str().unwrap_or_default()).unwrap_or_else(ids::now_ms);
    Ok(json!({ "ts": ts, "channel": name, "message": message }))
}

/// `POST chat.sendMessage`: a message document (`rid`, `msg` or `text`,
/// optional `_id` and `tmid`).
pub(super) fn send_message(ctx: &Ctx, body: &Fields) -> Reply {
    let Some(Value::Object(msg)) = body.get("message") else {
        return Err(RestError::Meteor(MeteorError::invalid_params(
            "The 'message' parameter must be provided",
        )));
    };
    let mut msg = msg.clone();
    if !msg.contains_key("msg")
        && let Some(t) = msg.get("text").cloned()
    {
        msg.insert("msg".into(), t);
    }
    let user = ctx.user()?;
    let rid = msg.get("rid").and_then(Value::as_str).ok_or_else(|| {
        RestError::Meteor(MeteorError::invalid_params(
            "must have required property 'rid'",
        ))
    })?;
    let text = msg.get("msg").and_then(Value::as_str).unwrap_or("");
    let id = msg.get("_id").and_then(Value::as_str);
    let tmid = msg.get("tmid").and_then(Value::as_str);
    let (_, m) = methods::post(ctx.shared(), user, rid, id, text, tmid, Dates::Iso)?;
    Ok(json!({ "message": m }))
}

/// `GET channels.history`: newest first, between `oldest` and `latest`.
pub(super) fn history(ctx: &Ctx, q: &Params) -> Reply {
    let rid = query_room_id(ctx, q)?;
    let query = HistoryQuery {
        latest_ms: q.get("latest").and_then(|s| ids::parse_iso(s)),
        oldest_ms: q.get("oldest").and_then(|s| ids::parse_iso(s)),
        inclusive: q.get("inclusive").is_some_and(|v| v == "true"),
        offset: query_usize(q, "offset", 0),
        count: query_usize(q, "count", 20).min(1000),
    };
    let d = ctx.shared().store.read();
    let room = d
        .room_by_id(&rid)
        .ok_or_else(|| MeteorError::invalid_room("channels.history"))?;
    let r = d.room(room);
    let messages: Vec<Value> = r
        .history(&query)
        .into_iter()
        .map(|m| shapes::message(&d, r, m, Dates::Iso))
        .collect();
    Ok(json!({ "messages": messages }))
}

/// `GET channels.messages`, paged; newest first unless `sort` asks `{"ts": 1}`.
pub(super) fn messages(ctx: &Ctx, q: &Params) -> Reply {
    let rid = query_room_id(ctx, q)?;
    let (offset, count) = paging(q);
    let d = ctx.shared().store.read();
    let room = d
        .room_by_id(&rid)
        .ok_or_else(|| MeteorError::invalid_room("channels.messages"))?;
    let r = d.room(room);
    let ascending = q
        .get("sort")
        .is_some_and(|s| s.replace(' ', "").contains("\"ts\":1"));
    let total = r.messages.len();
    let pick: Vec<Value> = if ascending {
        r.messages
            .iter()
            .skip(offset)
            .take(count)
            .map(|m| shapes::message(&d, r, m, Dates::Iso))
            .collect()
    } else {
        r.messages
            .iter()
            .rev()
            .skip(offset)
            .take(count)
            .map(|m| shapes::message(&d, r, m, Dates::Iso))
            .collect()
    };
    Ok(json!({ "messages": pick, "count": 0, "offset": offset, "total": total })).map(|mut v| {
        v["count"] = json!(v["messages"].as_array().map_or(0, Vec::len));
        v
    })
}
