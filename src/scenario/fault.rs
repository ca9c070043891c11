//! Scheduled faults of the embedded server, typed.
//!
//! YAML: the `POST /_sim/fault` body flattened next to `at`, e.g.
//! `{at: 10s, kind: stall, duration_ms: 1000}`. The limits are the reference
//! server's (`server::faults`), checked here so that `validate` reports a bad
//! fault with its position instead of `run` finding it when it asks the
//! server:
//!
//! | kind | fields |
//! |---|---|
//! | `stall` | `duration_ms` (required) |
//! | `latency` | `ms` (required) |
//! | `errors` | `status` (required, 400..=599), `ratio` (required), `duration_ms` |
//! | `rate_limit` | `per_second` (required, 0..=4294967295) |
//! | `drop_connections` | none |
//! | `lose_messages` | `ratio` (required), `duration_ms` |
//! | `restart` | `down_ms` (required), `instance` (0..=255, default 0) |
//! | `clear` | none |
//!
//! Milliseconds are whole numbers up to one hour (3600000), ratios numbers
//! in 0..=1; 0 clears the fault. [`Fault::to_body`] gives the JSON body the
//! server parses: that body is the wire contract, the server keeps parsing
//! JSON and imports nothing from here.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Unexpected, Visitor};
use serde_json::{Value, json};

use super::duration::deserialize_duration;

/// Longest stall, delay or fault duration the server accepts (1 hour).
pub const MAX_FAULT_MS: u64 = 3_600_000;

/// A fault applied at `at` from the start of the measured phase.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledFault {
    pub at: Duration,
    pub fault: Fault,
}

/// One `/_sim/fault` body. A zero duration, delay, ratio or rate clears
/// that fault; `duration: None` lasts until cleared.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Every instance stops answering for `duration`, then answers what queued.
    Stall { duration: Duration },
    /// Fixed delay added to every reply.
    Latency { delay: Duration },
    /// That share of requests fails with `status`.
    Errors {
        status: u16,
        ratio: f64,
        duration: Option<Duration>,
    },
    /// Global budget of requests per second; the rest get 429.
    RateLimit { per_second: u32 },
    /// Every open websocket is closed now.
    DropConnections,
    /// That share of stream deliveries is silently dropped.
    LoseMessages {
        ratio: f64,
        duration: Option<Duration>,
    },
    /// One instance restarts: its sessions drop, it answers 502 for
    /// `down`, the store is kept. The run measures the recovery.
    Restart { instance: usize, down: Duration },
    /// Every fault above is cleared.
    Clear,
}

impl Fault {
    /// The `kind` of the body (`stall`, `rate_limit`, ...).
    pub fn kind(&self) -> &'static str {
        self.fault_kind().name()
    }

    fn fault_kind(&self) -> FaultKind {
        match self {
            Fault::Stall { .. } => FaultKind::Stall,
            Fault::Latency { .. } => FaultKind::Latency,
            Fault::Errors { .. } => FaultKind::Errors,
            Fault::RateLimit { .. } => FaultKind::RateLimit,
            Fault::DropConnections => FaultKind::DropConnections,
            Fault::LoseMessages { .. } => FaultKind::LoseMessages,
            Fault::Restart { .. } => FaultKind::Restart,
            Fault::Clear => FaultKind::Clear,
        }
    }

    /// The exact `POST /_sim/fault` JSON body.
    pub fn to_body(&self) -> Value {
        let kind = self.kind();
        let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut body = match self {
            Fault::Stall { duration } => json!({"duration_ms": ms(duration)}),
            Fault::Latency { delay } => json!({"ms": ms(delay)}),
            Fault::Errors { status, ratio, .. } => json!({"status": status, "ratio": ratio}),
            Fault::RateLimit { per_second } => json!({"per_second": per_second}),
            Fault::LoseMessages { ratio, .. } => json!({"ratio": ratio}),
            Fault::Restart { instance, down } => {
                json!({"instance": instance, "down_ms": ms(down)})
            }
            Fault::DropConnections | Fault::Clear => json!({}),
        };
        if let Fault::Errors {
            duration: Some(d), ..
        }
        | Fault::LoseMessages {
            duration: Some(d), ..
        } = self
        {
            body["duration_ms"] = json!(ms(d));
        }
        body["kind"] = json!(kind);
        body
    }
}

/// The `kind` key; its derived `Deserialize` gives "unknown fault kind `x`"
/// with a did-you-mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FaultKind {
    Stall,
    Latency,
    Errors,
    RateLimit,
    DropConnections,
    LoseMessages,
    Restart,
    Clear,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::Stall => "stall",
            FaultKind::Latency => "latency",
            FaultKind::Errors => "errors",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::DropConnections => "drop_connections",
            FaultKind::LoseMessages => "lose_messages",
            FaultKind::Restart => "restart",
            FaultKind::Clear => "clear",
        }
    }

    /// Every key a fault of this kind takes, `at` and `kind` included.
    fn keys(self) -> &'static [&'static str] {
        match self {
            FaultKind::Stall => &["at", "kind", "duration_ms"],
            FaultKind::Latency => &["at", "kind", "ms"],
            FaultKind::Errors => &["at", "kind", "status", "ratio", "duration_ms"],
            FaultKind::RateLimit => &["at", "kind", "per_second"],
            FaultKind::LoseMessages => &["at", "kind", "ratio", "duration_ms"],
            FaultKind::Restart => &["at", "kind", "down_ms", "instance"],
            FaultKind::DropConnections | FaultKind::Clear => &["at", "kind"],
        }
    }

    /// "takes `duration_ms`" / "takes no fields besides `at`".
    fn takes(self) -> String {
        let fields: Vec<String> = self.keys()[2..].iter().map(|k| format!("`{k}`")).collect();
        if fields.is_empty() {
            "takes no fields besides `at`".into()
        } else {
            format!("takes {}", fields.join(", "))
        }
    }
}

/// Every key of any fault.
const ALL_KEYS: &[&str] = &[
    "at",
    "kind",
    "duration_ms",
    "ms",
    "status",
    "ratio",
    "per_second",
    "down_ms",
    "instance",
];

#[derive(Clone, Copy, PartialEq)]
enum Key {
    At,
    Kind,
    DurationMs,
    Ms,
    Status,
    Ratio,
    PerSecond,
    DownMs,
    Instance,
}

impl Key {
    fn name(self) -> &'static str {
        match self {
            Key::At => "at",
            Key::Kind => "kind",
            Key::DurationMs => "duration_ms",
            Key::Ms => "ms",
            Key::Status => "status",
            Key::Ratio => "ratio",
            Key::PerSecond => "per_second",
            Key::DownMs => "down_ms",
            Key::Instance => "instance",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        [
            Key::At,
            Key::Kind,
            Key::DurationMs,
            Key::Ms,
            Key::Status,
            Key::Ratio,
            Key::PerSecond,
            Key::DownMs,
            Key::Instance,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

fn not_for_kind<E: de::Error>(key: Key, kind: FaultKind) -> E {
    E::custom(format!(
        "`{}` does not apply to kind `{}`, which {}",
        key.name(),
        kind.name(),
        kind.takes()
    ))
}

/// Reads one key, rejecting it at its own position when it is unknown or,
/// once `kind` has been read, does not apply to that kind.
struct KeySeed(Option<FaultKind>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fault key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        let allowed = self.0.map_or(ALL_KEYS, FaultKind::keys);
        match (Key::from_name(v), self.0) {
            (Some(key), _) if allowed.contains(&v) => Ok(key),
            (Some(key), Some(kind)) => Err(not_for_kind(key, kind)),
            _ => Err(E::unknown_field(v, allowed)),
        }
    }
}

/// A whole number in `0..=max`; errors at the value's position.
struct Bounded {
    max: u64,
    what: &'static str,
}

impl Visitor<'_> for Bounded {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} (a whole number in 0..={})", self.what, self.max)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v <= self.max {
            Ok(v)
        } else {
            Err(E::custom(format!(
                "must be at most {} ({}), got {v}",
                self.max, self.what
            )))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
}

struct Millis(u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        d.deserialize_any(Bounded {
            max: MAX_FAULT_MS,
            what: "milliseconds, 1 hour at most",
        })
        .map(Millis)
    }
}

/// An instance index, as the server bounds it (0..=255).
struct InstanceIndex(u64);

impl<'de> Deserialize<'de> for InstanceIndex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<InstanceIndex, D::Error> {
        d.deserialize_any(Bounded {
            max: 255,
            what: "an instance index",
        })
        .map(InstanceIndex)
    }
}

struct PerSecond(u32);

impl<'de> Deserialize<'de> for PerSecond {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PerSecond, D::Error> {
        let n = d.deserialize_any(Bounded {
            max: u64::from(u32::MAX),
            what: "requests per second",
        })?;
        // Bounded to u32 above.
        Ok(PerSecond(u32::try_from(n).unwrap_or(u32::MAX)))
    }
}

/// An HTTP error status, as the server requires (400..=599).
struct Status(u16);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        d.deserialize_any(StatusVisitor).map(Status)
    }
}

struct StatusVisitor;

impl Visitor<'_> for StatusVisitor {
    type Value = u16;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an HTTP error status in 400..=599")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u16, E> {
        match u16::try_from(v) {
            Ok(s) if (400..=599).contains(&s) => Ok(s),
            _ => Err(E::custom(format!(
                "must be an HTTP error status in 400..=599, got {v}"
            ))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u16, E> {
        Err(E::invalid_value(Unexpected::Signed(v), &self))
    }
}

/// A share of events in 0..=1.
struct Ratio(f64);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ratio, D::Error> {
        d.deserialize_any(RatioVisitor).map(Ratio)
    }
}

struct RatioVisitor;

impl Visitor<'_> for RatioVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number in 0..=1")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(E::custom(format!("must be a number in 0..=1, got {v}")))
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        self.visit_f64(v as f64)
    }
}

#[derive(Deserialize)]
#[serde(transparent)]
struct At(#[serde(deserialize_with = "deserialize_duration")] Duration);

impl<'de> Deserialize<'de> for ScheduledFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FaultVisitor)
    }
}

struct FaultVisitor;

/// The keys of one fault as read, before the kind decides what they mean.
#[derive(Default)]
struct Given {
    at: Option<Duration>,
    kind: Option<FaultKind>,
    duration_ms: Option<u64>,
    ms: Option<u64>,
    status: Option<u16>,
    ratio: Option<f64>,
    per_second: Option<u32>,
    down_ms: Option<u64>,
    instance: Option<u64>,
}

impl Given {
    fn has(&self, key: Key) -> bool {
        match key {
            Key::At => self.at.is_some(),
            Key::Kind => self.kind.is_some(),
            Key::DurationMs => self.duration_ms.is_some(),
            Key::Ms => self.ms.is_some(),
            Key::Status => self.status.is_some(),
            Key::Ratio => self.ratio.is_some(),
            Key::PerSecond => self.per_second.is_some(),
            Key::DownMs => self.down_ms.is_some(),
            Key::Instance => self.instance.is_some(),
        }
    }
}

impl<'de> Visitor<'de> for FaultVisitor {
    type Value = ScheduledFault;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fault such as `{at: 10s, kind: stall, duration_ms: 1000}`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScheduledFault, A::Error> {
        use de::Error;

        let mut g = Given::default();
        while let Some(key) = map.next_key_seed(KeySeed(g.kind))? {
            if g.has(key) {
                return Err(A::Error::custom(format!(
                    "key `{}` given twice",
                    key.name()
                )));
            }
            match key {
                Key::At => g.at = Some(map.next_value::<At>()?.0),
                Key::Kind => g.kind = Some(map.next_value::<FaultKind>()?),
                Key::DurationMs => g.duration_ms = Some(map.next_value::<Millis>()?.0),
                Key::Ms => g.ms = Some(map.next_value::<Millis>()?.0),
                Key::Status => g.status = Some(map.next_value::<Status>()?.0),
                Key::Ratio => g.ratio = Some(map.next_value::<Ratio>()?.0),
                Key::PerSecond => g.per_second = Some(map.next_value::<PerSecond>()?.0),
                Key::DownMs => g.down_ms = Some(map.next_value::<Millis>()?.0),
                Key::Instance => g.instance = Some(map.next_value::<InstanceIndex>()?.0),
            }
        }
        let Some(kind) = g.kind else {
            return Err(A::Error::custom(
                "missing key `kind`: one of `stall`, `latency`, `errors`, `rate_limit`, `drop_connections`, `lose_messages`, `restart`, `clear`",
            ));
        };
        let Some(at) = g.at else {
            return Err(A::Error::missing_field("at"));
        };
        // Keys read before `kind` could not be checked against it.
        let extra = [
            Key::DurationMs,
            Key::Ms,
            Key::Status,
            Key::Ratio,
            Key::PerSecond,
            Key::DownMs,
            Key::Instance,
        ]
        .into_iter()
        .find(|k| g.has(*k) && !kind.keys().contains(&k.name()));
        if let Some(key) = extra {
            return Err(not_for_kind(key, kind));
        }
        let missing = |key: &str| {
            A::Error::custom(format!(
                "missing key `{key}`: kind `{}` {}",
                kind.name(),
                kind.takes()
            ))
        };
        let ms = |v: Option<u64>| v.map(Duration::from_millis);
        let fault = match kind {
            FaultKind::Stall => Fault::Stall {
                duration: Duration::from_millis(
                    g.duration_ms.ok_or_else(|| missing("duration_ms"))?,
                ),
            },
            FaultKind::Latency => Fault::Latency {
                delay: Duration::from_millis(g.ms.ok_or_else(|| missing("ms"))?),
            },
            FaultKind::Errors => Fault::Errors {
                status: g.status.ok_or_else(|| missing("status"))?,
                ratio: g.ratio.ok_or_else(|| missing("ratio"))?,
                duration: ms(g.duration_ms),
            },
            FaultKind::RateLimit => Fault::RateLimit {
                per_second: g.per_second.ok_or_else(|| missing("per_second"))?,
            },
            FaultKind::DropConnections => Fault::DropConnections,
            FaultKind::LoseMessages => Fault::LoseMessages {
                ratio: g.ratio.ok_or_else(|| missing("ratio"))?,
                duration: ms(g.duration_ms),
            },
            FaultKind::Restart => Fault::Restart {
                // Bounded to 0..=255 when read.
                instance: g.instance.unwrap_or(0) as usize,
                down: Duration::from_millis(g.down_ms.ok_or_else(|| missing("down_ms"))?),
            },
            FaultKind::Clear => Fault::Clear,
        };
        Ok(ScheduledFault { at, fault })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::de::{DeError, from_node};
    use crate::scenario::yaml::parse;

    fn fault(text: &str) -> Result<ScheduledFault, DeError> {
        from_node(&parse(text).expect("valid YAML"))
    }

    fn err(text: &str) -> (String, String, Option<String>) {
        let e = fault(text).expect_err(text);
        (e.path, e.message, e.suggestion)
    }

    #[test]
    fn every_kind_from_yaml_to_body() {
        let cases = [
            (
                "{at: 1s, kind: stall, duration_ms: 1000}",
                json!({"kind": "stall", "duration_ms": 1000}),
            ),
            (
                "{at: 1s, kind: latency, ms: 20}",
                json!({"kind": "latency", "ms": 20}),
            ),
            (
                "{at: 1s, kind: errors, status: 503, ratio: 0.1, duration_ms: 5000}",
                json!({"kind": "errors", "status": 503, "ratio": 0.1, "duration_ms": 5000}),
            ),
            (
                "{at: 1s, kind: errors, status: 500, ratio: 1}",
                json!({"kind": "errors", "status": 500, "ratio": 1.0}),
            ),
            (
                "{at: 1s, kind: rate_limit, per_second: 10}",
                json!({"kind": "rate_limit", "per_second": 10}),
            ),
            (
                "{at: 1s, kind: drop_connections}",
                json!({"kind": "drop_connections"}),
            ),
            (
                "{at: 1s, kind: restart, down_ms: 2000}",
                json!({"kind": "restart", "instance": 0, "down_ms": 2000}),
            ),
            (
                "{at: 1s, kind: restart, instance: 1, down_ms: 0}",
                json!({"kind": "restart", "instance": 1, "down_ms": 0}),
            ),
            (
                "{duration_ms: 5000, ratio: 0.01, kind: lose_messages, at: 1s}",
                json!({"kind": "lose_messages", "ratio": 0.01, "duration_ms": 5000}),
            ),
            ("{at: 1s, kind: clear}", json!({"kind": "clear"})),
        ];
        for (yaml, body) in cases {
            let f = fault(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(f.at, Duration::from_secs(1));
            assert_eq!(f.fault.to_body(), body, "{yaml}");
            assert_eq!(f.fault.kind(), body["kind"], "{yaml}");
        }
    }

    #[test]
    fn bad_faults_are_rejected_where_they_are() {
        let s = |x: &str| x.to_string();
        assert_eq!(
            err("{at: 1s, kind: errors, status: 503, ratio: 7}"),
            (s("ratio"), s("must be a number in 0..=1, got 7"), None)
        );
        assert_eq!(
            err("{at: 1s, kind: stal, duration_ms: 1}"),
            (s("kind"), s("unknown fault kind `stal`"), Some(s("stall")))
        );
        assert_eq!(
            err("{at: 1s, kind: stall}"),
            (
                s(""),
                s("missing key `duration_ms`: kind `stall` takes `duration_ms`"),
                None
            )
        );
        assert_eq!(
            err("{at: 1s, kind: stall, duraton_ms: 1}"),
            (
                s("duraton_ms"),
                s("unknown key `duraton_ms`"),
                Some(s("duration_ms"))
            )
        );
        assert_eq!(
            err("{at: 1s, kind: stall, ms: 1}").1,
            "`ms` does not apply to kind `stall`, which takes `duration_ms`"
        );
        assert_eq!(
            err("{ms: 1, at: 1s, kind: clear}").1,
            "`ms` does not apply to kind `clear`, which takes no fields besides `at`"
        );
        assert_eq!(
            err("{at: 1s, kind: errors, status: 200, ratio: 0.1}").1,
            "must be an HTTP error status in 400..=599, got 200"
        );
        assert_eq!(
            err("{at: 1s, kind: stall, duration_ms: 3600001}").1,
            "must be at most 3600000 (milliseconds, 1 hour at most), got 3600001"
        );
        assert!(
            err("{at: 1s, kind: stall, duration_ms: -1}")
                .1
                .contains("found integer `-1`")
        );
        assert!(
            err("{at: 1s, kind: stall, duration_ms: 1.5}")
                .1
                .contains("found floating point")
        );
        assert_eq!(
            err("{at: 1s}").1.split(':').next(),
            Some("missing key `kind`")
        );
        assert_eq!(err("{kind: clear}").1, "missing key `at`");
        assert_eq!(
            err("{at: 1s, kind: rate_limit, per_second: 5000000000}").0,
            "per_second"
        );
        assert_eq!(
            err("stall").1,
            "expected a fault such as `{at: 10s, kind: stall, duration_ms: 1000}`, found string \"stall\""
        );
    }
}
