//! PRODUCT.md §4: every row of the status table through a real request.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};

async fn one_api(up: &MockUpstream) -> TestGateway {
    TestGateway::start(Opts::apis(vec![
        api("open", "/open/", &up.url()),
        api("other", "/other/", &up.url()),
    ]))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_is_404_not_found_text() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let r = gw.get("/nowhere/at/all", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "Not Found");
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain"), "content-type {ct:?}");
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_key_is_401() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let r = gw.get("/open/x", &[]).await;
    assert_tyk_error(&r, 401, "Authorization field missing");
    // An empty header is no key either.
    let r = gw.get("/open/x", &[("Authorization", "")]).await;
    assert_tyk_error(&r, 401, "Authorization field missing");
    assert_eq!(up.count(), 0, "nothing reaches the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_403() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw.create_key(key_for(&["open"])).await;
    let r = gw.get_with("/open/x", "wrong").await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    // Tyk's TestMurmur3CharBug: the key with a suffix is another (unknown) key.
    let r = gw.get_with("/open/x", &format!("{key}abc")).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    let r = gw.get_with("/open/x", &key).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "ok");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_shorter_than_min_token_length_is_403() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let r = gw.get_with("/open/x", "ab").await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");

    // An existing key that is shorter than min_token_length is refused as well:
    // create "abcd" under the default (3), then restart with min_token_length 5.
    let body = with(key_for(&["open"]), json!({"org_id": ""}));
    let mut gw = gw;
    assert_eq!(gw.add_key("abcd", body).await, "abcd");
    assert_eq!(gw.get_with("/open/x", "abcd").await.status, 200);
    gw.config.min_token_length = 5;
    gw.restart().await;
    let r = gw.get_with("/open/x", "abcd").await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_whose_only_policy_is_missing_is_403() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "gold": {"org_id": "default", "rate": 100, "per": 1, "quota_max": -1,
                     "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}
        }),
    ))
    .await;
    let key = gw.create_key(key_with_policies(&["gold"])).await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    // The policy disappears from the file: its keys fail policy application.
    gw.write_policies(&json!({}));
    gw.reload().await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_key_own_flag_is_403() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(with(key_for(&["open"]), json!({"is_inactive": true})))
        .await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Key is inactive, please renew");
    assert_eq!(up.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_via_policy_is_403() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![api("open", "/open/", &up.url())]).policies(
        json!({
            "off": {"org_id": "default", "is_inactive": true,
                    "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}},
            "on": {"org_id": "default",
                   "access_rights": {"open": {"api_id": "open", "versions": ["Default"]}}}
        }),
    ))
    .await;
    let k_off = gw.create_key(key_with_policies(&["off"])).await;
    let r = gw.get_with("/open/x", &k_off).await;
    assert_tyk_error(&r, 403, "Key is inactive, please renew");
    // OR of the policies' flags.
    let k_both = gw.create_key(key_with_policies(&["on", "off"])).await;
    let r = gw.get_with("/open/x", &k_both).await;
    assert_tyk_error(&r, 403, "Key is inactive, please renew");
    let k_on = gw.create_key(key_with_policies(&["on"])).await;
    assert_eq!(gw.get_with("/open/x", &k_on).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_key_is_401_once_the_clock_passes_expires() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let expires = START + 100;
    let key = gw
        .create_key(with(key_for(&["open"]), json!({"expires": expires})))
        .await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    gw.advance(100);
    assert_eq!(
        gw.get_with("/open/x", &key).await.status,
        200,
        "now == expires is not expired yet"
    );
    gw.advance(1);
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 401, "Key has expired, please renew");
    assert_eq!(up.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_is_checked_before_expired() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"expires": START + 10, "is_inactive": true}),
        ))
        .await;
    gw.advance(60);
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Key is inactive, please renew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_not_in_access_rights_is_403() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw.create_key(key_for(&["other"])).await;
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    assert_eq!(gw.get_with("/other/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_not_allowed_is_403() {
    let up = MockUpstream::start().await;
    let ver = with(
        api("ver", "/ver/", &up.url()),
        json!({
            "version_data": {"not_versioned": false, "default_version": "v1",
                             "versions": {"v1": {"name": "v1"}, "v2": {"name": "v2"}}},
            "definition": {"location": "header", "key": "x-api-version"}
        }),
    );
    let gw = TestGateway::start(Opts::apis(vec![ver])).await;
    let key = gw
        .create_key(json!({"org_id": "default",
            "access_rights": {"ver": {"api_id": "ver", "versions": ["v1"]}}}))
        .await;
    let v1 = gw
        .get(
            "/ver/x",
            &[("Authorization", &key), ("x-api-version", "v1")],
        )
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text());
    let v2 = gw
        .get(
            "/ver/x",
            &[("Authorization", &key), ("x-api-version", "v2")],
        )
        .await;
    assert_tyk_error(&v2, 403, "Access to this API has been disallowed");
    // No header: the default version (v1) applies.
    assert_eq!(gw.get_with("/ver/x", &key).await.status, 200);
    assert_eq!(up.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_urls_method_and_path_mismatch_is_403() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(json!({"org_id": "default", "access_rights": {"open": {
            "api_id": "open", "versions": ["Default"],
            "allowed_urls": [{"url": "/open/users", "methods": ["GET"]}]
        }}}))
        .await;
    assert_eq!(gw.get_with("/open/users", &key).await.status, 200);
    let post = gw
        .request("POST", "/open/users", &[("Authorization", &key)], "x")
        .await;
    assert_tyk_error(&post, 403, "Access to this resource has been disallowed");
    let other = gw.get_with("/open/admin", &key).await;
    assert_tyk_error(&other, 403, "Access to this resource has been disallowed");
    assert_eq!(up.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_429_with_retry_after() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(with(key_for(&["open"]), json!({"rate": 2, "per": 60})))
        .await;
    for _ in 0..2 {
        assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    }
    let r = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r, 429, "Rate Limit Exceeded");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After on 429")
        .parse()
        .expect("Retry-After is whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        r.header("x-ratelimit-remaining").is_none(),
        "quota headers are not sent on a 429 in quotas mode"
    );
    assert_eq!(up.count(), 2);
    // Once the limiter frees a slot, requests pass again.
    gw.advance(60);
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_rate_limit_is_429_api_rate_limit_exceeded() {
    let up = MockUpstream::start().await;
    let glob = with(
        api("glob", "/glob/", &up.url()),
        json!({"global_rate_limit": {"rate": 2, "per": 60}}),
    );
    let gw = TestGateway::start(Opts::apis(vec![glob])).await;
    let k1 = gw.create_key(key_for(&["glob"])).await;
    let k2 = gw.create_key(key_for(&["glob"])).await;
    assert_eq!(gw.get_with("/glob/x", &k1).await.status, 200);
    assert_eq!(gw.get_with("/glob/x", &k2).await.status, 200);
    // API-wide: a third request is refused whatever the key.
    let r = gw.get_with("/glob/x", &k1).await;
    assert_tyk_error(&r, 429, "API Rate Limit Exceeded");
    let r = gw.get_with("/glob/x", &k2).await;
    assert_tyk_error(&r, 429, "API Rate Limit Exceeded");
    assert_eq!(up.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_is_403_with_retry_after_to_renewal() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"quota_max": 2, "quota_renewal_rate": 3600}),
        ))
        .await;
    let r1 = gw.get_with("/open/x", &key).await;
    assert_eq!((r1.status, r1.remaining()), (200, Some(1)));
    let r2 = gw.get_with("/open/x", &key).await;
    assert_eq!((r2.status, r2.remaining()), (200, Some(0)));
    let r3 = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r3, 403, "Quota exceeded");
    assert_eq!(r3.header("retry-after").as_deref(), Some("3600"));
    assert!(
        r3.header("x-ratelimit-remaining").is_none(),
        "no X-RateLimit headers on the quota 403"
    );
    gw.advance(600);
    let r4 = gw.get_with("/open/x", &key).await;
    assert_tyk_error(&r4, 403, "Quota exceeded");
    assert_eq!(r4.header("retry-after").as_deref(), Some("3000"));
    assert_eq!(up.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_refused_is_502_json() {
    let up = MockUpstream::start().await;
    let dead = format!("http://{}", refused_addr());
    let gw = TestGateway::start(Opts::apis(vec![
        api("open", "/open/", &up.url()),
        api("dead", "/dead/", &dead),
    ]))
    .await;
    let key = gw.create_key(key_for(&["open", "dead"])).await;
    let t0 = Instant::now();
    let r = gw.get_with("/dead/x", &key).await;
    assert_tyk_error(&r, 502, "There was a problem proxying the request");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_slow_is_504_json_within_the_timeout() {
    let slow = MockUpstream::slow(Duration::from_secs(3)).await;
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![
            api("slow", "/slow/", &slow.url()),
            api("open", "/open/", &up.url()),
        ])
        .conf(json!({"proxy_default_timeout": 0.5})),
    )
    .await;
    let key = gw.create_key(key_for(&["slow", "open"])).await;
    let t0 = Instant::now();
    let r = gw.get_with("/slow/x", &key).await;
    let took = t0.elapsed();
    assert_tyk_error(&r, 504, "Upstream service reached hard timeout.");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(2500),
        "504 after {took:?} with a 0.5 s timeout"
    );
    assert_eq!(slow.count(), 1, "the request did reach the slow upstream");
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_generator_header_drops_x_generator() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(
        Opts::apis(vec![api("open", "/open/", &up.url())])
            .conf(json!({"hide_generator_header": true})),
    )
    .await;
    let r = gw.get("/open/x", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), tyk_body("Authorization field missing"));
    assert!(r.header("x-generator").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_version_is_refused_before_authentication() {
    let up = MockUpstream::start().await;
    let ver = with(
        api("ver", "/ver/", &up.url()),
        json!({
            "version_data": {"not_versioned": false, "default_version": "v1",
                             "versions": {"v1": {"name": "v1"}}},
            "definition": {"location": "header", "key": "x-api-version"}
        }),
    );
    let gw = TestGateway::start(Opts::apis(vec![ver])).await;
    let r = gw.get("/ver/x", &[("x-api-version", "v9")]).await;
    assert_tyk_error(&r, 403, "This API version does not seem to exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_traffic_creates_no_limiter_state() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let _key = gw
        .create_key(with(
            key_for(&["open"]),
            json!({"rate": 5, "per": 1, "quota_max": 100, "quota_renewal_rate": 60}),
        ))
        .await;
    for i in 0..50 {
        let k = format!("no-such-key-{i}");
        assert_eq!(gw.get_with("/open/x", &k).await.status, 403);
        assert_eq!(gw.get("/open/x", &[]).await.status, 401);
    }
    assert_eq!(gw.state().limits.tracked_keys(), 0);
    assert_eq!(gw.state().limits.rate_limiters(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_sources_bearer_param_and_cookie() {
    let up = MockUpstream::start().await;
    let gw = TestGateway::start(Opts::apis(vec![
        api("open", "/open/", &up.url()),
        with(
            api("param", "/param/", &up.url()),
            json!({"auth": {"auth_header_name": "X-Api-Key", "use_param": true, "param_name": "key",
                            "use_cookie": true, "cookie_name": "session"}}),
        ),
    ]))
    .await;
    let key = gw.create_key(key_for(&["open", "param"])).await;
    for v in [format!("Bearer {key}"), format!("bearer {key}")] {
        let r = gw.get("/open/x", &[("Authorization", &v)]).await;
        assert_eq!(r.status, 200, "{v}: {}", r.text());
    }
    let r = gw
        .get("/open/x", &[("Authorization", &format!("Bearer: {key}"))])
        .await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    // Custom header name, query parameter and cookie.
    assert_eq!(gw.get("/param/x", &[("X-Api-Key", &key)]).await.status, 200);
    assert_eq!(
        gw.get(&format!("/param/x?key={key}"), &[]).await.status,
        200
    );
    let cookie = format!("a=1; session={key}");
    assert_eq!(gw.get("/param/x", &[("Cookie", &cookie)]).await.status, 200);
    // A later non-empty source wins over the header.
    let r = gw
        .get("/param/x?key=wrongkey", &[("X-Api-Key", &key)])
        .await;
    assert_tyk_error(&r, 403, "Access to this API has been disallowed");
    // The default header is not read when another one is configured.
    let r = gw.get("/param/x", &[("Authorization", &key)]).await;
    assert_tyk_error(&r, 401, "Authorization field missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_counter_is_shared_by_apis_without_own_limits() {
    let up = MockUpstream::start().await;
    let gw = one_api(&up).await;
    let key = gw
        .create_key(with(
            key_for(&["open", "other"]),
            json!({"rate": 2, "per": 60}),
        ))
        .await;
    assert_eq!(gw.get_with("/open/x", &key).await.status, 200);
    assert_eq!(gw.get_with("/other/x", &key).await.status, 200);
    assert_tyk_error(
        &gw.get_with("/open/x", &key).await,
        429,
        "Rate Limit Exceeded",
    );
    assert_tyk_error(
        &gw.get_with("/other/x", &key).await,
        429,
        "Rate Limit Exceeded",
    );
    // Per-API limits get their own counters (scope = API id).
    let k2 = gw
        .create_key(json!({"org_id": "default", "access_rights": {
            "open": {"api_id": "open", "limit": {"rate": 1, "per": 60}},
            "other": {"api_id": "other", "limit": {"rate": 1, "per": 60}}}}))
        .await;
    assert_eq!(gw.get_with("/open/x", &k2).await.status, 200);
    assert_eq!(gw.get_with("/other/x", &k2).await.status, 200);
    assert_eq!(gw.get_with("/open/x", &k2).await.status, 429);
}
