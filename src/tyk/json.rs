//! Decoding helpers shared by every document type.
//!
//! Go's `encoding/json` (which Tyk uses) treats `null` as "leave the zero value";
//! serde rejects `null` for a non-`Option` field. Rather than annotate every field,
//! documents are parsed into a `Value`, nulls are dropped, and then the typed decode
//! runs through `serde_path_to_error` so every error names the JSON path at fault.

use super::fields::{self, Ctx, Doc, Finding, Level};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;

/// A decode failure with the JSON path of the offending value (`""` for the root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "at {}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Removes object members whose value is `null`, recursively.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Parses JSON text into a `Value`; syntax errors carry line and column. A name given
/// twice in one object is an error naming it (Go, and serde_json, keep the last one
/// silently: two policies with one id would become one).
pub fn parse_value(text: &[u8]) -> Result<Value, DecodeError> {
    let dup = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Strict {
            path: String::new(),
            dup: &dup,
        },
        &mut de,
    )
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match dup.into_inner() {
        Some((path, key)) => DecodeError {
            path,
            message: format!(
                "field {key:?} given twice in one object (line {}, column {})",
                e.line(),
                e.column()
            ),
        },
        None => DecodeError {
            path: String::new(),
            message: format!("invalid JSON: {e}"),
        },
    })
}

/// A `Value` visitor that tracks the path and refuses duplicate names.
struct Strict<'a> {
    path: String,
    dup: &'a std::cell::RefCell<Option<(String, String)>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            dup: self.dup,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join_path(&self.path, &key);
            if out.contains_key(&key) {
                *self.dup.borrow_mut() = Some((path, key));
                return Err(serde::de::Error::custom("duplicate field"));
            }
            let v = map.next_value_seed(Strict {
                path,
                dup: self.dup,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A document read with [`decode_doc_all`].
#[derive(Debug)]
pub struct Decoded<T> {
    /// The document with every field that had a problem left at its zero value, so
    /// later checks (ids, patterns) can still run; `None` only if even that failed.
    pub value: Option<T>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// Reads one Tyk document the way Go does, finding every problem in one pass: walks it
/// with the field table ([`fields::examine`]: canonical field names, types, refused and
/// reported fields) and decodes what is left.
pub fn decode_doc_all<T: DeserializeOwned>(doc: Doc, mut value: Value, ctx: &Ctx) -> Decoded<T> {
    let findings = fields::examine(doc, &mut value, ctx);
    let (mut errors, warnings): (Vec<Finding>, Vec<Finding>) =
        findings.into_iter().partition(|f| f.level == Level::Error);
    let value = match from_value::<T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(Finding {
                level: Level::Error,
                path: e.path,
                reason: e.message,
            });
            None
        }
    };
    Decoded {
        value,
        errors,
        warnings,
    }
}

/// [`decode_doc_all`] for callers that need a clean document: the value and its
/// warnings, or every error.
pub fn decode_doc<T: DeserializeOwned>(
    doc: Doc,
    value: Value,
    ctx: &Ctx,
) -> Result<(T, Vec<Finding>), Vec<Finding>> {
    let d = decode_doc_all::<T>(doc, value, ctx);
    match d.value {
        Some(t) if d.errors.is_empty() => Ok((t, d.warnings)),
        _ => Err(d.errors),
    }
}

/// [`decode_doc`] from text.
pub fn decode_doc_text<T: DeserializeOwned>(
    doc: Doc,
    text: &[u8],
    ctx: &Ctx,
) -> Result<(T, Vec<Finding>), Vec<Finding>> {
    let value = parse_value(text).map_err(|e| {
        vec![Finding {
            level: Level::Error,
            path: e.path,
            reason: e.message,
        }]
    })?;
    decode_doc(doc, value, ctx)
}

/// Decodes a `Value` (nulls stripped first) into `T`, reporting the failing path.
pub fn from_value<T: DeserializeOwned>(mut v: Value) -> Result<T, DecodeError> {
    strip_nulls(&mut v);
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| DecodeError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Parses and decodes in one go.
pub fn decode<T: DeserializeOwned>(text: &[u8]) -> Result<T, DecodeError> {
    from_value(parse_value(text)?)
}

/// Joins a prefix path with a relative one as produced by `serde_path_to_error`.
pub fn join_path(prefix: &str, rel: &str) -> String {
    match (prefix.is_empty(), rel.is_empty() || rel == ".") {
        (true, _) => rel.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if rel.starts_with('[') => format!("{prefix}{rel}"),
        (false, false) => format!("{prefix}.{rel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct T {
        a: i64,
        b: Vec<U>,
    }
    #[derive(Deserialize, Debug, Default)]
    #[serde(default)]
    struct U {
        n: i64,
    }

    #[test]
    fn nulls_are_zero_values() {
        let t: T = decode(br#"{"a": null, "b": [{"n": null}]}"#).unwrap();
        assert_eq!(t.a, 0);
        assert_eq!(t.b[0].n, 0);
    }

    #[test]
    fn errors_name_the_path() {
        let e = decode::<T>(br#"{"b": [{"n": 1}, {"n": 10.5}]}"#).unwrap_err();
        assert_eq!(e.path, "b[1].n");
        let e = decode::<T>(b"{\"a\": ").unwrap_err();
        assert!(e.message.contains("invalid JSON"), "{e}");
    }

    #[test]
    fn join_paths() {
        assert_eq!(join_path("p1", "rate"), "p1.rate");
        assert_eq!(join_path("p1", "."), "p1");
        assert_eq!(join_path("", "x"), "x");
        assert_eq!(join_path("a", "[0]"), "a[0]");
    }
}
