//! `me` and `users.*`.

use serde_json::{Value, json};

use super::{Ctx, Fields, Params, Reply, RestError, required};
use crate::server::errors::MeteorError;
use crate::server::ids;
use crate::server::methods;
use crate::server::shapes::{self, Dates};
use crate::server::store::{Data, NewUser, Status, UserIx};

/// `GET me`.
pub(super) fn me(ctx: &Ctx, _: &Params) -> Reply {
    let user = ctx.user()?;
    let d = ctx.shared().store.read();
    Ok(shapes::own_user(d.user(user), Dates::Iso))
}

/// `POST users.register`: self-registration, role `user`.
pub(super) fn register(ctx: &Ctx, body: &Fields) -> Reply {
    if !ctx.shared().registration_open {
        return Err(RestError::Meteor(MeteorError::new(
            "error-user-registration-disabled",
            "User registration is disabled",
        )));
    }
    if body.get("name").and_then(Value::as_str).is_none() {
        return Err(RestError::Meteor(MeteorError::invalid_params(
            "must have required property 'name'",
        )));
    }
    new_user(ctx, body, "pass", &["user"])
}

/// `POST users.create`: admins only, with `roles` (default `user`).
pub(super) fn create(ctx: &Ctx, body: &Fields) -> Reply {
    let user = ctx.user()?;
    if !ctx.shared().store.read().user(user).is_admin() {
        return Err(RestError::Forbidden);
    }
    let roles: Vec<&str> = body
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["user"]);
    new_user(ctx, body, "password", &roles)
}

/// `GET users.info?username=|userId=`; e-mail addresses only for the
/// user itself or an admin, as Rocket.Chat's `view-full-other-user-info`.
pub(super) fn info(ctx: &Ctx, q: &Params) -> Reply {
    let caller = ctx.user()?;
    let d = ctx.shared().store.read();
    let user = target_user(&d, q.get("userId"), q.get("username"))?;
    let u = d.user(user);
    let mut doc = shapes::new_user(u);
    if caller == user || d.user(caller).is_admin() {
        doc["emails"] = json!([{ "address": u.email, "verified": true }]);
    }
    Ok(json!({ "user": doc }))
}

/// `POST users.delete {userId | username}`: admins only (`delete-user`).
pub(super) fn delete(ctx: &Ctx, body: &Fields) -> Reply {
    let caller = ctx.user()?;
    let mut d = ctx.shared().store.write();
    if !d.user(caller).is_admin() {
        return Err(RestError::Forbidden);
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let user = target_user(&d, text("userId").as_ref(), text("username").as_ref())?;
    d.delete_user(user);
    Ok(json!({}))
}

/// The user named by `userId` or else `username`.
fn target_user(
    d: &Data,
    id: Option<&String>,
    username: Option<&String>,
) -> Result<UserIx, RestError> {
    let found = match (id, username) {
        (Some(id), _) => d.user_by_id(id),
        (None, Some(name)) => d.user_by_username(name),
        (None, None) => {
            return Err(RestError::Meteor(MeteorError::invalid_params(
                "must have required property 'userId' or 'username'",
            )));
        }
    };
    found.ok_or_else(|| RestError::Failure("User not found.".into()))
}

/// `POST users.setStatus`.
pub(super) fn set_status(ctx: &Ctx, body: &Fields) -> Reply {
    let status = required(body, "status")?;
    let status = Status::parse(status).ok_or_else(|| {
        RestError::Meteor(MeteorError::invalid_params(
            "must be equal to one of the allowed values",
        ))
    })?;
    let text = body.get("message").and_then(Value::as_str);
    methods::set_status(ctx.shared(), &ctx.caller(), status, text, "users.setStatus")?;
    Ok(json!({}))
}

fn new_user(ctx: &Ctx, body: &Fields, pass_key: &str, roles: &[&str]) -> Reply {
    let username = required(body, "username")?;
    let email = required(body, "email")?;
    let pass = required(body, pass_key)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or(username);
    let mut d = ctx.shared().store.write();
    let user = d.create_user(
        &NewUser {
            username,
            name,
            email,
            password: ids::password_hash(&ids::password_digest(pass)),
            roles,
        },
        ids::now_ms(),
    )?;
    Ok(json!({ "user": shapes::new_user(d.user(user)) }))
}
