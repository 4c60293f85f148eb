//! Conversion between the human schema and the Tyk wire format (apply steps 3–4,
//! and the reverse for `get`).

use super::apis::{ApiInfo, Resolved};
use super::duration;
use super::schema::{PolicyFile, Problem};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The wire policy for `file`, given its resolved access entries. Fails when the
/// resolved APIs belong to different organisations (a policy has one `org_id`, and
/// the gateway only applies it to APIs of that org).
pub fn to_wire(file: &PolicyFile, resolved: &[Resolved<'_>]) -> Result<Value, Vec<Problem>> {
    if let Some(p) = org_problem(resolved) {
        return Err(vec![p]);
    }
    let mut rights = Map::new();
    let mut org_id = "";
    for r in resolved {
        for api in &r.apis {
            if org_id.is_empty() {
                org_id = &api.org_id;
            }
            let versions = r
                .entry
                .versions
                .clone()
                .unwrap_or_else(|| vec![api.default_version.clone()]);
            match rights.get_mut(&api.api_id) {
                // Two entries selecting one API (a name and a tag, say): the key gets
                // the union of their versions, as the gateway merges policies.
                Some(existing) => {
                    if let Some(Value::Array(have)) = existing.get_mut("versions") {
                        for v in versions {
                            if !have.iter().any(|h| h.as_str() == Some(v.as_str())) {
                                have.push(Value::String(v));
                            }
                        }
                    }
                }
                None => {
                    rights.insert(
                        api.api_id.clone(),
                        json!({
                            "api_id": api.api_id,
                            "api_name": api.name,
                            "versions": versions,
                            "allowed_urls": [],
                            "limit": null,
                        }),
                    );
                }
            }
        }
    }
    // `per: 0` disables the rate limit (0 = disabled, as for every duration); it is
    // written exactly like an absent `rateLimit` block, so `get` → `apply` of such a
    // policy stays a fixed point.
    let (rate, per) = file
        .rate_limit
        .filter(|r| r.per > 0)
        .map_or((0, 0), |r| (r.requests, r.per));
    let (quota_max, quota_renewal_rate) = file.quota.map_or((-1, 0), |q| (q.limit, q.period));
    Ok(json!({
        "id": file.id,
        "name": file.name,
        "org_id": org_id,
        "rate": rate,
        "per": per,
        "quota_max": quota_max,
        "quota_renewal_rate": quota_renewal_rate,
        "key_expires_in": file.key_ttl,
        "tags": file.tags,
        "access_rights": rights,
        "active": true,
        "is_inactive": false,
    }))
}

/// The problem with `resolved` selecting APIs of more than one organisation, if it
/// does (a policy has one `org_id`, and the gateway only applies it to APIs of that
/// org). Checked by `apply` on whatever resolved, even when other entries did not.
pub fn org_problem(resolved: &[Resolved<'_>]) -> Option<Problem> {
    let mut orgs: Vec<(&str, &str)> = Vec::new();
    for api in resolved.iter().flat_map(|r| &r.apis) {
        if !orgs.iter().any(|(o, _)| *o == api.org_id) {
            orgs.push((&api.org_id, &api.name));
        }
    }
    if orgs.len() < 2 {
        return None;
    }
    let list = orgs
        .iter()
        .map(|(o, n)| format!("{n:?} is in org {o:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Problem::new(
        None,
        "access",
        format!("the selected APIs belong to different organisations ({list}); a policy applies to one org"),
    ))
}

/// The fields `apply` owns, normalised so that a desired policy and the server's copy
/// compare equal exactly when applying would change nothing.
pub fn managed_view(p: &Value) -> Value {
    let num = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let rights: Map<String, Value> = p
        .get("access_rights")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(id, ar)| {
                    let limit_set = ar
                        .get("limit")
                        .and_then(Value::as_object)
                        .is_some_and(|l| l.values().any(|v| v.as_f64().is_some_and(|n| n != 0.0)));
                    let urls = match ar.get("allowed_urls") {
                        Some(Value::Array(a)) => Value::Array(a.clone()),
                        _ => json!([]),
                    };
                    (
                        id.clone(),
                        json!({
                            "api_id": ar.get("api_id").cloned().unwrap_or(Value::Null),
                            "api_name": ar.get("api_name").cloned().unwrap_or(Value::Null),
                            "versions": ar.get("versions").cloned().unwrap_or(json!([])),
                            "allowed_urls": urls,
                            "limit": limit_set,
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": p.get("name").cloned().unwrap_or(Value::Null),
        "org_id": p.get("org_id").and_then(Value::as_str).unwrap_or_default(),
        "rate": num("rate"),
        "per": num("per"),
        "quota_max": num("quota_max"),
        "quota_renewal_rate": num("quota_renewal_rate"),
        "key_expires_in": num("key_expires_in"),
        "tags": p.get("tags").cloned().filter(|t| !t.is_null()).unwrap_or(json!([])),
        "access_rights": rights,
        "active": p.get("active").and_then(Value::as_bool).unwrap_or(true),
        "is_inactive": p.get("is_inactive").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Names of the managed fields that differ (empty: nothing to do).
pub fn changed_fields(existing: &Value, desired: &Value) -> Vec<String> {
    let (a, b) = (managed_view(existing), managed_view(desired));
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The body of an update: the server's policy with the managed fields replaced, so
/// fields the schema does not carry (partitions, meta_data, `_id`, ...) survive.
pub fn merge_for_update(existing: &Value, desired: &Value) -> Value {
    let mut out = existing.clone();
    if let (Some(o), Some(d)) = (out.as_object_mut(), desired.as_object()) {
        for (k, v) in d {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Wire → schema (`get`)
// ---------------------------------------------------------------------------

/// A policy in the human schema, as `get` prints it (YAML or JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(rename = "rateLimit", skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaOut>,
    #[serde(rename = "keyTTL")]
    pub key_ttl: Scalar,
    pub access: Vec<AccessOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateOut {
    pub requests: Scalar,
    pub per: Scalar,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaOut {
    pub limit: Scalar,
    pub period: Scalar,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<serde_saphyr::FlowSeq<Vec<String>>>,
}

/// A number or a duration string. Wire values the schema cannot express (a
/// fractional `per`, say) are printed as they are rather than silently rounded;
/// `apply` then rejects them with a clear message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Text(String),
}

fn whole(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 9.0e18).then_some(v as i64)
}

fn count(v: f64) -> Scalar {
    whole(v).map_or(Scalar::Float(v), Scalar::Int)
}

fn dur(v: f64) -> Scalar {
    whole(v).map_or(Scalar::Float(v), |s| Scalar::Text(duration::format(s)))
}

/// Converts a wire policy back to the schema. API ids are reverse-resolved to `name`
/// selectors where the name identifies exactly one API, else kept as `id`. The
/// second value lists what the schema could not carry (reported as warnings).
pub fn to_cli(p: &Value, apis: &[ApiInfo]) -> (PolicyOut, Vec<String>) {
    let mut notes = Vec::new();
    let s = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let num = |k: &str| p.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let mut id = s("id");
    if id.is_empty() {
        id = s("_id");
    }
    let (rate, per) = (num("rate"), num("per"));
    // rate or per ≤ 0 means "no rate limit" to the gateway (tyk-compat §1.4).
    let rate_limit = (rate > 0.0 && per > 0.0).then(|| RateOut {
        requests: count(rate),
        per: dur(per),
    });
    let quota_max = p.get("quota_max").and_then(Value::as_f64).unwrap_or(-1.0);
    // quota_max ≤ 0 is not enforced either (tyk-compat §7).
    let quota = (quota_max > 0.0).then(|| QuotaOut {
        limit: count(quota_max),
        period: dur(num("quota_renewal_rate")),
    });
    let mut access: Vec<AccessOut> = Vec::new();
    if let Some(rights) = p.get("access_rights").and_then(Value::as_object) {
        for (key, ar) in rights {
            let api_id = ar
                .get("api_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(key);
            let known = apis.iter().find(|a| a.api_id == api_id);
            let unique_name = known.filter(|a| {
                !a.name.is_empty() && apis.iter().filter(|b| b.name == a.name).count() == 1
            });
            let versions: Vec<String> = ar
                .get("versions")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if ar
                .get("allowed_urls")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                notes.push(format!(
                    "access to {api_id} has allowed_urls rules, which the YAML schema does not carry; applying this file would remove them"
                ));
            }
            access.push(AccessOut {
                name: unique_name.map(|a| a.name.clone()),
                id: unique_name.is_none().then(|| api_id.to_string()),
                versions: (!versions.is_empty()).then_some(serde_saphyr::FlowSeq(versions)),
            });
        }
    }
    // The wire map has no meaningful order; sort so repeated `get`s diff cleanly.
    access.sort_by(|a, b| {
        let k = |x: &AccessOut| (x.name.is_none(), x.name.clone().or(x.id.clone()));
        k(a).cmp(&k(b))
    });
    let tags = p
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let out = PolicyOut {
        id,
        name: s("name"),
        tags,
        rate_limit,
        quota,
        key_ttl: dur(num("key_expires_in")),
        access,
    };
    (out, notes)
}

/// The YAML `get` prints.
pub fn to_yaml(p: &PolicyOut) -> Result<String, String> {
    serde_saphyr::to_string(p).map_err(|e| format!("cannot render YAML: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::policy::apis::resolve;
    use crate::cli::policy::apis::tests::{api, catalogue};
    use crate::cli::policy::schema;

    fn wire_of(yaml: &str, apis: &[ApiInfo]) -> Value {
        let file = schema::parse(yaml).unwrap();
        let resolved = resolve(&file.access, apis).unwrap();
        to_wire(&file, &resolved).unwrap()
    }

    const GOLD: &str = "\
id: gold
name: Gold Plan
tags: [paid, gold]
rateLimit: {requests: 1000, per: 1m}
quota: {limit: 100000, period: 30d}
keyTTL: 1h
access:
  - name: users-api
    versions: [v1]
  - listenPath: /orders/
  - tags: [public, v1]
    versions: [Default]
";

    #[test]
    fn schema_to_wire() {
        let w = wire_of(GOLD, &catalogue());
        assert_eq!(
            w,
            json!({
                "id": "gold",
                "name": "Gold Plan",
                "org_id": "default",
                "rate": 1000,
                "per": 60,
                "quota_max": 100000,
                "quota_renewal_rate": 2592000,
                "key_expires_in": 3600,
                "tags": ["paid", "gold"],
                "access_rights": {
                    "a1": {"api_id": "a1", "api_name": "users-api", "versions": ["v1", "Default"], "allowed_urls": [], "limit": null},
                    "a2": {"api_id": "a2", "api_name": "orders-api", "versions": ["Default"], "allowed_urls": [], "limit": null}
                },
                "active": true,
                "is_inactive": false
            })
        );
    }

    #[test]
    fn no_quota_and_no_rate_limit() {
        let w = wire_of(
            "id: a\nname: A\naccess: [{name: payments-api}]\n",
            &catalogue(),
        );
        assert_eq!(w["quota_max"], json!(-1));
        assert_eq!(w["quota_renewal_rate"], json!(0));
        assert_eq!(w["rate"], json!(0));
        assert_eq!(w["per"], json!(0));
        assert_eq!(w["key_expires_in"], json!(0));
        assert_eq!(w["tags"], json!([]));
    }

    #[test]
    fn zero_durations_are_disabled_or_never() {
        for zero in ["0", "\"0\""] {
            let w = wire_of(
                &format!("id: a\nname: A\nrateLimit: {{requests: 5, per: {zero}}}\nquota: {{limit: 10, period: {zero}}}\nkeyTTL: {zero}\naccess: [{{name: payments-api}}]\n"),
                &catalogue(),
            );
            // A quota of 10 that never renews; keys that never expire; no rate limit
            // (written as an absent rateLimit block is).
            assert_eq!(w["quota_max"], json!(10), "{zero}");
            assert_eq!(w["quota_renewal_rate"], json!(0), "{zero}");
            assert_eq!(w["key_expires_in"], json!(0), "{zero}");
            assert_eq!((&w["rate"], &w["per"]), (&json!(0), &json!(0)), "{zero}");
            let (out, _) = to_cli(&w, &catalogue());
            assert_eq!(
                out.quota,
                Some(QuotaOut {
                    limit: Scalar::Int(10),
                    period: Scalar::Text("0".into())
                })
            );
            assert_eq!(out.rate_limit, None);
        }
    }

    #[test]
    fn apis_of_different_orgs_are_refused() {
        let mut apis = catalogue();
        apis[1].org_id = "other".into();
        let file = schema::parse("id: a\nname: A\naccess: [{tags: [public, v1]}]\n").unwrap();
        let resolved = resolve(&file.access, &apis).unwrap();
        let e = to_wire(&file, &resolved).unwrap_err();
        assert_eq!(
            e[0].render("f"),
            "f: access: the selected APIs belong to different organisations (\"users-api\" is in org \"default\", \"orders-api\" is in org \"other\"); a policy applies to one org"
        );
    }

    #[test]
    fn wire_to_schema() {
        let w = wire_of(GOLD, &catalogue());
        let (out, notes) = to_cli(&w, &catalogue());
        assert!(notes.is_empty());
        let yaml = to_yaml(&out).unwrap();
        assert_eq!(
            yaml,
            "\
id: gold
name: Gold Plan
tags:
- paid
- gold
rateLimit:
  requests: 1000
  per: 1m
quota:
  limit: 100000
  period: 30d
keyTTL: 1h
access:
- name: orders-api
  versions: [Default]
- name: users-api
  versions: [v1, Default]
"
        );
    }

    #[test]
    fn round_trip_is_a_fixed_point() {
        // apply → get → apply gives the same wire policy (the idempotence `apply`
        // relies on for "unchanged").
        let apis = catalogue();
        for src in [
            GOLD,
            "id: a\nname: A\naccess: [{id: a5}]\n",
            "id: b\nname: \"yes\"\nkeyTTL: 90\nrateLimit: {requests: 1, per: 90}\naccess: [{tags: [public]}]\n",
            "id: c\nname: \"0\"\ntags: [\"null\", \"1m\"]\nquota: {limit: 1, period: 86400}\naccess: [{listenPath: /payments/, versions: [\"1.0\"]}]\n",
            "id: d\nname: D\nrateLimit: {requests: 5, per: 0}\nquota: {limit: 10, period: 0}\nkeyTTL: \"0\"\naccess: [{id: a5}]\n",
            "id: \"y\"\nname: \"n\"\ntags: [\"on\", \"0x1f\", \"1e3\", \"~\", \"a: b\", \"# c\", \" pad \", \"\\u00e9\\t\"]\naccess: [{id: a5, versions: [\"off\", \"1_000\", \".inf\", \"-\", \"[x]\"]}]\n",
        ] {
            let w1 = wire_of(src, &apis);
            let (out, _) = to_cli(&w1, &apis);
            let yaml = to_yaml(&out).unwrap();
            let w2 = wire_of(&yaml, &apis);
            assert_eq!(w1, w2, "{src}\n---\n{yaml}");
            assert!(changed_fields(&w1, &w2).is_empty());
        }
    }

    #[test]
    fn reverse_resolution_falls_back_to_id() {
        let apis = catalogue();
        let w = json!({
            "_id": "65aa00000000000000000001",
            "name": "legacy",
            "rate": 2.5, "per": 0.5,
            "quota_max": -1,
            "access_rights": {
                "d1": {"api_id": "d1", "versions": ["Default"]},
                "gone": {"api_id": "gone", "versions": [], "allowed_urls": [{"url": "/x", "methods": ["GET"]}]},
                "a1": {"versions": ["v1"]}
            }
        });
        let (out, notes) = to_cli(&w, &apis);
        assert_eq!(out.id, "65aa00000000000000000001");
        assert_eq!(
            out.rate_limit,
            Some(RateOut {
                requests: Scalar::Float(2.5),
                per: Scalar::Float(0.5)
            })
        );
        assert_eq!(out.quota, None);
        assert_eq!(out.key_ttl, Scalar::Text("0".into()));
        let sel: Vec<(Option<&str>, Option<&str>)> = out
            .access
            .iter()
            .map(|a| (a.name.as_deref(), a.id.as_deref()))
            .collect();
        // "dup" is not unique, "gone" is unknown: both stay ids.
        assert_eq!(
            sel,
            vec![
                (Some("users-api"), None),
                (None, Some("d1")),
                (None, Some("gone"))
            ]
        );
        assert_eq!(out.access[2].versions, None);
        assert_eq!(notes.len(), 1);
        let yaml = to_yaml(&out).unwrap();
        assert!(yaml.contains("keyTTL: \"0\""), "{yaml}");
    }

    #[test]
    fn managed_view_ignores_unmanaged_fields_and_number_spelling() {
        let apis = vec![api("a1", "users-api", "/users/", &[])];
        let desired = wire_of("id: a\nname: A\naccess: [{id: a1}]\n", &apis);
        // What a server might send back: floats, extra fields, no allowed_urls, empty limit.
        let mut server = desired.clone();
        server["_id"] = json!("65aa00000000000000000001");
        server["rate"] = json!(0.0);
        server["partitions"] = json!({"quota": false});
        server["access_rights"]["a1"] = json!({"api_id": "a1", "api_name": "users-api", "versions": ["Default"], "limit": {"rate": 0}});
        assert!(changed_fields(&server, &desired).is_empty());
        server["access_rights"]["a1"]["versions"] = json!(["v2"]);
        server["quota_max"] = json!(5);
        assert_eq!(
            changed_fields(&server, &desired),
            vec!["quota_max", "access_rights"]
        );
        let merged = merge_for_update(&server, &desired);
        assert_eq!(merged["_id"], server["_id"]);
        assert_eq!(merged["partitions"], server["partitions"]);
        assert!(changed_fields(&merged, &desired).is_empty());
    }
}
