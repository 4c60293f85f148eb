//! Decoding helpers shared by every document type.
//!
//! Go's `encoding/json` (which Tyk uses) treats `null` as "leave the zero value";
//! serde rejects `null` for a non-`Option` field. Rather than annotate every field,
//! documents are parsed into a `Value`, nulls are dropped, and then the typed decode
//! runs through `serde_path_to_error` so every error names the JSON path at fault.

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

/// Parses JSON text into a `Value`; syntax errors carry line and column.
pub fn parse_value(text: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(text).map_err(|e| DecodeError {
        path: String::new(),
        message: format!("invalid JSON: {e}"),
    })
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
