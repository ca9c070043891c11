//! `web_client_boot`: what the Rocket.Chat web client does when a user
//! opens it (RC's own load tester's sequence, over what the reference
//! server supports). Every operation has its own metric; the whole is
//! timed as `web_client_boot`.

use serde_json::Value;

use super::subscribe::SubSpec;
use crate::engine::clock::IterationClock;
use crate::engine::vu::Vu;
use crate::metrics::ErrorClass;
use crate::scenario::recorded::{
    self, BOOT_ANON_METHOD, BOOT_METHODS, BOOT_PUBLIC_SUBS, DDP_RESUME, LOGIN, NOTIFY_ALL,
    NOTIFY_LOGGED, NOTIFY_USER,
};

/// `stream-notify-logged` events the web client listens to.
const LOGGED_EVENTS: [&str; 13] = [
    "user-status",
    "Users:NameChanged",
    "Users:Deleted",
    "updateAvatar",
    "roles-change",
    "permissions-changed",
    "updateEmojiCustom",
    "deleteEmojiCustom",
    "updateCustomSound",
    "deleteCustomSound",
    "updateCustomUserStatus",
    "deleteCustomUserStatus",
    "banner-changed",
];

/// `stream-notify-user` `<uid>/<event>` events of the web client.
const USER_EVENTS: [&str; 10] = [
    "message",
    "otr",
    "webrtc",
    "notification",
    "rooms-changed",
    "subscriptions-changed",
    "uiInteraction",
    "e2ekeyRequest",
    "userData",
    "video-conference",
];

impl Vu {
    pub(crate) async fn web_client_boot(&mut self, metric: &str, clock: &mut IterationClock) {
        let t = clock.start_enclosing();
        let errors = self.errors;
        self.boot_sequence(metric, clock).await;
        let outcome = self.outcome_since(errors);
        self.record(metric, t, outcome);
    }

    async fn boot_sequence(&mut self, metric: &str, clock: &mut IterationClock) {
        // Websocket + DDP connect (the page's first frames).
        if let Err(_class) = self.ddp(clock).await {
            return;
        }
        self.rest_method(BOOT_ANON_METHOD, vec![], true, clock)
            .await;
        for name in BOOT_PUBLIC_SUBS {
            let spec = SubSpec {
                stream: None,
                name,
                params: vec![],
                tracked_room: None,
                room_id: None,
            };
            self.sub(spec, &recorded::ddp_sub(name), clock).await;
        }
        let spec = SubSpec::stream(None, NOTIFY_ALL, "public-settings-changed");
        self.sub(spec, &recorded::ddp_sub(NOTIFY_ALL), clock).await;
        if self.stop.is_stopped() {
            return;
        }

        // REST login, then resume the session on the websocket.
        if self.session.is_none() {
            let (user, pass) = (self.user.username.clone(), self.user.password.clone());
            let t = clock.start();
            let r = match self.rest() {
                Ok(rest) => rest.login(&user, &pass).await,
                Err(c) => return self.fail_now(LOGIN, c),
            };
            let Some(session) = self.done(LOGIN, t, r) else {
                return;
            };
            self.set_session(session.clone());
            let ddp = match self.ddp(clock).await {
                Ok(d) => d,
                Err(_) => return,
            };
            let t = clock.start();
            let r = ddp.login_resume(&session.token).await;
            if let Some(s) = self.done(DDP_RESUME, t, r) {
                self.set_session(s);
            }
        }
        let Some(uid) = self.session.as_ref().map(|s| s.user_id.clone()) else {
            self.fail_now(metric, ErrorClass::Other);
            return;
        };

        for ev in LOGGED_EVENTS {
            if self.stop.is_stopped() {
                return;
            }
            let spec = SubSpec::stream(None, NOTIFY_LOGGED, ev);
            self.sub(spec, &recorded::ddp_sub(NOTIFY_LOGGED), clock)
                .await;
        }
        for ev in USER_EVENTS {
            if self.stop.is_stopped() {
                return;
            }
            let spec = SubSpec::stream(None, NOTIFY_USER, &format!("{uid}/{ev}"));
            self.sub(spec, &recorded::ddp_sub(NOTIFY_USER), clock).await;
        }
        for method in BOOT_METHODS {
            if self.stop.is_stopped() {
                return;
            }
            let params: Vec<Value> = Vec::new();
            self.rest_method(method, params, false, clock).await;
        }
    }
}
