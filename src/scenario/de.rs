//! serde deserialization from the positioned YAML tree: every error gets
//! the key path and the position of the node where it arose, unknown keys
//! and step names get a did-you-mean from the names serde expected.
//!
//! Enums (steps, think forms) are written as a map with one key naming the
//! variant (`- send_message: {room: random}`) or as a bare name
//! (`- connect`, the same as `- connect: {}`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Visitor};

use super::error::did_you_mean;
use super::yaml::{Kind, Node};

/// A deserialization error, positioned once it leaves the node it arose in.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub suggestion: Option<String>,
    /// Character index into the parsed text.
    pub at: Option<usize>,
    pub path: String,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

fn plain_error(message: String, suggestion: Option<String>) -> DeError {
    DeError {
        message,
        suggestion,
        at: None,
        path: String::new(),
    }
}

fn one_of(expected: &[&str]) -> String {
    let names: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    names.join(", ")
}

/// serde's type names in words a scenario author knows.
fn expected_words(exp: &dyn de::Expected) -> String {
    let s = exp.to_string();
    match s.as_str() {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number >= 0".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "`true` or `false`".into(),
        _ => s,
    }
}

/// "unknown key `rom`" with a did-you-mean, or the list of valid names
/// when none is near.
fn unknown(what: &str, name: &str, expected: &[&str]) -> DeError {
    match did_you_mean(name, expected.iter().copied()) {
        Some(s) => plain_error(format!("unknown {what} `{name}`"), Some(s)),
        None => plain_error(
            format!(
                "unknown {what} `{name}`, expected one of {}",
                one_of(expected)
            ),
            None,
        ),
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        plain_error(msg.to_string(), None)
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Seq => "a list".to_string(),
            de::Unexpected::Map => "a map".to_string(),
            other => other.to_string(),
        };
        plain_error(
            format!("expected {}, found {found}", expected_words(exp)),
            None,
        )
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        plain_error(
            format!("expected {}, found {unexp}", expected_words(exp)),
            None,
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        unknown("key", field, expected)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        unknown("name", variant, expected)
    }

    fn missing_field(field: &'static str) -> Self {
        plain_error(format!("missing key `{field}`"), None)
    }

    fn duplicate_field(field: &'static str) -> Self {
        plain_error(format!("key `{field}` given twice"), None)
    }
}

/// Where a node sits, as a chain of parents (no allocation while walking).
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(parent, key) => {
                if !matches!(parent, Path::Root) {
                    write!(f, "{parent}.")?;
                }
                write_key(f, key)
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Keys with dots (metric names under `thresholds`) are quoted.
pub fn write_key(f: &mut impl fmt::Write, key: &str) -> fmt::Result {
    if key.contains('.') || key.contains(' ') {
        write!(f, "\"{key}\"")
    } else {
        f.write_str(key)
    }
}

/// Deserializes `T` from the tree.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(De {
        node,
        path: Path::Root,
    })
}

struct De<'n, 'p> {
    node: &'n Node,
    path: Path<'p>,
}

impl De<'_, '_> {
    /// Positions an error at this node unless a deeper node already did.
    fn fix(&self, mut e: DeError) -> DeError {
        if e.at.is_none() {
            e.at = Some(self.node.at);
            e.path = self.path.to_string();
        }
        e
    }

    fn unexpected(&self) -> de::Unexpected<'_> {
        if self.node.is_null() {
            return de::Unexpected::Other("nothing (null)");
        }
        match &self.node.kind {
            Kind::Scalar { text, .. } => de::Unexpected::Str(text),
            Kind::Seq(_) => de::Unexpected::Seq,
            Kind::Map(_) => de::Unexpected::Map,
        }
    }
}

/// A plain scalar's YAML 1.2 core-schema value.
enum Plain<'a> {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    Str(&'a str),
}

fn resolve(text: &str) -> Plain<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Plain::F(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Plain::F(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Plain::F(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix('+').unwrap_or(text);
    let radix = [("0x", 16), ("0o", 8)]
        .iter()
        .find_map(|(prefix, r)| digits.strip_prefix(prefix).map(|d| (d, *r)));
    if let Some((d, r)) = radix
        && let Ok(v) = u64::from_str_radix(d, r)
    {
        return Plain::U(v);
    }
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(v) = digits.parse::<u64>() {
            return Plain::U(v);
        }
    } else if let Some(neg) = text.strip_prefix('-')
        && !neg.is_empty()
        && neg.bytes().all(|b| b.is_ascii_digit())
        && let Ok(v) = text.parse::<i64>()
    {
        return Plain::I(v);
    }
    // Rust accepts `inf`, `NaN`, `1.` ...: only take what YAML calls a float.
    let floaty = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if floaty && let Ok(v) = text.parse::<f64>() {
        return Plain::F(v);
    }
    Plain::Str(text)
}

const EMPTY_MAP: Node = Node {
    kind: Kind::Map(Vec::new()),
    at: 0,
};

impl<'de> de::Deserializer<'de> for De<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Scalar { text, plain: false } => v.visit_str(text),
            Kind::Scalar { text, plain: true } => match resolve(text) {
                Plain::Null => v.visit_unit(),
                Plain::Bool(b) => v.visit_bool(b),
                Plain::U(n) => v.visit_u64(n),
                Plain::I(n) => v.visit_i64(n),
                Plain::F(n) => v.visit_f64(n),
                Plain::Str(s) => v.visit_str(s),
            },
            Kind::Seq(items) => v.visit_seq(Seq {
                items: items.iter(),
                index: 0,
                path: self.path,
            }),
            Kind::Map(pairs) => v.visit_map(Map {
                pairs: pairs.iter(),
                value: None,
                path: self.path,
            }),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        // Any non-null scalar is a string: `password: 1234` means "1234".
        let r = match &self.node.kind {
            Kind::Scalar { text, .. } if !self.node.is_null() => v.visit_str(text),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            v.visit_none().map_err(|e| self.fix(e))
        } else {
            let fixed = De {
                node: self.node,
                path: self.path,
            };
            v.visit_some(self).map_err(|e| fixed.fix(e))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = if self.node.is_null() {
            v.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &v))
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        let fixed = De {
            node: self.node,
            path: self.path,
        };
        v.visit_newtype_struct(self).map_err(|e| fixed.fix(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Seq(items) => v.visit_seq(Seq {
                items: items.iter(),
                index: 0,
                path: self.path,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Map(pairs) => v.visit_map(Map {
                pairs: pairs.iter(),
                value: None,
                path: self.path,
            }),
            _ => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Scalar { .. } => v.visit_enum(Enum {
                key: self.node,
                value: None,
                path: self.path,
                name,
            }),
            Kind::Map(pairs) if pairs.len() == 1 => v.visit_enum(Enum {
                key: &pairs[0].0,
                value: Some(&pairs[0].1),
                path: self.path,
                name,
            }),
            Kind::Map(pairs) => {
                let keys: Vec<String> = pairs
                    .iter()
                    .filter_map(|(k, _)| k.scalar())
                    .map(|k| format!("`{k}`"))
                    .collect();
                let what = words(name);
                let msg = if keys.is_empty() {
                    format!("expected one key naming the {what}, found an empty map")
                } else {
                    format!(
                        "expected one key naming the {what}, found {} keys ({}); indent the options under the {what}'s name",
                        keys.len(),
                        keys.join(", ")
                    )
                };
                Err(de::Error::custom(msg))
            }
            Kind::Seq(_) => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        r.map_err(|e| self.fix(e))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, DeError> {
        Err(self.fix(de::Error::custom("binary values are not supported")))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_bytes(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
    }
}

struct Seq<'n, 'p> {
    items: std::slice::Iter<'n, Node>,
    index: usize,
    path: Path<'p>,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let i = self.index;
        self.index += 1;
        seed.deserialize(De {
            node,
            path: Path::Index(&self.path, i),
        })
        .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'n, 'p> {
    pairs: std::slice::Iter<'n, (Node, Node)>,
    value: Option<(&'n Node, &'n Node)>,
    path: Path<'p>,
}

impl<'de> de::MapAccess<'de> for Map<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.pairs.next() else {
            return Ok(None);
        };
        self.value = Some((k, v));
        let name = k.scalar().unwrap_or("?");
        seed.deserialize(De {
            node: k,
            path: Path::Key(&self.path, name),
        })
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((k, v)) = self.value.take() else {
            return Err(de::Error::custom("map value without a key"));
        };
        seed.deserialize(De {
            node: v,
            path: Path::Key(&self.path, k.scalar().unwrap_or("?")),
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

struct Enum<'n, 'p> {
    key: &'n Node,
    value: Option<&'n Node>,
    path: Path<'p>,
    /// The Rust enum's name, for "unknown step `x`".
    name: &'static str,
}

/// `SendVia` -> `send via`.
fn words(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl<'de, 'n, 'p> de::EnumAccess<'de> for Enum<'n, 'p> {
    type Error = DeError;
    type Variant = Variant<'n, 'p>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Variant<'n, 'p>), DeError> {
        let name = self.key.scalar().unwrap_or("?");
        // `model: clsoed` is at `load.model`; `- sned: {..}` at `steps[0].sned`.
        let path = match self.value {
            Some(_) => Path::Key(&self.path, name),
            None => self.path,
        };
        let tag = seed
            .deserialize(De {
                node: self.key,
                path,
            })
            .map_err(|mut e| {
                if let Some(rest) = e.message.strip_prefix("unknown name") {
                    e.message = format!("unknown {}{rest}", words(self.name));
                }
                e
            })?;
        Ok((
            tag,
            Variant {
                key: self.key,
                value: self.value,
                path: self.path,
            },
        ))
    }
}

struct Variant<'n, 'p> {
    key: &'n Node,
    value: Option<&'n Node>,
    path: Path<'p>,
}

impl<'de> de::VariantAccess<'de> for Variant<'_, '_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            Some(v) if !v.is_null() => Err(DeError {
                at: Some(v.at),
                path: Path::Key(&self.path, self.key.scalar().unwrap_or("?")).to_string(),
                ..plain_error("takes no options".into(), None)
            }),
            _ => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        let name = self.key.scalar().unwrap_or("?");
        // `- connect` and `- connect:` mean `- connect: {}`.
        let empty = Node {
            at: self.value.map_or(self.key.at, |v| v.at),
            ..EMPTY_MAP
        };
        let node = match self.value {
            Some(v) if !v.is_null() => v,
            _ => &empty,
        };
        seed.deserialize(De {
            node,
            path: Path::Key(&self.path, name),
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, DeError> {
        let name = self.key.scalar().unwrap_or("?");
        let node = self.value.unwrap_or(self.key);
        de::Deserializer::deserialize_tuple(
            De {
                node,
                path: Path::Key(&self.path, name),
            },
            len,
            v,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let name = self.key.scalar().unwrap_or("?");
        let empty = Node {
            at: self.key.at,
            ..EMPTY_MAP
        };
        let node = match self.value {
            Some(v) if !v.is_null() => v,
            _ => &empty,
        };
        de::Deserializer::deserialize_map(
            De {
                node,
                path: Path::Key(&self.path, name),
            },
            v,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{Step, Think, Users};
    use crate::scenario::yaml::parse;

    fn de<T: de::DeserializeOwned>(text: &str) -> Result<T, DeError> {
        from_node(&parse(text).expect("valid YAML"))
    }

    #[test]
    fn bare_and_null_steps_mean_no_options() {
        let steps: Vec<Step> = de("- connect\n- connect:\n- web_client_boot: {}\n").unwrap();
        assert_eq!(
            steps.iter().map(Step::kind).collect::<Vec<_>>(),
            ["connect", "connect", "web_client_boot"]
        );
        let e = de::<Vec<Step>>("- subscribe\n").unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("[0].subscribe", "missing key `stream`")
        );
    }

    #[test]
    fn scalars_resolve_like_yaml_1_2() {
        let u: Users = de("count: 0x10\npassword: 1234\n").unwrap();
        assert_eq!((u.count, u.password.as_str()), (16, "1234"));
        assert!(de::<Users>("count: '3'\npassword: p\n").is_err());
        assert_eq!(
            de::<Think>("1.5").unwrap(),
            Think::Constant(std::time::Duration::from_millis(1500))
        );
        assert!(
            de::<Think>("{uniform: [1s]}")
                .unwrap_err()
                .message
                .contains("found 1 values")
        );
    }

    #[test]
    fn errors_carry_path_and_position() {
        let e = de::<Vec<Step>>("- think: 1s\n- send_message: {room: [a]}\n").unwrap_err();
        assert_eq!(e.path, "[1].send_message.room");
        assert_eq!(e.at, Some(35));
        assert_eq!(e.message, "expected a string, found a list");
    }
}
