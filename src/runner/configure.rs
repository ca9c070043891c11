//! `--configure-target`: the target's rate limiters switched off for the
//! test window through Rocket.Chat's settings API, as the admin, and put
//! back when the run ends, on an error and on Ctrl-C too. Only what this
//! run changed is put back (a switch found off stays off), and what it
//! changed is printed before any load with how to undo it by hand, since
//! a `kill -9` leaves no chance to.
//!
//! A sharded run is refused: each shard would restore the switches when it
//! ends, under the shards still running.

use std::time::Duration;

use serde_json::Value;

use super::error::RunError;
use crate::engine::Admin;
use crate::results::ConfiguredSetting;
use crate::rocketchat::settings::limiter_switches;
use crate::rocketchat::{ClientConfig, RcError, Rest};

/// How long putting the switches back may take before the operator is
/// told to do it by hand (a run that ends must end).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(15);

/// Switches changed on a target, to be put back.
pub struct Configured {
    url: String,
    client: ClientConfig,
    admin: Admin,
    /// Each switch turned off and the value it had.
    changed: Vec<(&'static str, Value)>,
}

/// What went wrong while changing the target's settings.
#[derive(Debug, thiserror::Error)]
#[error("--configure-target on {url}: {what}")]
pub struct ConfigureError {
    url: String,
    what: String,
    #[source]
    source: Option<Box<RcError>>,
}

impl Configured {
    /// Reads every limiter switch as the admin and turns off those on.
    /// On an error, what was already changed is put back first.
    pub async fn limiters_off(
        url: &str,
        client: &ClientConfig,
        admin: &Admin,
    ) -> Result<Configured, RunError> {
        let mut done = Configured {
            url: url.to_string(),
            client: client.clone(),
            admin: admin.clone(),
            changed: Vec::new(),
        };
        let fail = |what: String, e: RcError| {
            RunError::Configure(Box::new(ConfigureError {
                url: url.to_string(),
                what,
                source: Some(Box::new(e)),
            }))
        };
        let rest = admin
            .session(url, client)
            .await
            .map_err(|e| fail(format!("the admin `{}` cannot log in", admin.who()), e))?;
        for id in limiter_switches() {
            let was = match rest.setting(id).await {
                Ok(v) => v,
                Err(e) => {
                    done.restore().await;
                    return Err(fail(format!("reading {id} ({})", explain(&e)), e));
                }
            };
            if was == Value::Bool(false) {
                continue;
            }
            if let Err(e) = rest
                .set_setting(id, &Value::Bool(false), admin.password())
                .await
            {
                done.restore().await;
                return Err(fail(format!("switching {id} off ({})", explain(&e)), e));
            }
            done.changed.push((id, was));
        }
        Ok(done)
    }

    /// The changes, for the results.
    pub fn settings(&self) -> Vec<ConfiguredSetting> {
        self.changed
            .iter()
            .map(|(id, was)| ConfiguredSetting {
                id: (*id).to_string(),
                was: was.clone(),
                set: Value::Bool(false),
            })
            .collect()
    }

    /// One line for the terminal and the run's notes.
    pub fn describe(&self) -> String {
        if self.changed.is_empty() {
            return format!(
                "--configure-target: the rate limiters of {} were already off; nothing changed",
                self.url
            );
        }
        format!(
            "--configure-target: switched off on {} for this run: {}; put back when the run ends. If this process is killed, set them back by hand (Administration > Settings > Rate Limiter): {}",
            self.url,
            self.ids().join(", "),
            self.changed
                .iter()
                .map(|(id, was)| format!("{id}={was}"))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    fn ids(&self) -> Vec<&str> {
        self.changed.iter().map(|(id, _)| *id).collect()
    }

    /// Puts every changed switch back (a fresh admin session: the run may
    /// have lasted longer than the first one), bounded in time. Says on
    /// stderr what it did, and what is left to do by hand.
    pub async fn restore(self) {
        if self.changed.is_empty() {
            return;
        }
        let work = async {
            match self.admin.session(&self.url, &self.client).await {
                Ok(rest) => self.restore_with(&rest).await,
                Err(e) => self
                    .changed
                    .iter()
                    .map(|(id, _)| (*id, e.to_string()))
                    .collect(),
            }
        };
        let failed = match tokio::time::timeout(RESTORE_TIMEOUT, work).await {
            Ok(failed) => failed,
            Err(_) => self
                .changed
                .iter()
                .map(|(id, _)| (*id, format!("no answer in {RESTORE_TIMEOUT:?}")))
                .collect(),
        };
        if failed.is_empty() {
            eprintln!(
                "--configure-target: put back on {}: {}",
                self.url,
                self.ids().join(", ")
            );
            return;
        }
        eprintln!(
            "error: --configure-target could not put back the rate limiters of {}; set them by hand (Administration > Settings > Rate Limiter):",
            self.url
        );
        for (id, why) in failed {
            let was = self
                .changed
                .iter()
                .find(|(i, _)| *i == id)
                .map_or(Value::Null, |(_, v)| v.clone());
            eprintln!("  {id}={was} ({why})");
        }
    }

    /// Puts the changed switches back with `rest`; the ones that failed.
    async fn restore_with(&self, rest: &Rest) -> Vec<(&'static str, String)> {
        let mut failed = Vec::new();
        for (id, was) in &self.changed {
            if let Err(e) = rest.set_setting(id, was, self.admin.password()).await {
                failed.push((*id, explain(&e)));
            }
        }
        failed
    }
}

/// An error of the settings API in the operator's terms.
fn explain(e: &RcError) -> String {
    let text = e.to_string();
    if text.contains("totp-") {
        "the admin has two-factor authentication: its password does not answer the server's second-factor check; give a personal access token made with \"Ignore Two Factor Authentication\" (RC_ADMIN_USER_ID + RC_ADMIN_TOKEN), or set the switches by hand".into()
    } else if matches!(
        e,
        RcError::Http {
            status: 401 | 403,
            ..
        }
    ) {
        "the admin lacks view-privileged-setting / edit-privileged-setting".into()
    } else {
        text
    }
}
