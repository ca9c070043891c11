//! `${VAR}` / `${VAR:-default}` substitution over the raw scenario text,
//! before YAML parsing (`$${` writes a literal `${`). Comments are left
//! alone, so a commented-out line never needs its variables.
//!
//! The result keeps a map back to the original text so that errors found
//! after substitution still point at the line and column the user wrote.

/// A `${...}` problem at a character index of the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpolateError {
    pub at: usize,
    pub message: String,
}

/// The substituted text and how to map its positions back.
#[derive(Debug, Clone)]
pub struct Interpolated {
    pub text: String,
    /// (start in output, end in output, start in original) per substitution,
    /// in character indices, in order.
    spans: Vec<(usize, usize, usize, usize)>,
}

impl Interpolated {
    /// Maps a character index of the substituted text to one of the original.
    pub fn original_index(&self, out: usize) -> usize {
        // Each span: output [start, end) came from original [orig, orig_end).
        let mut delta: isize = 0;
        for &(start, end, orig, orig_end) in &self.spans {
            if out < start {
                break;
            }
            if out < end {
                return orig; // inside a substituted value: point at its `${`
            }
            delta = orig_end as isize - end as isize;
        }
        (out as isize + delta).max(0) as usize
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Substitutes every `${VAR}` outside comments. Reports every missing or
/// malformed reference at once.
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<InterpolateError>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut out_len = 0usize; // in chars
    let mut spans = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    // Per-line state: inside a quoted string, inside a comment.
    let mut quote: Option<char> = None;
    let mut comment = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            quote = None;
            comment = false;
        } else if !comment {
            match (quote, c) {
                (None, '#') if i == 0 || chars[i - 1].is_whitespace() => comment = true,
                (None, '"' | '\'') if quote_opens(&chars, i) => quote = Some(c),
                (Some('"'), '\\') => {
                    // Keep an escaped character (e.g. `\"`) from closing the string.
                    out.push(c);
                    out_len += 1;
                    i += 1;
                    if let Some(&next) = chars.get(i) {
                        out.push(next);
                        out_len += 1;
                        i += 1;
                    }
                    continue;
                }
                (Some(q), _) if c == q => quote = None,
                _ => {}
            }
        }
        if comment || c != '$' {
            out.push(c);
            out_len += 1;
            i += 1;
            continue;
        }
        // `$${` -> literal `${`
        if chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
            spans.push((out_len, out_len + 2, i, i + 3));
            out.push_str("${");
            out_len += 2;
            i += 3;
            continue;
        }
        if chars.get(i + 1) != Some(&'{') {
            out.push(c);
            out_len += 1;
            i += 1;
            continue;
        }
        let start = i;
        let Some(close) = chars[i + 2..]
            .iter()
            .position(|&ch| ch == '}' || ch == '\n')
            .map(|p| p + i + 2)
            .filter(|&p| chars[p] == '}')
        else {
            errors.push(InterpolateError {
                at: start,
                message: "unterminated `${`: expected `${NAME}` or `${NAME:-default}` (write `$${` for a literal `${`)".into(),
            });
            out.push(c);
            out_len += 1;
            i += 1;
            continue;
        };
        let inner: String = chars[i + 2..close].iter().collect();
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner.as_str(), None),
        };
        let valid =
            name.chars().next().is_some_and(is_name_start) && name.chars().all(is_name_char);
        let value = if !valid {
            errors.push(InterpolateError {
                at: start,
                message: format!("`${{{inner}}}`: expected a variable name (letters, digits, `_`), optionally with `:-default`"),
            });
            None
        } else {
            match (env(name), default) {
                (Some(v), _) => Some(v),
                (None, Some(d)) => Some(d.to_string()),
                (None, None) => {
                    errors.push(InterpolateError {
                        at: start,
                        message: format!("environment variable `{name}` is not set (give a default with `${{{name}:-value}}`)"),
                    });
                    None
                }
            }
        };
        let value = value.unwrap_or_default();
        let n = value.chars().count();
        spans.push((out_len, out_len + n, start, close + 1));
        out.push_str(&value);
        out_len += n;
        i = close + 1;
    }
    if errors.is_empty() {
        Ok(Interpolated { text: out, spans })
    } else {
        Err(errors)
    }
}

/// A quote starts a YAML quoted scalar only at the start of a value, not
/// inside a plain one (`it's`).
fn quote_opens(chars: &[char], i: usize) -> bool {
    let prev = chars[..i].iter().rev().find(|c| **c != ' ' && **c != '\t');
    matches!(prev, None | Some(':' | '-' | '[' | '{' | ',' | '\n' | '?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("secret".into()),
            "LONG" => Some("a-much-longer-value".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_defaults() {
        let r = interpolate("p: ${PW}\nq: ${NOPE:-dflt}\nr: $${PW}\n", &env).unwrap();
        assert_eq!(r.text, "p: secret\nq: dflt\nr: ${PW}\n");
    }

    #[test]
    fn missing_variables_are_all_reported() {
        let e = interpolate("a: ${X}\nb: ${Y}\n", &env).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].message.contains("`X`"));
        assert_eq!(e[1].at, 11);
    }

    #[test]
    fn comments_are_skipped() {
        let r = interpolate("# uses ${X}\na: 1 # ${Y}\nb: \"#${PW}\"\n", &env).unwrap();
        assert_eq!(r.text, "# uses ${X}\na: 1 # ${Y}\nb: \"#secret\"\n");
    }

    #[test]
    fn positions_map_back() {
        let src = "a: ${LONG}\nbad: x";
        let r = interpolate(src, &env).unwrap();
        let out_idx = r.text.find("bad").unwrap();
        assert_eq!(r.original_index(out_idx), src.find("bad").unwrap());
        assert_eq!(r.original_index(5), 3); // inside the value -> its `${`
    }

    #[test]
    fn malformed() {
        assert!(interpolate("a: ${\n", &env).is_err());
        assert!(interpolate("a: ${1X}\n", &env).is_err());
        assert_eq!(interpolate("cost: $5\n", &env).unwrap().text, "cost: $5\n");
    }
}
