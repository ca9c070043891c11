//! `rocketload cleanup`: deletes what provisioning created on a target,
//! after listing it and asking.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::CleanupArgs;
use crate::engine::cleanup::{self, Survey};
use crate::engine::{Overrides, admin::how_to_give};
use crate::results::Progress;
use crate::runner::{Exit, Planned, RunError, RunRequest, Target, report_error};

pub fn run(args: CleanupArgs) -> u8 {
    match cleanup(&args) {
        Ok(code) => code.code(),
        Err(e) => {
            report_error(&e);
            e.exit().code()
        }
    }
}

fn cleanup(args: &CleanupArgs) -> Result<Exit, RunError> {
    let request = RunRequest {
        scenario: args.scenario.clone(),
        targets: args.target.iter().cloned().collect(),
        overrides: Overrides::default(),
        admin_password_file: args.access.admin_password_file.clone(),
        insecure: args.access.insecure,
        ..RunRequest::default()
    };
    let planned = Planned::resolve(request)?;
    if planned.target == Target::Embedded {
        return Err(RunError::Plan(
            "cleanup needs a target (--target URL, or the scenario's `target.urls`): the embedded server keeps nothing after a run".into(),
        ));
    }
    let Some(admin) = planned.admin.clone() else {
        return Err(RunError::Plan(format!(
            "cleanup deletes as the target's admin: {}",
            how_to_give()
        )));
    };
    let plan = &planned.plan;
    let url = plan.targets[0].clone();
    let runtime = crate::runner::runtime()?;
    runtime.block_on(async {
        let bad = |what: &str, e| RunError::Plan(format!("{what} on {url} failed: {e}"));
        let rest = admin
            .session(&url, &plan.client_of(0))
            .await
            .map_err(|e| bad(&format!("admin login as `{}`", admin.who()), e))?;
        let bar = Progress::counting("looking up", false);
        let survey = cleanup::survey(plan, &rest, &bar)
            .await
            .map_err(|e| bad("looking up the scenario's users and rooms", e))?;
        bar.finish();
        print!("{}", describe(&survey, &url));
        if !survey.foreign.is_empty() {
            return Err(RunError::Plan(format!(
                "{} of the scenario's names belong to accounts or rooms rocketload did not create: nothing deleted (check the scenario's `users.prefix` and `rooms.prefix`, and the target)",
                survey.foreign.len()
            )));
        }
        if survey.is_empty() {
            return Err(RunError::Plan(format!(
                "nothing to delete: none of the {} users and {} rooms the scenario names exists on {url}",
                survey.looked_up.0, survey.looked_up.1
            )));
        }
        if args.dry_run {
            println!("dry run: nothing deleted");
            return Ok(Exit::Pass);
        }
        if !args.yes && !confirm()? {
            println!("nothing deleted");
            return Ok(Exit::Pass);
        }
        let bar = Progress::counting("deleting", false);
        let done = cleanup::delete(&survey, &rest, plan.scenario.users.concurrency, &bar).await;
        bar.finish();
        println!("deleted {} users and {} rooms", done.users, done.rooms);
        for (name, e) in &done.failed {
            eprintln!("error: deleting `{name}` failed: {e}");
        }
        Ok(if done.failed.is_empty() {
            Exit::Pass
        } else {
            Exit::ThresholdsFailed
        })
    })
}

/// What will be deleted and what must not be, for the terminal.
fn describe(s: &Survey, url: &str) -> String {
    let span = |names: &[String]| match names {
        [] => String::new(),
        [one] => format!(" ({one})"),
        [first, .., last] => format!(" ({first} .. {last})"),
    };
    let users: Vec<String> = s.users.iter().map(|u| u.name.clone()).collect();
    let rooms: Vec<String> = s.rooms.iter().map(|r| r.name.clone()).collect();
    let mut out = format!(
        "on {url}, made by rocketload:\n  {} users{}\n  {} rooms{}\n",
        users.len(),
        span(&users),
        rooms.len(),
        span(&rooms)
    );
    if !s.foreign.is_empty() {
        out.push_str("not made by rocketload, and never deleted:\n");
        for f in &s.foreign {
            out.push_str(&format!("  {}: {}\n", f.name, f.why));
        }
    }
    out
}

/// Asks on the terminal; refuses to guess without one.
fn confirm() -> Result<bool, RunError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(RunError::Plan(
            "not asking without a terminal: pass --yes to delete, or --dry-run to list".into(),
        ));
    }
    print!("delete them? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| RunError::Plan(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
