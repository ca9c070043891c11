//! A YAML document as a tree whose nodes remember where they start, so that
//! parse errors and validation problems can name a line and column.
//! Built from saphyr-parser's event stream (YAML 1.2); anchors and aliases
//! are resolved, merge keys (`<<`) are not supported.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, StrInput};

/// Deepest nesting accepted (a guard against stack exhaustion).
const MAX_DEPTH: usize = 64;
/// Most nodes accepted, aliases expanded (a guard against alias bombs).
const MAX_NODES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    /// Character index of the node's start in the parsed text.
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `plain` scalars are typed by content (null, bool, number, string);
    /// quoted and block scalars are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain `~`, `null` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value under `key` of a mapping, with the key node.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// A syntax error at a character index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub at: usize,
    pub message: String,
}

/// Parses one YAML document. An empty document is a null scalar.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut root = None;
    loop {
        let (ev, span) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(YamlError {
                        at: span.start.index(),
                        message: "a scenario file holds one YAML document; found a second `---`"
                            .into(),
                    });
                }
                let (ev, span) = b.next()?;
                if matches!(ev, Event::DocumentEnd | Event::StreamEnd) {
                    root = Some(null_at(span.start.index()));
                    if matches!(ev, Event::StreamEnd) {
                        break;
                    }
                } else {
                    root = Some(b.node(ev, span, 0)?);
                }
            }
            other => {
                return Err(YamlError {
                    at: span.start.index(),
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        }
    }
    Ok(root.unwrap_or_else(|| null_at(0)))
}

fn null_at(at: usize) -> Node {
    Node {
        kind: Kind::Scalar {
            text: String::new(),
            plain: true,
        },
        at,
    }
}

struct Builder<'a> {
    parser: Parser<'a, StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(YamlError {
                at: e.marker().index(),
                message: e.info().to_string(),
            }),
            None => Err(YamlError {
                at: 0,
                message: "unexpected end of the YAML stream".into(),
            }),
        }
    }

    fn count(&mut self, at: usize, n: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                at,
                message: format!("document too large (more than {MAX_NODES} nodes after aliases)"),
            });
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Result<Node, YamlError> {
        let at = span.start.index();
        if depth > MAX_DEPTH {
            return Err(YamlError {
                at,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        self.count(at, 1)?;
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !forced_str;
                let kind = Kind::Scalar {
                    text: text.into_owned(),
                    plain,
                };
                (Node { kind, at }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                let kind = Kind::Seq(items);
                (Node { kind, at }, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut pairs: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key = self.node(ev, span, depth + 1)?;
                    if let Some(k) = key.scalar()
                        && pairs.iter().any(|(p, _)| p.scalar() == Some(k))
                    {
                        return Err(YamlError {
                            at: key.at,
                            message: format!("duplicate key `{k}`"),
                        });
                    }
                    let (ev, span) = self.next()?;
                    let value = self.node(ev, span, depth + 1)?;
                    pairs.push((key, value));
                }
                let kind = Kind::Map(pairs);
                (Node { kind, at }, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(YamlError {
                        at,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.count(at, size(&target))?;
                return Ok(target);
            }
            other => {
                return Err(YamlError {
                    at,
                    message: format!("unexpected YAML event {other:?}"),
                });
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

fn size(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Scalar { .. } => 0,
        Kind::Seq(items) => items.iter().map(size).sum(),
        Kind::Map(pairs) => pairs.iter().map(|(k, v)| size(k) + size(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_kinds() {
        let text = "a: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n";
        let root = parse(text).unwrap();
        let (k, v) = root.entry("b").unwrap();
        assert_eq!(k.at, 5);
        let Kind::Seq(items) = &v.kind else {
            panic!("not a seq")
        };
        assert_eq!(
            items[1].kind,
            Kind::Scalar {
                text: "y".into(),
                plain: false
            }
        );
        assert_eq!(
            root.entry("c").unwrap().1.entry("d").unwrap().1.scalar(),
            Some("e")
        );
    }

    #[test]
    fn aliases_and_errors() {
        let root = parse("a: &x {k: 1}\nb: *x\n").unwrap();
        assert_eq!(
            root.entry("a").unwrap().1.kind,
            root.entry("b").unwrap().1.kind
        );
        assert!(
            parse("a: 1\na: 2\n")
                .unwrap_err()
                .message
                .contains("duplicate key `a`")
        );
        assert!(parse("a: [1\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("").unwrap().is_null());
    }
}
