//! The step interpreter: one function per step kind, grouped by what
//! they touch. Every timed operation records one sample under the step's
//! `name:` or its wire name (`rest.<endpoint>`, `ddp.method.<name>`,
//! `ddp.sub.<stream>`, `ddp.connect`, `login`). What each step sends:
//!
//! | step | wire |
//! |---|---|
//! | login | REST `POST login` / DDP `login` with the SHA-256 digest |
//! | connect | websocket + DDP `connect`, then `login {resume}` with the REST token |
//! | subscribe | `stream-room-messages [rid]`; typing: `stream-notify-room [rid/user-activity]`, `[rid/typing]`; notify-user: `stream-notify-user [uid/rooms-changed|subscriptions-changed|notification]`; presence: `stream-user-presence ["", {added: uids}]`; my-messages: `stream-room-messages [__my_messages__]` |
//! | send_message | DDP `sendMessage [{_id, rid, msg}]` / REST `chat.postMessage {roomId, text}` / `chat.sendMessage {message}`; text + padding + token |
//! | load_history | DDP `loadHistory [rid, null, count, {$date: now}]` / REST `channels.history` |
//! | read | DDP `readMessages [rid]` / REST `subscriptions.read {rid}` |
//! | typing | DDP method `stream-notify-room [rid/user-activity, username, ["user-typing"] or [], {}]` (or legacy `rid/typing`, bool) |
//! | set_status | DDP `UserPresence:online|away` or `setUserStatus [status, text]` / REST `users.setStatus` |
//! | join_room | DDP `joinRoom [rid]` / REST `channels.join {roomId}` |
//! | open_room | subs room-messages + notify-room user-activity/deleteMessage/deleteMessageBulk, `loadHistory` 50 (REST `method.call` or DDP), REST `subscriptions.read` |
//! | web_client_boot | `method.callAnon/public-settings/get`, subs `meteor.loginServiceConfiguration`, `meteor_autoupdate_clientVersions`, `stream-notify-all`, REST login + DDP resume, 13 `stream-notify-logged`, 10 `stream-notify-user` subs, `method.call` license:isEnterprise, listCustomSounds, listCustomUserStatus, rooms/get, permissions/get, subscriptions/get |
//! | http | any REST request; captures by JSON pointer into VU variables |

mod boot;
mod flow;
mod http;
mod messages;
mod rooms;
mod session;
mod subscribe;

use super::clock::IterationClock;
use super::vu::{Flow, Vu};
use crate::scenario::Step;

impl Vu {
    pub(crate) async fn run_step(&mut self, step: &Step, clock: &mut IterationClock) -> Flow {
        // What a step records under is decided in one place,
        // `scenario::recorded`, which validation reads too.
        let metric = || step.metric_name().unwrap_or_default();
        match step {
            Step::Login(s) => self.login(s, &metric(), clock).await,
            Step::Connect(_) => self.connect_step(&metric(), clock).await,
            Step::Subscribe(s) => self.subscribe(s, &metric(), clock).await,
            Step::Unsubscribe(s) => self.unsubscribe(s, &metric(), clock).await,
            Step::SendMessage(s) => self.send_message(s, &metric(), clock).await,
            Step::LoadHistory(s) => self.load_history(s, &metric(), clock).await,
            Step::Read(s) => self.read(s, &metric(), clock).await,
            Step::Typing(s) => return self.typing(s, &metric(), clock).await,
            Step::SetStatus(s) => self.set_status(s, &metric(), clock).await,
            Step::JoinRoom(s) => self.join_room(s, &metric(), clock).await,
            Step::OpenRoom(s) => self.open_room(s, &metric(), clock).await,
            Step::WebClientBoot(_) => self.web_client_boot(&metric(), clock).await,
            // Named by its rendered path (`recorded::http_metric_name`).
            Step::Http(s) => self.http(s, clock).await,
            Step::Think(t) => return self.think(t).await,
            Step::Repeat(s) => return self.repeat(s, clock).await,
            Step::Group(s) => return self.group(s, clock).await,
            Step::WaitForMessage(s) => return self.wait_for_message(s, &metric(), clock).await,
        }
        Flow::Continue
    }
}
