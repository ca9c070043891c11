//! First contact with a Rocket.Chat whose rate limiters are on, rehearsed
//! against `serve --rate-limits` (Rocket.Chat's defaults: 10 REST calls a
//! minute per route and client IP, the admin role let through): the
//! preflight refuses what cannot work and says how to fix it, the admin
//! path provisions through retries, the load's 429s are counted apart, and
//! cleanup deletes only what rocketload made.

mod common;

use common::{Serve, Workdir, json, rocketload_env, text};

/// The repository's starting point for a real server, made small.
fn real_server_env<'a>(url: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("RC_URL", url),
        ("RC_PASSWORD", "load-pass"),
        ("USERS", "20"),
        ("ROOMS", "2"),
        ("MEMBERS_PER_ROOM", "10"),
        ("RAMP", "1s"),
        ("HOLD", "3s"),
        ("MESSAGE_EVERY", "1s"),
        ("READ_EVERY", "1s"),
    ];
    env.extend_from_slice(extra);
    env
}

fn scenario() -> String {
    format!("{}/scenarios/real-server.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Users who register and log in over REST, as many scenarios do: fine on
/// the embedded server, hopeless against the defaults.
const BY_USERS: &str = "name: by-users\nusers: { count: 30, password: pw, provision: register }\n\
rooms: { count: 2, members_per_room: 10 }\n\
load: { model: closed, vus: 30, duration: 5s }\n\
behaviours:\n  - name: poster\n    setup: [ { login: { via: rest } } ]\n    steps:\n\
\x20     - think: { constant: 1s }\n      - send_message: { room: random }\n";

#[test]
fn without_the_admin_the_preflight_refuses_with_the_fix() {
    let serve = Serve::start(&["--rate-limits"]);
    let w = Workdir::new("rl-refused");
    let file = w.scenario(BY_USERS);
    let out = w.out();
    let args = [
        "run",
        file.to_str().unwrap(),
        "--target",
        &serve.url,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    let r = rocketload_env(&args, &[]);
    assert_eq!(r.status.code(), Some(2));
    let e = stderr(&r);
    for fragment in [
        "stopped before any load",
        "30 `users.register` calls from this host: about 30 minutes",
        "`login` calls",
        "`chat.postMessage` up to",
        "provision as the admin: `users.provision: create`",
        "OVERWRITE_SETTING_API_Enable_Rate_Limiter=false",
        "--accept-rate-limits",
    ] {
        assert!(e.contains(fragment), "missing `{fragment}` in:\n{e}");
    }
    assert!(!out.join("summary.json").exists());
    // Nothing was provisioned: the server has its admin only.
    assert_eq!(serve.stats()["users"], 1);

    // `check` says the same, exit 2, with nothing created either.
    let r = rocketload_env(
        &["check", file.to_str().unwrap(), "--target", &serve.url],
        &[],
    );
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let printed = String::from_utf8_lossy(&r.stdout);
    assert!(
        printed.contains("block rest limiter: provisioning would wait"),
        "{printed}"
    );
    assert_eq!(serve.stats()["users"], 1);
}

#[test]
fn the_admin_provisions_through_429s_and_cleanup_removes_only_ours() {
    let serve = Serve::start(&["--rate-limits"]);
    let w = Workdir::new("rl-admin");
    let out = w.out();
    // A proxy's budget on top of Rocket.Chat's limiter: enough for the
    // preflight's few calls, not for provisioning's burst. It throttles
    // the websocket too, so this run has no thresholds to fail.
    serve.fault(r#"{"kind":"rate_limit","per_second":6}"#);
    let env = real_server_env(&serve.url, &[("RC_ADMIN_PASSWORD", "admin")]);
    let s = scenario();
    let plain = w.scenario(
        "name: real-server\ntarget: { urls: [\"${RC_URL}\"] }\n\
         users: { count: 20, prefix: rocketload-, password: load-pass, provision: create }\n\
         rooms: { count: 2, prefix: rocketload-room-, members_per_room: 10 }\n\
         load: { model: closed, vus: 20, duration: 2s }\n\
         behaviours:\n  - name: a\n    setup: [ connect, { login: { via: ddp } } ]\n\
         \x20   steps: [ { think: { constant: 1s } } ]\n",
    );
    let r = rocketload_env(
        &[
            "run",
            plain.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let summary = json(&out.join("summary.json"));
    let p = &summary["target"]["provisioning"];
    assert_eq!(p["by"], "admin", "{p}");
    assert_eq!(
        (p["users_created"].as_u64(), p["rooms_created"].as_u64()),
        (Some(20), Some(2)),
        "{p}"
    );
    assert!(p["rate_limited_retries"].as_u64().unwrap() > 0, "{p}");
    assert!(
        stderr(&r).contains("rate limited (429)"),
        "retries are said"
    );
    serve.fault(r#"{"kind":"clear"}"#);

    // A second run of the repository's scenario reuses everything, and
    // meets its thresholds.
    let out2 = w.path("again");
    let r = rocketload_env(
        &["run", &s, "--quiet", "--out", out2.to_str().unwrap()],
        &env,
    );
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let p = &json(&out2.join("summary.json"))["target"]["provisioning"];
    assert_eq!(
        (p["users_reused"].as_u64(), p["rooms_reused"].as_u64()),
        (Some(20), Some(2)),
        "{p}"
    );

    assert!(
        json(&out2.join("summary.json"))["metrics"]["message.e2e"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The password never lands in the results.
    for file in ["summary.json", "run.json", "intervals.jsonl"] {
        let t = text(&out2.join(file));
        assert!(
            !t.contains("load-pass") && !t.contains("\"admin\"\n"),
            "{file} leaks a secret"
        );
    }

    // Cleanup: a dry run lists, then --yes deletes all 22.
    let r = rocketload_env(&["cleanup", &s, "--dry-run"], &env);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let listed = String::from_utf8_lossy(&r.stdout);
    assert!(
        listed.contains("20 users (rocketload-1 .. rocketload-20)"),
        "{listed}"
    );
    assert!(listed.contains("2 rooms"), "{listed}");
    assert_eq!(serve.stats()["users"], 21);
    let r = rocketload_env(&["cleanup", &s], &env);
    assert_eq!(r.status.code(), Some(2), "no terminal, no --yes: refused");
    assert_eq!(serve.stats()["users"], 21);
    let r = rocketload_env(&["cleanup", &s, "--yes"], &env);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    assert_eq!(
        (
            serve.stats()["users"].as_u64(),
            serve.stats()["rooms"].as_u64()
        ),
        (Some(1), Some(1)),
        "the admin and the default room `general` are left"
    );
    // Nothing left: a clear message, exit 2.
    let r = rocketload_env(&["cleanup", &s, "--yes"], &env);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("nothing to delete"), "{}", stderr(&r));
}

#[test]
fn the_loads_429s_are_counted_apart_when_accepted() {
    let serve = Serve::start(&["--rate-limits"]);
    let w = Workdir::new("rl-accept");
    let file = w.scenario(
        "name: posts\nusers: { count: 4, password: pw, provision: create }\n\
         rooms: { count: 1, members_per_room: 4 }\n\
         load: { model: closed, vus: 4, duration: 4s }\n\
         behaviours:\n  - name: poster\n    setup: [ { login: { via: ddp } } ]\n    steps:\n\
         \x20     - think: { constant: 100ms }\n      - send_message: { room: random }\n",
    );
    let out = w.out();
    let args = |extra: &'static str| {
        let mut a = vec![
            "run".to_string(),
            file.display().to_string(),
            "--target".into(),
            serve.url.clone(),
            "--quiet".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        if !extra.is_empty() {
            a.push(extra.into());
        }
        a
    };
    let admin = [("RC_ADMIN_PASSWORD", "admin")];
    let refused = args("");
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let r = rocketload_env(&refused, &admin);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("`chat.postMessage` up to"),
        "{}",
        stderr(&r)
    );
    let accepted = args("--accept-rate-limits");
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    let r = rocketload_env(&accepted, &admin);
    // The errors threshold is absent: the run passes, its 429s counted.
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let summary = json(&out.join("summary.json"));
    let post = &summary["metrics"]["rest.chat.postMessage"];
    let limited = post["errors_by_class"]["http_429"].as_u64().unwrap_or(0);
    assert!(limited > 0, "{post}");
    // 4 VUs from one address: 10 posts a minute get through.
    let through = post["count"].as_u64().unwrap() - post["errors"].as_u64().unwrap();
    assert!(through <= 10, "{post}");
    let blocks: Vec<&serde_json::Value> = summary["target"]["preflight"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "block")
        .collect();
    assert_eq!(blocks.len(), 1, "the accepted finding is kept: {blocks:?}");
}

#[test]
fn bad_admins_closed_registration_and_foreign_accounts_are_refused() {
    let serve = Serve::start(&[
        "--rate-limits",
        "--no-registration",
        "--seed-users",
        "1",
        "--password",
        "pw",
    ]);
    let w = Workdir::new("rl-bad");
    let s = scenario();
    let out = w.out();
    let o = out.to_str().unwrap();
    // Wrong admin password: exit 2 before load, the variables named.
    let env = real_server_env(&serve.url, &[("RC_ADMIN_PASSWORD", "wrong")]);
    let r = rocketload_env(&["run", &s, "--quiet", "--out", o], &env);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("refuses the admin `admin` (401)"),
        "{}",
        stderr(&r)
    );
    // No admin at all for `provision: create`.
    let env = real_server_env(&serve.url, &[]);
    let r = rocketload_env(&["run", &s, "--quiet", "--out", o], &env);
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("needs the target's admin: set RC_ADMIN_PASSWORD"),
        "{}",
        stderr(&r)
    );
    // Closed registration for `provision: register`.
    let file = w.scenario(
        &BY_USERS
            .replace("count: 30", "count: 2")
            .replace("vus: 30", "vus: 2")
            .replace("members_per_room: 10", "members_per_room: 2"),
    );
    let r = rocketload_env(
        &["check", file.to_str().unwrap(), "--target", &serve.url],
        &[],
    );
    assert_eq!(r.status.code(), Some(2));
    let printed = String::from_utf8_lossy(&r.stdout);
    assert!(
        printed.contains("Accounts_RegistrationForm is `Disabled`"),
        "{printed}"
    );
    // The admin's password file must exist.
    let env = real_server_env(&serve.url, &[]);
    let missing = w.path("nope");
    let r = rocketload_env(
        &[
            "check",
            &s,
            "--admin-password-file",
            missing.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("--admin-password-file"),
        "{}",
        stderr(&r)
    );
    // A user that is not an admin: warned, then users.create is forbidden.
    let pw = w.file("admin-pw", "pw\n");
    let env = real_server_env(&serve.url, &[("RC_ADMIN_USER", "load-1")]);
    let pw = pw.to_str().unwrap();
    let r = rocketload_env(&["check", &s, "--admin-password-file", pw], &env);
    let printed = String::from_utf8_lossy(&r.stdout);
    assert!(
        printed.contains("`load-1` has the roles [user], not `admin`"),
        "{printed}"
    );
    let r = rocketload_env(
        &[
            "run",
            &s,
            "--quiet",
            "--out",
            o,
            "--admin-password-file",
            pw,
            "--accept-rate-limits",
        ],
        &env,
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("users.create of `rocketload-"),
        "{}",
        stderr(&r)
    );
    assert!(stderr(&r).contains("HTTP 403"), "{}", stderr(&r));
    assert!(!out.join("summary.json").exists());

    // An account named like a load user but not made by rocketload.
    let admin = [("RC_ADMIN_PASSWORD", "admin")];
    let env = real_server_env(&serve.url, &admin);
    let r = rocketload_env(&["run", &s, "--quiet", "--out", o], &env);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let login: serde_json::Value = c
            .post(format!("{}/api/v1/login", serve.url))
            .json(&serde_json::json!({"user": "admin", "password": "admin"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (uid, token) = (
            login["data"]["userId"].as_str().unwrap().to_string(),
            login["data"]["authToken"].as_str().unwrap().to_string(),
        );
        let made = c
            .post(format!("{}/api/v1/users.create", serve.url))
            .header("X-User-Id", uid)
            .header("X-Auth-Token", token)
            .json(
                &serde_json::json!({"username": "rocketload-21", "email": "alice@corp.example",
                "password": "x", "name": "Alice"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(made.status(), 200);
    });
    let env = real_server_env(
        &serve.url,
        &[("RC_ADMIN_PASSWORD", "admin"), ("USERS", "21")],
    );
    let r = rocketload_env(&["cleanup", &s, "--yes"], &env);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    let printed = String::from_utf8_lossy(&r.stdout);
    assert!(
        printed.contains(
            "rocketload-21: its e-mail `alice@corp.example` is not at rocketload.example.com"
        ),
        "{printed}"
    );
    assert!(stderr(&r).contains("nothing deleted"), "{}", stderr(&r));
    assert_eq!(serve.stats()["users"], 23, "nothing deleted by mistake");
}

/// `--configure-target` switches the limiters off for the run, as the
/// admin, and puts back what it changed: after a run, and after one that
/// fails before any load.
#[test]
fn configure_target_switches_the_limiters_off_for_the_run_only() {
    let serve = Serve::start(&["--rate-limits"]);
    let w = Workdir::new("rl-configure");
    let file = w.scenario(BY_USERS);
    let file = file.to_str().unwrap();
    let out = w.out();
    let admin = [("RC_ADMIN_PASSWORD", "admin")];
    let run = |file: &str| {
        rocketload_env(
            &[
                "run",
                file,
                "--target",
                &serve.url,
                "--quiet",
                "--out",
                out.to_str().unwrap(),
                "--configure-target",
            ],
            &admin,
        )
    };
    let limiters_on = || {
        let r = rocketload_env(&["check", file, "--target", &serve.url], &admin);
        let printed = String::from_utf8_lossy(&r.stdout).into_owned();
        printed.contains("ok    rest limiter: on: 10 calls")
            && printed.contains("ddp limiter: 5 of its 5 switches on")
    };
    assert!(limiters_on(), "the server starts with its limiters on");

    let r = run(file);
    let e = stderr(&r);
    assert_eq!(r.status.code(), Some(0), "{e}");
    assert!(e.contains("switched off on"), "{e}");
    assert!(e.contains("put back on"), "{e}");
    let summary = json(&out.join("summary.json"));
    let configured = summary["target"]["configured"].as_array().unwrap();
    assert_eq!(configured.len(), 6, "{configured:?}");
    assert!(
        configured
            .iter()
            .all(|c| c["was"] == true && c["set"] == false)
    );
    let post = &summary["metrics"]["rest.chat.postMessage"];
    assert!(post["count"].as_u64().unwrap() > 30, "{post}");
    // BY_USERS seats 20 of its 30 users, so the others' posts are refused
    // (`error-not-allowed`); none is rate limited.
    assert!(
        post["errors_by_class"].get("http_429").is_none(),
        "no 429 with the limiter off: {post}"
    );
    assert!(limiters_on(), "put back after the run");

    // Preparation fails (these users do not exist): exit 2, put back too.
    let missing = w.file(
        "missing.yaml",
        &BY_USERS.replace("provision: register", "provision: none, prefix: nobody-"),
    );
    let r = run(missing.to_str().unwrap());
    let e = stderr(&r);
    assert_eq!(r.status.code(), Some(2), "{e}");
    assert!(e.contains("put back on"), "{e}");
    assert!(limiters_on(), "put back after a failed preparation");

    // A sharded run is refused before it touches the target.
    let r = rocketload_env(
        &[
            "run",
            file,
            "--target",
            &serve.url,
            "--shard",
            "1/2",
            "--configure-target",
        ],
        &admin,
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(
        stderr(&r).contains("does not combine with --shard"),
        "{}",
        stderr(&r)
    );
}
