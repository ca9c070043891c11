//! `GET` and `POST settings/:_id`: an admin reads and changes a setting
//! (Rocket.Chat's `view-privileged-setting` and `edit-privileged-setting`).
//! The settings the simulator keeps are the limiters' switches; any other
//! id is RC's answer for an unknown one (400).
//!
//! Changing a setting asks for a second factor, as RC's `twoFactorRequired`
//! routes do: an admin without TOTP or e-mail codes sends its password's
//! SHA-256 as `X-2fa-code` with `X-2fa-method: password` (RC's default
//! password fallback); without it the answer is `totp-required`.

use serde_json::{Value, json};

use super::{Ctx, Fields, Params, Reply, RestError};
use crate::server::errors::MeteorError;
use crate::server::store::UserIx;

/// `GET settings/:_id` → `{_id, value}`.
pub(super) fn get(ctx: &Ctx, _: &Params) -> Reply {
    admin(ctx)?;
    let id = ctx.param;
    let value = ctx
        .shared()
        .limiter_switches
        .get(id)
        .ok_or_else(|| unknown(id))?;
    Ok(json!({ "_id": id, "value": value }))
}

/// `POST settings/:_id {value}`, with the second factor.
pub(super) fn set(ctx: &Ctx, body: &Fields) -> Reply {
    let user = admin(ctx)?;
    second_factor(ctx, user)?;
    let id = ctx.param;
    let switches = &ctx.shared().limiter_switches;
    if switches.get(id).is_none() {
        return Err(unknown(id));
    }
    let Some(value) = body.get("value").and_then(Value::as_bool) else {
        return Err(RestError::Failure(format!(
            "{id} is a boolean setting: give {{\"value\": true|false}}"
        )));
    };
    switches.set(id, value);
    Ok(json!({}))
}

fn admin(ctx: &Ctx) -> Result<UserIx, RestError> {
    let user = ctx.user()?;
    if !ctx.shared().store.read().user(user).is_admin() {
        return Err(RestError::Forbidden);
    }
    Ok(user)
}

fn unknown(id: &str) -> RestError {
    RestError::Failure(format!("setting `{id}` not found"))
}

/// RC's password fallback: the code is the SHA-256 hex of the password.
fn second_factor(ctx: &Ctx, user: UserIx) -> Result<(), RestError> {
    let header = |name| ctx.headers.get(name).and_then(|v| v.to_str().ok());
    let details = json!({ "method": "password", "availableMethods": [] });
    let Some(code) = header("x-2fa-code").filter(|_| header("x-2fa-method").is_some()) else {
        return Err(MeteorError::new("totp-required", "TOTP Required")
            .with_details(details)
            .into());
    };
    if !ctx.shared().store.read().user(user).password_is(code) {
        return Err(MeteorError::new("totp-invalid", "TOTP Invalid")
            .with_details(details)
            .into());
    }
    Ok(())
}
