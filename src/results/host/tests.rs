//! Host probes against fixture trees built in a temp dir, one per case.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A root directory with just the files a case needs; removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(case: &str) -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("rocketload-host-{case}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Tree {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    fn dir(self, rel: &str) -> Tree {
        std::fs::create_dir_all(self.0.join(rel)).unwrap();
        self
    }

    fn probe(&self) -> Host {
        Host::probe(&self.0, &|_| None)
    }

    fn vm(&self) -> Option<String> {
        self.probe().virtualization.vm
    }

    fn container(&self) -> Option<String> {
        self.probe().virtualization.container
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cpuinfo(processors: u32, flags: &str) -> String {
    (0..processors)
        .map(|i| {
            format!(
                "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
                 model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n\
                 cpu MHz\t\t: 2100.000\nflags\t\t: fpu vme de pse tsc {flags}\n\n"
            )
        })
        .collect()
}

const MEMINFO: &str = "MemTotal:       16314516 kB\nMemFree:         1000000 kB\n";

/// cgroup2 mounted at /sys/fs/cgroup, the whole hierarchy visible.
const MOUNTINFO_V2: &str = "\
25 30 0:23 / /proc rw,nosuid,nodev,noexec,relatime shared:14 - proc proc rw
30 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

/// The parts every Linux host has.
fn linux(case: &str, processors: u32, flags: &str) -> Tree {
    Tree::new(case)
        .file("proc/cpuinfo", cpuinfo(processors, flags))
        .file("proc/meminfo", MEMINFO)
        .file("proc/sys/kernel/osrelease", "6.8.0-45-generic\n")
        .file("proc/sys/kernel/hostname", "loadgen-1\n")
        .file(
            "proc/self/status",
            format!(
                "Name:\trocketload\nTracerPid:\t0\nCpus_allowed_list:\t0-{}\n",
                processors - 1
            ),
        )
}

fn kvm_guest(case: &str) -> Tree {
    linux(case, 2, "hypervisor")
        .file("sys/class/dmi/id/sys_vendor", "QEMU\n")
        .file(
            "sys/class/dmi/id/product_name",
            "Standard PC (Q35 + ICH9, 2009)\n",
        )
        .file("sys/class/dmi/id/bios_vendor", "SeaBIOS\n")
        .file(
            "sys/devices/system/clocksource/clocksource0/available_clocksource",
            "kvm-clock tsc hpet acpi_pm \n",
        )
}

#[test]
fn bare_metal() {
    let tree = linux("bare", 4, "pni sse4_2")
        .file("sys/class/dmi/id/sys_vendor", "Dell Inc.\n")
        .file("sys/class/dmi/id/product_name", "PowerEdge R640\n")
        .file(
            "sys/devices/system/clocksource/clocksource0/available_clocksource",
            "tsc hpet acpi_pm \n",
        )
        .file(
            "proc/self/cgroup",
            "0::/user.slice/user-1000.slice/session-2.scope\n",
        )
        .file("proc/self/mountinfo", MOUNTINFO_V2)
        .file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
        .file(
            "sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/cpu.max",
            "max 100000\n",
        )
        .file(
            "sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/memory.max",
            "max\n",
        );
    let host = tree.probe();
    assert_eq!(
        host,
        Host {
            hostname: "loadgen-1".into(),
            cpu_model: Some("Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz".into()),
            cores: 4,
            cpu_quota_cores: None,
            memory_bytes: Some(16314516 * 1024),
            memory_limit_bytes: None,
            kernel: Some("6.8.0-45-generic".into()),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            virtualization: Virtualization::default(),
        }
    );
}

#[test]
fn kvm_guest_is_kvm() {
    let host = kvm_guest("kvm").probe();
    assert_eq!(host.virtualization.vm.as_deref(), Some("kvm"));
    assert_eq!(host.virtualization.container, None);
    assert_eq!(host.cores, 2);
}

#[test]
fn kvm_guest_without_clocksource_is_qemu_by_dmi() {
    // Without CPUID (or kvm-clock standing in) systemd's DMI step says qemu.
    let tree = kvm_guest("qemu");
    std::fs::remove_file(
        tree.0
            .join("sys/devices/system/clocksource/clocksource0/available_clocksource"),
    )
    .unwrap();
    assert_eq!(tree.vm().as_deref(), Some("qemu"));
    // A product named KVM is checked before the QEMU vendor.
    let tree = tree.file("sys/class/dmi/id/product_name", "KVM\n");
    assert_eq!(tree.vm().as_deref(), Some("kvm"));
}

#[test]
fn cpuid_answer_comes_before_dmi() {
    let tree = kvm_guest("cpuid");
    let probe = |cpuid| {
        Host::probe_with(&tree.0, &|_| None, Some(cpuid))
            .virtualization
            .vm
    };
    assert_eq!(probe(Some("kvm")).as_deref(), Some("kvm"));
    assert_eq!(probe(Some("vmware")).as_deref(), Some("vmware"));
    // Hyper-V's signature defers to DMI, as QEMU can fake it.
    assert_eq!(probe(Some("microsoft")).as_deref(), Some("qemu"));
    assert_eq!(vm_signature(b"KVMKVMKVM"), "kvm");
    assert_eq!(vm_signature(b"bhyve bhyve "), "bhyve");
    assert_eq!(vm_signature(b"NoSuchHyperv"), "vm-other");
}

fn vm_signature(sig: &[u8]) -> &'static str {
    virt::vm_from_cpuid_signature(sig)
}

#[test]
fn hypervisor_flag_alone_is_vm_other() {
    let tree = linux("flag", 1, "hypervisor").file("sys/class/dmi/id/sys_vendor", "Hetzner\n");
    assert_eq!(tree.vm().as_deref(), Some("vm-other"));
}

#[test]
fn dmi_names_vms_as_systemd_does() {
    // (DMI files written, the VM expected)
    type Case = (
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (&[("sys_vendor", "VMware, Inc.")], Some("vmware")),
        (&[("sys_vendor", "innotek GmbH")], Some("oracle")),
        (&[("product_name", "VirtualBox")], Some("oracle")),
        (&[("sys_vendor", "Xen")], Some("xen")),
        (&[("sys_vendor", "Amazon EC2")], Some("amazon")),
        (
            &[("sys_vendor", "Amazon EC2"), ("product_name", "m5.metal")],
            None,
        ),
        (
            &[
                ("sys_vendor", "Google"),
                ("product_name", "Google Compute Engine"),
            ],
            Some("google"),
        ),
        (
            &[("sys_vendor", "Parallels Software International Inc.")],
            Some("parallels"),
        ),
        (&[("sys_vendor", "BHYVE")], Some("bhyve")),
        (&[("product_name", "OpenStack Nova")], Some("kvm")),
        (
            &[
                ("sys_vendor", "Microsoft Corporation"),
                ("product_name", "Virtual Machine"),
            ],
            Some("microsoft"),
        ),
        (
            &[
                ("sys_vendor", "Microsoft Corporation"),
                ("product_name", "Surface Pro 7"),
            ],
            None,
        ),
    ];
    for (files, want) in cases {
        let mut tree = linux("dmi", 1, "");
        for (file, value) in *files {
            tree = tree.file(&format!("sys/class/dmi/id/{file}"), format!("{value}\n"));
        }
        assert_eq!(tree.vm().as_deref(), *want, "{files:?}");
    }
}

#[test]
fn xen_from_proc_and_sysfs() {
    let domu = linux("xen", 1, "").dir("proc/xen");
    assert_eq!(domu.vm().as_deref(), Some("xen"));
    // A dom0 is the host itself.
    let dom0 = domu.file("proc/xen/capabilities", "control_d\n");
    assert_eq!(dom0.vm(), None);
    let hvm = linux("xen-hvm", 1, "").file("sys/hypervisor/type", "xen\n");
    assert_eq!(hvm.vm().as_deref(), Some("xen"));
}

#[test]
fn arm_device_tree() {
    let tree = Tree::new("dt").file("proc/device-tree/hypervisor/compatible", "linux,kvm\0");
    assert_eq!(tree.vm().as_deref(), Some("kvm"));
    let qemu = Tree::new("dt-qemu").dir("proc/device-tree/fw-cfg@9020000");
    assert_eq!(qemu.vm().as_deref(), Some("qemu"));
    let arm = Tree::new("arm").file(
        "proc/cpuinfo",
        "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n",
    );
    assert_eq!(arm.probe().cpu_model.as_deref(), Some("ARM Neoverse-N1"));
}

#[test]
fn docker_on_kvm_with_cgroup_namespace() {
    // In a cgroup namespace the container's cgroup is mounted as the root
    // and /proc/self/cgroup says `0::/`.
    let tree = kvm_guest("docker")
        .file(".dockerenv", "")
        .file("proc/self/cgroup", "0::/\n")
        .file(
            "proc/self/mountinfo",
            "\
600 500 0:50 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u
610 600 0:60 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate
",
        )
        .file("sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n")
        .file("sys/fs/cgroup/cgroup.events", "populated 1\nfrozen 0\n")
        .file("sys/fs/cgroup/cgroup.type", "domain\n")
        .file("sys/fs/cgroup/cpu.max", "200000 100000\n")
        .file("sys/fs/cgroup/memory.max", "536870912\n");
    let host = tree.probe();
    assert_eq!(
        host.virtualization,
        Virtualization {
            vm: Some("kvm".into()),
            container: Some("docker".into()),
        }
    );
    assert_eq!(host.cpu_quota_cores, Some(2.0));
    assert_eq!(host.memory_limit_bytes, Some(512 << 20));

    // Without /.dockerenv, the namespace alone says "some container".
    std::fs::remove_file(tree.0.join(".dockerenv")).unwrap();
    assert_eq!(tree.container().as_deref(), Some("container-other"));
}

#[test]
fn cgroup_v2_quota_and_memory_limit() {
    let service = "sys/fs/cgroup/system.slice/rocketload.service";
    let tree = linux("v2", 4, "")
        .file("proc/self/cgroup", "0::/system.slice/rocketload.service\n")
        .file("proc/self/mountinfo", MOUNTINFO_V2)
        .file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
        .file("sys/fs/cgroup/system.slice/cpu.max", "max 100000\n")
        .file("sys/fs/cgroup/system.slice/memory.max", "max\n")
        .file(&format!("{service}/cpu.max"), "150000 100000\n")
        .file(&format!("{service}/memory.max"), "2147483648\n");
    let host = tree.probe();
    assert_eq!(host.cpu_quota_cores, Some(1.5));
    assert_eq!(host.memory_limit_bytes, Some(2 << 30));
    assert_eq!(host.virtualization.container, None);

    // A tighter limit on an ancestor binds the cgroup too.
    let tree = tree
        .file("sys/fs/cgroup/system.slice/cpu.max", "50000 100000\n")
        .file("sys/fs/cgroup/system.slice/memory.max", "1073741824\n");
    let host = tree.probe();
    assert_eq!(host.cpu_quota_cores, Some(0.5));
    assert_eq!(host.memory_limit_bytes, Some(1 << 30));
}

#[test]
fn cgroup_v2_without_mountinfo_uses_sys_fs_cgroup() {
    let tree = linux("v2-nomount", 2, "")
        .file("proc/self/cgroup", "0::/app\n")
        .file("sys/fs/cgroup/app/cpu.max", "25000 50000\n");
    assert_eq!(tree.probe().cpu_quota_cores, Some(0.5));
}

#[test]
fn cgroup_v1_cfs_quota_and_memory_limit() {
    // Docker on cgroup v1 without a namespace: /proc/self/cgroup shows the
    // full path and the container's directory is bind-mounted as the top.
    let tree = linux("v1", 8, "")
        .file(
            "proc/self/cgroup",
            "12:pids:/docker/abc123\n\
             9:memory:/docker/abc123\n\
             4:cpu,cpuacct:/docker/abc123\n\
             1:name=systemd:/docker/abc123\n",
        )
        .file(
            "proc/self/mountinfo",
            "\
600 500 0:50 / / rw - overlay overlay rw
620 619 0:31 /docker/abc123 /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
621 619 0:32 /docker/abc123 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
",
        )
        .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "300000\n")
        .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        .file("sys/fs/cgroup/memory/memory.limit_in_bytes", "4294967296\n");
    let host = tree.probe();
    assert_eq!(host.cpu_quota_cores, Some(3.0));
    assert_eq!(host.memory_limit_bytes, Some(4 << 30));
    // No /.dockerenv, but the cgroup path names the runtime.
    assert_eq!(host.virtualization.container.as_deref(), Some("docker"));

    // Unlimited as v1 writes it.
    let tree = tree
        .file("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
        .file(
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
    let host = tree.probe();
    assert_eq!(host.cpu_quota_cores, None);
    assert_eq!(host.memory_limit_bytes, None);
}

#[test]
fn cgroup_v1_without_mountinfo_walks_the_usual_layout() {
    let tree = linux("v1-nomount", 2, "")
        .file(
            "proc/self/cgroup",
            "4:cpu,cpuacct:/batch/job\n3:memory:/batch/job\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/batch/job/cpu.cfs_quota_us",
            "-1\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/batch/job/cpu.cfs_period_us",
            "100000\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_quota_us",
            "100000\n",
        )
        .file(
            "sys/fs/cgroup/cpu,cpuacct/batch/cpu.cfs_period_us",
            "100000\n",
        )
        .file(
            "sys/fs/cgroup/memory/batch/job/memory.limit_in_bytes",
            "1048576\n",
        );
    let host = tree.probe();
    assert_eq!(host.cpu_quota_cores, Some(1.0));
    assert_eq!(host.memory_limit_bytes, Some(1 << 20));
}

#[test]
fn kubernetes_from_env_beats_docker() {
    let tree = kvm_guest("k8s").file(".dockerenv", "");
    let env = |key: &str| (key == "KUBERNETES_SERVICE_HOST").then(|| "10.96.0.1".to_string());
    let host = Host::probe(&tree.0, &env);
    assert_eq!(host.virtualization.container.as_deref(), Some("kubernetes"));
    assert_eq!(host.virtualization.vm.as_deref(), Some("kvm"));
    assert_eq!(tree.container().as_deref(), Some("docker"));

    let pod = linux("kubepods", 1, "").file(
        "proc/self/cgroup",
        "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-1a2b.scope\n",
    );
    assert_eq!(pod.container().as_deref(), Some("kubernetes"));
}

#[test]
fn containers_named_as_systemd_does() {
    let cases: Vec<(Tree, &str)> = vec![
        (Tree::new("podman").file("run/.containerenv", ""), "podman"),
        (Tree::new("openvz").dir("proc/vz"), "openvz"),
        (
            Tree::new("wsl").file(
                "proc/sys/kernel/osrelease",
                "5.15.153.1-microsoft-standard-WSL2\n",
            ),
            "wsl",
        ),
        (
            Tree::new("nspawn").file("run/systemd/container", "systemd-nspawn\n"),
            "systemd-nspawn",
        ),
        (
            Tree::new("lxc").file("proc/1/environ", b"PATH=/bin\0container=lxc\0HOME=/\0"),
            "lxc",
        ),
        (
            Tree::new("oci")
                .file("proc/1/environ", b"container=oci\0")
                .file(".dockerenv", ""),
            "docker",
        ),
        (
            Tree::new("unknown").file("run/systemd/container", "acme-jail\n"),
            "container-other",
        ),
        (
            Tree::new("proot")
                .file("proc/self/status", "TracerPid:\t42\n")
                .file("proc/42/comm", "proot\n"),
            "proot",
        ),
    ];
    for (tree, want) in &cases {
        assert_eq!(tree.container().as_deref(), Some(*want), "{:?}", tree.0);
    }
    // OpenVZ's host has /proc/bc as well.
    let host = Tree::new("openvz-host").dir("proc/vz").dir("proc/bc");
    assert_eq!(host.container(), None);
}

const STAT_EARLIER: &str = "cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n";
const STAT_LATER: &str = "cpu  200 0 100 1500 20 0 0 180 30 0\ncpu0 100 0 50 750 10 0 0 90 15 0\n";

#[test]
fn cpu_steal_between_two_readings() {
    let earlier = CpuTimes::read(&Tree::new("stat1").file("proc/stat", STAT_EARLIER).0).unwrap();
    let later = CpuTimes::read(&Tree::new("stat2").file("proc/stat", STAT_LATER).0).unwrap();
    assert_eq!(earlier.steal, 40);
    assert_eq!(later.guest, 30);
    // 140 stolen of 1000 ticks; guest time is already inside user.
    let steal = later.steal_since(&earlier).unwrap();
    assert!((steal - 0.14).abs() < 1e-12, "{steal}");
    assert_eq!(later.steal_since(&later), None, "no time passed");
    assert_eq!(earlier.steal_since(&later), None, "counters went backwards");
    // Kernels older than 2.6.11 print four counters.
    let old = CpuTimes::parse("cpu 1 2 3 4\n").unwrap();
    assert_eq!((old.idle, old.steal), (4, 0));
}

#[test]
fn garbage_gives_none_without_panic() {
    let noise: &[u8] = b"\0\xff\xfe:::\n-\n\\777 \\\n";
    let files = [
        "proc/cpuinfo",
        "proc/meminfo",
        "proc/stat",
        "proc/self/status",
        "proc/self/cgroup",
        "proc/self/mountinfo",
        "proc/1/environ",
        "proc/sys/kernel/osrelease",
        "proc/sysinfo",
        "proc/device-tree/hypervisor/compatible",
        "sys/class/dmi/id/sys_vendor",
        "sys/firmware/dmi/entries/0-0/raw",
        "sys/hypervisor/properties/features",
        "sys/devices/system/clocksource/clocksource0/available_clocksource",
        "sys/fs/cgroup/cpu.max",
        "sys/fs/cgroup/memory.max",
        "run/systemd/container",
    ];
    let mut tree = Tree::new("noise");
    for file in files {
        tree = tree.file(file, noise);
    }
    let host = tree.probe();
    assert_eq!(host.cores, 1);
    assert_eq!(host.cpu_quota_cores, None);
    assert_eq!(host.memory_bytes, None);
    assert_eq!(host.memory_limit_bytes, None);
    assert_eq!(CpuTimes::read(&tree.0), None);

    // Well-formed lines with numbers that do not fit, or make no sense.
    let tree = Tree::new("huge")
        .file("proc/meminfo", "MemTotal: 18446744073709551615 kB\n")
        .file("proc/self/status", "Cpus_allowed_list:\t7-2\n")
        .file("proc/cpuinfo", "processor : 0\nmodel name :\n")
        .file("proc/stat", "cpu 1 2 3 99999999999999999999999\n")
        .file("proc/self/cgroup", "0::/../../..\n")
        .file("sys/fs/cgroup/cpu.max", "99999999999999999999 100000\n")
        .file("sys/fs/cgroup/memory.max", "-5\n");
    let host = tree.probe();
    assert_eq!(host.memory_bytes, None);
    assert_eq!(host.cores, 1);
    assert_eq!(host.cpu_model, None);
    assert_eq!(host.cpu_quota_cores, None);
    assert_eq!(host.memory_limit_bytes, None);
    assert_eq!(CpuTimes::read(&tree.0), None);
    let quota = tree.file("sys/fs/cgroup/cpu.max", "100000 0\n");
    assert_eq!(quota.probe().cpu_quota_cores, None);

    // An empty root: nothing known, nothing detected.
    let empty = Tree::new("empty").probe();
    assert_eq!(
        (empty.cores, empty.kernel, empty.virtualization),
        (1, None, Virtualization::default())
    );
}

#[test]
fn cores_follow_the_affinity_mask() {
    let tree = linux("affinity", 8, "").file("proc/self/status", "Cpus_allowed_list:\t0,2-3\n");
    assert_eq!(tree.probe().cores, 3);
    // Possible-but-offline CPUs in the mask do not count.
    let tree = tree.file("proc/self/status", "Cpus_allowed_list:\t0-63\n");
    assert_eq!(tree.probe().cores, 8);
}

#[test]
fn json_field_names_are_the_contract() {
    let host = kvm_guest("json").probe();
    let json = serde_json::to_value(&host).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "hostname",
        "cpu_model",
        "cores",
        "cpu_quota_cores",
        "memory_bytes",
        "memory_limit_bytes",
        "kernel",
        "os",
        "arch",
        "virtualization",
    ];
    let mut keys = keys;
    keys.sort_unstable();
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(
        json["virtualization"],
        serde_json::json!({"vm": "kvm", "container": null})
    );
    let back: Host = serde_json::from_value(json).unwrap();
    assert_eq!(back, host);
}

#[test]
fn current_host_probes_without_panicking() {
    let host = Host::current();
    assert!(host.cores >= 1);
    assert_eq!(host.os, std::env::consts::OS);
    if let Some(quota) = host.cpu_quota_cores {
        assert!(quota > 0.0);
    }
    assert!(CpuTimes::read(Path::new("/")).is_some() || !cfg!(target_os = "linux"));
}
