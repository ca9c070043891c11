//! REST shapes of the reference server (as Rocket.Chat answers), in-process.

use reqwest::{Client, StatusCode};
use rocketload::server::{self, Server, ServerConfig};
use serde_json::{Value, json};

fn start(api_version: u8) -> (Server, String) {
    let mut cfg = ServerConfig::embedded();
    cfg.api_version = api_version;
    cfg.seed.users = 3;
    cfg.seed.password = "pw".into();
    let server = server::start(cfg).expect("server starts");
    let url = server.urls()[0].clone();
    (server, url)
}

async fn post(
    c: &Client,
    url: &str,
    path: &str,
    body: Value,
    auth: Option<&(String, String)>,
) -> (StatusCode, Value) {
    let mut req = c.post(format!("{url}/api/v1/{path}")).json(&body);
    if let Some((uid, token)) = auth {
        req = req.header("X-User-Id", uid).header("X-Auth-Token", token);
    }
    let resp = req.send().await.expect("request");
    (resp.status(), resp.json().await.expect("json body"))
}

async fn get(
    c: &Client,
    url: &str,
    path: &str,
    auth: Option<&(String, String)>,
) -> (StatusCode, Value) {
    let mut req = c.get(format!("{url}/api/v1/{path}"));
    if let Some((uid, token)) = auth {
        req = req.header("X-User-Id", uid).header("X-Auth-Token", token);
    }
    let resp = req.send().await.expect("request");
    (resp.status(), resp.json().await.expect("json body"))
}

async fn login(c: &Client, url: &str, user: &str, pw: &str) -> (String, String) {
    let (status, body) = post(
        c,
        url,
        "login",
        json!({ "user": user, "password": pw }),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    (
        data["userId"].as_str().unwrap().into(),
        data["authToken"].as_str().unwrap().into(),
    )
}

#[tokio::test]
async fn login_accepts_every_body_form() {
    let (_s, url) = start(7);
    let c = Client::new();
    let forms = [
        json!({ "user": "load-1", "password": "pw" }),
        json!({ "user": "load-1@rocketload.local", "password": "pw" }),
        json!({ "username": "load-1", "password": "pw" }),
        json!({ "user": { "username": "load-1" }, "password": "pw" }),
        json!({ "user": { "email": "load-1@rocketload.local" }, "password": "pw" }),
        json!({ "user": "load-1", "password": { "digest": rocketload::server::ids::password_digest("pw"), "algorithm": "sha-256" } }),
    ];
    let mut uid = None;
    for form in forms {
        let (status, body) = post(&c, &url, "login", form.clone(), None).await;
        assert_eq!(status, 200, "{form}: {body}");
        assert_eq!(body["status"], "success");
        assert_eq!(body["data"]["me"]["username"], "load-1");
        assert_eq!(body["data"]["authToken"].as_str().unwrap().len(), 43);
        let id = body["data"]["userId"].clone();
        assert_eq!(*uid.get_or_insert(id.clone()), id);
    }
    let (_, token) = login(&c, &url, "load-1", "pw").await;
    let (status, body) = post(&c, &url, "login", json!({ "resume": token }), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["authToken"], token.as_str());
}

#[tokio::test]
async fn bad_credentials_are_401_in_both_versions() {
    let c = Client::new();
    let (_s7, url7) = start(7);
    let (status, body) = post(
        &c,
        &url7,
        "login",
        json!({ "user": "load-1", "password": "nope" }),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"success":false,"error":"Unauthorized","status":"error","message":"Unauthorized"})
    );
    let (status, body) = post(
        &c,
        &url7,
        "login",
        json!({ "user": "ghost", "password": "pw" }),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "Unauthorized");
    let (_s8, url8) = start(8);
    let (status, body) = post(&c, &url8, "login", json!({ "resume": "x" }), None).await;
    assert_eq!(status, 401);
    assert_eq!(body, json!({"success":false,"error":"unauthorized"}));
}

#[tokio::test]
async fn missing_auth_is_401_with_version_shape() {
    let c = Client::new();
    let (_s7, url7) = start(7);
    let (status, body) = get(&c, &url7, "me", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"success":false,"error":"You must be logged in to do this.","status":"error",
               "message":"You must be logged in to do this."})
    );
    let bad = ("x".to_string(), "y".to_string());
    let (status, _) = post(
        &c,
        &url7,
        "chat.postMessage",
        json!({"channel":"#general","text":"x"}),
        Some(&bad),
    )
    .await;
    assert_eq!(status, 401);
    let (_s8, url8) = start(8);
    let (status, body) = get(&c, &url8, "me", None).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"success":false,"error":"You must be logged in to do this."})
    );
}

#[tokio::test]
async fn content_type_is_exact_and_instance_id_present() {
    let (_s, url) = start(7);
    let c = Client::new();
    for path in ["/api/info", "/api/v1/me", "/api/v1/nope", "/elsewhere"] {
        let resp = c.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
        assert!(resp.headers().contains_key("x-instance-id"), "{path}");
    }
    let resp = c.get(format!("{url}/api/info")).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["version"], "7.10");
    let resp = c.get(format!("{url}/api/v1/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"success":false,"error":"Resource not found"})
    );
}

#[tokio::test]
async fn malformed_json_is_400_failure() {
    let (_s, url) = start(7);
    let c = Client::new();
    let resp = c
        .post(format!("{url}/api/v1/login"))
        .header("content-type", "application/json")
        .body("{\"user\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(
        body["error"].as_str().unwrap().starts_with("Invalid JSON"),
        "{body}"
    );
}

#[tokio::test]
async fn post_send_and_history_paging() {
    let (_s, url) = start(7);
    let c = Client::new();
    let auth = login(&c, &url, "load-1", "pw").await;
    let (status, body) = post(
        &c,
        &url,
        "chat.postMessage",
        json!({"channel":"#general","text":"m0"}),
        Some(&auth),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channel"], "general");
    assert!(body["ts"].is_u64());
    assert_eq!(body["message"]["rid"], "GENERAL");
    assert_eq!(body["message"]["u"]["username"], "load-1");
    assert!(
        body["message"]["ts"].is_string(),
        "REST dates are ISO strings"
    );
    for i in 1..5 {
        let (status, body) = post(
            &c,
            &url,
            "chat.sendMessage",
            json!({"message": {"_id": format!("id-{i}"), "rid": "GENERAL", "msg": format!("m{i}")}}),
            Some(&auth),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["message"]["_id"], format!("id-{i}"));
    }
    let (status, body) = post(
        &c,
        &url,
        "chat.postMessage",
        json!({"text":"x"}),
        Some(&auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "[invalid-channel]");
    let texts = |b: &Value| -> Vec<String> {
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["msg"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page1) = get(
        &c,
        &url,
        "channels.history?roomId=GENERAL&count=2",
        Some(&auth),
    )
    .await;
    assert_eq!(texts(&page1), ["m4", "m3"]);
    let (_, page2) = get(
        &c,
        &url,
        "channels.history?roomId=GENERAL&count=2&offset=2",
        Some(&auth),
    )
    .await;
    assert_eq!(texts(&page2), ["m2", "m1"]);
    let oldest_shown = page1["messages"][1]["ts"].as_str().unwrap().to_string();
    let (_, before) = get(
        &c,
        &url,
        &format!("channels.history?roomName=general&count=10&latest={oldest_shown}"),
        Some(&auth),
    )
    .await;
    // `latest` is exclusive: only messages strictly older than m3 (several
    // messages may share a millisecond, so which ones is not fixed).
    let older = texts(&before);
    assert!(
        !older.contains(&"m3".to_string()) && !older.contains(&"m4".to_string()),
        "{older:?}"
    );
    for m in before["messages"].as_array().unwrap() {
        assert!(m["ts"].as_str().unwrap() < oldest_shown.as_str());
    }
    let (_, msgs) = get(
        &c,
        &url,
        "channels.messages?roomId=GENERAL&count=3",
        Some(&auth),
    )
    .await;
    assert_eq!(msgs["total"], 5);
    assert_eq!(msgs["count"], 3);
    // Another member sees unread state; reading clears it.
    let other = login(&c, &url, "load-2", "pw").await;
    let (_, subs) = get(&c, &url, "subscriptions.get", Some(&other)).await;
    let general = subs["update"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rid"] == "GENERAL")
        .unwrap()
        .clone();
    assert_eq!(general["unread"], 5);
    assert_eq!(general["alert"], true);
    let (status, _) = post(
        &c,
        &url,
        "subscriptions.read",
        json!({"rid":"GENERAL"}),
        Some(&other),
    )
    .await;
    assert_eq!(status, 200);
    let (_, subs) = get(&c, &url, "subscriptions.get", Some(&other)).await;
    assert_eq!(subs["update"][0]["unread"], 0);
}

#[tokio::test]
async fn channels_create_join_and_rooms() {
    let (_s, url) = start(7);
    let c = Client::new();
    let a = login(&c, &url, "load-1", "pw").await;
    let b = login(&c, &url, "load-2", "pw").await;
    let (status, body) = post(
        &c,
        &url,
        "channels.create",
        json!({"name":"team-a","members":["load-3"]}),
        Some(&a),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ch = &body["channel"];
    assert_eq!(ch["t"], "c");
    assert_eq!(ch["name"], "team-a");
    assert_eq!(ch["usersCount"], 2);
    assert_eq!(ch["u"]["username"], "load-1");
    let rid = ch["_id"].as_str().unwrap().to_string();
    let (status, body) = post(
        &c,
        &url,
        "channels.create",
        json!({"name":"team-a"}),
        Some(&a),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-duplicate-channel-name");
    let (status, _) = post(
        &c,
        &url,
        "chat.postMessage",
        json!({"roomId": rid, "text":"hi"}),
        Some(&b),
    )
    .await;
    assert_eq!(status, 400, "not a member yet");
    let (status, body) = post(&c, &url, "channels.join", json!({"roomId": rid}), Some(&b)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channel"]["usersCount"], 3);
    let (status, _) = post(
        &c,
        &url,
        "chat.postMessage",
        json!({"roomId": rid, "text":"hi"}),
        Some(&b),
    )
    .await;
    assert_eq!(status, 200);
    // Members, by username, paged.
    let (status, body) = get(
        &c,
        &url,
        &format!("channels.members?roomId={rid}"),
        Some(&b),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["load-1", "load-2", "load-3"]);
    assert_eq!(
        (body["total"].clone(), body["count"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(body["members"][0]["_id"], a.0.as_str());
    assert!(body["members"][0]["status"].is_string());
    let page = format!("channels.members?roomId={rid}&offset=1&count=1");
    let (_, body) = get(&c, &url, &page, Some(&b)).await;
    assert_eq!(body["members"][0]["username"], "load-2");
    assert_eq!(
        (body["offset"].clone(), body["total"].clone()),
        (json!(1), json!(3))
    );
    let (status, _) = get(&c, &url, "channels.members?roomId=nope", Some(&b)).await;
    assert_eq!(status, 400);
    let (_, rooms) = get(&c, &url, "rooms.get", Some(&b)).await;
    let names: Vec<&str> = rooms["update"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"team-a") && names.contains(&"general"),
        "{names:?}"
    );
}

#[tokio::test]
async fn users_register_create_and_status() {
    let (_s, url) = start(7);
    let c = Client::new();
    let body = json!({"username":"newbie","email":"n@x.io","pass":"secret","name":"New Bie"});
    let (status, resp) = post(&c, &url, "users.register", body.clone(), None).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["user"]["username"], "newbie");
    assert_eq!(resp["user"]["type"], "user");
    assert_eq!(resp["user"]["active"], true);
    let (status, resp) = post(&c, &url, "users.register", body, None).await;
    assert_eq!(status, 400);
    assert_eq!(resp["success"], false);
    let me = login(&c, &url, "newbie", "secret").await;
    let (status, resp) = post(
        &c,
        &url,
        "users.create",
        json!({"username":"x","email":"x@x","password":"p","name":"X"}),
        Some(&me),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        resp,
        json!({"success":false,"error":"User does not have the permissions required for this action [error-unauthorized]"})
    );
    let admin = login(&c, &url, "admin", "admin").await;
    let (status, _) = post(
        &c,
        &url,
        "users.create",
        json!({"username":"x","email":"x@x","password":"p","name":"X"}),
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &c,
        &url,
        "users.setStatus",
        json!({"status":"away","message":"lunch"}),
        Some(&me),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = get(&c, &url, "me", Some(&me)).await;
    assert_eq!(body["status"], "away");
    assert_eq!(body["success"], true);
    let (status, body) = post(&c, &url, "logout", json!({}), Some(&me)).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["message"], "You've been logged out!");
    let (status, _) = get(&c, &url, "me", Some(&me)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn method_call_wraps_results_and_errors() {
    let (_s, url) = start(7);
    let c = Client::new();
    let auth = login(&c, &url, "load-1", "pw").await;
    let call = |m: &str, params: Value| json!({"message": json!({"msg":"method","id":"7","method":m,"params":params}).to_string()});
    let (status, body) = post(
        &c,
        &url,
        "method.call/nope",
        call("nope", json!([])),
        Some(&auth),
    )
    .await;
    assert_eq!(status, 200);
    let inner: Value = serde_json::from_str(body["message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["msg"], "result");
    assert_eq!(inner["id"], "7");
    assert_eq!(inner["error"]["error"], 404);
    assert_eq!(inner["error"]["message"], "Method 'nope' not found [404]");
    let (_, body) = post(
        &c,
        &url,
        "method.call/loadHistory",
        call("loadHistory", json!(["GENERAL", null, 50, {"$date": 0}])),
        Some(&auth),
    )
    .await;
    let inner: Value = serde_json::from_str(body["message"].as_str().unwrap()).unwrap();
    assert!(inner["result"]["messages"].is_array(), "{inner}");
    let (_, body) = post(
        &c,
        &url,
        "method.callAnon/public-settings/get",
        call("public-settings/get", json!([])),
        None,
    )
    .await;
    let inner: Value = serde_json::from_str(body["message"].as_str().unwrap()).unwrap();
    assert!(inner["result"].is_array());
    let (_, body) = post(
        &c,
        &url,
        "method.callAnon/sendMessage",
        call("sendMessage", json!([{"rid":"GENERAL","msg":"x"}])),
        None,
    )
    .await;
    let inner: Value = serde_json::from_str(body["message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["error"]["error"], "error-invalid-user");
    let (status, _) = post(
        &c,
        &url,
        "method.call/rooms/get",
        call("rooms/get", json!([])),
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn injected_faults_use_rest_shapes() {
    let (s, url) = start(7);
    let c = Client::new();
    s.apply_fault(&json!({"kind":"errors","status":503,"ratio":1.0}))
        .unwrap();
    let resp = c.get(format!("{url}/api/info")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"success":false,"error":"Service Unavailable"})
    );
    s.apply_fault(&json!({"kind":"clear"})).unwrap();
    let resp = c.get(format!("{url}/api/info")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn sim_routes_are_served_on_every_instance() {
    let mut cfg = ServerConfig::embedded();
    cfg.instances = 2;
    cfg.seed.users = 5;
    cfg.seed.rooms = 2;
    cfg.seed.members_per_room = 3;
    let s = server::start(cfg).unwrap();
    let c = Client::new();
    let stats: Value = c
        .get(format!("{}/_sim/stats", s.urls()[1]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["users"], 6, "{stats}");
    assert_eq!(stats["rooms"], 3);
    assert_eq!(stats["sessions_by_instance"], json!([0, 0]));
    let resp = c
        .post(format!("{}/_sim/fault", s.urls()[0]))
        .json(&json!({"kind":"latency","ms":1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.stats()["faults"], stats_faults(&c, &s.urls()[1]).await);
}

async fn stats_faults(c: &Client, url: &str) -> Value {
    let v: Value = c
        .get(format!("{url}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["faults"].clone()
}

#[tokio::test]
async fn metrics_listener_counts_rest_calls_and_messages() {
    let mut cfg = ServerConfig::embedded();
    cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    cfg.seed.users = 1;
    cfg.seed.password = "pw".into();
    let s = server::start(cfg).unwrap();
    let url = s.urls()[0].clone();
    let c = Client::new();
    let auth = login(&c, &url, "load-1", "pw").await;
    let (status, _) = post(
        &c,
        &url,
        "chat.postMessage",
        json!({"channel":"#general","text":"x"}),
        Some(&auth),
    )
    .await;
    assert_eq!(status, 200);
    let text = c
        .get(s.metrics_url().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("rocketchat_message_sent 1"), "{text}");
    assert!(
        text.contains("entrypoint=\"/api/v1/chat.postMessage\""),
        "{text}"
    );
    assert!(text.contains("rocketchat_users_total 2"), "{text}");
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers() {
    let mut cfg = ServerConfig::embedded();
    cfg.rate_limits = true;
    cfg.seed.users = 1;
    cfg.seed.password = "pw".into();
    let s = server::start(cfg).unwrap();
    let url = s.urls()[0].clone();
    let c = Client::new();
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let resp = c
            .post(format!("{url}/api/v1/login"))
            .json(&json!({"user":"load-1","password":"pw"}))
            .send()
            .await
            .unwrap();
        assert!(resp.headers().contains_key("x-ratelimit-limit"));
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            let body: Value = resp.json().await.unwrap();
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .ends_with("[error-too-many-requests]"),
                "{body}"
            );
        }
    }
    assert_eq!(statuses[..10], [200; 10]);
    assert_eq!(statuses[10], 429);
}

/// As Rocket.Chat: the limiter counts a user's calls per route and IP, but
/// not the calls of a role with `api-bypass-rate-limit` (admin, bot), and
/// never before a login is checked.
#[tokio::test]
async fn admins_bypass_the_rest_limiter_and_users_do_not() {
    let mut cfg = ServerConfig::embedded();
    cfg.rate_limits = true;
    cfg.seed.users = 1;
    cfg.seed.password = "pw".into();
    let s = server::start(cfg).unwrap();
    let url = s.urls()[0].clone();
    let c = Client::new();
    let admin = login(&c, &url, "admin", "admin").await;
    let user = login(&c, &url, "load-1", "pw").await;
    let me = |who: &(String, String)| {
        c.get(format!("{url}/api/v1/me"))
            .header("X-User-Id", &who.0)
            .header("X-Auth-Token", &who.1)
            .send()
    };
    for _ in 0..12 {
        let r = me(&admin).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(!r.headers().contains_key("x-ratelimit-limit"));
    }
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let r = me(&user).await.unwrap();
        assert!(r.headers().contains_key("x-ratelimit-remaining"));
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..10], [200; 10]);
    assert_eq!(statuses[10], 429);
    // Not logged in: a 401, not a count against the route.
    let r = c.get(format!("{url}/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(!r.headers().contains_key("x-ratelimit-limit"));
}

/// As Rocket.Chat: an admin reads and switches the limiters through
/// `settings/:_id`, a change needs the password as second factor, and it
/// holds for every instance at once.
#[tokio::test]
async fn admin_switches_limiters_through_the_settings_api() {
    let mut cfg = ServerConfig::embedded();
    cfg.rate_limits = true;
    cfg.instances = 2;
    cfg.seed.users = 1;
    cfg.seed.password = "pw".into();
    let s = server::start(cfg).unwrap();
    let (url0, url1) = (s.urls()[0].clone(), s.urls()[1].clone());
    let c = Client::new();
    let admin = login(&c, &url0, "admin", "admin").await;
    let user = login(&c, &url0, "load-1", "pw").await;
    let setting = "settings/API_Enable_Rate_Limiter";

    let (status, _) = get(&c, &url0, setting, Some(&user)).await;
    assert_eq!(status, 403);
    let (status, body) = get(&c, &url0, setting, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"_id": "API_Enable_Rate_Limiter", "value": true, "success": true})
    );
    let (status, _) = get(&c, &url0, "settings/Not_A_Setting", Some(&admin)).await;
    assert_eq!(status, 400);

    let set = |code: Option<&str>, value: Value| {
        let mut req = c
            .post(format!("{url0}/api/v1/{setting}"))
            .header("X-User-Id", &admin.0)
            .header("X-Auth-Token", &admin.1)
            .json(&json!({ "value": value }));
        if let Some(code) = code {
            req = req
                .header("x-2fa-code", code)
                .header("x-2fa-method", "password");
        }
        req.send()
    };
    let r = set(None, json!(false)).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errorType"], "totp-required", "{body}");
    assert_eq!(body["details"]["method"], "password", "{body}");
    let wrong = rocketload::rocketchat::password_digest("not the password");
    let body: Value = set(Some(&wrong), json!(false))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errorType"], "totp-invalid", "{body}");
    let code = rocketload::rocketchat::password_digest("admin");
    let r = set(Some(&code), json!("off")).await.unwrap();
    assert_eq!(r.status(), 400, "a switch takes a boolean");
    let r = set(Some(&code), json!(false)).await.unwrap();
    assert_eq!(r.status(), 200);

    // Off on the other instance too: no headers, no 429.
    let (_, body) = get(&c, &url1, setting, Some(&admin)).await;
    assert_eq!(body["value"], false, "{body}");
    for _ in 0..12 {
        let r = c
            .get(format!("{url1}/api/v1/me"))
            .header("X-User-Id", &user.0)
            .header("X-Auth-Token", &user.1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(!r.headers().contains_key("x-ratelimit-limit"));
    }
}

#[tokio::test]
async fn admin_invites_looks_up_and_deletes_users_and_rooms() {
    let (_s, url) = start(7);
    let c = Client::new();
    let admin = login(&c, &url, "admin", "admin").await;
    let user = login(&c, &url, "load-1", "pw").await;
    let (status, body) = get(&c, &url, "users.info?username=load-2", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let uid2 = body["user"]["_id"].as_str().unwrap().to_string();
    assert!(body["user"]["emails"][0]["address"].is_string(), "{body}");
    let (_, body) = get(&c, &url, "users.info?username=load-2", Some(&user)).await;
    assert!(body["user"].get("emails").is_none(), "{body}");
    let (status, body) = get(&c, &url, "users.info?username=nobody", Some(&admin)).await;
    assert_eq!(
        (status.as_u16(), &body["error"]),
        (400, &json!("User not found."))
    );

    let (_, body) = post(
        &c,
        &url,
        "channels.create",
        json!({"name": "cleanup-me"}),
        Some(&admin),
    )
    .await;
    let rid = body["channel"]["_id"].as_str().unwrap().to_string();
    let invite = json!({"roomId": rid, "userIds": [uid2, user.0]});
    let (status, body) = post(&c, &url, "channels.invite", invite.clone(), Some(&user)).await;
    assert_eq!(status, 403, "only an admin or the owner invites: {body}");
    let (status, body) = post(&c, &url, "channels.invite", invite, Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channel"]["usersCount"], 3, "{body}");

    let (status, _) = post(
        &c,
        &url,
        "users.delete",
        json!({"username": "load-2"}),
        Some(&user),
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = post(
        &c,
        &url,
        "users.delete",
        json!({"username": "load-2"}),
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&c, &url, "users.info?username=load-2", Some(&admin)).await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &c,
        &url,
        "channels.delete",
        json!({"roomName": "cleanup-me"}),
        Some(&admin),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = get(&c, &url, "channels.info?roomName=cleanup-me", Some(&admin)).await;
    assert_eq!(status, 400);
    // A deleted user can no longer log in, and its name is free again.
    let (status, _) = post(
        &c,
        &url,
        "login",
        json!({"user": "load-2", "password": "pw"}),
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn registration_setting_is_public_and_enforced() {
    let mut cfg = ServerConfig::embedded();
    cfg.registration_open = false;
    let s = server::start(cfg).unwrap();
    let url = s.urls()[0].clone();
    let c = Client::new();
    let (status, body) = get(
        &c,
        &url,
        "settings.public?_id=Accounts_RegistrationForm",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["settings"],
        json!([{"_id": "Accounts_RegistrationForm", "value": "Disabled", "enterprise": false}])
    );
    let reg = json!({"username": "x1", "email": "x1@e.org", "pass": "p", "name": "x1"});
    let (status, body) = post(&c, &url, "users.register", reg, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errorType"], "error-user-registration-disabled",
        "{body}"
    );
}
