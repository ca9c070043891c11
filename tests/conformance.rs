//! Conformance with Rocket.Chat's official JS clients: runs the real `rocketload serve`
//! binary with two instances and seeded users on loopback, then drives it with
//! `tests/conformance/conformance.js` (`@rocket.chat/ddp-client` and `@rocket.chat/sdk`).
//!
//! Needs Node 20+ and `npm ci --prefix tests/conformance` (CI's `.ci/run` does that).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::KillOnDrop;

const PASSWORD: &str = "conformance-pw";
/// Bound on the server's start-up (seeding included).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the Node run; the script bounds itself at 60 s, this is the backstop.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// A base port P such that P and P+1 are free on 127.0.0.1 right now.
fn two_free_ports() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = first.local_addr().expect("local addr").port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return port;
        }
    }
    panic!("found no two consecutive free loopback ports in 50 tries");
}

/// Starts `serve --instances 2` and returns it with the instance URLs it printed.
fn start_server() -> (KillOnDrop, Vec<String>) {
    let base = two_free_ports();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocketload"))
        .args(["serve", "--listen", &format!("127.0.0.1:{base}")])
        .args(["--instances", "2", "--seed-users", "4", "--seed-rooms", "1"])
        .args(["--members-per-room", "4", "--password", PASSWORD])
        .args(["--user-prefix", "load-", "--room-prefix", "load-room-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rocketload serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = KillOnDrop(child);

    // Read the "instance i listening on URL" lines on a thread so the wait is bounded;
    // the thread keeps draining stdout afterwards so the server never blocks on a full pipe.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("[serve] {line}");
            let url = line.split_whitespace().find(|w| w.starts_with("http://"));
            if let (true, Some(url)) = (line.contains("listening on"), url) {
                // A send error only means the test stopped waiting: keep draining.
                let _ = tx.send(url.to_string());
            }
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut urls = Vec::new();
    while urls.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(url) => urls.push(url),
            Err(e) => panic!(
                "rocketload serve printed {} of 2 `instance i listening on URL` lines within {:?}: {e}",
                urls.len(),
                START_TIMEOUT
            ),
        }
    }
    (guard, urls)
}

/// What to install, said whenever the JS side is missing.
const SETUP: &str = "this test needs Node 20+ on PATH and the official clients: install Node 20 or later, \
     then run `npm ci --prefix tests/conformance`";

/// The major version of `node --version` (`v20.11.1` -> 20).
fn node_major(version: &str) -> Option<u32> {
    version
        .trim()
        .strip_prefix('v')?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Fails with [`SETUP`] unless Node 20+ runs and the clients are installed.
fn require_node_and_clients(dir: &Path) {
    let version = match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!("`node --version` failed ({}): {SETUP}", o.status),
        Err(e) => panic!("cannot run `node` ({e}): {SETUP}"),
    };
    match node_major(&version) {
        Some(major) if major >= 20 => {}
        _ => panic!("node {} is too old or unknown: {SETUP}", version.trim()),
    }
    let modules = dir.join("node_modules");
    assert!(
        modules.join("@rocket.chat/ddp-client").is_dir()
            && modules.join("@rocket.chat/sdk").is_dir(),
        "{} is missing the official clients: {SETUP}",
        modules.display()
    );
}

#[test]
fn node_versions_read_as_their_major() {
    assert_eq!(node_major("v20.20.2\n"), Some(20));
    assert_eq!(node_major("v18.0.0"), Some(18));
    assert_eq!(node_major("20.1.0"), None);
    assert_eq!(node_major(""), None);
}

#[test]
fn official_js_clients_work_against_serve() {
    let dir = conformance_dir();
    require_node_and_clients(&dir);

    let (_server, urls) = start_server();
    let mut node = Command::new("node")
        .arg(dir.join("conformance.js"))
        .args(&urls)
        .args(["--password", PASSWORD, "--room", "load-room-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node` ({e}): {SETUP}"));

    let mut out = node.stdout.take().expect("piped stdout");
    let mut err = node.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut node = KillOnDrop(node);
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = node.0.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(node); // kills it if still running, which closes its pipes
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    println!("{stdout}");
    if !stderr.is_empty() {
        eprintln!("{stderr}");
    }
    match status {
        None => panic!("conformance.js did not finish within {CLIENT_TIMEOUT:?}"),
        Some(s) => assert!(
            s.success(),
            "conformance.js failed ({s}); see the FAIL lines above"
        ),
    }
}
