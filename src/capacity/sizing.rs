//! A measured capacity set against Rocket.Chat's published sizing: the
//! hardware table (which profile this host is, what it promises) and the
//! rule of N−1 Rocket.Chat instances on an N-core host. The facts live in
//! `hardware.json`, with their sources, so a new docs edition is a data
//! change, not a code change.
//!
//! Only x86 server rows are yardsticks: the Raspberry Pi row is ARM with an
//! external MongoDB, so its promise says nothing about a host running both.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// The host the capacity was measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSize {
    /// Cores available to Rocket.Chat (fractional under a CPU quota).
    pub cores: f64,
    /// Memory (e.g. MemTotal), None when unknown.
    pub memory_bytes: Option<u64>,
    /// where the size came from: "flags" or "fingerprint"
    pub source: String,
}

/// The measured capacity set against the published table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sizing {
    pub host: HostSize,
    /// The table row used as the yardstick; None below the minimum.
    pub profile: Option<String>,
    /// The row's concurrently active users.
    pub promised_concurrent: Option<u64>,
    /// The row's total users.
    pub promised_users: Option<u64>,
    /// Concurrent users carried within the SLO, as given.
    pub measured_concurrent: f64,
    /// measured / promised; None without a promise or with a measurement
    /// that is not a finite count ≥ 0.
    pub headroom: Option<f64>,
    /// headroom < 1.
    pub shortfall: bool,
    /// Rocket.Chat instances for this host by the N−1 rule, at least 1.
    pub recommended_instances: u32,
    /// Where the table and the rule come from.
    pub source: String,
    /// One line for people, e.g. "carried 1,340 concurrent users at …".
    pub text: String,
}

/// Rocket.Chat's published hardware table, as shipped in `hardware.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareTable {
    pub source: TableSource,
    pub profiles: Vec<Profile>,
    pub instances: InstanceRule,
}

/// Where the table's facts were published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSource {
    /// Paths of the hardware table in the RocketChat/docs repository.
    pub table: Vec<String>,
    /// Which docs edition the figures are from.
    pub era: String,
    /// URLs of the instances-per-host rule.
    pub instances: Vec<String>,
}

/// One row of the hardware table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// "x86-64" or "arm"; only x86-64 rows are yardsticks.
    pub arch: String,
    /// CPU model when the docs name one.
    pub cpu: Option<String>,
    pub cores: u32,
    pub cpu_ghz: Option<f64>,
    /// As published ("GB"), read as 2^30 bytes: what VPS sellers mean.
    pub memory_gb: f64,
    pub disk: Option<String>,
    pub users_max: u64,
    pub concurrent_max: u64,
    /// Caveats such as "external MongoDB".
    pub notes: Option<String>,
}

/// The instances-per-host rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceRule {
    pub rule: String,
    /// Cores left to MongoDB and the OS: 1 for "N−1 instances".
    pub reserve_cores: u32,
}

const SERVER_ARCH: &str = "x86-64";

const GIB: f64 = 1_073_741_824.0;

/// A "2 GB" VPS reports somewhat less than 2 GiB of MemTotal (the kernel
/// keeps some, e.g. 1.9 GiB), so memory counts as meeting a row from 90 %
/// of it, and as exceeding a row only beyond 110 %.
const MEMORY_TOLERANCE: f64 = 0.10;

static TABLE: LazyLock<HardwareTable> = LazyLock::new(|| {
    // The file is compiled in and `table_parses` proves it parses, so this
    // cannot fail at run time.
    serde_json::from_str(include_str!("hardware.json")).expect("capacity/hardware.json parses")
});

/// The published table, parsed once.
pub fn table() -> &'static HardwareTable {
    &TABLE
}

/// Sets `measured_concurrent` users, carried while `held` (the SLO, e.g.
/// "message.e2e p95<500ms") held, against the table row `host` qualifies
/// for: the largest x86 row whose cores and memory it meets.
pub fn sizing(host: &HostSize, measured_concurrent: f64, held: &str) -> Sizing {
    let t = table();
    let servers: Vec<&Profile> = t
        .profiles
        .iter()
        .filter(|p| p.arch == SERVER_ARCH)
        .collect();
    let memory_gib = host.memory_bytes.map(|b| b as f64 / GIB);
    let meets = |p: &&&Profile| {
        host.cores >= f64::from(p.cores)
            && memory_gib.is_none_or(|m| m >= p.memory_gb * (1.0 - MEMORY_TOLERANCE))
    };
    let profile = servers
        .iter()
        .filter(meets)
        .max_by_key(|p| p.concurrent_max);
    let largest = servers.iter().max_by_key(|p| p.concurrent_max);

    let valid_measure = measured_concurrent.is_finite() && measured_concurrent >= 0.0;
    let headroom = profile
        .filter(|p| valid_measure && p.concurrent_max > 0)
        .map(|p| measured_concurrent / p.concurrent_max as f64);
    let shortfall = headroom.is_some_and(|h| h < 1.0);

    let carried = if held.trim().is_empty() {
        format!(
            "carried {} concurrent users",
            thousands(measured_concurrent, 0)
        )
    } else {
        format!(
            "carried {} concurrent users at {}",
            thousands(measured_concurrent, 0),
            held.trim()
        )
    };
    let text = match (profile, headroom) {
        _ if !valid_measure => format!(
            "the measured capacity ({measured_concurrent}) is not a count of users, so there is nothing to set against Rocket.Chat's table"
        ),
        (None, _) => {
            let minimum = servers
                .iter()
                .min_by_key(|p| p.concurrent_max)
                .map_or_else(|| "none published".to_string(), |p| row_size(p));
            let unknown = if host.memory_bytes.is_none() {
                "; memory unknown, matched on cores only"
            } else {
                ""
            };
            format!(
                "{carried}; the host ({}{unknown}) is below Rocket.Chat's minimum ({minimum}), so the table promises nothing to compare with",
                host_size(host)
            )
        }
        (Some(p), headroom) => {
            let unknown = if host.memory_bytes.is_none() {
                ", matched on cores only: host memory unknown"
            } else {
                ""
            };
            let exceeds = largest.is_some_and(|l| std::ptr::eq(*l, *p))
                && (host.cores > f64::from(p.cores)
                    || memory_gib.is_some_and(|m| m > p.memory_gb * (1.0 + MEMORY_TOLERANCE)));
            let yardstick = if exceeds {
                format!(
                    ", the table's largest single-host profile, as the yardstick for this larger host ({})",
                    host_size(host)
                )
            } else {
                String::new()
            };
            let verdict = match headroom {
                Some(h) if h < 1.0 => format!("{}x of the promise", ratio(h, true)),
                Some(h) => format!("{}x headroom", ratio(h, false)),
                None => "no promise to compare with".to_string(),
            };
            format!(
                "{}{carried}; Rocket.Chat's table promises {} concurrent for {} ({}{unknown}){yardstick}: {verdict}",
                if shortfall { "SHORTFALL: " } else { "" },
                thousands(p.concurrent_max as f64, 0),
                row_size(p),
                p.name,
            )
        }
    };

    Sizing {
        host: host.clone(),
        profile: profile.map(|p| p.name.clone()),
        promised_concurrent: profile.map(|p| p.concurrent_max),
        promised_users: profile.map(|p| p.users_max),
        measured_concurrent,
        headroom,
        shortfall,
        recommended_instances: recommended_instances(host.cores, t.instances.reserve_cores),
        source: format!(
            "Rocket.Chat's hardware table ({}): {}; instances rule: {}",
            t.source.era,
            t.source.table.join(", "),
            t.source.instances.join(", ")
        ),
        text,
    }
}

/// N−1 instances on an N-core host (one core left to MongoDB and the OS),
/// never fewer than one: a host without a spare core still runs one.
fn recommended_instances(cores: f64, reserve: u32) -> u32 {
    if cores.is_finite() && cores >= 1.0 {
        // `as` saturates, so a huge core count cannot wrap.
        (cores.floor() as u32).saturating_sub(reserve).max(1)
    } else {
        1
    }
}

/// "2 cores / 2 GB" for a table row.
fn row_size(p: &Profile) -> String {
    format!(
        "{} / {} GB",
        count(f64::from(p.cores), "core"),
        compact(p.memory_gb)
    )
}

/// "16 cores / 31.4 GB", or "16 cores" when memory is unknown.
fn host_size(host: &HostSize) -> String {
    match host.memory_bytes {
        Some(b) => format!(
            "{} / {} GB",
            count(host.cores, "core"),
            compact(b as f64 / GIB)
        ),
        None => count(host.cores, "core"),
    }
}

/// "1 core", "1.5 cores", "16 cores".
fn count(n: f64, unit: &str) -> String {
    if n == 1.0 {
        format!("1 {unit}")
    } else {
        format!("{} {unit}s", compact(n))
    }
}

/// One decimal, without a trailing ".0".
fn compact(v: f64) -> String {
    let s = thousands(v, 1);
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// A ratio with one decimal; a shortfall gets more decimals rather than
/// round up to "1.0x of the promise".
fn ratio(h: f64, shortfall: bool) -> String {
    for decimals in 1..=6 {
        let scale = 10f64.powi(decimals);
        if !shortfall || (h * scale).round() / scale < 1.0 {
            return thousands(h, decimals as usize);
        }
    }
    format!("{:.6}", (h * 1e6).floor() / 1e6)
}

/// `v` with `decimals` decimals and commas between thousands: "1,340.5".
fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (sign, rest) = s.strip_prefix('-').map_or(("", s.as_str()), |r| ("-", r));
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return s; // NaN, inf
    }
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELD: &str = "message.e2e p95<500ms";

    fn host(cores: f64, gib: Option<f64>) -> HostSize {
        HostSize {
            cores,
            memory_bytes: gib.map(|g| (g * GIB) as u64),
            source: "flags".to_string(),
        }
    }

    #[test]
    fn table_parses() {
        let t = table();
        assert_eq!(t.profiles.len(), 4);
        let servers: Vec<&str> = t
            .profiles
            .iter()
            .filter(|p| p.arch == SERVER_ARCH)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(servers, ["VPS minimal", "VPS recommended", "Bare metal"]);
        let pi = &t.profiles[3];
        assert_eq!(pi.arch, "arm");
        assert_eq!(pi.notes.as_deref(), Some("external MongoDB"));
        assert_eq!(t.instances.reserve_cores, 1);
        assert!(!t.source.table.is_empty() && !t.source.instances.is_empty());
    }

    #[test]
    fn example_text_two_cores_two_gib() {
        let s = sizing(&host(2.0, Some(2.0)), 1340.0, HELD);
        assert_eq!(
            s.text,
            "carried 1,340 concurrent users at message.e2e p95<500ms; Rocket.Chat's table promises 100 concurrent for 2 cores / 2 GB (VPS recommended): 13.4x headroom"
        );
        assert_eq!(s.profile.as_deref(), Some("VPS recommended"));
        assert_eq!(s.promised_concurrent, Some(100));
        assert_eq!(s.promised_users, Some(500));
        assert_eq!(s.headroom, Some(13.4));
        assert!(!s.shortfall);
        assert_eq!(s.recommended_instances, 1);
        assert!(s.source.contains("system-requirements.md"), "{}", s.source);
        assert!(
            s.source.contains("running-multiple-instances"),
            "{}",
            s.source
        );
    }

    #[test]
    fn shortfall_text() {
        let s = sizing(&host(2.0, Some(2.0)), 60.0, HELD);
        assert!(s.shortfall);
        assert_eq!(
            s.text,
            "SHORTFALL: carried 60 concurrent users at message.e2e p95<500ms; Rocket.Chat's table promises 100 concurrent for 2 cores / 2 GB (VPS recommended): 0.6x of the promise"
        );
    }

    #[test]
    fn shortfall_never_reads_one() {
        let s = sizing(&host(2.0, Some(2.0)), 99.6, HELD);
        assert!(s.shortfall);
        assert!(s.text.ends_with(": 0.996x of the promise"), "{}", s.text);
        let s = sizing(&host(2.0, Some(2.0)), 100.0, HELD);
        assert!(!s.shortfall);
        assert!(s.text.ends_with(": 1.0x headroom"), "{}", s.text);
    }

    #[test]
    fn memtotal_under_nominal_still_matches() {
        // A "2 GB" VPS reporting 1.9 GiB of MemTotal.
        let s = sizing(&host(2.0, Some(1.9)), 150.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("VPS recommended"));
    }

    #[test]
    fn memory_beyond_tolerance_falls_back() {
        let s = sizing(&host(2.0, Some(1.7)), 150.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("VPS minimal"));
        assert_eq!(s.promised_concurrent, Some(50));
        assert!(
            s.text
                .ends_with("for 1 core / 1 GB (VPS minimal): 3.0x headroom"),
            "{}",
            s.text
        );
    }

    #[test]
    fn cores_short_of_a_row_fall_back() {
        // 4 GB is enough for bare metal, 4 cores is not.
        let s = sizing(&host(4.0, Some(8.0)), 150.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("VPS recommended"));
        assert_eq!(s.recommended_instances, 3);
    }

    #[test]
    fn raspberry_pi_row_is_never_the_yardstick() {
        let s = sizing(&host(4.0, Some(1.0)), 40.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("VPS minimal"));
    }

    #[test]
    fn largest_row_exactly_met_is_not_exceeded() {
        let s = sizing(&host(6.0, Some(4.0)), 600.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("Bare metal"));
        assert_eq!(
            s.text,
            "carried 600 concurrent users at message.e2e p95<500ms; Rocket.Chat's table promises 300 concurrent for 6 cores / 4 GB (Bare metal): 2.0x headroom"
        );
        assert_eq!(s.recommended_instances, 5);
    }

    #[test]
    fn host_beyond_largest_row_uses_it_as_yardstick() {
        let s = sizing(&host(16.0, Some(31.4)), 2000.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("Bare metal"));
        assert_eq!(
            s.text,
            "carried 2,000 concurrent users at message.e2e p95<500ms; Rocket.Chat's table promises 300 concurrent for 6 cores / 4 GB (Bare metal), the table's largest single-host profile, as the yardstick for this larger host (16 cores / 31.4 GB): 6.7x headroom"
        );
        assert_eq!(s.recommended_instances, 15);
        // More memory alone also exceeds the row.
        let s = sizing(&host(6.0, Some(16.0)), 2000.0, HELD);
        assert!(s.text.contains("largest single-host profile"), "{}", s.text);
    }

    #[test]
    fn memory_unknown_matches_on_cores_only() {
        let s = sizing(&host(2.0, None), 1340.0, HELD);
        assert_eq!(s.profile.as_deref(), Some("VPS recommended"));
        assert_eq!(
            s.text,
            "carried 1,340 concurrent users at message.e2e p95<500ms; Rocket.Chat's table promises 100 concurrent for 2 cores / 2 GB (VPS recommended, matched on cores only: host memory unknown): 13.4x headroom"
        );
        let s = sizing(&host(32.0, None), 1340.0, HELD);
        assert!(
            s.text.contains("(Bare metal, matched on cores only: host memory unknown), the table's largest single-host profile, as the yardstick for this larger host (32 cores)"),
            "{}",
            s.text
        );
    }

    #[test]
    fn below_minimum_cores() {
        let s = sizing(&host(0.5, Some(4.0)), 30.0, HELD);
        assert_eq!(s.profile, None);
        assert_eq!(s.promised_concurrent, None);
        assert_eq!(s.promised_users, None);
        assert_eq!(s.headroom, None);
        assert!(!s.shortfall);
        assert_eq!(s.recommended_instances, 1);
        assert_eq!(
            s.text,
            "carried 30 concurrent users at message.e2e p95<500ms; the host (0.5 cores / 4 GB) is below Rocket.Chat's minimum (1 core / 1 GB), so the table promises nothing to compare with"
        );
    }

    #[test]
    fn below_minimum_memory() {
        let s = sizing(&host(8.0, Some(0.5)), 30.0, HELD);
        assert_eq!(s.profile, None);
        assert!(
            s.text.contains(
                "the host (8 cores / 0.5 GB) is below Rocket.Chat's minimum (1 core / 1 GB)"
            ),
            "{}",
            s.text
        );
        assert_eq!(s.recommended_instances, 7);
        let s = sizing(&host(0.5, None), 30.0, HELD);
        assert!(
            s.text
                .contains("(0.5 cores; memory unknown, matched on cores only) is below"),
            "{}",
            s.text
        );
    }

    #[test]
    fn recommended_instances_rule() {
        for (cores, want) in [
            (1.0, 1),
            (2.0, 1),
            (2.9, 1),
            (3.0, 2),
            (4.0, 3),
            (6.5, 5),
            (0.0, 1),
            (-4.0, 1),
            (f64::NAN, 1),
            (f64::INFINITY, 1),
            (1e30, u32::MAX - 1),
        ] {
            assert_eq!(recommended_instances(cores, 1), want, "{cores}");
        }
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for cores in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e300] {
            for measured in [f64::NAN, f64::INFINITY, -5.0, 0.0, 1e300] {
                for memory in [None, Some(0), Some(u64::MAX)] {
                    let h = HostSize {
                        cores,
                        memory_bytes: memory,
                        source: "fingerprint".to_string(),
                    };
                    let s = sizing(&h, measured, "");
                    assert!(s.recommended_instances >= 1);
                    assert!(!s.text.is_empty());
                    if !(measured.is_finite() && measured >= 0.0) {
                        assert_eq!(s.headroom, None);
                        assert!(!s.shortfall);
                        assert!(s.text.contains("is not a count of users"), "{}", s.text);
                    }
                }
            }
        }
    }

    #[test]
    fn zero_measured_is_a_shortfall() {
        let s = sizing(&host(2.0, Some(2.0)), 0.0, "");
        assert_eq!(s.headroom, Some(0.0));
        assert!(s.shortfall);
        assert!(
            s.text
                .starts_with("SHORTFALL: carried 0 concurrent users; "),
            "{}",
            s.text
        );
        assert!(s.text.ends_with(": 0.0x of the promise"), "{}", s.text);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0, 0), "0");
        assert_eq!(thousands(999.0, 0), "999");
        assert_eq!(thousands(1000.0, 0), "1,000");
        assert_eq!(thousands(1234567.26, 1), "1,234,567.3");
        assert_eq!(thousands(-12345.0, 0), "-12,345");
        assert_eq!(thousands(f64::NAN, 0), "NaN");
    }

    #[test]
    fn serde_round_trip() {
        let s = sizing(&host(2.0, Some(2.0)), 1340.0, HELD);
        let json = serde_json::to_string(&s).unwrap();
        let back: Sizing = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
