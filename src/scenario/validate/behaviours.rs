//! `behaviours`: names, weights, pinned VUs, and the walk over each
//! behaviour's `setup` and `steps` (the step rules are in `steps/`).

use std::collections::BTreeSet;

use super::steps::{Flow, Place, StepCtx};
use super::{Checker, KeyPath};
use crate::scenario::model::*;

impl Checker<'_> {
    pub(super) fn behaviours(&mut self, s: &Scenario, p: &KeyPath) {
        if s.behaviours.is_empty() {
            self.err(p, "needs at least one behaviour");
        }
        self.pinned(s, p);
        let mut names = BTreeSet::new();
        for (i, b) in s.behaviours.iter().enumerate() {
            let bp = p.idx(i);
            if b.name.trim().is_empty() {
                self.err(&bp.key("name"), "must not be empty");
            } else if !names.insert(b.name.as_str()) {
                self.err(
                    &bp.key("name"),
                    format!("`{}` names two behaviours", b.name),
                );
            }
            if b.weight == 0 {
                self.err(
                    &bp.key("weight"),
                    "must be above 0 (remove the behaviour to disable it)",
                );
            }
            if b.steps.is_empty() {
                self.err(&bp.key("steps"), "needs at least one step (one iteration)");
            }
            if b.vus == Some(0) {
                self.err(
                    &bp.key("vus"),
                    "must be at least 1 (remove the behaviour to disable it)",
                );
            }
            if b.vus.is_some() && self.has(&bp.key("weight")) {
                self.err(
                    &bp.key("weight"),
                    "a behaviour with `vus` is pinned; `weight` applies only to the others",
                );
            }
            let mut captured: BTreeSet<String> = BTreeSet::from(["username".to_string()]);
            collect_captures(b.setup.iter().chain(&b.steps), &mut captured);
            let mut flow = Flow::default();
            let ctx = StepCtx {
                captured: &captured,
                open: s.load.model == Model::Open,
            };
            self.steps(&b.setup, &bp.key("setup"), &mut flow, Place::Setup, &ctx);
            let n = b.steps.len();
            for (j, step) in b.steps.iter().enumerate() {
                let place = Place::Steps { last: j + 1 == n };
                self.step(step, &bp.key("steps").idx(j), &mut flow, place, &ctx);
            }
        }
    }

    /// Behaviours with `vus` must fit in the VUs the load provides.
    fn pinned(&mut self, s: &Scenario, p: &KeyPath) {
        let pinned: u64 = s
            .behaviours
            .iter()
            .filter_map(|b| b.vus)
            .map(u64::from)
            .sum();
        if pinned == 0 {
            return;
        }
        let l = &s.load;
        let capacity = match l.model {
            Model::Closed => {
                let peak = l.stages.iter().map(|st| st.target).fold(0.0_f64, f64::max);
                peak.max(f64::from(l.vus.unwrap_or(0))) as u64
            }
            Model::Open => u64::from(l.max_vus.unwrap_or(0)),
        };
        let unpinned = s.behaviours.iter().any(|b| b.vus.is_none());
        if capacity > 0 && pinned > capacity {
            self.err(
                p,
                format!("behaviours pin {pinned} VUs, but the load provides at most {capacity}"),
            );
        } else if capacity > pinned && !unpinned {
            self.err(
                p,
                format!(
                    "every behaviour is pinned with `vus` ({pinned} in all), so {} of the {capacity} VUs would have none: add a behaviour without `vus`",
                    capacity - pinned
                ),
            );
        }
    }
}

fn collect_captures<'a>(steps: impl Iterator<Item = &'a Step>, out: &mut BTreeSet<String>) {
    for step in steps {
        if let Step::Http(h) = step {
            out.extend(h.capture.keys().cloned());
        }
        collect_captures(step.children().iter(), out);
    }
}
