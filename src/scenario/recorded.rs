//! What each step kind records: the metric names the engine records its
//! operations under, and the list validation, capacity's SLOs and the
//! preflight read. One home, so that every name a run can record is a name
//! a threshold or an SLO may use (docs/scenarios.md lists them for users).

use super::model::{SendVia, Status, Step, Via};

/// Rocket.Chat's publications the steps subscribe to.
pub const ROOM_MESSAGES: &str = "stream-room-messages";
pub const NOTIFY_ROOM: &str = "stream-notify-room";
pub const NOTIFY_USER: &str = "stream-notify-user";
pub const USER_PRESENCE: &str = "stream-user-presence";
pub const NOTIFY_LOGGED: &str = "stream-notify-logged";
pub const NOTIFY_ALL: &str = "stream-notify-all";

/// REST or DDP password login.
pub const LOGIN: &str = "login";
/// Websocket opened and DDP `connect` answered.
pub const DDP_CONNECT: &str = "ddp.connect";
/// DDP `login {resume}` with a REST login's token.
pub const DDP_RESUME: &str = "ddp.method.login";
/// REST `subscriptions.read`, as `open_room` marks the room read.
pub const SUBSCRIPTIONS_READ: &str = "rest.subscriptions.read";

/// `web_client_boot`, in the order the engine plays it: the anonymous
/// method, the public subscriptions (then `stream-notify-all`), login and
/// resume, the `stream-notify-logged` and `stream-notify-user` events,
/// then these methods over REST `method.call`.
pub const BOOT_ANON_METHOD: &str = "public-settings/get";
pub const BOOT_PUBLIC_SUBS: [&str; 2] = [
    "meteor.loginServiceConfiguration",
    "meteor_autoupdate_clientVersions",
];
pub const BOOT_METHODS: [&str; 6] = [
    "license:isEnterprise",
    "listCustomSounds",
    "listCustomUserStatus",
    "rooms/get",
    "permissions/get",
    "subscriptions/get",
];

/// `ddp.sub.<publication>`.
pub fn ddp_sub(publication: &str) -> String {
    format!("ddp.sub.{publication}")
}

/// `ddp.method.<method>`.
pub fn ddp_method(method: &str) -> String {
    format!("ddp.method.{method}")
}

/// `rest.method.call/<method>` (`method.callAnon` when anonymous): a DDP
/// method over REST, as the web client calls most.
pub fn rest_method(method: &str, anon: bool) -> String {
    let route = if anon {
        "method.callAnon"
    } else {
        "method.call"
    };
    format!("rest.{route}/{method}")
}

/// `rest.<endpoint>` of a path: `/api/v1/rooms.get?x=1` -> `rest.rooms.get`,
/// `/api/info` -> `rest.info`, other paths -> `rest.<path without the leading />`.
pub fn http_metric_name(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let endpoint = path
        .strip_prefix("/api/v1/")
        .or_else(|| path.strip_prefix("/api/"))
        .unwrap_or(path.trim_start_matches('/'));
    format!("rest.{endpoint}")
}

impl Step {
    /// The metric this step records under: its `name:` if given, else the
    /// default of docs/scenarios.md. `None` for steps that record nothing
    /// themselves (think, repeat, a group's name is its own).
    pub fn metric_name(&self) -> Option<String> {
        if let Some(n) = self.custom_name() {
            return Some(n.to_string());
        }
        let rest_or_ddp = |via: Via, rest: &str, ddp: &str| match via {
            Via::Rest => format!("rest.{rest}"),
            Via::Ddp => ddp_method(ddp),
        };
        Some(match self {
            Step::Login(_) => LOGIN.into(),
            Step::Connect(_) => DDP_CONNECT.into(),
            Step::Subscribe(s) => ddp_sub(s.stream.publication()),
            Step::Unsubscribe(_) => "ddp.unsub".into(),
            Step::SendMessage(s) => match s.via {
                SendVia::Ddp => ddp_method("sendMessage"),
                SendVia::PostMessage => "rest.chat.postMessage".into(),
                SendVia::SendMessage => "rest.chat.sendMessage".into(),
            },
            Step::LoadHistory(s) => rest_or_ddp(s.via, "channels.history", "loadHistory"),
            Step::Read(s) => rest_or_ddp(s.via, "subscriptions.read", "readMessages"),
            Step::JoinRoom(s) => rest_or_ddp(s.via, "channels.join", "joinRoom"),
            // Over DDP the web client's presence methods, as the engine calls them.
            Step::SetStatus(s) => match (s.via, s.status, &s.message) {
                (Via::Ddp, Status::Online, None) => ddp_method("UserPresence:online"),
                (Via::Ddp, Status::Away, None) => ddp_method("UserPresence:away"),
                (via, _, _) => rest_or_ddp(via, "users.setStatus", "setUserStatus"),
            },
            Step::Typing(_) => ddp_method(NOTIFY_ROOM),
            Step::OpenRoom(_) => "open_room".into(),
            Step::WebClientBoot(_) => "web_client_boot".into(),
            Step::Http(h) => http_metric_name(&h.path),
            Step::WaitForMessage(_) => "wait_for_message".into(),
            Step::Think(_) | Step::Repeat(_) | Step::Group(_) => return None,
        })
    }

    /// Every metric this step itself may record (nested steps not
    /// included): its own, the parts of a composite step, and
    /// `ddp.connect` where it opens the websocket on demand.
    pub fn recorded_metrics(&self) -> Vec<String> {
        let mut out: Vec<String> = self.metric_name().into_iter().collect();
        match self {
            Step::WebClientBoot(_) => {
                out.push(rest_method(BOOT_ANON_METHOD, true));
                out.extend(BOOT_PUBLIC_SUBS.iter().map(|s| ddp_sub(s)));
                out.push(ddp_sub(NOTIFY_ALL));
                out.push(LOGIN.into());
                out.push(DDP_RESUME.into());
                out.push(ddp_sub(NOTIFY_LOGGED));
                out.push(ddp_sub(NOTIFY_USER));
                out.extend(BOOT_METHODS.iter().map(|m| rest_method(m, false)));
            }
            Step::OpenRoom(r) => {
                out.push(ddp_sub(ROOM_MESSAGES));
                out.push(ddp_sub(NOTIFY_ROOM));
                out.push(match r.via {
                    Via::Rest => rest_method("loadHistory", false),
                    Via::Ddp => ddp_method("loadHistory"),
                });
                out.push(SUBSCRIPTIONS_READ.into());
            }
            _ => {}
        }
        if self.opens_websocket() {
            out.push(DDP_CONNECT.into());
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether the step connects the websocket when the VU has none.
    fn opens_websocket(&self) -> bool {
        match self {
            Step::Login(s) => s.via == Via::Ddp,
            Step::SendMessage(s) => s.via == SendVia::Ddp,
            Step::LoadHistory(s) => s.via == Via::Ddp,
            Step::Read(s) | Step::JoinRoom(s) => s.via == Via::Ddp,
            Step::SetStatus(s) => s.via == Via::Ddp,
            Step::Subscribe(_) | Step::Typing(_) | Step::OpenRoom(_) | Step::WebClientBoot(_) => {
                true
            }
            // `connect` records under its own name; `unsubscribe` never connects.
            Step::Connect(_)
            | Step::Unsubscribe(_)
            | Step::Http(_)
            | Step::Think(_)
            | Step::Repeat(_)
            | Step::Group(_)
            | Step::WaitForMessage(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::http_metric_name;

    #[test]
    fn endpoint_names() {
        assert_eq!(http_metric_name("/api/v1/rooms.get?x=1"), "rest.rooms.get");
        assert_eq!(http_metric_name("/api/info"), "rest.info");
        assert_eq!(http_metric_name("me"), "rest.me");
    }
}
