//! The Gateway REST API for keys (tyk-compat §8, §8.1).

use crate::common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn gateway(up: &MockUpstream) -> TestGateway {
    TestGateway::start(Opts::apis(vec![
        api("open", "/open/", &up.url()),
        api("other", "/other/", &up.url()),
    ]))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_key_status_action() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let r = gw
        .admin_raw(
            "POST",
            "/tyk/keys/create",
            &[("X-Tyk-Authorization", SECRET)],
            serde_json::to_vec(&key_for(&["open"])).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let text = r.text();
    assert!(
        text.ends_with("}\n") && !text.contains(": "),
        "compact JSON and a newline: {text:?}"
    );
    let body = r.json();
    let obj = body.as_object().expect("object");
    assert_eq!(
        obj.keys().map(String::as_str).collect::<Vec<_>>().len(),
        3,
        "exactly key/status/action: {body}"
    );
    assert_eq!(body["status"], "ok");
    assert_eq!(body["action"], "added");
    let key = body["key"].as_str().unwrap();
    // Legacy format: <org_id><32 hex>.
    assert!(key.starts_with("default"), "{key}");
    assert_eq!(key.len(), "default".len() + 32, "{key}");
    assert!(key["default".len()..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(gw.get_with("/open/x", key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_key_is_org_prefixed_and_usable_both_ways() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let (status, body) = gw
        .admin("POST", "/tyk/keys/mycustomkey", Some(key_for(&["open"])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"key": "defaultmycustomkey", "status": "ok", "action": "added"})
    );
    assert_eq!(gw.get_with("/open/x", "mycustomkey").await.status, 200);
    assert_eq!(
        gw.get_with("/open/x", "defaultmycustomkey").await.status,
        200
    );
    // GET accepts either spelling too.
    let (s1, _) = gw.admin("GET", "/tyk/keys/mycustomkey", None).await;
    let (s2, _) = gw.admin("GET", "/tyk/keys/defaultmycustomkey", None).await;
    assert_eq!((s1, s2), (200, 200));
    // A generated key through POST /tyk/keys.
    let (status, body) = gw
        .admin("POST", "/tyk/keys", Some(key_for(&["open"])))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["action"], "added");
    assert!(body["key"].as_str().unwrap().starts_with("default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_key_shorter_than_min_token_length_is_400() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let (status, body) = gw
        .admin("POST", "/tyk/keys/ab", Some(key_for(&["open"])))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    let (status, _) = gw.admin("GET", "/tyk/keys/ab", None).await;
    assert_eq!(status, 404, "the short key must not have been stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_replaces_session_and_keeps_date_created() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"meta_data": {"tier": "free"}, "tags": ["a"]}),
        ))
        .await;
    let (_, before) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    let created = before["date_created"]
        .as_str()
        .expect("date_created")
        .to_string();
    assert_eq!(
        created, "2026-01-01T00:00:00Z",
        "date_created from the clock"
    );
    assert_eq!(before["meta_data"]["tier"], "free");

    gw.advance(100);
    let (status, body) = gw
        .admin(
            "PUT",
            &format!("/tyk/keys/{key}"),
            Some(with(key_for(&["other"]), json!({"alias": "renamed"}))),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"key": key, "status": "ok", "action": "modified"})
    );
    let (_, after) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(after["date_created"], created.as_str(), "date_created kept");
    assert_eq!(after["alias"], "renamed");
    assert!(
        after.get("meta_data").is_none() && after.get("tags").is_none(),
        "PUT is a full replace, not a patch: {after}"
    );
    assert!(after["access_rights"].get("open").is_none(), "{after}");
    assert!(after["access_rights"].get("other").is_some(), "{after}");
    // The replacement is enforced.
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    assert_eq!(gw.get_with("/other/x", &key).await.status, 200);

    let (status, body) = gw
        .admin("PUT", "/tyk/keys/doesnotexist", Some(key_for(&["open"])))
        .await;
    assert_admin_error(status, &body, 404, "Key is not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_policies_applied_and_live_quota_remaining() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "gold": {"org_id": "default", "rate": 100, "per": 1,
                     "quota_max": 10, "quota_renewal_rate": 3600,
                     "tags": ["gold-tag"],
                     "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}
        }),
    ))
    .await;
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    for _ in 0..3 {
        assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    }
    let (status, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["apply_policies"], json!(["gold"]));
    assert_eq!(s["quota_max"], 10, "{s}");
    assert_eq!(s["rate"].as_f64(), Some(100.0), "{s}");
    assert!(s["access_rights"]["open"].is_object(), "{s}");
    assert_eq!(s["quota_remaining"], 7, "root quota_remaining: {s}");
    assert_eq!(
        s["access_rights"]["open"]["limit"]["quota_remaining"], 7,
        "per-API quota_remaining: {s}"
    );
    assert!(
        s["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("gold-tag"))),
        "{s}"
    );

    let (status, body) = gw.admin("GET", "/tyk/keys/nosuchkey", None).await;
    assert_admin_error(status, &body, 404, "Key not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_per_api_quota_remaining_for_a_key_without_policies() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw
        .create_key(json!({"org_id": "default", "access_rights": {
            "open": {"api_id": "open", "versions": ["Default"],
                     "limit": {"quota_max": 5, "quota_renewal_rate": 3600}},
            "other": {"api_id": "other", "versions": ["Default"],
                      "limit": {"quota_max": 8, "quota_renewal_rate": 3600}}
        }}))
        .await;
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(
        s["access_rights"]["open"]["limit"]["quota_remaining"], 5,
        "no counter yet: quota_max: {s}"
    );
    for want in [4, 3] {
        assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(want));
    }
    assert_eq!(gw.get_with("/other/x", &key).await.remaining(), Some(7));
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(
        s["access_rights"]["open"]["limit"]["quota_remaining"], 3,
        "{s}"
    );
    assert_eq!(
        s["access_rights"]["other"]["limit"]["quota_remaining"], 7,
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_then_403_and_second_delete_404() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw.create_key(key_for(&["open"])).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    let (status, body) = gw.admin("DELETE", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"key": key, "status": "ok", "action": "deleted"})
    );
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    let (status, body) = gw.admin("DELETE", &format!("/tyk/keys/{key}"), None).await;
    assert_admin_error(status, &body, 404, "There is no such key found");
    let (status, _) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_keys() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let k1 = gw.create_key(key_for(&["open"])).await;
    let k2 = gw.add_key("listedkey", key_for(&["open"])).await;
    let (status, body) = gw.admin("GET", "/tyk/keys", None).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(keys.contains(&k1.as_str()), "{body}");
    assert!(keys.contains(&k2.as_str()), "{body}");
    assert_eq!(keys.len(), 2, "{body}");
    // Trailing slashes are stripped before routing.
    let (status, again) = gw.admin("GET", "/tyk/keys/", None).await;
    assert_eq!((status, &again), (200, &body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_secret_is_403() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let want = json!({"status": "error",
        "message": "Attempted administrative access with invalid or missing key!"});
    for headers in [
        vec![],
        vec![("X-Tyk-Authorization", "wrong")],
        vec![("X-Tyk-Authorization", "")],
        vec![("X-Tyk-Authorization", "integration-secre")],
        vec![("X-Tyk-Authorization", "integration-secret2")],
    ] {
        for (method, path) in [
            ("GET", "/tyk/keys"),
            ("POST", "/tyk/keys/create"),
            ("GET", "/tyk/reload"),
        ] {
            let r = gw
                .admin_raw(
                    method,
                    path,
                    &headers,
                    serde_json::to_vec(&key_for(&["open"])).unwrap(),
                )
                .await;
            assert_eq!(r.status, 403, "{method} {path} with {headers:?}");
            assert_eq!(r.json(), want);
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/json")
            );
        }
    }
    let (status, body) = gw.admin("GET", "/tyk/keys", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["keys"],
        json!([]),
        "nothing was created without the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_secret_disables_the_admin_api() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())]).conf(json!({"secret": ""})),
    )
    .await;
    let body = serde_json::to_vec(&key_for(&["open"])).unwrap();
    for headers in [vec![], vec![("X-Tyk-Authorization", "")]] {
        let r = gw
            .admin_raw("POST", "/tyk/keys/create", &headers, body.clone())
            .await;
        assert_eq!(
            r.status,
            403,
            "admin API open with an empty secret: {}",
            r.text()
        );
        let r = gw.admin_raw("GET", "/tyk/keys", &headers, "").await;
        assert_eq!(r.status, 403, "{}", r.text());
    }
    // /hello stays public.
    let r = gw.get("/hello", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["description"], "Tyk GW");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let auth = [("X-Tyk-Authorization", SECRET)];
    let r = gw
        .admin_raw("POST", "/tyk/keys/create", &auth, "{not json")
        .await;
    assert_admin_error(r.status, &r.json(), 500, "Unmarshalling failed");
    let r = gw
        .admin_raw("POST", "/tyk/keys/customkey1", &auth, "{not json")
        .await;
    assert_admin_error(r.status, &r.json(), 400, "Request malformed");
    let r = gw.admin_raw("POST", "/tyk/keys", &auth, "[1,2").await;
    assert_admin_error(r.status, &r.json(), 400, "Request malformed");
    // A wrong type is a 400 naming the field (every such problem is listed at once).
    let r = gw
        .admin_raw("POST", "/tyk/keys/create", &auth, r#"{"quota_max": "ten"}"#)
        .await;
    assert_admin_error(
        r.status,
        &r.json(),
        400,
        "quota_max: expected an integer, got a string",
    );
    let key = gw.create_key(key_for(&["open"])).await;
    let r = gw
        .admin_raw("PUT", &format!("/tyk/keys/{key}"), &auth, "{")
        .await;
    assert_admin_error(r.status, &r.json(), 400, "Request malformed");
    let (_, list) = gw.admin("GET", "/tyk/keys", None).await;
    assert_eq!(list["keys"], json!([key]), "only the good key exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_unknown_policy_is_500() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let (status, body) = gw
        .admin("POST", "/tyk/keys/create", Some(key_with_policies(&["x"])))
        .await;
    assert_admin_error(
        status,
        &body,
        500,
        "Failed to create key - policy not found: \"x\"",
    );
    let (status, body) = gw
        .admin(
            "POST",
            "/tyk/keys/withbadpolicy",
            Some(key_with_policies(&["x"])),
        )
        .await;
    assert_admin_error(
        status,
        &body,
        500,
        "Failed to create key, ensure security settings are correct.",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_rights_without_master_keys_is_400() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let (status, body) = gw
        .admin(
            "POST",
            "/tyk/keys/create",
            Some(json!({"org_id": "default", "rate": 10, "per": 1})),
        )
        .await;
    assert_admin_error(
        status,
        &body,
        400,
        "Failed to create key, keys must have at least one Access Rights record set.",
    );

    // allow_master_keys: such a key is created and works on every API.
    let up2 = MockUpstream::start().await;
    let gw2 = TestGateway::start(
        Opts::apis(vec![
            api("open", "/open/", &up2.url()),
            api("other", "/other/", &up2.url()),
        ])
        .conf(json!({"allow_master_keys": true})),
    )
    .await;
    let key = gw2.create_key(json!({"org_id": "default"})).await;
    assert_eq!(gw2.get_with("/open/x", &key).await.status, 200);
    assert_eq!(gw2.get_with("/other/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_expires_in_sets_expires_from_the_clock() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "trial": {"org_id": "default", "key_expires_in": 3600,
                      "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}
        }),
    ))
    .await;
    gw.advance(500);
    let key = gw.create_key(key_with_policies(&["trial"])).await;
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(s["expires"], START + 500 + 3600, "{s}");
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);

    // An update does not re-apply the trial period.
    gw.advance(3000);
    let (status, _) = gw
        .admin(
            "PUT",
            &format!("/tyk/keys/{key}"),
            Some(key_with_policies(&["trial"])),
        )
        .await;
    assert_eq!(status, 200);
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_ne!(
        s["expires"],
        START + 3500 + 3600,
        "trial re-applied on PUT: {s}"
    );

    let key2 = gw
        .create_key(with(
            key_with_policies(&["trial"]),
            json!({"expires": START + 100_000}),
        ))
        .await;
    // The policy's trial period wins over the body's expires: START + 3500 + 3600.
    let (_, s2) = gw.admin("GET", &format!("/tyk/keys/{key2}"), None).await;
    assert_eq!(s2["expires"], START + 3500 + 3600, "{s2}");
    assert_eq!(gw.get_with("/open/x", &key2).await.status, 200);
    gw.advance(3601);
    let r = gw.get_with("/open/x", &key2).await;
    assert_tyk_error(&r, 401, "Key has expired, please renew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppress_reset_keeps_the_quota_counter() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let body = with(
        key_for(&["open"]),
        json!({"quota_max": 5, "quota_renewal_rate": 3600}),
    );
    let key = gw.create_key(body.clone()).await;
    for want in [4, 3] {
        assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(want));
    }
    let (status, _) = gw
        .admin(
            "PUT",
            &format!("/tyk/keys/{key}?suppress_reset=1"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        gw.get_with("/open/x", &key).await.remaining(),
        Some(2),
        "suppress_reset=1 must keep the counter"
    );
    let (status, _) = gw
        .admin("PUT", &format!("/tyk/keys/{key}"), Some(body.clone()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        gw.get_with("/open/x", &key).await.remaining(),
        Some(4),
        "a normal PUT resets the counter"
    );
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_not_in_dir(dir: &std::path::Path, needle: &str) {
    let files = files_under(dir);
    assert!(!files.is_empty(), "no files under {}", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "raw key {needle:?} found in {}",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_keys_never_stores_the_raw_key() {
    let up = MockUpstream::start().await;
    let mut gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())]).conf(json!({"hash_keys": true})),
    )
    .await;
    let session = with(
        key_for(&["open"]),
        json!({"quota_max": 100, "quota_renewal_rate": 3600}),
    );
    let (status, body) = gw
        .admin("POST", "/tyk/keys/create", Some(session.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    let key = body["key"].as_str().unwrap().to_string();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["action"], "added");
    assert_eq!(body["key_hash"], sha256_hex(&key).as_str(), "{body}");

    let (status, body) = gw
        .admin("POST", "/tyk/keys/secretcustom42", Some(session.clone()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"], "defaultsecretcustom42");
    assert_eq!(
        body["key_hash"],
        sha256_hex("defaultsecretcustom42").as_str()
    );

    let (status, body) = gw.admin("GET", "/tyk/keys", None).await;
    assert_admin_error(
        status,
        &body,
        404,
        "Hashed key listing is disabled in config (enable_hashed_keys_listing)",
    );

    for k in [key.as_str(), "secretcustom42", "defaultsecretcustom42"] {
        let r = gw.get_with("/open/x", k).await;
        assert_eq!(r.status, 200, "hashed key {k} refused: {}", r.text());
    }
    let (status, _) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(status, 200);
    let (status, _) = gw
        .admin(
            "GET",
            &format!("/tyk/keys/{}?hashed=true", sha256_hex(&key)),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // Counters are flushed on a clean stop: still no raw key on disk, and it still works.
    gw.restart().await;
    let data = gw.data_dir();
    assert_not_in_dir(&data, &key);
    assert_not_in_dir(&data, "secretcustom42");
    assert_eq!(gw.get_with("/open/x", &key).await.remaining(), Some(98));
    gw.stop().await;
    assert_not_in_dir(&data, &key);
    assert_not_in_dir(&data, "secretcustom42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_key_listing_when_enabled() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())])
            .conf(json!({"hash_keys": true, "enable_hashed_keys_listing": true})),
    )
    .await;
    let key = gw.create_key(key_for(&["open"])).await;
    let (status, body) = gw.admin("GET", "/tyk/keys", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["keys"], json!([sha256_hex(&key)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_on_a_known_route_is_405() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let (status, body) = gw.admin("DELETE", "/tyk/keys", None).await;
    assert_admin_error(status, &body, 405, "Method not supported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_expires_cannot_be_set_through_the_api() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw
        .create_key(with(key_for(&["open"]), json!({"expires": START - 100})))
        .await;
    assert_eq!(
        gw.get_with("/open/x", &key).await.status,
        200,
        "a new key with a past expires must get expires 0"
    );
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(s["expires"].as_i64().unwrap_or(0), 0, "{s}");
    // On update the previous expires is kept.
    let (status, _) = gw
        .admin(
            "PUT",
            &format!("/tyk/keys/{key}"),
            Some(with(key_for(&["open"]), json!({"expires": START + 50}))),
        )
        .await;
    assert_eq!(status, 200);
    gw.advance(10);
    let (status, _) = gw
        .admin(
            "PUT",
            &format!("/tyk/keys/{key}"),
            Some(with(key_for(&["open"]), json!({"expires": START + 5}))),
        )
        .await;
    assert_eq!(status, 200);
    let (_, s) = gw.admin("GET", &format!("/tyk/keys/{key}"), None).await;
    assert_eq!(s["expires"], START + 50, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_api_id_minus_one_answers_null() {
    let up = MockUpstream::start().await;
    let gw = gateway(&up).await;
    let key = gw.create_key(key_for(&["open"])).await;
    let r = gw
        .admin_raw(
            "DELETE",
            &format!("/tyk/keys/{key}?api_id=-1"),
            &[("X-Tyk-Authorization", SECRET)],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text().trim_end(), "null");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_control_port_serves_the_admin_api_only() {
    let up = MockUpstream::start().await;
    let port = refused_addr().port();
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())]).conf(json!({"control_api_port": port})),
    )
    .await;
    let ctl = gw.control_addr.expect("a control listener");
    assert_eq!(ctl.port(), port);
    let key = gw.create_key(key_for(&["open"])).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    // /tyk/ is not served on the proxy port, and APIs are not served on the control port.
    let r = gw
        .request("GET", "/tyk/keys", &[("X-Tyk-Authorization", SECRET)], "")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = gw
        .request_to(ctl, "GET", "/open/x", &[("Authorization", &key)], "")
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_key_is_byte_identical_across_a_restart() {
    // Sessions are kept as JSON text and decoded for GET: the body must not change
    // when the key comes back from disk, unknown members and number forms included.
    let up = MockUpstream::start().await;
    let mut gw = gateway(&up).await;
    let session = with(
        key_for(&["open", "other"]),
        json!({
            "rate": 2.5, "per": 1, "quota_max": 100, "quota_renewal_rate": 3600,
            "meta_data": {"user": "ålice", "n": 1e300, "list": [1, 2.5, "x"]},
            "tags": ["a", "b"], "alias": "al\"ias",
            "basic_auth_data": {"password": "", "hash_type": ""},
            "custom_top_level": {"kept": [true, 1.5]}
        }),
    );
    let key = gw.add_key("bytesidentical1", session).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    let path = format!("/tyk/keys/{key}");
    let auth = [("X-Tyk-Authorization", SECRET)];
    let before = gw.admin_raw("GET", &path, &auth, "").await;
    assert_eq!(before.status, 200, "{}", before.text());
    assert!(
        before.text().contains("custom_top_level"),
        "{}",
        before.text()
    );
    gw.restart().await;
    let after = gw.admin_raw("GET", &path, &auth, "").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.text(), before.text());
    // And the key still works from disk.
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}
