//! Every field of Tyk's documents, classified, in one table.
//!
//! tollgate is sold as a drop-in for Tyk: a field it reads but does not act on would
//! let an operator believe a rule is enforced when it is not. So every field of an API
//! definition, a policy, a key session and `tyk.conf` is listed here (the
//! classification of `tyk-apidef.md` §7) with what this build does with it:
//!
//! * [`Support::Enforced`] — acted on as Tyk does (or only ever stricter);
//! * [`Support::Refused`] — not implemented, and ignoring it would let through requests
//!   Tyk refuses (SEC): a document that sets it to anything but its inert value is
//!   refused, naming the field;
//! * [`Support::Reported`] — not implemented, and it only changes what the client or
//!   upstream sees (BEH) or operations (OPS): a warning;
//! * [`Support::Ignored`] — no effect in file mode (NA), or no effect in this build
//!   because what it modifies is itself refused.
//!
//! The same table gives the shape of each field, which serves two more jobs in the
//! one walk of [`examine`]: Go's case-insensitive field matching (keys are rewritten
//! to their canonical spelling, free-form maps left alone) and type checking that
//! reports every mismatch at once, before the typed decode runs.

use serde_json::{Map, Value};

/// Which kind of document a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Api,
    Policy,
    Session,
    Config,
}

impl Doc {
    pub fn fields(self) -> &'static [Node] {
        match self {
            Doc::Api => API,
            Doc::Policy => POLICY,
            Doc::Session => SESSION,
            Doc::Config => CONFIG,
        }
    }

    /// What a refusal does, for the message.
    fn refusal(self) -> &'static str {
        match self {
            Doc::Api => "refusing to serve this API rather than weaken it",
            Doc::Policy => "refusing to load this policy rather than weaken it",
            Doc::Session => "refusing this key rather than weaken it",
            Doc::Config => "refusing to start rather than weaken it",
        }
    }
}

/// tyk-apidef.md §7's classes, plus tollgate's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Ignoring it would let through requests Tyk refuses.
    Sec,
    /// Changes what the client or upstream sees.
    Beh,
    /// Operational: analytics, logging, performance.
    Ops,
    /// No effect in file mode.
    Na,
    /// tollgate's own key, not Tyk's.
    Own,
}

/// What this build does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Enforced,
    /// The feature's name, for the message.
    Refused(&'static str),
    /// The feature's name, for the message.
    Reported(&'static str),
    Ignored,
}

/// When a value has no effect (besides Go's zero values, which never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inert {
    /// Only the zero value (`null`, `false`, `0`, `""`, `[]`, `{}`, or an object whose
    /// members are all inert or that says `"disabled": true`).
    Zero,
    /// Also these strings (`"-1"` = never expires).
    Strings(&'static [&'static str]),
    /// Also any number `<= 0` (Tyk's "disabled" for throttling).
    NotPositive,
    /// Also when the named sibling is `true` (`domain_disabled`).
    SiblingTrue(&'static str),
    /// Unless the named sibling is `true` (`global_session_lifetime` needs
    /// `force_global_session_lifetime`).
    UnlessSibling(&'static str),
    /// Unless `tyk.conf` turns on `enable_custom_domains`.
    UnlessCustomDomains,
    /// An expiry (`""`/`"-1"` = never) that Tyk enforces only for a non-versioned API
    /// (`true`, API `expiration`) or only for a versioned one (`false`, a version's
    /// `expires`); otherwise it only sets the `X-Tyk-Api-Expires` response header.
    HeaderOnly(bool),
}

/// What JSON a field takes, as Go decodes it into Tyk's struct.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Bool,
    Int,
    Num,
    Str,
    StrList,
    /// Free-form: not walked (metadata, header maps, plugin config, unused blocks).
    Any,
    Struct(&'static [Node]),
    /// An object with free keys (API ids, version names) and values of one shape.
    MapOf(&'static Shape),
    ListOf(&'static Shape),
}

/// One field.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub name: &'static str,
    pub shape: Shape,
    pub class: Class,
    pub support: Support,
    pub inert: Inert,
}

#[rustfmt::skip]
mod table;
use table::{API, CONFIG, POLICY, SESSION};

// ---------------------------------------------------------------- the walk

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// One problem, with the JSON path of the field (relative to the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub path: String,
    pub reason: String,
}

/// What the walk needs from outside the document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    /// tyk.conf `enable_custom_domains`.
    pub custom_domains: bool,
}

/// Walks `value` as a document of kind `doc`: rewrites field names to their canonical
/// spelling (Go matches case-insensitively, an exact match first), and reports names
/// given twice in two spellings, values of the wrong type, refused fields (errors) and
/// reported fields (warnings) — every one of them, in document order.
pub fn examine(doc: Doc, value: &mut Value, ctx: &Ctx) -> Vec<Finding> {
    let mut w = Walk {
        doc,
        ctx,
        out: Vec::new(),
        not_versioned: doc == Doc::Api && not_versioned(value),
    };
    match value {
        Value::Object(map) => w.object(map, doc.fields(), "", true),
        Value::Null => {}
        other => w.push(
            Level::Error,
            "",
            format!("expected a JSON object, got {}", kind(other)),
        ),
    }
    w.out
}

/// `version_data.not_versioned`, looked up as Go would (any case), before the walk:
/// fields that depend on it may come first in the file.
fn not_versioned(api: &Value) -> bool {
    let get = |v: &Value, name: &str| -> Option<Value> {
        let m = v.as_object()?;
        m.get(name)
            .or_else(|| m.iter().find(|(k, _)| fold_eq(name, k)).map(|(_, v)| v))
            .cloned()
    };
    get(api, "version_data")
        .and_then(|vd| get(&vd, "not_versioned"))
        .is_some_and(|v| v == Value::Bool(true))
}

struct Walk<'a> {
    doc: Doc,
    ctx: &'a Ctx,
    out: Vec<Finding>,
    /// `version_data.not_versioned` of the API being walked.
    not_versioned: bool,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Go's `encoding/json` folds case (Unicode simple folding) when no field matches exactly.
fn fold_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Go's zero values, and objects that are switched off or hold nothing that acts.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_zero),
        Value::Object(m) => {
            m.get("disabled") == Some(&Value::Bool(true)) || m.values().all(is_zero)
        }
    }
}

impl Walk<'_> {
    fn push(&mut self, level: Level, path: &str, reason: String) {
        self.out.push(Finding {
            level,
            path: path.to_string(),
            reason,
        });
    }

    /// `classify`: false below a refused or reported field (its sub-fields belong to it).
    fn object(
        &mut self,
        map: &mut Map<String, Value>,
        fields: &'static [Node],
        path: &str,
        classify: bool,
    ) {
        self.canonicalise(map, fields, path);
        let siblings: Vec<(String, bool)> = map
            .iter()
            .map(|(k, v)| (k.clone(), v == &Value::Bool(true)))
            .collect();
        let sibling_true = |name: &str| siblings.iter().any(|(k, t)| k == name && *t);
        for (key, v) in map.iter_mut() {
            let Some(node) = fields.iter().find(|n| n.name == key) else {
                // Unknown to Tyk too: Go ignores it, and so does tollgate.
                continue;
            };
            let here = join(path, key);
            if !self.type_ok(node.shape, v, &here) {
                continue;
            }
            let inert = is_zero(v)
                || match node.inert {
                    Inert::Zero => false,
                    Inert::Strings(s) => v.as_str().is_some_and(|x| s.contains(&x)),
                    Inert::NotPositive => v.as_f64().is_some_and(|n| n <= 0.0),
                    Inert::SiblingTrue(s) => sibling_true(s),
                    Inert::UnlessSibling(s) => !sibling_true(s),
                    Inert::UnlessCustomDomains => !self.ctx.custom_domains,
                    Inert::HeaderOnly(when_not_versioned) => {
                        let never = v.as_str().is_some_and(|x| x == "-1");
                        let header_only = when_not_versioned != self.not_versioned;
                        if classify && header_only && !never {
                            self.push(
                                Level::Warning,
                                &here,
                                "an expiry date: Tyk enforces it only for a versioned API (a version's expires) or a non-versioned one (the API's expiration); here it only sets the X-Tyk-Api-Expires response header, which this build does not send".into(),
                            );
                        }
                        never || header_only
                    }
                };
            let mut below = classify;
            if classify && !inert {
                match node.support {
                    Support::Refused(what) => {
                        let msg = format!(
                            "{what} is not supported by this build; {}",
                            self.doc.refusal()
                        );
                        self.push(Level::Error, &here, msg);
                        below = false;
                    }
                    Support::Reported(what) => {
                        let why = match node.class {
                            Class::Ops => "an operational setting",
                            _ => "clients and upstreams see a difference from Tyk",
                        };
                        self.push(
                            Level::Warning,
                            &here,
                            format!("{what} is not supported by this build and is ignored ({why})"),
                        );
                        below = false;
                    }
                    Support::Enforced | Support::Ignored => {}
                }
            }
            if matches!(node.support, Support::Ignored) {
                below = false;
            }
            self.value(node.shape, v, &here, below);
        }
    }

    /// Renames case variants to the canonical name; one field given in two spellings
    /// is an error naming both (Go would silently keep the last).
    fn canonicalise(&mut self, map: &mut Map<String, Value>, fields: &'static [Node], path: &str) {
        let mut groups: Vec<(&'static str, Vec<String>)> = Vec::new();
        for key in map.keys() {
            let node = fields
                .iter()
                .find(|n| n.name == key)
                .or_else(|| fields.iter().find(|n| fold_eq(n.name, key)));
            let Some(node) = node else { continue };
            match groups.iter_mut().find(|(name, _)| *name == node.name) {
                Some((_, keys)) => keys.push(key.clone()),
                None => groups.push((node.name, vec![key.clone()])),
            }
        }
        for (name, keys) in groups {
            if keys.len() > 1 {
                let spellings: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
                self.push(
                    Level::Error,
                    &join(path, name),
                    format!("field given more than once, as {}", spellings.join(" and ")),
                );
                for k in keys
                    .iter()
                    .filter(|k| k.as_str() != name)
                    .skip(usize::from(!map.contains_key(name)))
                {
                    map.shift_remove(k);
                }
            }
            if !map.contains_key(name) {
                if let Some(v) = map.shift_remove(&keys[0]) {
                    map.insert(name.to_string(), v);
                }
            }
        }
    }

    /// Checks a value's JSON type against the shape (null is always the zero value). A
    /// wrong value is reported and replaced by `null`, so the rest of the document still
    /// decodes and its other problems are found in the same pass.
    fn type_ok(&mut self, shape: Shape, v: &mut Value, path: &str) -> bool {
        let ok = match (shape, &*v) {
            (_, Value::Null) | (Shape::Any, _) => true,
            (Shape::Bool, Value::Bool(_)) => true,
            (Shape::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (Shape::Num, Value::Number(_)) => true,
            (Shape::Str, Value::String(_)) => true,
            (Shape::StrList, Value::Array(items)) => {
                items.iter().all(|i| i.is_string() || i.is_null())
            }
            (Shape::Struct(_) | Shape::MapOf(_), Value::Object(_)) => true,
            (Shape::ListOf(_), Value::Array(_)) => true,
            _ => false,
        };
        if !ok {
            let want = match shape {
                Shape::Bool => "a boolean",
                Shape::Int => "an integer",
                Shape::Num => "a number",
                Shape::Str => "a string",
                Shape::StrList => "an array of strings",
                Shape::Any => "any value",
                Shape::Struct(_) | Shape::MapOf(_) => "an object",
                Shape::ListOf(_) => "an array",
            };
            // Numbers and booleans are shown; strings may be secrets (a `password`).
            let got = match &*v {
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => kind(other).to_string(),
            };
            self.push(Level::Error, path, format!("expected {want}, got {got}"));
            *v = Value::Null;
        }
        ok
    }

    fn value(&mut self, shape: Shape, v: &mut Value, path: &str, classify: bool) {
        match (shape, v) {
            (Shape::Struct(fields), Value::Object(m)) => self.object(m, fields, path, classify),
            (Shape::MapOf(inner), Value::Object(m)) => {
                for (k, v) in m.iter_mut() {
                    let here = join(path, k);
                    if self.type_ok(*inner, v, &here) {
                        self.value(*inner, v, &here, classify);
                    }
                }
            }
            (Shape::ListOf(inner), Value::Array(items)) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let here = format!("{path}[{i}]");
                    if self.type_ok(*inner, v, &here) {
                        self.value(*inner, v, &here, classify);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every field path of a document kind, `*` for free keys and `[]` for list items.
pub fn paths(doc: Doc) -> Vec<(String, &'static Node)> {
    fn walk(prefix: &str, fields: &'static [Node], out: &mut Vec<(String, &'static Node)>) {
        for n in fields {
            let p = join(prefix, n.name);
            out.push((p.clone(), n));
            shape_paths(&p, n.shape, out);
        }
    }
    fn shape_paths(p: &str, shape: Shape, out: &mut Vec<(String, &'static Node)>) {
        match shape {
            Shape::Struct(fields) => walk(p, fields, out),
            Shape::MapOf(inner) => shape_paths(&format!("{p}.*"), *inner, out),
            Shape::ListOf(inner) => shape_paths(&format!("{p}[]"), *inner, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", doc.fields(), &mut out);
    out
}
