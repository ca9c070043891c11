//! Human durations (`250ms`, `45s`, `1m30s`) and ratios (`1%`, `0.01`) in
//! scenario files.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error};

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

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(f64),
    Str(String),
}

impl NumOrStr {
    fn into_duration(self) -> Result<Duration, String> {
        match self {
            NumOrStr::Num(n) => parse_duration(&n.to_string()),
            NumOrStr::Str(s) => parse_duration(&s),
        }
    }
    fn into_ratio(self) -> Result<f64, String> {
        match self {
            NumOrStr::Num(n) => parse_ratio(&n.to_string()),
            NumOrStr::Str(s) => parse_ratio(&s),
        }
    }
}

pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    NumOrStr::deserialize(d)?
        .into_duration()
        .map_err(D::Error::custom)
}

pub fn deserialize_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(v) => v.into_duration().map(Some).map_err(D::Error::custom),
    }
}

pub fn deserialize_opt_ratio<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(v) => v.into_ratio().map(Some).map_err(D::Error::custom),
    }
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
