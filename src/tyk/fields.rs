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
                            let which = if when_not_versioned {
                                "the API's expiration on a versioned API"
                            } else {
                                "a version's expires on a non-versioned API"
                            };
                            self.push(
                                Level::Warning,
                                &here,
                                format!("Tyk does not enforce {which}, only sends it in the X-Tyk-Api-Expires response header, which this build does not"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(doc: Doc, mut v: Value, ctx: &Ctx) -> Vec<Finding> {
        examine(doc, &mut v, ctx)
            .into_iter()
            .filter(|f| f.level == Level::Error)
            .collect()
    }

    /// Does the table cover `path` — exactly, or below a free-form field?
    fn covered<'a>(table: &'a [(String, &'static Node)], path: &str) -> Option<&'a Node> {
        if let Some((_, n)) = table.iter().find(|(p, _)| p == path) {
            return Some(n);
        }
        let mut cut = path.len();
        while let Some(i) = path[..cut].rfind(['.', '[']) {
            cut = i;
            let parent = &path[..cut];
            if let Some((_, n)) = table.iter().find(|(p, _)| p == parent) {
                return matches!(n.shape, Shape::Any | Shape::ListOf(Shape::Any)).then_some(n);
            }
        }
        None
    }

    /// Field names of one row's first column: `a`, `a.{b, c}`, `.c` (sibling of the one
    /// before), `a[]` (`x`, `y`) (fields of the list's items), `a.*` (see another table).
    fn row_fields(cell: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let (main, subs) = match cell.find(" (`") {
            Some(i) => (&cell[..i], Some(&cell[i..])),
            None => (cell, None),
        };
        let mut last = String::new();
        let mut tokens: Vec<String> = Vec::new();
        for t in main.split('`').skip(1).step_by(2) {
            // `a.b[].x/y`, `a.x/.y`: the parts after a slash replace the last segment.
            let mut parts = t.split('/');
            let first = parts.next().unwrap_or_default().to_string();
            for p in parts {
                let base = &first[..first.rfind('.').map_or(0, |i| i + 1)];
                tokens.push(format!("{base}{}", p.trim_start_matches('.')));
            }
            tokens.insert(tokens.len() - t.matches('/').count(), first);
        }
        for tok in &tokens {
            let tok = tok.trim();
            if tok.starts_with('…') {
                continue;
            }
            // A sibling of the field before: its parent is cut before any `[]` or `{}`.
            let full = match tok.strip_prefix('.') {
                Some(rel) => {
                    let stem = &last[..last.find(['[', '{']).unwrap_or(last.len())];
                    match stem.trim_end_matches('.').rfind('.') {
                        Some(i) => format!("{}.{rel}", &stem[..i]),
                        None => rel.to_string(),
                    }
                }
                None => tok.to_string(),
            };
            last = full.clone();
            match (full.find(".{"), full.find('}')) {
                (Some(a), Some(b)) => {
                    for part in full[a + 2..b].split(',') {
                        out.push(format!("{}.{}", &full[..a], part.trim()));
                    }
                }
                _ => out.push(full),
            }
        }
        let owner = out
            .iter()
            .rev()
            .find(|f| f.ends_with("[]"))
            .or(out.first())
            .cloned();
        if let (Some(subs), Some(owner)) = (subs, owner) {
            let owner = owner.trim_end_matches(".*").to_string();
            for sub in subs.split('`').skip(1).step_by(2) {
                let sub = sub.split('.').next().unwrap_or(sub);
                out.push(format!("{owner}.{}", sub.trim()));
            }
        }
        out.into_iter()
            .map(|f| f.trim_end_matches(".*").trim_end_matches("[]").to_string())
            .collect()
    }

    fn class_of(s: &str) -> Option<Class> {
        match s.trim() {
            "SEC" => Some(Class::Sec),
            "BEH" => Some(Class::Beh),
            "OPS" => Some(Class::Ops),
            "NA" => Some(Class::Na),
            _ => None,
        }
    }

    /// Where §7's deliberate departures are (each explained in the table).
    const CLASS_DEPARTURES: &[&str] = &[
        // Refused here although §7 says BEH: see the table's comment on `graphql`.
        "graphql",
        // A switch for base/child versioning, which is refused (§7 files it under BEH).
        "definition.enabled",
    ];

    #[test]
    fn every_field_of_the_reference_is_in_the_table() {
        let text = include_str!("../../tests/fixtures/reference/tyk-apidef-fields.md");
        let mut section = "";
        let mut missing = Vec::new();
        let mut wrong_class = Vec::new();
        let mut rows = 0;
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("### ") {
                section = h.split_whitespace().next().unwrap_or("");
                continue;
            }
            let cells: Vec<&str> = line.split('|').collect();
            if cells.len() < 4 || !cells[1].contains('`') {
                continue;
            }
            let (doc, prefixes): (Doc, &[&str]) = match section {
                "7.1" => (Doc::Api, &[""]),
                "7.2" => (Doc::Api, &["proxy."]),
                "7.3" => (Doc::Api, &["version_data.versions.*."]),
                "7.4" => (Doc::Api, &["version_data.versions.*.extended_paths."]),
                "7.5" => (Doc::Api, &["auth.", "auth_configs.authToken."]),
                "7.6" => (Doc::Api, &["CORS."]),
                "7.7" => (Doc::Policy, &[""]),
                "7.8" => (Doc::Session, &[""]),
                "7.9" => (Doc::Config, &[""]),
                _ => continue,
            };
            rows += 1;
            let table = paths(doc);
            let class = class_of(cells[cells.len() - 2]);
            // The class is the row's; the sub-fields in parentheses are the row's parts.
            let mains = row_fields(cells[1].split(" (`").next().unwrap_or_default());
            for name in row_fields(cells[1]) {
                for prefix in prefixes {
                    let mut path = format!("{prefix}{name}");
                    // §7.7/7.8 describe access definitions by their fields.
                    if matches!(doc, Doc::Policy | Doc::Session)
                        && path.starts_with("access_rights.")
                    {
                        path = path.replacen("access_rights.", "access_rights.*.", 1);
                    }
                    match covered(&table, &path) {
                        None => missing.push(format!("{doc:?} {path}")),
                        Some(n) => {
                            let exact = table.iter().any(|(p, _)| *p == path);
                            if let (true, true, Some(c)) = (exact, mains.contains(&name), class) {
                                if n.class != c && !CLASS_DEPARTURES.contains(&path.as_str()) {
                                    wrong_class.push(format!(
                                        "{doc:?} {path}: table {:?}, reference {c:?}",
                                        n.class
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(
            rows > 250,
            "only {rows} rows read: has the reference's layout changed?"
        );
        assert!(
            missing.is_empty(),
            "fields of the reference missing from the table:\n{}",
            missing.join("\n")
        );
        assert!(
            wrong_class.is_empty(),
            "classes differ from the reference:\n{}",
            wrong_class.join("\n")
        );
    }

    #[test]
    fn row_parsing() {
        assert_eq!(row_fields("`a.{x, y}`"), vec!["a.x", "a.y"]);
        assert_eq!(
            row_fields("`oauth_meta.a` / `.b`"),
            vec!["oauth_meta.a", "oauth_meta.b"]
        );
        assert_eq!(
            row_fields("`white_list[]` (`path`, `method`)"),
            vec!["white_list", "white_list[].path", "white_list[].method"]
        );
        assert_eq!(
            row_fields("`uptime_tests.disabled`, `.check_list[]` (`url`)"),
            vec![
                "uptime_tests.disabled",
                "uptime_tests.check_list",
                "uptime_tests.check_list[].url"
            ]
        );
        assert_eq!(row_fields("`proxy.*`"), vec!["proxy"]);
    }

    /// A value that acts, for a field of this shape.
    fn live(shape: Shape) -> Value {
        match shape {
            Shape::Bool => json!(true),
            Shape::Int | Shape::Num => json!(5),
            Shape::Str => json!("2000-01-01 00:00"),
            Shape::StrList => json!(["10.0.0.1"]),
            Shape::Any => json!({"enabled": true, "name": "x"}),
            Shape::ListOf(_) => json!([{"path": "/x", "method": "GET", "name": "x"}]),
            Shape::Struct(_) | Shape::MapOf(_) => json!({"x": 1}),
        }
    }

    /// Sets `path` (with `*` → a concrete key) in `doc`, creating objects on the way.
    fn set(doc: &mut Value, path: &str, v: Value) {
        let segs: Vec<&str> = path.split('.').collect();
        let mut cur = doc;
        for (i, seg) in segs.iter().enumerate() {
            let seg = if *seg == "*" { "k1" } else { seg };
            let obj = cur.as_object_mut().expect("an object on the way");
            if i == segs.len() - 1 {
                obj.insert(seg.to_string(), v);
                return;
            }
            cur = obj.entry(seg.to_string()).or_insert_with(|| json!({}));
        }
    }

    /// Every refused field, set to a live value, refuses its document naming the field;
    /// set to its zero value it is fine.
    #[test]
    fn every_refused_field_refuses_its_document_and_its_zero_value_does_not() {
        let mut checked = 0;
        for doc in [Doc::Api, Doc::Policy, Doc::Session, Doc::Config] {
            let table = paths(doc);
            for (path, node) in &table {
                let Support::Refused(_) = node.support else {
                    continue;
                };
                // Fields below one that is not walked for classification belong to it.
                let shadowed = table.iter().any(|(p, n)| {
                    path.starts_with(&format!("{p}.")) && !matches!(n.support, Support::Enforced)
                });
                if path.contains("[]") || shadowed {
                    continue;
                }
                let (path, node) = (path.as_str(), *node);
                let mut v = json!({});
                let mut ctx = Ctx::default();
                match node.inert {
                    Inert::UnlessSibling(s) => {
                        let sib = match path.rfind('.') {
                            Some(i) => format!("{}.{s}", &path[..i]),
                            None => s.to_string(),
                        };
                        set(&mut v, &sib, json!(true));
                    }
                    Inert::UnlessCustomDomains => ctx.custom_domains = true,
                    Inert::HeaderOnly(when_not_versioned) => set(
                        &mut v,
                        "version_data.not_versioned",
                        json!(when_not_versioned),
                    ),
                    _ => {}
                }
                let mut zero = v.clone();
                set(&mut v, path, live(node.shape));
                let want = path.replace('*', "k1");
                let found = errors(doc, v.clone(), &ctx);
                assert!(
                    found.iter().any(|f| f.path == want
                        && f.reason.contains("not supported by this build; refusing")),
                    "{doc:?} {want}: not refused by {v}: {found:?}"
                );
                set(&mut zero, path, Value::Null);
                let found = errors(doc, zero.clone(), &ctx);
                assert!(
                    !found.iter().any(|f| f.path == want),
                    "{doc:?} {want}: its zero value is refused: {found:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 60, "only {checked} refused fields checked");
    }

    #[test]
    fn inert_values_pass() {
        let api = json!({
            "enable_jwt": false,
            "use_basic_auth": false,
            "version_data": {"not_versioned": true, "versions": {"Default": {
                "expires": "-1",
                "extended_paths": {"black_list": [], "white_list": [{"path": "/a", "disabled": true}]},
                "global_size_limit": 100, "global_size_limit_disabled": true
            }}},
            "allowed_ips": ["10.0.0.0/8"], "ip_access_control_disabled": true,
            "domain": "api.example.com",
            "global_rate_limit": {"rate": 0, "per": 0},
            "auth_configs": {"jwt": {"auth_header_name": "Authorization"}},
            "graphql": {"enabled": false, "execution_mode": "proxyOnly"}
        });
        assert_eq!(errors(Doc::Api, api, &Ctx::default()), vec![]);
    }

    #[test]
    fn versioned_and_non_versioned_expiry() {
        // A version's expires binds only a versioned API; the API's expiration only a
        // non-versioned one. The other is a header-only warning.
        let versioned = json!({"expiration": "2000-01-01 00:00", "version_data": {"not_versioned": false,
            "versions": {"v1": {"expires": "2000-01-01 00:00"}}}});
        let mut v = versioned.clone();
        let found = examine(Doc::Api, &mut v, &Ctx::default());
        let levels: Vec<(&str, Level)> = found.iter().map(|f| (f.path.as_str(), f.level)).collect();
        assert_eq!(
            levels,
            vec![
                ("expiration", Level::Warning),
                ("version_data.versions.v1.expires", Level::Error)
            ]
        );
        let mut v = json!({"version_data": {"versions": {"Default": {"expires": "2000-01-01 00:00"}}, "not_versioned": true},
            "expiration": "2000-01-01 00:00"});
        let found = examine(Doc::Api, &mut v, &Ctx::default());
        let levels: Vec<(&str, Level)> = found.iter().map(|f| (f.path.as_str(), f.level)).collect();
        assert_eq!(
            levels,
            vec![
                ("version_data.versions.Default.expires", Level::Warning),
                ("expiration", Level::Error)
            ]
        );
    }

    #[test]
    fn names_match_case_insensitively_and_free_maps_are_untouched() {
        let mut v = json!({"Rate": 5, "QUOTA_MAX": 10, "Access_Rights": {"MyAPI": {"API_ID": "MyAPI", "Versions": ["Default"]}},
                           "Meta_Data": {"Team": "A"}, "unknown_Field": 1});
        let found = examine(Doc::Policy, &mut v, &Ctx::default());
        assert_eq!(found, vec![]);
        assert_eq!(
            v,
            json!({"rate": 5, "quota_max": 10, "access_rights": {"MyAPI": {"api_id": "MyAPI", "versions": ["Default"]}},
                   "meta_data": {"Team": "A"}, "unknown_Field": 1})
        );
        // Go's rule: an exact match is used as is, and the top-level CORS key is upper-case.
        let mut v = json!({"cors": {"Enable": false}});
        examine(Doc::Api, &mut v, &Ctx::default());
        assert_eq!(v, json!({"CORS": {"enable": false}}));
    }

    #[test]
    fn one_field_in_two_spellings_is_an_error_naming_both() {
        let found = errors(Doc::Policy, json!({"rate": 1, "Rate": 2}), &Ctx::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "rate");
        assert!(
            found[0].reason.contains("\"rate\" and \"Rate\""),
            "{}",
            found[0].reason
        );
        let found = errors(
            Doc::Session,
            json!({"access_rights": {"a": {"Versions": [], "VERSIONS": []}}}),
            &Ctx::default(),
        );
        assert_eq!(found[0].path, "access_rights.a.versions");
    }

    #[test]
    fn every_type_error_is_reported_and_the_rest_still_decodes() {
        let mut v = json!({"rate": "x", "quota_max": 1.5, "is_inactive": "yes", "tags": [1], "access_rights": {"a": {"versions": "v1"}}});
        let found = examine(Doc::Policy, &mut v, &Ctx::default());
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "rate",
                "quota_max",
                "is_inactive",
                "tags",
                "access_rights.a.versions"
            ]
        );
        assert!(
            found[1].reason.contains("expected an integer, got 1.5"),
            "{}",
            found[1].reason
        );
        assert!(v["rate"].is_null() && v["access_rights"]["a"]["versions"].is_null());
        // A wrong string is not echoed: it may be a secret.
        let found = errors(
            Doc::Config,
            json!({"storage": {"password": 5, "port": "s3cret"}}),
            &Ctx::default(),
        );
        assert!(!format!("{found:?}").contains("s3cret"));
    }

    #[test]
    fn warnings_name_the_field() {
        let mut v = json!({"CORS": {"enable": true}, "version_data": {"versions": {"v": {"extended_paths": {"url_rewrites": [{"path": "/a"}]}}}}});
        let found = examine(Doc::Api, &mut v, &Ctx::default());
        let got: Vec<(&str, Level)> = found.iter().map(|f| (f.path.as_str(), f.level)).collect();
        assert_eq!(
            got,
            vec![
                ("CORS.enable", Level::Warning),
                (
                    "version_data.versions.v.extended_paths.url_rewrites",
                    Level::Warning
                )
            ]
        );
    }
}
