//! A capacity search's or scaling experiment's directory as report
//! sections. `report DIR` reads DIR as such when it holds `capacity.json`
//! or `scaling.json` (a run directory holds neither; its `summary.json`
//! or `run.json` is what makes it a run).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::capacity::outcome::fmt_load;
use crate::capacity::scaling::{JudgedBy, Scaling};
use crate::capacity::search::StepVerdict;
use crate::capacity::usl::{UslFit, fit};
use crate::capacity::{Capacity, outcome, scaling};
use crate::results::export::html::charts::{At, Chart, Marker, Rule, Series, XAxis, colour};
use crate::results::export::html::{Section, esc, figure};
use crate::scenario::{Slo, SloStat};

/// What an experiment directory holds.
pub enum Experiment {
    Capacity(Box<Capacity>),
    Scaling(Box<Scaling>),
}

/// An experiment file that cannot be read, named.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a rocketload {what} file: {message}")]
    Parse {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    #[error("{path}: unsupported schema {found} (this rocketload reads schema {supported})")]
    Schema {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
}

/// `capacity.json` or `scaling.json` in `dir`, when `dir` is a directory
/// holding one (and no run of its own).
pub fn experiment_file(dir: &Path) -> Option<PathBuf> {
    if !dir.is_dir() || dir.join("summary.json").exists() || dir.join("run.json").exists() {
        return None;
    }
    [outcome::FILE, scaling::FILE]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

impl Experiment {
    /// Reads `capacity.json` or `scaling.json` (by its name).
    pub fn read(file: &Path) -> Result<Experiment, ExperimentError> {
        let text = std::fs::read_to_string(file).map_err(|source| ExperimentError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let is_capacity = file.file_name().is_some_and(|n| n == outcome::FILE);
        let (what, supported) = match is_capacity {
            true => ("capacity", outcome::SCHEMA),
            false => ("scaling", scaling::SCHEMA),
        };
        let parse = |message: String| ExperimentError::Parse {
            path: file.to_path_buf(),
            what,
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
        let found = value
            .get("schema")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| parse("no numeric `schema` field".into()))?;
        if found != u64::from(supported) {
            return Err(ExperimentError::Schema {
                path: file.to_path_buf(),
                found,
                supported,
            });
        }
        Ok(match is_capacity {
            true => Experiment::Capacity(Box::new(
                serde_json::from_value(value).map_err(|e| parse(e.to_string()))?,
            )),
            false => Experiment::Scaling(Box::new(
                serde_json::from_value(value).map_err(|e| parse(e.to_string()))?,
            )),
        })
    }

    pub fn section(&self, dir: &Path) -> Section {
        match self {
            Experiment::Capacity(c) => capacity_section(c, dir),
            Experiment::Scaling(s) => scaling_section(s, dir),
        }
    }
}

const PASS: usize = 2;
const FAIL: usize = 4;
const VOID: usize = 6;
const MODEL: usize = 3;

fn unit_label(unit: &str) -> &str {
    match unit {
        "vus" => "VUs",
        "arrivals_per_s" => "arrivals/s",
        other => other,
    }
}

/// Pass, fail and void steps as three marked series of `y`.
fn by_verdict(
    cap: &Capacity,
    y: impl Fn(&crate::capacity::step::Step) -> Option<f64>,
) -> Vec<Series> {
    [
        (StepVerdict::Pass, "pass", PASS, Marker::Dot),
        (StepVerdict::Fail, "fail", FAIL, Marker::Cross),
        (StepVerdict::Void, "void", VOID, Marker::Ring),
    ]
    .into_iter()
    .map(|(v, name, c, m)| {
        let points = cap
            .steps
            .iter()
            .filter(|s| s.verdict == v)
            .filter_map(|s| Some((s.load, y(s)?)))
            .collect();
        Series::points(name, colour(c), m, points)
    })
    .collect()
}

/// The capacity and the bracket as vertical rules.
fn bracket_rules(cap: &Capacity, unit: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    match cap.capacity {
        Some(c) => rules.push(Rule::new(
            format!("capacity {} {unit}", fmt_load(c)),
            colour(0),
            At::X(c),
        )),
        None => {
            if let Some(l) = cap.low {
                rules.push(Rule::new(
                    format!("held at {} {unit}", fmt_load(l)),
                    colour(PASS),
                    At::X(l),
                ));
            }
        }
    }
    if let Some(h) = cap.high {
        rules.push(Rule::new(
            format!("failed at {} {unit}", fmt_load(h)),
            colour(FAIL),
            At::X(h),
        ));
    }
    rules
}

/// The USL model's throughput at `n`.
fn usl_at(f: &UslFit, n: f64) -> f64 {
    f.lambda * n / (1.0 + f.sigma * (n - 1.0) + f.kappa * n * (n - 1.0))
}

fn usl_curve(f: &UslFit, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let lo = lo.max(1.0);
    (0..=60)
        .map(|i| lo + (hi - lo) * i as f64 / 60.0)
        .map(|n| (n, usl_at(f, n)))
        .collect()
}

fn usl_text(f: &UslFit) -> String {
    format!(
        "USL model (not the capacity): λ = {:.3}/s, σ = {:.4}, κ = {:.6}, r² = {:.3} over {} points{}",
        f.lambda,
        f.sigma,
        f.kappa,
        f.r_squared,
        f.points,
        f.peak_load.map_or(String::new(), |p| format!(
            "; the model peaks at N = {}",
            fmt_load(p)
        ))
    )
}

fn capacity_section(cap: &Capacity, dir: &Path) -> Section {
    let unit = unit_label(&cap.unit);
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<p><b>{}</b> ({}); SLOs: {}. {} steps, {:.0} s.</p>",
        esc(&cap.summary),
        cap.verdict.as_str(),
        esc(&cap.slos.join(", ")),
        cap.steps.len(),
        cap.elapsed_s
    );
    if cap.steps.is_empty() {
        h.push_str("<p class=\"missing\">No step was measured yet: nothing to draw.</p>\n");
        return Section {
            title: format!("Capacity search: {}", dir.display()),
            body: h,
        };
    }
    let x_label = format!("load ({unit})");
    let mut figs = Vec::new();
    let mut tp = Chart::new(
        "throughput by load (completed operations/s, held phase)",
        &x_label,
        "operations/s",
    );
    tp.series = by_verdict(cap, |s| Some(s.throughput_per_s));
    tp.rules = bracket_rules(cap, unit);
    if let Some(f) = &cap.usl {
        let max = cap.steps.iter().map(|s| s.load).fold(1.0, f64::max);
        tp.series
            .push(Series::line("USL model", colour(MODEL), usl_curve(f, 1.0, max)).dashed());
    }
    figs.push(figure(&tp));
    for (i, text) in cap.slos.iter().enumerate() {
        let slo = Slo::parse(text).ok();
        let (scale, y_unit) = match slo.as_ref().map(|s| s.stat) {
            Some(SloStat::Quantile(_)) => (1.0, "ms"),
            Some(SloStat::ErrorRate | SloStat::Ratio) => (100.0, "%"),
            _ => (1.0, "value"),
        };
        let value = |s: &crate::capacity::step::Step| {
            s.slos
                .get(i)
                .filter(|r| r.slo == *text)?
                .value
                .map(|v| v * scale)
        };
        let mut c = Chart::new(format!("{text} by load ({y_unit})"), &x_label, y_unit);
        c.series = by_verdict(cap, value);
        if let Some(limit) = cap
            .steps
            .iter()
            .find_map(|s| s.slos.get(i).filter(|r| r.slo == *text))
            .map(|r| r.limit)
        {
            c.rules.push(Rule::new(
                format!("limit {text}"),
                colour(1),
                At::Y(limit * scale),
            ));
        }
        c.rules.extend(bracket_rules(cap, unit));
        figs.push(figure(&c));
    }
    h.push_str(&format!("<div class=\"grid\">\n{}</div>\n", figs.concat()));
    if let Some(f) = &cap.usl {
        let _ = writeln!(h, "<p class=\"small\">{}</p>", esc(&usl_text(f)));
    }
    h.push_str("<table><tr><th class=\"n\">step</th><th class=\"n\">load</th><th>verdict</th><th class=\"n\">throughput/s</th><th class=\"n\">errors</th><th>why</th><th>run</th></tr>\n");
    for s in &cap.steps {
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            s.index,
            fmt_load(s.load),
            s.verdict.as_str(),
            s.throughput_per_s,
            s.error_rate
                .map_or("-".into(), |e| format!("{:.2}%", e * 100.0)),
            esc(s.reason.as_deref().unwrap_or("")),
            esc(&s.dir.display().to_string())
        );
    }
    h.push_str("</table>\n");
    Section {
        title: format!("Capacity search: {}", dir.display()),
        body: h,
    }
}

fn scaling_section(sc: &Scaling, dir: &Path) -> Section {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<p><b>{}</b> — {} sets judged by {}, {} round{}, host {} cores.</p>",
        esc(&sc.verdict),
        sc.sets.len(),
        sc.judged_by,
        sc.rounds,
        if sc.rounds == 1 { "" } else { "s" },
        sc.host_cores
    );
    let mut instances: Vec<u32> = sc.sets.iter().map(|s| s.spec.instances).collect();
    instances.sort_unstable();
    instances.dedup();
    // Instances as the x axis when they tell the sets apart; else the
    // sets by position, named.
    let numeric = instances.len() == sc.sets.len();
    let x_of = |i: usize| match numeric {
        true => f64::from(sc.sets[i].spec.instances),
        false => (i + 1) as f64,
    };
    let (figure_name, y_unit) = match sc.judged_by {
        JudgedBy::Throughput => ("throughput", "operations/s"),
        JudgedBy::Capacity => ("capacity", unit_label(&sc.unit)),
    };
    let x_label = if numeric { "instances" } else { "set" };
    let mut tp = Chart::new(
        format!("{figure_name} per set ({y_unit}, median and spread)"),
        x_label,
        y_unit,
    );
    let mut eff = Chart::new(
        "efficiency per instance (1 = linear)",
        x_label,
        "efficiency",
    );
    if !numeric {
        tp.x_axis = XAxis::Named;
        eff.x_axis = XAxis::Named;
        let names: Vec<String> = sc
            .sets
            .iter()
            .map(|s| format!("{} ({})", s.spec.name, s.spec.instances))
            .collect();
        tp.x_names = names.clone();
        eff.x_names = names;
    }
    let figure_of = |s: &scaling::SetResult| match sc.judged_by {
        JudgedBy::Throughput => s.throughput_per_s,
        JudgedBy::Capacity => s.capacity,
    };
    let mut median = Series::points(figure_name, colour(0), Marker::Dot, Vec::new());
    median.line = true;
    let mut e = Series::points("efficiency", colour(PASS), Marker::Dot, Vec::new());
    e.line = true;
    for (i, s) in sc.sets.iter().enumerate() {
        if let Some(v) = figure_of(s) {
            median.points.push((x_of(i), v));
        }
        if let Some((lo, hi)) = s.spread {
            median.bars.push((x_of(i), lo, hi));
        }
        if let Some(v) = s.efficiency {
            e.points.push((x_of(i), v));
        }
    }
    tp.series.push(median);
    eff.series.push(e);
    eff.rules
        .push(Rule::new("linear scaling", colour(VOID), At::Y(1.0)));
    // The USL over instances: a model, drawn when three or more instance
    // counts were measured.
    let points: Vec<(f64, f64)> = sc
        .sets
        .iter()
        .flat_map(|s| {
            s.runs
                .iter()
                .filter_map(|r| Some((f64::from(s.spec.instances), r.figure?)))
        })
        .collect();
    let usl = numeric.then(|| fit(&points).ok()).flatten();
    if let Some(f) = &usl {
        let max = instances.last().copied().unwrap_or(1) as f64;
        tp.series
            .push(Series::line("USL model", colour(MODEL), usl_curve(f, 1.0, max)).dashed());
    }
    let _ = write!(
        h,
        "<div class=\"grid\">\n{}{}</div>\n",
        figure(&tp),
        figure(&eff)
    );
    match &usl {
        Some(f) => {
            let _ = writeln!(h, "<p class=\"small\">{}</p>", esc(&usl_text(f)));
        }
        None => h.push_str("<p class=\"small\">No USL fit: it needs three or more distinct instance counts with a figure.</p>\n"),
    }
    h.push_str("<table><tr><th>set</th><th class=\"n\">instances</th><th class=\"n\">figure</th><th class=\"n\">spread</th><th class=\"n\">efficiency</th><th class=\"n\">void runs</th></tr>\n");
    for s in &sc.sets {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&s.spec.name),
            s.spec.instances,
            figure_of(s).map_or("-".into(), |v| format!("{v:.1}")),
            s.spread
                .map_or("-".into(), |(lo, hi)| format!("{lo:.1} – {hi:.1}")),
            s.efficiency.map_or("-".into(), |v| format!("{v:.2}")),
            s.void_runs
        );
    }
    h.push_str("</table>\n");
    Section {
        title: format!("Scaling experiment: {}", dir.display()),
        body: h,
    }
}
