//! Records the git commit the binary is built from (results name it), when
//! built from a checkout with git available; otherwise nothing.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=ROCKETLOAD_GIT_COMMIT");
    if std::env::var_os("ROCKETLOAD_GIT_COMMIT").is_some() {
        return; // set by the caller (e.g. an image build without .git)
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=ROCKETLOAD_GIT_COMMIT={commit}");
}
