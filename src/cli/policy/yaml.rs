//! A YAML document as a tree of nodes that each remember their line and column.
//!
//! Policy files are parsed into this tree first and checked by hand afterwards
//! (`schema`), instead of straight into typed structs: serde stops at the first type
//! error, while `apply` must report every problem of a file in one pass, each with
//! where it is.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Line and column (1-based) of a node; `0:0` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub col: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// i128 so that every YAML integer up to u64::MAX and down to i64::MIN fits.
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(String, Pos, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

impl Node {
    /// A short noun for error messages ("a string", "a list", ...).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "empty (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number with a fraction",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document. The error is serde-saphyr's message, which already
/// names the line and column and quotes the offending line.
pub fn parse(text: &str) -> Result<Node, String> {
    let spanned: Spanned<Value> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    Ok(node(spanned))
}

fn node(s: Spanned<Value>) -> Node {
    Node {
        pos: pos(&s.referenced),
        value: s.value,
    }
}

fn pos(l: &serde_saphyr::Location) -> Pos {
    Pos {
        line: l.line(),
        col: l.column(),
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Int(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Int(n.into()))
    }
    fn visit_i128<E>(self, n: i128) -> Result<Value, E> {
        Ok(Value::Int(n))
    }
    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Value, E> {
        // Out-of-range integers become floats so the checker reports "too large".
        Ok(i128::try_from(n).map_or(Value::Float(n as f64), Value::Int))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Float(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = a.next_element::<Spanned<Value>>()? {
            items.push(node(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = a.next_key::<Spanned<String>>()? {
            let value = a.next_value::<Spanned<Value>>()?;
            entries.push((key.value, pos(&key.referenced), node(value)));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_positions_and_types() {
        let doc =
            parse("id: gold\nrateLimit:\n  per: 60\n  x: \"60\"\naccess:\n  - tags: [a, b]\n")
                .unwrap();
        let Value::Map(top) = &doc.value else {
            panic!("not a map: {doc:?}")
        };
        assert_eq!(top[0].0, "id");
        assert_eq!(top[0].2.value, Value::Str("gold".into()));
        assert_eq!(top[0].2.pos, Pos { line: 1, col: 5 });
        let Value::Map(rl) = &top[1].2.value else {
            panic!()
        };
        assert_eq!(rl[0].2.value, Value::Int(60));
        assert_eq!(rl[1].2.value, Value::Str("60".into()));
        assert_eq!(rl[1].1, Pos { line: 4, col: 3 });
        let Value::Seq(acc) = &top[2].2.value else {
            panic!()
        };
        assert_eq!(acc[0].pos.line, 6);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("id: gold\n  name: x\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("id: a\nid: b\n").unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for text in [
            "",
            "[",
            "{",
            "&a [*a]",
            "*x",
            "- !!binary x",
            "\u{0}",
            ":",
            "? ? ?",
        ] {
            let _ = parse(text);
        }
    }
}
