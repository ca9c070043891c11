//! Helpers of the binary tests: a scratch directory per test and the real
//! binary run to completion.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory, removed when dropped.
pub struct Workdir(pub PathBuf);

impl Workdir {
    pub fn new(name: &str) -> Workdir {
        let dir = std::env::temp_dir().join(format!("rocketload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Workdir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `rocketload ARGS...` to its end, echoing its output for failures.
pub fn rocketload(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_rocketload"))
        .args(args)
        .output()
        .expect("spawn rocketload");
    eprintln!("--- rocketload {}", args.join(" "));
    eprintln!("--- stdout\n{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("--- stderr\n{}", String::from_utf8_lossy(&out.stderr));
    out
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
