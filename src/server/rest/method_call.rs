//! `method.call/:method` and `method.callAnon/:method`: a DDP method message
//! inside `{"message": "<EJSON>"}`; the DDP result (or error) comes back as a
//! string inside `message`, with HTTP 200.

use std::time::Instant;

use serde_json::{Value, json};

use super::{Ctx, Fields, Reply, RestError, required};
use crate::server::errors::MeteorError;
use crate::server::ids;
use crate::server::methods::{self, Caller, Effect};

/// `POST method.call/:method`, as the logged-in caller.
pub(super) fn call(ctx: &Ctx, body: &Fields) -> Reply {
    method_call(ctx, ctx.param, body, false)
}

/// `POST method.callAnon/:method`, as nobody.
pub(super) fn call_anon(ctx: &Ctx, body: &Fields) -> Reply {
    method_call(ctx, ctx.param, body, true)
}

fn method_call(ctx: &Ctx, name: &str, body: &Fields, anon: bool) -> Reply {
    let text = required(body, "message")?;
    let msg: Value = serde_json::from_str(text)
        .map_err(|e| RestError::Failure(format!("Invalid message: {e}")))?;
    let id = msg.get("id").cloned().unwrap_or(Value::Null);
    let params: Vec<Value> = match msg.get("params") {
        Some(Value::Array(a)) => a.clone(),
        None => Vec::new(),
        Some(_) => {
            return Err(RestError::Meteor(MeteorError::invalid_params(
                "params must be an array",
            )));
        }
    };
    let shared = ctx.shared();
    let caller = Caller {
        user: if anon { None } else { ctx.user },
        conn: None,
    };
    let limited = if ctx.inst.limiters.ddp_on() {
        let d = shared.store.read();
        let uid = caller
            .user
            .map(|u| d.user(u).id.clone())
            .unwrap_or_default();
        drop(d);
        // RC keys the "connection" of a REST method call by its auth token.
        let conn = ctx.headers.get("x-auth-token").map_or(0, |t| {
            u64::from_le_bytes(
                ids::token_hash(t.to_str().unwrap_or_default())[..8]
                    .try_into()
                    .unwrap_or_default(),
            )
        });
        ctx.inst
            .limiters
            .check_ddp(name, &uid, conn, &ctx.peer.ip())
            .err()
    } else {
        None
    };
    let reply = match limited {
        Some(ms) => {
            json!({ "msg": "result", "id": id, "error": MeteorError::too_many_requests(ms).to_json() })
        }
        None => {
            let start = Instant::now();
            shared.cost.burn(name);
            let outcome = methods::call(shared, &caller, name, &params);
            if let Some(m) = &shared.metrics {
                m.observe_method(name, false, caller.user.is_some(), start.elapsed());
            }
            match outcome {
                Ok(out) => {
                    if let (Effect::Logout, Some(t)) = (&out.effect, ctx.token()) {
                        shared.store.write().revoke_token(t);
                    }
                    let mut r = json!({ "msg": "result", "id": id });
                    if let Some(v) = out.result {
                        r["result"] = v;
                    }
                    r
                }
                Err(e) => json!({ "msg": "result", "id": id, "error": e.to_json() }),
            }
        }
    };
    Ok(json!({ "message": reply.to_string() }))
}
