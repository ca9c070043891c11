//! `http`: any REST request, with templated path/body/headers, the VU's
//! session headers, captures into VU variables and an expected status.

use std::borrow::Cow;

use serde_json::Value;

use crate::engine::clock::IterationClock;
use crate::engine::vu::Vu;
use crate::metrics::ErrorClass;
use crate::scenario::HttpStep;
use crate::scenario::recorded::http_metric_name;

impl Vu {
    /// Renders every string inside a JSON value.
    fn render_json(&mut self, v: &Value) -> Result<Value, ErrorClass> {
        Ok(match v {
            Value::String(s) => Value::String(self.render(s)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.render_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(o) => {
                let mut out = serde_json::Map::with_capacity(o.len());
                for (k, x) in o {
                    out.insert(k.clone(), self.render_json(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    pub(crate) async fn http(&mut self, step: &HttpStep, clock: &mut IterationClock) {
        let path = match self.render(&step.path) {
            Ok(p) => p,
            Err(c) => {
                let metric = step
                    .name
                    .clone()
                    .unwrap_or_else(|| http_metric_name(&step.path));
                return self.fail_now(&metric, c);
            }
        };
        // Named steps (the usual case) borrow their name: no allocation per request.
        let metric: Cow<str> = match &step.name {
            Some(n) => Cow::Borrowed(n),
            None => Cow::Owned(http_metric_name(&path)),
        };
        let body = match step.body.as_ref().map(|b| self.render_json(b)).transpose() {
            Ok(b) => b,
            Err(c) => return self.fail_now(&metric, c),
        };
        let mut headers = Vec::with_capacity(step.headers.len());
        for (k, v) in &step.headers {
            match self.render(v) {
                Ok(v) => headers.push((k.clone(), v)),
                Err(c) => return self.fail_now(&metric, c),
            }
        }
        let auth = step.auth && self.session.is_some();
        let t = clock.start();
        let r = match self.rest() {
            Ok(rest) => {
                rest.request(&step.method, &path, body.as_ref(), &headers, auth)
                    .await
            }
            Err(c) => return self.fail_now(&metric, c),
        };
        let resp = match r {
            Ok(resp) => resp,
            Err(e) => {
                self.record_error(&metric, t, &e);
                return;
            }
        };
        let status_ok = match step.expect_status {
            Some(s) => resp.status == s,
            None => (200..300).contains(&resp.status),
        };
        if !status_ok {
            return self.record(&metric, t, Err(ErrorClass::Http(resp.status)));
        }
        let mut outcome = Ok(());
        // Parsed only when something is captured from it.
        let body = match step.capture.is_empty() {
            true => Value::Null,
            false => resp.json(),
        };
        for (var, pointer) in &step.capture {
            match body.pointer(pointer) {
                Some(Value::String(s)) => {
                    self.vars.insert(var.clone(), s.clone());
                }
                Some(v) => {
                    self.vars.insert(var.clone(), v.to_string());
                }
                None => {
                    self.ctx.note(format!(
                        "http {path}: capture `{var}`: no value at JSON pointer `{pointer}`"
                    ));
                    outcome = Err(ErrorClass::Protocol);
                }
            }
        }
        self.record(&metric, t, outcome);
    }
}
