//! Human durations (`250ms`, `45s`, `1m30s`) and ratios (`1%`, `0.01`) in
//! scenario files.

use std::time::Duration;

use std::fmt;

use serde::{Deserializer, de::Error, de::Visitor};

/// Parses `500us`, `250ms`, `45s`, `1m`, `1h`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("duration `{s}` must be a non-negative number"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration `{s}` ({e}); expected e.g. 500ms, 30s, 2m"))
}

/// Parses `1%` or `0.01` into a fraction.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v / scale <= 1.0 => Ok(v / scale),
        _ => Err(format!("invalid ratio `{s}`; expected e.g. 1% or 0.01")),
    }
}

/// Accepts a number or a string and hands its text to a parser, so errors
/// say what was expected instead of naming an internal type.
struct Text<F> {
    parse: F,
    what: &'static str,
}

impl<'de, T, F: Fn(&str) -> Result<T, String>> Visitor<'de> for Text<F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
}

const DURATION: &str = "a duration such as 500ms, 30s or 2m";
const RATIO: &str = "a ratio such as 1% or 0.01";

pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(Text {
        parse: parse_duration,
        what: DURATION,
    })
}

/// Like [`deserialize_duration`]; absence is handled by `#[serde(default)]`.
pub fn deserialize_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(Text {
        parse: |s: &str| parse_duration(s).map(Some),
        what: DURATION,
    })
}

pub fn deserialize_opt_ratio<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(Text {
        parse: |s: &str| parse_ratio(s).map(Some),
        what: RATIO,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn ratios() {
        assert_eq!(parse_ratio("1%").unwrap(), 0.01);
        assert_eq!(parse_ratio("0.5").unwrap(), 0.5);
        assert!(parse_ratio("150%").is_err());
    }
}
