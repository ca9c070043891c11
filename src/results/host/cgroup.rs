//! The cgroup limits this process runs under: CPU quota and memory limit.
//!
//! The process's cgroup comes from /proc/self/cgroup (v2: the `0::` line;
//! v1: the line whose controllers include the one asked for), its mount
//! from /proc/self/mountinfo. The mount's root field matters: inside a
//! container with a cgroup namespace (or a v1 bind mount) the cgroup's own
//! directory is mounted as the hierarchy's top, so its path must be made
//! relative to that root. A limit anywhere above the cgroup also binds it,
//! so the smallest value from the cgroup up to the mount's top counts.

use std::path::{Component, Path, PathBuf};

use super::Root;

/// Values at or above this are the kernel's "unlimited" (v1 prints
/// LONG_MAX rounded down to a page, v2 prints `max`).
const UNLIMITED: u64 = 1 << 62;

pub(super) fn cpu_quota_cores(fs: &Root) -> Option<f64> {
    smallest(fs, "cpu", |dir, v2| {
        if v2 {
            let text = Root::read_at(&dir.join("cpu.max"))?;
            let mut it = text.split_whitespace();
            let (quota, period) = (it.next()?, it.next()?);
            // `max` (no quota) fails to parse and so reads as no limit.
            cores(quota.parse().ok()?, period.parse().ok()?)
        } else {
            let quota: i64 = read_number(&dir.join("cpu.cfs_quota_us"))?;
            let period: u64 = read_number(&dir.join("cpu.cfs_period_us"))?;
            // -1 means no quota.
            cores(u64::try_from(quota).ok()?, period)
        }
    })
}

pub(super) fn memory_limit_bytes(fs: &Root) -> Option<u64> {
    smallest(fs, "memory", |dir, v2| {
        let file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        let bytes: u64 = read_number(&dir.join(file))?;
        (bytes < UNLIMITED).then_some(bytes)
    })
}

fn cores(quota: u64, period: u64) -> Option<f64> {
    if quota == 0 || period == 0 {
        return None;
    }
    let cores = quota as f64 / period as f64;
    cores.is_finite().then_some(cores)
}

fn read_number<T: std::str::FromStr>(path: &Path) -> Option<T> {
    Root::read_at(path)?.trim().parse().ok()
}

/// Reads `limit` in the cgroup of `controller` and each ancestor up to the
/// top of the mounted hierarchy; the smallest limit binds.
fn smallest<T: PartialOrd + Copy>(
    fs: &Root,
    controller: &str,
    limit: impl Fn(&Path, bool) -> Option<T>,
) -> Option<T> {
    let (leaf, top, v2) = locate(fs, controller)?;
    let mut best: Option<T> = None;
    let mut dir = leaf.as_path();
    loop {
        if let Some(v) = limit(dir, v2) {
            best = Some(match best {
                Some(b) if b <= v => b,
                _ => v,
            });
        }
        if dir == top {
            break;
        }
        match dir.parent() {
            Some(parent) if parent.starts_with(&top) => dir = parent,
            _ => break,
        }
    }
    best
}

/// The process's cgroup directory for `controller`, the top of its mounted
/// hierarchy (both below the root), and whether it is cgroup v2.
fn locate(fs: &Root, controller: &str) -> Option<(PathBuf, PathBuf, bool)> {
    let membership = fs.read("proc/self/cgroup").unwrap_or_default();
    let mut v1 = None;
    let mut v2 = None;
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == controller) {
            v1 = Some((controllers, path));
        }
    }
    let mounts = fs
        .read("proc/self/mountinfo")
        .map(|m| parse_mountinfo(&m))
        .unwrap_or_default();

    // A v1 controller wins: on a hybrid system the v2 hierarchy holds none.
    if let Some((controllers, path)) = v1 {
        let mount = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == controller));
        let (mount_root, point) = match mount {
            Some(m) => (m.root.clone(), m.point.clone()),
            None => {
                // No mountinfo: the usual layout, named either way.
                let joined = format!("/sys/fs/cgroup/{controllers}");
                let point = if fs.exists(&joined) {
                    joined
                } else {
                    format!("/sys/fs/cgroup/{controller}")
                };
                ("/".to_string(), point)
            }
        };
        return Some(resolve(fs, path, &mount_root, &point, false));
    }
    // Without /proc/self/cgroup, assume the root of a v2 hierarchy.
    let path = v2.unwrap_or("/");
    let (mount_root, point) = match mounts.iter().find(|m| m.fstype == "cgroup2") {
        Some(m) => (m.root.clone(), m.point.clone()),
        None => ("/".to_string(), "/sys/fs/cgroup".to_string()),
    };
    Some(resolve(fs, path, &mount_root, &point, true))
}

/// Maps a cgroup path to its directory below `point`, given the part of
/// the hierarchy mounted there (`mount_root`). A path outside the mounted
/// part (a namespace showing `/..`, or no mountinfo to say) falls back to
/// the mount's top, which is then the nearest visible ancestor.
fn resolve(
    fs: &Root,
    path: &str,
    mount_root: &str,
    point: &str,
    v2: bool,
) -> (PathBuf, PathBuf, bool) {
    let top = fs.path(point);
    let relative = Path::new(path)
        .strip_prefix(mount_root)
        .ok()
        .filter(|r| plain(r))
        .map(|r| top.join(r))
        .filter(|d| d.is_dir());
    let leaf = relative.unwrap_or_else(|| {
        // mountinfo missing: the path may still be there as is.
        let as_is = Path::new(path.trim_start_matches('/'));
        Some(top.join(as_is))
            .filter(|d| plain(as_is) && d.is_dir())
            .unwrap_or_else(|| top.clone())
    });
    (leaf, top, v2)
}

/// Only normal components: a `..` from the file must not walk us out.
fn plain(p: &Path) -> bool {
    p.components().all(|c| matches!(c, Component::Normal(_)))
}

struct Mount {
    root: String,
    point: String,
    fstype: String,
    options: Vec<String>,
}

/// `36 35 98:0 /root /point rw,noatime shared:1 - cgroup cgroup rw,cpu`:
/// optional fields end at `-`; fstype and super options follow it.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut b = before.split_whitespace();
            let (root, point) = (b.nth(3)?, b.next()?);
            let mut a = after.split_whitespace();
            let fstype = a.next()?;
            let options = a.nth(1).unwrap_or("");
            Some(Mount {
                root: unescape(root),
                point: unescape(point),
                fstype: fstype.to_string(),
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
