//! Tests for policy application: every non-HTTP case of Tyk's extracted test suite, then
//! hand-written cases for the rules the fixture file does not pin down.

use super::*;
use crate::tyk::json::from_value;
use serde_json::{json, Map, Value};

const CASES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tyk-policy-cases.json"
));

/// A store keyed by (policy org, lookup name); the policy keeps its own inner `id`, which is
/// what Tyk's test store does and what ends up in `allowance_scope`.
#[derive(Default)]
struct TestStore {
    policies: BTreeMap<(String, String), Policy>,
}

impl TestStore {
    fn insert(&mut self, name: &str, policy: Policy) {
        self.policies
            .insert((policy.org_id.clone(), name.to_string()), policy);
    }
    fn with(policies: &[(&str, Value)]) -> Self {
        let mut store = TestStore::default();
        for (name, v) in policies {
            store.insert(name, from_value(v.clone()).unwrap());
        }
        store
    }
}

impl PolicyLookup for TestStore {
    fn policy(&self, org_id: &str, id: &str) -> Option<&Policy> {
        self.policies.get(&(org_id.to_string(), id.to_string()))
    }
}

// === data-driven fixture cases ===

fn store_from_map(map: &Map<String, Value>) -> Result<TestStore, String> {
    let mut store = TestStore::default();
    for (name, v) in map {
        let policy: Policy = from_value(v.clone()).map_err(|e| format!("policy {name}: {e}"))?;
        store.insert(name, policy);
    }
    Ok(store)
}

fn session_from(v: Option<&Value>) -> Result<Session, String> {
    match v {
        None => Ok(Session::default()),
        Some(v) => from_value(v.clone()).map_err(|e| format!("session: {e}")),
    }
}

fn context_org(inputs: &Value) -> Result<Option<String>, String> {
    match inputs.get("service_org") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("unsupported service_org {other}")),
    }
}

/// Outcome of one application, as a JSON object the expectation paths are resolved against.
fn applied_view(session: &Session, result: &Result<(), ApplyError>) -> Value {
    json!({
        "session": serde_json::to_value(session).unwrap(),
        "access_rights": serde_json::to_value(&session.access_rights).unwrap(),
        "error": result.as_ref().err().map(|e| e.to_string()),
    })
}

fn run_case(case: &Value, fixtures: &Value) -> Result<(), String> {
    let kind = case["kind"].as_str().ok_or("case without kind")?;
    let inputs = &case["inputs"];
    let expected = case["expected"]
        .as_object()
        .ok_or("case without expected object")?;
    match kind {
        "apply_policies" => {
            let fixture = inputs["fixture"].as_str().ok_or("no fixture name")?;
            let map = fixtures[fixture]
                .as_object()
                .ok_or(format!("unknown fixture {fixture}"))?;
            let store = store_from_map(map)?;
            let ids: Vec<String> =
                from_value(inputs["apply_policies"].clone()).map_err(|e| e.to_string())?;
            let mut orders = vec![ids.clone()];
            if inputs["also_run_reversed"] == Value::Bool(true) {
                orders.push(ids.iter().rev().cloned().collect());
            }
            for order in orders {
                let mut session = session_from(inputs.get("session"))?;
                session.apply_policies = order.clone();
                let result = apply_policies(&mut session, &store, Some(""));
                check(expected, &applied_view(&session, &result))
                    .map_err(|e| format!("order {order:?}: {e}"))?;
            }
            Ok(())
        }
        "apply_policies_inline" => {
            let map = inputs["policies"].as_object().ok_or("no inline policies")?;
            let store = store_from_map(map)?;
            let mut session = session_from(inputs.get("session"))?;
            let org = context_org(inputs)?;
            let result = apply_policies(&mut session, &store, org.as_deref());
            check(expected, &applied_view(&session, &result))
        }
        "apply_policies_custom" => {
            let mut session = session_from(inputs.get("session"))?;
            let policies = inputs["custom_policies_in_order"].clone();
            if !policies.is_array() {
                return Err("custom_policies_in_order is not an array".into());
            }
            session.meta_data.insert("policies".into(), policies);
            let org = context_org(inputs)?;
            let result = apply_policies(&mut session, &TestStore::default(), org.as_deref());
            check(expected, &applied_view(&session, &result))
        }
        "merge_endpoint_limits" => {
            let policy: Vec<Endpoint> =
                from_value(inputs["policy_endpoints"].clone()).map_err(|e| e.to_string())?;
            let current: Vec<Endpoint> =
                from_value(inputs["current_endpoints"].clone()).map_err(|e| e.to_string())?;
            let merged = merge_endpoint_limits(&policy, &current);
            check(
                expected,
                &json!({ "endpoints": serde_json::to_value(merged).unwrap() }),
            )
        }
        "apply_rate_limits" => {
            let mut session = session_from(inputs.get("session"))?;
            let mut limit: ApiLimit =
                from_value(inputs["api_limit"].clone()).map_err(|e| e.to_string())?;
            let policy: Policy = from_value(inputs["policy"].clone()).map_err(|e| e.to_string())?;
            apply_rate_limits(&mut session, &policy, &mut limit);
            check(
                expected,
                &json!({
                    "session": serde_json::to_value(&session).unwrap(),
                    "api_limit": serde_json::to_value(&limit).unwrap(),
                }),
            )
        }
        "limit_source" => {
            let session = session_from(inputs.get("session"))?;
            let api_id = inputs["api_id"].as_str().ok_or("no api_id")?;
            let (limit, scope) = limit_for_api(&session, api_id);
            check(
                expected,
                &json!({ "limit": serde_json::to_value(limit).unwrap(), "allowance_scope": scope }),
            )
        }
        other => Err(format!("unsupported case kind {other:?}")),
    }
}

/// Checks every expectation of a case; an expectation form this runner does not know fails.
fn check(expected: &Map<String, Value>, actual: &Value) -> Result<(), String> {
    let error = actual.get("error").and_then(Value::as_str);
    let expects_error =
        expected.contains_key("error_contains") || expected.contains_key("error_exact");
    if !expects_error && actual.get("error").is_some() {
        if let Some(e) = error {
            return Err(format!("unexpected error: {e}"));
        }
    }
    for (key, want) in expected {
        let fail = |what: String| Err(format!("{key}: {what}"));
        match key.as_str() {
            "error" => {
                if !want.is_null() {
                    return fail(format!("unsupported expectation {want}"));
                }
                if let Some(e) = error {
                    return fail(format!("expected success, got {e:?}"));
                }
            }
            "error_contains" => {
                let want = want.as_str().ok_or("error_contains must be a string")?;
                match error {
                    Some(e) if e.contains(want) => {}
                    other => {
                        return fail(format!(
                            "expected an error containing {want:?}, got {other:?}"
                        ))
                    }
                }
            }
            "error_exact" => {
                let want = want.as_str().ok_or("error_exact must be a string")?;
                if error != Some(want) {
                    return fail(format!("expected error {want:?}, got {error:?}"));
                }
            }
            "session.tags_sorted" => {
                let mut got: Vec<String> =
                    from_value(actual["session"].get("tags").cloned().unwrap_or(json!([])))
                        .map_err(|e| e.to_string())?;
                got.sort();
                let want: Vec<String> = from_value(want.clone()).map_err(|e| e.to_string())?;
                if got != want {
                    return fail(format!("expected {want:?}, got {got:?}"));
                }
            }
            _ => {
                let (path, unordered) = match key.strip_suffix(" (set)") {
                    Some(p) => (p, true),
                    None => (key.as_str(), false),
                };
                let got = resolve(actual, path)?;
                if !matches(want, got, unordered) {
                    return fail(format!(
                        "expected {want}, got {}",
                        got.map_or("<absent>".to_string(), Value::to_string)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Follows a dotted path; only the last segment may be missing (it then reads as a zero value).
fn resolve<'a>(root: &'a Value, path: &str) -> Result<Option<&'a Value>, String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    for (i, seg) in segments.iter().enumerate() {
        match cur.get(*seg) {
            Some(v) => cur = v,
            None if i + 1 == segments.len() => return Ok(None),
            None => return Err(format!("path {path}: {seg} is missing")),
        }
    }
    Ok(Some(cur))
}

fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// Expectation forms of the fixture file: marker strings, then JSON values compared with
/// zero-valued / absent fields treated alike (Tyk omits zero fields when serialising).
fn matches(want: &Value, got: Option<&Value>, unordered: bool) -> bool {
    match want.as_str() {
        Some("<= 0") => return got.and_then(Value::as_f64).unwrap_or(0.0) <= 0.0,
        Some("empty") => return is_zero(got),
        Some("non-empty") => return !is_zero(got),
        _ => {}
    }
    if unordered {
        let (Some(want), got) = (want.as_array(), got.and_then(Value::as_array)) else {
            return false;
        };
        let got = got.map(Vec::as_slice).unwrap_or(&[]);
        return same_set(want, got);
    }
    json_eq(Some(want), got)
}

fn same_set(want: &[Value], got: &[Value]) -> bool {
    if want.len() != got.len() {
        return false;
    }
    let mut used = vec![false; got.len()];
    want.iter().all(|w| {
        let hit = got
            .iter()
            .enumerate()
            .position(|(i, g)| !used[i] && json_eq(Some(w), Some(g)));
        hit.map(|i| used[i] = true).is_some()
    })
}

fn json_eq(want: Option<&Value>, got: Option<&Value>) -> bool {
    if is_zero(want) && is_zero(got) {
        return true;
    }
    match (want, got) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Some(Value::Object(a)), Some(Value::Object(b))) => a.keys().chain(b.keys()).all(|k| {
            // Tyk regroups endpoint limits from a map, so their order is not significant.
            if k == "endpoints" {
                let (wa, ga) = (
                    a.get(k).and_then(Value::as_array),
                    b.get(k).and_then(Value::as_array),
                );
                return match (wa, ga) {
                    (Some(wa), Some(ga)) => same_set(wa, ga),
                    _ => json_eq(a.get(k), b.get(k)),
                };
            }
            json_eq(a.get(k), b.get(k))
        }),
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(Some(x), Some(y)))
        }
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[test]
fn tyk_policy_cases() {
    let doc: Value = serde_json::from_str(CASES).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(
        doc["case_count"].as_u64(),
        Some(cases.len() as u64),
        "case_count does not match the file"
    );
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("<unnamed>");
        // End-to-end HTTP behaviour belongs to the gateway's integration tests.
        if case["kind"] == "http_scenario" {
            continue;
        }
        ran += 1;
        match run_case(case, &doc["fixtures"]) {
            Ok(()) => println!("ok   {name}"),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} fixture cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let http = cases
        .iter()
        .filter(|c| c["kind"] == "http_scenario")
        .count();
    assert_eq!(ran + http, cases.len());
    println!("{ran} fixture cases passed ({http} http_scenario cases skipped)");
}

// === hand-written cases ===

fn key(v: Value) -> Session {
    from_value(v).unwrap()
}

fn err_of(session: Value, store: &TestStore, ctx: Option<&str>) -> Option<String> {
    let mut s = key(session);
    apply_policies(&mut s, store, ctx)
        .err()
        .map(|e| e.to_string())
}

#[test]
fn error_strings_are_tyks() {
    let cases = [
        (
            ApplyError::PolicyNotFound("p1".into()),
            r#"policy not found: "p1""#,
        ),
        (
            ApplyError::PolicyNotFound("a\"b\\c\n\u{1}é\u{a0}".into()),
            r#"policy not found: "a\"b\\c\n\x01é\u00a0""#,
        ),
        (
            ApplyError::OrgMismatch {
                policy_id: "p".into(),
            },
            "attempting to apply policy from different organisation to key, skipping",
        ),
        (
            ApplyError::PerApiWithPartitions("pa".into()),
            "cannot apply policy pa which has per_api and any of partitions set",
        ),
        (
            ApplyError::MixedPerApiAndPartitioned,
            "cannot apply multiple policies when some have per_api set and some are partitioned",
        ),
        (
            ApplyError::NoValidPolicies,
            "key has no valid policies to be applied",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn errors_are_returned_by_apply() {
    let store = TestStore::with(&[
        (
            "acl",
            json!({"id": "acl", "access_rights": {"a": {}}, "partitions": {"acl": true}}),
        ),
        (
            "perapi",
            json!({"id": "perapi", "access_rights": {"b": {}}, "partitions": {"per_api": true}}),
        ),
        (
            "bad",
            json!({"id": "bad", "access_rights": {"b": {}}, "partitions": {"per_api": true, "quota": true}}),
        ),
        ("master", json!({"id": "master", "rate": 5, "per": 1})),
    ]);
    let text = |ids: Value| err_of(json!({ "apply_policies": ids }), &store, Some(""));
    assert_eq!(
        text(json!(["gone"])).as_deref(),
        Some(r#"policy not found: "gone""#)
    );
    assert_eq!(
        text(json!(["bad"])).as_deref(),
        Some("cannot apply policy bad which has per_api and any of partitions set")
    );
    let mixed =
        Some("cannot apply multiple policies when some have per_api set and some are partitioned");
    assert_eq!(text(json!(["perapi", "acl"])).as_deref(), mixed);
    assert_eq!(text(json!(["acl", "perapi"])).as_deref(), mixed);
    assert_eq!(
        text(json!(["master"])).as_deref(),
        Some("key has no valid policies to be applied")
    );
    // Several missing policies are skipped, which leaves nothing granted.
    assert_eq!(
        text(json!(["gone", "also-gone"])).as_deref(),
        Some("key has no valid policies to be applied")
    );
    // A non-partitioned policy between a partitioned and a per_api one resets the "partitioned" flag.
    let store2 = TestStore::with(&[
        (
            "acl",
            json!({"id": "acl", "access_rights": {"a": {}}, "partitions": {"acl": true}}),
        ),
        ("plain", json!({"id": "plain", "access_rights": {"c": {}}})),
        (
            "perapi",
            json!({"id": "perapi", "access_rights": {"b": {}}, "partitions": {"per_api": true}}),
        ),
    ]);
    assert_eq!(
        err_of(
            json!({"apply_policies": ["acl", "plain", "perapi"]}),
            &store2,
            None
        ),
        None
    );
}

#[test]
fn org_scoping() {
    let store = TestStore::with(&[
        (
            "p",
            json!({"id": "p", "org_id": "org1", "access_rights": {"a": {}}}),
        ),
        (
            "q",
            json!({"id": "q", "org_id": "", "access_rights": {"a": {}}}),
        ),
    ]);
    // Key without org: looked up under the API's org.
    assert_eq!(
        err_of(json!({"apply_policies": ["p"]}), &store, Some("org1")),
        None
    );
    // Key without org and no context: looked up under "" only.
    assert_eq!(
        err_of(json!({"apply_policies": ["p"]}), &store, None).as_deref(),
        Some(r#"policy not found: "p""#)
    );
    // A policy stored under another org is simply not found.
    assert_eq!(
        err_of(
            json!({"org_id": "org2", "apply_policies": ["p"]}),
            &store,
            Some("org2")
        )
        .as_deref(),
        Some(r#"policy not found: "p""#)
    );
    // Found under the key's org, but the API belongs to another org.
    assert_eq!(
        err_of(
            json!({"org_id": "org1", "apply_policies": ["p"]}),
            &store,
            Some("org2")
        )
        .as_deref(),
        Some("attempting to apply policy from different organisation to key, skipping")
    );
    // REST preview (no context org): no ownership check.
    assert_eq!(
        err_of(
            json!({"org_id": "org1", "apply_policies": ["p"]}),
            &store,
            None
        ),
        None
    );
    // An org-less policy used for an API with an org fails the ownership check.
    assert_eq!(
        err_of(json!({"apply_policies": ["q"]}), &store, Some("")).as_deref(),
        None,
        "same (empty) org is fine"
    );
    assert_eq!(
        err_of(
            json!({"org_id": "", "apply_policies": ["q"]}),
            &TestStore::default(),
            Some("org1")
        )
        .as_deref(),
        Some(r#"policy not found: "q""#)
    );
}

#[test]
fn apply_policy_id_only_when_list_empty() {
    let store = TestStore::with(&[
        ("one", json!({"id": "one", "access_rights": {"a": {}}})),
        ("two", json!({"id": "two", "access_rights": {"b": {}}})),
    ]);
    let mut s = key(json!({"apply_policy_id": "one"}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["a"]);

    let mut s = key(json!({"apply_policy_id": "one", "apply_policies": ["two"]}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["b"]);

    let mut s = key(json!({"apply_policy_id": "missing", "apply_policies": ["two"]}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn is_inactive_rules() {
    let store = TestStore::with(&[
        ("on", json!({"id": "on", "access_rights": {"a": {}}})),
        (
            "off",
            json!({"id": "off", "is_inactive": true, "access_rights": {"b": {}}}),
        ),
    ]);
    let inactive = |v: Value| {
        let mut s = key(v);
        apply_policies(&mut s, &store, None).unwrap();
        s.is_inactive
    };
    assert!(
        inactive(json!({"is_inactive": true})),
        "no policies: the key's own flag stays"
    );
    assert!(
        inactive(json!({"is_inactive": true, "apply_policies": ["on"]})),
        "the key's own flag counts even with active policies (PRODUCT.md §4)"
    );
    assert!(!inactive(json!({"apply_policies": ["on"]})));
    assert!(
        inactive(json!({"apply_policies": ["on", "off"]})),
        "any inactive policy"
    );
    assert!(!inactive(json!({"apply_policies": ["on", "missing"]})));
}

#[test]
fn master_policy_sets_root_values() {
    let store = TestStore::with(&[
        (
            "acl",
            json!({"id": "acl", "access_rights": {"a": {}}, "partitions": {"acl": true}}),
        ),
        (
            "master",
            json!({"id": "master", "rate": 7, "per": 2, "quota_max": 100, "quota_renewal_rate": 60,
            "throttle_interval": 3, "throttle_retry_limit": 4, "max_query_depth": 5}),
        ),
    ]);
    let mut s =
        key(json!({"rate": 1000, "per": 1, "quota_max": 5, "apply_policies": ["acl", "master"]}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(
        (s.rate, s.per, s.quota_max, s.quota_renewal_rate),
        (7.0, 2.0, 100, 60)
    );
    assert_eq!(
        (
            s.throttle_interval,
            s.throttle_retry_limit,
            s.max_query_depth
        ),
        (3.0, 4, 5)
    );
    // The ACL-only policy's API inherits the root values.
    let a = &s.access_rights["a"].limit;
    assert_eq!(
        (
            a.rate,
            a.per,
            a.quota_max,
            a.quota_renewal_rate,
            a.max_query_depth
        ),
        (7.0, 2.0, 100, 60, 5)
    );
    assert_eq!(s.access_rights["a"].allowance_scope, "");
}

#[test]
fn non_per_api_entry_limit_is_ignored() {
    let store = TestStore::with(&[(
        "p",
        json!({"id": "p", "rate": 5, "per": 1, "quota_max": 10, "quota_renewal_rate": 60,
            "access_rights": {"a": {"api_id": "a", "api_name": "A", "versions": ["v1"],
                "limit": {"rate": 100, "per": 1, "quota_max": 999}}}}),
    )]);
    let mut s = key(json!({"apply_policies": ["p"]}));
    apply_policies(&mut s, &store, None).unwrap();
    let a = &s.access_rights["a"];
    assert_eq!(
        (
            a.limit.rate,
            a.limit.per,
            a.limit.quota_max,
            a.limit.quota_renewal_rate
        ),
        (5.0, 1.0, 10, 60)
    );
    assert_eq!(
        (a.api_id.as_str(), a.api_name.as_str()),
        ("", ""),
        "names are not copied"
    );
    assert_eq!(a.versions, ["v1"]);
    // Single API with every partition: the root mirrors it.
    assert_eq!((s.rate, s.per, s.quota_max), (5.0, 1.0, 10));
}

#[test]
fn allowance_scope_with_two_acl_policies() {
    let store = TestStore::with(&[
        (
            "p1",
            json!({"id": "p1", "rate": 1, "per": 1, "access_rights": {"a": {}, "b": {}}}),
        ),
        (
            "p2",
            json!({"id": "p2", "rate": 2, "per": 1, "access_rights": {"c": {}}}),
        ),
        (
            "p3",
            json!({"id": "p3", "access_rights": {"a": {}}, "partitions": {"acl": true}}),
        ),
    ]);
    let scopes = |ids: Value| {
        let mut s = key(json!({ "apply_policies": ids }));
        apply_policies(&mut s, &store, None).unwrap();
        s.access_rights
            .iter()
            .map(|(k, v)| (k.clone(), v.allowance_scope.clone()))
            .collect::<Vec<_>>()
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        scopes(json!(["p1"])),
        [pair("a", ""), pair("b", "")],
        "one policy: one shared counter"
    );
    assert_eq!(
        scopes(json!(["p1", "p2"])),
        [pair("a", "p1"), pair("b", "p1"), pair("c", "p2")]
    );
    // The policy that last did ACL for an API owns its counter.
    assert_eq!(
        scopes(json!(["p1", "p3"])),
        [pair("a", "p3"), pair("b", "p1")]
    );
}

#[test]
fn rights_update_replaces_key_rights() {
    let store = TestStore::with(&[(
        "ab",
        json!({"id": "ab", "access_rights": {"a": {}, "b": {}}}),
    )]);
    let mut s = key(json!({"apply_policies": ["ab"], "access_rights": {"c": {"api_id": "c"}}}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn key_rights_stay_without_acl_policy() {
    // No ACL anywhere: nothing is granted, which Tyk reports as an error.
    let store = TestStore::with(&[(
        "rate",
        json!({"id": "rate", "rate": 3, "per": 1,
        "access_rights": {"c": {}}, "partitions": {"rate_limit": true}}),
    )]);
    let mut s = key(json!({"apply_policies": ["rate"], "access_rights": {"c": {"api_id": "c"}}}));
    let err = apply_policies(&mut s, &store, None).unwrap_err();
    assert_eq!(err, ApplyError::NoValidPolicies);
    assert_eq!(s.access_rights["c"].api_id, "c");
}

#[test]
fn no_policies_scopes_hand_made_limits() {
    let mut s = key(json!({
        "rate": 3, "per": 1, "tags": ["x", "x"],
        "access_rights": {"a": {"limit": {"rate": 1, "per": 1}}, "b": {}}
    }));
    apply_policies(&mut s, &TestStore::default(), None).unwrap();
    assert_eq!(s.access_rights["a"].allowance_scope, "a");
    assert_eq!(s.access_rights["b"].allowance_scope, "");
    assert_eq!((s.rate, s.per), (3.0, 1.0));
    assert_eq!(s.tags, ["x"]);
}

#[test]
fn clear_session_and_flags() {
    let store = TestStore::with(&[
        (
            "q",
            json!({"id": "q", "quota_max": 50, "access_rights": {"a": {}}, "partitions": {"acl": true, "quota": true},
            "hmac_enabled": true, "tags": ["t2", "t1"], "meta_data": {"m": 1, "k": "policy"},
            "last_updated": "200", "post_expiry_action": "delete"}),
        ),
        (
            "r",
            json!({"id": "r", "rate": 9, "per": 1, "access_rights": {"a": {}}, "partitions": {"rate_limit": true},
            "tags": ["t1", "t3"], "meta_data": {"m": 2}, "last_updated": "1000", "post_expiry_grace_period": 30}),
        ),
    ]);
    let mut s = key(json!({
        "apply_policies": ["q", "r"], "rate": 100, "per": 1, "quota_max": 1000, "quota_remaining": 7,
        "max_query_depth": 4, "tags": ["own"], "meta_data": {"k": "key", "keep": true}, "last_updated": "300"
    }));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(
        (s.rate, s.quota_max, s.quota_remaining),
        (9.0, 50, 0),
        "covered partitions are replaced"
    );
    assert_eq!(s.max_query_depth, 4, "no policy covers complexity");
    assert!(s.hmac_enabled);
    assert_eq!(s.tags, ["own", "t2", "t1", "t3"]);
    assert_eq!(s.meta_data["m"], 2);
    assert_eq!(s.meta_data["k"], "policy");
    assert_eq!(s.meta_data["keep"], true);
    assert_eq!(
        s.last_updated, "300",
        "string comparison: \"300\" > \"1000\""
    );
    assert_eq!(
        (s.post_expiry_action.as_str(), s.post_expiry_grace_period),
        ("delete", 30)
    );

    // Clearing stops at the first missing policy, so the key's own quota competes and wins.
    let mut s =
        key(json!({"apply_policies": ["missing", "q"], "quota_max": 1000, "quota_remaining": 7}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!((s.quota_max, s.quota_remaining), (1000, 7));
    assert_eq!(s.access_rights["a"].limit.quota_max, 50);
}

#[test]
fn custom_policies() {
    let mut s = key(json!({
        "apply_policies": ["ignored"],
        "meta_data": {"policies": [
            {"id": "c1", "rate": 5, "per": 1, "access_rights": {"a": {}}, "org_id": "o"}
        ]}
    }));
    apply_policies(&mut s, &TestStore::default(), None).unwrap();
    assert_eq!(s.access_rights.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(s.rate, 5.0);

    let mut s = key(json!({"meta_data": {"policies": [{"rate": "fast"}]}}));
    let err = apply_policies(&mut s, &TestStore::default(), None).unwrap_err();
    assert!(matches!(err, ApplyError::InvalidCustomPolicies(_)), "{err}");

    // Tyk checks ownership for inline policies too when an API org is known.
    let mut s = key(
        json!({"meta_data": {"policies": [{"id": "c1", "org_id": "o", "access_rights": {"a": {}}}]}}),
    );
    let err = apply_policies(&mut s, &TestStore::default(), Some("other")).unwrap_err();
    assert!(matches!(err, ApplyError::OrgMismatch { .. }));

    // An empty inline list means "no policies".
    let mut s = key(json!({"is_inactive": true, "meta_data": {"policies": []}}));
    apply_policies(&mut s, &TestStore::default(), None).unwrap();
    assert!(s.is_inactive);
}

#[test]
fn per_api_keeps_quota_renews_and_introspection() {
    let store = TestStore::with(&[(
        "pa",
        json!({"id": "pa", "rate": 2, "per": 1, "access_rights": {"a": {"api_id": "a", "versions": ["v2"]}},
            "partitions": {"per_api": true}}),
    )]);
    let mut s = key(
        json!({"apply_policies": ["pa"], "access_rights": {"a": {"disable_introspection": true,
        "limit": {"rate": 1, "per": 1, "quota_renews": 12345}}}}),
    );
    apply_policies(&mut s, &store, None).unwrap();
    let a = &s.access_rights["a"];
    assert_eq!((a.limit.rate, a.limit.quota_renews), (2.0, 12345));
    assert!(a.disable_introspection);
    assert_eq!(
        (a.api_id.as_str(), a.versions.as_slice()),
        ("a", ["v2".to_string()].as_slice())
    );
    assert_eq!(a.allowance_scope, "pa");
}

#[test]
fn allowed_urls_merge() {
    let spec = |url: &str, methods: &[&str]| AccessSpec {
        url: url.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
    };
    let a = [spec("/user", &["GET", "POST"]), spec("/", &["PUT"])];
    let b = [
        spec("/user", &["GET", "DELETE"]),
        spec("/companies", &["GET"]),
    ];
    assert_eq!(
        merge_allowed_urls(&a, &b),
        [
            spec("/user", &["GET", "POST", "DELETE"]),
            spec("/", &["PUT"]),
            spec("/companies", &["GET"])
        ]
    );
    assert!(merge_allowed_urls(&[], &[]).is_empty());

    // A grant without allowed_urls does not lift another policy's restriction.
    let store = TestStore::with(&[
        ("open", json!({"id": "open", "access_rights": {"a": {}}})),
        (
            "narrow",
            json!({"id": "narrow", "access_rights": {"a": {"allowed_urls": [{"url": "/x", "methods": ["GET"]}]}}}),
        ),
    ]);
    let mut s = key(json!({"apply_policies": ["open", "narrow"]}));
    apply_policies(&mut s, &store, None).unwrap();
    assert_eq!(s.access_rights["a"].allowed_urls, [spec("/x", &["GET"])]);
}

#[test]
fn endpoint_merge_is_sorted_and_keeps_one_sided_pairs() {
    let ep = |path: &str, name: &str, rate: f64, per: f64| Endpoint {
        path: path.into(),
        methods: vec![EndpointMethod {
            name: name.into(),
            limit: RateLimit { rate, per },
        }],
    };
    let merged = merge_endpoint_limits(
        &[ep("/b", "GET", 5.0, 30.0)],
        &[ep("/b", "GET", 10.0, 60.0), ep("/a", "PUT", 1.0, 1.0)],
    );
    assert_eq!(
        merged,
        [ep("/a", "PUT", 1.0, 1.0), ep("/b", "GET", 10.0, 60.0)]
    );
    let merged =
        merge_endpoint_limits(&[ep("/b", "GET", -1.0, 0.0)], &[ep("/b", "GET", 10.0, 1.0)]);
    assert_eq!(
        merged,
        [ep("/b", "GET", -1.0, 0.0)],
        "duration 0 is unlimited and wins"
    );
    let merged = merge_endpoint_limits(
        &[ep("/b", "GET", 5.0, 30.0)],
        &[ep("/b", "GET", 10.0, 60.0)],
    );
    assert_eq!(
        merged,
        [ep("/b", "GET", 10.0, 60.0)],
        "equal duration: higher rate wins"
    );
    let unsorted = [ep("/z", "GET", 1.0, 1.0), ep("/a", "GET", 1.0, 1.0)];
    assert_eq!(
        merge_endpoint_limits(&unsorted, &[]),
        unsorted,
        "one empty side: the other as given"
    );
}

#[test]
fn limit_for_api_sources() {
    let s = key(json!({
        "rate": 3, "per": 1, "quota_max": 10, "quota_remaining": 4,
        "access_rights": {
            "own": {"limit": {"rate": 8, "per": 2}, "allowance_scope": "own"},
            "scoped": {"allowance_scope": "pol"},
            "plain": {}
        }
    }));
    let (l, scope) = limit_for_api(&s, "own");
    assert_eq!(
        (l.rate, l.per, l.quota_max, scope.as_str()),
        (8.0, 2.0, 0, "own")
    );
    let (l, scope) = limit_for_api(&s, "plain");
    assert_eq!(
        (l.rate, l.quota_max, l.quota_remaining, scope.as_str()),
        (3.0, 10, 4, "")
    );
    let (l, scope) = limit_for_api(&s, "scoped");
    assert_eq!((l.rate, scope.as_str()), (3.0, "pol"));
    let (l, scope) = limit_for_api(&s, "unknown");
    assert_eq!((l.rate, scope.as_str()), (3.0, ""));
}

#[test]
fn graphql_merges() {
    let store = TestStore::with(&[
        (
            "g1",
            json!({"id": "g1", "access_rights": {"a": {
            "allowed_types": [{"name": "Country", "fields": ["code"]}],
            "field_access_rights": [{"type_name": "Query", "field_name": "people", "limits": {"max_query_depth": 4}}]}}}),
        ),
        (
            "g2",
            json!({"id": "g2", "access_rights": {"a": {
            "allowed_types": [{"name": "Country", "fields": ["code", "name"]}, {"name": "Dog", "fields": ["x"]}],
            "field_access_rights": [
                {"type_name": "Query", "field_name": "people", "limits": {"max_query_depth": -1}},
                {"type_name": "Query", "field_name": "pets", "limits": {"max_query_depth": 2}}]}}}),
        ),
    ]);
    let mut s = key(json!({"apply_policies": ["g1", "g2"]}));
    apply_policies(&mut s, &store, None).unwrap();
    let a = &s.access_rights["a"];
    let types: Vec<(&str, Vec<&str>)> = a
        .allowed_types
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.fields.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [("Country", vec!["code", "name"]), ("Dog", vec!["x"])]
    );
    assert_eq!(a.field_access_rights.len(), 2);
    assert_eq!(a.field_access_rights[0]["limits"]["max_query_depth"], -1);
}
