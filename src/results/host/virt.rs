//! Virtualization, decided as systemd-detect-virt decides it
//! (systemd src/basic/virt.c), in the same order and with the same names,
//! but reporting both layers: the VM and the container inside it.
//!
//! systemd trusts CPUID early. From a root directory there is no CPU to
//! ask, so at that step file evidence stands in: the clocksource the
//! kernel registered (it registers kvm-clock or the Hyper-V clocksource
//! only after finding that hypervisor's CPUID signature) and the
//! `hypervisor` CPU flag (CPUID leaf 1 bit 31, which says "some VM").

use super::{Root, fields};

/// systemd's container names; anything else a manager announces is
/// `container-other`.
const CONTAINERS: &[&str] = &[
    "lxc",
    "lxc-libvirt",
    "systemd-nspawn",
    "docker",
    "podman",
    "rkt",
    "wsl",
    "proot",
    "pouch",
];

const OTHER_VM: &str = "vm-other";
const OTHER_CONTAINER: &str = "container-other";

/// What CPUID leaf 0x40000000 says on this CPU: `Some(None)` for no
/// hypervisor, `Some(Some(name))` for one, `None` where CPUID does not exist.
pub(super) fn cpuid() -> Option<Option<&'static str>> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(cpuid_x86_64())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
// Newer toolchains made `__cpuid` safe; the block keeps older ones building.
#[allow(unused_unsafe)]
fn cpuid_x86_64() -> Option<&'static str> {
    use core::arch::x86_64::__cpuid;
    // SAFETY: every x86_64 CPU implements CPUID and leaf 1. The leaf
    // 0x40000000 is asked only when leaf 1 says a hypervisor provides it
    // (an out-of-range leaf never faults anyway).
    let leaf1 = unsafe { __cpuid(1) };
    if leaf1.ecx & (1 << 31) == 0 {
        return None;
    }
    let leaf = unsafe { __cpuid(0x4000_0000) };
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&leaf.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&leaf.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&leaf.edx.to_le_bytes());
    let end = sig.iter().position(|b| *b == 0).unwrap_or(sig.len());
    Some(vm_from_cpuid_signature(&sig[..end]))
}

// Tested everywhere; called only where CPUID exists.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) fn vm_from_cpuid_signature(sig: &[u8]) -> &'static str {
    match sig {
        b"XenVMMXenVMM" => "xen",
        b"KVMKVMKVM" | b"Linux KVM Hv" => "kvm",
        b"TCGTCGTCGTCG" => "qemu",
        b"VMwareVMware" => "vmware",
        b"Microsoft Hv" => "microsoft",
        b"bhyve bhyve " => "bhyve",
        b"QNXQVMBSQG" => "qnx",
        b"ACRNACRNACRN" => "acrn",
        b"SRESRESRESRE" => "sre",
        b"Apple VZ" => "apple",
        _ => OTHER_VM,
    }
}

/// The file stand-in for CPUID (see the module doc).
fn cpuid_from_files(fs: &Root) -> Option<&'static str> {
    let clock = fs
        .read("sys/devices/system/clocksource/clocksource0/available_clocksource")
        .unwrap_or_default();
    for source in clock.split_whitespace() {
        if source == "kvm-clock" {
            return Some("kvm");
        }
        if source.starts_with("hyperv_clocksource") {
            return Some("microsoft");
        }
    }
    let cpuinfo = fs.read("proc/cpuinfo").unwrap_or_default();
    let flagged = fields(&cpuinfo)
        .filter(|(k, _)| *k == "flags")
        .any(|(_, v)| v.split_whitespace().any(|f| f == "hypervisor"));
    flagged.then_some(OTHER_VM)
}

/// The VM layer; `None` for bare metal. `cpuid` as in `Host::probe_with`.
pub(super) fn detect_vm(fs: &Root, cpuid: Option<Option<&'static str>>) -> Option<&'static str> {
    let (mut hyperv, mut other) = (false, false);
    let finish = |v: Option<&'static str>, hyperv: bool, other: bool| {
        v.or(if hyperv {
            Some("microsoft")
        } else if other {
            Some(OTHER_VM)
        } else {
            None
        })
    };

    // These run on KVM (or cloak as Hyper-V) yet are better named by DMI.
    let dmi = dmi(fs);
    if matches!(
        dmi,
        Some("oracle" | "xen" | "amazon" | "parallels" | "google")
    ) {
        return dmi;
    }
    if uml(fs) {
        return Some("uml");
    }
    // Xen PV does not show in CPUID when nested, so ask it first; a dom0
    // is the host, not a guest, unless CPUID finds a VM beneath it.
    let xen_dom0 = fs.exists("proc/xen") && xen_is_dom0(fs);
    if fs.exists("proc/xen") && !xen_dom0 {
        return Some("xen");
    }
    match cpuid.unwrap_or_else(|| cpuid_from_files(fs)) {
        // QEMU with Hyper-V enlightenments also says Microsoft; decide later.
        Some("microsoft") => hyperv = true,
        Some(OTHER_VM) => other = true,
        Some(v) => return Some(v),
        None => {}
    }
    if xen_dom0 {
        return finish(None, hyperv, other);
    }
    match dmi {
        Some(OTHER_VM) => other = true,
        Some(v) => return Some(v),
        None => {}
    }
    for v in [hypervisor_type(fs), device_tree(fs)] {
        match v {
            Some(OTHER_VM) => other = true,
            Some(v) => return Some(v),
            None => {}
        }
    }
    finish(zvm(fs), hyperv, other)
}

/// DMI vendor strings, first match by prefix; product_name goes first so
/// that a product named "KVM" wins over the "QEMU" vendor.
fn dmi_vendor(fs: &Root) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("KVM", "kvm"),
        ("OpenStack", "kvm"),
        ("KubeVirt", "kvm"),
        ("Amazon EC2", "amazon"),
        ("QEMU", "qemu"),
        ("VMware", "vmware"),
        ("VMW", "vmware"),
        ("innotek GmbH", "oracle"),
        ("VirtualBox", "oracle"),
        ("Oracle Corporation", "oracle"),
        ("Xen", "xen"),
        ("Bochs", "bochs"),
        ("Parallels", "parallels"),
        ("BHYVE", "bhyve"),
        ("Hyper-V", "microsoft"),
        ("Apple Virtualization", "apple"),
        ("Google Compute Engine", "google"),
    ];
    let files = [
        "product_name",
        "sys_vendor",
        "board_vendor",
        "bios_vendor",
        "product_version",
    ];
    for file in files {
        let Some(value) = fs.line(&format!("sys/class/dmi/id/{file}")) else {
            continue;
        };
        if let Some((_, vm)) = TABLE.iter().find(|(prefix, _)| value.starts_with(prefix)) {
            return Some(vm);
        }
    }
    // Hyper-V names itself in DMI only this way; systemd learns it from
    // CPUID, which a root directory cannot give.
    let dmi = |f: &str| fs.line(&format!("sys/class/dmi/id/{f}"));
    if dmi("sys_vendor").as_deref() == Some("Microsoft Corporation")
        && dmi("product_name").as_deref() == Some("Virtual Machine")
    {
        return Some("microsoft");
    }
    None
}

fn dmi(fs: &Root) -> Option<&'static str> {
    let vendor = dmi_vendor(fs);
    // EC2 metal instances carry the same vendor strings as its VMs.
    if vendor == Some("amazon") {
        return match smbios_vm_bit(fs) {
            Some(true) => Some("amazon"),
            Some(false) => None,
            None => {
                let name = fs.line("sys/class/dmi/id/product_name");
                let metal = name.as_deref().and_then(|n| n.split_once(".metal"));
                match metal {
                    Some((_, rest)) if rest.is_empty() || rest.starts_with('-') => None,
                    _ => Some("amazon"),
                }
            }
        };
    }
    if vendor.is_none() && smbios_vm_bit(fs) == Some(true) {
        return Some(OTHER_VM);
    }
    vendor
}

/// SMBIOS BIOS Characteristics Extension Byte 2, bit 4: "this is a VM".
/// `None` when the table is unreadable (it is root-only) or too short.
fn smbios_vm_bit(fs: &Root) -> Option<bool> {
    let raw = fs.bytes("sys/firmware/dmi/entries/0-0/raw")?;
    if raw.len() < 20 || raw[1] < 20 {
        return None;
    }
    Some(raw[19] & (1 << 4) != 0)
}

fn uml(fs: &Root) -> bool {
    let cpuinfo = fs.read("proc/cpuinfo").unwrap_or_default();
    fields(&cpuinfo)
        .find(|(k, _)| *k == "vendor_id")
        .is_some_and(|(_, v)| v.starts_with("User Mode Linux"))
}

fn xen_is_dom0(fs: &Root) -> bool {
    const XENFEAT_DOM0: u32 = 11;
    if let Some(features) = fs.line("sys/hypervisor/properties/features")
        && let Ok(bits) = u64::from_str_radix(&features, 16)
    {
        return bits & (1 << XENFEAT_DOM0) != 0;
    }
    fs.line("proc/xen/capabilities")
        .is_some_and(|caps| caps.split(',').any(|c| c.trim() == "control_d"))
}

fn hypervisor_type(fs: &Root) -> Option<&'static str> {
    let kind = fs.line("sys/hypervisor/type")?;
    Some(if kind == "xen" { "xen" } else { OTHER_VM })
}

/// ARM, PowerPC and RISC-V guests say it in the device tree. systemd looks
/// only on those architectures; x86 has no /proc/device-tree, so looking
/// everywhere gives the same answer and keeps fixtures arch-independent.
fn device_tree(fs: &Root) -> Option<&'static str> {
    if let Some(hv) = fs.line("proc/device-tree/hypervisor/compatible") {
        return Some(if hv == "linux,kvm" {
            "kvm"
        } else if hv.contains("xen") {
            "xen"
        } else if hv.contains("vmware") {
            "vmware"
        } else {
            OTHER_VM
        });
    }
    if fs.exists("proc/device-tree/ibm,partition-name")
        && fs.exists("proc/device-tree/hmc-managed?")
        && !fs.exists("proc/device-tree/chosen/qemu,graphic-width")
    {
        return Some("powervm");
    }
    let fw_cfg = std::fs::read_dir(fs.path("proc/device-tree")).is_ok_and(|dir| {
        dir.flatten()
            .any(|e| e.file_name().to_string_lossy().contains("fw-cfg"))
    });
    if fw_cfg || fs.line("proc/device-tree/compatible").as_deref() == Some("qemu,pseries") {
        return Some("qemu");
    }
    None
}

/// s390: z/VM or KVM, from /proc/sysinfo.
fn zvm(fs: &Root) -> Option<&'static str> {
    let sysinfo = fs.read("proc/sysinfo")?;
    let (_, program) = fields(&sysinfo).find(|(k, _)| *k == "VM00 Control Program")?;
    Some(if program.split_whitespace().next() == Some("z/VM") {
        "zvm"
    } else {
        "kvm"
    })
}

/// The container layer; `None` outside one. A pod is `kubernetes` whatever
/// runtime runs it: the runtime is an implementation detail of the cluster.
pub(super) fn detect_container(fs: &Root, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if env("KUBERNETES_SERVICE_HOST").is_some_and(|h| !h.is_empty()) {
        return Some("kubernetes".to_string());
    }
    systemd_container(fs).map(str::to_string)
}

fn systemd_container(fs: &Root) -> Option<&'static str> {
    // /proc/vz exists inside and outside OpenVZ containers, /proc/bc only outside.
    if fs.exists("proc/vz") && !fs.exists("proc/bc") {
        return Some("openvz");
    }
    // Microsoft's documented way to tell WSL.
    if let Some(release) = fs.line("proc/sys/kernel/osrelease")
        && (release.contains("Microsoft") || release.contains("WSL"))
    {
        return Some("wsl");
    }
    if proot(fs) {
        return Some("proot");
    }
    // What the manager (or systemd as PID 1) announced, most trusted first.
    // /proc/1/environ needs ptrace rights over PID 1; often unreadable.
    let announced = fs
        .line("run/host/container-manager")
        .filter(|m| !m.is_empty())
        .or_else(|| fs.line("run/systemd/container").filter(|m| !m.is_empty()))
        .or_else(|| pid1_container_env(fs));
    if let Some(name) = announced {
        if name == "oci" {
            // Some images hard-code container=oci, which names no manager.
            return Some(container_files(fs).unwrap_or(OTHER_CONTAINER));
        }
        return Some(
            CONTAINERS
                .iter()
                .copied()
                .find(|c| *c == name)
                .unwrap_or(OTHER_CONTAINER),
        );
    }
    // Files last: /.dockerenv can end up in any image built by Docker.
    container_files(fs)
        .or_else(|| cgroup_path_hint(fs))
        .or_else(|| cgroup_namespaced(fs).then_some(OTHER_CONTAINER))
}

fn proot(fs: &Root) -> bool {
    let status = fs.read("proc/self/status").unwrap_or_default();
    let tracer = fields(&status)
        .find(|(k, _)| *k == "TracerPid")
        .and_then(|(_, v)| v.parse::<u32>().ok());
    match tracer {
        Some(pid) if pid != 0 => fs
            .line(&format!("proc/{pid}/comm"))
            .is_some_and(|comm| comm.starts_with("proot")),
        _ => false,
    }
}

fn pid1_container_env(fs: &Root) -> Option<String> {
    let environ = fs.bytes("proc/1/environ")?;
    environ
        .split(|b| *b == 0)
        .find_map(|var| var.strip_prefix(b"container="))
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .filter(|v| !v.is_empty())
}

fn container_files(fs: &Root) -> Option<&'static str> {
    if fs.exists("run/.containerenv") {
        Some("podman")
    } else if fs.exists(".dockerenv") {
        Some("docker")
    } else {
        None
    }
}

/// Not in systemd: runtimes that leave no file still name themselves in
/// the cgroup path when there is no cgroup namespace to hide it.
fn cgroup_path_hint(fs: &Root) -> Option<&'static str> {
    let membership = fs.read("proc/self/cgroup")?;
    for line in membership.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for segment in path.split('/') {
            if segment.starts_with("kubepods") {
                return Some("kubernetes");
            }
            // dockerd itself runs in docker.service; containers in
            // /docker/<id> (cgroupfs driver) or docker-<id>.scope (systemd).
            if segment == "docker" || segment.starts_with("docker-") && segment.ends_with(".scope")
            {
                return Some("docker");
            }
            if segment.starts_with("libpod-") {
                return Some("podman");
            }
            if segment == "lxc" || segment.starts_with("lxc.payload") {
                return Some("lxc");
            }
        }
    }
    None
}

/// A process in a cgroup namespace sees its own cgroup as the root of
/// /sys/fs/cgroup; systemd reads that as "some container".
fn cgroup_namespaced(fs: &Root) -> bool {
    if fs.exists("sys/fs/cgroup/cgroup.controllers") {
        // v2: cgroup.events exists in every cgroup but the real root;
        // cgroup.type too, on kernels that have it.
        if !fs.exists("sys/fs/cgroup/cgroup.events") {
            return false;
        }
        fs.exists("sys/fs/cgroup/cgroup.type") || !fs.exists("sys/kernel/cgroup/features")
    } else {
        // v1: release_agent exists only in the root of the named hierarchy.
        fs.exists("sys/fs/cgroup/systemd") && !fs.exists("sys/fs/cgroup/systemd/release_agent")
    }
}
