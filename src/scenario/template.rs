//! Text templates in scenario strings: `{{vu}}`, `{{iteration}}`, `{{seq}}`,
//! `{{rand_int A B}}`, `{{uuid}}`, `{{room}}`, `{{username}}` and captured
//! variables (`{{name}}`). `{{{{` writes a literal `{{`.
//!
//! A template is compiled once when the scenario loads; rendering walks the
//! compiled parts into one pre-sized `String` (or a caller's buffer with
//! [`Template::render_into`]), since it runs for every message sent.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, RngExt};

use super::error::did_you_mean;

/// Names that take no argument.
const BUILTINS: &[&str] = &["vu", "iteration", "seq", "uuid", "room"];
/// Names that take arguments.
const FUNCTIONS: &[&str] = &["rand_int"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "`{{{{` at offset {at} is not closed by `}}}}` (write `{{{{{{{{` for a literal `{{{{`)"
    )]
    Unterminated { at: usize },
    #[error("empty `{{{{}}}}` at offset {at}")]
    Empty { at: usize },
    #[error("unknown function `{name}` at offset {at}{}", suggest(.suggestion))]
    UnknownFunction {
        name: String,
        at: usize,
        suggestion: Option<String>,
    },
    #[error("`{name}` at offset {at}: {message}")]
    BadArguments {
        name: String,
        at: usize,
        message: String,
    },
    #[error("`{name}` at offset {at} is not a variable name (letters, digits, `_`)")]
    BadName { name: String, at: usize },
    #[error("variable `{name}` is not set (no earlier step captured it)")]
    MissingVar { name: String },
    #[error("`{{{{room}}}}` used before the VU picked a room")]
    NoRoom,
}

impl TemplateError {
    /// Byte offset in the template source of a parse error.
    pub fn offset(&self) -> Option<usize> {
        match self {
            TemplateError::Unterminated { at }
            | TemplateError::Empty { at }
            | TemplateError::UnknownFunction { at, .. }
            | TemplateError::BadArguments { at, .. }
            | TemplateError::BadName { at, .. } => Some(*at),
            TemplateError::MissingVar { .. } | TemplateError::NoRoom => None,
        }
    }
}

fn suggest(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(Box<str>),
    Vu,
    Iteration,
    Seq,
    RandInt(i64, i64),
    Uuid,
    Room,
    Var(Box<str>),
}

/// Everything a render needs from the VU that renders.
pub struct RenderCtx<'a> {
    pub vu: u64,
    pub iteration: u64,
    /// `{{seq}}` renders this value, then increments it (per VU).
    pub seq: &'a mut u64,
    /// `{{room}}`: the VU's current room name.
    pub room: Option<&'a str>,
    /// Captured variables; `username` is the VU's user name.
    pub vars: &'a HashMap<String, String>,
    pub rng: &'a mut StdRng,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// Bytes of literal text plus a guess for each placeholder.
    size_hint: usize,
}

impl Template {
    /// Compiles `s`. Unknown functions, bad arguments and unclosed `{{` are
    /// errors; an unknown bare name is a captured variable.
    pub fn parse(s: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            lit.push_str(&rest[..open]);
            let at = offset + open;
            let after = &rest[open + 2..];
            if let Some(tail) = after.strip_prefix("{{") {
                lit.push_str("{{");
                offset = at + 4;
                rest = tail;
                continue;
            }
            let Some(close) = after.find("}}") else {
                return Err(TemplateError::Unterminated { at });
            };
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit).into_boxed_str()));
            }
            parts.push(parse_tag(&after[..close], at)?);
            offset = at + 2 + close + 2;
            rest = &after[close + 2..];
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit.into_boxed_str()));
        }
        let size_hint = parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Uuid => 36,
                Part::Room | Part::Var(_) => 24,
                _ => 8,
            })
            .sum();
        Ok(Template { parts, size_hint })
    }

    /// Renders into a new string.
    pub fn render(&self, ctx: &mut RenderCtx<'_>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.size_hint);
        self.render_into(ctx, &mut out)?;
        Ok(out)
    }

    /// Appends the rendering to `out` (reuse a buffer to render without
    /// allocating).
    pub fn render_into(
        &self,
        ctx: &mut RenderCtx<'_>,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        for part in &self.parts {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Vu => push_u64(out, ctx.vu),
                Part::Iteration => push_u64(out, ctx.iteration),
                Part::Seq => {
                    push_u64(out, *ctx.seq);
                    *ctx.seq += 1;
                }
                Part::RandInt(a, b) => {
                    let v = ctx.rng.random_range(*a..=*b);
                    if v < 0 {
                        out.push('-');
                    }
                    push_u64(out, v.unsigned_abs());
                }
                Part::Uuid => {
                    let mut bytes = [0u8; 16];
                    ctx.rng.fill_bytes(&mut bytes);
                    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                    out.push_str(id.hyphenated().encode_lower(&mut buf));
                }
                Part::Room => out.push_str(ctx.room.ok_or(TemplateError::NoRoom)?),
                Part::Var(name) => match ctx.vars.get(&**name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(TemplateError::MissingVar {
                            name: name.to_string(),
                        });
                    }
                },
            }
        }
        Ok(())
    }

    /// True when the template has no placeholder.
    pub fn is_literal(&self) -> bool {
        self.literal().is_some()
    }

    /// The text of a template without placeholders.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// Names of the variables it reads from `RenderCtx::vars` (`username` included).
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(&**name),
            _ => None,
        })
    }

    /// Whether it uses `{{room}}`.
    pub fn uses_room(&self) -> bool {
        self.parts.contains(&Part::Room)
    }
}

fn parse_tag(inner: &str, at: usize) -> Result<Part, TemplateError> {
    let mut words = inner.split_whitespace();
    let Some(name) = words.next() else {
        return Err(TemplateError::Empty { at });
    };
    let args: Vec<&str> = words.collect();
    let bad = |message: String| TemplateError::BadArguments {
        name: name.to_string(),
        at,
        message,
    };
    if BUILTINS.contains(&name) && !args.is_empty() {
        return Err(bad(format!("takes no arguments, found {}", args.len())));
    }
    Ok(match name {
        "vu" => Part::Vu,
        "iteration" => Part::Iteration,
        "seq" => Part::Seq,
        "uuid" => Part::Uuid,
        "room" => Part::Room,
        "rand_int" => {
            let [a, b] = args[..] else {
                return Err(bad(format!(
                    "takes two whole numbers (`{{{{rand_int 1 9}}}}`), found {} arguments",
                    args.len()
                )));
            };
            let int = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| bad(format!("`{s}` is not a whole number")))
            };
            let (a, b) = (int(a)?, int(b)?);
            if a > b {
                return Err(bad(format!(
                    "the lower bound {a} is above the upper bound {b}"
                )));
            }
            Part::RandInt(a, b)
        }
        _ if !args.is_empty() => {
            let names = BUILTINS.iter().chain(FUNCTIONS).copied();
            return Err(TemplateError::UnknownFunction {
                name: name.to_string(),
                at,
                suggestion: did_you_mean(name, names),
            });
        }
        _ => {
            let mut chars = name.chars();
            let valid = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(TemplateError::BadName {
                    name: name.to_string(),
                    at,
                });
            }
            Part::Var(name.into())
        }
    })
}

/// The placeholder names a template understands without a capture.
pub const BUILTIN_NAMES: &[&str] = &["vu", "iteration", "seq", "uuid", "room", "rand_int"];

fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn render(t: &Template, seq: &mut u64, rng: &mut StdRng) -> Result<String, TemplateError> {
        let mut vars = HashMap::new();
        vars.insert("username".to_string(), "load-7".to_string());
        vars.insert("rid".to_string(), "R1".to_string());
        t.render(&mut RenderCtx {
            vu: 7,
            iteration: 3,
            seq,
            room: Some("load-room-2"),
            vars: &vars,
            rng,
        })
    }

    #[test]
    fn renders_every_placeholder() {
        let t = Template::parse(
            "{{username}} vu={{vu}} it={{ iteration }} #{{seq}}/{{seq}} in {{room}} {{rid}}",
        )
        .unwrap();
        let (mut seq, mut rng) = (10, StdRng::seed_from_u64(1));
        assert_eq!(
            render(&t, &mut seq, &mut rng).unwrap(),
            "load-7 vu=7 it=3 #10/11 in load-room-2 R1"
        );
        assert_eq!(seq, 12);
        assert_eq!(t.vars().collect::<Vec<_>>(), ["username", "rid"]);
    }

    #[test]
    fn random_parts_repeat_with_the_seed() {
        let t = Template::parse("{{rand_int -3 3}} {{uuid}}").unwrap();
        let a = render(&t, &mut 0, &mut StdRng::seed_from_u64(42)).unwrap();
        let b = render(&t, &mut 0, &mut StdRng::seed_from_u64(42)).unwrap();
        assert_eq!(a, b);
        let (n, id) = a.split_once(' ').unwrap();
        assert!((-3..=3).contains(&n.parse::<i64>().unwrap()));
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    }

    #[test]
    fn literals_and_escapes() {
        let t = Template::parse("plain text").unwrap();
        assert_eq!(t.literal(), Some("plain text"));
        let t = Template::parse("a {{{{vu}} b } c }}").unwrap();
        assert_eq!(t.literal(), Some("a {{vu}} b } c }}"));
        assert_eq!(Template::parse("").unwrap().literal(), Some(""));
        assert!(!Template::parse("x{{vu}}").unwrap().is_literal());
    }

    #[test]
    fn errors() {
        assert!(matches!(
            Template::parse("{{rand_itn 1 2}}"),
            Err(TemplateError::UnknownFunction { suggestion: Some(s), .. }) if s == "rand_int"
        ));
        assert!(matches!(
            Template::parse("x {{rand_int 9 1}}"),
            Err(TemplateError::BadArguments { at: 2, .. })
        ));
        assert!(Template::parse("{{rand_int 1}}").is_err());
        assert!(Template::parse("{{vu 1}}").is_err());
        assert!(Template::parse("{{vu").is_err());
        assert!(Template::parse("{{ }}").is_err());
        assert!(Template::parse("{{a-b}}").is_err());
        let t = Template::parse("{{nope}}").unwrap();
        assert_eq!(
            render(&t, &mut 0, &mut StdRng::seed_from_u64(1)),
            Err(TemplateError::MissingVar {
                name: "nope".into()
            })
        );
    }
}
