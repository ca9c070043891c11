//! What the binary tests share: the binary, a scratch directory, a
//! separate `rocketload serve`. Each test file uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rocketload")
}

/// Runs the binary, echoing its output for a failing test's log.
pub fn rocketload(args: &[&str]) -> Output {
    rocketload_env(args, &[])
}

/// [`rocketload`] with these variables set, and the admin's variables
/// (`RC_ADMIN_*`) of the test's own environment removed.
pub fn rocketload_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    for var in [
        "RC_ADMIN_USER",
        "RC_ADMIN_PASSWORD",
        "RC_ADMIN_USER_ID",
        "RC_ADMIN_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("spawn rocketload");
    eprintln!("--- rocketload {}", args.join(" "));
    eprintln!("--- stdout\n{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `run SCENARIO --quiet --out OUT EXTRA...` of `yaml` written in `w`.
pub fn run_quiet(w: &Workdir, yaml: &str, extra: &[&str]) -> Output {
    let scenario = w.scenario(yaml);
    let out_dir = w.out();
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rocketload(&args)
}

/// Each case (extra flags, a fragment of the expected message) exits 2
/// and writes nothing to `out`: refused before any load.
pub fn refused(base: &[&str], out: &Path, cases: &[(&[&str], &str)]) {
    for (extra, expected) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let r = rocketload(&args);
        assert_eq!(r.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
        assert!(!out.exists(), "{extra:?} wrote results");
    }
}

/// A scratch directory, removed at the end.
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new(name: &str) -> Workdir {
        let dir =
            std::env::temp_dir().join(format!("rocketload-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Workdir(dir)
    }

    /// Writes `scenario.yaml` (or `name`) and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Writes `scenario.yaml`.
    pub fn scenario(&self, yaml: &str) -> PathBuf {
        self.file("scenario.yaml", yaml)
    }

    /// The default results directory of a test.
    pub fn out(&self) -> PathBuf {
        self.0.join("out")
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process a test started: killed (by its own handle) and reaped
/// when dropped, so none outlives a failed assertion.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A separate `rocketload serve` on a free loopback port, ended on drop.
pub struct Serve {
    child: Child,
    pub url: String,
}

impl Serve {
    pub fn start(extra: &[&str]) -> Serve {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(bin())
            .args(["serve", "--listen", &listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => {
                    break line.rsplit(' ').next().unwrap().to_string();
                }
                Some(Ok(_)) => continue,
                _ => panic!("serve exited before listening"),
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child, url }
    }

    /// GET /_sim/stats: the server's own counts.
    pub fn stats(&self) -> serde_json::Value {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            reqwest::get(format!("{}/_sim/stats", self.url))
                .await
                .expect("stats request")
                .json::<serde_json::Value>()
                .await
                .expect("stats json")
        })
    }

    /// POST /_sim/fault with a JSON body.
    pub fn fault(&self, body: &str) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let resp = reqwest::Client::new()
                .post(format!("{}/_sim/fault", self.url))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("fault request");
            assert!(
                resp.status().is_success(),
                "fault refused: {}",
                resp.status()
            );
        });
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}
/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies the files of run directory `from` into a new directory `to`.
pub fn copy_run(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create run copy");
    for entry in std::fs::read_dir(from).expect("read run") {
        let entry = entry.expect("dir entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy run file");
    }
}
