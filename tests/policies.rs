//! Policies loaded from files, end to end (tyk-compat §2, §3).

use crate::common::*;
use serde_json::{json, Value};

fn fixture_case(name: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tyk-policy-cases.json"
    ))
    .expect("fixture file");
    let doc: Value = serde_json::from_str(&text).expect("fixture JSON");
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("fixture case {name:?} not found"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_policies_on_different_apis_get_their_own_counters() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![
            api("api1", "/api1/", &up.url()),
            api("api2", "/api2/", &up.url()),
            api("api3", "/api3/", &up.url()),
        ])
        .policies(json!({
            "policy1": {"org_id": "default", "rate": 1000, "per": 1,
                        "quota_max": 50, "quota_renewal_rate": 3600,
                        "access_rights": {"api1": {"api_id": "api1", "versions": ["Default"]}}},
            "policy2": {"org_id": "default", "rate": 1000, "per": 1,
                        "quota_max": 100, "quota_renewal_rate": 3600,
                        "access_rights": {"api2": {"api_id": "api2", "versions": ["Default"]},
                                          "api3": {"api_id": "api3", "versions": ["Default"]}}}
        })),
    )
    .await;
    let key = gw
        .create_key(key_with_policies(&["policy1", "policy2"]))
        .await;
    // api2 and api3 come from one policy: one shared counter.
    for want in [99, 98, 97] {
        let r = gw.get_with("/api2/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(want)), "api2");
        assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("100"));
    }
    for want in [96, 95, 94] {
        let r = gw.get_with("/api3/x", &key).await;
        assert_eq!((r.status, r.remaining()), (200, Some(want)), "api3");
    }
    // api1 comes from the other policy: its own limit and counter.
    let r = gw.get_with("/api1/x", &key).await;
    assert_eq!((r.status, r.remaining()), (200, Some(49)), "api1");
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("50"));
    let r = gw.get_with("/api2/x", &key).await;
    assert_eq!(r.remaining(), Some(93));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_api_policy_quotas_fixture_scenario() {
    let case = fixture_case("Per-API policy quotas and X-RateLimit-Remaining per API");
    let inputs = &case["inputs"];
    let expected = &case["expected"];
    let up = MockUpstream::start().await;
    let apis: Vec<Value> = inputs["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut d = api(
                a["api_id"].as_str().unwrap(),
                a["listen_path"].as_str().unwrap(),
                &up.url(),
            );
            d["org_id"] = a["org_id"].clone();
            d
        })
        .collect();
    let gw = TestGateway::start(Opts::apis(apis).policies(inputs["policies"].clone())).await;

    let body = json!({
        "apply_policies": ["two_of_three_with_api_limit"],
        "org_id": "default",
        "access_rights": {
            "api1": {"api_id": "api1", "versions": ["v1"]},
            "api2": {"api_id": "api2", "versions": ["v1"]},
            "api3": {"api_id": "api3", "versions": ["v1"]}
        }
    });
    let uuid = "5f0c1b2a3d4e4f60a1b2c3d4e5f60718";
    let (status, created) = gw
        .admin("POST", &format!("/tyk/keys/{uuid}"), Some(body.clone()))
        .await;
    assert_eq!(status, expected["key_create"], "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(key, format!("default{uuid}"));

    let seqs = expected["X-RateLimit-Remaining sequence"]
        .as_object()
        .unwrap();
    for path in ["/api1", "/api2", "/api3"] {
        for want in seqs[path].as_array().unwrap() {
            let r = gw.get_with(path, &key).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert_eq!(
                r.header("x-ratelimit-remaining").as_deref(),
                want.as_str(),
                "{path}"
            );
        }
    }

    let (status, s) = gw
        .admin("GET", &format!("/tyk/keys/{key}?org_id=default"), None)
        .await;
    assert_eq!(status, 200, "{s}");
    let want_limits = expected["GET /tyk/keys/<key>?org_id=default access_rights.*.limit"]
        .as_object()
        .unwrap();
    for (api_id, want) in want_limits {
        let got = &s["access_rights"][api_id]["limit"];
        for (field, v) in want.as_object().unwrap() {
            assert_eq!(
                got[field].as_f64(),
                v.as_f64(),
                "access_rights.{api_id}.limit.{field}: {got}"
            );
        }
    }

    let (status, _) = gw
        .admin("PUT", &format!("/tyk/keys/{key}"), Some(body))
        .await;
    assert_eq!(status, 200);
    let (_, s) = gw
        .admin("GET", &format!("/tyk/keys/{key}?org_id=default"), None)
        .await;
    assert_eq!(
        s["access_rights"]["api1"]["limit"]["quota_remaining"],
        expected["after PUT /tyk/keys/<key> (same body)"]["api1.limit.quota_remaining"],
        "{s}"
    );
}

async fn prefix_matching_gateway(up: &MockUpstream, policies: Value) -> TestGateway {
    let case = fixture_case("allowed_urls with prefix matching enabled");
    let conf = case["inputs"]["config"].clone();
    let listen = case["inputs"]["api"]["listen_path"].as_str().unwrap();
    TestGateway::start(
        Opts::apis(vec![api("test", listen, &up.url())])
            .conf(conf)
            .policies(policies),
    )
    .await
}

async fn assert_prefix_matching_expectations(gw: &TestGateway, key: &str) {
    let case = fixture_case("allowed_urls with prefix matching enabled");
    for (req, want) in case["expected"].as_object().unwrap() {
        let (method, path) = req.split_once(' ').unwrap();
        let r = gw
            .request(method, path, &[("Authorization", key)], "")
            .await;
        let want = want.as_u64().unwrap() as u16;
        if want == 403 {
            assert_tyk_error(&r, 403, "Access to this resource has been disallowed");
        } else {
            assert_eq!(r.status, want, "{req}: {}", r.text());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_urls_with_prefix_matching_on_the_key() {
    let case = fixture_case("allowed_urls with prefix matching enabled");
    let up = MockUpstream::start().await;
    let gw = prefix_matching_gateway(&up, json!({})).await;
    let key = gw
        .create_key(json!({"org_id": "default", "access_rights": {"test": {
            "api_id": "test", "versions": ["Default"],
            "allowed_urls": case["inputs"]["allowed_urls"].clone()}}}))
        .await;
    assert_prefix_matching_expectations(&gw, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_urls_with_prefix_matching_via_policy() {
    let case = fixture_case("allowed_urls with prefix matching enabled");
    let up = MockUpstream::start().await;
    let gw = prefix_matching_gateway(
        &up,
        json!({"urls": {"org_id": "default", "access_rights": {"test": {
            "api_id": "test", "versions": ["Default"],
            "allowed_urls": case["inputs"]["allowed_urls"].clone()}}}}),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["urls"])).await;
    assert_prefix_matching_expectations(&gw, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_flag_false_policy_is_not_loaded() {
    let up = MockUpstream::start().await;
    let on = json!({"org_id": "default", "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}});
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "p": on.clone(),
            "disabled": with(on.clone(), json!({"active": false}))
        }),
    ))
    .await;
    let (status, body) = gw
        .admin(
            "POST",
            "/tyk/keys/create",
            Some(key_with_policies(&["disabled"])),
        )
        .await;
    assert_admin_error(
        status,
        &body,
        500,
        "Failed to create key - policy not found: \"disabled\"",
    );
    // A key made while the policy was active loses it when the file says active: false.
    let key = gw.create_key(key_with_policies(&["p"])).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    gw.write_policies(&json!({"p": with(on.clone(), json!({"active": false}))}));
    gw.reload().await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    // active: true (or absent) loads it again.
    gw.write_policies(&json!({"p": with(on, json!({"active": true}))}));
    gw.reload().await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_from_another_org_than_the_api_is_403() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "foreign": {"org_id": "other-org",
                        "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}
        }),
    ))
    .await;
    let key = gw
        .create_key(json!({"org_id": "other-org", "apply_policies": ["foreign"]}))
        .await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_policies_removes_only_their_apis() {
    let up = MockUpstream::start().await;
    let p1 = json!({"org_id": "default", "rate": 1000, "per": 1, "quota_max": -1,
        "access_rights": {"api1": {"api_id": "api1"}}});
    let p2 = json!({"org_id": "default", "rate": 1000, "per": 1, "quota_max": -1,
        "access_rights": {"api2": {"api_id": "api2"}}});
    let gw = TestGateway::start(
        Opts::apis(vec![
            api("api1", "/api1/", &up.url()),
            api("api2", "/api2/", &up.url()),
        ])
        .policies(json!({"P1": p1.clone(), "P2": p2})),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["P1", "P2"])).await;
    assert_eq!(gw.get_with("/api1/x", &key).await.status, 200);
    assert_eq!(gw.get_with("/api2/x", &key).await.status, 200);
    gw.write_policies(&json!({"P1": p1}));
    gw.reload().await;
    assert_eq!(gw.get_with("/api1/x", &key).await.status, 200);
    assert_tyk_error(
        &gw.get_with("/api2/x", &key).await,
        403,
        "Access to this API has been disallowed",
    );
    gw.write_policies(&json!({}));
    gw.reload().await;
    for p in ["/api1/x", "/api2/x"] {
        assert_tyk_error(
            &gw.get_with(p, &key).await,
            403,
            "Access to this API has been disallowed",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_from_a_directory() {
    let up = MockUpstream::start().await;
    let mut opts = Opts::apis(vec![api("open", "/open/", &up.url())]);
    opts.policy_dir = Some(vec![(
        "gold.json".into(),
        json!({"id": "gold", "org_id": "default", "quota_max": 3, "quota_renewal_rate": 60,
               "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}),
    )]);
    let gw = TestGateway::start(opts).await;
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!((r.status, r.remaining()), (200, Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_policies_file_on_reload_keeps_the_last_good_set() {
    let up = MockUpstream::start().await;
    let p = json!({"org_id": "default", "access_rights": {"open": {"api_id": "open"}}});
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())]).policies(json!({"p": p})),
    )
    .await;
    let key = gw.create_key(key_with_policies(&["p"])).await;
    std::fs::write(&gw.config.policies.policy_record_name, "{ not json").unwrap();
    gw.reload().await;
    assert_eq!(
        gw.get_with("/open/x", &key).await.status,
        200,
        "a broken file replaced the last good policies"
    );
    let hello = gw.get("/hello", &[]).await.json();
    assert_eq!(hello["status"], "warn", "{hello}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_errors_on_create() {
    let up = MockUpstream::start().await;
    let ar = json!({"open": {"api_id": "open", "versions": ["Default"]}});
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "ok": {"org_id": "default", "access_rights": ar},
            "both": {"org_id": "default", "access_rights": ar,
                     "partitions": {"per_api": true, "quota": true}},
            "master": {"org_id": "default", "rate": 10, "per": 1}
        }),
    ))
    .await;
    for (policies, msg) in [
        (
            vec!["both"],
            "Failed to create key - cannot apply policy both which has per_api and any of partitions set",
        ),
        (
            vec!["master"],
            "Failed to create key - key has no valid policies to be applied",
        ),
    ] {
        let (status, body) = gw
            .admin("POST", "/tyk/keys/create", Some(key_with_policies(&policies)))
            .await;
        assert_admin_error(status, &body, 500, msg);
    }
    // With more than one policy listed, a missing one is skipped.
    let key = gw.create_key(key_with_policies(&["ok", "missing"])).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_counters_and_applies_changed_policies() {
    let up = MockUpstream::start().await;
    let pol = |quota: i64| {
        json!({"gold": {"org_id": "default", "quota_max": quota, "quota_renewal_rate": 3600,
            "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}})
    };
    let gw =
        TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(pol(10)))
            .await;
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    for want in [9, 8] {
        assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(want));
    }
    gw.reload().await;
    assert_eq!(
        gw.get_with("/open/x", &key).await.remaining(),
        Some(7),
        "a reload lost the quota counter"
    );
    // The policy's new quota applies on the next request, without touching the key.
    gw.write_policies(&pol(20));
    gw.reload().await;
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("20"));
    assert_eq!(r.remaining(), Some(16));
}
