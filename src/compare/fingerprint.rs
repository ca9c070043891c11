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

/// The fields compared, as paths into `summary.json`, and whether the
/// repetitions of one side must agree on it too (a side mixing hosts,
/// scenarios or releases is not one setup).
const FIELDS: &[(&str, bool)] = &[
    ("run.scenario", false),
    ("run.scenario_sha256", true),
    ("run.seed", false),
    ("run.load", false),
    ("run.shard", false),
    ("host.hostname", true),
    ("host.cpu_model", true),
    ("host.cores", true),
    ("host.cpu_quota_cores", true),
    ("host.memory_bytes", true),
    ("host.memory_limit_bytes", true),
    ("host.kernel", false),
    ("host.virtualization", false),
    ("tool.version", false),
    ("target.embedded", false),
    ("target.instances", true),
    ("target.urls", false),
    ("target.rocketchat_version", true),
];

/// The identifying parts of a run (not its metrics) as JSON.
fn identity(r: &Run) -> Value {
    let s = &r.summary;
    let json = |v: serde_json::Result<Value>| v.unwrap_or(Value::Null);
    serde_json::json!({
        "run": json(serde_json::to_value(&s.run.info)),
        "host": json(serde_json::to_value(&s.host)),
        "tool": json(serde_json::to_value(&s.tool)),
        "target": json(serde_json::to_value(&s.target)),
    })
}

/// The distinct values of `field` over a side's runs, in run order.
fn values(ids: &[Value], field: &str) -> Vec<Value> {
    let pointer = format!("/{}", field.replace('.', "/"));
    let mut out: Vec<Value> = Vec::new();
    for id in ids {
        let v = id.pointer(&pointer).cloned().unwrap_or(Value::Null);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// One value, or the list of them when a side's runs disagree.
fn one_or_all(mut vs: Vec<Value>) -> Value {
    if vs.len() == 1 {
        vs.remove(0)
    } else {
        Value::Array(vs)
    }
}

/// The fields of [`FIELDS`] whose values differ between two sides, over
/// every run of each.
pub fn differences(base: &[Run], candidate: &[Run]) -> Vec<Difference> {
    let (b, c): (Vec<Value>, Vec<Value>) = (
        base.iter().map(identity).collect(),
        candidate.iter().map(identity).collect(),
    );
    // The embedded server listens on a new port every run.
    let all_embedded = base
        .iter()
        .chain(candidate)
        .all(|r| r.summary.target.embedded);
    FIELDS
        .iter()
        .map(|(field, _)| field)
        .filter(|f| !(all_embedded && **f == "target.urls"))
        .filter_map(|field| {
            let (bv, cv) = (values(&b, field), values(&c, field));
            (bv != cv).then(|| Difference {
                field: (*field).to_string(),
                base: one_or_all(bv),
                candidate: one_or_all(cv),
            })
        })
        .collect()
}

/// A warning per field of [`FIELDS`] marked within-side on which a side's own runs
/// disagree.
pub fn within(side: &str, runs: &[Run]) -> Vec<String> {
    let ids: Vec<Value> = runs.iter().map(identity).collect();
    FIELDS
        .iter()
        .filter(|(_, within_side)| *within_side)
        .filter_map(|(field, _)| {
            let vs = values(&ids, field);
            (vs.len() > 1).then(|| {
                let shown: Vec<String> = vs.iter().map(show).collect();
                format!(
                    "the {side}'s {} runs are not one setup: {field} differs among them ({}); its spread is then partly that difference",
                    runs.len(),
                    shown.join(", ")
                )
            })
        })
        .collect()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

impl Difference {
    /// `host.cores 2 -> 4`
    pub fn line(&self) -> String {
        format!(
            "{} {} -> {}",
            self.field,
            show(&self.base),
            show(&self.candidate)
        )
    }
}
