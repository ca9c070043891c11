//! `http`: method, path, templated body and headers, captures, expected status.

use super::StepCtx;
use crate::scenario::error::{Severity, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::template::BUILTIN_NAMES;
use crate::scenario::validate::{Checker, KeyPath, is_token_byte};

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl Checker<'_> {
    pub(super) fn http(&mut self, h: &HttpStep, p: &KeyPath, ctx: &StepCtx) {
        let method = h.method.to_ascii_uppercase();
        if !HTTP_METHODS.contains(&method.as_str()) {
            self.push(
                Severity::Error,
                &p.key("method"),
                format!(
                    "unknown HTTP method `{}`, expected one of {}",
                    h.method,
                    HTTP_METHODS.join(", ")
                ),
                did_you_mean(&method, HTTP_METHODS.iter().copied()),
            );
        }
        if !h.path.starts_with('/') {
            self.err(
                &p.key("path"),
                format!(
                    "`{}` must start with `/` (it is joined to the target URL)",
                    h.path
                ),
            );
        }
        if let Some(t) = self.template(&h.path, &p.key("path"), ctx)
            && !t.is_literal()
            && h.name.is_none()
        {
            self.err(
                &p.key("path"),
                "a templated path would make a metric name per value: give the step a `name:`",
            );
        }
        if let Some(body) = &h.body {
            self.json_templates(body, &p.key("body"), ctx);
        }
        for (k, v) in &h.headers {
            if k.is_empty() || !k.bytes().all(is_token_byte) {
                self.err(
                    &p.key("headers").key(k),
                    format!("`{k}` is not a valid HTTP header name"),
                );
            }
            self.template(v, &p.key("headers").key(k), ctx);
        }
        for (var, pointer) in &h.capture {
            let cp = p.key("capture").key(var);
            if !is_identifier(var) {
                self.err(
                    &cp,
                    format!("`{var}` is not a variable name (letters, digits, `_`)"),
                );
            } else if BUILTIN_NAMES.contains(&var.as_str()) {
                self.err(
                    &cp,
                    format!("`{var}` is a built-in template name; capture under another name"),
                );
            }
            if !pointer.starts_with('/') {
                self.err(
                    &cp,
                    format!("`{pointer}` is not a JSON pointer into the response body: it starts with `/`, e.g. `/channel/_id`"),
                );
            }
        }
        if let Some(code) = h.expect_status
            && !(100..=599).contains(&code)
        {
            self.err(
                &p.key("expect_status"),
                format!("{code} is not an HTTP status (100-599)"),
            );
        }
    }

    fn json_templates(&mut self, v: &serde_json::Value, p: &KeyPath, ctx: &StepCtx) {
        match v {
            serde_json::Value::String(s) => {
                self.template(s, p, ctx);
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.json_templates(item, &p.idx(i), ctx);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    self.json_templates(item, &p.key(k), ctx);
                }
            }
            _ => {}
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
