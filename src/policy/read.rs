//! Reading API definitions and policies from disk into raw types.
//!
//! Every problem is collected (not just the first) with the file, the JSON path and
//! the reason, so `tollgate check` and a failed reload can show them all at once.

use crate::tyk::config::Config;
use crate::tyk::fields::{Ctx, Doc, Finding};
use crate::tyk::json::{self, join_path};
use crate::tyk::{ApiDefinition, Policy};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub path: String,
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.reason)
        }
    }
}

impl Issue {
    pub fn new(
        file: impl Into<String>,
        path: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Issue {
            file: file.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// All problems found while loading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issues(pub Vec<Issue>);

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Issues {}

/// An API definition with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedApi {
    pub file: String,
    pub def: ApiDefinition,
    /// The document as written, served back by `GET /tyk/apis`.
    pub raw: Value,
}

/// A policy with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub file: String,
    /// JSON path prefix of the policy inside its file (`<id>` in single-file mode, `""` in directory mode).
    pub path: String,
    pub policy: Policy,
}

/// Everything read from disk for one snapshot.
#[derive(Debug, Clone, Default)]
pub struct RawSet {
    pub apis: Vec<LoadedApi>,
    pub policies: Vec<LoadedPolicy>,
    /// The files read and their bytes' digest, for the reload log line.
    pub digest: u64,
    /// Fields set in the files that this build does not act on and that only change
    /// what clients or upstreams see (`tollgate check` prints them, `/hello` lists them).
    pub warnings: Vec<Issue>,
}

/// Where policies come from (tyk-compat §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    None,
    File(PathBuf),
    Dir(PathBuf),
}

impl PolicySource {
    pub fn from_config(cfg: &Config) -> PolicySource {
        if !cfg.policies.policy_path.is_empty() {
            PolicySource::Dir(PathBuf::from(&cfg.policies.policy_path))
        } else if !cfg.policies.policy_record_name.is_empty() {
            PolicySource::File(PathBuf::from(&cfg.policies.policy_record_name))
        } else {
            PolicySource::None
        }
    }
}

/// FNV-1a, enough to tell "same bytes" in logs without another dependency.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const FNV_SEED: u64 = 0xcbf29ce484222325;

/// `*.json` files of a directory, sorted by name; hidden files (editor swap files,
/// the `..data` entries of a Kubernetes ConfigMap) are skipped.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        if path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads one file, folding its name and bytes into the set's digest; a failure is an issue.
fn read_file(
    path: &Path,
    what: &str,
    set: &mut RawSet,
    issues: &mut Vec<Issue>,
) -> Option<(String, Vec<u8>)> {
    let file = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => {
            set.digest = fnv(fnv(set.digest, file.as_bytes()), &bytes);
            Some((file, bytes))
        }
        Err(e) => {
            issues.push(Issue::new(file, "", format!("cannot read {what}: {e}")));
            None
        }
    }
}

/// Reads `app_path` and the policy source.
pub fn read_all(cfg: &Config) -> Result<RawSet, Issues> {
    let mut issues = Vec::new();
    let mut set = RawSet {
        digest: FNV_SEED,
        ..Default::default()
    };
    let ctx = Ctx {
        custom_domains: cfg.enable_custom_domains,
    };
    read_apis(Path::new(&cfg.app_path), &ctx, &mut set, &mut issues);
    read_policies(&PolicySource::from_config(cfg), &mut set, &mut issues);
    if issues.is_empty() {
        Ok(set)
    } else {
        Err(Issues(issues))
    }
}

/// Findings of one document as issues of its file, under a path prefix.
pub fn file_issues(file: &str, prefix: &str, findings: Vec<Finding>) -> Vec<Issue> {
    findings
        .into_iter()
        .map(|f| Issue::new(file, join_path(prefix, &f.path), f.reason))
        .collect()
}

/// A Tyk OAS definition decodes as an empty classic one; say what it is instead.
fn oas_marker(raw: &Value) -> Option<&'static str> {
    let obj = raw.as_object()?;
    if obj
        .keys()
        .any(|k| k.eq_ignore_ascii_case("x-tyk-api-gateway"))
    {
        Some("x-tyk-api-gateway")
    } else if obj
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("is_oas") && v == &Value::Bool(true))
    {
        Some("is_oas")
    } else {
        None
    }
}

/// Decodes one API definition, reporting every problem of the file.
pub fn parse_api(file: &str, raw: Value, ctx: &Ctx) -> Result<(LoadedApi, Vec<Issue>), Vec<Issue>> {
    if let Some(marker) = oas_marker(&raw) {
        return Err(vec![Issue::new(
            file,
            marker,
            "this is a Tyk OAS API definition; tollgate serves classic API definitions only (export the API in Tyk's classic format)",
        )]);
    }
    let mut canonical = raw.clone();
    match json::decode_doc::<ApiDefinition>(Doc::Api, canonical.take(), ctx) {
        Ok((def, warnings)) => {
            let mut warnings = file_issues(file, "", warnings);
            for (key, v) in &def.version_data.versions {
                if !v.name.is_empty() && &v.name != key {
                    warnings.push(Issue::new(
                        file,
                        format!("version_data.versions.{key}.name"),
                        format!("{:?} differs from the version's key {key:?}; the key is used (in Tyk a mismatch picks the wrong rule set)", v.name),
                    ));
                }
            }
            Ok((
                LoadedApi {
                    file: file.to_string(),
                    def,
                    raw,
                },
                warnings,
            ))
        }
        Err(errors) => Err(file_issues(file, "", errors)),
    }
}

fn read_apis(dir: &Path, ctx: &Ctx, set: &mut RawSet, issues: &mut Vec<Issue>) {
    let shown = dir.display().to_string();
    let files = match json_files(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(app_path = %shown, "app_path does not exist: no APIs loaded");
            return;
        }
        Err(e) => {
            issues.push(Issue::new(
                shown,
                "",
                format!("cannot read API directory: {e}"),
            ));
            return;
        }
    };
    for path in files {
        let Some((file, bytes)) = read_file(&path, "API definition", set, issues) else {
            continue;
        };
        let raw = match json::parse_value(&bytes) {
            Ok(v) => v,
            Err(e) => {
                issues.push(Issue::new(file, e.path, e.message));
                continue;
            }
        };
        match parse_api(&file, raw, ctx) {
            Ok((api, mut warnings)) => {
                set.apis.push(api);
                set.warnings.append(&mut warnings);
            }
            Err(mut e) => issues.append(&mut e),
        }
    }
}

fn read_policies(source: &PolicySource, set: &mut RawSet, issues: &mut Vec<Issue>) {
    match source {
        PolicySource::None => {}
        PolicySource::File(path) => {
            let Some((file, bytes)) = read_file(path, "policies file", set, issues) else {
                return;
            };
            match parse_policy_file(&file, &bytes) {
                Ok((mut ps, mut warnings)) => {
                    set.policies.append(&mut ps);
                    set.warnings.append(&mut warnings);
                }
                Err(mut e) => issues.append(&mut e),
            }
        }
        PolicySource::Dir(dir) => {
            let files = match json_files(dir) {
                Ok(f) => f,
                // Tyk: a missing policy_path is zero policies, not an error.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) => {
                    issues.push(Issue::new(
                        dir.display().to_string(),
                        "",
                        format!("cannot read policy directory: {e}"),
                    ));
                    return;
                }
            };
            for path in files {
                let Some((file, bytes)) = read_file(&path, "policy", set, issues) else {
                    continue;
                };
                match json::decode_doc_text::<Policy>(Doc::Policy, &bytes, &Ctx::default()) {
                    Ok((policy, _)) if policy.effective_id().is_empty() => issues.push(Issue::new(
                        file,
                        "id",
                        "policy has no \"id\" (and no valid \"_id\")",
                    )),
                    Ok((policy, warnings)) => {
                        set.warnings.extend(file_issues(&file, "", warnings));
                        set.policies.push(LoadedPolicy {
                            file,
                            path: String::new(),
                            policy,
                        })
                    }
                    Err(e) => issues.extend(file_issues(&file, "", e)),
                }
            }
        }
    }
}

/// Parses a single-file policy set: one object mapping policy id → policy. Returns the
/// policies and the warnings, or every problem of the file.
pub fn parse_policy_file(
    file: &str,
    bytes: &[u8],
) -> Result<(Vec<LoadedPolicy>, Vec<Issue>), Vec<Issue>> {
    let value = json::parse_value(bytes).map_err(|e| vec![Issue::new(file, e.path, e.message)])?;
    let Value::Object(map) = value else {
        return Err(vec![Issue::new(
            file,
            "",
            "expected a JSON object mapping policy id to policy",
        )]);
    };
    let mut out = Vec::new();
    let mut issues = Vec::new();
    let mut warnings = Vec::new();
    for (key, v) in map {
        match json::decode_doc::<Policy>(Doc::Policy, v, &Ctx::default()) {
            Ok((mut policy, w)) => {
                warnings.extend(file_issues(file, &key, w));
                // Tyk v5.12+: the map key is the policy id when non-empty.
                if !key.is_empty() {
                    policy.id = key.clone();
                }
                if policy.effective_id().is_empty() {
                    issues.push(Issue::new(file, key, "policy has no id"));
                    continue;
                }
                out.push(LoadedPolicy {
                    file: file.to_string(),
                    path: key,
                    policy,
                });
            }
            Err(e) => issues.extend(file_issues(file, &key, e)),
        }
    }
    if issues.is_empty() {
        Ok((out, warnings))
    } else {
        Err(issues)
    }
}

/// Reports duplicate policy ids within one org (a policy set must be unambiguous).
pub fn check_duplicate_policies(policies: &[LoadedPolicy]) -> Vec<Issue> {
    let mut seen: HashMap<(&str, &str), &LoadedPolicy> = HashMap::new();
    let mut issues = Vec::new();
    for p in policies {
        let k = (p.policy.org_id.as_str(), p.policy.effective_id());
        if let Some(first) = seen.get(&k) {
            issues.push(Issue::new(
                p.file.clone(),
                p.path.clone(),
                format!(
                    "duplicate policy id {:?} in org {:?} (also defined in {})",
                    k.1, k.0, first.file
                ),
            ));
        } else {
            seen.insert(k, p);
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_uses_map_key_as_id_and_reports_every_problem() {
        let text = br#"{"a": {"id": "x", "rate": 1}, "b": {"quota_max": 1.5}, "c": {"_id": "zz"}}"#;
        let e = parse_policy_file("p.json", text).unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, "b.quota_max");
        assert_eq!(e[1].path, "c._id");
        let (ok, _) = parse_policy_file("p.json", br#"{"a": {"id": "x"}}"#).unwrap();
        assert_eq!(ok[0].policy.id, "a");
    }

    #[test]
    fn non_object_file_is_an_error() {
        let e = parse_policy_file("p.json", b"[1]").unwrap_err();
        assert!(e[0].reason.contains("expected a JSON object"));
    }

    #[test]
    fn duplicates_per_org() {
        let mk = |org: &str, id: &str, file: &str| LoadedPolicy {
            file: file.into(),
            path: String::new(),
            policy: Policy {
                id: id.into(),
                org_id: org.into(),
                ..Default::default()
            },
        };
        let ps = vec![
            mk("o", "a", "1.json"),
            mk("o2", "a", "2.json"),
            mk("o", "a", "3.json"),
        ];
        let issues = check_duplicate_policies(&ps);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].file, "3.json");
    }
}
