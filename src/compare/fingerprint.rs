//! What differs between the setups of two sides, listed before any number:
//! a comparison of a 2-core VM with a 4-core container is a comparison of
//! hosts, whatever the release.

use serde::Serialize;
use serde_json::Value;

use super::side::Run;

/// One fingerprint field that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// Dotted path in `summary.json`, e.g. `host.cores`.
    pub field: String,
    pub base: Value,
    pub candidate: Value,
}

/// The fields compared, as paths into `summary.json`.
const FIELDS: &[&str] = &[
    "run.scenario",
    "run.scenario_sha256",
    "run.seed",
    "run.load",
    "run.shard",
    "host.hostname",
    "host.cpu_model",
    "host.cores",
    "host.cpu_quota_cores",
    "host.memory_bytes",
    "host.memory_limit_bytes",
    "host.kernel",
    "host.virtualization",
    "tool.version",
    "target.embedded",
    "target.instances",
    "target.urls",
    "target.rocketchat_version",
];

/// The fields of [`FIELDS`] whose values differ between two runs.
pub fn differences(base: &Run, candidate: &Run) -> Vec<Difference> {
    // Only the identifying parts: the metrics (histograms) stay out.
    let parts = |r: &Run| -> serde_json::Result<Value> {
        let s = &r.summary;
        Ok(serde_json::json!({
            "run": serde_json::to_value(&s.run.info)?,
            "host": serde_json::to_value(&s.host)?,
            "tool": serde_json::to_value(&s.tool)?,
            "target": serde_json::to_value(&s.target)?,
        }))
    };
    let (Ok(b), Ok(c)) = (parts(base), parts(candidate)) else {
        return Vec::new();
    };
    // The embedded server listens on a new port every run.
    let both_embedded = base.summary.target.embedded && candidate.summary.target.embedded;
    FIELDS
        .iter()
        .filter(|f| !(both_embedded && **f == "target.urls"))
        .filter_map(|field| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let bv = b.pointer(&pointer).cloned().unwrap_or(Value::Null);
            let cv = c.pointer(&pointer).cloned().unwrap_or(Value::Null);
            (bv != cv).then(|| Difference {
                field: (*field).to_string(),
                base: bv,
                candidate: cv,
            })
        })
        .collect()
}

impl Difference {
    /// `host.cores 2 -> 4`
    pub fn line(&self) -> String {
        let show = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        format!(
            "{} {} -> {}",
            self.field,
            show(&self.base),
            show(&self.candidate)
        )
    }
}
