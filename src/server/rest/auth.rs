//! `login` and `logout`.

use serde_json::{Value, json};

use super::{Ctx, Fields, Params, Reply, RestError};
use crate::server::ids;
use crate::server::methods;
use crate::server::shapes::{self, Dates};

/// `POST login`: by `resume` token, or user/password in any body form.
pub(super) fn login(ctx: &Ctx, body: &Fields) -> Reply {
    let now = ids::now_ms();
    let shared = ctx.shared();
    let (user, token) = if let Some(Value::String(token)) = body.get("resume") {
        let d = shared.store.read();
        let (user, _) = d.resume(token, now).ok_or(RestError::LoginFailed)?;
        (user, token.clone())
    } else {
        let (sel, hash) = methods::password_login_args(body).ok_or(RestError::LoginFailed)?;
        let mut d = shared.store.write();
        let user = d
            .check_password(&sel, &hash)
            .ok_or(RestError::LoginFailed)?;
        (user, d.issue_token(user, now).token)
    };
    let d = shared.store.read();
    let u = d.user(user);
    Ok(json!({
        "status": "success",
        "data": { "userId": u.id, "authToken": token, "me": shapes::own_user(u, Dates::Iso) },
    }))
}

/// `POST logout`: revokes the caller's token.
pub(super) fn logout(ctx: &Ctx, _: &Fields) -> Reply {
    if let Some(token) = ctx.token() {
        ctx.shared().store.write().revoke_token(token);
    }
    Ok(json!({ "status": "success", "data": { "message": "You've been logged out!" } }))
}

/// `GET logout`: the same as POST.
pub(super) fn logout_get(ctx: &Ctx, _: &Params) -> Reply {
    logout(ctx, &Fields::new())
}
