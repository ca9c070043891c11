//! `me` and `users.*`.

use serde_json::{Value, json};

use super::{Ctx, Fields, Params, Reply, RestError, required};
use crate::server::errors::MeteorError;
use crate::server::ids;
use crate::server::methods;
use crate::server::shapes::{self, Dates};
use crate::server::store::{NewUser, Status};

/// `GET me`.
pub(super) fn me(ctx: &Ctx, _: &Params) -> Reply {
    let user = ctx.user()?;
    let d = ctx.shared().store.read();
    Ok(shapes::own_user(d.user(user), Dates::Iso))
}

/// `POST users.register`: self-registration, role `user`.
pub(super) fn register(ctx: &Ctx, body: &Fields) -> Reply {
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
