//! The engine against the reference server on a loopback port: real
//! provisioning, real REST and DDP, end-to-end message tracking.

use std::collections::BTreeMap;
use std::time::Duration;

use rocketload::engine::Overrides;
use rocketload::results::{NoteKind, Summary};
use rocketload::runner::{Measure, Measurement, Planned, Prepared, RunRequest};
use rocketload::scenario::load_str_with_warnings;
use rocketload::server::{self, ServerConfig};
use tokio::sync::watch;

/// What the engine reported, read back from the results as any consumer
/// of a run would.
#[derive(Debug)]
struct Report {
    iterations: u64,
    /// Iterations cut short by the end of the run or a ramp-down.
    interrupted: u64,
    dropped: u64,
    reconnects: u64,
    /// The stop signal ended the run before its plan did.
    stopped: bool,
}

struct Outcome {
    report: Report,
    totals: BTreeMap<String, (u64, BTreeMap<String, u64>)>,
    counters: BTreeMap<String, u64>,
    /// (latency max, service max) in µs per metric.
    latency_max: BTreeMap<String, (u64, u64)>,
    /// Samples of at least half a second: (by latency, by service time).
    slow: BTreeMap<String, (u64, u64)>,
}

impl Outcome {
    fn ok(&self, name: &str) -> u64 {
        self.totals.get(name).map_or(0, |(ok, _)| *ok)
    }
    fn errors(&self, name: &str) -> u64 {
        self.totals.get(name).map_or(0, |(_, e)| e.values().sum())
    }

    fn of(m: &Measurement) -> Outcome {
        let s: &Summary = &m.summary;
        let totals = s.totals();
        let counter = |name: &str| s.counters.get(name).copied().unwrap_or(0);
        let mut out = Outcome {
            report: Report {
                iterations: s.metrics.get("iterations").map_or(0, |m| m.count),
                interrupted: s
                    .notes
                    .iter()
                    .find_map(|n| match n.kind {
                        NoteKind::CutShortIterations { count } => Some(count),
                        _ => None,
                    })
                    .unwrap_or(0),
                dropped: counter("iterations.dropped"),
                reconnects: counter("ddp.reconnects"),
                stopped: s.notes.iter().any(|n| n.kind == NoteKind::Interrupted),
            },
            totals: BTreeMap::new(),
            counters: s.counters.clone(),
            latency_max: BTreeMap::new(),
            slow: BTreeMap::new(),
        };
        for (name, m) in &totals.metrics {
            out.latency_max
                .insert(name.clone(), (m.latency.max(), m.service.max()));
            out.slow.insert(
                name.clone(),
                (
                    m.latency.count_between(500_000, u64::MAX),
                    m.service.count_between(500_000, u64::MAX),
                ),
            );
            out.totals.insert(name.clone(), (m.ok, m.errors.clone()));
        }
        out
    }
}

/// A plan through the runner's seam, as `rocketload run` makes one.
fn plan_of(yaml: &str, urls: &[String], shard: Option<(u32, u32)>, skip: bool) -> Planned {
    let loaded = match load_str_with_warnings(yaml, "test.yaml", &|_| None) {
        Ok(l) => l,
        Err(e) => panic!("test scenario does not load:\n{e}"),
    };
    let request = RunRequest {
        scenario: "test.yaml".into(),
        targets: urls.to_vec(),
        overrides: Overrides::default(),
        shard,
        skip_provision: skip,
        ..RunRequest::default()
    };
    match Planned::from_loaded(request, loaded) {
        Ok(p) => p,
        Err(e) => panic!("plan: {e}"),
    }
}

async fn prepare(planned: Planned) -> Prepared {
    match planned.prepare(&(), None).await {
        Ok(p) => p,
        Err(e) => panic!("prepare: {e}"),
    }
}

fn out_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "rocketload-engine-server-{}-{n}",
        std::process::id()
    ))
}

/// One measurement of `prepared`; `side` runs alongside (faults, probes).
async fn measure(
    prepared: &Prepared,
    overrides: Overrides,
    side: impl std::future::Future<Output = ()>,
    stop_after: Option<Duration>,
) -> Measurement {
    let (stop_tx, stop) = watch::channel(false);
    let dir = out_dir();
    let m = Measure {
        overrides,
        out: dir.clone(),
        stop: Some(stop),
        ..Measure::default()
    };
    let stopper = async move {
        if let Some(after) = stop_after {
            tokio::time::sleep(after).await;
            let _ = stop_tx.send(true);
        } else {
            std::mem::forget(stop_tx);
        }
    };
    let (measured, (), ()) = tokio::join!(prepared.measure(&m, Vec::new()), side, stopper);
    let _ = std::fs::remove_dir_all(&dir);
    match measured {
        Ok(m) => m,
        Err(e) => panic!("measure: {e}"),
    }
}

async fn run(yaml: &str, urls: &[String], stop_after: Option<Duration>) -> Outcome {
    run_with(plan_of(yaml, urls, None, false), async {}, stop_after).await
}

/// Prepares and measures `planned` once.
async fn run_with(
    planned: Planned,
    side: impl std::future::Future<Output = ()>,
    stop_after: Option<Duration>,
) -> Outcome {
    let prepared = prepare(planned).await;
    let m = measure(&prepared, Overrides::default(), side, stop_after).await;
    let out = Outcome::of(&m);
    eprintln!("report: {:?}", out.report);
    for (k, v) in &out.totals {
        eprintln!("  {k}: ok {} errors {:?}", v.0, v.1);
    }
    out
}

fn start_server() -> server::Server {
    match server::start(ServerConfig::embedded()) {
        Ok(s) => s,
        Err(e) => panic!("server: {e}"),
    }
}

const CHAT: &str = r#"
name: chat
seed: 7
users: { count: 6, prefix: chat-, password: pw-123 }
rooms: { count: 2, prefix: chat-room-, members_per_room: 6 }
load: { model: closed, vus: 6, duration: 3s, graceful_stop: 2s }
behaviours:
  - name: chatter
    setup:
      - login: { via: rest }
      - connect: {}
      - subscribe: { stream: room-messages, rooms: joined }
    steps:
      - send_message: { room: random, via: ddp, size: 100 }
      - think: 200ms
      - send_message: { room: current, via: post_message, text: "hi {{username}} {{seq}}" }
      - load_history: { room: current, via: ddp, count: 20 }
      - read: { room: current }
      - think: { uniform: [100ms, 300ms] }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_chat_delivers_every_message() {
    let server = start_server();
    let out = run(CHAT, server.urls(), None).await;
    assert!(out.report.iterations >= 6, "{:?}", out.report);
    assert_eq!(out.ok("login"), 6);
    assert_eq!(out.ok("ddp.connect"), 6);
    assert_eq!(out.ok("ddp.sub.stream-room-messages"), 12);
    assert!(out.ok("ddp.method.sendMessage") > 0);
    assert!(out.ok("rest.chat.postMessage") > 0);
    for name in [
        "login",
        "ddp.connect",
        "ddp.method.sendMessage",
        "rest.chat.postMessage",
        "ddp.method.loadHistory",
        "rest.subscriptions.read",
    ] {
        assert_eq!(out.errors(name), 0, "{name} had errors");
    }
    // Every room has all 6 VUs subscribed: each message reaches 6
    // receivers, except messages still in flight when receivers retired.
    let sent = out.ok("ddp.method.sendMessage") + out.ok("rest.chat.postMessage");
    let e2e = out.ok("message.e2e");
    assert!(
        e2e <= sent * 6 && e2e >= (sent - 6) * 6,
        "{e2e} receipts of {sent} messages"
    );
    assert_eq!(out.ok("iterations"), out.report.iterations);
    assert_eq!(out.counters.get("message.lost").copied().unwrap_or(0), 0);
    assert_eq!(
        out.counters.get("message.duplicate").copied().unwrap_or(0),
        0
    );

    // Provisioning again against the same server reuses users and rooms.
    let again = run(CHAT, server.urls(), None).await;
    assert_eq!(again.ok("login"), 6);
    server.shutdown();
}

const WEB: &str = r#"
name: web
users: { count: 3, prefix: web-, password: pw-123 }
rooms: { count: 1, prefix: web-room-, members_per_room: 3 }
load: { model: open, rate: 10, duration: 2s, max_vus: 3, graceful_stop: 2s }
behaviours:
  - name: web
    setup:
      - web_client_boot: {}
    steps:
      - open_room: { room: random }
      - open_room: { room: current, via: ddp, name: open_ddp }
      - typing: { room: current, duration: 50ms }
      - set_status: { status: away, via: ddp }
      - set_status: { status: online, via: rest }
      - http: { path: "/api/v1/me", capture: { me: "/username" } }
      - http: { path: "/api/v1/rooms.get", name: rooms, capture: { rid: "/update/0/_id" } }
      - http: { path: "/api/v1/channels.history?roomId={{rid}}&count=5", expect_status: 200, name: history }
      - http: { method: POST, path: "/api/v1/chat.postMessage", body: { roomId: "{{rid}}", text: "from {{me}}" } }
      - group:
          name: tx
          steps:
            - subscribe: { stream: typing, rooms: current }
            - unsubscribe: { stream: typing, rooms: current }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_web_client_steps() {
    let server = start_server();
    let out = run(WEB, server.urls(), None).await;
    assert_eq!(
        out.report.iterations + out.report.interrupted + out.report.dropped,
        20,
        "{:?}",
        out.report
    );
    // The pool grows lazily: one boot per VU created.
    assert!(out.ok("web_client_boot") >= 1);
    assert_eq!(out.ok("web_client_boot"), out.ok("login"));
    assert_eq!(out.ok("open_room"), 20);
    // `via` picks how open_room loads the history.
    assert_eq!(out.ok("open_ddp"), 20);
    assert_eq!(out.ok("rest.method.call/loadHistory"), 20);
    assert_eq!(out.ok("ddp.method.loadHistory"), 20);
    for name in [
        "rest.me",
        "rooms",
        "history",
        "rest.chat.postMessage",
        "iterations",
    ] {
        assert_eq!(out.errors(name), 0, "{name} had errors");
    }
    assert!(out.ok("tx") > 0);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_signal_ends_the_run_early() {
    let server = start_server();
    let long = CHAT.replace("duration: 3s", "duration: 1h");
    let started = std::time::Instant::now();
    let out = run(&long, server.urls(), Some(Duration::from_secs(2))).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(out.report.stopped, "the stop signal ended the run");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_reconnect_and_resubscribe() {
    let server = start_server();
    let chat = CHAT.replace("duration: 3s", "duration: 4s");
    let plan = plan_of(&chat, server.urls(), None, false);
    let fault = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Err(e) = server.apply_fault(&serde_json::json!({"kind": "drop_connections"})) {
            panic!("fault: {e}");
        }
    };
    let out = run_with(plan, fault, None).await;
    assert!(out.report.reconnects >= 6, "{:?}", out.report);
    assert_eq!(
        out.counters.get("ddp.reconnects").copied(),
        Some(out.report.reconnects)
    );
    // Each VU resumed its session and restored its two room subscriptions.
    assert!(out.ok("ddp.method.login") >= 12);
    assert!(out.ok("ddp.sub.stream-room-messages") >= 24);
    server.shutdown();
}

const PINGS: &str = r#"
name: pings
users: { count: 2, prefix: ping-, password: pw-123 }
rooms: { count: 1, prefix: ping-room-, members_per_room: 2 }
load: { model: closed, vus: 2, duration: 2s, graceful_stop: 1s }
behaviours:
  - name: pinger
    setup:
      - login: { via: ddp }
      - subscribe: { stream: room-messages, rooms: joined }
      - subscribe: { stream: typing }
      - subscribe: { stream: notify-user }
      - subscribe: { stream: presence }
      - subscribe: { stream: my-messages }
    steps:
      - send_message: { room: random, via: send_message, text: "ping {{vu}}-{{iteration}}" }
      - wait_for_message: { contains: "ping {{vu}}-{{iteration}}", room: current, timeout: 2s }
      - wait_for_message: { contains: "never sent", timeout: 200ms, name: wait_never }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_message_sees_own_echo_and_times_out() {
    let server = start_server();
    let out = run(PINGS, server.urls(), None).await;
    assert!(out.ok("wait_for_message") > 0);
    assert_eq!(out.errors("wait_for_message"), 0);
    assert_eq!(out.ok("wait_never"), 0);
    assert!(
        out.totals
            .get("wait_never")
            .is_some_and(|(_, e)| e.contains_key("timeout"))
    );
    for name in [
        "login",
        "ddp.sub.stream-room-messages",
        "ddp.sub.stream-notify-room",
        "ddp.sub.stream-notify-user",
        "ddp.sub.stream-user-presence",
        "rest.chat.sendMessage",
    ] {
        assert!(out.ok(name) > 0, "{name} never succeeded");
        assert_eq!(out.errors(name), 0, "{name} had errors");
    }
    // Receipts on __my_messages__ are not counted twice.
    assert_eq!(
        out.counters.get("message.duplicate").copied().unwrap_or(0),
        0
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_and_skip_provision() {
    let server = start_server();
    let urls = server.urls().to_vec();
    let (a, b) = tokio::join!(
        run_with(plan_of(CHAT, &urls, Some((1, 2)), false), async {}, None),
        run_with(plan_of(CHAT, &urls, Some((2, 2)), false), async {}, None),
    );
    // Disjoint halves of the users, VUs split 3 + 3.
    assert_eq!(a.ok("login") + b.ok("login"), 6);
    assert_eq!(a.ok("login"), 3);
    assert_eq!(a.errors("login") + b.errors("login"), 0);
    // Users and rooms exist now: a run that skips provisioning resolves
    // rooms by name on first use.
    let c = run_with(plan_of(CHAT, &urls, None, true), async {}, None).await;
    assert_eq!(c.ok("login"), 6);
    assert_eq!(c.errors("ddp.sub.stream-room-messages"), 0);
    assert!(c.ok("message.e2e") > 0);
    server.shutdown();
}

const STALL: &str = r#"
name: stall
users: { count: 5, prefix: st-, password: pw-123 }
load: { model: open, rate: 20, duration: 3s, max_vus: 2, max_queue: 10s, graceful_stop: 5s }
behaviours:
  - name: me
    setup:
      - login: { via: rest }
    steps:
      - http: { path: /api/v1/me }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_shows_in_latency_not_service() {
    let server = start_server();
    let plan = plan_of(STALL, server.urls(), None, false);
    let fault = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if let Err(e) =
            server.apply_fault(&serde_json::json!({"kind": "stall", "duration_ms": 1000}))
        {
            panic!("fault: {e}");
        }
    };
    let out = run_with(plan, fault, None).await;
    assert_eq!(
        out.report.iterations + out.report.interrupted + out.report.dropped,
        60
    );
    let (latency, _) = out.latency_max.get("rest.me").copied().unwrap_or_default();
    assert!(latency >= 900_000, "latency max {latency} µs");
    // Only the (at most 2) requests in flight were slow to serve; the
    // arrivals queued behind them (one per 50 ms) count their wait in
    // latency. Maxima would not tell: both are ~1 s, in one HDR bucket.
    let (slow_latency, slow_service) = out.slow.get("rest.me").copied().unwrap_or_default();
    assert!(
        slow_service <= 3 && slow_latency >= slow_service + 4,
        ">= 500 ms: {slow_latency} by latency, {slow_service} by service time"
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_up_and_down_loses_nothing() {
    let server = start_server();
    let ramp = CHAT.replace(
        "load: { model: closed, vus: 6, duration: 3s, graceful_stop: 2s }",
        "load: { model: closed, stages: [ { duration: 1s, target: 6 }, { duration: 1s, target: 6 }, { duration: 1500ms, target: 0 } ], graceful_stop: 2s }",
    );
    let out = run(&ramp, server.urls(), None).await;
    // Every VU started once; the ones stopped by the ramp-down left cleanly.
    assert_eq!(out.ok("login"), 6);
    assert_eq!(out.errors("ddp.method.sendMessage"), 0);
    assert!(out.ok("message.e2e") > 0);
    assert_eq!(out.counters.get("message.lost").copied().unwrap_or(0), 0);
    assert_eq!(
        out.counters.get("message.duplicate").copied().unwrap_or(0),
        0
    );
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_deliveries_are_counted() {
    let server = start_server();
    if let Err(e) = server.apply_fault(
        &serde_json::json!({"kind": "lose_messages", "ratio": 0.5, "duration_ms": 60_000}),
    ) {
        panic!("fault: {e}");
    }
    let out = run(CHAT, server.urls(), None).await;
    let lost = out.counters.get("message.lost").copied().unwrap_or(0);
    let sent = out.ok("ddp.method.sendMessage") + out.ok("rest.chat.postMessage");
    assert!(lost > 0, "no loss counted");
    // Each message is owed to 6 receivers; receipts plus losses cover them
    // (less what was in flight when receivers retired).
    assert!(lost + out.ok("message.e2e") <= sent * 6);
    assert!(lost + out.ok("message.e2e") >= (sent - 6) * 6);
    server.shutdown();
}

const PRESENCE: &str = r#"
name: presence
users: { count: 2, prefix: pres-, password: pw-123 }
rooms: { count: 1, prefix: pres-room-, members_per_room: 2 }
load: { model: closed, vus: 2, duration: 1s, graceful_stop: 1s }
behaviours:
  - name: watcher
    setup:
      - login: { via: ddp }
      - subscribe: { stream: presence }
    steps:
      - think: 200ms
"#;

struct Nop;
impl rocketload::rocketchat::EventSink for Nop {
    fn event(&self, _: rocketload::rocketchat::DdpEvent<'_>) {}
}

/// Presence lists come from the server, so a shard watches the users of
/// every shard: shard 2/2 provisions only `pres-2`, whose one room mate
/// `pres-1` belongs to shard 1/2. While shard 2 runs, `pres-1` comes
/// online: its VU must get that presence event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_watches_users_of_other_shards() {
    let server = start_server();
    let urls = server.urls().to_vec();
    let first = run_with(
        plan_of(PRESENCE, &urls, Some((1, 2)), false),
        async {},
        None,
    )
    .await;
    assert_eq!(first.ok("login"), 1);
    let deliveries = || server.stats()["deliveries"].as_u64().unwrap_or(0);
    let mut seen = 0;
    let online = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cfg = rocketload::rocketchat::ClientConfig::default();
        let ddp =
            match rocketload::rocketchat::Ddp::connect(&urls[0], &cfg, std::sync::Arc::new(Nop))
                .await
            {
                Ok(d) => d,
                Err(e) => panic!("connect: {e}"),
            };
        let before = deliveries();
        if let Err(e) = ddp.login_password("pres-1", "pw-123").await {
            panic!("login: {e}");
        }
        seen = deliveries() - before;
        ddp.close().await;
    };
    let second = run_with(plan_of(PRESENCE, &urls, Some((2, 2)), false), online, None).await;
    assert_eq!(second.ok("ddp.sub.stream-user-presence"), 1);
    assert_eq!(seen, 1, "presence events delivered when pres-1 came online");
    server.shutdown();
}

/// The runner's seam for a capacity search: one provisioning, then two
/// measurements with different VU counts, each with its own results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_twice_after_one_provisioning() {
    let server = start_server();
    let prepared = prepare(plan_of(CHAT, server.urls(), None, false)).await;
    let users_after_provisioning = server.stats()["users"].clone();
    assert!(users_after_provisioning.as_u64().unwrap_or(0) >= 6);
    let short = |vus| Overrides {
        vus: Some(vus),
        duration: Some(Duration::from_secs(2)),
        rate: None,
    };
    let one = measure(&prepared, short(2), async {}, None).await;
    let two = measure(&prepared, short(6), async {}, None).await;
    for m in [&one, &two] {
        assert_eq!(
            m.summary.run.info.load.peak(),
            m.summary.gauges["vus.active"].max as f64
        );
        assert!(m.summary.metrics["message.e2e"].count > 0);
        assert_eq!(
            m.summary.counters.get("message.lost").copied().unwrap_or(0),
            0
        );
        assert!(m.write_error.is_none() && m.stopped_early.is_none());
    }
    assert_eq!(one.summary.run.info.load.peak(), 2.0);
    assert_eq!(two.summary.run.info.load.peak(), 6.0);
    assert_ne!(one.summary.run.info.id, two.summary.run.info.id);
    // Same seed, same provisioned world: only the load changed.
    assert_eq!(one.summary.run.info.seed, two.summary.run.info.seed);
    // Provisioned once: measuring created no users.
    assert_eq!(server.stats()["users"], users_after_provisioning);
    prepared.finish().await;
    server.shutdown();
}

/// Every step kind, each way it can go: what a run records must be what
/// validation says it may record (thresholds and capacity SLOs are
/// checked against that list), and every metric a step says it records
/// shows up when it runs.
const EVERY_STEP: &str = r#"
name: every-step
users: { count: 2, prefix: every-, password: pw-123 }
rooms: { count: 1, prefix: every-room-, members_per_room: 2 }
load: { model: closed, vus: 2, duration: 3s, graceful_stop: 5s }
behaviours:
  - name: all
    setup:
      - web_client_boot: {}
      - login: { via: rest }
      - login: { via: ddp }
      - connect: {}
    steps:
      - subscribe: { stream: room-messages, rooms: joined }
      - subscribe: { stream: typing, rooms: current }
      - subscribe: { stream: notify-user }
      - subscribe: { stream: presence, rooms: current }
      - subscribe: { stream: my-messages }
      - send_message: { room: current, via: ddp }
      - send_message: { room: current, via: post_message }
      - send_message: { room: current, via: send_message }
      - wait_for_message: { room: current, timeout: 2s }
      - load_history: { room: current, via: ddp, count: 5 }
      - load_history: { room: current, via: rest, count: 5 }
      - read: { room: current, via: ddp }
      - read: { room: current, via: rest }
      - join_room: { room: current, via: ddp }
      - join_room: { room: current, via: rest }
      - open_room: { room: current, via: rest }
      - open_room: { room: current, via: ddp }
      - typing: { room: current, duration: 10ms }
      - set_status: { status: online, via: ddp }
      - set_status: { status: away, via: ddp }
      - set_status: { status: busy, message: "in a test", via: ddp }
      - set_status: { status: online, via: rest }
      - http: { path: "/api/v1/me" }
      - repeat:
          count: 1
          steps:
            - think: 10ms
      - group:
          name: tx
          steps:
            - unsubscribe: { stream: typing, rooms: current }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_metrics_are_the_ones_validation_knows() {
    use rocketload::scenario::validate::produced_metrics;
    use std::collections::BTreeSet;

    let server = start_server();
    let prepared = prepare(plan_of(EVERY_STEP, server.urls(), None, false)).await;
    let m = measure(&prepared, Overrides::default(), async {}, None).await;
    server.shutdown();
    let scenario = match load_str_with_warnings(EVERY_STEP, "test.yaml", &|_| None) {
        Ok(l) => l.scenario,
        Err(e) => panic!("{e}"),
    };
    let produced = produced_metrics(&scenario);
    let recorded: BTreeSet<String> = m
        .summary
        .metrics
        .keys()
        .chain(m.summary.counters.keys())
        .cloned()
        .collect();
    let unknown: Vec<&String> = recorded.difference(&produced).collect();
    assert!(
        unknown.is_empty(),
        "recorded but not in produced_metrics: {unknown:?}"
    );
    // Each step's own list, as it ran (all steps succeed against serve).
    let mut said = BTreeSet::new();
    fn walk(steps: &[rocketload::scenario::Step], out: &mut BTreeSet<String>) {
        for s in steps {
            out.extend(s.recorded_metrics());
            walk(s.children(), out);
        }
    }
    for b in &scenario.behaviours {
        walk(&b.setup, &mut said);
        walk(&b.steps, &mut said);
    }
    let missing: Vec<&String> = said.difference(&recorded).collect();
    assert!(missing.is_empty(), "said but not recorded: {missing:?}");
    for name in [
        "ddp.sub.stream-notify-all",
        "rest.method.call/rooms/get",
        "tx",
    ] {
        assert!(recorded.contains(name), "{name} not recorded: {recorded:?}");
    }
}
