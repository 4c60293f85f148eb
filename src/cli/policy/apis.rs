//! The live API list and selector resolution (apply step 2).

use super::schema::{AccessEntry, Problem, Selector};
use serde_json::Value;

/// What the CLI needs to know about one API definition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiInfo {
    pub api_id: String,
    pub name: String,
    pub listen_path: String,
    pub tags: Vec<String>,
    pub org_id: String,
    /// Version names a key may be granted; empty for non-versioned APIs, whose
    /// versions the gateway never checks.
    pub versions: Vec<String>,
    /// What `versions` defaults to when an access entry omits it.
    pub default_version: String,
}

impl ApiInfo {
    /// Reads one raw Tyk API definition. `None` without an `api_id`.
    pub fn from_definition(def: &Value) -> Option<ApiInfo> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let api_id = s(def.get("api_id"));
        if api_id.is_empty() {
            return None;
        }
        let vd = def.get("version_data");
        let not_versioned = vd
            .and_then(|v| v.get("not_versioned"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let names: Vec<String> = vd
            .and_then(|v| v.get("versions"))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let declared_default = s(vd.and_then(|v| v.get("default_version")));
        // Tyk's non-versioned resolution: the single version, else one named Default.
        let default_version = match names.as_slice() {
            _ if !declared_default.is_empty() => declared_default,
            [only] => only.clone(),
            _ => "Default".to_string(),
        };
        Some(ApiInfo {
            name: s(def.get("name")),
            listen_path: s(def.get("proxy").and_then(|p| p.get("listen_path"))),
            tags: crate::util::json_strings(def.get("tags")),
            org_id: s(def.get("org_id")),
            versions: if not_versioned { Vec::new() } else { names },
            default_version,
            api_id,
        })
    }

    /// Parses a `GET /api/apis` answer: `{"apis":[{"api_definition":{...}}],"pages":N}`.
    pub fn from_list(body: &Value) -> Vec<ApiInfo> {
        body.get("apis")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|item| {
                        ApiInfo::from_definition(item.get("api_definition").unwrap_or(item))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One access entry resolved to its APIs.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    pub entry: &'a AccessEntry,
    pub apis: Vec<&'a ApiInfo>,
}

/// Resolves every entry; all failures are returned together.
pub fn resolve<'a>(
    access: &'a [AccessEntry],
    apis: &'a [ApiInfo],
) -> Result<Vec<Resolved<'a>>, Vec<Problem>> {
    let (out, problems) = resolve_each(access.iter().enumerate(), apis);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Resolves entries given with their index in `access` (used in messages), which
/// need not be contiguous: `apply` resolves the well-formed selectors of a file that
/// has other problems. Returns what resolved and every problem found. An entry whose
/// selector matched but whose versions are wrong is in both.
pub fn resolve_each<'a>(
    entries: impl IntoIterator<Item = (usize, &'a AccessEntry)>,
    apis: &'a [ApiInfo],
) -> (Vec<Resolved<'a>>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, entry) in entries {
        let field = format!("access[{i}].{}", entry.selector.key());
        let matched: Vec<&ApiInfo> = match &entry.selector {
            Selector::Name(n) => apis.iter().filter(|a| &a.name == n).collect(),
            Selector::ListenPath(p) => apis.iter().filter(|a| &a.listen_path == p).collect(),
            Selector::Id(id) => apis.iter().filter(|a| &a.api_id == id).collect(),
            Selector::Tags(tags) => apis
                .iter()
                .filter(|a| tags.iter().all(|t| a.tags.contains(t)))
                .collect(),
        };
        let problem = match (&entry.selector, matched.len()) {
            (Selector::Tags(tags), 0) => Some(format!(
                "no API has all of the tags {}",
                tags.iter()
                    .map(|t| format!("{t:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (Selector::Tags(_), _) | (_, 1) => None,
            (sel, 0) => Some(not_found(sel, apis)),
            (sel, _) => Some(format!(
                "{} {:?} matches {} APIs ({}); use an id selector to pick one",
                describe(sel),
                value(sel),
                matched.len(),
                matched
                    .iter()
                    .map(|a| a.api_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        if let Some(message) = problem {
            problems.push(Problem::new(Some(entry.pos), field, message));
            continue;
        }
        if let Some(versions) = &entry.versions {
            for api in &matched {
                for v in versions {
                    if !api.versions.is_empty() && !api.versions.contains(v) {
                        problems.push(Problem::new(
                            Some(entry.pos),
                            format!("access[{i}].versions"),
                            format!(
                                "version {v:?} is not defined on API {:?} ({}); it has: {}",
                                api.name,
                                api.api_id,
                                api.versions.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        out.push(Resolved {
            entry,
            apis: matched,
        });
    }
    (out, problems)
}

fn describe(sel: &Selector) -> &'static str {
    match sel {
        Selector::Name(_) => "name",
        Selector::ListenPath(_) => "listen path",
        Selector::Id(_) => "API id",
        Selector::Tags(_) => "tags",
    }
}

fn value(sel: &Selector) -> String {
    match sel {
        Selector::Name(s) | Selector::ListenPath(s) | Selector::Id(s) => s.clone(),
        Selector::Tags(t) => t.join(", "),
    }
}

/// "no API found for name ..." with the three closest candidates of the same kind.
fn not_found(sel: &Selector, apis: &[ApiInfo]) -> String {
    let wanted = value(sel);
    let candidate = |a: &ApiInfo| -> String {
        match sel {
            Selector::ListenPath(_) => a.listen_path.clone(),
            Selector::Id(_) => a.api_id.clone(),
            _ => a.name.clone(),
        }
    };
    // Edit distance first; among equally distant names, the one sharing the longer
    // prefix is the likelier typo ("user-api": "user-mgmt" before "orders-api").
    let mut scored: Vec<(usize, std::cmp::Reverse<usize>, String, &str)> = apis
        .iter()
        .map(|a| {
            let c = candidate(a);
            let prefix = wanted
                .chars()
                .zip(c.chars())
                .take_while(|(x, y)| x == y)
                .count();
            (
                strsim::levenshtein(&wanted, &c),
                std::cmp::Reverse(prefix),
                c,
                a.api_id.as_str(),
            )
        })
        .collect();
    scored.sort();
    let head = format!("no API found for {} {wanted:?}", describe(sel));
    if scored.is_empty() {
        return format!("{head}; the gateway has no APIs");
    }
    let suggestions: Vec<String> = scored
        .iter()
        .take(3)
        .map(|(_, _, c, id)| {
            if matches!(sel, Selector::Id(_)) {
                c.clone()
            } else {
                format!("{c} ({id})")
            }
        })
        .collect();
    format!("{head}. Did you mean: {}?", suggestions.join(", "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::policy::schema::AccessEntry;
    use crate::cli::policy::yaml::Pos;
    use serde_json::json;

    pub fn api(id: &str, name: &str, path: &str, tags: &[&str]) -> ApiInfo {
        ApiInfo {
            api_id: id.into(),
            name: name.into(),
            listen_path: path.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            org_id: "default".into(),
            versions: Vec::new(),
            default_version: "Default".into(),
        }
    }

    pub fn catalogue() -> Vec<ApiInfo> {
        vec![
            api("a1", "users-api", "/users/", &["public", "v1"]),
            api("a2", "orders-api", "/orders/", &["public", "v1"]),
            api("a3", "user-service", "/user-service/", &["internal"]),
            api("a4", "user-mgmt", "/mgmt/", &["public"]),
            api("a5", "payments-api", "/payments/", &[]),
            api("d1", "dup", "/dup1/", &[]),
            api("d2", "dup", "/dup2/", &[]),
        ]
    }

    fn entry(sel: Selector) -> AccessEntry {
        AccessEntry {
            selector: sel,
            versions: None,
            pos: Pos { line: 7, col: 5 },
        }
    }

    fn ids<'a>(r: &'a Resolved<'a>) -> Vec<&'a str> {
        r.apis.iter().map(|a| a.api_id.as_str()).collect()
    }

    #[test]
    fn each_selector_kind_resolves() {
        let apis = catalogue();
        let access = vec![
            entry(Selector::Name("users-api".into())),
            entry(Selector::ListenPath("/orders/".into())),
            entry(Selector::Id("a5".into())),
            entry(Selector::Tags(vec!["public".into(), "v1".into()])),
            entry(Selector::Tags(vec!["public".into()])),
        ];
        let r = resolve(&access, &apis).unwrap();
        assert_eq!(ids(&r[0]), vec!["a1"]);
        assert_eq!(ids(&r[1]), vec!["a2"]);
        assert_eq!(ids(&r[2]), vec!["a5"]);
        assert_eq!(ids(&r[3]), vec!["a1", "a2"]);
        assert_eq!(ids(&r[4]), vec!["a1", "a2", "a4"]);
    }

    #[test]
    fn failures_are_all_reported_with_suggestions() {
        let apis = catalogue();
        let access = vec![
            entry(Selector::Name("user-api".into())),
            entry(Selector::ListenPath("/order/".into())),
            entry(Selector::Id("zz".into())),
            entry(Selector::Tags(vec!["public".into(), "internal".into()])),
            entry(Selector::Name("dup".into())),
        ];
        let got: Vec<String> = resolve(&access, &apis)
            .unwrap_err()
            .iter()
            .map(|p| p.render("f.yaml"))
            .collect();
        assert_eq!(
            got,
            vec![
                "f.yaml:7:5: access[0].name: no API found for name \"user-api\". Did you mean: users-api (a1), user-mgmt (a4), orders-api (a2)?",
                "f.yaml:7:5: access[1].listenPath: no API found for listen path \"/order/\". Did you mean: /orders/ (a2), /users/ (a1), /dup1/ (d1)?",
                "f.yaml:7:5: access[2].id: no API found for API id \"zz\". Did you mean: a1, a2, a3?",
                "f.yaml:7:5: access[3].tags: no API has all of the tags \"public\", \"internal\"",
                "f.yaml:7:5: access[4].name: name \"dup\" matches 2 APIs (d1, d2); use an id selector to pick one",
            ]
        );
    }

    #[test]
    fn resolve_each_keeps_the_file_indices_and_what_resolved() {
        // The well-formed entries of a file whose access[1] and access[2] are broken.
        let apis = catalogue();
        let (a, b, c) = (
            entry(Selector::Name("users-api".into())),
            entry(Selector::Name("user-api".into())),
            entry(Selector::Id("a5".into())),
        );
        let (resolved, problems) = resolve_each([(0, &a), (3, &b), (4, &c)], &apis);
        assert_eq!(
            resolved.iter().map(ids).collect::<Vec<_>>(),
            vec![vec!["a1"], vec!["a5"]]
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "access[3].name");
    }

    #[test]
    fn no_apis_at_all() {
        let access = vec![entry(Selector::Name("x".into()))];
        let got = resolve(&access, &[]).unwrap_err();
        assert_eq!(
            got[0].message,
            "no API found for name \"x\"; the gateway has no APIs"
        );
    }

    #[test]
    fn versions_must_exist_on_versioned_apis() {
        let mut v = api("v", "versioned", "/v/", &[]);
        v.versions = vec!["v1".into(), "v2".into()];
        let apis = vec![v, api("n", "plain", "/n/", &[])];
        let mut e1 = entry(Selector::Name("versioned".into()));
        e1.versions = Some(vec!["v1".into(), "v3".into()]);
        let mut e2 = entry(Selector::Name("plain".into()));
        e2.versions = Some(vec!["anything".into()]);
        let got = resolve(&[e1, e2.clone()], &apis).unwrap_err();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].message,
            "version \"v3\" is not defined on API \"versioned\" (v); it has: v1, v2"
        );
        assert!(resolve(&[e2], &apis).is_ok());
    }

    #[test]
    fn reads_raw_definitions() {
        let body = json!({"apis": [
            {"api_definition": {"api_id": "a", "name": "A", "org_id": "o", "tags": ["t"],
              "proxy": {"listen_path": "/a/"},
              "version_data": {"not_versioned": true, "versions": {"Default": {}}}}},
            {"api_definition": {"api_id": "b", "name": "B",
              "version_data": {"not_versioned": false, "default_version": "v2",
                               "versions": {"v1": {}, "v2": {}}}}},
            {"api_definition": {"api_id": "c", "version_data": {"versions": {"only": {}}}}},
            {"api_definition": {"name": "no id"}},
            "garbage"
        ], "pages": 1});
        let got = ApiInfo::from_list(&body);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            ApiInfo {
                api_id: "a".into(),
                name: "A".into(),
                listen_path: "/a/".into(),
                tags: vec!["t".into()],
                org_id: "o".into(),
                versions: vec![],
                default_version: "Default".into(),
            }
        );
        assert_eq!(got[1].versions, vec!["v1", "v2"]);
        assert_eq!(got[1].default_version, "v2");
        assert_eq!(got[2].default_version, "only");
        assert_eq!(ApiInfo::from_list(&json!({"nope": 1})), vec![]);
    }
}
