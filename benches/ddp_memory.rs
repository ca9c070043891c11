//! Generator memory per idle virtual user: N tasks each open a DDP connection
//! (handshake, password login, one `stream-notify-user` subscription), then
//! sit; the growth of this process's resident memory is reported per user.
//!
//! Without `--url` it starts its own minimal DDP server as a child process
//! (this same binary with `serve`), so only the client side is measured.
//!
//! ```text
//! cargo bench --bench ddp_memory -- --conns 10000
//! # against `rocketload serve --seed-users 10000` (users load-1..load-N):
//! cargo bench --bench ddp_memory -- --conns 10000 --url http://127.0.0.1:3000 \
//!     --user 'load-{}' --password password --settle-ms 20000
//! # same, with a REST login (and a kept reqwest client) per user:
//! cargo bench --bench ddp_memory -- --conns 10000 --url http://127.0.0.1:3000 \
//!     --user 'load-{}' --password password --rest
//! cargo bench --bench ddp_memory -- --conns 10000 --no-login
//! ```
//! Every connection goes to loopback; the run ends by itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rocketload::rocketchat::{ClientConfig, Ddp, DdpEvent, EventSink, Rest};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

struct Options {
    serve: bool,
    url: Option<String>,
    conns: usize,
    login: bool,
    /// REST login first (own reqwest client per user, kept), then DDP resume.
    rest: bool,
    user: String,
    password: String,
    batch: usize,
    settle: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        serve: false,
        url: None,
        conns: 2000,
        login: true,
        rest: false,
        user: "user{}".to_owned(),
        password: "secret".to_owned(),
        batch: 200,
        settle: Duration::from_secs(2),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "serve" => o.serve = true,
            "--url" => o.url = Some(value("--url")?),
            "--conns" => {
                o.conns = value("--conns")?
                    .parse()
                    .map_err(|e| format!("--conns: {e}"))?
            }
            "--batch" => {
                o.batch = value("--batch")?
                    .parse()
                    .map_err(|e| format!("--batch: {e}"))?
            }
            "--user" => o.user = value("--user")?,
            "--password" => o.password = value("--password")?,
            "--settle-ms" => {
                let ms: u64 = value("--settle-ms")?
                    .parse()
                    .map_err(|e| format!("--settle-ms: {e}"))?;
                o.settle = Duration::from_millis(ms);
            }
            "--no-login" => o.login = false,
            "--rest" => o.rest = true,
            // cargo bench passes --bench to harness-less targets.
            "--bench" => {}
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if o.rest && (o.url.is_none() || !o.login) {
        return Err(
            "--rest needs --url (the built-in server speaks DDP only) and login".to_owned(),
        );
    }
    if o.batch == 0 || o.conns == 0 {
        return Err("--conns and --batch must be positive".to_owned());
    }
    Ok(o)
}

/// Raises the open-files soft limit to the hard limit (10k sockets).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit only read/write the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Bytes the allocator hands out (glibc), to tell live data from
/// fragmentation and per-thread arenas.
fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 only reads allocator statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Counts events; the reader tasks call it.
#[derive(Default)]
struct Count(AtomicU64);

impl EventSink for Count {
    fn event(&self, _ev: DdpEvent<'_>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ddp_memory: {e}");
            std::process::exit(2);
        }
    };
    raise_fd_limit();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ddp_memory: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    if opts.serve {
        rt.block_on(serve());
        return;
    }
    if let Err(e) = rt.block_on(measure(opts)) {
        eprintln!("ddp_memory: {e}");
        std::process::exit(1);
    }
}

async fn measure(opts: Options) -> Result<(), String> {
    let mut child = None;
    let url = match &opts.url {
        Some(u) => u.clone(),
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut c = Command::new(exe)
                .arg("serve")
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start the DDP server: {e}"))?;
            let stdout = c.stdout.take().ok_or("no stdout of the server")?;
            let mut line = String::new();
            BufReader::new(stdout)
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            child = Some(c);
            line.trim().to_owned()
        }
    };
    let result = run(&opts, &url).await;
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

async fn run(opts: &Options, url: &str) -> Result<(), String> {
    let cfg = Arc::new(ClientConfig {
        timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    });
    let sink = Arc::new(Count::default());
    // Warm up the runtime and allocator with one connection, then measure.
    let warm = Ddp::connect(url, &cfg, sink.clone())
        .await
        .map_err(|e| format!("first connection: {e}"))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_bytes();
    let heap_before = heap_in_use();
    let started = Instant::now();
    // Like the engine: one task per virtual user that connects, logs in,
    // subscribes, then idles holding its connection until told to stop.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<Result<bool, String>>(opts.batch);
    let mut vus = Vec::with_capacity(opts.conns);
    let mut tally = Tally::default();
    let mut closed = 0usize;
    for i in 0..opts.conns {
        let (cfg, sink, url) = (cfg.clone(), sink.clone(), url.to_owned());
        let (ready_tx, mut stop_rx) = (ready_tx.clone(), stop_rx.clone());
        // Seeded users are numbered from 1 (`rocketload serve --seed-users`).
        let user = opts.user.replace("{}", &(i + 1).to_string());
        let (login, rest, password) = (opts.login, opts.rest, opts.password.clone());
        vus.push(tokio::spawn(async move {
            let setup = async {
                let ddp = Ddp::connect(&url, &cfg, sink).await?;
                let mut client = None;
                if login {
                    let s = if rest {
                        let mut r = Rest::new(&url, &cfg)?;
                        let s = r.login(&user, &password).await?;
                        r.set_session(Some(s.clone()));
                        client = Some(r);
                        ddp.login_resume(&s.token).await?
                    } else {
                        ddp.login_password(&user, &password).await?
                    };
                    let params = vec![
                        json!(format!("{}/notification", s.user_id)),
                        json!({"useCollection": false, "args": []}),
                    ];
                    ddp.subscribe("stream-notify-user", params).await?;
                }
                Ok::<_, rocketload::rocketchat::RcError>((ddp, client))
            };
            match setup.await {
                Ok((ddp, _rest)) => {
                    let _ = ready_tx.send(Ok(login)).await;
                    drop(ready_tx);
                    let _ = stop_rx.wait_for(|s| *s).await;
                    ddp.is_closed()
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("VU {i}: {e}"))).await;
                    false
                }
            }
        }));
        // Keep at most `batch` connection attempts in flight.
        if i + 1 - tally.ready >= opts.batch && !tally.take(ready_rx.recv().await)? {
            break;
        }
    }
    drop(ready_tx);
    while tally.ready < opts.conns && tally.take(ready_rx.recv().await)? {}
    let (ready, subs) = (tally.ready, tally.subs);
    let opened = started.elapsed();
    tokio::time::sleep(opts.settle).await;
    let after = rss_bytes();
    let heap_after = heap_in_use();
    let _ = stop_tx.send(true);
    for vu in vus {
        closed += usize::from(vu.await.unwrap_or(true));
    }
    let per = after.saturating_sub(before) as f64 / opts.conns as f64;
    println!(
        "ddp_memory: {ready} connections ({subs} logged in + subscribed, {closed} closed early) \
         to {url} in {:.1} s",
        opened.as_secs_f64()
    );
    println!(
        "ddp_memory: RSS {:.1} MiB -> {:.1} MiB: {:.0} bytes ({:.1} KiB) per idle VU",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per,
        per / 1024.0
    );
    println!(
        "ddp_memory: heap in use {:.0} bytes per VU (RSS minus this is allocator slack)",
        heap_after.saturating_sub(heap_before) as f64 / opts.conns as f64
    );
    drop(warm);
    Ok(())
}

/// Virtual users that finished their setup.
#[derive(Default)]
struct Tally {
    ready: usize,
    subs: usize,
}

impl Tally {
    /// Counts one setup report; `Ok(false)` when no more will come.
    fn take(&mut self, report: Option<Result<bool, String>>) -> Result<bool, String> {
        match report {
            Some(Ok(subscribed)) => {
                self.ready += 1;
                self.subs += usize::from(subscribed);
                Ok(true)
            }
            Some(Err(e)) => Err(e),
            None => Ok(false),
        }
    }
}

// ---- minimal DDP server (child process) ------------------------------------

/// Answers the handshake, `login` (any user), `sub` (ready), `unsub`, pings,
/// and every other method with an empty result. The parent kills it when
/// done; it also stops by itself after 10 minutes.
async fn serve() {
    raise_fd_limit();
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ddp_memory serve: {e}");
            return;
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("http://{a}"),
        Err(e) => {
            eprintln!("ddp_memory serve: {e}");
            return;
        }
    }
    let users = Arc::new(AtomicU64::new(0));
    // Bounded: the parent kills this process; this is a safety net.
    let deadline = tokio::time::sleep(Duration::from_secs(600));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let users = users.clone();
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                        .read_buffer_size(4096)
                        .write_buffer_size(0);
                    if let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(cfg)).await {
                        session(ws, &users).await;
                    }
                });
            }
            () = &mut deadline => return,
        }
    }
}

async fn session(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    users: &AtomicU64,
) {
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let replies: Vec<Value> = match v.get("msg").and_then(Value::as_str).unwrap_or("") {
            "connect" => vec![json!({"msg":"connected","session":"s"})],
            "ping" => vec![json!({"msg":"pong","id":id})],
            "sub" => vec![json!({"msg":"ready","subs":[id]})],
            "unsub" => vec![json!({"msg":"nosub","id":id})],
            "method" if v["method"] == "login" => {
                let n = users.fetch_add(1, Ordering::Relaxed);
                let uid = format!("u{n}");
                let name = v["params"][0]["user"]["username"].clone();
                vec![
                    json!({"msg":"added","collection":"users","id":uid,"fields":{"username":name}}),
                    json!({"msg":"result","id":id,"result":{"id":uid,"token":format!("token-{n}"),"tokenExpires":{"$date":0},"type":"password"}}),
                    json!({"msg":"updated","methods":[id]}),
                ]
            }
            "method" => vec![
                json!({"msg":"result","id":id}),
                json!({"msg":"updated","methods":[id]}),
            ],
            _ => vec![],
        };
        for r in replies {
            if ws.send(Message::text(r.to_string())).await.is_err() {
                return;
            }
        }
    }
}
