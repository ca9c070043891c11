//! The host fingerprint: what the machine generating load is.
//!
//! Results from a 1-core container and a 4-core VM are not comparable, so
//! every run records the cores this process may use, the cgroup quota and
//! memory limit it runs under, the CPU model, the kernel, and the two
//! layers of virtualization (a container on a VM has both), named as
//! `systemd-detect-virt` names them. CPU steal between two `/proc/stat`
//! readings tells whether a noisy neighbour took time during the run.
//!
//! Everything is read from files below a root directory (`/` in
//! production) rather than from fixed paths, so tests point the probe at
//! fixture trees. The one exception is CPUID, which no file can stand in
//! for: [`Host::current`] asks the CPU on x86_64, [`Host::probe`] uses
//! file evidence only. Nothing here fails: a missing, unreadable or
//! garbled file makes its field unknown (`None`), never an error.

mod cgroup;
mod virt;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The machine that generated the load.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    /// `model name` of /proc/cpuinfo, or what other architectures print
    /// instead; `None` when nothing names the CPU.
    pub cpu_model: Option<String>,
    /// Cores this process may run on (its affinity mask, capped by the
    /// online processors); at least 1.
    pub cores: u32,
    /// The cgroup CPU quota in cores (1.5 = one and a half cores of time
    /// per period), the smallest along the cgroup's ancestors; `None` when
    /// unlimited or unknown.
    pub cpu_quota_cores: Option<f64>,
    /// `MemTotal` of /proc/meminfo.
    pub memory_bytes: Option<u64>,
    /// The cgroup memory limit, the smallest along the cgroup's ancestors;
    /// `None` when unlimited or unknown.
    pub memory_limit_bytes: Option<u64>,
    /// /proc/sys/kernel/osrelease, e.g. `6.8.0-45-generic`.
    pub kernel: Option<String>,
    /// `std::env::consts::OS` of this build.
    pub os: String,
    /// `std::env::consts::ARCH` of this build.
    pub arch: String,
    pub virtualization: Virtualization,
}

/// Both layers of virtualization, with systemd-detect-virt's names
/// (`kvm`, `vmware`, `vm-other`, ...; `docker`, `podman`, `wsl`,
/// `container-other`, ...) plus `kubernetes` for a pod. `None` = none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Virtualization {
    pub vm: Option<String>,
    pub container: Option<String>,
}

impl Host {
    /// Probes the machine under `root` ("/" in production) from files only.
    /// `env` answers environment lookups (tests pass a closure).
    pub fn probe(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Host {
        Host::probe_with(root, env, None)
    }

    /// This machine: `probe("/", std::env::var)`, plus CPUID where the CPU
    /// has it, since that is the evidence systemd trusts first.
    pub fn current() -> Host {
        Host::probe_with(
            Path::new("/"),
            &|key| std::env::var(key).ok(),
            virt::cpuid(),
        )
    }

    /// `cpuid`: what CPUID said (`Some(None)` = no hypervisor), or `None`
    /// when it cannot be asked and file evidence stands in.
    fn probe_with(
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
        cpuid: Option<Option<&'static str>>,
    ) -> Host {
        let fs = Root(root);
        let cpuinfo = fs.read("proc/cpuinfo").unwrap_or_default();
        let hostname = fs
            .line("proc/sys/kernel/hostname")
            .or_else(|| fs.line("etc/hostname"))
            .filter(|h| !h.is_empty())
            .or_else(|| env("HOSTNAME"))
            .unwrap_or_default();
        Host {
            hostname,
            cpu_model: cpu_model(&cpuinfo),
            cores: cores(&fs, &cpuinfo),
            cpu_quota_cores: cgroup::cpu_quota_cores(&fs),
            memory_bytes: fs.read("proc/meminfo").as_deref().and_then(mem_total),
            memory_limit_bytes: cgroup::memory_limit_bytes(&fs),
            kernel: fs
                .line("proc/sys/kernel/osrelease")
                .filter(|k| !k.is_empty()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            virtualization: Virtualization {
                vm: virt::detect_vm(&fs, cpuid).map(str::to_string),
                container: virt::detect_container(&fs, env),
            },
        }
    }
}

/// CPU time counters of the aggregate `cpu` line of /proc/stat, in ticks
/// (USER_HZ). Fields a kernel does not print are 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
    /// Already counted in `user`; kept for completeness, not summed.
    pub guest: u64,
    /// Already counted in `nice`; kept for completeness, not summed.
    pub guest_nice: u64,
}

impl CpuTimes {
    /// Reads `<root>/proc/stat`; `None` when it is missing or garbled.
    pub fn read(root: &Path) -> Option<CpuTimes> {
        CpuTimes::parse(&Root(root).read("proc/stat")?)
    }

    fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat
            .lines()
            .find(|l| l.split_whitespace().next() == Some("cpu"))?;
        let values = line
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()?;
        // user nice system idle exist on every kernel; the rest came later.
        if values.len() < 4 {
            return None;
        }
        let at = |i: usize| values.get(i).copied().unwrap_or(0);
        Some(CpuTimes {
            user: at(0),
            nice: at(1),
            system: at(2),
            idle: at(3),
            iowait: at(4),
            irq: at(5),
            softirq: at(6),
            steal: at(7),
            guest: at(8),
            guest_nice: at(9),
        })
    }

    /// The counters that add up to all CPU time (guest time is inside user).
    fn summed(&self) -> [u64; 8] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
    }

    /// Fraction (0..=1) of all CPU time between `earlier` and `self` that
    /// the hypervisor stole; `None` when no time passed or counters went
    /// backwards (a different boot, or a bogus reading).
    pub fn steal_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let mut total: u64 = 0;
        for (now, then) in self.summed().into_iter().zip(earlier.summed()) {
            total = total.checked_add(now.checked_sub(then)?)?;
        }
        if total == 0 {
            return None;
        }
        let stolen = self.steal - earlier.steal;
        Some((stolen as f64 / total as f64).clamp(0.0, 1.0))
    }
}

/// Files below the probed root. Reads are bounded so that a fixture (or a
/// hostile /proc) pointing at an endless file cannot hang or exhaust us.
struct Root<'a>(&'a Path);

const READ_LIMIT: u64 = 1 << 20;

impl Root<'_> {
    /// `rel` below the root; `rel` may start with `/` (paths from
    /// mountinfo do).
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel.trim_start_matches('/'))
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    fn bytes_at(path: &Path) -> Option<Vec<u8>> {
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .ok()?
            .take(READ_LIMIT)
            .read_to_end(&mut buf)
            .ok()?;
        Some(buf)
    }

    fn bytes(&self, rel: &str) -> Option<Vec<u8>> {
        Root::bytes_at(&self.path(rel))
    }

    fn read_at(path: &Path) -> Option<String> {
        Root::bytes_at(path).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn read(&self, rel: &str) -> Option<String> {
        Root::read_at(&self.path(rel))
    }

    /// The first line, trimmed, as systemd's read_one_line_file gives it:
    /// an empty file is `Some("")`, a missing one `None`. Stops at a NUL
    /// too, since device-tree strings are NUL-terminated.
    fn line(&self, rel: &str) -> Option<String> {
        let text = self.read(rel)?;
        let first = text.split(['\n', '\0']).next().unwrap_or("");
        Some(first.trim().to_string())
    }
}

/// `key : value` pairs of /proc/cpuinfo (and /proc/self/status).
fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let (k, v) = l.split_once(':')?;
        Some((k.trim(), v.trim()))
    })
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        fields(cpuinfo)
            .find(|(k, v)| *k == key && !v.is_empty())
            .map(|(_, v)| v.to_string())
    };
    // x86 and some ARM kernels; 32-bit ARM; MIPS; PowerPC; RISC-V.
    ["model name", "Processor", "cpu model", "cpu", "uarch"]
        .into_iter()
        .find_map(field)
        .or_else(|| arm_part(&field("CPU implementer")?, &field("CPU part")?))
}

/// arm64 kernels print only the MIDR codes; name the common server and
/// board cores, and keep the codes for the rest so hosts still differ.
fn arm_part(implementer: &str, part: &str) -> Option<String> {
    let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let (imp, p) = (hex(implementer)?, hex(part)?);
    let name = match (imp, p) {
        (0x41, 0xd03) => "ARM Cortex-A53",
        (0x41, 0xd05) => "ARM Cortex-A55",
        (0x41, 0xd07) => "ARM Cortex-A57",
        (0x41, 0xd08) => "ARM Cortex-A72",
        (0x41, 0xd0b) => "ARM Cortex-A76",
        (0x41, 0xd0c) => "ARM Neoverse-N1",
        (0x41, 0xd40) => "ARM Neoverse-V1",
        (0x41, 0xd49) => "ARM Neoverse-N2",
        (0x41, 0xd4f) => "ARM Neoverse-V2",
        (0x48, 0xd01) => "HiSilicon Kunpeng-920",
        (0xc0, 0xac3) => "Ampere-1",
        _ => return Some(format!("implementer {imp:#x} part {p:#x}")),
    };
    Some(name.to_string())
}

/// The affinity mask is what the process may use; it can list possible but
/// offline CPUs, so cap it by the processors cpuinfo shows online.
fn cores(fs: &Root, cpuinfo: &str) -> u32 {
    let allowed = fs.read("proc/self/status").and_then(|status| {
        fields(&status)
            .find(|(k, _)| *k == "Cpus_allowed_list")
            .and_then(|(_, v)| cpu_list_len(v))
    });
    let online = fields(cpuinfo).filter(|(k, _)| *k == "processor").count();
    let online = u32::try_from(online).ok().filter(|n| *n > 0);
    match (allowed, online) {
        (Some(a), Some(o)) => a.min(o),
        (a, o) => a.or(o).unwrap_or(1),
    }
}

/// Counts a kernel CPU list such as `0-3,8,10-11`; `None` when garbled.
fn cpu_list_len(list: &str) -> Option<u32> {
    let mut n: u32 = 0;
    for part in list.trim().split(',') {
        let count = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                b.checked_sub(a)?.checked_add(1)?
            }
            None => {
                part.parse::<u32>().ok()?;
                1
            }
        };
        n = n.checked_add(count)?;
    }
    (n > 0).then_some(n)
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let (_, v) = fields(meminfo).find(|(k, _)| *k == "MemTotal")?;
    let kib = v.strip_suffix("kB").unwrap_or(v).trim();
    kib.parse::<u64>().ok()?.checked_mul(1024)
}
