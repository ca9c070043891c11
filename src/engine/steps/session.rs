//! `login` (REST or DDP digest) and `connect` (websocket, DDP connect,
//! resume with the REST token).

use crate::engine::clock::IterationClock;
use crate::engine::vu::Vu;
use crate::metrics::ErrorClass;
use crate::scenario::{LoginStep, Via};

impl Vu {
    pub(crate) async fn login(
        &mut self,
        step: &LoginStep,
        metric: &str,
        clock: &mut IterationClock,
    ) {
        let (user, pass) = (self.user.username.clone(), self.user.password.clone());
        if user.is_empty() {
            self.ctx
                .note("login: the scenario has no users for this VU".into());
            self.fail_now(metric, ErrorClass::Other);
            return;
        }
        match step.via {
            Via::Rest => {
                let t = clock.start();
                let r = match self.rest() {
                    Ok(rest) => rest.login(&user, &pass).await,
                    Err(c) => return self.fail_now(metric, c),
                };
                if let Some(s) = self.done(metric, t, r) {
                    self.set_session(s);
                }
            }
            Via::Ddp => {
                let ddp = match self.ddp(clock).await {
                    Ok(d) => d,
                    Err(c) => return self.fail_now(metric, c),
                };
                let t = clock.start();
                let r = ddp.login_password(&user, &pass).await;
                if let Some(s) = self.done(metric, t, r) {
                    self.set_session(s);
                }
            }
        }
    }

    pub(crate) async fn connect_step(&mut self, metric: &str, clock: &mut IterationClock) {
        if let Some(d) = &self.ddp
            && !d.is_closed()
        {
            return;
        }
        // Failures are recorded by `connect` itself.
        let _ = self.connect(clock, metric).await;
    }

    /// The session's user id, or a recorded failure.
    pub(crate) fn user_id(&mut self, metric: &str) -> Option<String> {
        match &self.session {
            Some(s) => Some(s.user_id.clone()),
            None => {
                self.fail_now(metric, ErrorClass::Other);
                None
            }
        }
    }

    pub(crate) fn username(&self) -> String {
        self.session
            .as_ref()
            .map_or_else(|| self.user.username.clone(), |s| s.username.clone())
    }
}
