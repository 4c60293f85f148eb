//! The human policy schema of seed 002 and its offline validation (apply step 1).
//!
//! ```yaml
//! id: gold                 # required, friendly id
//! name: Gold Plan          # required
//! tags: [paid, gold]       # optional
//! rateLimit: {requests: 1000, per: 1m}      # optional; both fields required in it
//! quota: {limit: 100000, period: 30d}       # optional; both fields required in it
//! keyTTL: "0"              # optional, default 0 (keys never expire)
//! access:                  # required, at least one entry
//!   - name: users-api      # exactly one of name / listenPath / tags / id
//!     versions: [v1]       # optional, default: the API's default version
//! ```
//!
//! Durations (`per`, `period`, `keyTTL`) follow [`duration`]; `0` means disabled or
//! no expiry wherever a duration is accepted: `per: 0` is no rate limit (the same wire
//! policy as no `rateLimit` block), `period: 0` a quota that never renews
//! (`quota_renewal_rate` 0), `keyTTL: 0` keys that never expire.
//!
//! Every problem is collected with its YAML position; nothing stops at the first.
//! [`check`] also returns the access entries whose selector is well-formed even when
//! other parts of the file are not, so `apply` can resolve them against the gateway
//! and report resolution problems in the same run.

use super::duration;
use super::ident;
use super::yaml::{self, Node, Pos, Value};
use std::fmt;

/// A validated policy file. Durations are already in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFile {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub rate_limit: Option<RateLimit>,
    pub quota: Option<Quota>,
    pub key_ttl: i64,
    pub access: Vec<AccessEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: i64,
    pub per: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: i64,
    pub period: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessEntry {
    pub selector: Selector,
    /// `None`: the API's default version.
    pub versions: Option<Vec<String>>,
    /// Where the entry starts, for resolution errors.
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Name(String),
    ListenPath(String),
    Tags(Vec<String>),
    Id(String),
}

impl Selector {
    pub fn key(&self) -> &'static str {
        match self {
            Selector::Name(_) => "name",
            Selector::ListenPath(_) => "listenPath",
            Selector::Tags(_) => "tags",
            Selector::Id(_) => "id",
        }
    }
}

/// One problem with an input, located where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pos: Option<Pos>,
    /// Dotted path such as `access[2].name`; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(pos: Option<Pos>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            pos,
            field: field.into(),
            message: message.into(),
        }
    }

    /// `source:line:col: field: message`, the one-line form printed by `apply`.
    pub fn render(&self, source: &str) -> String {
        let mut s = source.to_string();
        if let Some(p) = self.pos.filter(|p| p.line > 0) {
            s.push_str(&format!(":{p}"));
        }
        s.push_str(": ");
        if !self.field.is_empty() {
            s.push_str(&self.field);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("<input>"))
    }
}

const TOP_KEYS: &[&str] = &[
    "id",
    "name",
    "tags",
    "rateLimit",
    "quota",
    "keyTTL",
    "access",
];
const RATE_KEYS: &[&str] = &["requests", "per"];
const QUOTA_KEYS: &[&str] = &["limit", "period"];
const ACCESS_KEYS: &[&str] = &["name", "listenPath", "tags", "id", "versions"];
const SELECTORS: &[&str] = &["name", "listenPath", "tags", "id"];

/// Parses and validates a policy file. All problems are returned together.
pub fn parse(text: &str) -> Result<PolicyFile, Vec<Problem>> {
    let c = check(text);
    match c.policy {
        Some(f) if c.problems.is_empty() => Ok(f),
        _ => Err(c.problems),
    }
}

/// What [`check`] found in a policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The policy; `Some` exactly when `problems` is empty.
    pub policy: Option<PolicyFile>,
    /// Every access entry whose selector is well-formed, with its index in `access`
    /// (for `access[i]` in messages), even when the rest of the file has problems.
    /// An entry whose `versions` are malformed is listed with `versions: None`.
    pub selectors: Vec<(usize, AccessEntry)>,
    pub problems: Vec<Problem>,
}

/// Parses and validates a policy file, keeping what could be salvaged for selector
/// resolution (see [`Checked`]).
pub fn check(text: &str) -> Checked {
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // serde-saphyr's message is multi-line (it quotes the source); its first
            // line already says "line L column C".
            let first = e.lines().next().unwrap_or("invalid YAML").trim();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return Checked {
                policy: None,
                selectors: Vec::new(),
                problems: vec![Problem::new(None, "", format!("invalid YAML: {first}"))],
            };
        }
    };
    let mut c = Checker::default();
    let file = c.policy(&doc);
    if file.is_none() && c.problems.is_empty() {
        // Every path that yields no policy records why; this only guards the invariant.
        c.problems
            .push(Problem::new(None, "", "the policy could not be read"));
    }
    Checked {
        policy: file.filter(|_| c.problems.is_empty()),
        selectors: c.selectors,
        problems: c.problems,
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// Well-formed selectors seen so far (see [`Checked::selectors`]).
    selectors: Vec<(usize, AccessEntry)>,
}

/// A mapping's entries by key (first occurrence; the parser rejects duplicates).
struct Fields<'a> {
    pos: Pos,
    entries: &'a [(String, Pos, Node)],
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, n)| n)
    }
    /// Like `get`, but a YAML null counts as absent (`keyTTL:` with nothing after it).
    fn get_some(&self, key: &str) -> Option<&'a Node> {
        self.get(key).filter(|n| n.value != Value::Null)
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Checker {
    fn push(&mut self, pos: Pos, field: impl Into<String>, message: impl Into<String>) {
        self.problems
            .push(Problem::new(Some(pos), field.into(), message.into()));
    }

    fn mapping<'a>(&mut self, node: &'a Node, path: &str, allowed: &[&str]) -> Option<Fields<'a>> {
        let Value::Map(entries) = &node.value else {
            let field = if path.is_empty() { "" } else { path };
            let what = if path.is_empty() {
                "the document"
            } else {
                "this field"
            };
            self.push(
                node.pos,
                field,
                format!("{what} must be a mapping (got {})", node.kind()),
            );
            return None;
        };
        for (key, pos, _) in entries {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_else(|| format!("; expected one of: {}", allowed.join(", ")));
                self.push(*pos, join(path, key), format!("unknown field{hint}"));
            }
        }
        Some(Fields {
            pos: node.pos,
            entries,
        })
    }

    fn required<'a>(&mut self, f: &Fields<'a>, key: &str, path: &str) -> Option<&'a Node> {
        let n = f.get_some(key);
        if n.is_none() {
            self.push(f.pos, join(path, key), "required field missing");
        }
        n
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) if s.trim().is_empty() => {
                self.push(node.pos, path, "must not be empty");
                None
            }
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.push(
                    node.pos,
                    path,
                    format!("must be a string (got {}); put it in quotes", node.kind()),
                );
                None
            }
            _ => {
                self.push(
                    node.pos,
                    path,
                    format!("must be a string (got {})", node.kind()),
                );
                None
            }
        }
    }

    /// A non-empty list of non-empty strings.
    fn string_list(&mut self, node: &Node, path: &str, allow_empty: bool) -> Option<Vec<String>> {
        let Value::Seq(items) = &node.value else {
            self.push(
                node.pos,
                path,
                format!("must be a list of strings (got {})", node.kind()),
            );
            return None;
        };
        if items.is_empty() && !allow_empty {
            self.push(node.pos, path, "must not be an empty list");
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.string(item, &format!("{path}[{i}]")) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn count(&mut self, node: &Node, path: &str) -> Option<i64> {
        match &node.value {
            Value::Int(n) if *n < 0 => {
                self.push(node.pos, path, format!("must not be negative (got {n})"));
                None
            }
            Value::Int(n) => match i64::try_from(*n) {
                Ok(v) => Some(v),
                Err(_) => {
                    self.push(node.pos, path, format!("too large (at most {})", i64::MAX));
                    None
                }
            },
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => {
                // Integers too big for the parser's integer types arrive as whole floats.
                self.push(node.pos, path, format!("too large (at most {})", i64::MAX));
                None
            }
            Value::Float(f) => {
                self.push(node.pos, path, format!("must be a whole number (got {f})"));
                None
            }
            _ => {
                self.push(
                    node.pos,
                    path,
                    format!("must be an integer (got {})", node.kind()),
                );
                None
            }
        }
    }

    /// A duration written as a YAML integer (seconds) or a string (`30d`). `0` is
    /// valid everywhere: it means disabled / no expiry (the CLI's duration table).
    fn duration(&mut self, node: &Node, path: &str) -> Option<i64> {
        let parsed = match &node.value {
            Value::Int(n) => duration::from_int(*n),
            Value::Str(s) => duration::parse(s),
            Value::Float(f) if *f < 0.0 => Err(format!(
                "invalid duration {f}: negative durations are not allowed"
            )),
            // Integers too big for the parser's integer types arrive as whole floats.
            Value::Float(f) if f.fract() == 0.0 => Err("invalid duration: too large".to_string()),
            Value::Float(f) => Err(format!(
                "invalid duration {f}: fractions are not allowed; use a smaller unit"
            )),
            _ => Err(format!(
                "must be a duration such as 60, 60s, 1m, 24h or 30d (got {})",
                node.kind()
            )),
        };
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(node.pos, path, e);
                None
            }
        }
    }

    fn policy(&mut self, doc: &Node) -> Option<PolicyFile> {
        if doc.value == Value::Null {
            self.push(
                doc.pos,
                "",
                "the file is empty; expected a policy with at least `id`, `name` and `access`",
            );
            return None;
        }
        let f = self.mapping(doc, "", TOP_KEYS)?;

        let id = self.required(&f, "id", "").and_then(|n| {
            let s = self.string(n, "id")?;
            match ident::validate(&s) {
                Ok(()) => Some(s),
                Err(e) => {
                    self.push(n.pos, "id", e);
                    None
                }
            }
        });
        let name = self
            .required(&f, "name", "")
            .and_then(|n| self.string(n, "name"));
        let tags = match f.get_some("tags") {
            Some(n) => self.string_list(n, "tags", true),
            None => Some(Vec::new()),
        };
        let rate_limit = match f.get_some("rateLimit") {
            None => Some(None),
            Some(n) => self.rate_limit(n).map(Some),
        };
        let quota = match f.get_some("quota") {
            None => Some(None),
            Some(n) => self.quota(n).map(Some),
        };
        let key_ttl = match f.get_some("keyTTL") {
            None => Some(0),
            Some(n) => self.duration(n, "keyTTL"),
        };
        let access = self.required(&f, "access", "").and_then(|n| self.access(n));

        Some(PolicyFile {
            id: id?,
            name: name?,
            tags: tags?,
            rate_limit: rate_limit?,
            quota: quota?,
            key_ttl: key_ttl?,
            access: access?,
        })
    }

    fn rate_limit(&mut self, node: &Node) -> Option<RateLimit> {
        let f = self.mapping(node, "rateLimit", RATE_KEYS)?;
        let requests = self
            .required(&f, "requests", "rateLimit")
            .and_then(|n| self.count(n, "rateLimit.requests"));
        let per = self
            .required(&f, "per", "rateLimit")
            .and_then(|n| self.duration(n, "rateLimit.per"));
        Some(RateLimit {
            requests: requests?,
            per: per?,
        })
    }

    fn quota(&mut self, node: &Node) -> Option<Quota> {
        let f = self.mapping(node, "quota", QUOTA_KEYS)?;
        let limit = self
            .required(&f, "limit", "quota")
            .and_then(|n| self.count(n, "quota.limit"));
        let period = self
            .required(&f, "period", "quota")
            .and_then(|n| self.duration(n, "quota.period"));
        Some(Quota {
            limit: limit?,
            period: period?,
        })
    }

    fn access(&mut self, node: &Node) -> Option<Vec<AccessEntry>> {
        let Value::Seq(items) = &node.value else {
            self.push(
                node.pos,
                "access",
                format!("must be a list of access entries (got {})", node.kind()),
            );
            return None;
        };
        if items.is_empty() {
            self.push(node.pos, "access", "at least one access entry is required");
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.access_entry(item, i) {
                Some(e) => out.push(e),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn access_entry(&mut self, node: &Node, index: usize) -> Option<AccessEntry> {
        let path = &format!("access[{index}]");
        let f = self.mapping(node, path, ACCESS_KEYS)?;
        let present: Vec<&str> = SELECTORS
            .iter()
            .copied()
            .filter(|k| f.get(k).is_some())
            .collect();
        let selector = match present.as_slice() {
            [one] => {
                let n = f.get(one)?;
                let p = format!("{path}.{one}");
                match *one {
                    "tags" => self.string_list(n, &p, false).map(Selector::Tags),
                    "name" => self.string(n, &p).map(Selector::Name),
                    "listenPath" => self.string(n, &p).map(Selector::ListenPath),
                    _ => self.string(n, &p).map(Selector::Id),
                }
            }
            [] => {
                self.push(
                    f.pos,
                    path,
                    "exactly one of name, listenPath, tags or id must be set (found none)",
                );
                None
            }
            many => {
                self.push(
                    f.pos,
                    path,
                    format!(
                        "exactly one of name, listenPath, tags or id must be set (found {})",
                        many.join(" and ")
                    ),
                );
                None
            }
        };
        let versions = match f.get_some("versions") {
            None => Some(None),
            Some(n) => self
                .string_list(n, &format!("{path}.versions"), false)
                .map(Some),
        };
        let selector = selector?;
        self.selectors.push((
            index,
            AccessEntry {
                selector: selector.clone(),
                versions: versions.clone().flatten(),
                pos: f.pos,
            },
        ));
        Some(AccessEntry {
            selector,
            versions: versions?,
            pos: f.pos,
        })
    }
}

/// The allowed key closest to a misspelt one, when it is close enough to be a typo.
fn closest<'a>(key: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|k| {
            (
                strsim::levenshtein(&key.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLD: &str = "\
id: gold
name: Gold Plan
tags:
  - paid
  - gold
rateLimit:
  requests: 1000
  per: 1m              # 1000 requests per minute
quota:
  limit: 100000
  period: 30d          # 100k requests per 30 days
keyTTL: \"0\"            # 0 = keys never expire
access:
  - name: users-api    # Match by API name
    versions: [v1]
  - listenPath: /orders/  # Match by listen path
    versions: [v1, v2]
  - tags: [public, v1]    # Match ALL tags, expands to all matching APIs
    versions: [Default]
  - id: abc123def456       # Match by exact API ID
";

    fn problems(text: &str) -> Vec<String> {
        parse(text)
            .expect_err("expected problems")
            .iter()
            .map(|p| p.render("f.yaml"))
            .collect()
    }

    #[test]
    fn the_seed_example_parses() {
        let p = parse(GOLD).unwrap();
        assert_eq!(p.id, "gold");
        assert_eq!(p.name, "Gold Plan");
        assert_eq!(p.tags, vec!["paid", "gold"]);
        assert_eq!(
            p.rate_limit,
            Some(RateLimit {
                requests: 1000,
                per: 60
            })
        );
        assert_eq!(
            p.quota,
            Some(Quota {
                limit: 100_000,
                period: 2_592_000
            })
        );
        assert_eq!(p.key_ttl, 0);
        assert_eq!(p.access.len(), 4);
        assert_eq!(p.access[0].selector, Selector::Name("users-api".into()));
        assert_eq!(p.access[0].versions, Some(vec!["v1".to_string()]));
        assert_eq!(
            p.access[1].selector,
            Selector::ListenPath("/orders/".into())
        );
        assert_eq!(
            p.access[2].selector,
            Selector::Tags(vec!["public".into(), "v1".into()])
        );
        assert_eq!(p.access[3].selector, Selector::Id("abc123def456".into()));
        assert_eq!(p.access[3].versions, None);
        assert_eq!(p.access[3].pos.line, 20);
    }

    #[test]
    fn defaults_and_integer_or_string_durations() {
        let p = parse("id: a\nname: A\naccess: [{id: x}]\n").unwrap();
        assert_eq!(p.rate_limit, None);
        assert_eq!(p.quota, None);
        assert_eq!(p.key_ttl, 0);
        assert!(p.tags.is_empty());
        let p = parse(
            "id: a\nname: A\nrateLimit: {requests: 5, per: 60}\nquota: {limit: 0, period: \"3600\"}\nkeyTTL: 1d\naccess: [{id: x}]\n",
        )
        .unwrap();
        assert_eq!(
            p.rate_limit,
            Some(RateLimit {
                requests: 5,
                per: 60
            })
        );
        assert_eq!(
            p.quota,
            Some(Quota {
                limit: 0,
                period: 3600
            })
        );
        assert_eq!(p.key_ttl, 86_400);
        // A null optional field is the same as an absent one.
        let p = parse("id: a\nname: A\ntags:\nkeyTTL:\naccess: [{id: x}]\n").unwrap();
        assert_eq!(p.key_ttl, 0);
    }

    #[test]
    fn five_errors_are_all_reported() {
        let text = "\
id: Gold
name: Gold Plan
rateLimit:
  requests: 1000
  per: 1h30m
quota:
  limit: 100
  period: 1.5h
access:
  - name: users-api
    tags: [public]
  - listenPath: /orders/
    versoins: [v1]
";
        assert_eq!(
            problems(text),
            vec![
                "f.yaml:1:5: id: uppercase letters are not allowed in \"Gold\"; use lowercase letters, digits, '.', '-' and '_'",
                "f.yaml:5:8: rateLimit.per: invalid duration \"1h30m\": mixed units are not allowed; use a single unit (e.g. 90m)",
                "f.yaml:8:11: quota.period: invalid duration \"1.5h\": fractions are not allowed; use a smaller unit (e.g. 90m)",
                "f.yaml:10:5: access[0]: exactly one of name, listenPath, tags or id must be set (found name and tags)",
                "f.yaml:13:5: access[1].versoins: unknown field; did you mean `versions`?",
            ]
        );
    }

    #[test]
    fn required_fields() {
        assert_eq!(
            problems("tags: [a]\n"),
            vec![
                "f.yaml:1:1: id: required field missing",
                "f.yaml:1:1: name: required field missing",
                "f.yaml:1:1: access: required field missing",
            ]
        );
        assert_eq!(
            problems("id: a\nname: \"  \"\naccess: []\n"),
            vec![
                "f.yaml:2:7: name: must not be empty",
                "f.yaml:3:9: access: at least one access entry is required",
            ]
        );
        assert_eq!(
            problems(
                "id: a\nname: A\nrateLimit: {per: 1m}\nquota: {limit: 5}\naccess: [{id: x}]\n"
            ),
            vec![
                "f.yaml:3:12: rateLimit.requests: required field missing",
                "f.yaml:4:8: quota.period: required field missing",
            ]
        );
    }

    #[test]
    fn empty_and_non_mapping_documents() {
        assert_eq!(
            problems(""),
            vec!["f.yaml:1:1: the file is empty; expected a policy with at least `id`, `name` and `access`"]
        );
        assert_eq!(
            problems("- a\n"),
            vec!["f.yaml:1:1: the document must be a mapping (got a list)"]
        );
        let p = problems("id: [\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("f.yaml: invalid YAML: "), "{p:?}");
    }

    #[test]
    fn selector_validation() {
        let cases: &[(&str, &str)] = &[
            ("{versions: [v1]}", "f.yaml:4:5: access[0]: exactly one of name, listenPath, tags or id must be set (found none)"),
            ("{}", "f.yaml:4:5: access[0]: exactly one of name, listenPath, tags or id must be set (found none)"),
            ("{name: a, id: b}", "f.yaml:4:5: access[0]: exactly one of name, listenPath, tags or id must be set (found name and id)"),
            ("{name: a, listenPath: /a/, tags: [x], id: b}", "f.yaml:4:5: access[0]: exactly one of name, listenPath, tags or id must be set (found name and listenPath and tags and id)"),
            ("{tags: []}", "f.yaml:4:12: access[0].tags: must not be an empty list"),
            ("{tags: public}", "f.yaml:4:12: access[0].tags: must be a list of strings (got a string)"),
            ("{name: \"\"}", "f.yaml:4:12: access[0].name: must not be empty"),
            ("{name: }", "f.yaml:4:10: access[0].name: must be a string (got empty (null))"),
            ("{id: 123}", "f.yaml:4:10: access[0].id: must be a string (got an integer); put it in quotes"),
            ("{name: a, versions: []}", "f.yaml:4:25: access[0].versions: must not be an empty list"),
            ("{name: a, versions: v1}", "f.yaml:4:25: access[0].versions: must be a list of strings (got a string)"),
            ("{name: a, path: /x}", "f.yaml:4:15: access[0].path: unknown field; expected one of: name, listenPath, tags, id, versions"),
            ("{listenpath: /x/}", "f.yaml:4:5: access[0]: exactly one of name, listenPath, tags or id must be set (found none)"),
            ("api", "f.yaml:4:5: access[0]: this field must be a mapping (got a string)"),
        ];
        let mut failures = Vec::new();
        for (entry, want) in cases {
            let text = format!("id: a\nname: A\naccess:\n  - {entry}\n");
            let got = problems(&text);
            if !got.contains(&want.to_string()) {
                failures.push(format!("{entry}: {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn field_types_and_ranges() {
        let text = "\
id: 507f1f77bcf86cd799439011
name: 42
tags: [a, 1]
rateLimit:
  requests: -5
  per: 0
quota:
  limit: 1.5
  period: -1
keyTTL: 10w
access: {name: a}
extra: 1
";
        assert_eq!(
            problems(text),
            vec![
                "f.yaml:12:1: extra: unknown field; expected one of: id, name, tags, rateLimit, quota, keyTTL, access",
                "f.yaml:1:5: id: \"507f1f77bcf86cd799439011\" looks like an ObjectId (24 hex characters), which the server resolves as an `_id`; choose a descriptive id such as \"gold\"",
                "f.yaml:2:7: name: must be a string (got an integer); put it in quotes",
                "f.yaml:3:11: tags[1]: must be a string (got an integer); put it in quotes",
                "f.yaml:5:13: rateLimit.requests: must not be negative (got -5)",
                "f.yaml:8:10: quota.limit: must be a whole number (got 1.5)",
                "f.yaml:9:11: quota.period: invalid duration -1: negative durations are not allowed",
                "f.yaml:10:9: keyTTL: invalid duration \"10w\": unknown unit \"w\"; expected an integer with an optional unit s, m, h or d (e.g. 60, 60s, 1m, 24h, 30d)",
                "f.yaml:11:9: access: must be a list of access entries (got a mapping)",
            ]
        );
    }

    #[test]
    fn zero_durations_mean_disabled_or_no_expiry() {
        // The duration table: `0` = disabled / no expiry, as an integer or a string,
        // in every duration field.
        for zero in ["0", "\"0\"", "0s", "0d"] {
            let text = format!(
                "id: a\nname: A\nrateLimit: {{requests: 5, per: {zero}}}\nquota: {{limit: 10, period: {zero}}}\nkeyTTL: {zero}\naccess: [{{id: x}}]\n"
            );
            let p = parse(&text).unwrap_or_else(|e| panic!("{zero}: {e:?}"));
            assert_eq!(
                p.rate_limit,
                Some(RateLimit {
                    requests: 5,
                    per: 0
                }),
                "{zero}"
            );
            assert_eq!(
                p.quota,
                Some(Quota {
                    limit: 10,
                    period: 0
                }),
                "{zero}"
            );
            assert_eq!(p.key_ttl, 0, "{zero}");
        }
    }

    #[test]
    fn check_keeps_well_formed_selectors_of_a_broken_file() {
        let text = "\
id: Bad
name: B
quota: {limit: 1, period: 10w}
access:
  - name: users-api
  - {name: a, id: b}
  - 42
  - listenPath: /x/
    versions: v1
  - tags: [public]
    versoins: [v1]
";
        let c = check(text);
        assert_eq!(c.policy, None);
        assert_eq!(c.problems.len(), 6, "{:#?}", c.problems);
        let got: Vec<(usize, &Selector, Option<&Vec<String>>, u64)> = c
            .selectors
            .iter()
            .map(|(i, e)| (*i, &e.selector, e.versions.as_ref(), e.pos.line))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, &Selector::Name("users-api".into()), None, 5),
                (3, &Selector::ListenPath("/x/".into()), None, 8),
                (4, &Selector::Tags(vec!["public".into()]), None, 10),
            ]
        );
        // A valid file: its selectors are its access entries.
        let c = check("id: a\nname: A\naccess: [{id: x, versions: [v1]}, {name: web}]\n");
        let p = c.policy.unwrap_or_else(|| panic!("{:?}", c.problems));
        assert!(c.problems.is_empty());
        assert_eq!(
            c.selectors,
            p.access.iter().cloned().enumerate().collect::<Vec<_>>()
        );
        // Nothing to salvage from YAML that does not parse.
        let c = check("id: [\n");
        assert!(c.selectors.is_empty() && c.policy.is_none() && c.problems.len() == 1);
    }

    #[test]
    fn misspelt_top_level_fields_get_a_suggestion() {
        let got = problems("id: a\nname: A\nratelimit: {}\nkeyTtl: 0\naccess: [{id: x}]\n");
        assert_eq!(
            got,
            vec![
                "f.yaml:3:1: ratelimit: unknown field; did you mean `rateLimit`?",
                "f.yaml:4:1: keyTtl: unknown field; did you mean `keyTTL`?",
            ]
        );
    }

    #[test]
    fn overflowing_numbers() {
        let got = problems(
            "id: a\nname: A\nrateLimit: {requests: 99999999999999999999, per: 99999999999999999999999}\naccess: [{id: x}]\n",
        );
        assert_eq!(
            got,
            vec![
                "f.yaml:3:23: rateLimit.requests: too large (at most 9223372036854775807)",
                "f.yaml:3:50: rateLimit.per: invalid duration: too large",
            ]
        );
    }
}
